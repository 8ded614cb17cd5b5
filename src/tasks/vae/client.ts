// The VAE page's handle on its worker: spawns worker.ts beside this file as a module worker
// (written so that Vite bundles it) and gives back the VaeApi with typed errors (worker/rpc.ts).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { VAE_METHODS, type VaeApi } from './protocol.js';

export type VaeClient = Client<VaeApi>;

/** Starts a VAE worker and returns its API; or wraps `endpoint`, served by exposeVae elsewhere. */
export function createVaeClient(endpoint?: Comlink.Endpoint): VaeClient {
  return wrapMethods<VaeApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), VAE_METHODS);
}
