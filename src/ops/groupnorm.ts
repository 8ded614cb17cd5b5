// Group normalisation of NCHW tensors (Wu & He, 2018): the channels of each sample split into
// G groups, each normalised over its (C / G) * H * W elements, then a per-channel gain and bias:
// y = (x - mean) / sqrt(var + eps) * gain[c] + bias[c]. The per-(sample, group) mean and
// reciprocal standard deviation (rstd) are extra outputs that the backward reuses, as in
// layerNorm. groupNormBackward is one op computing dx, dgain and dbias (deterministic: partial
// sums per (sample, channel), then a sum over samples in order; no float atomics); its own
// backward is built from ordinary ops, so groupNorm can be differentiated twice (a gradient
// penalty through a normalised critic needs that).
// Any rank >= 2 works: channels at axis 1, everything after it is spatial ((N, C) has S = 1).
// Not here: the float64 references and checks it shares with layerNorm (norm.ts), the
// nn.GroupNorm module (src/nn), instance norm (groups = C) or layer norm over
// (C, H, W) (groups = 1) as separate ops: both are this op with those groups.

import { ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { groupNormShader } from '../../shaders/groupnorm.js';
import { add, mul, sub } from './binary.js';
import { sum } from './reduce.js';
import { grid1d } from './grid.js';
import { checkAffine, checkBackwardInputs, checkEps, normBackwardGen, normBackwardRule, normalizeBackwardCpu, normalizeCpu, type NormBackwardInputs } from './norm.js';
import { rowCheck, rowDispatch } from './rows.js';
import { reshape } from './shape.js';
import { mulScalar, neg, zerosLike } from './unary.js';
import { f32 as word, type HostTensor, type KernelEnv, type KernelPlan, type OpCase, type OpDef } from './types.js';

export interface GroupNormAttrs {
  /** Number of channel groups; must divide C. */
  groups: number;
  /** Added to the variance before the square root. */
  eps: number;
}

/** Invocations per workgroup of the 1D backward kernels (per (n, c), per c). */
const WG = 64;

/** N, C, S (spatial elements per channel), G, C / G and the group size M of x. */
interface Dims {
  N: number;
  C: number;
  S: number;
  G: number;
  cg: number;
  M: number;
}

function dimsOf(shape: readonly number[], G: number): Dims {
  const [N, C] = shape;
  const S = numel(shape.slice(2));
  return { N, C, S, G, cg: C / G, M: (C / G) * S };
}

function divisors(C: number): number[] {
  return Array.from({ length: C }, (_, i) => i + 1).filter((d) => C % d === 0);
}

/** Checks x (N, C, ...) and gain (and bias) (C) against `groups`; returns the dims. */
function checkGroups(op: string, x: TensorSpec, groups: number, gain: TensorSpec, bias: TensorSpec | null): Dims {
  rowCheck(op, 'x', x, 'f32');
  if (x.shape.length < 2) {
    throw new ShapeError(
      `${op}: x ${fmtShape(x.shape)} needs at least 2 dims (N, C, ...) with channels at axis 1; ` +
        `reshape a single sample to [1, C, ...].`,
    );
  }
  const C = x.shape[1];
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0) {
    throw new ShapeError(
      `${op}: the ${C} channels of x ${fmtShape(x.shape)} do not split into ${groups} equal groups; ` +
        `groups must divide C (one of ${divisors(C).join(', ')}).`,
    );
  }
  checkAffine(op, x, C, 'the channels (axis 1)', gain, bias);
  return dimsOf(x.shape, groups);
}

/** Values per element of the kernels' (N, C, S) tensors: 4 (vec4s) where S comes in fours. */
const lanesOf = (d: Dims) => (d.S % 4 === 0 ? 4 : 1);

/** The module for d's tensors (vec4 elements where S comes in fours). */
const shaderFor = (d: Dims) => groupNormShader(lanesOf(d) === 4);

/** Uniform words of shaders/groupnorm.ts `Groups`, sizes in the module's elements. */
const groupParams = (d: Dims, eps: number) => [d.N * d.G, d.M / lanesOf(d), d.S / lanesOf(d), d.cg, d.G, word(eps)];

// ---------------------------------------------------------------------------------------------
// groupNorm

/** The channel of element j of (sample, group) row r. */
const channelOf = ({ G, S, cg }: Dims) => (r: number, j: number) => (r % G) * cg + Math.floor(j / S);

function groupNormCpu(ins: HostTensor[], { groups, eps }: GroupNormAttrs): HostTensor[] {
  const { shape } = ins[0];
  const d = dimsOf(shape, groups);
  const { y, mean, rstd } = normalizeCpu(ins, d.N * d.G, d.M, eps, channelOf(d));
  return [
    { shape, dtype: 'f32', data: y },
    { shape: [d.N, d.G], dtype: 'f32', data: mean },
    { shape: [d.N, d.G], dtype: 'f32', data: rstd },
  ];
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const gnInputs = (...shape: number[]) => [f32(...shape), f32(shape[1]), f32(shape[1])];

const groupNormCases: OpCase<GroupNormAttrs>[] = [
  // One element per group: variance 0, so y = bias and rstd = 1 / sqrt(eps).
  { inputs: gnInputs(2, 3, 1, 1), attrs: { groups: 3, eps: 1e-5 } },
  { inputs: gnInputs(1, 1, 5, 5), attrs: { groups: 1, eps: 1e-5 } },
  { inputs: gnInputs(2, 6, 3, 3), attrs: { groups: 2, eps: 1e-5 } },
  { inputs: gnInputs(2, 6, 5, 3), attrs: { groups: 3, eps: 1e-3 } },
  // groups = C: instance norm.
  { inputs: gnInputs(1, 6, 8, 8), attrs: { groups: 6, eps: 1e-5 } },
  // S in fours: the vec4 module, with channels per group and more than one step per channel.
  { inputs: gnInputs(2, 6, 4, 3), attrs: { groups: 2, eps: 1e-5 } },
  // Rank 2 (S = 1) and rank 3.
  { inputs: gnInputs(5, 6), attrs: { groups: 2, eps: 1e-3 } },
  { inputs: gnInputs(2, 4, 7), attrs: { groups: 2, eps: 1e-5 } },
  // Only y seeded: the backward without gradients at the saved statistics.
  { name: 'y only [2,6,3,3]', inputs: gnInputs(2, 6, 3, 3), attrs: { groups: 3, eps: 1e-5 }, gradOutputs: [0] },
  // More groups than one 'thread'-layout workgroup (64), and not a multiple of it.
  { inputs: gnInputs(67, 2, 1, 2), attrs: { groups: 1, eps: 1e-3 }, gradInputs: [] },
];

export const groupNormDef: OpDef<GroupNormAttrs> = {
  name: 'groupNorm',
  shape: ([x, gain, bias], { groups, eps }) => {
    checkEps('groupNorm', eps);
    const { N, G } = checkGroups('groupNorm', x, groups, gain, bias);
    return [
      { shape: x.shape, dtype: 'f32' },
      { shape: [N, G], dtype: 'f32' },
      { shape: [N, G], dtype: 'f32' },
    ];
  },
  kernel: ([x], _outs, { groups, eps }, env) => {
    const d = dimsOf(x.shape, groups);
    const reads = [{ in: 0 }, { in: 1 }, { in: 2 }], writes = [{ out: 0 }, { out: 1 }, { out: 2 }];
    const params = groupParams(d, eps);
    return { dispatches: [rowDispatch(d.N * d.G, d.M / lanesOf(d), env, { shader: shaderFor(d), entry: 'gn_fwd', reads, writes, params })] };
  },
  cpu: groupNormCpu,
  backward: normBackwardRule(groupNormBackward),
  cases: groupNormCases,
};

/** Group normalisation of x (N, C, ...) in `groups` channel groups, with gain and bias (C). */
export function groupNorm(x: Tensor, gain: Tensor, bias: Tensor, groups: number, eps = 1e-5): Tensor {
  return apply(groupNormDef, [x, gain, bias], { groups, eps })[0];
}

/** groupNorm and its saved statistics: [y (N, C, ...), mean (N, G), rstd (N, G)]. */
export function groupNormWithStats(x: Tensor, gain: Tensor, bias: Tensor, groups: number, eps = 1e-5): Tensor[] {
  return apply(groupNormDef, [x, gain, bias], { groups, eps });
}

// ---------------------------------------------------------------------------------------------
// groupNormBackward: inputs (x, mean, rstd, gain, dy[, dmean, drstd]); G is mean's last axis.

function groupNormBackwardCpu(ins: HostTensor[]): HostTensor[] {
  const d = dimsOf(ins[0].shape, ins[1].shape[1]);
  return normalizeBackwardCpu(ins, d.N * d.G, d.M, d.C, channelOf(d));
}

function groupNormBackwardKernel(ins: TensorSpec[], env: KernelEnv): KernelPlan {
  const d = dimsOf(ins[0].shape, ins[1].shape[1]);
  const stats = ins.length === 7;
  const maxPerDim = env.limits.maxComputeWorkgroupsPerDimension;
  return {
    tmp: [d.N * 2 * d.C * 4],
    dispatches: [
      {
        shader: shaderFor(d),
        entry: 'gn_sums',
        constants: { WG },
        reads: [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 4 }],
        writes: [{ tmp: 0 }],
        params: [d.N, d.C, d.S / lanesOf(d), d.cg, d.G],
        workgroups: grid1d(d.N * d.C, WG, maxPerDim),
      },
      rowDispatch(d.N * d.G, d.M / lanesOf(d), env, {
        shader: shaderFor(d),
        entry: stats ? 'gn_dx_stats' : 'gn_dx',
        reads: [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 3 }, { in: 4 }, { tmp: 0 }, ...(stats ? [{ in: 5 }, { in: 6 }] : [])],
        writes: [{ out: 0 }],
        params: groupParams(d, 0),
      }),
      {
        shader: shaderFor(d),
        entry: 'gn_cols_final',
        constants: { WG },
        reads: [{ tmp: 0 }],
        writes: [{ out: 1 }, { out: 2 }],
        params: [d.N, d.C],
        workgroups: grid1d(d.C, WG, maxPerDim),
      },
    ],
  };
}

export const groupNormBackwardDef: OpDef<object> = {
  name: 'groupNormBackward',
  shape: (ins) => {
    const [x, mean, , gain] = ins;
    const op = 'groupNormBackward';
    const C = checkBackwardInputs(op, ins, () => {
      if (mean.shape.length !== 2 || mean.shape[0] !== x.shape[0]) {
        throw new ShapeError(`${op}: mean ${fmtShape(mean.shape)} must be [N, groups] with N = ${x.shape[0]} for x ${fmtShape(x.shape)}.`);
      }
      const { N, G, C } = checkGroups(op, x, mean.shape[1], gain, null);
      return { C, stat: [N, G] };
    });
    return [f32(...x.shape), f32(C), f32(C)];
  },
  kernel: (ins, _outs, _attrs, env) => groupNormBackwardKernel(ins, env),
  cpu: groupNormBackwardCpu,
  backward: groupNormBackwardBackward,
  cases: [
    // Every input's gradient is checked: this is the check of the second derivative.
    { inputs: [f32(2, 3, 1, 1), f32(2, 3), f32(2, 3), f32(3), f32(2, 3, 1, 1)], attrs: {}, gen: normBackwardGen },
    { inputs: [f32(2, 6, 3, 3), f32(2, 2), f32(2, 2), f32(6), f32(2, 6, 3, 3)], attrs: {}, gen: normBackwardGen },
    {
      inputs: [f32(1, 6, 5, 5), f32(1, 3), f32(1, 3), f32(6), f32(1, 6, 5, 5), f32(1, 3), f32(1, 3)],
      attrs: {},
      gen: normBackwardGen,
    },
    {
      inputs: [f32(3, 4), f32(3, 2), f32(3, 2), f32(4), f32(3, 4), f32(3, 2), f32(3, 2)],
      attrs: {},
      gen: normBackwardGen,
    },
    // S in fours (the vec4 module), without and with gradients at the saved statistics.
    { inputs: [f32(2, 6, 4, 3), f32(2, 2), f32(2, 2), f32(6), f32(2, 6, 4, 3)], attrs: {}, gen: normBackwardGen },
    {
      inputs: [f32(1, 4, 2, 4), f32(1, 2), f32(1, 2), f32(4), f32(1, 4, 2, 4), f32(1, 2), f32(1, 2)],
      attrs: {},
      gen: normBackwardGen,
    },
    // Kernels only: more samples than a workgroup of the 1D passes.
    { inputs: [f32(67, 2, 3), f32(67, 1), f32(67, 1), f32(2), f32(67, 2, 3)], attrs: {}, gen: normBackwardGen, gradInputs: [] },
  ],
};

/**
 * The vector-Jacobian product of groupNormBackward, from ordinary ops on the view
 * (N, G, C/G, S). Write P = ddx, xh = (x - mean) * rstd, u = gain * dy, and per group
 * mean_g(.) over its M elements. sum(P * dx) = rstd * sum(u * W) + dmean * mean_g(P)
 * - drstd * rstd^2 * Pxh, with Pxh = mean_g(P * xh) and W = P - mean_g(P) - xh * Pxh; add
 * sum(ddgain * dy * xh) + sum(ddbias * dy) and differentiate. The gradient at xh (x and mean
 * reach the result only through it) is
 *   Gxh = -rstd * (mean_g(u * xh) * P + Pxh * u) - drstd * rstd^2 * P / M + ddgain * dy,
 * and rstd also appears explicitly.
 */
function groupNormBackwardBackward(
  { inputs }: { inputs: Tensor[] },
  [ddx, ddgain, ddbias]: (Tensor | null)[],
): (Tensor | null)[] {
  const [x, mean, rstd, gain, dy, dmean, drstd] = inputs;
  const { N, C, G, S, cg, M } = dimsOf(x.shape, mean.shape[1]);
  const view = [N, G, cg, S];
  const stat = (t: Tensor) => reshape(t, [N, G, 1, 1]);
  const chan = (t: Tensor) => reshape(t, [1, G, cg, 1]);
  const gsum = (t: Tensor) => sum(t, [2, 3], true); // (N, G, 1, 1)
  const gmean = (t: Tensor) => mulScalar(gsum(t), 1 / M);

  const xc = sub(reshape(x, view), stat(mean)); // (N, G, cg, S)
  const rs = stat(rstd);
  const xh = mul(xc, rs);
  const d = reshape(dy, view);
  const u = mul(chan(gain), d);
  const P = ddx ? reshape(ddx, view) : zerosLike(xh);
  const Pbar = gmean(P);
  const Pxh = gmean(mul(P, xh));
  const W = sub(sub(P, Pbar), mul(xh, Pxh));

  let Gxh = neg(mul(rs, add(mul(gmean(mul(u, xh)), P), mul(Pxh, u))));
  if (ddgain) Gxh = add(Gxh, mul(chan(ddgain), d));
  const dr = drstd ? stat(drstd) : null;
  if (dr) Gxh = sub(Gxh, mulScalar(mul(mul(dr, mul(rs, rs)), P), 1 / M));
  // rstd through xh = xc * rstd, and explicitly: the factor rstd of sum(u * W), and rstd^2.
  let grs = add(gsum(mul(u, W)), gsum(mul(Gxh, xc)));
  if (dr) grs = sub(grs, mulScalar(mul(mul(dr, rs), Pxh), 2));
  const gx = mul(rs, Gxh);
  const gmu = neg(mul(rs, gsum(Gxh)));
  const dW = mul(rs, W);
  let gdy = mul(chan(gain), dW);
  if (ddgain) gdy = add(gdy, mul(chan(ddgain), xh));
  if (ddbias) gdy = add(gdy, chan(ddbias));
  const ggain = reshape(sum(mul(dW, d), [0, 3]), [C]);
  const grads: (Tensor | null)[] = [
    reshape(gx, x.shape),
    reshape(gmu, [N, G]),
    reshape(grs, [N, G]),
    ggain,
    reshape(gdy, dy.shape),
  ];
  if (dmean) grads.push(reshape(Pbar, [N, G]), reshape(neg(mul(mul(rs, rs), Pxh)), [N, G]));
  return grads;
}

/**
 * [dx, dgain, dbias] of groupNorm from its input, saved statistics (N, G), gain and output
 * gradient; dmean and drstd (both or neither) add the gradients that reached the statistics.
 */
export function groupNormBackward(...ins: NormBackwardInputs): Tensor[] {
  return apply(groupNormBackwardDef, ins, {});
}

export const groupNormOps = { groupNorm: groupNormDef, groupNormBackward: groupNormBackwardDef };
