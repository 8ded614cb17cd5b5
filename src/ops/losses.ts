// Loss functions other than cross-entropy over classes (crossentropy.ts): mean squared error,
// binary cross-entropy with logits and the Kullback-Leibler divergence, each with a reduction.
// BCE and KL have fused pointwise kernels (the stable log-sigmoid form and the 0 log 0 = 0
// convention do not compose cleanly from ops); MSE composes from sub, mul and the reductions.
// Every backward is built from ops, so each loss can be differentiated twice.
//
// klDiv follows PyTorch's kl_div: the first argument holds log-probabilities log q, the second
// the target p (probabilities, or log-probabilities with `logTarget`), and the pointwise term is
// p * (log p - log q), which sums to KL(p || q). Its default reduction is 'batchmean' (the sum
// divided by the size of axis 0), the true KL per sample of (N, C) rows; 'mean' divides by
// every element, as PyTorch's default does.
// Not here: cross-entropy with integer targets and label smoothing (crossentropy.ts).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { lossesShader } from '../../shaders/losses.js';
import { ELEMENTWISE_WG, hostOf, mul, sub } from './binary.js';
import { grid1d } from './grid.js';
import { mean, sum } from './reduce.js';
import { addScalar, exp, log, mulScalar, neg, sigmoidGrad } from './unary.js';
import type { HostTensor, KernelPlan, OpCase, OpDef } from './types.js';

/** 'none': one value per element; 'sum' and 'mean' over every element. */
export type Reduction = 'none' | 'sum' | 'mean';

export interface LossOptions {
  /** How the elementwise losses become the result (default 'mean'). */
  reduction?: Reduction;
}

export interface KlDivOptions {
  /** 'batchmean' divides the sum by the size of axis 0 (default); others as in Reduction. */
  reduction?: Reduction | 'batchmean';
  /** The target holds log-probabilities rather than probabilities (default false). */
  logTarget?: boolean;
}

function reduce(op: string, l: Tensor, reduction: string, allowed: readonly string[]): Tensor {
  if (!allowed.includes(reduction)) {
    throw new ShapeError(`${op}: reduction must be one of '${allowed.join("', '")}', got '${reduction}'.`);
  }
  if (reduction === 'sum') return sum(l);
  if (reduction === 'mean') return mean(l);
  if (reduction === 'batchmean') return mulScalar(sum(l), 1 / (l.shape[0] ?? 1));
  return l;
}

const REDUCTIONS = ['none', 'sum', 'mean'] as const;
const KL_REDUCTIONS = [...REDUCTIONS, 'batchmean'] as const;

/** Both operands f32 with one shape: broadcasting a loss silently is almost always a bug. */
function checkPair(op: string, [a, b]: TensorSpec[], names: [string, string]): TensorSpec[] {
  for (const [t, name] of [[a, names[0]], [b, names[1]]] as const) {
    if (t.dtype !== 'f32') throw new DTypeError(`${op}: ${name} must be f32, got ${t.dtype} ${fmtShape(t.shape)}.`);
  }
  if (fmtShape(a.shape) !== fmtShape(b.shape)) {
    throw new ShapeError(
      `${op}: ${names[0]} ${fmtShape(a.shape)} and ${names[1]} ${fmtShape(b.shape)} must have the same shape; ` +
        `broadcast or reshape one of them first if that is what you mean.`,
    );
  }
  return [{ shape: a.shape, dtype: 'f32' }];
}

function pointwise(entry: string, reads: number, n: number, constants: Record<string, number> = {}): KernelPlan {
  return {
    dispatches: [
      {
        shader: lossesShader,
        entry,
        constants: { WG: ELEMENTWISE_WG, ...constants },
        reads: Array.from({ length: reads }, (_, i) => ({ in: i })),
        writes: [{ out: 0 }],
        params: [n],
        workgroups: grid1d(n, ELEMENTWISE_WG),
      },
    ],
  };
}

function mapHost(shape: readonly number[], n: number, fn: (i: number) => number): HostTensor {
  return { shape, dtype: 'f32', data: Float64Array.from({ length: n }, (_, i) => fn(i)) };
}

type Gen = NonNullable<OpCase<object>['gen']>;
const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const shapes = [[1], [37], [3, 129], [2, 3, 5]];

// ---------------------------------------------------------------------------------------------
// mse

/** Mean squared error (pred - target)^2, reduced as asked (default 'mean'). */
export function mse(pred: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  checkPair('mse', [pred, target], ['pred', 'target']);
  const d = sub(pred, target);
  return reduce('mse', mul(d, d), opts.reduction ?? 'mean', REDUCTIONS);
}

// ---------------------------------------------------------------------------------------------
// bceWithLogits: max(x, 0) - x y + log(1 + exp(-|x|)) = -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))

const sigmoid64 = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

// Logits in [-scale, scale]; targets in [0, 1] (soft labels, so the target gradient is smooth).
const bceGen =
  (scale: number): Gen =>
  (i, spec, rand) =>
    hostOf(spec, () => (i === 0 ? (rand() * 2 - 1) * scale : i === 1 ? rand() : rand() * 2 - 1));

export const bceWithLogitsDef: OpDef<object> = {
  name: 'bceWithLogits',
  shape: (ins) => checkPair('bceWithLogits', ins, ['logits', 'targets']),
  kernel: ([x]) => pointwise('bce_fwd', 2, numel(x.shape)),
  cpu: ([x, y]) => [
    mapHost(x.shape, x.data.length, (i) => {
      const v = x.data[i];
      return Math.max(v, 0) - v * y.data[i] + Math.log1p(Math.exp(-Math.abs(v)));
    }),
  ],
  // d/dx = sigmoid(x) - y (fused); d/dy = -x.
  backward: ({ inputs: [x, y] }, [dl]) => [
    dl && x.requiresGrad ? bceWithLogitsBackward(x, y, dl) : null,
    dl && y.requiresGrad ? neg(mul(x, dl)) : null,
  ],
  cases: [
    ...shapes.map((s) => ({ inputs: [f32(...s), f32(...s)], attrs: {}, gen: bceGen(4) })),
    // |x| up to 60: exp(x) would overflow a naive form, log(1 - sigmoid(x)) would be log 0.
    { name: 'large logits [4,37]', inputs: [f32(4, 37), f32(4, 37)], attrs: {}, gen: bceGen(60) },
  ],
};

export const bceWithLogitsBackwardDef: OpDef<object> = {
  name: 'bceWithLogitsBackward',
  shape: ([x, y, dl]) => {
    checkPair('bceWithLogitsBackward', [x, y], ['logits', 'targets']);
    return checkPair('bceWithLogitsBackward', [x, dl], ['logits', 'dloss']);
  },
  kernel: ([x]) => pointwise('bce_bwd', 3, numel(x.shape)),
  cpu: ([x, y, dl]) => [mapHost(x.shape, x.data.length, (i) => (sigmoid64(x.data[i]) - y.data[i]) * dl.data[i])],
  // z = (sigmoid(x) - y) dl is linear in dl and in y; with gz the gradient reaching z:
  // d/dx = sigmoid'(x) dl gz, d/dy = -dl gz, d/d(dl) = (sigmoid(x) - y) gz.
  backward: ({ inputs: [x, y, dl] }, [gz]) => {
    if (!gz) return [null, null, null];
    const dlgz = mul(dl, gz);
    return [sigmoidGrad(x, dlgz), y.requiresGrad ? neg(dlgz) : null, bceWithLogitsBackward(x, y, gz)];
  },
  cases: [
    ...shapes.map((s) => ({ inputs: [f32(...s), f32(...s), f32(...s)], attrs: {}, gen: bceGen(4) })),
    { name: 'large logits [4,37]', inputs: [f32(4, 37), f32(4, 37), f32(4, 37)], attrs: {}, gen: bceGen(60) },
  ],
};

function bceWithLogitsBackward(x: Tensor, y: Tensor, dl: Tensor): Tensor {
  return apply(bceWithLogitsBackwardDef, [x, y, dl], {})[0];
}

/**
 * Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the logits
 * in the stable form max(x, 0) - x y + log(1 + exp(-|x|)); reduced as asked (default 'mean').
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, opts: LossOptions = {}): Tensor {
  const l = apply(bceWithLogitsDef, [logits, targets], {})[0];
  return reduce('bceWithLogits', l, opts.reduction ?? 'mean', REDUCTIONS);
}

// ---------------------------------------------------------------------------------------------
// klDiv: pointwise p (log p - log q)

export interface KlDivAttrs {
  /** The target holds log-probabilities. */
  logTarget: boolean;
}

const klConstants = ({ logTarget }: KlDivAttrs) => ({ LOG_TARGET: logTarget ? 1 : 0 });

/** p log p with 0 log 0 = 0, and NaN for p < 0 (not a probability). */
const xlogx = (p: number) => (p === 0 ? 0 : p * Math.log(p));

// Inputs by role. 'logq': log-probabilities of a softmax-like distribution (negative).
// 'target': probabilities in (0.05, 1] (away from 0, where d/dp of p log p is unbounded),
// their logs for logTarget, or with `zeros` about a third exact zeros. 'dloss': in [-1, 1].
type KlRole = 'logq' | 'target' | 'dloss';

const klGen =
  (roles: KlRole[], logTarget: boolean, zeros = false): Gen =>
  (i, spec, rand) =>
    hostOf(spec, () => {
      if (roles[i] === 'logq') return -0.1 - 3 * rand();
      if (roles[i] === 'dloss') return rand() * 2 - 1;
      if (zeros && rand() < 0.33) return 0;
      return logTarget ? Math.log(0.05 + 0.95 * rand()) : 0.05 + 0.95 * rand();
    });

function klCases(roles: KlRole[]): OpCase<KlDivAttrs>[] {
  const ins = (...s: number[]) => roles.map(() => f32(...s));
  return [
    ...shapes.map((s) => ({ inputs: ins(...s), attrs: { logTarget: false }, gen: klGen(roles, false) })),
    { name: 'log targets [3,129]', inputs: ins(3, 129), attrs: { logTarget: true }, gen: klGen(roles, true) },
    { name: 'log targets [37]', inputs: ins(37), attrs: { logTarget: true }, gen: klGen(roles, true) },
    {
      name: 'zero targets [7,11]',
      inputs: ins(7, 11),
      attrs: { logTarget: false },
      gen: klGen(roles, false, true),
      // At p = 0 the target gradient log p + 1 - log q is unbounded: check the others only.
      gradInputs: roles.flatMap((r, i) => (r === 'target' && roles.includes('logq') ? [] : [i])),
    },
  ];
}

export const klDivDef: OpDef<KlDivAttrs> = {
  name: 'klDiv',
  shape: (ins) => checkPair('klDiv', ins, ['input (log q)', 'target']),
  kernel: ([x], _outs, attrs) => pointwise('kl_fwd', 2, numel(x.shape), klConstants(attrs)),
  cpu: ([x, t], { logTarget }) => [
    mapHost(x.shape, x.data.length, (i) => {
      const ti = t.data[i];
      return logTarget ? Math.exp(ti) * (ti - x.data[i]) : xlogx(ti) - ti * x.data[i];
    }),
  ],
  // d/d(log q) = -p (fused); d/dp = log p + 1 - log q, or for log targets
  // d/d(log p) = p (log p - log q + 1) with p = exp(log p).
  backward: ({ inputs: [x, t], attrs }, [dl]) => {
    if (!dl) return [null, null];
    const dx = x.requiresGrad ? klDivBackward(t, dl, attrs) : null;
    if (!t.requiresGrad) return [dx, null];
    const logP = attrs.logTarget ? t : log(t);
    const dp = mul(addScalar(sub(logP, x), 1), dl);
    return [dx, attrs.logTarget ? mul(exp(t), dp) : dp];
  },
  cases: klCases(['logq', 'target']),
};

export const klDivBackwardDef: OpDef<KlDivAttrs> = {
  name: 'klDivBackward',
  shape: (ins) => checkPair('klDivBackward', ins, ['target', 'dloss']),
  kernel: ([t], _outs, attrs) => pointwise('kl_bwd', 2, numel(t.shape), klConstants(attrs)),
  cpu: ([t, dl], { logTarget }) => [
    mapHost(t.shape, t.data.length, (i) => -(logTarget ? Math.exp(t.data[i]) : t.data[i]) * dl.data[i]),
  ],
  // z = -p dl: linear in dl; d/dp = -dl, or d/d(log p) = -exp(log p) dl, itself this op.
  backward: ({ inputs: [t, dl], attrs }, [gz]) => {
    if (!gz) return [null, null];
    let dt: Tensor | null = null;
    if (t.requiresGrad) dt = attrs.logTarget ? klDivBackward(t, mul(dl, gz), attrs) : neg(mul(dl, gz));
    return [dt, klDivBackward(t, gz, attrs)];
  },
  cases: klCases(['target', 'dloss']),
};

function klDivBackward(t: Tensor, dl: Tensor, attrs: KlDivAttrs): Tensor {
  return apply(klDivBackwardDef, [t, dl], attrs)[0];
}

/**
 * KL(p || q) from logQ (log-probabilities, for example logSoftmax output) and the target p
 * (probabilities, or log-probabilities with `logTarget`): the pointwise terms
 * p (log p - log q) with 0 log 0 = 0, reduced as asked (default 'batchmean').
 */
export function klDiv(logQ: Tensor, target: Tensor, opts: KlDivOptions = {}): Tensor {
  const l = apply(klDivDef, [logQ, target], { logTarget: opts.logTarget ?? false })[0];
  return reduce('klDiv', l, opts.reduction ?? 'batchmean', KL_REDUCTIONS);
}

export const lossOps = {
  bceWithLogits: bceWithLogitsDef,
  bceWithLogitsBackward: bceWithLogitsBackwardDef,
  klDiv: klDivDef,
  klDivBackward: klDivBackwardDef,
};
