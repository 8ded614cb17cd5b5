// The training worker: one Trainer exposed through comlink. Every method's failure is rethrown
// as a plain { wireError } object, because comlink serialises an Error to its name and message
// only and the page needs DataError.reason, CheckpointError.tensor and friends (client.ts turns
// it back into the typed error). Checkpoint bytes are transferred, not copied.
// Loaded as a module worker it serves its own global scope; exposeTrainer also serves any other
// message endpoint (a MessagePort in a Node test).
// Not here: the trainer (trainer.ts), the comlink glue shared by every worker (rpc.ts), the page.

import type * as Comlink from 'comlink';
import { Trainer } from './trainer.js';
import { TRAINER_METHODS } from './protocol.js';
import { exposeInWorker, exposeMethods } from './rpc.js';

/** Serves `trainer` on `endpoint` through comlink. */
export function exposeTrainer(trainer: Trainer, endpoint: Comlink.Endpoint): void {
  exposeMethods(trainer, TRAINER_METHODS, endpoint);
}

exposeInWorker(() => new Trainer(), TRAINER_METHODS);
