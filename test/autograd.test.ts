// Autodiff of composite graphs against finite differences of the graph's own float64 CPU
// reference: a tensor used twice, an MLP with a cross-entropy loss, detach and noGrad, and a
// gradient of a gradient (which a gradient penalty needs), and gradients with respect to data.

import { describe, expect, it } from 'vitest';
import {
  add, constant, crossEntropyMean, detach, grad, gradients, matmul, mul, noGrad, parameter,
  powScalar, sum, tanh, watch, type Tensor,
} from '../src/index.js';
import { evalCpu } from './support/cpugraph.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

/** Central differences of a scalar CPU graph with respect to a parameter's values. */
function numericGrad(loss: Tensor, p: Tensor, values: Map<Tensor, Float64Array>): Float64Array {
  const x = values.get(p)!;
  const g = new Float64Array(x.length);
  const h = 1e-4;
  for (let k = 0; k < x.length; k++) {
    const keep = x[k];
    x[k] = keep + h;
    const up = evalCpu([loss], {}, values)[0].data[0];
    x[k] = keep - h;
    const down = evalCpu([loss], {}, values)[0].data[0];
    x[k] = keep;
    g[k] = (up - down) / (2 * h);
  }
  return g;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  for (let k = 0; k < want.length; k++) {
    if (!(Math.abs(got[k] - want[k]) <= tol * scale)) {
      throw new Error(`element ${k}: got ${got[k]}, want ${want[k]} (tol ${tol} x scale ${scale})`);
    }
  }
}

const rand = seededRandom(7);
const randoms = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);

describe('autograd', () => {
  it('sums the gradients of a tensor used twice', async () => {
    const engine = await testEngine();
    const x = parameter('x', randoms(37));
    const y = sum(add(mul(x, x), x)); // d/dx = 2x + 1
    const [dx] = grad(y, [x]);
    const got = await engine.read(dx);
    const xs = (x.source as { init: Float32Array }).init;
    expectClose(got, Array.from(xs, (v) => 2 * v + 1), 1e-6);
  });

  it('differentiates an MLP with a cross-entropy loss like finite differences', async () => {
    const engine = await testEngine();
    const N = 13, D = 5, H = 7, V = 4;
    const x = constant(randoms(N * D), [N, D]);
    const targets = constant(Array.from({ length: N }, (_, i) => i % V), [N], 'i32');
    const w1 = parameter('w1', randoms(D * H), [D, H]);
    const b1 = parameter('b1', randoms(H, 0.1), [H]);
    const w2 = parameter('w2', randoms(H * V), [H, V]);
    const hidden = tanh(add(matmul(x, w1), b1)); // (N, H)
    const loss = crossEntropyMean(matmul(hidden, w2), targets);
    const params = [w1, b1, w2];
    const grads = grad(loss, params);
    const got = await engine.run(grads);
    const values = new Map(params.map((p) => [p, Float64Array.from((p.source as { init: Float32Array }).init)]));
    params.forEach((p, i) => expectClose(got[i], numericGrad(loss, p, values), 2e-3));
  });

  it('stops gradients at detach and inside noGrad', async () => {
    const engine = await testEngine();
    const x = parameter('x', randoms(5));
    const y = sum(mul(detach(x), x)); // only the second factor carries a gradient: d/dx = x
    const [dx] = grad(y, [x]);
    const xs = (x.source as { init: Float32Array }).init;
    expectClose(await engine.read(dx), xs, 1e-6);
    const frozen = noGrad(() => mul(x, x));
    expect(frozen.requiresGrad).toBe(false);
    const [none] = grad(sum(frozen), [x]);
    expectClose(await engine.read(none), new Float32Array(5), 0);
  });

  it('takes a gradient of a gradient', async () => {
    const engine = await testEngine();
    const x = parameter('x', randoms(9));
    const [dx] = grad(sum(powScalar(x, 3)), [x]); // 3x^2
    const [ddx] = gradients([dx], [x]); // d/dx sum(3x^2) = 6x
    const xs = (x.source as { init: Float32Array }).init;
    expectClose(await engine.read(ddx), Array.from(xs, (v) => 6 * v), 1e-5);
  });

  it('gives gradients with respect to data only through watch, and says so otherwise', async () => {
    const engine = await testEngine();
    const data = constant(randoms(6), [6]);
    expect(() => gradients([sum(mul(data, data))], [data])).toThrow(/build the graph from watch\(x\)/);
    const x = watch(data);
    const [dx] = gradients([sum(mul(x, x))], [x]); // 2x
    const xs = (data.source as { data: Float32Array }).data;
    expectClose(await engine.read(dx), Array.from(xs, (v) => 2 * v), 1e-6);
  });
});
