// The transformer page's handle on its worker: spawns worker.ts beside this file as a module
// worker (written so that Vite bundles it) and gives back the TrainerApi with typed errors
// (worker/rpc.ts).
// Not here: the trainer (session.ts), the page's UI (demos/transformer).

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { TRAINER_METHODS, type TrainerApi } from './protocol.js';

export type TrainerClient = Client<TrainerApi>;

/** Starts a transformer worker and returns its API; or wraps `endpoint`, served by exposeTrainer elsewhere. */
export function createTrainerClient(endpoint?: Comlink.Endpoint): TrainerClient {
  return wrapMethods<TrainerApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), TRAINER_METHODS);
}
