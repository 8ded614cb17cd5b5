// The GAN page's worker: one GanSession served through comlink (worker/rpc.ts: typed errors
// cross as WireThrows, checkpoint bytes are transferred). Loaded as a module worker it serves
// its own global scope; exposeGan serves any other endpoint (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { GAN_METHODS } from './protocol.js';
import { GanSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeGan(session: GanSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, GAN_METHODS, endpoint);
}

exposeInWorker(() => new GanSession(), GAN_METHODS);
