// Choosing the matmul tiling by measurement, per size class (matmul.ts's matmulSizeClass): the
// first time a compiled plan needs a class on an adapter, each tiling of shaders/matmul.ts is
// timed on the class's representative product in short loops and the fastest is kept. Picks
// are cached per adapter and class: in memory, then in localStorage in a page, or in a JSON
// file in Node (written atomically; a corrupt one is measured over), so a machine measures a
// class once. Also exports the measurement the benchmarks use; the timing loop itself is
// src/gpu/profiler.ts's dispatchTimer. In a Worker (no localStorage, no files) picks last as
// long as the worker. Not here: the kernels (shaders/matmul.ts), how a pick is used
// (matmulTiling in matmul.ts), or when tuning runs (Engine.tuneForPlan, before a plan's layout).

import { EngineError } from '../errors.js';
import type { AdapterSummary, GpuContext } from '../gpu/device.js';
import type { BufferPool } from '../gpu/buffers.js';
import type { KernelCache } from '../gpu/kernels.js';
import { dispatchTimer, type TimingSource } from '../gpu/profiler.js';
import type { Tensor } from '../tensor.js';
import {
  MATMUL_SIZE_CLASSES,
  MATMUL_TILINGS,
  isMatmulTiling,
  matmulClassOf,
  matmulDef,
  type MatmulAttrs,
  type MatmulSizeClass,
  type MatmulTiling,
} from './matmul.js';
import type { KernelEnv } from './types.js';

/** What measuring needs from an engine (an Engine has all three). */
export interface TuneTarget {
  gpu: GpuContext;
  kernels: KernelCache;
  pool: BufferPool;
}

export type { TimingSource };

export interface MatmulMeasurement {
  tiling: MatmulTiling;
  M: number;
  N: number;
  K: number;
  /** Median over repetitions of the time per dispatch. */
  ms: number;
  gflops: number;
  /** Dispatches per timed submit, and timed submits. */
  perRep: number;
  reps: number;
  timing: TimingSource;
}

export interface MeasureOptions {
  /** Timed submits after the warm-up (default 5). */
  reps?: number;
  /** Fewer submits (at least 3) when `reps` of them would take longer than this. */
  maxMs?: number;
  /** Aim for submits of about this long, by the number of dispatches in each (default 50 ms). */
  targetMs?: number;
  /** Most dispatches in one submit (default 256). */
  maxPerRep?: number;
  /** Use the wall clock even when timestamps exist. */
  wallClock?: boolean;
  /**
   * When the warm-up dispatch alone takes longer than this (ms), it is the measurement: one
   * dispatch that slow says enough to choose by, and more would cost seconds on a CPU adapter.
   */
  slowMs?: number;
}

const plainAttrs: MatmulAttrs = { transA: false, transB: false, act: 'none', bias: false, residual: false, savePre: false, gate: 'none' };

function envFor(gpu: GpuContext, tiling: MatmulTiling): KernelEnv {
  return { features: gpu.features, limits: gpu.limits, isSoftware: gpu.adapter.isSoftware, tuning: { matmul: tiling } };
}

/** Times one (M, K) x (K, N) product with `tiling`: a warm-up, then `reps` timed submits. */
export async function measureMatmul(
  target: TuneTarget,
  tiling: MatmulTiling,
  [M, N, K]: [number, number, number],
  opts: MeasureOptions = {},
): Promise<MatmulMeasurement> {
  const { gpu, kernels, pool } = target;
  const specs = [
    { shape: [M, K], dtype: 'f32' as const },
    { shape: [K, N], dtype: 'f32' as const },
  ];
  const plan = matmulDef.kernel(specs, matmulDef.shape(specs, plainAttrs), plainAttrs, envFor(gpu, tiling));
  if ('alias' in plan) throw new EngineError('matmul: expected a kernel plan, got an alias.');
  const [d] = plan.dispatches;
  const a = pool.acquire(M * K * 4, 'matmul timing a');
  const b = pool.acquire(K * N * 4, 'matmul timing b');
  const out = pool.acquire(M * N * 4, 'matmul timing out');
  const tmp = pool.acquire(4, 'matmul timing scratch');
  try {
    // Random operands: uninitialised memory could hold denormals, which CPU-emulated adapters slow down on.
    const fill = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    pool.write(a, fill(M * K));
    pool.write(b, fill(K * N));
    const timer = await dispatchTimer(
      gpu,
      kernels,
      d,
      [a, b, a, a].map((buffer, i) => ({ buffer, size: i === 1 ? K * N * 4 : M * K * 4 })),
      [
        { buffer: out, size: M * N * 4 },
        { buffer: tmp, size: 4 },
      ],
      opts.wallClock,
    );
    try {
      // Warm-up: first use pays for lazy compilation and allocation; it also sizes the loops.
      const first = await timer.run(1);
      if (opts.slowMs !== undefined && first > opts.slowMs) {
        return { tiling, M, N, K, ms: first, gflops: (2 * M * N * K) / (first * 1e6), perRep: 1, reps: 1, timing: timer.timing };
      }
      const perRep = Math.max(1, Math.min(opts.maxPerRep ?? 256, Math.round((opts.targetMs ?? 50) / Math.max(first, 1e-3))));
      const want = opts.reps ?? 5;
      const fit = opts.maxMs === undefined ? want : Math.floor(opts.maxMs / (first * perRep));
      const reps = Math.max(Math.min(want, 3), Math.min(want, fit));
      const times: number[] = [];
      for (let r = 0; r < reps; r++) times.push((await timer.run(perRep)) / perRep);
      const ms = median(times);
      return { tiling, M, N, K, ms, gflops: (2 * M * N * K) / (ms * 1e6), perRep, reps, timing: timer.timing };
    } finally {
      timer.destroy();
    }
  } finally {
    for (const buf of [a, b, out, tmp]) pool.release(buf);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

// ---------------------------------------------------------------------------------------------
// The tuner

/**
 * The product measured for each size class, inside the class and typical of its regime (blocks
 * are 128x64 for the register tiling, 64x64 for the shared one): 64^3 is one block of either,
 * where launch and per-block latency decide; 256^3 is 8 or 16 blocks, up to about one wave on a
 * GPU; 1024x1024 outputs are 128 or 256 blocks, several per compute unit, throughput bound.
 * The large one's K is 256 (16 steps of the shared tiling's main loop, steady state already),
 * not 1024: on SwiftShader the shared tiling's 1024^3 is a single 12-second dispatch.
 */
export const MATMUL_CLASS_SHAPES: Readonly<Record<MatmulSizeClass, readonly [number, number, number]>> = {
  small: [64, 64, 64],
  medium: [256, 256, 256],
  large: [1024, 1024, 256],
};

/**
 * Short loops, as the tuner runs inside a compile: on SwiftShader, pipeline builds aside, 'small'
 * and 'medium' take under a second, 'large' a few (a dispatch past slowMs is timed once).
 */
const TUNE_LOOPS: MeasureOptions = { reps: 5, targetMs: 20, maxPerRep: 64, maxMs: 300, slowMs: 100 };

export type TuneSource = 'measured' | 'memory' | 'localStorage' | 'file';

export interface MatmulTuneResult {
  sizeClass: MatmulSizeClass;
  /** The representative product [M, N, K] the figures are for. */
  shape: readonly [number, number, number];
  pick: MatmulTiling;
  /** GFLOP/s of each tiling at `shape`, as measured (when the pick came from a cache, then). */
  gflops: Partial<Record<MatmulTiling, number>>;
  /** The pick's GFLOP/s over the slowest tiling's: by how much it won. */
  speedup: number;
  timing: TimingSource;
  /** Measured by this call, or found in a cache. */
  source: TuneSource;
}

export interface TuneOptions {
  /** Size classes to tune (default all). */
  classes?: readonly MatmulSizeClass[];
  /** Measure even when a pick is cached; the fresh pick replaces the cached one. */
  force?: boolean;
  /** Measure classes no cache has (default true); false: return only the cached picks. */
  measure?: boolean;
  /**
   * Where picks persist beyond memory: localStorage in a page; in Node a JSON file, this path or
   * by default defaultTuningCachePath(); false: memory only.
   */
  cache?: string | false;
}

/** Bump when the kernels or the classes change enough that cached picks should be measured again. */
const TUNE_VERSION = 3;
const KEY_PREFIX = `matmul/v${TUNE_VERSION}/`;
const STORAGE_PREFIX = 'webgpu-train/tuning/';

/** What is cached per adapter and class: the pick with the figures it was chosen by. */
interface Entry {
  pick: MatmulTiling;
  gflops: Partial<Record<MatmulTiling, number>>;
  timing: TimingSource;
}

const memory = new Map<string, Entry>();

/** Forgets the picks held in memory (tests use it to reach the persistent caches). */
export function clearMatmulTuningMemory(): void {
  memory.clear();
}

function cacheKey(a: AdapterSummary, c: MatmulSizeClass): string {
  const adapter = [a.vendor, a.architecture, a.device, a.description, a.isSoftware ? 'software' : 'hardware'].join('|');
  return `${KEY_PREFIX}${adapter}/${c}`;
}

/** A stored value as an entry, or null when it is not one (another version's, or damaged). */
function asEntry(v: unknown): Entry | null {
  if (typeof v !== 'object' || v === null) return null;
  const { pick, gflops, timing } = v as Partial<Entry>;
  const rates = MATMUL_TILINGS.map((t) => gflops?.[t]);
  if (!isMatmulTiling(pick) || (timing !== 'timestamp' && timing !== 'wall-clock')) return null;
  if (!rates.every((g) => typeof g === 'number' && Number.isFinite(g) && g > 0)) return null;
  return { pick, gflops: Object.fromEntries(MATMUL_TILINGS.map((t, i) => [t, rates[i]])), timing };
}

/** A persistent cache: a page's localStorage or a JSON file in Node. */
interface Store {
  source: 'localStorage' | 'file';
  get(key: string): Promise<unknown>;
  /** Never throws: a cache that cannot be written costs a measurement next time, nothing more. */
  set(key: string, entry: Entry): Promise<void>;
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
    async set(key, entry) {
      const [fs, { dirname }] = await Promise.all([fsModule(), pathModule()]);
      const all = await read();
      // Other versions' picks are never read again.
      for (const k of Object.keys(all)) if (k.startsWith('matmul/') && !k.startsWith(KEY_PREFIX)) delete all[k];
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
  return isNode() ? fileStore(cache ?? (await defaultTuningCachePath())) : null;
}

/** Measurements run one at a time, across engines too: two at once would time each other. */
let queue: Promise<unknown> = Promise.resolve();
function serially<T>(f: () => Promise<T>): Promise<T> {
  const run = queue.then(f, f);
  queue = run.catch(() => {});
  return run;
}

async function lookup(key: string, store: Store | null): Promise<{ entry: Entry; source: TuneSource } | null> {
  const held = memory.get(key);
  if (held) return { entry: held, source: 'memory' };
  const entry = store ? asEntry(await store.get(key)) : null;
  if (!entry) return null;
  memory.set(key, entry);
  return { entry, source: store!.source };
}

async function measureClass(target: TuneTarget, c: MatmulSizeClass): Promise<Entry> {
  const gflops: Partial<Record<MatmulTiling, number>> = {};
  let timing: TimingSource = 'wall-clock';
  for (const tiling of MATMUL_TILINGS) {
    const r = await measureMatmul(target, tiling, [...MATMUL_CLASS_SHAPES[c]], TUNE_LOOPS);
    gflops[tiling] = r.gflops;
    timing = r.timing;
  }
  const pick = MATMUL_TILINGS.reduce((best, t) => (gflops[t]! > gflops[best]! ? t : best));
  return { pick, gflops, timing };
}

function result(c: MatmulSizeClass, e: Entry, source: TuneSource): MatmulTuneResult {
  const slowest = Math.min(...MATMUL_TILINGS.map((t) => e.gflops[t]!));
  return { sizeClass: c, shape: MATMUL_CLASS_SHAPES[c], pick: e.pick, gflops: { ...e.gflops }, speedup: e.gflops[e.pick]! / slowest, timing: e.timing, source };
}

/**
 * The fastest tiling per size class on the target's adapter: from memory, then from the
 * persistent cache, else measured (each tiling on the class's representative product) and
 * cached. Set the engine's tuning['matmul.<class>'] to a pick to use it (Engine.tuneForPlan does).
 */
export async function tuneMatmul(target: TuneTarget, opts: TuneOptions = {}): Promise<MatmulTuneResult[]> {
  const store = await storeFor(opts.cache);
  const out: MatmulTuneResult[] = [];
  for (const c of opts.classes ?? MATMUL_SIZE_CLASSES) {
    const key = cacheKey(target.gpu.adapter, c);
    const hit = opts.force ? null : await lookup(key, store);
    if (hit) out.push(result(c, hit.entry, hit.source));
    if (hit || opts.measure === false) continue;
    out.push(
      await serially(async () => {
        // Another call may have measured this class while this one waited.
        const fresh = opts.force ? undefined : memory.get(key);
        if (fresh) return result(c, fresh, 'memory');
        const entry = await measureClass(target, c);
        memory.set(key, entry);
        await store?.set(key, entry);
        return result(c, entry, 'measured');
      }),
    );
  }
  return out;
}

/** The size classes of the matmuls among the producers of `order` (a graph's tensors), in class order. */
export function matmulClassesOf(order: Tensor[]): MatmulSizeClass[] {
  const found = new Set<MatmulSizeClass>();
  for (const t of order) {
    const s = t.source;
    if (s.kind === 'op' && s.node.def === matmulDef) found.add(matmulClassOf(s.node.inputs, s.node.attrs as MatmulAttrs));
  }
  return MATMUL_SIZE_CLASSES.filter((c) => found.has(c));
}
