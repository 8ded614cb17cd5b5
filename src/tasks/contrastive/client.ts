// The contrastive-learning page's handle on its worker: spawns worker.ts beside this file as a
// module worker (written so that Vite bundles it) and gives back the ContrastiveApi with typed
// errors (worker/rpc.ts).
// Not here: the session (session.ts), the page.

import type * as Comlink from 'comlink';
import { wrapMethods, type Client } from '../../worker/rpc.js';
import { CONTRASTIVE_METHODS, type ContrastiveApi } from './protocol.js';

export type ContrastiveClient = Client<ContrastiveApi>;

/** Starts a contrastive-learning worker and returns its API; or wraps `endpoint`, served by exposeContrastive elsewhere. */
export function createContrastiveClient(endpoint?: Comlink.Endpoint): ContrastiveClient {
  return wrapMethods<ContrastiveApi>(endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), CONTRASTIVE_METHODS);
}
