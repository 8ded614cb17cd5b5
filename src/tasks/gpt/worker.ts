// The transformer's worker: one Trainer served through comlink (worker/rpc.ts: typed errors
// cross as WireThrows, checkpoint bytes are transferred). Loaded as a module worker it serves
// its own global scope; exposeTrainer serves any other endpoint (a MessagePort in a Node test).
// Not here: the trainer (session.ts), the page.

import type * as Comlink from 'comlink';
import { exposeInWorker, exposeMethods } from '../../worker/rpc.js';
import { TRAINER_METHODS } from './protocol.js';
import { Trainer } from './session.js';

/** Serves `trainer` on `endpoint` through comlink. */
export function exposeTrainer(trainer: Trainer, endpoint: Comlink.Endpoint): void {
  exposeMethods(trainer, TRAINER_METHODS, endpoint);
}

exposeInWorker(() => new Trainer(), TRAINER_METHODS);
