// Row softmax over the last axis, numerically stable (the row max is subtracted), and its
// backward as an op of its own: softmaxBackward(y, dy) = y * (dy - sum(dy * y)) per row.
// Also the launch geometry shared by every row kernel (layerNorm, crossEntropy): one
// invocation per row on CPU-emulated adapters, one workgroup per row on real GPUs.
// Not here: masking (callers add large negative values first), log-softmax, or the fused
// softmax + cross-entropy (crossentropy.ts).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type DType, type Tensor, type TensorSpec } from '../tensor.js';
import { softmaxShader } from '../../shaders/softmax.js';
import { mul, sub } from './elementwise.js';
import { grid1d } from './grid.js';
import { sum } from './reduce.js';
import type { Dispatch, HostTensor, KernelEnv, OpCase, OpDef } from './types.js';

/**
 * How a row kernel spreads its work. 'thread': one invocation loops over a whole row, no
 * barriers. 'workgroup': one workgroup per row reduces in workgroup memory (coalesced reads;
 * the right shape for a GPU). On SwiftShader (2 cores) 'thread' measured 30-90x faster:
 * softmax (1024, 64) 4.4 ms vs 168 ms, layerNormBackward (512, 128) 5.6 ms vs 486 ms,
 * crossEntropy (256, 2048) 18 ms vs 307 ms. `tuning.rows` overrides the default, which follows
 * the adapter kind.
 */
export type RowLayout = 'thread' | 'workgroup';

export function rowLayout(env: KernelEnv): RowLayout {
  const t = env.tuning.rows;
  if (t === 'thread' || t === 'workgroup') return t;
  return env.isSoftware ? 'thread' : 'workgroup';
}

/** Invocations per workgroup in the 'thread' layout (rows per workgroup). */
const ROWS_WG = 64;

/** Threads per row in the 'workgroup' layout: a power of two, about one per element, 32..256. */
export function rowThreads(cols: number, limits: GPUSupportedLimits): number {
  const cap = Math.min(256, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  let t = 32;
  while (t < cols && t * 2 <= cap) t *= 2;
  return t;
}

/**
 * Entry point suffix, WG override and workgroup count for `rows` rows of `cols` elements.
 * Entry points come in pairs `<name>_rows` / `<name>_wg` with the same bindings.
 */
export function rowLaunch(
  rows: number,
  cols: number,
  env: KernelEnv,
): Pick<Dispatch, 'constants' | 'workgroups'> & { suffix: string } {
  const maxPerDim = env.limits.maxComputeWorkgroupsPerDimension;
  if (rowLayout(env) === 'thread') {
    return { suffix: '_rows', constants: { WG: ROWS_WG }, workgroups: grid1d(rows, ROWS_WG, maxPerDim) };
  }
  return { suffix: '_wg', constants: { WG: rowThreads(cols, env.limits) }, workgroups: grid1d(rows, 1, maxPerDim) };
}

/** Splits a shape into (rows, cols) over its last axis. */
export function rowsOf(shape: readonly number[]): { rows: number; cols: number } {
  const cols = shape[shape.length - 1];
  return { rows: numel(shape) / cols, cols };
}

/** Shape-rule check shared by the row ops: dtype, and (when `rowWise`) at least one axis. */
export function rowCheck(op: string, what: string, t: TensorSpec, dtype: DType, rowWise = false): void {
  if (t.dtype !== dtype) {
    throw new DTypeError(`${op}: ${what} must be ${dtype}, got ${t.dtype} ${fmtShape(t.shape)}.`);
  }
  if (rowWise && t.shape.length === 0) {
    throw new ShapeError(`${op}: ${what} is a scalar; it needs a last axis to work over (reshape it to [1]).`);
  }
}

// ---------------------------------------------------------------------------------------------
// softmax

function softmaxCpu([x]: HostTensor[]): HostTensor[] {
  const { rows, cols } = rowsOf(x.shape);
  const xs = x.data as Float64Array;
  const y = new Float64Array(xs.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, xs[o + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(xs[o + j] - m);
    for (let j = 0; j < cols; j++) y[o + j] = Math.exp(xs[o + j] - m) / s;
  }
  return [{ shape: x.shape, dtype: 'f32', data: y }];
}

/** Uniform floats in [-scale, scale]: large scales check that the row max is subtracted. */
const spread = (scale: number) => (_i: number, spec: TensorSpec, rand: () => number): HostTensor => ({
  ...spec,
  data: Float64Array.from({ length: numel(spec.shape) }, () => (rand() * 2 - 1) * scale),
});

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });

const softmaxCases: OpCase<object>[] = [
  { inputs: [f32(1, 1)], attrs: {} },
  { inputs: [f32(37)], attrs: {} },
  { inputs: [f32(3, 129)], attrs: {} },
  { inputs: [f32(2, 3, 5)], attrs: {} },
  // More rows than one workgroup of the 'thread' layout, and not a multiple of it.
  { inputs: [f32(67, 3)], attrs: {} },
  // Logits near +-60: exp would overflow f32 without the max subtracted.
  { name: 'large logits [4,37]', inputs: [f32(4, 37)], attrs: {}, gen: spread(60) },
];

export const softmaxDef: OpDef<object> = {
  name: 'softmax',
  shape: ([x]) => {
    rowCheck('softmax', 'x', x, 'f32', true);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  kernel: ([x], _outs, _attrs, env) => {
    const { rows, cols } = rowsOf(x.shape);
    const { suffix, ...launch } = rowLaunch(rows, cols, env);
    return {
      dispatches: [
        { shader: softmaxShader, entry: `softmax${suffix}`, reads: [{ in: 0 }], writes: [{ out: 0 }], params: [rows, cols], ...launch },
      ],
    };
  },
  cpu: softmaxCpu,
  backward: ({ outputs: [y] }, [dy]) => [softmaxBackward(y, dy!)],
  cases: softmaxCases,
};

/** Softmax over the last axis: exp(x - max) / sum(exp(x - max)) per row. */
export function softmax(x: Tensor): Tensor {
  return apply(softmaxDef, [x], {})[0];
}

// ---------------------------------------------------------------------------------------------
// softmaxBackward

function softmaxBackwardCpu([y, dy]: HostTensor[]): HostTensor[] {
  const { rows, cols } = rowsOf(y.shape);
  const ys = y.data as Float64Array;
  const ds = dy.data as Float64Array;
  const dx = new Float64Array(ys.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += ds[o + j] * ys[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = ys[o + j] * (ds[o + j] - s);
  }
  return [{ shape: y.shape, dtype: 'f32', data: dx }];
}

export const softmaxBackwardDef: OpDef<object> = {
  name: 'softmaxBackward',
  shape: ([y, dy]) => {
    rowCheck('softmaxBackward', 'y', y, 'f32', true);
    rowCheck('softmaxBackward', 'dy', dy, 'f32');
    if (fmtShape(y.shape) !== fmtShape(dy.shape)) {
      throw new ShapeError(
        `softmaxBackward: y ${fmtShape(y.shape)} and dy ${fmtShape(dy.shape)} must have the same shape.`,
      );
    }
    return [{ shape: y.shape, dtype: 'f32' }];
  },
  kernel: ([y], _outs, _attrs, env) => {
    const { rows, cols } = rowsOf(y.shape);
    const { suffix, ...launch } = rowLaunch(rows, cols, env);
    return {
      dispatches: [
        {
          shader: softmaxShader,
          entry: `softmax_bwd${suffix}`,
          reads: [{ in: 0 }, { in: 1 }],
          writes: [{ out: 0 }],
          params: [rows, cols],
          ...launch,
        },
      ],
    };
  },
  cpu: softmaxBackwardCpu,
  // With z = y * (dy - s), s = sum(dy * y) per row, and dz the gradient reaching z:
  // d/d(dy) = softmaxBackward(y, dz), as z is linear in dy; d/dy = dz * (dy - s) - dy * sum(dz * y),
  // built from ordinary ops so that it can be differentiated again.
  backward: ({ inputs: [y, dy] }, [dz]) => {
    const rowSum = (t: Tensor) => sum(t, -1, true); // (R, 1)
    const gy = y.requiresGrad ? sub(mul(dz!, sub(dy, rowSum(mul(dy, y)))), mul(dy, rowSum(mul(dz!, y)))) : null;
    return [gy, softmaxBackward(y, dz!)];
  },
  cases: [
    { inputs: [f32(1, 1), f32(1, 1)], attrs: {} },
    { inputs: [f32(3, 37), f32(3, 37)], attrs: {} },
    { inputs: [f32(67, 5), f32(67, 5)], attrs: {} },
    { inputs: [f32(2, 129), f32(2, 129)], attrs: {} },
  ],
};

/** The softmax vector-Jacobian product: y * (dy - sum(dy * y)) per row of the last axis. */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  return apply(softmaxBackwardDef, [y, dy], {})[0];
}

export const softmaxOps = { softmax: softmaxDef, softmaxBackward: softmaxBackwardDef };
