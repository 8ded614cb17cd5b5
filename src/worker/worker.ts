// The training worker: one Trainer exposed through comlink. Every method's failure is rethrown
// as a plain { wireError } object, because comlink serialises an Error to its name and message
// only and the page needs DataError.reason, CheckpointError.tensor and friends (client.ts turns
// it back into the typed error). Checkpoint bytes are transferred, not copied.
// Loaded as a module worker it serves its own global scope; exposeTrainer also serves any other
// message endpoint (a MessagePort in a Node test).
// Not here: the trainer (trainer.ts), anything that touches the page.

import * as Comlink from 'comlink';
import { Trainer } from './trainer.js';
import { throwWire, type TrainerApi } from './protocol.js';

/** The TrainerApi methods, each wrapped so that a rejection crosses the boundary with its fields. */
const METHODS = [
  'create', 'start', 'pause', 'step', 'reset', 'setHyper', 'sample', 'attentionMap', 'exportCheckpoint',
  'importCheckpoint', 'loseDevice', 'hasAutosave', 'resumeAutosave', 'info', 'subscribe', 'unsubscribe', 'dispose',
] as const satisfies readonly (keyof TrainerApi)[];

/** Serves `trainer` on `endpoint` through comlink. */
export function exposeTrainer(trainer: Trainer, endpoint: Comlink.Endpoint): void {
  const api = Object.fromEntries(
    METHODS.map((name) => [
      name,
      async (...args: unknown[]) => {
        const result = await throwWire(() => (trainer[name] as (...a: unknown[]) => Promise<unknown>).apply(trainer, args));
        return result instanceof Uint8Array ? Comlink.transfer(result, [result.buffer]) : result;
      },
    ]),
  );
  Comlink.expose(api, endpoint);
}

if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
  exposeTrainer(new Trainer(), globalThis as unknown as Comlink.Endpoint);
}
