// Peak calibration, and the 'peak' benchmark suite that reports it: what this adapter does at
// best, measured with the kernels of shaders/calibrate.ts, so that other suites can say what
// share of it their kernels reach (shareOfPeak). Two figures:
//   gflops       an arithmetic-bound kernel: 8 independent vec4<f32> FMA chains per invocation
//                (an FMA counts 2 flops; the seed and final sum are not counted);
//   gbPerSecond  a bandwidth-bound kernel: a vec4<f32> copy of a large buffer (a few vec4s per
//                invocation, grid-strided), bytes read plus bytes written.
// Sizes fill a big GPU (millions of invocations, 256 MB buffers: past any cache) and shrink on
// CPU-emulated adapters; every buffer stays within maxStorageBufferBindingSize and maxBufferSize.
// Each figure is the median of several timed submits after a warm-up, each submit a loop of
// back-to-back dispatches (src/gpu/profiler.ts's dispatchTimer: GPU timestamps when the adapter
// has them, else the wall clock). calibratePeak memoizes per engine and mode, so several
// suites in one run calibrate once.
// Quick mode (--quick): small sizes on every adapter and three short submits per kernel, for CI,
// not for numbers. Not a vendor's datasheet peak: what WebGPU lets a plain kernel reach here.
// Not here: launching anything, or writing files (the runners do).

import { calibrateShader, FMA_C, FMA_CHAINS, FMA_M, FMA_SEED_PERIOD } from '../shaders/calibrate.js';
import type { Engine } from '../src/engine.js';
import { dispatchTimer, type TimingSource } from '../src/gpu/profiler.js';
import type { BoundBuffer } from '../src/gpu/kernels.js';
import { grid1d } from '../src/ops/grid.js';
import type { Dispatch } from '../src/ops/types.js';
import { measuredOn, resultHeader, timeWarmed, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** Invocations per workgroup of both kernels. */
const WG = 256;

/** The sizes of one calibration. */
export interface PeakSizes {
  /** Invocations of the FMA kernel. */
  invocations: number;
  /** Loop trips of each invocation (8 vec4 FMAs each). */
  iterations: number;
  /** Bytes of the copied buffer (the copy moves twice this). */
  copyBytes: number;
  /** vec4s each copy invocation moves: more amortise an invocation's cost on CPU-emulated adapters. */
  vec4sPerInvocation: number;
}

/** By adapter kind: a GPU gets millions of invocations and 256 MB; SwiftShader a few MB. */
export const PEAK_SIZES: Record<'gpu' | 'software' | 'quick', PeakSizes> = {
  gpu: { invocations: 1 << 22, iterations: 256, copyBytes: 256 << 20, vec4sPerInvocation: 4 },
  software: { invocations: 1 << 15, iterations: 64, copyBytes: 32 << 20, vec4sPerInvocation: 16 },
  quick: { invocations: 1 << 13, iterations: 32, copyBytes: 4 << 20, vec4sPerInvocation: 16 },
};

/** Timing loops: submits of ~100 ms, 5 of them; quick mode's are short and few. */
const LOOPS = {
  full: { reps: 5, targetMs: 100, maxPerRep: 256 },
  quick: { reps: 3, targetMs: 10, maxPerRep: 16 },
} as const;

export interface PeakCalibration {
  /** FMA throughput, GFLOP/s (an FMA = 2 flops). */
  gflops: number;
  /** Copy bandwidth, GB/s (1e9 bytes; bytes read + bytes written). */
  gbPerSecond: number;
  timing: TimingSource;
  arithmetic: {
    invocations: number;
    iterations: number;
    flopsPerInvocation: number;
    /** Median ms per dispatch. */
    ms: number;
  };
  bandwidth: {
    /** Bytes read + written by one dispatch. */
    movedBytes: number;
    vec4sPerInvocation: number;
    /** Median ms per dispatch. */
    ms: number;
  };
}

/** The FMA kernel over `invocations`, `iterations` loop trips each. */
export function arithmeticDispatch(invocations: number, iterations: number): Dispatch {
  return {
    shader: calibrateShader,
    entry: 'fma_peak',
    constants: { WG, ITERS: iterations },
    reads: [],
    writes: [{ out: 0 }],
    workgroups: grid1d(invocations, WG),
  };
}

/** The copy kernel over `vec4s` vec4<f32> values (a multiple of `per`), `per` of them per invocation. */
export function bandwidthDispatch(vec4s: number, per: number): Dispatch {
  if (vec4s % per !== 0) throw new Error(`copy_peak: ${vec4s} vec4s is not a multiple of ${per} per invocation.`);
  return {
    shader: calibrateShader,
    entry: 'copy_peak',
    constants: { WG, PER: per },
    reads: [{ in: 0 }],
    writes: [{ out: 0 }],
    workgroups: grid1d(vec4s / per, WG),
  };
}

/** Flops counted per invocation of the FMA kernel. */
export const flopsPerInvocation = (iterations: number) => iterations * FMA_CHAINS * 4 * 2;

/** What fma_peak writes for invocation i, recomputed in f32 steps (fma taken as rounded once). */
export function fmaPeakReference(i: number, iterations: number): number {
  const f = Math.fround;
  const s = (i % FMA_SEED_PERIOD) / FMA_SEED_PERIOD;
  const m = FMA_M.map(f);
  const c = FMA_C.map(f);
  const chains = Array.from({ length: FMA_CHAINS }, (_, k) => [0, 1, 2, 3].map((j) => f(s + j / 32 + k * 0.125)));
  for (let t = 0; t < iterations; t++) {
    for (const a of chains) for (let j = 0; j < 4; j++) a[j] = f(a[j] * m[j] + c[j]);
  }
  const add = (x: number[], y: number[]) => x.map((v, j) => f(v + y[j]));
  const [a0, a1, a2, a3, a4, a5, a6, a7] = chains;
  const t = add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)));
  return f(f(t[0] + t[1]) + f(t[2] + t[3]));
}

/** Median ms per dispatch of `d` over the given buffers: a warm-up sizes the loops. */
async function timeDispatch(
  engine: Engine,
  d: Dispatch,
  reads: BoundBuffer[],
  writes: BoundBuffer[],
  loops: (typeof LOOPS)[keyof typeof LOOPS],
): Promise<{ ms: number; timing: TimingSource }> {
  return timeWarmed(await dispatchTimer(engine.gpu, engine.kernels, d, reads, writes), loops);
}

/** The calibration sizes for this engine: by adapter kind, within the device's buffer limits. */
export function peakSizes(engine: Engine, quick: boolean): PeakSizes {
  const s = quick ? PEAK_SIZES.quick : engine.gpu.adapter.isSoftware ? PEAK_SIZES.software : PEAK_SIZES.gpu;
  const l = engine.gpu.limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  return {
    ...s,
    // Whole vec4s, a multiple of the vec4s per invocation; the FMA kernel writes one f32 per invocation.
    copyBytes: Math.floor(Math.min(s.copyBytes, maxBytes) / (16 * s.vec4sPerInvocation)) * 16 * s.vec4sPerInvocation,
    invocations: Math.min(s.invocations, Math.floor(maxBytes / 4)),
  };
}

async function calibrate(engine: Engine, quick: boolean): Promise<PeakCalibration> {
  const { pool } = engine;
  const sizes = peakSizes(engine, quick);
  const loops = quick ? LOOPS.quick : LOOPS.full;
  const out = pool.acquire(sizes.invocations * 4, 'peak calibration fma output');
  const src = pool.acquire(sizes.copyBytes, 'peak calibration copy source');
  const dst = pool.acquire(sizes.copyBytes, 'peak calibration copy destination');
  try {
    const a = await timeDispatch(engine, arithmeticDispatch(sizes.invocations, sizes.iterations), [], [{ buffer: out, size: sizes.invocations * 4 }], loops);
    // Any finite, non-denormal contents do for a copy: a repeated ramp, written in one go.
    const ramp = new Float32Array(sizes.copyBytes / 4);
    for (let i = 0; i < ramp.length; i++) ramp[i] = (i & 1023) + 1;
    pool.write(src, ramp);
    const vec4s = sizes.copyBytes / 16;
    const b = await timeDispatch(engine, bandwidthDispatch(vec4s, sizes.vec4sPerInvocation), [{ buffer: src, size: sizes.copyBytes }], [{ buffer: dst, size: sizes.copyBytes }], loops);
    const fpi = flopsPerInvocation(sizes.iterations);
    const movedBytes = 2 * sizes.copyBytes;
    return {
      gflops: (sizes.invocations * fpi) / (a.ms * 1e6),
      gbPerSecond: movedBytes / (b.ms * 1e6),
      timing: a.timing,
      arithmetic: { invocations: sizes.invocations, iterations: sizes.iterations, flopsPerInvocation: fpi, ms: a.ms },
      bandwidth: { movedBytes, vec4sPerInvocation: sizes.vec4sPerInvocation, ms: b.ms },
    };
  } finally {
    for (const buf of [out, src, dst]) pool.release(buf);
  }
}

const memo = new WeakMap<Engine, Map<boolean, Promise<PeakCalibration>>>();

/** The adapter's measured peaks, measured once per engine and mode (later calls share the result). */
export function calibratePeak(engine: Engine, opts: { quick?: boolean } = {}): Promise<PeakCalibration> {
  const quick = opts.quick ?? false;
  let byMode = memo.get(engine);
  if (!byMode) memo.set(engine, (byMode = new Map()));
  let p = byMode.get(quick);
  if (!p) {
    p = calibrate(engine, quick);
    byMode.set(quick, p);
    // A failed calibration is not remembered: the next call measures again.
    p.catch(() => byMode!.delete(quick));
  }
  return p;
}

/** `value` as a share of `peak` (for example a kernel's GB/s over the copy's). */
export const shareOfPeak = (value: number, peak: number): number => value / peak;

export interface PeakSuiteResult extends PeakCalibration, ResultHeader<'peak'> {}

/** Every suite's options, and this suite's own; progress is called once, as the calibration starts (one item). */
export interface PeakSuiteOptions extends SuiteOptionsBase {
  /** Small sizes and few repetitions on every adapter (default false). */
  quick?: boolean;
}

export async function runPeakSuite(engine: Engine, opts: PeakSuiteOptions): Promise<PeakSuiteResult> {
  const log = opts.log ?? (() => {});
  opts.progress?.(1, 1, 'fma and copy kernels');
  const c = await calibratePeak(engine, { quick: opts.quick });
  log(`fma:  ${c.gflops.toFixed(1)} GFLOP/s (${c.arithmetic.invocations} invocations x ${c.arithmetic.flopsPerInvocation} flops, ${c.arithmetic.ms.toFixed(3)} ms)`);
  log(`copy: ${c.gbPerSecond.toFixed(2)} GB/s (${mb(c.bandwidth.movedBytes)} MB moved, ${c.bandwidth.ms.toFixed(3)} ms)`);
  return {
    ...resultHeader('peak', engine, opts),
    ...c,
  };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** A plain-text table: one row per kernel. */
export function formatPeakSuite(r: PeakSuiteResult): string {
  const { arithmetic: ar, bandwidth: bw } = r;
  return [
    `peak, ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    ['kernel', 'figure', 'ms', 'size'].join('\t'),
    ['fma', `${r.gflops.toFixed(1)} GFLOP/s`, ar.ms.toFixed(3), `${ar.invocations} invocations x ${ar.iterations} iterations (${ar.flopsPerInvocation} flops each)`].join('\t'),
    ['copy', `${r.gbPerSecond.toFixed(2)} GB/s`, bw.ms.toFixed(3), `${mb(bw.movedBytes)} MB read + written (${bw.vec4sPerInvocation} vec4s per invocation)`].join('\t'),
  ].join('\n');
}
