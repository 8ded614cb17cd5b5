// The GAN page's worker: one GanSession exposed through comlink, as diffusion-worker.ts does for
// the diffusion page: every failure crosses as a WireThrow so the page gets the typed error back
// (CheckpointError with its reason, ConfigError, NonFiniteError...), and checkpoint bytes are
// transferred, not copied. exposeGan also serves any other endpoint (a MessagePort in Node).
// Not here: the session (gan-session.ts), anything that touches the page.

import type * as Comlink from 'comlink';
import { GanSession } from './gan-session.js';
import { GAN_METHODS } from './gan-protocol.js';
import { exposeInWorker, exposeMethods } from './rpc.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeGan(session: GanSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, GAN_METHODS, endpoint);
}

exposeInWorker(() => new GanSession(), GAN_METHODS);
