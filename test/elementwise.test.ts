// Checks of the elementwise and reduction ops that the registry cases cannot express: errors
// raised while the graph is built, shape rules (negative axes, keepdims, sumToShape), which
// kernels are free reinterpretations of their input, and a few compositions on the GPU
// (accuracy from argmax and equal, gradients through broadcasting, second derivatives).
// Not here: GPU-vs-reference and finite-difference checks of each op (test/ops.test.ts).

import { describe, expect, it } from 'vitest';
import { DTypeError, ShapeError } from '../src/errors.js';
import { gradients } from '../src/autograd.js';
import { constant, input, type Tensor } from '../src/tensor.js';
import type { KernelEnv } from '../src/ops/types.js';
import {
  add,
  argmax,
  broadcastDef,
  broadcastTo,
  cast,
  div,
  equal,
  exp,
  full,
  gelu,
  geluGrad,
  max,
  mean,
  mul,
  sum,
  sumDef,
  sumToShape,
  where,
} from '../src/ops/index.js';
import { testEngine } from './support/engine.js';

const x = (shape: number[], dtype: 'f32' | 'i32' = 'f32') => input('x', shape, dtype);
const env: KernelEnv = { features: new Set(), limits: {} as GPUSupportedLimits, isSoftware: true, quadsInOrder: false, tuning: {} };

describe('errors while the graph is built', () => {
  it('names the op and both shapes when shapes do not broadcast', () => {
    expect(() => add(x([2, 3]), x([4]))).toThrow(ShapeError);
    expect(() => add(x([2, 3]), x([4]))).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    expect(() => where(x([2]), x([3]), x([2]))).toThrow(/where: shapes \[2\] and \[3\] and \[2\]/);
  });

  it('rejects dtypes an op does not take', () => {
    expect(() => exp(x([3], 'i32'))).toThrow(DTypeError);
    expect(() => add(x([3]), x([3], 'i32'))).toThrow(/add: operands have different dtypes/);
    expect(() => div(x([3], 'i32'), x([3], 'i32'))).toThrow(/div: takes f32 operands/);
    expect(() => sum(x([3], 'i32'))).toThrow(DTypeError);
    expect(() => full([2], 0.5, 'i32')).toThrow(DTypeError);
  });

  it('rejects axes out of range or repeated', () => {
    expect(() => sum(x([2, 3]), 2)).toThrow(/sum: axis 2 is out of range for shape \[2, 3\]/);
    expect(() => mean(x([2, 3]), [1, -1])).toThrow(/same axis twice/);
    expect(() => argmax(x([]))).toThrow(ShapeError);
  });

  it('rejects broadcasts that need more dims than the kernel uniform holds', () => {
    // Alternating repeated and walked dims cannot merge: 9 dims.
    expect(() => add(x([2, 1, 2, 1, 2, 1, 2, 1, 2]), x([1, 2, 1, 2, 1, 2, 1, 2, 1]))).toThrow(/more than the 8/);
  });
});

describe('shape rules', () => {
  it('reduces over negative axes, with and without keepdims', () => {
    expect(sum(x([2, 3, 4])).shape).toEqual([]);
    expect(sum(x([2, 3, 4]), -1).shape).toEqual([2, 3]);
    expect(mean(x([2, 3, 4]), [0, -1], true).shape).toEqual([1, 3, 1]);
    expect(max(x([2, 3, 4]), [-2]).shape).toEqual([2, 4]);
    expect(argmax(x([2, 3, 4])).shape).toEqual([2, 3]);
    expect(argmax(x([2, 3, 4]), 0, true).dtype).toBe('i32');
  });

  it('returns the tensor itself when there is nothing to do', () => {
    const t = x([3, 4]);
    expect(sum(t, [])).toBe(t);
    expect(sumToShape(t, [3, 4])).toBe(t);
    expect(broadcastTo(t, [3, 4])).toBe(t);
    expect(cast(t, 'f32')).toBe(t);
  });

  it('sums back to a broadcast operand shape', () => {
    expect(sumToShape(x([2, 3, 4]), [4]).shape).toEqual([4]);
    expect(sumToShape(x([2, 3, 4]), [3, 1]).shape).toEqual([3, 1]);
    expect(sumToShape(x([2, 3, 4]), []).shape).toEqual([]);
    expect(sumToShape(x([1, 5]), [5]).shape).toEqual([5]);
    expect(() => sumToShape(x([2, 3]), [2])).toThrow(ShapeError);
  });

  it('reinterprets instead of copying when no element is repeated or combined', () => {
    const spec = (shape: number[]) => ({ shape, dtype: 'f32' as const });
    const reshape = broadcastDef.kernel([spec([6])], [spec([1, 6, 1])], { shape: [1, 6, 1], dims: [1] }, env);
    expect(reshape).toEqual({ alias: 0 });
    expect(sumDef.kernel([spec([4, 1, 5])], [spec([4, 5])], { axes: [1], keepdims: false }, env)).toEqual({ alias: 0 });
  });
});

describe('compositions on the GPU', () => {
  const run = async (ts: Tensor[]) => (await testEngine()).run(ts);

  it('computes accuracy from argmax and i32 labels', async () => {
    const logits = constant([0.1, 0.9, 0.0, 0.8, 0.1, 0.1, 0.2, 0.3, 0.5], [3, 3]);
    const labels = constant([1, 0, 1], [3], 'i32');
    const [acc] = await run([mean(equal(argmax(logits), labels))]);
    expect(acc[0]).toBeCloseTo(2 / 3, 6);
  });

  it('sums gradients over broadcast dims: bias of a (B, T, C) add', async () => {
    const h = constant(Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 10), [2, 3, 4]); // (B, T, C)
    const b = constant([0.5, -0.5, 1, 2], [4]); // (C)
    b.requiresGrad = true;
    const w = constant(Float32Array.from({ length: 24 }, (_, i) => (i % 5) - 2), [2, 3, 4]);
    const [db] = gradients([sum(mul(add(h, b), w))], [b]);
    const [got] = await run([db]);
    const want = [0, 1, 2, 3].map((c) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + (((r * 4 + c) % 5) - 2), 0));
    expect(Array.from(got)).toEqual(want);
  });

  it('takes second derivatives through the fused derivative ops', async () => {
    // d2/dx2 gelu(x) by differentiating twice, against a difference of geluGrad on the GPU.
    const xs = [-2, -0.5, 0.3, 1.7];
    const t = constant(xs, [4]);
    t.requiresGrad = true;
    const [g1] = gradients([sum(gelu(t))], [t]);
    const [g2] = gradients([sum(g1)], [t]);
    const h = 1e-2;
    const ones = full([4], 1);
    const up = geluGrad(constant(xs.map((v) => v + h), [4]), ones);
    const down = geluGrad(constant(xs.map((v) => v - h), [4]), ones);
    const [a, u, d] = await run([g2, up, down]);
    xs.forEach((_, i) => expect(a[i]).toBeCloseTo((u[i] - d[i]) / (2 * h), 3));
  });

  it('splits the gradient of max evenly between ties', async () => {
    const t = constant([1, 3, 3, 2, 5, 5, 5, 0], [2, 4]);
    t.requiresGrad = true;
    const [dt] = gradients([sum(max(t, 1))], [t]);
    const [got] = await run([dt]);
    expect(Array.from(got).map((v) => +v.toFixed(6))).toEqual([0, 0.5, 0.5, 0, 0.333333, 0.333333, 0.333333, 0]);
  });
});
