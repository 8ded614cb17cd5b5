// The page's handle on the training worker: spawns src/worker/worker.ts as a module worker
// (written so that Vite bundles it), wraps it with comlink, and gives back the TrainerApi with
// typed errors: a rejection from the worker becomes the same class (DataError, CheckpointError,
// WebGPUUnavailableError, ...) with the same fields. Listeners passed to subscribe are proxied
// so the worker can call them.
// Not here: the trainer (trainer.ts), the page's UI (demos/transformer).

import type * as Comlink from 'comlink';
import { TRAINER_METHODS, type TrainerApi } from './protocol.js';
import { wrapMethods } from './rpc.js';

export interface TrainerClient extends TrainerApi {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
}

/**
 * Starts a training worker and returns its API; or wraps `endpoint`, an endpoint served by
 * exposeTrainer elsewhere (a worker made by the caller, a MessagePort).
 */
export function createTrainerClient(endpoint?: Comlink.Endpoint): TrainerClient {
  return wrapMethods<TrainerApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), TRAINER_METHODS);
}
