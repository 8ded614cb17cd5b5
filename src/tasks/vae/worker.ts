// The VAE page's worker: one VaeSession served through comlink (worker/rpc.ts: typed errors
// cross as WireThrows, checkpoint bytes are transferred). Loaded as a module worker it serves
// its own global scope; exposeVae serves any other endpoint (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { VAE_METHODS } from './protocol.js';
import { VaeSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeVae(session: VaeSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, VAE_METHODS, endpoint);
}

exposeInWorker(() => new VaeSession(), VAE_METHODS);
