// The diffusion page's handle on its worker: spawns diffusion-worker.ts as a module worker
// (written so that Vite bundles it), wraps it with comlink, and gives back the DiffusionApi with
// typed errors, as client.ts does for the transformer. Listeners passed to subscribe are proxied
// so the worker can call them.
// Not here: the session (diffusion-session.ts), the page (demos/diffusion).

import * as Comlink from 'comlink';
import type { DiffusionApi, DiffusionEvent } from './diffusion-protocol.js';
import { catchWire } from './protocol.js';

export interface DiffusionClient extends DiffusionApi {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
}

/** Starts a diffusion worker and returns its API; or wraps `endpoint`, served by exposeDiffusion elsewhere. */
export function createDiffusionClient(endpoint?: Comlink.Endpoint): DiffusionClient {
  const w = endpoint ?? new Worker(new URL('./diffusion-worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<DiffusionApi>(w);
  const call =
    <K extends keyof DiffusionApi>(name: K) =>
    async (...args: Parameters<DiffusionApi[K]>): Promise<Awaited<ReturnType<DiffusionApi[K]>>> => {
      const fn = remote[name] as unknown as (...a: unknown[]) => Promise<Awaited<ReturnType<DiffusionApi[K]>>>;
      return catchWire(fn(...args));
    };
  return {
    create: call('create'),
    start: call('start'),
    pause: call('pause'),
    step: call('step'),
    reset: call('reset'),
    setHyper: call('setHyper'),
    sample: call('sample'),
    field: call('field'),
    frames: call('frames'),
    heldOutPoints: call('heldOutPoints'),
    exportCheckpoint: call('exportCheckpoint'),
    importCheckpoint: call('importCheckpoint'),
    info: call('info'),
    subscribe: (listener: (event: DiffusionEvent) => void) =>
      call('subscribe')(Comlink.proxy(listener) as unknown as (event: DiffusionEvent) => void),
    unsubscribe: call('unsubscribe'),
    dispose: call('dispose'),
    terminate: () => {
      void remote[Comlink.releaseProxy]();
      (w as Partial<Worker>).terminate?.();
    },
  };
}
