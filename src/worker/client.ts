// The page's handle on the training worker: spawns src/worker/worker.ts as a module worker
// (written so that Vite bundles it), wraps it with comlink, and gives back the TrainerApi with
// typed errors: a rejection from the worker becomes the same class (DataError, CheckpointError,
// WebGPUUnavailableError, ...) with the same fields. Listeners passed to subscribe are proxied
// so the worker can call them.
// Not here: the trainer (trainer.ts), the page's UI (demos/transformer).

import * as Comlink from 'comlink';
import { catchWire, type TrainerApi, type TrainerEvent } from './protocol.js';

export interface TrainerClient extends TrainerApi {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
}

/**
 * Starts a training worker and returns its API; or wraps `endpoint`, an endpoint served by
 * exposeTrainer elsewhere (a worker made by the caller, a MessagePort).
 */
export function createTrainerClient(endpoint?: Comlink.Endpoint): TrainerClient {
  const w = endpoint ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<TrainerApi>(w);
  const call =
    <K extends keyof TrainerApi>(name: K) =>
    async (...args: Parameters<TrainerApi[K]>): Promise<Awaited<ReturnType<TrainerApi[K]>>> => {
      const fn = remote[name] as unknown as (...a: unknown[]) => Promise<Awaited<ReturnType<TrainerApi[K]>>>;
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
    attentionMap: call('attentionMap'),
    exportCheckpoint: call('exportCheckpoint'),
    importCheckpoint: call('importCheckpoint'),
    loseDevice: call('loseDevice'),
    hasAutosave: call('hasAutosave'),
    resumeAutosave: call('resumeAutosave'),
    info: call('info'),
    subscribe: (listener: (event: TrainerEvent) => void) =>
      call('subscribe')(Comlink.proxy(listener) as unknown as (event: TrainerEvent) => void),
    unsubscribe: call('unsubscribe'),
    dispose: call('dispose'),
    terminate: () => {
      void remote[Comlink.releaseProxy]();
      (w as Partial<Worker>).terminate?.();
    },
  };
}
