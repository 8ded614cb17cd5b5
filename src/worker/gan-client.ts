// The GAN page's handle on its worker: spawns gan-worker.ts as a module worker (written so that
// Vite bundles it), wraps it with comlink, and gives back the GanApi with typed errors, as
// diffusion-client.ts does. Listeners passed to subscribe are proxied so the worker can call them.
// Not here: the session (gan-session.ts), the page (demos/gan).

import type * as Comlink from 'comlink';
import { GAN_METHODS, type GanApi } from './gan-protocol.js';
import { wrapMethods } from './rpc.js';

export interface GanClient extends GanApi {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
}

/** Starts a GAN worker and returns its API; or wraps `endpoint`, served by exposeGan elsewhere. */
export function createGanClient(endpoint?: Comlink.Endpoint): GanClient {
  return wrapMethods<GanApi>(endpoint ?? new Worker(new URL('./gan-worker.ts', import.meta.url), { type: 'module' }), GAN_METHODS);
}
