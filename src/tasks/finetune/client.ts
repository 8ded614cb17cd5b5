// The fine-tuning page's handle on its worker: spawns worker.ts beside this file as a module
// worker (written so that Vite bundles it) and gives back the FinetuneApi with typed errors (worker/rpc.ts).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { FINETUNE_METHODS, type FinetuneApi } from './protocol.js';

export type FinetuneClient = Client<FinetuneApi>;

/** Starts a fine-tuning worker and returns its API; or wraps `endpoint`, served by exposeFinetune elsewhere. */
export function createFinetuneClient(endpoint?: Comlink.Endpoint): FinetuneClient {
  return wrapMethods<FinetuneApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), FINETUNE_METHODS);
}
