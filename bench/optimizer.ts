// The fused optimizer benchmark suite, shared by the Node runner (bench/node.ts) and the browser
// page (bench/page.ts), chosen with --suite=optimizer: milliseconds per update of the fused
// AdamW and SGD-with-momentum (src/optim/fused.ts) over 1M to 50M parameters, laid out as one
// transformer block's tensors (qkv, projection and MLP matrices with their biases, width C
// chosen to give the nominal count). Per row: `params` (the exact count), `ms` per update, the
// bytes the update must touch (f32; AdamW reads param, grad, m, v and writes param, m, v: 28
// bytes a parameter; SGD reads param, grad, momentum and writes param, momentum: 20), the GB/s
// that makes, and its share of the copy bandwidth bench/peak.ts calibrates (the update is
// bandwidth-bound, so this share is how close to the hardware it runs).
// An update is what a compiled plan replays after the backward pass: the global gradient norm
// (grad_sumsq, grad_norm: one more read of the gradients, not counted above) then the update,
// over gradients already in the optimizer's arena. Timed as loops of back-to-back updates in one
// compute pass (GPU timestamps when the adapter has them, else the wall clock from submit to
// completion), median of several loops after a warm-up; the per-step scalars are written once
// per update as in a plan, and are the same for every update of a loop.
// Quick mode (--quick): 64K parameters only, three short loops per row: every figure of the
// suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: LAMB, clipping or accumulation (they add passes; test/optim.test.ts checks them), or
// launching anything and writing files (the runners do).

import type { Engine } from '../src/engine.js';
import { encodeDispatches, type PreparedDispatch } from '../src/gpu/kernels.js';
import type { TimingSource } from '../src/gpu/profiler.js';
import { randomNormal } from '../src/ops/random.js';
import { createOptimizer, type OptimizerKind } from '../src/optim/fused.js';
import { parameter, type Tensor } from '../src/tensor.js';
import { calibratePeak, shareOfPeak } from './peak.js';
import { measuredOn, reporters, resultHeader, timeWarmed, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** Nominal parameter counts by adapter kind: on SwiftShader a 5M AdamW update takes over a second, a row ten. */
export const OPTIMIZER_SIZES = { gpu: [1e6, 5e6, 20e6, 50e6], software: [1e6] } as const;
/** Quick mode's count. */
export const OPTIMIZER_QUICK_SIZES = [64e3] as const;
/** The update rules measured, in row order within a size. */
export const OPTIMIZER_KINDS = ['adamw', 'sgd'] as const satisfies readonly OptimizerKind[];
type BenchKind = (typeof OPTIMIZER_KINDS)[number];

/** f32 words each update must read and write per parameter (see the header). */
const WORDS: Record<BenchKind, number> = { adamw: 7, sgd: 5 };

/** Timing loops: ~100 ms of updates per loop, 5 loops; quick mode's are short and few. */
const LOOPS = {
  full: { reps: 5, targetMs: 100, maxPerRep: 256 },
  quick: { reps: 3, targetMs: 10, maxPerRep: 8 },
} as const;
type Loops = (typeof LOOPS)[keyof typeof LOOPS];

export interface OptimizerMeasurement {
  /** Rule and nominal count, for example 'adamw 5M'. */
  name: string;
  kind: BenchKind;
  /** Parameters updated (exact). */
  params: number;
  /** Tensors they are split into. */
  tensors: number;
  /** Median milliseconds per update (NaN when skipped). */
  ms: number;
  /** Bytes one update must read and write. */
  touchedBytes: number;
  gbPerSecond: number;
  /** gbPerSecond over the calibrated copy bandwidth. */
  shareOfPeak: number;
  /** Why the row was not measured (for example a device limit); absent when it was. */
  skipped?: string;
}

export interface OptimizerSuiteResult extends ResultHeader<'optimizer'> {
  timing: TimingSource;
  /** The copy bandwidth the shares are relative to (bench/peak.ts, same mode). */
  peakGbPerSecond: number;
  results: OptimizerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is the peak calibration, then each size and rule. */
export interface OptimizerSuiteOptions extends SuiteOptionsBase {
  /** Nominal parameter counts (default OPTIMIZER_SIZES by adapter kind, or OPTIMIZER_QUICK_SIZES in quick mode). */
  sizes?: readonly number[];
}

/** '64K', '5M': a nominal count as rows are named. */
export const countLabel = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : `${+(n / 1e3).toFixed(1)}K`);

/** One transformer block's tensor shapes, 12 C^2 + 9 C parameters, C a multiple of 8 near `nominal`'s. */
export function blockShapes(nominal: number): { name: string; shape: number[] }[] {
  const C = Math.max(8, Math.round(Math.sqrt(nominal / 12) / 8) * 8);
  return [
    { name: 'qkv', shape: [C, 3 * C] },
    { name: 'qkv.bias', shape: [3 * C] },
    { name: 'proj', shape: [C, C] },
    { name: 'proj.bias', shape: [C] },
    { name: 'fc', shape: [C, 4 * C] },
    { name: 'fc.bias', shape: [4 * C] },
    { name: 'fc_out', shape: [4 * C, C] },
    { name: 'fc_out.bias', shape: [C] },
  ];
}

/** Runs `count` updates in one pass and returns the milliseconds they took. */
function updateTimer(engine: Engine, step: () => PreparedDispatch[]) {
  const { device } = engine.gpu;
  const timestamps = engine.gpu.features.has('timestamp-query');
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const read = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  return {
    timing: (timestamps ? 'timestamp' : 'wall-clock') as TimingSource,
    async run(count: number): Promise<number> {
      // Drain earlier work so it is not counted.
      await device.queue.onSubmittedWorkDone();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass(
        querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
      );
      for (let i = 0; i < count; i++) encodeDispatches(pass, step());
      pass.end();
      if (querySet && resolve && read) {
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
      }
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      if (!read) {
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      }
      await read.mapAsync(GPUMapMode.READ);
      const [a, b] = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      return Number(b - a) / 1e6;
    },
    destroy() {
      querySet?.destroy();
      resolve?.destroy();
      read?.destroy();
    },
  };
}

/** Bytes of one arena over `shapes`, as the fused optimizer lays it out (each tensor aligned). */
function arenaBytes(engine: Engine, shapes: { shape: number[] }[]): number {
  const align = engine.gpu.limits.minStorageBufferOffsetAlignment;
  return shapes.reduce((acc, s) => acc + Math.ceil((s.shape.reduce((a, b) => a * b, 1) * 4) / align) * align, 0);
}

async function measure(engine: Engine, kind: BenchKind, nominal: number, loops: Loops): Promise<{ ms: number; timing: TimingSource; params: number; tensors: number }> {
  const shapes = blockShapes(nominal);
  const params: Tensor[] = shapes.map((s, i) => parameter(`${kind} ${nominal} ${s.name}`, randomNormal(s.shape, 7 + i, 0, 0.02)));
  const opt = await createOptimizer(engine, params, kind === 'adamw' ? { kind, lr: 1e-3 } : { kind, lr: 1e-2, momentum: 0.9 });
  // The parameters give the gradients' shapes only: the benchmark fills the arena itself.
  const planned = opt.withGradients(params);
  const grads = engine.pool.acquire(planned.arenaBytes, 'optimizer benchmark gradients');
  try {
    // Random gradients (uninitialised memory could hold denormals, slow on CPU-emulated
    // adapters): one block of them, repeated over the arena.
    const block = Float32Array.from({ length: Math.min(planned.arenaBytes / 4, 1 << 20) }, () => (Math.random() * 2 - 1) * 1e-2);
    for (let at = 0; at < planned.arenaBytes; at += block.byteLength) {
      engine.pool.write(grads, block.subarray(0, Math.min(block.length, (planned.arenaBytes - at) / 4)), at);
    }
    const bound = await planned.bind(grads);
    const { ms, timing } = await timeWarmed(updateTimer(engine, bound.step), loops);
    return { ms, timing, params: params.reduce((a, p) => a + p.size, 0), tensors: params.length };
  } finally {
    engine.pool.release(grads);
    opt.dispose();
    for (const p of params) engine.freeParameter(p);
  }
}

export async function runOptimizerSuite(engine: Engine, opts: OptimizerSuiteOptions): Promise<OptimizerSuiteResult> {
  const { log, progress } = reporters(opts);
  const quick = opts.quick ?? false;
  const sizes = opts.sizes ?? (quick ? OPTIMIZER_QUICK_SIZES : engine.gpu.adapter.isSoftware ? OPTIMIZER_SIZES.software : OPTIMIZER_SIZES.gpu);
  const total = 1 + sizes.length * OPTIMIZER_KINDS.length;
  progress(1, total, 'peak calibration');
  const peak = await calibratePeak(engine, { quick });
  log(`copy bandwidth peak: ${peak.gbPerSecond.toFixed(2)} GB/s (${peak.timing})`);
  const l = engine.gpu.limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  const results: OptimizerMeasurement[] = [];
  let timing: TimingSource = peak.timing;
  for (const nominal of sizes) {
    for (const kind of OPTIMIZER_KINDS) {
      const name = `${kind} ${countLabel(nominal)}`;
      progress(results.length + 2, total, name);
      const shapes = blockShapes(nominal);
      const count = shapes.reduce((acc, s) => acc + s.shape.reduce((a, b) => a * b, 1), 0);
      const touchedBytes = WORDS[kind] * 4 * count;
      // Parameters, gradients and state each live in one arena: one binding must hold them all.
      const bytes = arenaBytes(engine, shapes);
      if (bytes > maxBytes) {
        const skipped = `one arena of ${count} parameters is ${bytes} bytes, more than one storage binding allows here (${maxBytes})`;
        log(`${name.padEnd(12)} skipped: ${skipped}`);
        results.push({ name, kind, params: count, tensors: shapes.length, ms: NaN, touchedBytes, gbPerSecond: NaN, shareOfPeak: NaN, skipped });
        continue;
      }
      const m = await measure(engine, kind, nominal, quick ? LOOPS.quick : LOOPS.full);
      timing = m.timing;
      const gbPerSecond = touchedBytes / (m.ms * 1e6);
      const share = shareOfPeak(gbPerSecond, peak.gbPerSecond);
      results.push({ name, kind, params: m.params, tensors: m.tensors, ms: m.ms, touchedBytes, gbPerSecond, shareOfPeak: share });
      log(`${name.padEnd(12)} ${m.ms.toFixed(3).padStart(9)} ms/update  ${gbPerSecond.toFixed(2).padStart(8)} GB/s  ${(share * 100).toFixed(0)}% of peak`);
    }
  }
  return {
    ...resultHeader('optimizer', engine, opts),
    timing,
    peakGbPerSecond: peak.gbPerSecond,
    results,
  };
}

/** A plain-text table: one row per rule and size. */
export function formatOptimizerSuite(r: OptimizerSuiteResult): string {
  const lines = [
    `optimizer (fused, one transformer block's tensors), ${measuredOn(r)}, timing: ${r.timing}, copy peak ${r.peakGbPerSecond.toFixed(2)} GB/s, ${r.date}`,
    ['name', 'params', 'ms/update', 'MB touched', 'GB/s', 'share of peak'].join('\t'),
  ];
  for (const x of r.results) {
    const head = [x.name, x.params, x.skipped ? `skipped: ${x.skipped}` : x.ms.toFixed(3)];
    lines.push((x.skipped ? head : [...head, (x.touchedBytes / 1e6).toFixed(1), x.gbPerSecond.toFixed(2), `${(x.shareOfPeak * 100).toFixed(0)}%`]).join('\t'));
  }
  return lines.join('\n');
}
