// Layer normalisation over the last axis, y = (x - mean) / sqrt(var + eps) * gain + bias, with
// the per-row mean and reciprocal standard deviation (rstd) as extra outputs that the backward
// reuses; and layerNormBackward, one op computing dx, dgain and dbias. Gain and bias gradients
// are column sums over rows done in two deterministic passes (no float atomics), so a training
// run gives bit-identical results when replayed. In mixed precision y may be stored f16 (it is
// the next matmul's operand), rounded once from the f32 result; x, the statistics and every
// gradient stay f32, and the backward does not read y.
// Not here: the float64 references and checks it shares with groupNorm (norm.ts), RMSNorm,
// normalisation over other axes, or the nn.LayerNorm module (src/nn).

import { EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, type Tensor, type TensorSpec } from '../tensor.js';
import { layerNormShader } from '../../shaders/layernorm.js';
import { roundToHalf } from '../half.js';
import { grid1d } from './grid.js';
import { checkAffine, checkBackwardInputs, checkEps, normBackwardGen, normBackwardRule, normalizeBackwardCpu, normalizeCpu, type NormBackwardInputs } from './norm.js';
import { rowCheck, rowDispatch, rowsOf } from './rows.js';
import { f32 as word, type HostTensor, type KernelEnv, type KernelPlan, type OpCase, type OpDef } from './types.js';

export interface LayerNormAttrs {
  /** Added to the variance before the square root. */
  eps: number;
  /** Store y as f16 (C even); the statistics stay f32. */
  halfOut?: boolean;
}

export interface LayerNormOptions {
  /** Mixed precision: store y as f16, rounded from the f32 result (the last axis must be even). */
  f16Output?: boolean;
}

/** Rows summed per invocation in the first column pass (gain/bias gradients). */
const CHUNK = 64;
/** Invocations per workgroup of the column passes. */
const COLS_WG = 64;

/** Checks gain and bias (when given) against x's last axis; returns C. */
function checkLayerAffine(op: string, x: TensorSpec, gain: TensorSpec, bias: TensorSpec | null): number {
  const C = x.shape[x.shape.length - 1];
  checkAffine(op, x, C, 'the last axis', gain, bias);
  return C;
}

// ---------------------------------------------------------------------------------------------
// layerNorm

function layerNormCpu(ins: HostTensor[], { eps, halfOut }: LayerNormAttrs): HostTensor[] {
  const { shape } = ins[0];
  const { rows, cols } = rowsOf(shape);
  const { y, mean, rstd } = normalizeCpu(ins, rows, cols, eps, (_r, j) => j);
  return [
    halfOut ? { shape, dtype: 'f16', data: y.map(roundToHalf) } : { shape, dtype: 'f32', data: y },
    { shape: [rows], dtype: 'f32', data: mean },
    { shape: [rows], dtype: 'f32', data: rstd },
  ];
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const lnInputs = (...shape: number[]) => [f32(...shape), f32(shape[shape.length - 1]), f32(shape[shape.length - 1])];

const layerNormCases: OpCase<LayerNormAttrs>[] = [
  // One column: variance 0, so y = bias and rstd = 1 / sqrt(eps).
  { inputs: lnInputs(3, 1), attrs: { eps: 1e-5 } },
  { inputs: lnInputs(37), attrs: { eps: 1e-5 } },
  { inputs: lnInputs(2, 3, 5), attrs: { eps: 1e-5 } },
  { inputs: lnInputs(4, 129), attrs: { eps: 1e-5 } },
  // More rows than one column-pass chunk (64), and not a multiple of it or of a workgroup.
  { inputs: lnInputs(131, 7), attrs: { eps: 1e-3 } },
  // Columns in fours: the vec4 module (f16 y below takes it too at 8 columns, not at 130).
  { inputs: lnInputs(70, 12), attrs: { eps: 1e-5 } },
  // f16 y: the GPU and the reference round their own sums, so they may differ by one f16 step.
  // Finite differences of a rounded output mean nothing; test/mixed-precision.test.ts checks
  // these gradients against an f32 y's.
  { name: 'f16 y', inputs: lnInputs(5, 8), attrs: { eps: 1e-5, halfOut: true }, tol: 1e-3, gradInputs: [] },
  { name: 'f16 y, wide rows', inputs: lnInputs(3, 130), attrs: { eps: 1e-5, halfOut: true }, tol: 1e-3, gradInputs: [] },
];

export const layerNormDef: OpDef<LayerNormAttrs> = {
  name: 'layerNorm',
  shape: ([x, gain, bias], { eps, halfOut }) => {
    rowCheck('layerNorm', 'x', x, 'f32', true);
    checkEps('layerNorm', eps);
    const C = checkLayerAffine('layerNorm', x, gain, bias);
    if (halfOut && C % 2 !== 0) {
      throw new ShapeError(`layerNorm: an f16 output needs an even last axis; x is ${fmtShape(x.shape)}. Leave it f32 and cast it.`);
    }
    const { rows } = rowsOf(x.shape);
    return [
      { shape: x.shape, dtype: halfOut ? 'f16' : 'f32' },
      { shape: [rows], dtype: 'f32' },
      { shape: [rows], dtype: 'f32' },
    ];
  },
  kernel: ([x], _outs, { eps, halfOut }, env) => {
    const { rows, cols } = rowsOf(x.shape);
    const c = cols / lanesOf(cols);
    const reads = [{ in: 0 }, { in: 1 }, { in: 2 }], writes = [{ out: 0 }, { out: 1 }, { out: 2 }];
    const shader = layerNormShader(halfOut, lanesOf(cols) === 4);
    return { dispatches: [rowDispatch(rows, c, env, { shader, entry: 'ln_fwd', reads, writes, params: [rows, c, word(eps)] })] };
  },
  cpu: layerNormCpu,
  backward: normBackwardRule(layerNormBackward),
  cases: layerNormCases,
};

/** Layer normalisation over the last axis of x (..., C) with gain and bias (C). */
export function layerNorm(x: Tensor, gain: Tensor, bias: Tensor, eps = 1e-5, opts: LayerNormOptions = {}): Tensor {
  return apply(layerNormDef, [x, gain, bias], { eps, halfOut: !!opts.f16Output })[0];
}

/** layerNorm and its saved statistics: [y (..., C), mean (R), rstd (R)] with R rows. */
export function layerNormWithStats(x: Tensor, gain: Tensor, bias: Tensor, eps = 1e-5): Tensor[] {
  return apply(layerNormDef, [x, gain, bias], { eps });
}

// ---------------------------------------------------------------------------------------------
// layerNormBackward

/** Columns per element of the kernels' arrays along C: 4 (vec4s) where C comes in fours. */
const lanesOf = (cols: number) => (cols % 4 === 0 ? 4 : 1);

function layerNormBackwardCpu(ins: HostTensor[]): HostTensor[] {
  const { rows, cols } = rowsOf(ins[0].shape);
  return normalizeBackwardCpu(ins, rows, cols, cols, (_r, j) => j);
}

function layerNormBackwardKernel(ins: TensorSpec[], env: KernelEnv): KernelPlan {
  const { rows, cols } = rowsOf(ins[0].shape);
  const stats = ins.length === 7;
  const chunks = Math.ceil(rows / CHUNK);
  const maxPerDim = env.limits.maxComputeWorkgroupsPerDimension;
  const c = cols / lanesOf(cols);
  const shader = layerNormShader(false, lanesOf(cols) === 4);
  return {
    tmp: [chunks * 2 * cols * 4],
    dispatches: [
      rowDispatch(rows, c, env, {
        shader,
        entry: stats ? 'ln_dx_stats' : 'ln_dx',
        reads: ins.map((_, i) => ({ in: i })),
        writes: [{ out: 0 }],
        params: [rows, c, word(0)],
      }),
      {
        shader,
        entry: 'ln_cols_partial',
        constants: { WG: COLS_WG, CHUNK },
        reads: [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 4 }],
        writes: [{ tmp: 0 }],
        params: [rows, c, chunks],
        workgroups: grid1d(chunks * c, COLS_WG, maxPerDim),
      },
      {
        shader,
        entry: 'ln_cols_final',
        constants: { WG: COLS_WG },
        reads: [{ tmp: 0 }],
        writes: [{ out: 1 }, { out: 2 }],
        params: [rows, c, chunks],
        workgroups: grid1d(c, COLS_WG, maxPerDim),
      },
    ],
  };
}

export const layerNormBackwardDef: OpDef<object> = {
  name: 'layerNormBackward',
  shape: (ins) => {
    const [x, , , gain] = ins;
    const C = checkBackwardInputs('layerNormBackward', ins, () => {
      rowCheck('layerNormBackward', 'x', x, 'f32', true);
      return { C: checkLayerAffine('layerNormBackward', x, gain, null), stat: [rowsOf(x.shape).rows] };
    });
    return [
      { shape: x.shape, dtype: 'f32' },
      { shape: [C], dtype: 'f32' },
      { shape: [C], dtype: 'f32' },
    ];
  },
  kernel: (ins, _outs, _attrs, env) => layerNormBackwardKernel(ins, env),
  cpu: layerNormBackwardCpu,
  // Second derivatives of layer norm are not implemented; first-order training does not need them.
  backward: () => {
    throw new EngineError(
      'layerNormBackward: second derivatives of layerNorm are not implemented. Differentiate ' +
        'layerNorm once, or detach() what feeds it before taking a gradient of a gradient.',
    );
  },
  cases: [
    // The gradient check goes through layerNorm's own cases; these check the kernels directly.
    { inputs: [f32(3, 1), f32(3), f32(3), f32(1), f32(3, 1)], attrs: {}, gen: normBackwardGen, gradInputs: [] },
    { inputs: [f32(5, 37), f32(5), f32(5), f32(37), f32(5, 37)], attrs: {}, gen: normBackwardGen, gradInputs: [] },
    {
      inputs: [f32(131, 7), f32(131), f32(131), f32(7), f32(131, 7), f32(131), f32(131)],
      attrs: {},
      gen: normBackwardGen,
      gradInputs: [],
    },
    // Columns in fours (the vec4 module), without and with the statistics' gradients.
    { inputs: [f32(67, 8), f32(67), f32(67), f32(8), f32(67, 8)], attrs: {}, gen: normBackwardGen, gradInputs: [] },
    {
      inputs: [f32(5, 12), f32(5), f32(5), f32(12), f32(5, 12), f32(5), f32(5)],
      attrs: {},
      gen: normBackwardGen,
      gradInputs: [],
    },
  ],
};

/**
 * [dx, dgain, dbias] of layerNorm from its input, saved statistics, gain and output gradient;
 * dmean and drstd (both or neither) add the gradients that reached the saved statistics.
 */
export function layerNormBackward(...ins: NormBackwardInputs): Tensor[] {
  return apply(layerNormBackwardDef, ins, {});
}

export const layerNormOps = { layerNorm: layerNormDef, layerNormBackward: layerNormBackwardDef };
