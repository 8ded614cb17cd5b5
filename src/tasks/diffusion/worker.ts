// The diffusion page's worker: one DiffusionSession served through comlink (worker/rpc.ts: typed errors
// cross as WireThrows, checkpoint bytes are transferred). Loaded as a module worker it serves
// its own global scope; exposeDiffusion serves any other endpoint (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { DIFFUSION_METHODS } from './protocol.js';
import { DiffusionSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeDiffusion(session: DiffusionSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, DIFFUSION_METHODS, endpoint);
}

exposeInWorker(() => new DiffusionSession(), DIFFUSION_METHODS);
