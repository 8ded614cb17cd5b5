// The diffusion page's handle on its worker: spawns worker.ts beside this file as a module worker
// (written so that Vite bundles it) and gives back the DiffusionApi with typed errors (worker/rpc.ts).
// Not here: the session (session.ts), the page (demos/diffusion).

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { DIFFUSION_METHODS, type DiffusionApi } from './protocol.js';

export type DiffusionClient = Client<DiffusionApi>;

/** Starts a diffusion worker and returns its API; or wraps `endpoint`, served by exposeDiffusion elsewhere. */
export function createDiffusionClient(endpoint?: Comlink.Endpoint): DiffusionClient {
  return wrapMethods<DiffusionApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), DIFFUSION_METHODS);
}
