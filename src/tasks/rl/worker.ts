// The RL page's worker: one RlSession served through comlink (worker/rpc.ts: typed errors cross
// as WireThrows, checkpoint bytes are transferred). Loaded as a module worker it serves its own
// global scope; exposeRl serves any other endpoint (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { RL_METHODS } from './protocol.js';
import { RlSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeRl(session: RlSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, RL_METHODS, endpoint);
}

exposeInWorker(() => new RlSession(), RL_METHODS);
