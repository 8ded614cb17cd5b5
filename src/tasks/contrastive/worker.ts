// The contrastive-learning page's worker: one ContrastiveSession served through comlink
// (worker/rpc.ts: typed errors cross as WireThrows, checkpoint bytes are transferred). Loaded as
// a module worker it serves its own global scope; exposeContrastive serves any other endpoint
// (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { CONTRASTIVE_METHODS } from './protocol.js';
import { ContrastiveSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeContrastive(session: ContrastiveSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, CONTRASTIVE_METHODS, endpoint);
}

exposeInWorker(() => new ContrastiveSession(), CONTRASTIVE_METHODS);
