// Initialisation schemes: gains and fans, the statistics of a few thousand drawn values for
// every scheme, and reproducibility: two engines given the same seeds build bit-identical
// parameters, and two runs of a small training loop give bit-identical losses.

import { describe, expect, it } from 'vitest';
import {
  ConfigError, ShapeError, add, calculateGain, cosineDecay, createEngine, crossEntropyMean, fans, full, gelu,
  gptNormal, gptStd, grad, input, kaimingNormal, kaimingUniform, matmul, parameter, sgd, spirals, tanh,
  xavierNormal, xavierUniform, type Engine, type Tensor,
} from '../src/index.js';
import { testEngine } from './support/engine.js';

describe('gains and fans', () => {
  it('gives the PyTorch gains, and for gelu 1 / sqrt(E[gelu(z)^2]) with z ~ N(0, 1)', () => {
    expect(calculateGain('linear')).toBe(1);
    expect(calculateGain('sigmoid')).toBe(1);
    expect(calculateGain('tanh')).toBe(5 / 3);
    expect(calculateGain('relu')).toBe(Math.SQRT2);
    expect(calculateGain('leakyRelu', 0.2)).toBeCloseTo(Math.sqrt(2 / 1.04), 15);
    // Quadrature of the engine's gelu (tanh form) against the standard normal density.
    const g = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    let m2 = 0;
    const h = 1e-3;
    for (let x = -12; x < 12; x += h) m2 += g(x) ** 2 * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI) * h;
    expect(Math.abs(calculateGain('gelu') - 1 / Math.sqrt(m2))).toBeLessThan(1e-4);
    expect(() => calculateGain('swish' as 'relu')).toThrow(ConfigError);
  });

  it('reads fans from the (..., C_in, C_out) layout, leading axes multiplying both', () => {
    expect(fans([3, 5])).toEqual({ fanIn: 3, fanOut: 5 });
    expect(fans([3, 3, 4, 8])).toEqual({ fanIn: 36, fanOut: 72 });
    expect(() => fans([7])).toThrow(ShapeError);
    expect(() => xavierUniform([7], 1)).toThrow(/fanIn and fanOut/);
    expect(() => kaimingNormal([4, 4], 1, { fanIn: 0 })).toThrow(ConfigError);
  });
});

/** Mean and (population) standard deviation in float64. */
function stats(v: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length), min: Math.min(...v), max: Math.max(...v) };
}

describe('statistics of the drawn values', () => {
  // 4096 values: the mean is within 4 standard errors (std / 64) of 0, the std within 5% of its
  // target (its own standard error is under 1.2% for both laws), uniform draws within the bound.
  const cases: { name: string; init: (seed: number) => Tensor; std: number; bound?: number }[] = [
    { name: 'xavierUniform [64, 64]', init: (s) => xavierUniform([64, 64], s), std: Math.sqrt(2 / 128), bound: Math.sqrt(6 / 128) },
    {
      name: 'xavierUniform, tanh gain [32, 128]',
      init: (s) => xavierUniform([32, 128], s, { gain: calculateGain('tanh') }),
      std: (5 / 3) * Math.sqrt(2 / 160),
      bound: (5 / 3) * Math.sqrt(6 / 160),
    },
    { name: 'xavierNormal [64, 64]', init: (s) => xavierNormal([64, 64], s), std: Math.sqrt(2 / 128) },
    { name: 'kaimingNormal relu fanIn [128, 32]', init: (s) => kaimingNormal([128, 32], s), std: Math.SQRT2 / Math.sqrt(128) },
    {
      name: 'kaimingNormal relu fanOut [128, 32]',
      init: (s) => kaimingNormal([128, 32], s, { mode: 'fanOut' }),
      std: Math.SQRT2 / Math.sqrt(32),
    },
    {
      name: 'kaimingUniform leakyRelu(0.2) [2, 2, 16, 64]',
      init: (s) => kaimingUniform([2, 2, 16, 64], s, { nonlinearity: 'leakyRelu', slope: 0.2 }),
      std: Math.sqrt(2 / 1.04) / Math.sqrt(64),
      bound: Math.sqrt(3) * Math.sqrt(2 / 1.04) / 8,
    },
    {
      name: 'kaimingUniform gelu [64, 64]',
      init: (s) => kaimingUniform([64, 64], s, { nonlinearity: 'gelu' }),
      std: calculateGain('gelu') / 8,
      bound: Math.sqrt(3) * calculateGain('gelu') / 8,
    },
    { name: 'gptNormal [64, 64]', init: (s) => gptNormal([64, 64], s), std: 0.02 },
    {
      name: 'gptNormal residual, 12 layers [64, 64]',
      init: (s) => gptNormal([64, 64], s, { residualLayers: 12 }),
      std: 0.02 / Math.sqrt(24),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const v = (await (await testEngine()).read(c.init(11))) as Float32Array;
      expect(v.length).toBe(4096);
      const s = stats(v);
      expect(Math.abs(s.mean)).toBeLessThan((4 * c.std) / 64);
      expect(Math.abs(s.std / c.std - 1)).toBeLessThan(0.05);
      if (c.bound !== undefined) {
        expect(s.max).toBeLessThanOrEqual(c.bound);
        expect(s.min).toBeGreaterThanOrEqual(-c.bound);
        expect(s.max).toBeGreaterThan(0.95 * c.bound);
        expect(s.min).toBeLessThan(-0.95 * c.bound);
      }
    });
  }

  it('gptStd scales residual projections by 1 / sqrt(2 nLayers)', () => {
    expect(gptStd()).toBe(0.02);
    expect(gptStd({ residualLayers: 8 })).toBeCloseTo(0.005, 15);
    expect(gptStd({ std: 0.1, residualLayers: 2 })).toBeCloseTo(0.05, 15);
    expect(() => gptStd({ residualLayers: -1 })).toThrow(ConfigError);
  });
});

// A small GELU/tanh MLP on two spirals with every scheme in use, trained by a compiled SGD
// step under a cosine schedule with label-smoothed cross-entropy.
const N = 64, H = 16, V = 2, STEPS = 5;
const data = spirals(N / 2, V, 0.02, 3);

function buildModel(seed: number) {
  const x = input('x', [N, 2]);
  const y = input('y', [N], 'i32');
  const lr = input('lr', []);
  const w1 = parameter('w1', kaimingNormal([2, H], seed, { nonlinearity: 'gelu' }));
  const b1 = parameter('b1', full([H], 0));
  const w2 = parameter('w2', xavierUniform([H, H], seed, { gain: calculateGain('tanh'), offset: 1 }));
  const w3 = parameter('w3', gptNormal([H, V], seed, { std: 0.5, residualLayers: 2, offset: 2 }));
  const logits = matmul(tanh(matmul(gelu(add(matmul(x, w1), b1)), w2)), w3); // (N, V)
  const loss = crossEntropyMean(logits, y, { smoothing: 0.1 });
  const params = [w1, b1, w2, w3];
  return { loss, params, updates: sgd(params, grad(loss, params), lr) };
}

/** Builds, initialises and trains the model on `engine`; returns parameter bits and losses. */
async function train(engine: Engine, seed: number): Promise<{ init: Uint32Array[]; losses: Float32Array }> {
  const m = buildModel(seed);
  const init = await Promise.all(m.params.map(async (p) => new Uint32Array((await engine.readParameter(p)).buffer)));
  const step = await engine.compile({ outputs: { loss: m.loss }, updates: m.updates });
  const schedule = cosineDecay({ lr: 0.5, warmupSteps: 2, totalSteps: STEPS });
  const losses = new Float32Array(STEPS);
  for (let s = 0; s < STEPS; s++) losses[s] = (await step.run({ x: data.x, y: data.y, lr: schedule(s) })).loss[0];
  step.dispose();
  for (const p of m.params) engine.freeParameter(p);
  return { init, losses };
}

describe('reproducibility', () => {
  it('two runs with the same seed give bit-identical parameters and bit-identical losses', async () => {
    const engine = await testEngine();
    // A second device, with the same kernel choices so that both run the same pipelines. It is
    // left to the process's end, as destroying it rejects the device-lost watch of every run.
    const other = await createEngine({ tuning: { ...engine.tuning }, tune: false });
    const a = await train(engine, 42);
    const b = await train(engine, 42);
    const c = await train(other, 42);
    const d = await train(engine, 43);
    for (const run of [b, c]) {
      run.init.forEach((bits, i) => expect(bits).toEqual(a.init[i]));
      expect(new Uint32Array(run.losses.buffer)).toEqual(new Uint32Array(a.losses.buffer));
    }
    // The losses moved (training happened) and another seed changes both weights and losses.
    expect(a.losses[STEPS - 1]).toBeLessThan(a.losses[0]);
    expect(d.init[0]).not.toEqual(a.init[0]);
    expect(d.losses).not.toEqual(a.losses);
    console.log(`init: seed 42 losses ${Array.from(a.losses).map((l) => l.toFixed(5)).join(' ')}`);
  });
});
