// The RL page's handle on its worker: spawns worker.ts beside this file as a module worker
// (written so that Vite bundles it) and gives back the RlApi with typed errors (worker/rpc.ts).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { RL_METHODS, type RlApi } from './protocol.js';

export type RlClient = Client<RlApi>;

/** Starts an RL worker and returns its API; or wraps `endpoint`, served by exposeRl elsewhere. */
export function createRlClient(endpoint?: Comlink.Endpoint): RlClient {
  return wrapMethods<RlApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), RL_METHODS);
}
