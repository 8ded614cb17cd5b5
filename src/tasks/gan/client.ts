// The GAN page's handle on its worker: spawns worker.ts beside this file as a module worker
// (written so that Vite bundles it) and gives back the GanApi with typed errors (worker/rpc.ts).
// Not here: the session (session.ts), the page (demos/gan).

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { GAN_METHODS, type GanApi } from './protocol.js';

export type GanClient = Client<GanApi>;

/** Starts a GAN worker and returns its API; or wraps `endpoint`, served by exposeGan elsewhere. */
export function createGanClient(endpoint?: Comlink.Endpoint): GanClient {
  return wrapMethods<GanApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), GAN_METHODS);
}
