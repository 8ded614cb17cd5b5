// Checks of the neural-net row ops that the registry cannot express: the second row layout
// (one workgroup per row, the default on real GPUs, while CI runs SwiftShader and so the
// one-invocation-per-row layout), bit-for-bit repeatability of the reductions, the documented
// handling of ignored targets and out-of-range ids, extreme logits, gradients of gradients
// through softmax, and the errors that name the op and the shapes.
// Not here: per-op GPU-vs-CPU and finite-difference checks on small cases (test/ops.test.ts).

import { describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine.js';
import { DTypeError, EngineError, ShapeError } from '../src/errors.js';
import {
  crossEntropy, crossEntropyBackward, crossEntropyMean, embedding, embeddingBackward, gradients,
  layerNorm, layerNormWithStats, layerNormBackward, mul, softmax, sum,
} from '../src/index.js';
import { constant, parameter, type Tensor } from '../src/tensor.js';
import { runOpChecks, seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const NN_OPS = [
  'softmax', 'softmaxBackward', 'layerNorm', 'layerNormBackward',
  'crossEntropy', 'crossEntropyBackward', 'embedding', 'embeddingBackward', 'groupNorm', 'groupNormBackward',
];

const rand = seededRandom(7);
const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
const f = (...shape: number[]) => constant(floats(shape.reduce((a, b) => a * b, 1)), shape);
const ids = (values: number[]) => constant(values, [values.length], 'i32');

describe('row layouts', () => {
  it('one workgroup per row matches the CPU reference too', async () => {
    // The backward ops have cases of their own, so forward checks reach every kernel of the layout.
    const engine = await createEngine({ tuning: { rows: 'workgroup' } });
    const results = await runOpChecks(engine, { filter: (n) => NN_OPS.includes(n), grad: false });
    expect(results.length).toBeGreaterThan(20);
    expect(results.filter((r) => !r.ok).map((r) => `${r.op} ${r.case}: ${r.detail}`)).toEqual([]);
  });
});

describe('determinism', () => {
  it('gives bit-identical gain, bias and embedding gradients on every run (no float atomics)', async () => {
    const engine = await testEngine();
    const x = f(150, 24);
    const [, mean, rstd] = layerNormWithStats(x, f(24), f(24));
    const grads = layerNormBackward(x, mean, rstd, f(24), f(150, 24));
    const tokens = ids(Array.from({ length: 90 }, (_, i) => (i * 7) % 5));
    const dEmb = embeddingBackward(tokens, f(90, 24), 5);
    const first = await engine.run([...grads, dEmb]);
    const second = await engine.run([...grads, dEmb]);
    first.forEach((a, i) => expect(Array.from(second[i])).toEqual(Array.from(a)));
  });
});

describe('cross-entropy', () => {
  it('ignores targets outside [0, V): zero loss, zero gradient, left out of the mean', async () => {
    const engine = await testEngine();
    const logits = f(4, 5);
    const targets = ids([2, -1, 5, 0]);
    const [rows, meanLoss, dMean] = await engine.run([
      crossEntropy(logits, targets),
      crossEntropyMean(logits, targets),
      crossEntropyBackward(logits, targets, constant([1], []), 'mean'),
    ]);
    expect(rows[1]).toBe(0);
    expect(rows[2]).toBe(0);
    expect(meanLoss[0]).toBeCloseTo((rows[0] + rows[3]) / 2, 5);
    expect(Array.from(dMean.slice(5, 15))).toEqual(new Array(10).fill(0));
    // A valid row's gradient sums to 0 (softmax sums to 1, the one-hot to 1) and carries 1/2.
    const row0 = Array.from(dMean.slice(0, 5));
    expect(row0.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 6);
    expect(row0[2]).toBeLessThan(0);
  });

  it('gives a mean of 0 and zero gradients when every target is ignored', async () => {
    const engine = await testEngine();
    const logits = f(3, 4);
    const targets = ids([-1, -1, 9]);
    const [loss, d] = await engine.run([
      crossEntropyMean(logits, targets),
      crossEntropyBackward(logits, targets, constant([1], []), 'mean'),
    ]);
    expect(loss[0]).toBe(0);
    expect(Array.from(d)).toEqual(new Array(12).fill(0));
  });

  it('stays finite for logits far beyond exp range', async () => {
    const engine = await testEngine();
    const logits = constant([3000, -3000, 0, 1e4, 1e4 - 2, -1e4], [2, 3]);
    const targets = ids([1, 0]);
    const [loss, d, p] = await engine.run([
      crossEntropy(logits, targets),
      crossEntropyBackward(logits, targets, constant([1, 1], [2]), 'none'),
      softmax(logits),
    ]);
    expect(loss[0]).toBeCloseTo(6000, 0);
    expect(loss[1]).toBeCloseTo(Math.log1p(Math.exp(-2)), 5);
    for (const v of [...d, ...p]) expect(Number.isFinite(v)).toBe(true);
    expect(p[0]).toBe(1);
  });
});

describe('embedding', () => {
  it('looks up zeros for out-of-range ids and drops their gradient', async () => {
    const engine = await testEngine();
    const weight = constant([1, 2, 3, 4, 5, 6], [3, 2]);
    const tokens = ids([2, -1, 3, 0, 2]);
    const [out, dw] = await engine.run([
      embedding(weight, tokens),
      embeddingBackward(tokens, constant([1, 1, 10, 10, 100, 100, 1000, 1000, 10000, 10000], [5, 2]), 3),
    ]);
    expect(Array.from(out)).toEqual([5, 6, 0, 0, 0, 0, 1, 2, 5, 6]);
    expect(Array.from(dw)).toEqual([1000, 1000, 0, 0, 10001, 10001]);
  });
});

describe('second derivatives', () => {
  it('differentiates a gradient through softmax (d/dy of softmaxBackward)', async () => {
    // L = sum(w * softmax(x)); G = dL/dx; second-order check: d sum(G * v) / dx by differences.
    const engine = await testEngine();
    const xs = floats(2 * 6);
    const w = f(2, 6);
    const v = f(2, 6);
    const penalty = (x: Tensor) => sum(mul(gradients([sum(mul(w, softmax(x)))], [x])[0], v));
    const x = parameter('x', xs, [2, 6]);
    const [analytic] = await engine.run(gradients([penalty(x)], [x]));
    const h = 1e-2;
    for (let k = 0; k < xs.length; k++) {
      const at = (delta: number) => {
        const shifted = xs.slice();
        shifted[k] += delta;
        return penalty(parameter('x', shifted, [2, 6]));
      };
      const [up, down] = await engine.run([at(h), at(-h)]);
      expect(analytic[k]).toBeCloseTo((up[0] - down[0]) / (2 * h), 2);
    }
  });

  it('says that layerNorm and crossEntropy are differentiable once', () => {
    const x = parameter('x', floats(6), [2, 3]);
    const dx = gradients([sum(layerNorm(x, f(3), f(3)))], [x])[0];
    expect(() => gradients([sum(dx)], [x])).toThrow(/layerNormBackward: second derivatives/);
    const dl = gradients([crossEntropyMean(x, ids([0, 2]))], [x])[0];
    expect(() => gradients([sum(dl)], [x])).toThrow(/crossEntropyBackward: second derivatives/);
    expect(() => gradients([sum(dl)], [x])).toThrow(EngineError);
  });
});

describe('shape and dtype errors name the op and the shapes', () => {
  it('rejects bad inputs when the graph is built', () => {
    expect(() => softmax(constant([1], []))).toThrow(ShapeError);
    expect(() => layerNorm(f(2, 3), f(4), f(3))).toThrow(/layerNorm: gain \[4\] must be \[3\]/);
    expect(() => crossEntropy(f(2, 5), ids([1, 2, 3]))).toThrow(/targets \[3\] must be \[2\]/);
    expect(() => crossEntropy(f(2, 5), f(2))).toThrow(DTypeError);
    expect(() => embedding(f(3, 2, 1), ids([0]))).toThrow(/must be \(V, C\)/);
  });
});
