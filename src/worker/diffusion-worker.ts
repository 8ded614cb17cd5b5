// The diffusion page's worker: one DiffusionSession exposed through comlink, as worker.ts does
// for the transformer: every failure crosses as a WireThrow so the page gets the typed error back
// (CheckpointError with its reason, ConfigError, NonFiniteError...), and checkpoint bytes are
// transferred, not copied. exposeDiffusion also serves any other endpoint (a MessagePort in Node).
// Not here: the session (diffusion-session.ts), anything that touches the page.

import type * as Comlink from 'comlink';
import { DiffusionSession } from './diffusion-session.js';
import { DIFFUSION_METHODS } from './diffusion-protocol.js';
import { exposeInWorker, exposeMethods } from './rpc.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeDiffusion(session: DiffusionSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, DIFFUSION_METHODS, endpoint);
}

exposeInWorker(() => new DiffusionSession(), DIFFUSION_METHODS);
