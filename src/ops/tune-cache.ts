// Where measured kernel picks are kept, for every tuner (matmul-, attention-, conv-tune.ts): per
// adapter and size class, in memory, then in localStorage in a page, IndexedDB in a worker or a
// JSON file in Node (written atomically; a corrupt file or entry is measured over and replaced),
// so a machine measures a class once. Keys are versioned per family ('matmul/v5/<adapter>/<class>'):
// a family bumps its version when its kernels or classes change, and a write drops that family's
// older entries.
// Also the queue every measurement runs in, so that no two tuners time each other.
// Not here: what is measured or how (the tuners), or when tuning runs (Engine.tuneForPlan).

import type { AdapterSummary } from '../gpu/device.js';
import { openIdbStore, type IdbStore } from '../idb.js';

/** Where a pick came from; 'sole candidate': the adapter times one choice only, so nothing was measured. */
export type TuneSource = 'measured' | 'memory' | 'localStorage' | 'indexedDB' | 'file' | 'sole candidate';

/** One tuner's entries: their key prefix and how to read a stored one back. */
export interface TuneFamily<E> {
  /** First segment of every key, e.g. 'matmul'. */
  name: string;
  /** Bump when the kernels or the classes change enough that cached picks should be measured again. */
  version: number;
  /** A stored value as an entry, or null when it is not one (another version's, or damaged). */
  parse(v: unknown): E | null;
}

export interface TuneOptions<C extends string> {
  /** Size classes to tune (default all). */
  classes?: readonly C[];
  /** Measure even when a pick is cached; the fresh pick replaces the cached one. */
  force?: boolean;
  /** Measure classes no cache has (default true); false: return only the cached picks. */
  measure?: boolean;
  /**
   * Where picks persist beyond memory: localStorage in a page; in Node a JSON file, this path or
   * by default defaultTuningCachePath(); false: memory only.
   */
  cache?: string | false;
  /** Called as each class has its pick, cached or measured (the engine's progress). */
  onClass?: () => void;
}

/** A class's entry and where it came from. */
export interface Tuned<C extends string, E> {
  sizeClass: C;
  entry: E;
  source: TuneSource;
}

const STORAGE_PREFIX = 'webgpu-train/tuning/';

/** Every family's entries held in memory, by full key. */
const memory = new Map<string, unknown>();

/** Forgets the picks held in memory, of one family or of all (tests use it to reach the persistent caches). */
export function clearTuningMemory(family?: string): void {
  for (const key of [...memory.keys()]) if (family === undefined || key.startsWith(`${family}/`)) memory.delete(key);
}

const prefixOf = (f: TuneFamily<unknown>) => `${f.name}/v${f.version}/`;

function cacheKey(f: TuneFamily<unknown>, a: AdapterSummary, c: string): string {
  const adapter = [a.vendor, a.architecture, a.device, a.description, a.isSoftware ? 'software' : 'hardware'].join('|');
  return `${prefixOf(f)}${adapter}/${c}`;
}

/** A persistent cache: a page's localStorage, a worker's IndexedDB or a JSON file in Node. */
interface Store {
  source: 'localStorage' | 'indexedDB' | 'file';
  get(key: string): Promise<unknown>;
  /** Never throws: a cache that cannot be written costs a measurement next time, nothing more. */
  set(key: string, entry: unknown, family: TuneFamily<unknown>): Promise<void>;
}

function localStore(s: Storage): Store {
  return {
    source: 'localStorage',
    async get(key) {
      try {
        return JSON.parse(s.getItem(STORAGE_PREFIX + key) ?? 'null') as unknown;
      } catch {
        return null;
      }
    },
    async set(key, entry) {
      try {
        s.setItem(STORAGE_PREFIX + key, JSON.stringify(entry));
      } catch {
        // Full or disabled.
      }
    },
  };
}

/**
 * A worker's store (IndexedDB; a worker has no localStorage): the engine of every page runs in a
 * worker, and picks measured again at every load could differ on a busy machine, so a reloaded
 * checkpoint would run other kernels than the ones it was trained with and round differently.
 */
function idbStore(db: IdbStore): Store {
  return {
    source: 'indexedDB',
    get: (key) => db.get(key).catch(() => null),
    async set(key, entry, family) {
      try {
        for (const k of await db.keys()) if (k.startsWith(`${family.name}/`) && !k.startsWith(prefixOf(family))) await db.delete(k);
        await db.put(key, entry);
      } catch {
        // Full or disabled.
      }
    },
  };
}

/** Node's own modules, by a variable specifier so that bundlers leave them out of pages. */
const nodeModule = <T>(name: string): Promise<T> => import(/* @vite-ignore */ name) as Promise<T>;
const fsModule = () => nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
const pathModule = () => nodeModule<typeof import('node:path')>('node:path');

function fileStore(path: string): Store {
  const read = async (): Promise<Record<string, unknown>> => {
    const fs = await fsModule();
    try {
      const v = JSON.parse(await fs.readFile(path, 'utf8')) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    } catch {
      // Missing, unreadable or corrupt: measure again; the next write replaces it.
      return {};
    }
  };
  return {
    source: 'file',
    get: async (key) => (await read())[key],
    async set(key, entry, family) {
      const [fs, { dirname }] = await Promise.all([fsModule(), pathModule()]);
      const all = await read();
      // The family's other versions are never read again; other families' keys stay.
      for (const k of Object.keys(all)) if (k.startsWith(`${family.name}/`) && !k.startsWith(prefixOf(family))) delete all[k];
      all[key] = entry;
      const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      try {
        await fs.mkdir(dirname(path), { recursive: true });
        // Write, then rename over: another process reads the old file or the new one, never half.
        await fs.writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`);
        await fs.rename(tmp, path);
      } catch {
        await fs.rm(tmp, { force: true }).catch(() => {});
      }
    },
  };
}

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node;

function localStorageOrNull(): Storage | null {
  try {
    return (globalThis as { localStorage?: Storage }).localStorage ?? null;
  } catch {
    // Opaque origins throw on access.
    return null;
  }
}

/**
 * Node's default cache file: webgpu-train/tuning.json under $XDG_CACHE_HOME, else the
 * platform's cache directory (~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA%).
 */
export async function defaultTuningCachePath(): Promise<string> {
  const [os, path] = await Promise.all([nodeModule<typeof import('node:os')>('node:os'), pathModule()]);
  const home = os.homedir();
  const xdg = process.env.XDG_CACHE_HOME;
  const base =
    xdg && path.isAbsolute(xdg)
      ? xdg
      : process.platform === 'win32'
        ? (process.env.LOCALAPPDATA ?? path.join(home, 'AppData', 'Local'))
        : process.platform === 'darwin'
          ? path.join(home, 'Library', 'Caches')
          : path.join(home, '.cache');
  return path.join(base, 'webgpu-train', 'tuning.json');
}

async function storeFor(cache: string | false | undefined): Promise<Store | null> {
  if (cache === false) return null;
  const ls = localStorageOrNull();
  if (ls) return localStore(ls);
  if (isNode()) return fileStore(cache ?? (await defaultTuningCachePath()));
  idb ??= openIdbStore('webgpu-train-tuning', 'picks');
  const db = await idb;
  return db && idbStore(db);
}

/** The worker's IndexedDB store, opened once. */
let idb: Promise<IdbStore | null> | undefined;

/** Measurements run one at a time, across engines and tuners: two at once would time each other. */
let queue: Promise<unknown> = Promise.resolve();
export function serially<T>(f: () => Promise<T>): Promise<T> {
  const run = queue.then(f, f);
  queue = run.catch(() => {});
  return run;
}

async function lookup<E>(f: TuneFamily<E>, key: string, store: Store | null): Promise<{ entry: E; source: TuneSource } | null> {
  if (memory.has(key)) return { entry: memory.get(key) as E, source: 'memory' };
  const entry = store ? f.parse(await store.get(key)) : null;
  if (!entry) return null;
  memory.set(key, entry);
  return { entry, source: store!.source };
}

/**
 * Each class's entry on `adapter`: from memory, then from the persistent cache, else from
 * `measure` (one class at a time, in the shared queue) and then cached, unless opts say otherwise.
 */
export async function tuneClasses<C extends string, E>(
  family: TuneFamily<E>,
  adapter: AdapterSummary,
  classes: readonly C[],
  opts: TuneOptions<C>,
  measure: (c: C) => Promise<E>,
): Promise<Tuned<C, E>[]> {
  const store = await storeFor(opts.cache);
  const out: Tuned<C, E>[] = [];
  for (const c of opts.classes ?? classes) {
    const key = cacheKey(family, adapter, c);
    const hit = opts.force ? null : await lookup(family, key, store);
    if (hit) out.push({ sizeClass: c, ...hit });
    if (!hit && opts.measure !== false) {
      out.push(
        await serially(async () => {
          // Another call may have measured this class while this one waited.
          if (!opts.force && memory.has(key)) return { sizeClass: c, entry: memory.get(key) as E, source: 'memory' as const };
          const entry = await measure(c);
          memory.set(key, entry);
          await store?.set(key, entry, family);
          return { sizeClass: c, entry, source: 'measured' as const };
        }),
      );
    }
    opts.onClass?.();
  }
  return out;
}
