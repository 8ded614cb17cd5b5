// The fused attention kernels' variants (layout, rows per workgroup, tile rows; see
// ATTENTION_VARIANTS in attention.ts) as a tuned family (tunable.ts): per size class
// (attentionSizeClass), the first time a compiled plan needs a class on an adapter, each
// variant's forward and its two gradient kernels are timed on the class's representative
// problem in short loops, and the variant with the least forward + backward time is kept,
// cached per adapter and class like the matmul tilings (tune-cache.ts). Also exports the
// measurement the benchmark shows. Not here: the kernels (shaders/attention*.ts), how a pick is
// used (ATTENTION_CHOICES in attention.ts), the loop every tuner shares (tunable.ts), or when
// tuning runs (Engine.tuneForPlan, before a plan's layout).

import { EngineError } from '../errors.js';
import type { BoundBuffer } from '../gpu/kernels.js';
import { timeDispatch, type MeasureOptions, type TimingSource } from '../gpu/profiler.js';
import type { TensorSpec } from '../tensor.js';
import {
  ATTENTION_CHOICES,
  ATTENTION_VARIANT_NAMES,
  ATTENTION_VARIANTS,
  attentionBackwardDef,
  attentionClassOf,
  attentionDef,
  type AttentionAttrs,
  type AttentionSizeClass,
  type AttentionVariant,
} from './attention.js';
import { fixedChoiceEnv, measuredTunable, randomOperand, type Tunable, type TuneResult, type TuneTarget } from './tunable.js';
import type { TuneOptions } from './tune-cache.js';
import type { Dispatch, Slot } from './types.js';

/** One attention problem: separate q, k, v of shape (B, H, T, hs). */
export interface AttentionProblem {
  B: number;
  H: number;
  T: number;
  hs: number;
  causal: boolean;
}

/**
 * The problem timed for each class, inside it and typical of it: causal (as in a language
 * model), hs 32, T past two 32-row tiles so the tiled variants stream more than one: 2^19
 * multiply-adds (T = 64), 2^22 (T = 128), 2^25 (T = 256, 16 heads: 128 workgroups of 32 rows,
 * about a wave of a large GPU). Larger would take seconds per variant on SwiftShader.
 */
export const ATTENTION_CLASS_PROBLEMS: Readonly<Record<AttentionSizeClass, AttentionProblem>> = {
  small: { B: 1, H: 4, T: 64, hs: 32, causal: true },
  medium: { B: 2, H: 4, T: 128, hs: 32, causal: true },
  large: { B: 4, H: 4, T: 256, hs: 32, causal: true },
};

/**
 * The variants timed on an adapter. A CPU adapter times only the barrier-free ones: on
 * SwiftShader the tiled variants measured 3-6x slower than 'thread' at every class's problem,
 * and each costs about 5 s of pipeline builds there (the barrier-free ones about 1.5 s). A GPU
 * times all, in milliseconds.
 */
export const attentionCandidates = (isSoftware: boolean): readonly AttentionVariant[] =>
  isSoftware ? ATTENTION_VARIANT_NAMES.filter((x) => ATTENTION_VARIANTS[x].layout === 'thread') : ATTENTION_VARIANT_NAMES;

export interface AttentionMeasurement {
  variant: AttentionVariant;
  problem: AttentionProblem;
  /** Median time per forward dispatch. */
  fwdMs: number;
  /** Median time of the two gradient kernels (dq, then dk and dv); the shared row-dot pre-pass is left out. */
  bwdMs: number;
  timing: TimingSource;
}

/** Times `variant`'s forward and gradient kernels on `problem`, each a warm-up then timed submits. */
export async function measureAttention(
  target: TuneTarget,
  variant: AttentionVariant,
  problem: AttentionProblem,
  opts: MeasureOptions = {},
): Promise<AttentionMeasurement> {
  const { gpu, kernels, pool } = target;
  const { B, H, T, hs, causal } = problem;
  const env = fixedChoiceEnv(gpu, ATTENTION_CHOICES.name, variant);
  const attrs: AttentionAttrs = { causal, scale: 1 / Math.sqrt(hs), p: 0, offset: 0, heads: 0 };
  const n = B * H * T * hs;
  const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
  const [qkv, rows, seed] = [f32(B, H, T, hs), f32(B, H, T), { shape: [], dtype: 'i32' } as TensorSpec];
  const fwd = attentionDef.kernel([qkv, qkv, qkv, seed], [qkv, rows], attrs, env);
  const bwd = attentionBackwardDef.kernel([qkv, qkv, qkv, qkv, rows, qkv, seed], [f32(3, B, H, T, hs)], attrs, env);
  if ('alias' in fwd || 'alias' in bwd) throw new EngineError('attention: expected kernel plans, got an alias.');
  // Inputs q, k, v, o, lse, dO, seed and D: the forward writes o and lse over the random ones, so
  // the backward times real weights.
  const sizes = [n, n, n, n, B * H * T, n, 1, B * H * T];
  const bufs = sizes.map((s, i) => pool.acquire(s * 4, `attention timing ${i}`));
  const grad = pool.acquire(3 * n * 4, 'attention timing gradient');
  const [q, k, v, o, lse, dO, seedBuf, D] = bufs.map((buffer, i) => ({ buffer, size: sizes[i] * 4 }));
  bufs.forEach((b, i) => pool.write(b, i === 6 ? new Uint32Array(1) : randomOperand(sizes[i])));
  const bound = (slots: Slot[], ins: BoundBuffer[], outs: BoundBuffer[]) =>
    slots.map((s) => ('in' in s ? ins[s.in] : 'out' in s ? outs[s.out] : D));
  const time = (d: Dispatch, ins: BoundBuffer[], outs: BoundBuffer[]) => timeDispatch(gpu, kernels, d, bound(d.reads, ins, outs), bound(d.writes, ins, outs), opts);
  try {
    const f = await time(fwd.dispatches[0], [q, k, v, seedBuf], [o, lse]);
    const bwdIns = [q, k, v, o, lse, dO, seedBuf];
    const dq = await time(bwd.dispatches[1], bwdIns, [{ buffer: grad, size: 3 * n * 4 }]);
    const dkv = await time(bwd.dispatches[2], bwdIns, [{ buffer: grad, size: 3 * n * 4 }]);
    return { variant, problem, fwdMs: f.ms, bwdMs: dq.ms + dkv.ms, timing: f.timing };
  } finally {
    for (const b of [...bufs, grad]) pool.release(b);
  }
}

// ---------------------------------------------------------------------------------------------
// The tuner

/**
 * Short loops, as the tuner runs inside a compile: each variant's three kernels in well under a
 * second on SwiftShader, pipeline builds included (a dispatch past slowMs is timed once).
 */
const TUNE_LOOPS: MeasureOptions = { reps: 3, targetMs: 10, maxPerRep: 32, maxMs: 100, slowMs: 50 };

export interface AttentionTuneResult extends TuneResult<AttentionSizeClass, AttentionVariant> {
  /** The representative problem the figures are for. */
  problem: AttentionProblem;
  /** Milliseconds of each variant timed (attentionCandidates): its forward, and its backward (dq, dk, dv), at `problem`. */
  fwdMs: Partial<Record<AttentionVariant, number>>;
  bwdMs: Partial<Record<AttentionVariant, number>>;
}

/** The tuned attention family: cached picks under keys 'attention/v1/<adapter>/<class>'. */
export const attentionTunable: Tunable<AttentionSizeClass, AttentionVariant, AttentionTuneResult> = measuredTunable({
  choices: ATTENTION_CHOICES,
  version: 1,
  classOf: (node) =>
    node.def === attentionDef || node.def === attentionBackwardDef ? attentionClassOf(node.inputs[0], node.attrs as AttentionAttrs) : undefined,
  candidates: attentionCandidates,
  figures: ['fwdMs', 'bwdMs'],
  async measure(target, variant, c) {
    const r = await measureAttention(target, variant, ATTENTION_CLASS_PROBLEMS[c], TUNE_LOOPS);
    return { figures: { fwdMs: r.fwdMs, bwdMs: r.bwdMs }, timing: r.timing };
  },
  cost: ({ fwdMs, bwdMs }) => fwdMs + bwdMs,
  describe: (c) => ({ problem: ATTENTION_CLASS_PROBLEMS[c] }),
});

/**
 * The fastest variant per size class on the target's adapter: from memory, then from the
 * persistent cache, else measured (each variant on the class's representative problem) and
 * cached. Set the engine's tuning['attention.<class>'] to a pick to use it (Engine.tuneForPlan does).
 */
export const tuneAttention = (target: TuneTarget, opts: TuneOptions<AttentionSizeClass> = {}): Promise<AttentionTuneResult[]> =>
  attentionTunable.tune(target, opts);
