// Choosing the fused attention kernels' variant (layout, rows per workgroup, tile rows; see
// ATTENTION_VARIANTS in attention.ts) by measurement, per size class (attentionSizeClass): the
// first time a compiled plan needs a class on an adapter, each variant's forward and its two
// gradient kernels are timed on the class's representative problem in short loops, and the
// variant with the least forward + backward time is kept. Picks are cached per adapter and
// class like the matmul tilings' (tune-cache.ts). Also exports the measurement the benchmark
// shows. Not here: the kernels (shaders/attention*.ts), how a pick is used (attentionVariant in
// attention.ts), or when tuning runs (Engine.tuneForPlan, before a plan's layout).

import { EngineError } from '../errors.js';
import type { BoundBuffer } from '../gpu/kernels.js';
import { dispatchTimer, timeLoop, type MeasureOptions, type TimingSource } from '../gpu/profiler.js';
import type { Tensor, TensorSpec } from '../tensor.js';
import {
  ATTENTION_SIZE_CLASSES,
  ATTENTION_VARIANT_NAMES,
  ATTENTION_VARIANTS,
  attentionBackwardDef,
  attentionClassOf,
  attentionDef,
  isAttentionVariant,
  type AttentionAttrs,
  type AttentionSizeClass,
  type AttentionVariant,
} from './attention.js';
import type { TuneTarget } from './matmul-tune.js';
import { tuneClasses, type TuneFamily, type TuneOptions, type TuneSource, type Tuned } from './tune-cache.js';
import type { Dispatch, KernelEnv, Slot } from './types.js';

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
  const env: KernelEnv = { features: gpu.features, limits: gpu.limits, isSoftware: gpu.adapter.isSoftware, tuning: { attention: variant } };
  const attrs: AttentionAttrs = { causal, scale: 1 / Math.sqrt(hs), p: 0, offset: 0, heads: 0 };
  const n = B * H * T * hs;
  const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
  const [qkv, rows, seed] = [f32(B, H, T, hs), f32(B, H, T), { shape: [], dtype: 'i32' } as TensorSpec];
  const fwd = attentionDef.kernel([qkv, qkv, qkv, seed], [qkv, rows], attrs, env);
  const bwd = attentionBackwardDef.kernel([qkv, qkv, qkv, qkv, rows, qkv, seed], [f32(3, B, H, T, hs)], attrs, env);
  if ('alias' in fwd || 'alias' in bwd) throw new EngineError('attention: expected kernel plans, got an alias.');
  // Inputs q, k, v, o, lse, dO, seed and D: the forward writes o and lse over the random ones, so
  // the backward times real weights; random operands, as uninitialised memory could hold
  // denormals, which CPU-emulated adapters slow down on.
  const sizes = [n, n, n, n, B * H * T, n, 1, B * H * T];
  const bufs = sizes.map((s, i) => pool.acquire(s * 4, `attention timing ${i}`));
  const grad = pool.acquire(3 * n * 4, 'attention timing gradient');
  const [q, k, v, o, lse, dO, seedBuf, D] = bufs.map((buffer, i) => ({ buffer, size: sizes[i] * 4 }));
  bufs.forEach((b, i) => pool.write(b, i === 6 ? new Uint32Array(1) : Float32Array.from({ length: sizes[i] }, () => Math.random() * 2 - 1)));
  const bound = (slots: Slot[], ins: BoundBuffer[], outs: BoundBuffer[]) =>
    slots.map((s) => ('in' in s ? ins[s.in] : 'out' in s ? outs[s.out] : D));
  const time = async (d: Dispatch, ins: BoundBuffer[], outs: BoundBuffer[]) => {
    const timer = await dispatchTimer(gpu, kernels, d, bound(d.reads, ins, outs), bound(d.writes, ins, outs), opts.wallClock);
    try {
      return { ms: (await timeLoop(timer, opts)).ms, timing: timer.timing };
    } finally {
      timer.destroy();
    }
  };
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

export interface AttentionTuneResult {
  sizeClass: AttentionSizeClass;
  /** The representative problem the figures are for. */
  problem: AttentionProblem;
  pick: AttentionVariant;
  /** Milliseconds of each variant timed (attentionCandidates): its forward, and its backward (dq, dk, dv), at `problem`. */
  fwdMs: Partial<Record<AttentionVariant, number>>;
  bwdMs: Partial<Record<AttentionVariant, number>>;
  /** The slowest variant's forward + backward time over the pick's: by how much it won. */
  speedup: number;
  timing: TimingSource;
  /** Measured by this call, or found in a cache. */
  source: TuneSource;
}

/** What is cached per adapter and class: the pick with the figures it was chosen by. */
interface Entry {
  pick: AttentionVariant;
  fwdMs: Partial<Record<AttentionVariant, number>>;
  bwdMs: Partial<Record<AttentionVariant, number>>;
  timing: TimingSource;
}

const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** Cached attention picks (tune-cache.ts): keys 'attention/v1/<adapter>/<class>'. */
const ATTENTION_FAMILY: TuneFamily<Entry> = {
  name: 'attention',
  version: 1,
  parse(v) {
    if (typeof v !== 'object' || v === null) return null;
    const { pick, fwdMs, bwdMs, timing } = v as Partial<Entry>;
    if (!isAttentionVariant(pick) || (timing !== 'timestamp' && timing !== 'wall-clock')) return null;
    // The variants timed: those of the adapter's kind, each with both figures.
    const timed = ATTENTION_VARIANT_NAMES.filter((x) => fwdMs?.[x] !== undefined || bwdMs?.[x] !== undefined);
    if (!timed.includes(pick) || !timed.every((x) => positive(fwdMs?.[x]) && positive(bwdMs?.[x]))) return null;
    const copy = (ms: Entry['fwdMs']) => Object.fromEntries(timed.map((x) => [x, ms[x]]));
    return { pick, fwdMs: copy(fwdMs!), bwdMs: copy(bwdMs!), timing };
  },
};

/** The variants an entry has figures for. */
const timedIn = (e: Entry) => ATTENTION_VARIANT_NAMES.filter((x) => e.fwdMs[x] !== undefined);
const total = (e: Entry, x: AttentionVariant) => e.fwdMs[x]! + e.bwdMs[x]!;

async function measureClass(target: TuneTarget, c: AttentionSizeClass): Promise<Entry> {
  const candidates = attentionCandidates(target.gpu.adapter.isSoftware);
  const e: Entry = { pick: candidates[0], fwdMs: {}, bwdMs: {}, timing: 'wall-clock' };
  for (const x of candidates) {
    const r = await measureAttention(target, x, ATTENTION_CLASS_PROBLEMS[c], TUNE_LOOPS);
    [e.fwdMs[x], e.bwdMs[x], e.timing] = [r.fwdMs, r.bwdMs, r.timing];
  }
  e.pick = candidates.reduce((best, x) => (total(e, x) < total(e, best) ? x : best));
  return e;
}

function result({ sizeClass: c, entry: e, source }: Tuned<AttentionSizeClass, Entry>): AttentionTuneResult {
  const slowest = Math.max(...timedIn(e).map((x) => total(e, x)));
  return {
    sizeClass: c,
    problem: ATTENTION_CLASS_PROBLEMS[c],
    pick: e.pick,
    fwdMs: { ...e.fwdMs },
    bwdMs: { ...e.bwdMs },
    speedup: slowest / total(e, e.pick),
    timing: e.timing,
    source,
  };
}

/**
 * The fastest variant per size class on the target's adapter: from memory, then from the
 * persistent cache, else measured (each variant on the class's representative problem) and
 * cached. Set the engine's tuning['attention.<class>'] to a pick to use it (Engine.tuneForPlan does).
 */
export async function tuneAttention(target: TuneTarget, opts: TuneOptions<AttentionSizeClass> = {}): Promise<AttentionTuneResult[]> {
  const tuned = await tuneClasses(ATTENTION_FAMILY, target.gpu.adapter, ATTENTION_SIZE_CLASSES, opts, (c) => measureClass(target, c));
  return tuned.map(result);
}

/** The size classes of the attention ops (forward or backward) among the producers of `order`, in class order. */
export function attentionClassesOf(order: Tensor[]): AttentionSizeClass[] {
  const found = new Set<AttentionSizeClass>();
  for (const t of order) {
    const s = t.source;
    if (s.kind === 'op' && (s.node.def === attentionDef || s.node.def === attentionBackwardDef)) {
      found.add(attentionClassOf(s.node.inputs[0], s.node.attrs as AttentionAttrs));
    }
  }
  return ATTENTION_SIZE_CLASSES.filter((c) => found.has(c));
}
