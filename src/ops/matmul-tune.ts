// Choosing the matmul tiling by measurement, per size class (matmul.ts's matmulSizeClass): the
// first time a compiled plan needs a class on an adapter, each tiling of shaders/matmul.ts is
// timed on the class's representative product in short loops and the fastest is kept. Picks
// are cached per adapter and class (tune-cache.ts: memory, localStorage or a JSON file), so a
// machine measures a class once. Also exports the measurement the benchmarks use; the timing
// loop itself is src/gpu/profiler.ts's dispatchTimer and timeLoop. Not here: the kernels (shaders/matmul.ts),
// how a pick is used (matmulTiling in matmul.ts), the cache (tune-cache.ts), or when tuning
// runs (Engine.tuneForPlan, before a plan's layout).

import { EngineError } from '../errors.js';
import type { GpuContext } from '../gpu/device.js';
import type { BufferPool } from '../gpu/buffers.js';
import type { KernelCache } from '../gpu/kernels.js';
import { dispatchTimer, timeLoop, type MeasureOptions, type TimingSource } from '../gpu/profiler.js';
import type { Tensor } from '../tensor.js';
import {
  MATMUL_SIZE_CLASSES,
  MATMUL_TILINGS,
  isMatmulTiling,
  matmulClassOf,
  matmulDef,
  plainMatmulAttrs,
  type MatmulAttrs,
  type MatmulSizeClass,
  type MatmulTiling,
} from './matmul.js';
import type { KernelEnv } from './types.js';
import {
  clearTuningMemory,
  defaultTuningCachePath,
  tuneClasses,
  type TuneFamily,
  type TuneOptions as CacheTuneOptions,
  type TuneSource,
  type Tuned,
} from './tune-cache.js';

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

export type { MeasureOptions };


function envFor(gpu: GpuContext, tiling: MatmulTiling): KernelEnv {
  return { features: gpu.features, limits: gpu.limits, isSoftware: gpu.adapter.isSoftware, tuning: { matmul: tiling } };
}

/**
 * Times one product op(A) op(B), (M, K) x (K, N), with `tiling`: a warm-up, then `reps` timed
 * submits. The operands lie as `trans` says, as a model's backward holds them: a is (K, M) when
 * transA, b is (N, K) when transB (default neither).
 */
export async function measureMatmul(
  target: TuneTarget,
  tiling: MatmulTiling,
  [M, N, K]: [number, number, number],
  opts: MeasureOptions = {},
  { transA = false, transB = false }: Partial<Pick<MatmulAttrs, 'transA' | 'transB'>> = {},
): Promise<MatmulMeasurement> {
  const { gpu, kernels, pool } = target;
  const attrs: MatmulAttrs = { ...plainMatmulAttrs, transA, transB };
  const specs = [
    { shape: transA ? [K, M] : [M, K], dtype: 'f32' as const },
    { shape: transB ? [N, K] : [K, N], dtype: 'f32' as const },
  ];
  const plan = matmulDef.kernel(specs, matmulDef.shape(specs, attrs), attrs, envFor(gpu, tiling));
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
      const { ms, perRep, reps } = await timeLoop(timer, opts);
      return { tiling, M, N, K, ms, gflops: (2 * M * N * K) / (ms * 1e6), perRep, reps, timing: timer.timing };
    } finally {
      timer.destroy();
    }
  } finally {
    for (const buf of [a, b, out, tmp]) pool.release(buf);
  }
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

export type { TuneSource };
export { defaultTuningCachePath };

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

export type TuneOptions = CacheTuneOptions<MatmulSizeClass>;

/** What is cached per adapter and class: the pick with the figures it was chosen by. */
interface Entry {
  pick: MatmulTiling;
  gflops: Partial<Record<MatmulTiling, number>>;
  timing: TimingSource;
}

/** Cached matmul picks (tune-cache.ts): keys 'matmul/v3/<adapter>/<class>'. */
const MATMUL_FAMILY: TuneFamily<Entry> = {
  name: 'matmul',
  version: 3,
  parse(v) {
    if (typeof v !== 'object' || v === null) return null;
    const { pick, gflops, timing } = v as Partial<Entry>;
    const rates = MATMUL_TILINGS.map((t) => gflops?.[t]);
    if (!isMatmulTiling(pick) || (timing !== 'timestamp' && timing !== 'wall-clock')) return null;
    if (!rates.every((g) => typeof g === 'number' && Number.isFinite(g) && g > 0)) return null;
    return { pick, gflops: Object.fromEntries(MATMUL_TILINGS.map((t, i) => [t, rates[i]])), timing };
  },
};

/** Forgets the matmul picks held in memory (tests use it to reach the persistent caches). */
export function clearMatmulTuningMemory(): void {
  clearTuningMemory(MATMUL_FAMILY.name);
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

function result({ sizeClass: c, entry: e, source }: Tuned<MatmulSizeClass, Entry>): MatmulTuneResult {
  const slowest = Math.min(...MATMUL_TILINGS.map((t) => e.gflops[t]!));
  return { sizeClass: c, shape: MATMUL_CLASS_SHAPES[c], pick: e.pick, gflops: { ...e.gflops }, speedup: e.gflops[e.pick]! / slowest, timing: e.timing, source };
}

/**
 * The fastest tiling per size class on the target's adapter: from memory, then from the
 * persistent cache, else measured (each tiling on the class's representative product) and
 * cached. Set the engine's tuning['matmul.<class>'] to a pick to use it (Engine.tuneForPlan does).
 */
export async function tuneMatmul(target: TuneTarget, opts: TuneOptions = {}): Promise<MatmulTuneResult[]> {
  const tuned = await tuneClasses(MATMUL_FAMILY, target.gpu.adapter, MATMUL_SIZE_CLASSES, opts, (c) => measureClass(target, c));
  return tuned.map(result);
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
