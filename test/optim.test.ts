// The fused optimizers against their plain-loop specification, step for step over 20 steps:
// AdamW, SGD (momentum, Nesterov) and LAMB, with per-group weight decay, a learning-rate
// schedule, global-norm clipping computed on the GPU, and gradient accumulation.

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
  const big = parameter('big', randoms(600, 1), [600]);
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
    expect(state['exp_avg.big'].length).toBe(600);
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
