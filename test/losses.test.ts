// Losses as users call them, reductions included: GPU values against plain-loop float64
// formulas written here (independent of the ops' own references), and gradients of whole
// compositions (reductions, log-softmax inputs) against central finite differences of the
// graph evaluated by the ops' CPU references. The fused kernels on their own are covered by
// the registry checks (test/ops.test.ts: bceWithLogits, klDiv, crossEntropy with smoothing).

import { describe, expect, it } from 'vitest';
import {
  ShapeError, bceWithLogits, constant, crossEntropy, crossEntropyMean, gradients, input, klDiv, log, mse,
  softmax, type Tensor,
} from '../src/index.js';
import { evalCpu } from './support/cpugraph.js';
import { centralDifferences, seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(77);
const draw = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

/** Evaluates `build` on the GPU with the given data as fed inputs. */
async function gpuValue(build: (xs: Tensor[]) => Tensor, shapes: number[][], data: Float32Array[]): Promise<Float32Array> {
  const xs = shapes.map((s, i) => input(`a${i}`, s));
  const feeds = Object.fromEntries(data.map((d, i) => [`a${i}`, d]));
  return (await (await testEngine()).read(build(xs), feeds)) as Float32Array;
}

/**
 * Gradients of sum(build(xs) * seed) with respect to every input, on the GPU through the
 * backward rules, against central differences (step 1e-3) of the float64 CPU graph.
 * Returns the worst error relative to max(1, max |numeric|).
 */
async function gradError(build: (xs: Tensor[]) => Tensor, shapes: number[][], data: Float32Array[]): Promise<number> {
  const xs = shapes.map((s, i) => {
    const t = input(`a${i}`, s);
    t.requiresGrad = true;
    return t;
  });
  const out = build(xs);
  const seed = draw(out.size);
  const grads = gradients([out], xs, [constant(seed, out.shape)]);
  const feeds = Object.fromEntries(data.map((d, i) => [`a${i}`, d]));
  const analytic = await (await testEngine()).run(grads, feeds);

  const cpuFeeds = Object.fromEntries(data.map((d, i) => [`a${i}`, Float64Array.from(d)]));
  const objective = () => {
    const o = evalCpu([out], cpuFeeds)[0].data;
    let l = 0;
    for (let k = 0; k < o.length; k++) l += o[k] * seed[k];
    return l;
  };
  let worst = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = cpuFeeds[`a${i}`];
    const numeric = centralDifferences(x, objective);
    const scale = Math.max(1, ...Array.from(numeric, Math.abs));
    for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(analytic[i][k] - numeric[k]) / scale);
  }
  return worst;
}

const reduceTo = (v: number[], reduction: 'none' | 'sum' | 'mean') => {
  const s = v.reduce((a, b) => a + b, 0);
  return reduction === 'none' ? v : [reduction === 'sum' ? s : s / v.length];
};

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) expect(Math.abs(got[k] - want[k])).toBeLessThanOrEqual(tol * (1 + Math.abs(want[k])));
}

describe('mse', () => {
  const shape = [6, 7];
  const a = draw(42), b = draw(42);
  const sq = Array.from(a, (v, k) => (v - b[k]) ** 2);

  for (const reduction of ['none', 'sum', 'mean'] as const) {
    it(`reduction '${reduction}' matches the plain formula and finite differences`, async () => {
      const build = ([p, t]: Tensor[]) => mse(p, t, { reduction });
      expectClose(await gpuValue(build, [shape, shape], [a, b]), reduceTo(sq, reduction));
      expect(await gradError(build, [shape, shape], [a, b])).toBeLessThan(2e-3);
    });
  }

  it("defaults to 'mean' and refuses operands of different shapes", async () => {
    expectClose(await gpuValue(([p, t]) => mse(p, t), [shape, shape], [a, b]), reduceTo(sq, 'mean'));
    expect(() => mse(input('p', [3, 4]), input('t', [4]))).toThrow(ShapeError);
    expect(() => mse(input('p', [3]), input('t', [3]), { reduction: 'avg' as 'mean' })).toThrow(/reduction/);
  });
});

describe('bceWithLogits', () => {
  const shape = [5, 9];
  const x = draw(45, -4, 4), y = draw(45, 0, 1);
  // The textbook form, safe for these moderate logits: -(y log s + (1 - y) log(1 - s)).
  const naive = Array.from(x, (v, k) => {
    const s = 1 / (1 + Math.exp(-v));
    return -(y[k] * Math.log(s) + (1 - y[k]) * Math.log(1 - s));
  });

  for (const reduction of ['none', 'sum', 'mean'] as const) {
    it(`reduction '${reduction}' matches -(y log s + (1 - y) log(1 - s)) and finite differences`, async () => {
      const build = ([l, t]: Tensor[]) => bceWithLogits(l, t, { reduction });
      expectClose(await gpuValue(build, [shape, shape], [x, y]), reduceTo(naive, reduction));
      expect(await gradError(build, [shape, shape], [x, y])).toBeLessThan(2e-3);
    });
  }

  it('stays finite and exact for logits far beyond where exp overflows', async () => {
    const xs = Float32Array.of(100, -100, 100, -100, 0, 30);
    const ys = Float32Array.of(0, 1, 1, 0, 0.5, 1);
    const got = await gpuValue(([l, t]) => bceWithLogits(l, t, { reduction: 'none' }), [[6], [6]], [xs, ys]);
    expectClose(got, [100, 100, 0, 0, Math.LN2, Math.log1p(Math.exp(-30))], 1e-6);
    expect(got[5]).toBeGreaterThan(0); // 9.4e-14: the log1p form keeps it rather than rounding to 0
  });
});

describe('klDiv', () => {
  const N = 4, C = 7, shape = [N, C];
  const zq = draw(N * C, -2, 2), zp = draw(N * C, -2, 2);
  const softmaxRows = (z: Float32Array) => {
    const out = new Float64Array(z.length);
    for (let r = 0; r < N; r++) {
      const row = Array.from(z.subarray(r * C, (r + 1) * C));
      const m = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      row.forEach((v, j) => (out[r * C + j] = Math.exp(v - m) / s));
    }
    return out;
  };
  const p = softmaxRows(zp), q = softmaxRows(zq);
  const terms = Array.from(p, (pv, k) => pv * Math.log(pv / q[k]));
  const total = terms.reduce((a, b) => a + b, 0);
  // klDiv(log q, p) with both made by softmax on the GPU, so only the logits are fed.
  const kl = (opts: Parameters<typeof klDiv>[2]) => ([a, b]: Tensor[]) =>
    klDiv(log(softmax(a)), opts?.logTarget ? log(softmax(b)) : softmax(b), opts);

  it("'batchmean' (the default) is KL(p || q) per row of (N, C); 'sum', 'mean' and 'none' as named", async () => {
    expectClose(await gpuValue(kl({}), [shape, shape], [zq, zp]), [total / N], 1e-4);
    expectClose(await gpuValue(kl({ reduction: 'sum' }), [shape, shape], [zq, zp]), [total], 1e-4);
    expectClose(await gpuValue(kl({ reduction: 'mean' }), [shape, shape], [zq, zp]), [total / (N * C)], 1e-4);
    expectClose(await gpuValue(kl({ reduction: 'none' }), [shape, shape], [zq, zp]), terms, 1e-4);
    expectClose(await gpuValue(kl({ logTarget: true }), [shape, shape], [zq, zp]), [total / N], 1e-4);
  });

  it('is 0 for identical distributions and treats 0 log 0 as 0', async () => {
    expectClose(await gpuValue(kl({}), [shape, shape], [zq, zq]), [0], 1e-5);
    const got = await gpuValue(([a, b]) => klDiv(a, b, { reduction: 'none' }), [[3], [3]], [
      Float32Array.of(-1, -2, -0.5),
      Float32Array.of(0, 0.25, 0.75),
    ]);
    expectClose(got, [0, 0.25 * (Math.log(0.25) + 2), 0.75 * (Math.log(0.75) + 0.5)], 1e-5);
  });

  it('has gradients that match finite differences through log-softmax inputs and targets', async () => {
    for (const opts of [{}, { logTarget: true }, { reduction: 'none' as const }]) {
      expect(await gradError(kl(opts), [shape, shape], [zq, zp])).toBeLessThan(2e-3);
    }
  });
});

describe('cross-entropy with label smoothing', () => {
  const R = 9, V = 6, eps = 0.1;
  const logits = draw(R * V, -3, 3);
  const targets = Int32Array.from({ length: R }, (_, r) => (r % 4 === 3 ? -1 : (r * 5) % V));

  it('is (1 - eps) nll + eps mean over classes of -log p, 0 for ignored rows', async () => {
    const want = Array.from({ length: R }, (_, r) => {
      if (targets[r] < 0) return 0;
      const row = Array.from(logits.subarray(r * V, (r + 1) * V));
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      const nll = lse - row[targets[r]];
      const uniform = row.reduce((a, v) => a + (lse - v), 0) / V;
      return (1 - eps) * nll + eps * uniform;
    });
    const engine = await testEngine();
    const x = constant(logits, [R, V]);
    const t = constant(targets, [R], 'i32');
    const [rows, meanLoss] = await engine.run([crossEntropy(x, t, { smoothing: eps }), crossEntropyMean(x, t, { smoothing: eps })]);
    expectClose(rows, want);
    const valid = Array.from(targets).filter((v) => v >= 0).length;
    expectClose(meanLoss, [want.reduce((a, b) => a + b, 0) / valid]);
  });

  it('has gradient softmax - ((1 - eps) onehot + eps / V) on valid rows and exactly 0 on ignored ones', async () => {
    const engine = await testEngine();
    const x = constant(logits, [R, V]);
    x.requiresGrad = true;
    const [dx] = gradients([crossEntropy(x, constant(targets, [R], 'i32'), { smoothing: eps })], [x]);
    const got = await engine.read(dx);
    for (let r = 0; r < R; r++) {
      const row = Array.from(logits.subarray(r * V, (r + 1) * V));
      const s = row.reduce((a, v) => a + Math.exp(v), 0);
      for (let j = 0; j < V; j++) {
        const want = targets[r] < 0 ? 0 : Math.exp(row[j]) / s - ((j === targets[r] ? 1 - eps : 0) + eps / V);
        if (targets[r] < 0) expect(got[r * V + j]).toBe(0);
        else expect(Math.abs(got[r * V + j] - want)).toBeLessThan(1e-6);
      }
    }
  });

  it('refuses a smoothing outside [0, 1]', () => {
    const x = input('x', [2, 3]);
    const t = input('t', [2], 'i32');
    expect(() => crossEntropyMean(x, t, { smoothing: 1.5 })).toThrow(/smoothing/);
    expect(() => crossEntropy(x, t, { smoothing: -0.1 })).toThrow(ShapeError);
  });
});
