// The matmul tilings as a tuned family (tunable.ts): per size class (matmul.ts's
// matmulSizeClass), the first time a compiled plan needs a class on an adapter, each tiling of
// shaders/matmul.ts is timed on the class's representative product in short loops and the
// fastest is kept, cached per adapter and class (tune-cache.ts), so a machine measures a class
// once. Also exports the measurement the benchmarks use; the timing loop itself is
// src/gpu/profiler.ts's timeDispatch. Not here: the kernels (shaders/matmul.ts), how a pick is
// used (MATMUL_CHOICES in matmul.ts), the loop every tuner shares (tunable.ts), the cache
// (tune-cache.ts), or when tuning runs (Engine.tuneForPlan, before a plan's layout).

import { EngineError } from '../errors.js';
import { timeDispatch, type MeasureOptions, type TimingSource } from '../gpu/profiler.js';
import {
  MATMUL_CHOICES,
  matmulClassOf,
  matmulTilingsFor,
  matmulDef,
  plainMatmulAttrs,
  type MatmulAttrs,
  type MatmulSizeClass,
  type MatmulTiling,
} from './matmul.js';
import { fixedChoiceEnv, measuredTunable, randomOperand, type Tunable, type TuneResult, type TuneTarget } from './tunable.js';
import { clearTuningMemory, defaultTuningCachePath, type TuneOptions as CacheTuneOptions, type TuneSource } from './tune-cache.js';

// What the benchmarks and tests take from here along with the measurement.
export type { MeasureOptions, TimingSource, TuneSource, TuneTarget };
export { defaultTuningCachePath };

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
  const plan = matmulDef.kernel(specs, matmulDef.shape(specs, attrs), attrs, fixedChoiceEnv(gpu, MATMUL_CHOICES.name, tiling));
  if ('alias' in plan) throw new EngineError('matmul: expected a kernel plan, got an alias.');
  const [d] = plan.dispatches;
  const a = pool.acquire(M * K * 4, 'matmul timing a');
  const b = pool.acquire(K * N * 4, 'matmul timing b');
  const out = pool.acquire(M * N * 4, 'matmul timing out');
  const tmp = pool.acquire(4, 'matmul timing scratch');
  try {
    pool.write(a, randomOperand(M * K));
    pool.write(b, randomOperand(K * N));
    const reads = [a, b, a, a].map((buffer, i) => ({ buffer, size: i === 1 ? K * N * 4 : M * K * 4 }));
    const writes = [
      { buffer: out, size: M * N * 4 },
      { buffer: tmp, size: 4 },
    ];
    const { ms, perRep, reps, timing } = await timeDispatch(gpu, kernels, d, reads, writes, opts);
    return { tiling, M, N, K, ms, gflops: (2 * M * N * K) / (ms * 1e6), perRep, reps, timing };
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

export interface MatmulTuneResult extends TuneResult<MatmulSizeClass, MatmulTiling> {
  /** The representative product [M, N, K] the figures are for. */
  shape: readonly [number, number, number];
  /** GFLOP/s of each tiling at `shape`, as measured (when the pick came from a cache, then). */
  gflops: Partial<Record<MatmulTiling, number>>;
}

export type TuneOptions = CacheTuneOptions<MatmulSizeClass>;

/**
 * The tilings timed on an adapter: the block tilings it runs as themselves, on a CPU adapter
 * only the barrier-free ones. On SwiftShader 'wide' measured 2.2x slower than 'quad' at every
 * class's product (2.63 against 6.56 GFLOP/s at the large one) and 'shared' 4-7x (0.25, 0.85
 * and 0.99 against 1.07, 5.86 and 5.18 GFLOP/s; Node, GPU timestamps), each for about a second
 * of pipeline builds and timing per class, which a deferred plan's second step waits for.
 */
export const matmulCandidates = (isSoftware: boolean, features: ReadonlySet<string>): readonly MatmulTiling[] =>
  matmulTilingsFor(features).filter((t) => !(isSoftware && (t === 'wide' || t === 'shared')));

/** The tuned matmul family: cached picks under keys 'matmul/v5/<adapter>/<class>'. */
export const matmulTunable: Tunable<MatmulSizeClass, MatmulTiling, MatmulTuneResult> = measuredTunable({
  choices: MATMUL_CHOICES,
  version: 5,
  candidates: matmulCandidates,
  classOf: (node) => (node.def === matmulDef ? matmulClassOf(node.inputs, node.attrs as MatmulAttrs) : undefined),
  figures: ['gflops'],
  async measure(target, tiling, c) {
    const r = await measureMatmul(target, tiling, [...MATMUL_CLASS_SHAPES[c]], TUNE_LOOPS);
    return { figures: { gflops: r.gflops }, timing: r.timing };
  },
  // Time per unit of work: the fastest tiling is the cheapest.
  cost: ({ gflops }) => 1 / gflops,
  describe: (c) => ({ shape: MATMUL_CLASS_SHAPES[c] }),
});

/** Forgets the matmul picks held in memory (tests use it to reach the persistent caches). */
export function clearMatmulTuningMemory(): void {
  clearTuningMemory(matmulTunable.name);
}

/**
 * The fastest tiling per size class on the target's adapter: from memory, then from the
 * persistent cache, else measured (each tiling on the class's representative product) and
 * cached. Set the engine's tuning['matmul.<class>'] to a pick to use it (Engine.tuneForPlan does).
 */
export const tuneMatmul = (target: TuneTarget, opts: TuneOptions = {}): Promise<MatmulTuneResult[]> => matmulTunable.tune(target, opts);
