// The comlink glue every task's worker shares. Worker side: serve a session's methods so that a
// rejection crosses as a WireThrow (comlink alone keeps only an Error's name and message, not
// fields such as DataError.reason) and returned bytes are transferred, not copied. Page side: the
// one typed client every task's client is: its calls turn a WireThrow back into the same error
// class, its `subscribe` proxies the listener so the worker can call it, and it can terminate
// its worker. A task's worker.ts and client.ts are a line each on top of this.
// Not here: what any API does (tasks/), the wire form of errors (wire.ts).

import * as Comlink from 'comlink';
import { catchWire, throwWire } from './wire.js';

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

/** A task's API with typed errors, on a worker of its own or another endpoint. */
export type Client<Api> = Api & {
  /** Stops the worker at once (its GPU memory goes with it). */
  terminate(): void;
};

/** A client of an API served by exposeMethods on `endpoint` (a Worker, a MessagePort). */
export function wrapMethods<Api extends { [K in keyof Api]: Method }>(
  endpoint: Comlink.Endpoint,
  methods: readonly (keyof Api & string)[],
): Client<Api> {
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
