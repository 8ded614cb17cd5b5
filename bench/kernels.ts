// The row-kernel benchmark suite, shared by the Node runner (bench/node.ts) and the browser page
// (bench/page.ts), chosen with --suite=kernels: the memory-bound kernels that work row by row
// over the last axis (src/ops/softmax.ts, layernorm.ts, crossentropy.ts), each as its forward
// alone and as forward + backward (the kernels autograd emits: softmaxBackward; layerNormBackward
// for dx, dgain and dbias; crossEntropyBackward of the mean), on the transformer's real shapes
// (attention-score rows, B*T rows of C channels, V = 65 characters or 8192 tokens) and a sweep
// of 4096 rows by C = 128, 512, 2048 for charts. Per row: ms, GB/s of the least traffic the pass
// needs (minBytes: every input read once, every output written once, 4 bytes an element; see
// minBytes) and that as a share of the adapter's copy bandwidth (bench/peak.ts).
// Each op's kernel plan is bound to buffers of its own and every dispatch timed in a loop of
// back-to-back dispatches (src/gpu/profiler.ts's dispatchTimer: GPU timestamps when the adapter
// has them, else the wall clock), median of several submits; a pass's time is the sum of its
// dispatches'. Before anything is timed, the pass runs once and its outputs are checked against
// the ops' CPU references (the first rows where rows are independent, everything where an
// output sums over rows); a wrong kernel throws instead of giving a figure.
// Small shapes fit in a GPU's L2 cache, and loops that replay one dispatch then read from it:
// their share of the copy peak (measured past any cache) can pass 100%.
// Quick mode (--quick): one 64 x 128 shape per op, three short submits per dispatch: every
// figure of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: launching anything, writing files (the runners do), or the TensorFlow.js peer
// (bench/peer-tfjs-kernels.ts).

import type { Engine } from '../src/engine.js';
import { dispatchTimer, timeLoop, type DispatchTimer, type TimingSource } from '../src/gpu/profiler.js';
import type { BoundBuffer } from '../src/gpu/kernels.js';
import { crossEntropyBackwardDef, crossEntropyDef } from '../src/ops/crossentropy.js';
import { layerNormBackwardDef, layerNormDef } from '../src/ops/layernorm.js';
import { rowLayout, type RowLayout } from '../src/ops/rows.js';
import { softmaxBackwardDef, softmaxDef } from '../src/ops/softmax.js';
import type { HostTensor, OpDef, Slot } from '../src/ops/types.js';
import type { DType, TensorSpec } from '../src/tensor.js';
import { mulberry32 } from '../src/data/random.js';
import { calibratePeak, shareOfPeak } from './peak.js';
import type { KernelPeerMeasurement } from './peer-tfjs-kernels.js';
import { measuredOn, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

export const KERNEL_OPS = ['softmax', 'layerNorm', 'crossEntropy'] as const;
export type KernelOp = (typeof KERNEL_OPS)[number];
export const KERNEL_PASSES = ['forward', 'forward+backward'] as const;
export type KernelPass = (typeof KERNEL_PASSES)[number];

/** One problem: `op` over `rows` rows of `cols` elements (classes V for crossEntropy). */
export interface KernelShape {
  op: KernelOp;
  rows: number;
  cols: number;
  /** Where the shape comes from (a transformer's attention scores, its B*T tokens, the sweep). */
  label: string;
}

const attn = (T: number): KernelShape => ({ op: 'softmax', rows: 16 * T, cols: T, label: `attention scores T=${T}, B*H=16` });
const norm = (B: number, T: number, C: number): KernelShape => ({ op: 'layerNorm', rows: B * T, cols: C, label: `B*T=${B}*${T}, C=${C}` });
const loss = (B: number, T: number, V: number): KernelShape => ({ op: 'crossEntropy', rows: B * T, cols: V, label: `B*T=${B}*${T}, V=${V}` });
const sweep = (op: KernelOp, cols: readonly number[]) => cols.map((C): KernelShape => ({ op, rows: 4096, cols: C, label: 'sweep' }));
const byOp = (own: Record<KernelOp, KernelShape[]>, cols: readonly number[]) => KERNEL_OPS.flatMap((op) => [...own[op], ...sweep(op, cols)]);

/** Shapes measured by default: CPU-emulated adapters get the smallest of each kind. */
export const KERNEL_SHAPES = {
  gpu: byOp(
    {
      softmax: [attn(64), attn(256), attn(1024)],
      // The GPT presets at batch 16, their full context by their width (src/models/gpt.ts: tiny, mini, base, small).
      layerNorm: [norm(16, 32, 64), norm(16, 64, 128), norm(16, 128, 256), norm(16, 256, 384)],
      crossEntropy: [loss(16, 64, 65), loss(16, 256, 65), loss(16, 64, 8192)],
    },
    [128, 512, 2048],
  ),
  software: byOp({ softmax: [attn(64)], layerNorm: [norm(16, 32, 64)], crossEntropy: [loss(16, 64, 65)] }, [128]),
} as const;

/** Quick mode's shapes: one small problem per op. */
export const KERNEL_QUICK_SHAPES: readonly KernelShape[] = KERNEL_OPS.map((op) => ({ op, rows: 64, cols: 128, label: 'quick' }));

/**
 * The least bytes a pass moves for R rows of C: each op's inputs read once and outputs written
 * once, f32 and i32 alike 4 bytes an element. Intermediates between ops count at both ends
 * (the forward writes y, mean, rstd; the backward reads them back), as the engine runs them.
 */
export function minBytes(op: KernelOp, pass: KernelPass, R: number, C: number): number {
  const both = pass === 'forward+backward';
  switch (op) {
    // softmax: x read, y written (2RC); softmaxBackward: y and dy read, dx written (3RC).
    case 'softmax':
      return 4 * (2 * R * C + (both ? 3 * R * C : 0));
    // layerNorm: x (RC), gain and bias (2C) read, y (RC), mean and rstd (2R) written;
    // layerNormBackward: x, dy (2RC), mean, rstd (2R), gain (C) read, dx (RC), dgain, dbias (2C) written.
    case 'layerNorm':
      return 4 * (2 * R * C + 2 * C + 2 * R + (both ? 3 * R * C + 2 * R + 3 * C : 0));
    // crossEntropy (mean): logits (RC) and targets (R) read, the scalar loss written;
    // crossEntropyBackward: logits, targets and the scalar dloss read, dlogits (RC) written.
    case 'crossEntropy':
      return 4 * (R * C + R + 1 + (both ? 2 * R * C + R + 1 : 0));
  }
}

export interface KernelMeasurement {
  /** Op and pass: with shape, what bench:compare keys the row by. */
  name: string;
  op: KernelOp;
  pass: KernelPass;
  /** rows x cols. */
  shape: string;
  label: string;
  rows: number;
  cols: number;
  /** Median ms per pass, summed over its dispatches. */
  ms: number;
  dispatches: number;
  /** The pass's least traffic (see minBytes). */
  minBytes: number;
  gbPerSecond: number;
  /** gbPerSecond over the peak's copy bandwidth. */
  shareOfPeak: number;
  /** Largest error of the pass's outputs against the CPU references, relative to each output's largest value (at most CHECK_TOL). */
  checkError: number;
}

export interface KernelsSuiteResult extends ResultHeader<'kernels'> {
  timing: TimingSource;
  /** The row kernels' launch layout on this adapter (src/ops/rows.ts). */
  layout: RowLayout;
  /** The adapter's calibrated peaks (bench/peak.ts). */
  peak: { gflops: number; gbPerSecond: number };
  shapes: readonly KernelShape[];
  results: KernelMeasurement[];
  /** TensorFlow.js on the same shapes, when the runner measured it (browser only). */
  peer?: KernelPeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is the peak calibration, then each shape's two passes. */
export interface KernelsSuiteOptions extends SuiteOptionsBase {
  /** Shapes (default KERNEL_SHAPES by adapter kind, or KERNEL_QUICK_SHAPES in quick mode). */
  shapes?: readonly KernelShape[];
}

/** Timing loops: submits of ~100 ms, 5 of them unless a slow kernel would pass 5 s; quick mode's are short. */
const LOOPS = {
  full: { reps: 5, targetMs: 100, maxPerRep: 1024, maxMs: 5000 },
  quick: { reps: 3, targetMs: 10, maxPerRep: 16, maxMs: 300 },
} as const;

/** Rows checked against the CPU reference where rows are independent. */
const CHECK_ROWS = 64;
/** Largest error allowed, relative to the largest magnitude of the reference output. */
const CHECK_TOL = 1e-4;

/** A tensor of a problem: its extent in rows (R) and columns (C), and how a source is drawn. */
interface Slab {
  dims: 'RC' | 'R' | 'C' | '';
  dtype?: DType;
  /** Draws a source's element (tensors without one are written by a step). */
  fill?: (rand: () => number) => number;
}

/** One op of a pass, over named tensors. */
interface Step {
  def: OpDef<any>;
  attrs: object;
  ins: string[];
  outs: string[];
  /** Each output row depends on the same input row alone: checking a prefix of rows is enough. */
  rowLocal: boolean;
}

const uniform = (lo: number, hi: number) => (rand: () => number) => lo + (hi - lo) * rand();

/** The tensors and the forward and backward ops of `op` with C columns. */
function problem(op: KernelOp, C: number): { slabs: Record<string, Slab>; forward: Step; backward: Step } {
  switch (op) {
    case 'softmax':
      return {
        slabs: { x: { dims: 'RC', fill: uniform(-4, 4) }, y: { dims: 'RC' }, dy: { dims: 'RC', fill: uniform(-1, 1) }, dx: { dims: 'RC' } },
        forward: { def: softmaxDef, attrs: {}, ins: ['x'], outs: ['y'], rowLocal: true },
        backward: { def: softmaxBackwardDef, attrs: {}, ins: ['y', 'dy'], outs: ['dx'], rowLocal: true },
      };
    case 'layerNorm':
      return {
        slabs: {
          x: { dims: 'RC', fill: uniform(-1, 3) }, gain: { dims: 'C', fill: uniform(0.5, 1.5) }, bias: { dims: 'C', fill: uniform(-0.5, 0.5) },
          y: { dims: 'RC' }, mean: { dims: 'R' }, rstd: { dims: 'R' },
          dy: { dims: 'RC', fill: uniform(-1, 1) }, dx: { dims: 'RC' }, dgain: { dims: 'C' }, dbias: { dims: 'C' },
        },
        forward: { def: layerNormDef, attrs: { eps: 1e-5 }, ins: ['x', 'gain', 'bias'], outs: ['y', 'mean', 'rstd'], rowLocal: true },
        // dgain and dbias sum over every row.
        backward: { def: layerNormBackwardDef, attrs: {}, ins: ['x', 'mean', 'rstd', 'gain', 'dy'], outs: ['dx', 'dgain', 'dbias'], rowLocal: false },
      };
    case 'crossEntropy': {
      const attrs = { reduction: 'mean', smoothing: 0 };
      return {
        slabs: {
          logits: { dims: 'RC', fill: uniform(-4, 4) }, targets: { dims: 'R', dtype: 'i32', fill: (rand) => Math.floor(rand() * C) },
          loss: { dims: '' }, dloss: { dims: '', fill: () => 1 }, dlogits: { dims: 'RC' },
        },
        // The mean runs over every row, and scales every row's gradient by 1 / rows.
        forward: { def: crossEntropyDef, attrs, ins: ['logits', 'targets'], outs: ['loss'], rowLocal: false },
        backward: { def: crossEntropyBackwardDef, attrs, ins: ['logits', 'targets', 'dloss'], outs: ['dlogits'], rowLocal: false },
      };
    }
  }
}

/** Three significant digits, or one decimal from 100 up: microseconds and GPU rates alike. */
const fmt = (v: number) => (v >= 100 ? v.toFixed(1) : v.toPrecision(3));

/** A problem bound to buffers, its dispatches prepared: run once, checked, then timed step by step. */
async function bind(engine: Engine, s: KernelShape) {
  const { gpu, kernels, pool } = engine;
  const { slabs, forward, backward } = problem(s.op, s.cols);
  const extent = (d: Slab['dims'], rows = s.rows) => ({ RC: [rows, s.cols], R: [rows], C: [s.cols], '': [] })[d];
  const spec = (name: string): TensorSpec => ({ shape: extent(slabs[name].dims), dtype: slabs[name].dtype ?? 'f32' });
  const elements = (name: string, rows = s.rows) => extent(slabs[name].dims, rows).reduce((a, b) => a * b, 1);
  const held: GPUBuffer[] = [];
  const alloc = (bytes: number, what: string): BoundBuffer => {
    held.push(pool.acquire(bytes, what));
    return { buffer: held[held.length - 1], size: bytes };
  };
  const buffers = new Map(Object.keys(slabs).map((n) => [n, alloc(4 * elements(n), `kernels bench ${s.op} ${n}`)]));
  const sources = new Map<string, Float32Array | Int32Array>();
  const rand = mulberry32(1);
  for (const [n, slab] of Object.entries(slabs)) {
    if (!slab.fill) continue;
    const data = slab.dtype === 'i32' ? new Int32Array(elements(n)) : new Float32Array(elements(n));
    for (let i = 0; i < data.length; i++) data[i] = slab.fill(rand);
    sources.set(n, data);
    pool.write(buffers.get(n)!.buffer, data);
  }
  const timers: DispatchTimer[] = [];
  const prepare = async (step: Step) => {
    const plan = step.def.kernel(step.ins.map(spec), step.outs.map(spec), step.attrs, engine.env);
    if ('alias' in plan) throw new Error(`${step.def.name}: expected a kernel plan, got an alias.`);
    const tmps = (plan.tmp ?? []).map((n, i) => alloc(n, `kernels bench ${step.def.name} scratch ${i}`));
    const bound = (slot: Slot) => ('in' in slot ? buffers.get(step.ins[slot.in])! : 'out' in slot ? buffers.get(step.outs[slot.out])! : tmps[slot.tmp]);
    const list: DispatchTimer[] = [];
    for (const d of plan.dispatches) {
      const timer = await dispatchTimer(gpu, kernels, d, d.reads.map(bound), d.writes.map(bound));
      timers.push(timer);
      list.push(timer);
      // Run once as it is prepared: the pipeline compiles, and the step's outputs exist for the check and the next step.
      await timer.run(1);
    }
    return list;
  };

  /** The first `rows` rows of a tensor (all of it when it has no row axis) as the CPU sees it. */
  const host = async (name: string, rows: number): Promise<HostTensor> => {
    const { dims, dtype = 'f32' } = slabs[name];
    const n = elements(name, rows);
    const src = sources.get(name) ?? (await pool.read(buffers.get(name)!.buffer, 4 * n));
    return { shape: extent(dims, rows), dtype, data: dtype === 'i32' ? Int32Array.from(src.subarray(0, n)) : Float64Array.from(src.subarray(0, n)) };
  };
  /** Each output of `step` against its CPU reference (computed from the GPU's inputs); throws past CHECK_TOL. */
  const check = async (step: Step): Promise<number> => {
    const rows = step.rowLocal ? Math.min(CHECK_ROWS, s.rows) : s.rows;
    const inputs = await Promise.all(step.ins.map((n) => host(n, rows)));
    const want = step.def.cpu(inputs, step.attrs);
    let worst = 0;
    for (const [j, name] of step.outs.entries()) {
      const got = (await host(name, rows)).data;
      const ref = want[j].data;
      // Relative to the output's largest value: a mean's gradient is of order 1 / rows.
      let scale = 0;
      let err = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        err = Math.max(err, Math.abs(got[i] - ref[i]));
      }
      if (!(err <= CHECK_TOL * scale)) { // NaN fails too
        throw new Error(
          `kernels bench: ${step.def.name} output '${name}' at ${s.rows}x${s.cols} is wrong: max |gpu - cpu| = ${err} ` +
            `over ${rows === s.rows ? 'all' : 'the first'} ${rows} rows, past ${CHECK_TOL} x ${scale}; no figure for a wrong kernel.`,
        );
      }
      worst = Math.max(worst, scale > 0 ? err / scale : 0);
    }
    return worst;
  };

  const dispose = () => {
    for (const t of timers) t.destroy();
    for (const b of held) pool.release(b);
  };
  return { forward, backward, prepare, check, dispose };
}

export async function runKernelsSuite(engine: Engine, opts: KernelsSuiteOptions): Promise<KernelsSuiteResult> {
  const { log, progress } = reporters(opts);
  const quick = opts.quick ?? false;
  const shapes = opts.shapes ?? (quick ? KERNEL_QUICK_SHAPES : engine.gpu.adapter.isSoftware ? KERNEL_SHAPES.software : KERNEL_SHAPES.gpu);
  const loops = quick ? LOOPS.quick : LOOPS.full;
  const total = 1 + 2 * shapes.length;
  progress(1, total, 'peak calibration');
  const { gflops, gbPerSecond: peakGbPerSecond } = await calibratePeak(engine, { quick });
  const layout = rowLayout(engine.env);
  log(`peak: ${fmt(peakGbPerSecond)} GB/s copy, ${fmt(gflops)} GFLOP/s; row layout: ${layout}`);
  const results: KernelMeasurement[] = [];
  let timing: TimingSource = 'wall-clock';
  for (const s of shapes) {
    progress(results.length + 2, total, `${s.op} ${s.rows}x${s.cols} forward`);
    const b = await bind(engine, s);
    try {
      // Both passes run and are checked before anything is timed.
      const steps = [await b.prepare(b.forward), await b.prepare(b.backward)];
      const errors = [await b.check(b.forward), await b.check(b.backward)];
      let ms = 0;
      let checkError = 0;
      let dispatches = 0;
      for (const [i, pass] of KERNEL_PASSES.entries()) {
        if (i > 0) progress(results.length + 2, total, `${s.op} ${s.rows}x${s.cols} ${pass}`);
        for (const t of steps[i]) {
          ms += (await timeLoop(t, loops)).ms;
          timing = t.timing;
        }
        dispatches += steps[i].length;
        checkError = Math.max(checkError, errors[i]);
        const bytes = minBytes(s.op, pass, s.rows, s.cols);
        const gbPerSecond = bytes / (ms * 1e6);
        const row: KernelMeasurement = {
          name: `${s.op} ${pass}`, op: s.op, pass, shape: `${s.rows}x${s.cols}`, label: s.label, rows: s.rows, cols: s.cols,
          ms, dispatches, minBytes: bytes, gbPerSecond, shareOfPeak: shareOfPeak(gbPerSecond, peakGbPerSecond), checkError,
        };
        results.push(row);
        log(
          `${row.name.padEnd(29)} ${row.shape.padStart(10)}  ${fmt(ms).padStart(9)} ms  ${fmt(gbPerSecond).padStart(8)} GB/s  ` +
            `${fmt(100 * row.shareOfPeak).padStart(5)}% of peak  (${dispatches} dispatch${dispatches > 1 ? 'es' : ''}, checked: ${checkError.toExponential(1)})`,
        );
      }
    } finally {
      b.dispose();
    }
  }
  return {
    ...resultHeader('kernels', engine, opts),
    timing,
    layout,
    peak: { gflops, gbPerSecond: peakGbPerSecond },
    shapes,
    results,
  };
}

/**
 * A plain-text table: one row per op, shape and pass, with ms, GB/s and share of the copy peak,
 * and, when the peer ran, TensorFlow.js's GB/s per backend (the same byte model) and the engine's ratio to it.
 */
export function formatKernelsSuite(r: KernelsSuiteResult): string {
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `row kernels: GB/s of each pass's least traffic, ${measuredOn(r)}, row layout: ${r.layout}, timing: ${r.timing}, ${r.date}`,
    `peak: ${fmt(r.peak.gbPerSecond)} GB/s copy, ${fmt(r.peak.gflops)} GFLOP/s`,
    ['op', 'pass', 'rows x cols', 'shape', 'ms', 'MB', 'GB/s', 'of peak', ...backends.flatMap((b) => [`tfjs-${b} GB/s`, `engine/tfjs-${b}`])].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = r.peer?.find((x) => x.backend === b && x.name === m.name && x.shape === m.shape);
      return p ? [fmt(p.gbPerSecond), `${fmt(m.gbPerSecond / p.gbPerSecond)}x`] : ['-', '-'];
    });
    lines.push(
      [m.op, m.pass, m.shape, m.label, fmt(m.ms), fmt(m.minBytes / 1e6), fmt(m.gbPerSecond), `${fmt(100 * m.shareOfPeak)}%`, ...peers].join('\t'),
    );
  }
  if (backends.length) {
    lines.push(`engine: the kernels' own time, in loops of back-to-back dispatches (${r.timing}); TensorFlow.js: wall clock per op call in loops, its per-call overhead included, as its users pay it.`);
  }
  return lines.join('\n');
}
