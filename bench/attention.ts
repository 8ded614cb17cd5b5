// The attention benchmark suite, shared by the Node runner (bench/node.ts) and the browser page
// (bench/page.ts), chosen with --suite=attention: fused attention (src/ops/attention.ts) against
// the unfused composition (matmul with transB, additive causal mask, softmax, matmul), causal,
// B = 1, H = 4, hs = 32, for a range of T. For each: milliseconds per forward and per
// forward + backward (dq, dk, dv), and the peak bytes of intermediates of each compiled plan
// (Plan.stats.peakBytes, after liveness reuse; q, k, v themselves are parameters, not counted).
// Times are wall clock over back-to-back submits of the compiled plan, median of several reps.
// First the autotuner (src/ops/attention-tune.ts), measuring anew (its caches neither read nor
// written) each size class the suite's T values fall in: its pick of the fused kernels' variant
// and by how much the pick won over the slowest variant timed; the fused rows then run the picks.
// Quick mode (--quick): T = 64 only (the full suite's first row), three short timed loops per
// figure: every figure of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: launching anything, or writing files (the runners do).

import type { Engine } from '../src/engine.js';
import { gradients } from '../src/autograd.js';
import { add, attention, attentionSizeClass, ATTENTION_CHOICES, matmul, mulScalar, randomNormal, softmax, type AttentionSizeClass, type AttentionVariant } from '../src/ops/index.js';
import { tuneAttention, type AttentionTuneResult } from '../src/ops/attention-tune.js';
import { constant, parameter, type Tensor } from '../src/tensor.js';
import type { Plan } from '../src/executor.js';
import { measuredOn, median, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** T values measured by default: short on CPU-emulated adapters, where T = 1024 takes minutes. */
export const ATTENTION_SIZES = { gpu: [64, 128, 256, 512, 1024], software: [64, 128, 256] } as const;
/** Quick mode's T: two tiles of 32 keys for the fused kernels, still tiny. */
export const ATTENTION_QUICK_SIZES = [64] as const;

/** The fixed part of the problem. */
export const ATTENTION_SHAPE = { B: 1, H: 4, hs: 32, causal: true } as const;

export type AttentionImpl = 'fused' | 'unfused';

export interface AttentionMeasurement {
  impl: AttentionImpl;
  T: number;
  /** Milliseconds per forward pass. */
  fwdMs: number;
  /** Milliseconds per forward + backward pass (gradients of q, k, v). */
  fwdBwdMs: number;
  /** Intermediate bytes of the compiled forward plan. */
  fwdPeakBytes: number;
  /** Intermediate bytes of the compiled forward + backward plan. */
  fwdBwdPeakBytes: number;
}

export interface AttentionSuiteResult extends ResultHeader<'attention'> {
  /** The fused kernels' variant on this adapter: one name, or one per class ('small thread-16, medium thread'). */
  layout: string;
  tuner: AttentionTunerSummary;
  shape: typeof ATTENTION_SHAPE;
  timing: 'wall clock';
  results: AttentionMeasurement[];
}

/** The autotuner as the suite ran it: per size class, the pick and by how much it won. */
export interface AttentionTunerSummary {
  classes: {
    sizeClass: AttentionSizeClass;
    /** The representative problem timed, 'BxHxTxhs' (causal). */
    shape: string;
    pick: AttentionVariant;
    /** The slowest variant's forward + backward time over the pick's. */
    speedup: number;
    /** The slowest variant's time over each variant's (the pick's is `speedup`, the slowest's 1). */
    speedupOf: Partial<Record<AttentionVariant, number>>;
  }[];
}

/** Every suite's options, and this suite's own; a progress item is one T and implementation. */
export interface AttentionSuiteOptions extends SuiteOptionsBase {
  /** T values (default ATTENTION_SIZES by adapter kind, or ATTENTION_QUICK_SIZES in quick mode). */
  sizes?: readonly number[];
}

/** o from q, k, v: fused, or the composition of ops it replaces. */
function build(impl: AttentionImpl, q: Tensor, k: Tensor, v: Tensor, T: number): Tensor {
  if (impl === 'fused') return attention(q, k, v, { causal: ATTENTION_SHAPE.causal });
  const mask = Float32Array.from({ length: T * T }, (_, e) => (e % T > Math.floor(e / T) ? -1e9 : 0));
  const scores = add(mulScalar(matmul(q, k, { transB: true }), 1 / Math.sqrt(ATTENTION_SHAPE.hs)), constant(mask, [T, T]));
  return matmul(softmax(scores), v); // (B, H, T, hs)
}

/** Milliseconds per run of `plan`: a warm-up that sizes the loop, then the median of reps. */
async function timePlan(engine: Engine, plan: Plan, { targetMs, reps }: { targetMs: number; reps: number }): Promise<number> {
  const queue = engine.gpu.device.queue;
  const loop = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await plan.run({}, []);
    await queue.onSubmittedWorkDone();
    return (performance.now() - t0) / n;
  };
  const first = await loop(1);
  const n = Math.max(1, Math.min(64, Math.round(targetMs / Math.max(first, 1e-3))));
  // A slow configuration on a slow adapter: three single runs are enough.
  const count = first > 2000 ? 3 : reps;
  const times: number[] = [];
  for (let r = 0; r < count; r++) times.push(await loop(n));
  return median(times);
}

async function measure(engine: Engine, impl: AttentionImpl, T: number, quick: boolean): Promise<AttentionMeasurement> {
  const timing = quick ? { targetMs: 20, reps: 3 } : { targetMs: 200, reps: 5 };
  const { B, H, hs } = ATTENTION_SHAPE;
  const shape = [B, H, T, hs];
  const [q, k, v] = [1, 2, 3].map((s) => parameter(`${impl} ${T} ${s}`, randomNormal(shape, s)));
  const o = build(impl, q, k, v, T);
  const dO = constant(Float32Array.from({ length: B * H * T * hs }, () => Math.random() * 2 - 1), shape);
  const [dq, dk, dv] = gradients([o], [q, k, v], [dO]);
  const fwd = await engine.compile({ outputs: { o } });
  const both = await engine.compile({ outputs: { dq, dk, dv } });
  try {
    return {
      impl,
      T,
      fwdMs: await timePlan(engine, fwd, timing),
      fwdBwdMs: await timePlan(engine, both, timing),
      fwdPeakBytes: fwd.stats.peakBytes,
      fwdBwdPeakBytes: both.stats.peakBytes,
    };
  } finally {
    fwd.dispose();
    both.dispose();
    for (const p of [q, k, v]) engine.freeParameter(p);
  }
}

export async function runAttentionSuite(engine: Engine, opts: AttentionSuiteOptions): Promise<AttentionSuiteResult> {
  const { log, progress } = reporters(opts);
  const sizes = opts.sizes ?? (opts.quick ? ATTENTION_QUICK_SIZES : engine.gpu.adapter.isSoftware ? ATTENTION_SIZES.software : ATTENTION_SIZES.gpu);
  const { B, H, hs } = ATTENTION_SHAPE;
  const classes = [...new Set(sizes.map((T) => attentionSizeClass(B * H, T, hs)))];
  const total = classes.length + 2 * sizes.length;
  let item = 0;
  const tuned: AttentionTuneResult[] = [];
  for (const c of classes) {
    progress(++item, total, `autotuner: ${c}`);
    const t0 = performance.now();
    const [r] = await tuneAttention(engine, { classes: [c], force: true, cache: false });
    tuned.push(r);
    const times = Object.keys(r.fwdMs).map((x) => `${x} ${r.fwdMs[x as AttentionVariant]!.toFixed(2)} + ${r.bwdMs[x as AttentionVariant]!.toFixed(2)} ms`);
    log(`tuner: ${c.padEnd(6)} (${shapeOf(r)}) picked '${r.pick}', ${r.speedup.toFixed(2)}x the slowest; fwd + bwd: ${times.join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    // The fused rows run the fresh pick, whatever the engine had for the class.
    if (!isFixed(engine)) engine.tuning[ATTENTION_CHOICES.key(c)] = r.pick;
  }
  const picks = tuned.map((r) => r.pick);
  const layout = isFixed(engine) ? engine.tuning.attention : new Set(picks).size === 1 ? picks[0] : tuned.map((r) => `${r.sizeClass} ${r.pick}`).join(', ');
  log(`fused attention variant: ${layout}`);
  const results: AttentionMeasurement[] = [];
  for (const T of sizes) {
    for (const impl of ['fused', 'unfused'] as const) {
      progress(++item, total, `${impl} T=${T}`);
      const r = await measure(engine, impl, T, opts.quick ?? false);
      results.push(r);
      log(`${impl.padEnd(8)} T=${String(T).padStart(5)}  fwd ${r.fwdMs.toFixed(2)} ms  fwd+bwd ${r.fwdBwdMs.toFixed(2)} ms  peak ${mib(r.fwdPeakBytes)} / ${mib(r.fwdBwdPeakBytes)} MiB`);
    }
  }
  return {
    ...resultHeader('attention', engine, opts),
    layout,
    tuner: { classes: tuned.map(summary) },
    shape: ATTENTION_SHAPE,
    timing: 'wall clock',
    results,
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(3);

/** Whether the user fixed one variant for every size (engine tuning 'attention'). */
const isFixed = (engine: Engine) => ATTENTION_CHOICES.isChoice(engine.tuning.attention);

const shapeOf = (r: AttentionTuneResult) => [r.problem.B, r.problem.H, r.problem.T, r.problem.hs].join('x');

function summary(r: AttentionTuneResult): AttentionTunerSummary['classes'][number] {
  const times = Object.keys(r.fwdMs).map((x) => [x, r.fwdMs[x as AttentionVariant]! + r.bwdMs[x as AttentionVariant]!] as const);
  const slowest = Math.max(...times.map(([, ms]) => ms));
  return { sizeClass: r.sizeClass, shape: shapeOf(r), pick: r.pick, speedup: r.speedup, speedupOf: Object.fromEntries(times.map(([x, ms]) => [x, slowest / ms])) };
}

/** A plain-text table: one row per T, fused and unfused side by side, and their ratios. */
export function formatAttentionSuite(r: AttentionSuiteResult): string {
  const { B, H, hs, causal } = r.shape;
  const lines = [
    `attention (B=${B}, H=${H}, hs=${hs}${causal ? ', causal' : ''}), ${measuredOn(r)}, fused variant: ${r.layout}, timing: ${r.timing}, ${r.date}`,
    ...tunerLines(r.tuner),
    '',
    ['T', 'fwd ms fused', 'unfused', 'fwd+bwd ms fused', 'unfused', 'speedup fwd+bwd', 'peak MiB fwd fused', 'unfused', 'peak MiB fwd+bwd fused', 'unfused'].join('\t'),
  ];
  for (const T of [...new Set(r.results.map((x) => x.T))]) {
    const f = r.results.find((x) => x.T === T && x.impl === 'fused')!;
    const u = r.results.find((x) => x.T === T && x.impl === 'unfused')!;
    lines.push(
      [
        T, f.fwdMs.toFixed(2), u.fwdMs.toFixed(2), f.fwdBwdMs.toFixed(2), u.fwdBwdMs.toFixed(2),
        `${(u.fwdBwdMs / f.fwdBwdMs).toFixed(2)}x`,
        mib(f.fwdPeakBytes), mib(u.fwdPeakBytes), mib(f.fwdBwdPeakBytes), mib(u.fwdBwdPeakBytes),
      ].join('\t'),
    );
  }
  return lines.join('\n');
}

/** The tuner's table: per class, each variant timed as a multiple of the slowest's speed, the pick and by how much it won. */
function tunerLines(t: AttentionTunerSummary): string[] {
  const variants = [...new Set(t.classes.flatMap((c) => Object.keys(c.speedupOf)))] as AttentionVariant[];
  return [
    'tuner (measured anew): speed of each variant timed over the slowest, fwd + bwd',
    ['class', 'problem', ...variants, 'pick', 'won by'].join('\t'),
    ...t.classes.map((c) =>
      [c.sizeClass, c.shape, ...variants.map((x) => (c.speedupOf[x] === undefined ? '-' : `${c.speedupOf[x]!.toFixed(2)}x`)), c.pick, `${c.speedup.toFixed(2)}x`].join('\t'),
    ),
  ];
}
