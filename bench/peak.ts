// Peak calibration, and the 'peak' benchmark suite that reports it: what this adapter does at
// best, measured the way a roofline's ceilings are, so that other suites can say what share of it
// their kernels reach (shareOfPeak) and no kernel of theirs can pass it. Two figures, each the
// best of a sweep:
//   gflops       an arithmetic-bound kernel (shaders/calibrate.ts's fma_chains): CHAINS independent vec4<f32> FMA
//                chains per invocation, swept over the chain count (1 to 16: one chain is
//                latency-bound, more hide the FMA latency until registers run out) and the
//                workgroup size, FMA_UNROLL steps of every chain per loop trip, every dispatch
//                millions of invocations on a GPU (an FMA counts 2 flops; the seeds and the
//                final sum are not counted);
//   gbPerSecond  a bandwidth-bound kernel (shaders/calibrate.ts's copy_peak: vec4<f32> loads and
//                stores, grid-strided), swept over the copied size from cache-resident (1 MB) to
//                well past any cache (256 MB on a GPU), bytes read plus bytes written.
// The chain count and workgroup size are WGSL override constants: one module, one pipeline per
// configuration, no text built per configuration. Every buffer stays within
// maxStorageBufferBindingSize and maxBufferSize, every workgroup within the device's limits.
// Each configuration's figure is its fastest of several timed submits after a warm-up (the median
// is kept beside it), each submit a loop of back-to-back dispatches (src/gpu/profiler.ts's
// dispatchTimer: GPU timestamps when the adapter has timestamp-query, else the wall clock from
// submit to onSubmittedWorkDone; `timing` says which). The fastest, as STREAM reports its best
// trial: a ceiling is what the adapter was seen to reach, and the other processes of a shared
// machine only ever slow a submit down. calibratePeak memoizes per engine and mode, so several
// suites in one run calibrate once. Quick mode (--quick): small sizes on every adapter, the
// whole sweep, three short submits per configuration: for CI, not for numbers.
// Not a vendor's datasheet peak: what WebGPU lets a plain kernel reach here.
// Not here: launching anything, or writing files (the runners do).

import { calibrateShader, fmaShader, FMA_MAX_CHAINS as MAX_CHAINS, FMA_SEED_PERIOD as SEED_PERIOD, FMA_UNROLL, FMA_C, FMA_M } from '../shaders/calibrate.js';

export { FMA_UNROLL };
import type { Engine } from '../src/engine.js';
import { dispatchTimer, type DispatchTimer, type TimingSource } from '../src/gpu/profiler.js';
import type { BoundBuffer } from '../src/gpu/kernels.js';
import { grid1d } from '../src/ops/grid.js';
import type { Dispatch } from '../src/ops/types.js';
import { measuredOn, median, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** Chain counts the FMA sweep times (at most MAX_CHAINS). */
export const FMA_CHAIN_COUNTS = [1, 2, 4, 8, 16] as const;
/** Workgroup sizes the FMA sweep times, those the device allows. */
export const FMA_WORKGROUP_SIZES = [32, 64, 128, 256] as const;
/** Workgroup size of the copy (its sweep is over sizes). */
const COPY_WG = 256;

/** One configuration of the FMA sweep and what it reached. */
export interface FmaMeasurement {
  /** "wg 64, 4 chains": names the row for bench:compare. */
  name: string;
  wg: number;
  chains: number;
  invocations: number;
  /** Loop trips, FMA_UNROLL steps of every chain each. */
  iterations: number;
  flopsPerInvocation: number;
  /** Fastest ms per dispatch over the timed submits (gflops is from it), and their median. */
  ms: number;
  medianMs: number;
  gflops: number;
}

/** One size of the copy sweep and what it reached. */
export interface CopyMeasurement {
  /** "copy 16 MB": names the row for bench:compare. */
  name: string;
  /** Bytes of the copied buffer. */
  copiedBytes: number;
  /** Bytes read + written by one dispatch (twice copiedBytes). */
  movedBytes: number;
  vec4sPerInvocation: number;
  /** Fastest ms per dispatch over the timed submits (gbPerSecond is from it), and their median. */
  ms: number;
  medianMs: number;
  gbPerSecond: number;
}

/** The sizes of one calibration. */
export interface PeakSizes {
  /** Invocations of every FMA configuration. */
  invocations: number;
  /** vec4 FMAs per invocation in every configuration (a multiple of 16 x FMA_UNROLL): iterations = fmas / (chains x FMA_UNROLL). */
  fmas: number;
  /** Sizes of the copy sweep in MB (2^20 bytes), smallest first. */
  copyMb: readonly number[];
  /** vec4s each copy invocation moves: more amortise an invocation's cost on CPU-emulated adapters. */
  vec4sPerInvocation: number;
}

/**
 * By adapter kind. A GPU: 4M invocations (some fifteen waves of an H100's 270k resident
 * invocations) of 1024 vec4 FMAs, ~34 GFLOP a dispatch; copies up to 256 MB, five times a large
 * GPU's L2. SwiftShader: 16k invocations and copies up to 128 MB, past its host's caches, in
 * seconds. Quick: a few ms of work per configuration.
 */
export const PEAK_SIZES: Record<'gpu' | 'software' | 'quick', PeakSizes> = {
  gpu: { invocations: 1 << 22, fmas: 1024, copyMb: [1, 2, 4, 8, 16, 32, 64, 128, 256], vec4sPerInvocation: 4 },
  software: { invocations: 1 << 14, fmas: 256, copyMb: [1, 2, 4, 8, 16, 32, 64, 128], vec4sPerInvocation: 16 },
  quick: { invocations: 1 << 11, fmas: 256, copyMb: [1, 4], vec4sPerInvocation: 16 },
};

/** Timing loops: submits of ~50 ms, 7 of them, per configuration; quick mode's are short and few. */
const LOOPS = {
  full: { reps: 7, targetMs: 50, maxPerRep: 256 },
  quick: { reps: 3, targetMs: 5, maxPerRep: 16 },
} as const;

/**
 * Fastest and median ms per dispatch of `timer`'s kernel: one run pays for compilation, one
 * sizes the loop, then `reps` timed submits of `perRep` dispatches. Destroys the timer.
 */
async function timeBest(
  timer: DispatchTimer,
  { reps, targetMs, maxPerRep }: (typeof LOOPS)[keyof typeof LOOPS],
): Promise<{ ms: number; medianMs: number; timing: TimingSource }> {
  try {
    await timer.run(1);
    const first = await timer.run(1);
    const perRep = Math.max(1, Math.min(maxPerRep, Math.round(targetMs / Math.max(first, 1e-3))));
    const times: number[] = [];
    for (let r = 0; r < reps; r++) times.push((await timer.run(perRep)) / perRep);
    return { ms: Math.min(...times), medianMs: median(times), timing: timer.timing };
  } finally {
    timer.destroy();
  }
}

export interface PeakCalibration {
  /** The best FMA throughput of the sweep, GFLOP/s (an FMA = 2 flops). */
  gflops: number;
  /** The best copy bandwidth of the sweep, GB/s (1e9 bytes; bytes read + bytes written). */
  gbPerSecond: number;
  timing: TimingSource;
  /** The FMA configuration that reached gflops. */
  arithmetic: FmaMeasurement;
  /** The copy size that reached gbPerSecond. */
  bandwidth: CopyMeasurement;
  /** Every FMA configuration, by workgroup size then chain count. */
  fmaSweep: FmaMeasurement[];
  /** Every copy size, smallest first. */
  copySweep: CopyMeasurement[];
}

/** fma_chains over `invocations` with `chains` live accumulators, `iterations` loop trips of FMA_UNROLL steps, workgroups of `wg`. */
export function arithmeticDispatch(invocations: number, { wg, chains, iterations }: { wg: number; chains: number; iterations: number }): Dispatch {
  if (!Number.isInteger(chains) || chains < 1 || chains > MAX_CHAINS) throw new Error(`fma_chains: ${chains} chains; it holds 1 to ${MAX_CHAINS}.`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`fma_chains: ${iterations} loop trips; give a whole number, at least 1.`);
  return {
    shader: fmaShader,
    entry: 'fma_chains',
    constants: { WG: wg, CHAINS: chains, ITERS: iterations },
    reads: [],
    writes: [{ out: 0 }],
    workgroups: grid1d(invocations, wg),
  };
}

/** The copy kernel over `vec4s` vec4<f32> values (a multiple of `per`), `per` of them per invocation. */
export function bandwidthDispatch(vec4s: number, per: number): Dispatch {
  if (vec4s % per !== 0) throw new Error(`copy_peak: ${vec4s} vec4s is not a multiple of ${per} per invocation.`);
  return {
    shader: calibrateShader,
    entry: 'copy_peak',
    constants: { WG: COPY_WG, PER: per },
    reads: [{ in: 0 }],
    writes: [{ out: 0 }],
    workgroups: grid1d(vec4s / per, COPY_WG),
  };
}

/** Flops counted per invocation: iterations x FMA_UNROLL x chains vec4 FMAs of 8 flops. */
export const flopsPerInvocation = (chains: number, iterations: number) => iterations * FMA_UNROLL * chains * 4 * 2;

/**
 * What fma_chains writes for invocation i (a vec4) after `steps` FMAs of each of its `chains`
 * (iterations x FMA_UNROLL), recomputed in f32 (an fma rounded once).
 */
export function fmaReference(i: number, chains: number, steps: number): number[] {
  const f = Math.fround;
  const m = FMA_M.map(f);
  const c = FMA_C.map(f);
  const s = [0, 1, 2, 3].map((j) => f(f(-0.5 - (i % SEED_PERIOD) / SEED_PERIOD) - j / 64));
  const acc = Array.from({ length: chains }, (_, k) => s.map((v) => f(v - k / 16)));
  for (let t = 0; t < steps; t++) {
    for (const a of acc) for (let j = 0; j < 4; j++) a[j] = f(a[j] * m[j] + c[j]);
  }
  return acc.reduce((sum, a) => sum.map((v, j) => f(v + a[j])));
}

/** The calibration sizes for this engine: by adapter kind, within the device's buffer limits. */
export function peakSizes(engine: Engine, quick: boolean): PeakSizes {
  const s = quick ? PEAK_SIZES.quick : engine.gpu.adapter.isSoftware ? PEAK_SIZES.software : PEAK_SIZES.gpu;
  const maxMb = maxBindingBytes(engine) / 2 ** 20;
  const fit = s.copyMb.filter((mb) => mb <= maxMb);
  // A device that binds less than the largest size copies the most it can bind, in whole MB.
  if (fit.length < s.copyMb.length && Math.floor(maxMb) > (fit.at(-1) ?? 0)) fit.push(Math.floor(maxMb));
  return { ...s, copyMb: fit, invocations: Math.min(s.invocations, Math.floor(maxBindingBytes(engine) / 16)) };
}

const maxBindingBytes = (engine: Engine) => Math.min(engine.gpu.limits.maxStorageBufferBindingSize, engine.gpu.limits.maxBufferSize);

/** The FMA sweep's configurations on this engine: every allowed workgroup size by every chain count. */
export function fmaConfigs(engine: Engine, quick: boolean): { wg: number; chains: number; iterations: number }[] {
  const l = engine.gpu.limits;
  const { fmas } = peakSizes(engine, quick);
  const wgs = FMA_WORKGROUP_SIZES.filter((wg) => wg <= l.maxComputeInvocationsPerWorkgroup && wg <= l.maxComputeWorkgroupSizeX);
  return wgs.flatMap((wg) => FMA_CHAIN_COUNTS.map((chains) => ({ wg, chains, iterations: fmas / (chains * FMA_UNROLL) })));
}

const mbLabel = (bytes: number) => `${+(bytes / 2 ** 20).toFixed(2)} MB`;
const chainsLabel = (n: number) => `${n} chain${n === 1 ? '' : 's'}`;

/** Progress of one calibration: item n of the sweep's total (FMA configurations, then copy sizes). */
type SweepProgress = (item: number, total: number, label: string) => void;

async function calibrate(engine: Engine, quick: boolean, progress: SweepProgress): Promise<PeakCalibration> {
  const { pool } = engine;
  const sizes = peakSizes(engine, quick);
  const configs = fmaConfigs(engine, quick);
  const loops = quick ? LOOPS.quick : LOOPS.full;
  const total = configs.length + sizes.copyMb.length;
  const time = async (d: Dispatch, reads: BoundBuffer[], writes: BoundBuffer[]) =>
    timeBest(await dispatchTimer(engine.gpu, engine.kernels, d, reads, writes), loops);
  let timing: TimingSource = 'wall-clock';

  const fmaSweep: FmaMeasurement[] = [];
  const outBytes = sizes.invocations * 16;
  const out = pool.acquire(outBytes, 'peak calibration fma output');
  try {
    for (const cfg of configs) {
      const name = `wg ${cfg.wg}, ${chainsLabel(cfg.chains)}`;
      progress(fmaSweep.length + 1, total, `fma ${name}`);
      const r = await time(arithmeticDispatch(sizes.invocations, cfg), [], [{ buffer: out, size: outBytes }]);
      timing = r.timing;
      const fpi = flopsPerInvocation(cfg.chains, cfg.iterations);
      fmaSweep.push({ name, ...cfg, invocations: sizes.invocations, flopsPerInvocation: fpi, ms: r.ms, medianMs: r.medianMs, gflops: (sizes.invocations * fpi) / (r.ms * 1e6) });
    }
  } finally {
    pool.release(out);
  }

  const copySweep: CopyMeasurement[] = [];
  const per = sizes.vec4sPerInvocation;
  // Whole vec4s, a multiple of the vec4s per invocation; every size binds a prefix of one pair.
  const bytesOf = (mb: number) => Math.floor((mb * 2 ** 20) / (16 * per)) * 16 * per;
  const largest = bytesOf(sizes.copyMb.at(-1)!);
  const src = pool.acquire(largest, 'peak calibration copy source');
  const dst = pool.acquire(largest, 'peak calibration copy destination');
  try {
    // Any finite, non-denormal contents do for a copy: a repeated ramp, written in one go.
    const ramp = new Float32Array(largest / 4);
    for (let i = 0; i < ramp.length; i++) ramp[i] = (i & 1023) + 1;
    pool.write(src, ramp);
    for (const mb of sizes.copyMb) {
      const bytes = bytesOf(mb);
      progress(configs.length + copySweep.length + 1, total, `copy ${mbLabel(bytes)}`);
      const r = await time(bandwidthDispatch(bytes / 16, per), [{ buffer: src, size: bytes }], [{ buffer: dst, size: bytes }]);
      timing = r.timing;
      copySweep.push({ name: `copy ${mbLabel(bytes)}`, copiedBytes: bytes, movedBytes: 2 * bytes, vec4sPerInvocation: per, ms: r.ms, medianMs: r.medianMs, gbPerSecond: (2 * bytes) / (r.ms * 1e6) });
    }
  } finally {
    pool.release(src);
    pool.release(dst);
  }

  const arithmetic = fmaSweep.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const bandwidth = copySweep.reduce((a, b) => (b.gbPerSecond > a.gbPerSecond ? b : a));
  return { gflops: arithmetic.gflops, gbPerSecond: bandwidth.gbPerSecond, timing, arithmetic, bandwidth, fmaSweep, copySweep };
}

const memo = new WeakMap<Engine, Map<boolean, Promise<PeakCalibration>>>();

/**
 * The adapter's measured peaks, measured once per engine and mode (later calls share the
 * result). `progress` hears the sweep's items if this call is the one that measures.
 */
export function calibratePeak(engine: Engine, opts: { quick?: boolean; progress?: SweepProgress } = {}): Promise<PeakCalibration> {
  const quick = opts.quick ?? false;
  let byMode = memo.get(engine);
  if (!byMode) memo.set(engine, (byMode = new Map()));
  let p = byMode.get(quick);
  if (!p) {
    p = calibrate(engine, quick, opts.progress ?? (() => {}));
    byMode.set(quick, p);
    // A failed calibration is not remembered: the next call measures again.
    p.catch(() => byMode!.delete(quick));
  }
  return p;
}

/** `value` as a share of `peak` (for example a kernel's GB/s over the copy's). */
export const shareOfPeak = (value: number, peak: number): number => value / peak;

export interface PeakSuiteResult extends PeakCalibration, ResultHeader<'peak'> {}

/**
 * Every suite's options, and this suite's own; a progress item is a configuration of the sweep
 * (FMA configurations, then copy sizes), or the whole calibration as one item when an earlier
 * suite of the run has measured it already.
 */
export interface PeakSuiteOptions extends SuiteOptionsBase {
  /** Small sizes and few repetitions on every adapter (default false). */
  quick?: boolean;
}

export async function runPeakSuite(engine: Engine, opts: PeakSuiteOptions): Promise<PeakSuiteResult> {
  const log = opts.log ?? (() => {});
  let counted = false;
  const c = await calibratePeak(engine, {
    quick: opts.quick,
    progress: (item, total, label) => {
      counted = true;
      opts.progress?.(item, total, label);
    },
  });
  if (!counted) opts.progress?.(1, 1, 'fma and copy sweeps (measured earlier in this run)');
  for (const f of c.fmaSweep) log(`fma  ${f.name.padEnd(18)} ${f.gflops.toFixed(2).padStart(9)} GFLOP/s (fastest ${f.ms.toFixed(3)} ms, median ${f.medianMs.toFixed(3)} ms, ${c.timing})`);
  for (const b of c.copySweep) log(`${b.name.padEnd(23)} ${b.gbPerSecond.toFixed(2).padStart(9)} GB/s (fastest ${b.ms.toFixed(3)} ms, median ${b.medianMs.toFixed(3)} ms, ${c.timing})`);
  return { ...resultHeader('peak', engine, opts), ...c };
}

/**
 * A plain-text table: the two peaks first, then one row per configuration of each sweep with
 * its share of that sweep's peak.
 */
export function formatPeakSuite(r: PeakSuiteResult): string {
  const { arithmetic: ar, bandwidth: bw } = r;
  const pct = (x: number, peak: number) => `${((100 * x) / peak).toFixed(1)}%`;
  return [
    `peak, ${measuredOn(r)}, timing: ${r.timing === 'timestamp' ? 'GPU timestamps' : 'wall clock to onSubmittedWorkDone'}, ${r.date}`,
    `arithmetic peak: ${r.gflops.toFixed(2)} GFLOP/s (${ar.name}, ${ar.invocations} invocations x ${ar.flopsPerInvocation} flops); ` +
      `copy peak: ${r.gbPerSecond.toFixed(2)} GB/s (${mbLabel(bw.copiedBytes)} copied, read + written)`,
    '',
    ['fma', 'wg', 'chains', 'iterations', 'ms', 'median ms', 'GFLOP/s', 'of peak'].join('\t'),
    ...r.fmaSweep.map((f) => [f.name, f.wg, f.chains, f.iterations, f.ms.toFixed(3), f.medianMs.toFixed(3), f.gflops.toFixed(2), pct(f.gflops, r.gflops)].join('\t')),
    '',
    ['copy', 'MB moved', 'vec4s/invocation', 'ms', 'median ms', 'GB/s', 'of peak'].join('\t'),
    ...r.copySweep.map((b) => [b.name, (b.movedBytes / 1e6).toFixed(1), b.vec4sPerInvocation, b.ms.toFixed(3), b.medianMs.toFixed(3), b.gbPerSecond.toFixed(2), pct(b.gbPerSecond, r.gbPerSecond)].join('\t')),
  ].join('\n');
}
