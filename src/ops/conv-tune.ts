// The convolution lowerings as a tuned family (tunable.ts): per role (forward, input gradient,
// weight gradient) and size class (conv.ts's convSizeClass), an adapter that has a choice times
// each lowering of conv.ts on the class's representative layer and keeps the fastest, cached per
// adapter and class (tune-cache.ts). Also the measurement the conv benchmark uses.
// A CPU-emulated adapter has no choice: it runs 'direct'. On SwiftShader (Node, 2 shared cores,
// GPU timestamps, `--suite=conv`, batch 16) the gemm lowering took 1.1-3.3x the direct kernels'
// time on every U-Net and DCGAN layer (32 -> 32 at 16 x 16: forward 40 against 23 ms, input
// gradient 47 against 21, weight gradient 86 against 26): the unfolded copy is a pass over
// memory at well under 1 GB/s there. Only the 1-channel input layer's forward and input
// gradient ran faster as gemm (13 against 16 ms, 19 against 23), too small a share of a step to
// pay for timing every class at every cold start.
// Not here: the kernels (conv.ts, conv-gemm.ts), the loop every tuner shares (tunable.ts), the
// cache (tune-cache.ts), or when tuning runs (Engine.tuneForPlan).

import { EngineError } from '../errors.js';
import { timeDispatch, type MeasureOptions, type TimingSource } from '../gpu/profiler.js';
import type { TensorSpec } from '../tensor.js';
import {
  CONV_CHOICES, CONV_LOWERINGS, conv2dBackwardInputDef, conv2dBackwardWeightDef, conv2dDef, convRoleOf, convSizeClass,
  type ConvLowering, type ConvRole, type ConvSizeClass,
} from './conv.js';
import { fixedChoiceEnv, measuredTunable, randomOperand, type Tunable, type TuneResult, type TuneTarget } from './tunable.js';
import type { OpDef, Slot } from './types.js';

/** One convolution layer, as conv2d sees it: x (N, C, H, W), w (O, C, k, k), stride, padding. */
export interface ConvProblem {
  N: number; C: number; H: number; W: number; O: number; k: number; stride: number; padding: number;
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });

/**
 * The op of `role` on layer `g`: its definition, input specs and attributes, and the matmul
 * [M, N, K] of the same arithmetic (M = N Ho Wo pixels, K = C k k):
 *   forward     y (M x O) = x_cols (M x K) w^T (K x O)     -> [M, O, K]
 *   inputGrad   dx_cols (M x K) = dy (M x O) w (O x K)     -> [M, K, O]
 *   weightGrad  dw (O x K) = dy^T (O x M) x_cols (M x K)   -> [O, K, M]
 */
export function convCase(role: ConvRole, g: ConvProblem) {
  const [Ho, Wo] = outSizes(g);
  const [x, w, y] = [f32(g.N, g.C, g.H, g.W), f32(g.O, g.C, g.k, g.k), f32(g.N, g.O, Ho, Wo)];
  const [M, O, K] = [g.N * Ho * Wo, g.O, g.C * g.k * g.k];
  const { stride, padding } = g;
  const gemm = (...mnk: [number, number, number]) => mnk;
  switch (role) {
    case 'forward':
      return { def: conv2dDef as OpDef<object>, inputs: [x, w], attrs: { stride, padding }, gemm: gemm(M, O, K) };
    case 'inputGrad':
      return { def: conv2dBackwardInputDef as OpDef<object>, inputs: [y, w], attrs: { H: g.H, W: g.W, stride, padding }, gemm: gemm(M, K, O) };
    case 'weightGrad':
      return { def: conv2dBackwardWeightDef as OpDef<object>, inputs: [x, y], attrs: { kh: g.k, kw: g.k, stride, padding }, gemm: gemm(O, K, M) };
  }
}

/** The size class of the op of `role` on layer `g`. */
export function convProblemClass(role: ConvRole, g: ConvProblem): ConvSizeClass {
  const [Ho, Wo] = outSizes(g);
  return convSizeClass(role, { ...g, kh: g.k, kw: g.k, Ho, Wo, s: g.stride, p: g.padding });
}

const outSizes = (g: ConvProblem) => [g.H, g.W].map((n) => Math.floor((n + 2 * g.padding - g.k) / g.stride) + 1);

export interface ConvOpMeasurement {
  /** Median ms of the op, its dispatches (the lowering's kernels) each timed in its own loop and added. */
  ms: number;
  dispatches: number;
  timing: TimingSource;
}

/**
 * Times the op of `role` on layer `g` lowered as `lowering`, on random operands. The matmul of
 * the gemm lowering takes its tiling from `tuning` (default: the adapter's default tiling).
 */
export async function measureConv(
  target: TuneTarget,
  lowering: ConvLowering,
  role: ConvRole,
  g: ConvProblem,
  opts: MeasureOptions = {},
  tuning: Readonly<Record<string, string>> = {},
): Promise<ConvOpMeasurement> {
  const { gpu, kernels, pool } = target;
  const { def, inputs, attrs } = convCase(role, g);
  const outputs = def.shape(inputs, attrs);
  const env = fixedChoiceEnv(gpu, CONV_CHOICES.name, lowering);
  const plan = def.kernel(inputs, outputs, attrs, { ...env, tuning: { ...tuning, ...env.tuning } });
  if ('alias' in plan) throw new EngineError(`${def.name}: expected a kernel plan, got an alias.`);
  const bytes = (t: TensorSpec) => t.shape.reduce((a, b) => a * b, 1) * 4;
  const alloc = (n: number, what: string) => ({ buffer: pool.acquire(n, `${def.name} timing ${what}`), size: n });
  const ins = inputs.map((t, i) => alloc(bytes(t), `input ${i}`));
  const outs = outputs.map((t, i) => alloc(bytes(t), `output ${i}`));
  const tmps = (plan.tmp ?? []).map((n, i) => alloc(n, `scratch ${i}`));
  const bound = (s: Slot) => ('in' in s ? ins[s.in] : 'out' in s ? outs[s.out] : tmps[s.tmp]);
  try {
    for (const b of ins) pool.write(b.buffer, randomOperand(b.size / 4));
    let ms = 0;
    let timing: TimingSource = 'wall-clock';
    for (const d of plan.dispatches) {
      const t = await timeDispatch(gpu, kernels, d, d.reads.map(bound), d.writes.map(bound), opts);
      ms += t.ms;
      timing = t.timing;
    }
    return { ms, dispatches: plan.dispatches.length, timing };
  } finally {
    for (const b of [...ins, ...outs, ...tmps]) pool.release(b.buffer);
  }
}

// ---------------------------------------------------------------------------------------------
// The tuner

/**
 * The layer timed for each class, inside it and typical of it: a small layer (4 images, 16 -> 16
 * channels at 8 x 8, 0.6M multiply-adds), where launches and the unfolded copy's extra pass
 * decide; and the U-Net's 32 -> 32 at 16 x 16 for 16 images (38M), throughput bound.
 */
const SMALL: ConvProblem = { N: 4, C: 16, H: 8, W: 8, O: 16, k: 3, stride: 1, padding: 1 };
const LARGE: ConvProblem = { N: 16, C: 32, H: 16, W: 16, O: 32, k: 3, stride: 1, padding: 1 };
export const CONV_CLASS_PROBLEMS: Readonly<Record<ConvSizeClass, ConvProblem>> = {
  'forward.small': SMALL, 'forward.large': LARGE,
  'inputGrad.small': SMALL, 'inputGrad.large': LARGE,
  'weightGrad.small': SMALL, 'weightGrad.large': LARGE,
};

const roleOf = (c: ConvSizeClass) => c.split('.')[0] as ConvRole;

/** Short loops, as the tuner runs inside a compile (a GPU's conv is milliseconds at most). */
const TUNE_LOOPS: MeasureOptions = { reps: 5, targetMs: 20, maxPerRep: 64, maxMs: 300, slowMs: 100 };

export interface ConvTuneResult extends TuneResult<ConvSizeClass, ConvLowering> {
  /** The layer the figures are for. */
  problem: ConvProblem;
  /** Milliseconds of each lowering timed (none on an adapter with one candidate). */
  ms: Partial<Record<ConvLowering, number>>;
}

/** The lowerings timed on an adapter: a CPU-emulated one runs the direct kernels (see the header). */
export const convCandidates = (isSoftware: boolean): readonly ConvLowering[] => (isSoftware ? ['direct'] : CONV_LOWERINGS);

/** The tuned conv family: cached picks under keys 'conv/v1/<adapter>/<role>.<size>'. */
export const convTunable: Tunable<ConvSizeClass, ConvLowering, ConvTuneResult> = measuredTunable({
  choices: CONV_CHOICES,
  version: 1,
  classOf: (node) => {
    const r = convRoleOf(node);
    return r && convSizeClass(r.role, r.geo);
  },
  candidates: convCandidates,
  figures: ['ms'],
  async measure(target, lowering, c) {
    const r = await measureConv(target, lowering, roleOf(c), CONV_CLASS_PROBLEMS[c], TUNE_LOOPS);
    return { figures: { ms: r.ms }, timing: r.timing };
  },
  cost: ({ ms }) => ms,
  describe: (c) => ({ problem: CONV_CLASS_PROBLEMS[c] }),
});
