// The comlink glue every worker of this folder shares. Worker side: serve an object's methods so
// that a rejection crosses as a WireThrow (comlink alone keeps only an Error's name and message,
// not fields such as DataError.reason) and returned bytes are transferred, not copied. Page side:
// a typed client whose calls turn a WireThrow back into the same error class, whose `subscribe`
// proxies the listener so the worker can call it, and which can terminate its worker.
// Not here: what any API does (trainer.ts, diffusion-session.ts, gan-session.ts) or the wire
// form of errors (protocol.ts).

import * as Comlink from 'comlink';
import { catchWire, throwWire } from './protocol.js';

type Method = (...args: never[]) => Promise<unknown>;

/** Serves `methods` of `target` on `endpoint` through comlink. */
export function exposeMethods<T extends object>(target: T, methods: readonly (keyof T & string)[], endpoint: Comlink.Endpoint): void {
  const api = Object.fromEntries(
    methods.map((name) => [
      name,
      async (...args: unknown[]) => {
        const result = await throwWire(() => (target[name] as unknown as (...a: unknown[]) => Promise<unknown>).apply(target, args));
        return result instanceof Uint8Array ? Comlink.transfer(result, [result.buffer]) : result;
      },
    ]),
  );
  Comlink.expose(api, endpoint);
}

/** Serves `target` on the worker's own scope when this code runs inside a worker. */
export function exposeInWorker<T extends object>(create: () => T, methods: readonly (keyof T & string)[]): void {
  if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
    exposeMethods(create(), methods, globalThis as unknown as Comlink.Endpoint);
  }
}

/** A client of an API served by exposeMethods on `endpoint` (a Worker, a MessagePort). */
export function wrapMethods<Api extends { [K in keyof Api]: Method }>(
  endpoint: Comlink.Endpoint,
  methods: readonly (keyof Api & string)[],
): Api & { terminate(): void } {
  const remote = Comlink.wrap<Record<string, (...a: unknown[]) => Promise<unknown>>>(endpoint);
  const api = Object.fromEntries(
    methods.map((name) => [
      name,
      (...args: unknown[]) => catchWire(remote[name](...(name === 'subscribe' ? [Comlink.proxy(args[0] as object)] : args))),
    ]),
  ) as unknown as Api;
  return {
    ...api,
    terminate: () => {
      void remote[Comlink.releaseProxy]();
      (endpoint as Partial<Worker>).terminate?.();
    },
  };
}
