// The diffusion page's worker: one DiffusionSession exposed through comlink, as worker.ts does
// for the transformer: every failure crosses as a WireThrow so the page gets the typed error back
// (CheckpointError with its reason, ConfigError, NonFiniteError...), and checkpoint bytes are
// transferred, not copied. exposeDiffusion also serves any other endpoint (a MessagePort in Node).
// Not here: the session (diffusion-session.ts), anything that touches the page.

import * as Comlink from 'comlink';
import { DiffusionSession } from './diffusion-session.js';
import type { DiffusionApi } from './diffusion-protocol.js';
import { throwWire } from './protocol.js';

const METHODS = [
  'create', 'start', 'pause', 'step', 'reset', 'setHyper', 'sample', 'field', 'frames', 'heldOutPoints',
  'exportCheckpoint', 'importCheckpoint', 'info', 'subscribe', 'unsubscribe', 'dispose',
] as const satisfies readonly (keyof DiffusionApi)[];

/** Serves `session` on `endpoint` through comlink. */
export function exposeDiffusion(session: DiffusionSession, endpoint: Comlink.Endpoint): void {
  const api = Object.fromEntries(
    METHODS.map((name) => [
      name,
      async (...args: unknown[]) => {
        const result = await throwWire(() => (session[name] as (...a: unknown[]) => Promise<unknown>).apply(session, args));
        return result instanceof Uint8Array ? Comlink.transfer(result, [result.buffer]) : result;
      },
    ]),
  );
  Comlink.expose(api, endpoint);
}

if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
  exposeDiffusion(new DiffusionSession(), globalThis as unknown as Comlink.Endpoint);
}
