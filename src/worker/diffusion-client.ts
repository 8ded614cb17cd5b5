// The diffusion page's handle on its worker: spawns diffusion-worker.ts as a module worker
// (written so that Vite bundles it), wraps it with comlink, and gives back the DiffusionApi with
// typed errors, as client.ts does for the transformer. Listeners passed to subscribe are proxied
// so the worker can call them.
// Not here: the session (diffusion-session.ts), the page (demos/diffusion).

import type * as Comlink from 'comlink';
import { DIFFUSION_METHODS, type DiffusionApi } from './diffusion-protocol.js';
import { wrapMethods } from './rpc.js';

export interface DiffusionClient extends DiffusionApi {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
}

/** Starts a diffusion worker and returns its API; or wraps `endpoint`, served by exposeDiffusion elsewhere. */
export function createDiffusionClient(endpoint?: Comlink.Endpoint): DiffusionClient {
  return wrapMethods<DiffusionApi>(endpoint ?? new Worker(new URL('./diffusion-worker.ts', import.meta.url), { type: 'module' }), DIFFUSION_METHODS);
}
