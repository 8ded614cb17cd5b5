// The fine-tuning page's worker: one FinetuneSession served through comlink (worker/rpc.ts: typed
// errors cross as WireThrows, checkpoint bytes are transferred; the user's weights arrive as a
// File, read a slice at a time here). Loaded as a module worker it serves its own global scope;
// exposeFinetune serves any other endpoint (a MessagePort in a Node test).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { FINETUNE_METHODS } from './protocol.js';
import { FinetuneSession } from './session.js';

/** Serves `session` on `endpoint` through comlink. */
export function exposeFinetune(session: FinetuneSession, endpoint: Comlink.Endpoint): void {
  exposeMethods(session, FINETUNE_METHODS, endpoint);
}

exposeInWorker(() => new FinetuneSession(), FINETUNE_METHODS);
