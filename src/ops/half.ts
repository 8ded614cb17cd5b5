// Conversions between f32 and f16, the storage format of mixed precision: matmul operands
// rounded to f16 (half the bytes to keep for the backward pass and to read), summed in f32.
// Reached through cast(x, 'f16') and cast(x, 'f32') (unary.ts).
//
// Backward: the gradient passes straight through, in f32. The engine keeps gradients in f32
// everywhere, those of f16 tensors included: f16 is where values are stored, not where
// gradients are summed. The rounding of gradients that makes loss scaling necessary happens
// where a matmul's backward rounds its output gradient to f16 to multiply it (matmul.ts).
// Not here: WGSL (shaders/half.ts), host bit conversions (src/half.ts).

import { DTypeError, fmtShape } from '../errors.js';
import { apply, numel, type DType, type Tensor, type TensorSpec } from '../tensor.js';
import { halfShader } from '../../shaders/half.js';
import { halfWords, roundToHalf } from '../half.js';
import { grid1d } from './grid.js';
import type { HostTensor, OpCase, OpDef } from './types.js';

export interface CastHalfAttrs {
  /** 'f16' rounds an f32 tensor to f16; 'f32' widens an f16 tensor. */
  dtype: 'f16' | 'f32';
}

const WG = 64;

function castHalfShape([x]: TensorSpec[], { dtype }: CastHalfAttrs): TensorSpec[] {
  const from = dtype === 'f16' ? 'f32' : 'f16';
  if (x.dtype !== from) {
    throw new DTypeError(
      `cast: ${x.dtype} ${fmtShape(x.shape)} to ${dtype} is not a conversion f16 takes part in directly; ` +
        `f16 converts only to and from f32, so cast through 'f32'.`,
    );
  }
  return [{ shape: x.shape, dtype }];
}

const f = (dtype: 'f32' | 'f16', ...shape: number[]): TensorSpec => ({ shape, dtype });

// Values across f16's range: subnormals, ordinary sizes, and past the largest finite value
// (which must become infinity with its sign).
const ranged: OpCase<CastHalfAttrs>['gen'] = (_i, spec, rand) => {
  const pick = [() => (rand() - 0.5) * 1e-5, () => rand() * 2 - 1, () => (rand() - 0.5) * 2e3, () => (rand() < 0.5 ? -1 : 1) * (65504 + rand() * 40)];
  return { ...spec, data: Float64Array.from({ length: numel(spec.shape) }, (_, k) => pick[k % pick.length]()) };
};

export const castHalfDef: OpDef<CastHalfAttrs> = {
  name: 'castHalf',
  f16: true,
  shape: castHalfShape,
  kernel: ([x], _outs, { dtype }) => {
    const n = numel(x.shape);
    return {
      dispatches: [
        {
          shader: halfShader,
          entry: dtype === 'f16' ? 'to_half' : 'from_half',
          constants: { WG },
          reads: [{ in: 0 }],
          writes: [{ out: 0 }],
          params: [n],
          workgroups: grid1d(halfWords(n), WG),
        },
      ],
    };
  },
  cpu: ([x], { dtype }): HostTensor[] => [
    { shape: x.shape, dtype, data: dtype === 'f16' ? x.data.map(roundToHalf) : Float64Array.from(x.data) },
  ],
  backward: (_ctx, [dy]) => [dy],
  // The rounding has no useful finite difference: the straight-through gradient is checked in
  // test/mixed-precision.test.ts instead.
  cases: [
    { name: 'f32->f16, odd length, every range', inputs: [f('f32', 3, 37)], attrs: { dtype: 'f16' }, gen: ranged, tol: 1e-3, gradInputs: [] },
    { name: 'f32->f16, one value', inputs: [f('f32', 1)], attrs: { dtype: 'f16' }, tol: 1e-3, gradInputs: [] },
    { name: 'f16->f32, odd length', inputs: [f('f16', 2, 65)], attrs: { dtype: 'f32' }, gen: ranged, gradInputs: [] },
  ],
};

/** x converted between f32 and f16 (cast() in unary.ts comes here when f16 is involved). */
export function castHalf(x: Tensor, dtype: DType): Tensor {
  if ((dtype !== 'f16' && dtype !== 'f32') || x.dtype === 'i32') {
    throw new DTypeError(`cast: ${x} to ${dtype}: f16 converts only to and from f32; cast through 'f32'.`);
  }
  return apply(castHalfDef, [x], { dtype: dtype as 'f16' | 'f32' })[0];
}

export const halfOps = { castHalf: castHalfDef };
