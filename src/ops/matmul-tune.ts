// Choosing the matmul tiling by measurement: times each tiling of shaders/matmul.ts on the
// device at hand over a few square sizes and picks the fastest (geometric mean of GFLOP/s).
// The pick is cached per adapter, in memory and in localStorage where there is one, so a page
// measures once per browser profile. Also exports the measurement the benchmarks use; the
// timing loop itself is src/gpu/profiler.ts's dispatchTimer.
// Not here: the kernels (shaders/matmul.ts) or how a pick is used (matmulTiling in matmul.ts).

import { EngineError } from '../errors.js';
import type { AdapterSummary, GpuContext } from '../gpu/device.js';
import type { BufferPool } from '../gpu/buffers.js';
import type { KernelCache } from '../gpu/kernels.js';
import { dispatchTimer, type TimingSource } from '../gpu/profiler.js';
import { MATMUL_TILINGS, matmulDef, type MatmulAttrs, type MatmulTiling } from './matmul.js';
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

export interface MatmulTuneResult {
  pick: MatmulTiling;
  /** GFLOP/s by tiling and size ('256' for 256^3); empty when the pick came from a cache. */
  gflops: Partial<Record<MatmulTiling, Record<string, number>>>;
  timing: TimingSource | null;
  source: 'measured' | 'memory' | 'localStorage';
}

export interface TuneOptions {
  /** Measure even when a pick is cached (the fresh pick replaces the cached one). */
  force?: boolean;
  /** Read and write localStorage when it exists (default true). */
  persist?: boolean;
}

/** Bump when the kernels change enough that cached picks should be measured again. */
const TUNE_VERSION = 2;
const STORAGE_PREFIX = `webgpu-train/tuning/matmul/v${TUNE_VERSION}/`;
const memory = new Map<string, MatmulTiling>();

function adapterKey(a: AdapterSummary): string {
  return [a.vendor, a.architecture, a.device, a.description, a.isSoftware ? 'software' : 'hardware'].join('|');
}

function storage(): Storage | null {
  try {
    return (globalThis as { localStorage?: Storage }).localStorage ?? null;
  } catch {
    // Opaque origins throw on access.
    return null;
  }
}

const isTiling = (v: unknown): v is MatmulTiling => MATMUL_TILINGS.includes(v as MatmulTiling);

/**
 * Measures every tiling on the target's device and returns the fastest, or the cached pick for
 * this adapter. Sizes 256^3, then 512^3 and 1024^3 until one tiling is twice as fast as the
 * other or a product takes over 5 ms; on SwiftShader that is one size and well under a
 * second, on top of compiling the pipelines (which later matmuls then reuse).
 * Set the engine's tuning.matmul to `pick` to use it.
 */
export async function tuneMatmul(target: TuneTarget, opts: TuneOptions = {}): Promise<MatmulTuneResult> {
  const key = adapterKey(target.gpu.adapter);
  const store = opts.persist === false ? null : storage();
  if (!opts.force) {
    const cached = memory.get(key);
    if (cached) return { pick: cached, gflops: {}, timing: null, source: 'memory' };
    const stored = store?.getItem(STORAGE_PREFIX + key);
    if (isTiling(stored)) {
      memory.set(key, stored);
      return { pick: stored, gflops: {}, timing: null, source: 'localStorage' };
    }
  }
  const gflops: Partial<Record<MatmulTiling, Record<string, number>>> = {};
  let timing: TimingSource | null = null;
  for (const s of [256, 512, 1024]) {
    const ms: number[] = [];
    for (const tiling of MATMUL_TILINGS) {
      const r = await measureMatmul(target, tiling, [s, s, s], { reps: 3, targetMs: 30, maxPerRep: 256 });
      (gflops[tiling] ??= {})[String(s)] = r.gflops;
      timing = r.timing;
      ms.push(r.ms);
    }
    // Stop at a clear winner, or once a product takes long (a CPU-emulated adapter).
    const [fast, next] = ms.sort((x, y) => x - y);
    if (next >= 2 * fast || fast > 5) break;
  }
  const score = (t: MatmulTiling) => {
    const v = Object.values(gflops[t] ?? {});
    return Math.exp(v.reduce((acc, g) => acc + Math.log(g), 0) / v.length);
  };
  const pick = MATMUL_TILINGS.reduce((best, t) => (score(t) > score(best) ? t : best));
  memory.set(key, pick);
  try {
    store?.setItem(STORAGE_PREFIX + key, pick);
  } catch {
    // A full or disabled storage only costs a measurement next time.
  }
  return { pick, gflops, timing, source: 'measured' };
}
