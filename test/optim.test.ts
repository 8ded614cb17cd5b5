// The fused optimizers against their plain-loop specification, step for step over 20 steps:
// AdamW, SGD (momentum, Nesterov) and LAMB, with per-group weight decay, a learning-rate
// schedule, global-norm clipping computed on the GPU, and gradient accumulation; and the first
// updates of AdamW and LAMB against PyTorch's float64 formulas, to f32 rounding.

import { describe, expect, it } from 'vitest';
import {
  add, constant, createOptimizer, input, loadCheckpoint, saveCheckpoint, matmul, mean, mul, mulScalar, parameter, sum, tanh,
  type OptimizerConfig, type Tensor,
} from '../src/index.js';
import { referenceState, referenceStep } from '../src/optim/reference.js';
import { gradients } from '../src/autograd.js';
import { evalCpu } from './support/cpugraph.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const N = 13, D = 37, H = 5, O = 3;

/** A small model whose parameters span several shapes, one of them several workgroup chunks. */
function model(seed: number) {
  const rand = seededRandom(seed);
  const randoms = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const x = input('x', [N, D]);
  const w1 = parameter('w1', randoms(D * H, 0.3), [D, H]);
  const b1 = parameter('b1', randoms(H, 0.1), [H]);
  const w2 = parameter('w2', randoms(H * O, 0.5), [H, O]);
  const big = parameter('big', randoms(2085, 1), [2085]);
  const y = matmul(tanh(add(matmul(x, w1), b1)), w2);
  const loss = add(mean(mul(y, y)), mulScalar(sum(mul(big, big)), 0.001));
  const params = [w1, b1, w2, big];
  const batches = [0, 1, 2].map(() => randoms(N * D, 1));
  return { x, loss, params, batches };
}

interface Run {
  config: OptimizerConfig;
  steps?: number;
}

async function compare({ config, steps = 20 }: Run): Promise<void> {
  const engine = await testEngine();
  const { loss, params, batches } = model(5);
  const opt = await createOptimizer(engine, params, config);
  const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });

  // The reference: gradients from the graph's own float64 CPU references.
  const k = config.accumulate ?? 1;
  const grads = gradients([loss], params);
  const values = new Map<Tensor, Float64Array>(params.map((p) => [p, Float64Array.from((p.source as { init: Float32Array }).init)]));
  const st = referenceState(params.map((p) => p.size));
  const decay = params.map((p) => (p.rank >= 2 ? (config.weightDecay ?? (config.kind === 'sgd' ? 0 : 0.01)) : 0));
  const full = { beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0, nesterov: false, maxGradNorm: 0, ...config };

  for (let s = 1; s <= steps; s++) {
    const avg = params.map((p) => new Float64Array(p.size));
    let gpuNorm = 0;
    for (let m = 0; m < k; m++) {
      const xb = batches[(s + m) % batches.length];
      const g = evalCpu(grads, { x: xb }, values);
      g.forEach((gi, i) => gi.data.forEach((v, j) => (avg[i][j] += v / k)));
      const r = await plan.run({ x: xb }, m === k - 1 ? ['gradNorm'] : []);
      if (m === k - 1) gpuNorm = r.gradNorm[0];
    }
    const lr = typeof config.lr === 'number' ? config.lr : config.lr(s);
    const norm = referenceStep(full, lr, decay, params.map((p) => values.get(p)!), avg, st);
    expect(Math.abs(gpuNorm - norm)).toBeLessThanOrEqual(1e-4 * (1 + norm));
  }
  expect(opt.step).toBe(steps);
  for (const p of params) {
    const got = await engine.readParameter(p);
    const want = values.get(p)!;
    for (let i = 0; i < p.size; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 2e-4 * (1 + Math.abs(want[i])))) {
        throw new Error(`${p}: element ${i} is ${got[i]}, the reference says ${want[i]}`);
      }
    }
  }
  plan.dispose();
  opt.dispose();
}

describe('fused optimizers match the reference step for step', () => {
  it('AdamW with weight decay on matrices only and a warmup schedule', () =>
    compare({ config: { kind: 'adamw', lr: (t) => 0.01 * Math.min(1, t / 5), weightDecay: 0.1 } }));

  it('SGD with Nesterov momentum and weight decay', () =>
    compare({ config: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 } }));

  it('plain SGD', () => compare({ config: { kind: 'sgd', lr: 0.1 } }));

  it('LAMB', () => compare({ config: { kind: 'lamb', lr: 0.01, weightDecay: 0.01 } }));

  it('AdamW with the global gradient norm clipped on the GPU', () =>
    compare({ config: { kind: 'adamw', lr: 0.01, maxGradNorm: 0.05 } }));

  it('SGD with momentum over 3 accumulated micro-batches per update', () =>
    compare({ config: { kind: 'sgd', lr: 0.1, momentum: 0.5, accumulate: 3, maxGradNorm: 0.5 }, steps: 8 }));

  it('AdamW over 2 accumulated micro-batches per update, clipped', () =>
    compare({ config: { kind: 'adamw', lr: 0.01, weightDecay: 0.1, accumulate: 2, maxGradNorm: 0.05 }, steps: 8 }));
});

describe('dynamic loss scaling', () => {
  it('unscales gradients exactly: a scaled run follows the unscaled reference', () =>
    compare({ config: { kind: 'adamw', lr: 0.01, lossScale: { init: 2 ** 20, interval: 1000 } } }));

  it('grows the scale after `interval` good steps', async () => {
    const engine = await testEngine();
    const { loss, params } = model(3);
    const opt = await createOptimizer(engine, params, { kind: 'sgd', lr: 0.01, lossScale: { init: 256, interval: 3, factor: 2 } });
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    const scales: number[] = [];
    for (let s = 0; s < 7; s++) scales.push((await plan.run({ x: new Float32Array(N * D).fill(0.1) }, ['lossScale'])).lossScale[0]);
    expect(scales).toEqual([256, 256, 512, 512, 512, 1024, 1024]);
    plan.dispose();
    opt.dispose();
  });

  it('skips the update and lowers the scale when a gradient overflows', async () => {
    const engine = await testEngine();
    const p = parameter('p', [1, 2, 3, 4]);
    const loss = sum(mul(p, constant([10, 10, 10, 10], [4]))); // dL/dp = 10
    const opt = await createOptimizer(engine, [p], { kind: 'sgd', lr: 0.01, lossScale: { init: 3e38, interval: 1000 } });
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    // f32 stops at 3.4e38: the gradient 10 * scale overflows until the scale is 3e38 / 16.
    const seen: { skipped: number; scale: number; p0: number }[] = [];
    for (let s = 0; s < 5; s++) {
      const r = await plan.run({}, ['skipped', 'lossScale']);
      seen.push({ skipped: r.skipped[0], scale: r.lossScale[0], p0: (await engine.readParameter(p))[0] });
    }
    expect(seen.map((r) => r.skipped)).toEqual([1, 1, 1, 1, 0]);
    expect(seen.map((r) => r.scale)).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16].map((v) => Math.fround(Math.fround(3e38) * v)));
    expect(seen.slice(0, 4).map((r) => r.p0)).toEqual([1, 1, 1, 1]);
    expect(seen[4].p0).toBeCloseTo(1 - 0.01 * 10, 5);
    expect((await opt.readState()).counters[0]).toBe(1); // one update applied out of five
    expect(opt.step).toBe(5);
    plan.dispose();
    opt.dispose();
  });
});

describe('resuming a fused optimizer from a checkpoint', () => {
  it('continues AdamW with loss scaling bit for bit: moments, counters and scale restored', async () => {
    const engine = await testEngine();
    const config: OptimizerConfig = { kind: 'adamw', lr: (t) => 0.02 / Math.sqrt(t), lossScale: { init: 1024, interval: 4 } };
    const feeds = (s: number) => ({ x: model(1).batches[s % 3] });
    const setup = async (seed: number) => {
      const m = model(seed);
      const opt = await createOptimizer(engine, m.params, config);
      const plan = await engine.compile({ outputs: { loss: m.loss }, optimizer: opt.minimize(m.loss) });
      return { ...m, opt, plan };
    };
    const a = await setup(21);
    for (let s = 0; s < 6; s++) await a.plan.run(feeds(s));
    const names = ['w1', 'b1', 'w2', 'big'];
    const ckpt = await saveCheckpoint(engine, {
      params: Object.fromEntries(names.map((n, i) => [n, a.params[i]])),
      state: await a.opt.readState(),
      step: a.opt.step,
    });
    const after: number[] = [];
    for (let s = 6; s < 12; s++) after.push((await a.plan.run(feeds(s))).loss[0]);

    const b = await setup(22); // other initial values: everything must come from the checkpoint
    const loaded = await loadCheckpoint(engine, ckpt, { params: Object.fromEntries(names.map((n, i) => [n, b.params[i]])) });
    await b.opt.writeState(loaded.state);
    b.opt.step = loaded.step!;
    const resumed: number[] = [];
    for (let s = 6; s < 12; s++) resumed.push((await b.plan.run(feeds(s))).loss[0]);
    expect(resumed).toEqual(after);
    for (const x of [a, b]) {
      x.plan.dispose();
      x.opt.dispose();
    }
  });
});

describe('fused optimizer bookkeeping', () => {
  it('updates every parameter in one dispatch and keeps state readable by name', async () => {
    const engine = await testEngine();
    const { loss, params } = model(9);
    const opt = await createOptimizer(engine, params, { kind: 'adamw', lr: 0.01 });
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    const before = await engine.readParameter(params[3]);
    await plan.run({ x: new Float32Array(N * D).fill(0.5) });
    expect(Array.from(await engine.readParameter(params[3]))).not.toEqual(Array.from(before));
    const state = await opt.readState();
    expect(Object.keys(state).sort()).toEqual(
      ['counters', 'exp_avg.b1', 'exp_avg.big', 'exp_avg.w1', 'exp_avg.w2', 'exp_avg_sq.b1', 'exp_avg_sq.big', 'exp_avg_sq.w1', 'exp_avg_sq.w2'],
    );
    expect(state['exp_avg.big'].length).toBe(2085);
    expect(Array.from(state.counters)).toEqual([1, 0, 1]); // one update applied, loss scale 1
    expect(state['exp_avg_sq.w1'].some((v) => v > 0)).toBe(true);
    await expect(opt.writeState({ ...state, 'exp_avg.w1': new Float32Array(3) })).rejects.toThrow(/exp_avg.w1.*expected 185 values, got 3/);
    plan.dispose();
    opt.dispose();
  });

  it('refuses parameters that already have storage, and mismatched gradients', async () => {
    const engine = await testEngine();
    const p = parameter('p', [1, 2, 3]);
    await engine.readParameter(p);
    await expect(createOptimizer(engine, [p], { kind: 'sgd', lr: 0.1 })).rejects.toThrow(/already has storage/);
    const q = parameter('q', [1, 2]);
    const opt = await createOptimizer(engine, [q], { kind: 'sgd', lr: 0.1 });
    expect(() => opt.withGradients([constant([1, 2, 3], [3])])).toThrow(/gradient \[3\] for parameter/);
    opt.dispose();
  });
});

describe('the first updates match PyTorch to float32 rounding', () => {
  /**
   * Runs `steps` updates of a decayed matrix and an undecayed vector whose gradients are fed
   * directly (d/dp of sum(p * g) is g), and checks each applied update against the float64
   * specification, PyTorch's formulas with the bias corrections in float64. The bound, 16 units
   * of 2^-24 of the magnitudes involved (|p| + |change|), allows for the dozen f32 roundings
   * of the formula; bias corrections taken with f32 `pow` are off by 3e-5, some 500 units.
   * With `from`, the optimizer starts from random moments as if `from` updates had been applied.
   * Returns the number of updates skipped.
   */
  async function firstUpdates(config: OptimizerConfig, shapes: number[][], steps: number, from = 0): Promise<number> {
    const engine = await testEngine();
    const rand = seededRandom(17);
    const randoms = (n: number, scale: () => number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale());
    const params = shapes.map((s, k) => parameter(`p${k}`, randoms(s[0] * (s[1] ?? 1), () => 0.01), s));
    const gs = shapes.map((s, k) => input(`g${k}`, s));
    const loss = add(sum(mul(params[0], gs[0])), sum(mul(params[1], gs[1])));
    const opt = await createOptimizer(engine, params, config);
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    const full = { beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0, nesterov: false, maxGradNorm: 0, ...config };
    const decay = params.map((p) => (p.rank >= 2 ? (config.weightDecay ?? 0.01) : 0));
    const want = await Promise.all(params.map(async (p) => Float64Array.from(await engine.readParameter(p))));
    const st = referenceState(params.map((p) => p.size));
    if (from > 0) {
      st.step = from;
      const state: Record<string, Float32Array> = { counters: Float32Array.of(from, 0, 1) };
      params.forEach((p, k) => {
        state[`exp_avg.p${k}`] = randoms(p.size, () => 0.1);
        state[`exp_avg_sq.p${k}`] = randoms(p.size, () => 0.1).map((v) => v * v);
        st.s1[k].set(state[`exp_avg.p${k}`]);
        st.s2[k].set(state[`exp_avg_sq.p${k}`]);
      });
      await opt.writeState(state);
    }
    let skipped = 0;
    for (let s = 1; s <= steps; s++) {
      // Magnitudes from 1e-3 to 10, so that eps and the loss scale's overflow both matter.
      const g = params.map((p) => randoms(p.size, () => 10 ** (rand() * 4 - 3)));
      if ((await plan.run({ g0: g[0], g1: g[1] }, ['skipped'])).skipped[0]) {
        skipped++;
        continue;
      }
      const before = want.map((w) => Float64Array.from(w));
      referenceStep(full, config.lr as number, decay, want, g.map((v) => Float64Array.from(v)), st);
      for (const [k, p] of params.entries()) {
        const got = await engine.readParameter(p);
        for (let i = 0; i < p.size; i++) {
          const magnitude = Math.abs(before[k][i]) + Math.abs(want[k][i] - before[k][i]);
          const units = Math.abs(got[i] - want[k][i]) / (2 ** -24 * magnitude);
          if (!(units <= 16)) {
            throw new Error(`update ${st.step}, ${p} element ${i}: ${got[i]}, float64 says ${want[k][i]} (${units.toFixed(1)} units)`);
          }
        }
      }
    }
    expect(st.step).toBe(from + steps - skipped);
    plan.dispose();
    opt.dispose();
    return skipped;
  }

  it('AdamW, updates 1 to 3', () => firstUpdates({ kind: 'adamw', lr: 1, weightDecay: 0.1 }, [[7, 40], [40]], 3));

  // LAMB's trust ratio sums squares in f32, whose error grows with a tensor's size: small
  // tensors keep the check at the bias corrections.
  it('LAMB, updates 1 to 3', () => firstUpdates({ kind: 'lamb', lr: 1, weightDecay: 0.1 }, [[3, 5], [4]], 3));

  it('AdamW late in a run: the bias corrections hold for any count of updates', async () => {
    for (const from of [199, 54321, 9_999_999]) {
      await firstUpdates({ kind: 'adamw', lr: 1, weightDecay: 0.1, beta1: 0.999, beta2: 0.99999 }, [[7, 40], [40]], 1, from);
    }
  });

  it('AdamW after skipped updates, which do not count for the bias corrections', async () => {
    // Gradients above 4 overflow f32 at the scale 2^126, above 8 at 2^125; powers of two
    // unscale exactly.
    const config: OptimizerConfig = { kind: 'adamw', lr: 1, weightDecay: 0.1, lossScale: { init: 2 ** 126 } };
    expect(await firstUpdates(config, [[7, 40], [40]], 5)).toBeGreaterThan(0);
  });
});
