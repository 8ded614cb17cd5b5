// Row softmax over the last axis, numerically stable (the row max is subtracted), and its
// backward as an op of its own: softmaxBackward(y, dy) = y * (dy - sum(dy * y)) per row.
// Not here: masking (callers add large negative values first), log-softmax, or the fused
// softmax + cross-entropy (crossentropy.ts).

import { ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { softmaxShader } from '../../shaders/softmax.js';
import { mul, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { rowCheck, rowDispatch, rowsOf } from './rows.js';
import type { HostTensor, OpCase, OpDef } from './types.js';

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
    return { dispatches: [rowDispatch(rows, cols, env, { shader: softmaxShader, entry: 'softmax', reads: [{ in: 0 }], writes: [{ out: 0 }], params: [rows, cols] })] };
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
    const entry = { shader: softmaxShader, entry: 'softmax_bwd', reads: [{ in: 0 }, { in: 1 }], writes: [{ out: 0 }], params: [rows, cols] };
    return { dispatches: [rowDispatch(rows, cols, env, entry)] };
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
