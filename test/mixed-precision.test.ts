// Mixed precision: f16 storage (rounding, overflow to infinity, the straight-through gradient),
// the refusal of f16 by ops that do not read it, the gradient underflow that loss scaling
// exists for, and a GPT trained with f16 matmul operands against the same GPT in f32, with a
// loss scale so large that f16 overflows until the scaler has lowered it. The f16 matmul
// kernels themselves are checked against their CPU reference in test/ops.test.ts.

import { describe, expect, it } from 'vitest';
import {
  BatchSampler, CharTokenizer, DTypeError, cast, constant, createGpt, createGptTrainer, exp, generateCorpus, input, layerNorm,
  matmul, mul, parameter, sum,
} from '../src/index.js';
import { gradients } from '../src/autograd.js';
import { HALF_MAX, halfBits, halfValue, roundToHalf } from '../src/half.js';
import { storageBytes } from '../src/tensor.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

describe('f16 on the host', () => {
  it('rounds to nearest even, keeps subnormals and overflows to infinity', () => {
    expect(roundToHalf(1 + 2 ** -11)).toBe(1); // a tie: down to the even mantissa
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // a tie: up to the even mantissa
    expect(roundToHalf(2 ** -24)).toBe(2 ** -24); // the smallest subnormal
    expect(roundToHalf(2 ** -26)).toBe(0);
    expect(roundToHalf(65519)).toBe(HALF_MAX);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(-1e9)).toBe(-Infinity);
    expect(Number.isNaN(roundToHalf(NaN))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 37) expect(halfBits(halfValue(h))).toBe(h); // every 37th finite pattern
  });
});

describe('f16 tensors on the GPU', () => {
  it('casts f32 -> f16 -> f32 as the host rounds, infinities and NaN included, and reads f16 back', async () => {
    const engine = await testEngine();
    const values = [0, -0.5, 1 / 3, 1e-6, 3e-8, 1e-9, 2049, 65519, 65520, -7e4, Infinity, NaN, 12345.678];
    const x = constant(values, [values.length]);
    const [roundTrip, direct] = await engine.run([cast(cast(x, 'f16'), 'f32'), cast(x, 'f16')]);
    // Subnormal f16 values may be flushed to zero by an adapter; everything else is exact.
    const expected = values.map(roundToHalf);
    for (const got of [roundTrip, direct]) {
      got.forEach((v, i) => {
        if (Math.abs(expected[i]) < 2 ** -14) expect(Math.abs(v)).toBeLessThanOrEqual(2 ** -14);
        else expect(v).toEqual(expected[i]);
      });
    }
    // An f16 constant is uploaded packed and reads back as its rounded values.
    const [h] = await engine.run([cast(constant([1.0004, -3, 70000], [3], 'f16'), 'f32')]);
    expect(Array.from(h)).toEqual([1, -3, Infinity]);
  });

  it('refuses f16 where it cannot be read, with the way out', () => {
    const h = cast(constant([1, 2], [2]), 'f16');
    expect(() => exp(h)).toThrow(DTypeError);
    expect(() => exp(h)).toThrow(/exp: .*is f16.*cast\(x, 'f32'\)/);
    expect(() => input('x', [2], 'f16')).toThrow(/feed f32 and cast/);
    expect(() => cast(h, 'i32')).toThrow(/cast through 'f32'/);
  });

  it('passes gradients straight through a cast, in f32', async () => {
    const engine = await testEngine();
    const x = parameter('x', [0.1, 0.2, 0.3]);
    const w = constant([2, -3, 5], [3]);
    const [dx] = gradients([sum(mul(cast(cast(x, 'f16'), 'f32'), w))], [x]);
    expect(dx.dtype).toBe('f32');
    expect(Array.from(await engine.read(dx))).toEqual([2, -3, 5]);
  });
});

describe('f16 activations', () => {
  it('an MLP with f16 hidden activations has the gradients of its f32-activation twin, in half the bytes', async () => {
    const engine = await testEngine();
    const rand = seededRandom(11);
    const values = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
    const x = constant(values(6 * 10, 1), [2, 3, 10]); // (B, T, C)
    const w1 = parameter('w1', values(10 * 14, 0.4), [10, 14]);
    const b1 = parameter('b1', values(14, 0.1), [14]);
    const w2 = parameter('w2', values(14 * 5, 0.4), [14, 5]);
    const seed = constant(values(6 * 5, 1), [2, 3, 5]);
    const run = async (f16Output: boolean) => {
      const h = matmul(x, w1, { bias: b1, activation: 'gelu', f16: true, f16Output }); // (B, T, 4C)
      const y = matmul(h, w2, { f16: true });
      const grads = gradients([y], [w1, b1, w2], [seed]);
      return { h, grads: await engine.run(grads) };
    };
    const wide = await run(false);
    const half = await run(true);
    expect(half.h.dtype).toBe('f16');
    expect(storageBytes(half.h)).toBe(storageBytes(wide.h) / 2);
    half.grads.forEach((g, k) => {
      const ref = wide.grads[k];
      const scale = Math.max(...ref.map(Math.abs));
      expect(scale).toBeGreaterThan(0.01);
      // The f16 hidden values and the f16 pre-activation differ from f32 by ~2^-11 relative.
      g.forEach((v, i) => expect(Math.abs(v - ref[i])).toBeLessThan(5e-3 * scale));
    });
  });

  it('a layer norm with an f16 output has the gradients of its f32-output twin', async () => {
    const engine = await testEngine();
    const rand = seededRandom(12);
    const values = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
    const x = parameter('x', values(7 * 12, 2), [7, 12]);
    const gain = parameter('gain', values(12, 1), [12]);
    const bias = parameter('bias', values(12, 0.3), [12]);
    const w = constant(values(12 * 6, 0.5), [12, 6]);
    const seed = constant(values(7 * 6, 1), [7, 6]);
    const run = async (f16Output: boolean) => {
      const y = layerNorm(x, gain, bias, 1e-5, { f16Output });
      expect(y.dtype).toBe(f16Output ? 'f16' : 'f32');
      return engine.run(gradients([matmul(y, w, { f16: true })], [x, gain, bias], [seed]));
    };
    const wide = await run(false);
    const half = await run(true);
    half.forEach((g, k) => {
      const scale = Math.max(...wide[k].map(Math.abs));
      expect(scale).toBeGreaterThan(0.01);
      // Only the f16 rounding of y differs, and the backward does not read y: identical.
      expect(Array.from(g)).toEqual(Array.from(wide[k]));
    });
  });

  it('refuses an f16 output whose rows do not fill whole words', () => {
    const a = constant(new Float32Array(12), [4, 3]);
    expect(() => matmul(a, constant(new Float32Array(15), [3, 5]), { f16Output: true })).toThrow(/even last dim.*N = 5.*cast it/);
    expect(() => layerNorm(a, constant([1, 1, 1], [3]), constant([0, 0, 0], [3]), 1e-5, { f16Output: true })).toThrow(/even last axis.*\[4, 3\]/);
  });
});

describe('why mixed precision needs a loss scale', () => {
  it('gradients below f16 range vanish in an f16 matmul backward unless the loss is scaled', async () => {
    const engine = await testEngine();
    const rand = seededRandom(5);
    const xs = Float32Array.from({ length: 8 * 16 }, () => rand() * 2 - 1);
    const x = constant(xs, [8, 16]);
    const w = parameter('w', Float32Array.from({ length: 16 * 4 }, () => rand() - 0.5), [16, 4]);
    const tiny = 1e-8; // dL/dy: below f16's smallest subnormal (6e-8)
    const dW = async (f16: boolean, scale: number) => {
      const y = matmul(x, w, { f16 });
      const [g] = gradients([y], [w], [constant(new Float32Array(8 * 4).fill(tiny * scale), [8, 4])]);
      return Float32Array.from(await engine.read(g), (v) => v / scale);
    };
    const exact = await dW(false, 1);
    expect(Math.max(...exact.map(Math.abs))).toBeGreaterThan(1e-8);
    expect((await dW(true, 1)).every((v) => v === 0)).toBe(true); // every gradient lost
    const scaled = await dW(true, 2 ** 16);
    // x is rounded to f16 too: relative error ~1e-3 per product, so compare loosely.
    scaled.forEach((v, i) => expect(Math.abs(v - exact[i])).toBeLessThan(5e-3 * Math.max(...exact.map(Math.abs))));
  });
});

describe('a GPT in mixed precision', () => {
  const setup = () => {
    const text = generateCorpus({ seed: 2, lines: 400 });
    const tok = CharTokenizer.fromText(text);
    return { tokens: tok.encode(text), vocabSize: tok.vocabSize };
  };
  const shape = { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16, seed: 3 } as const;

  it('follows the f32 run closely and learns', async () => {
    const engine = await testEngine();
    const { tokens, vocabSize } = setup();
    const curve = async (precision: 'f32' | 'mixed') => {
      const model = createGpt({ ...shape, vocabSize, precision });
      const trainer = await createGptTrainer(engine, model, { batch: 4, optimizer: { lr: 3e-3 } });
      const sampler = new BatchSampler(tokens, { batch: 4, block: shape.blockSize, seed: 1 });
      const losses: number[] = [];
      for (let s = 0; s < 15; s++) losses.push((await trainer.step(sampler.next()))!.loss);
      trainer.dispose();
      return losses;
    };
    const f32 = await curve('f32');
    const mixed = await curve('mixed');
    console.log(`GPT 1x32, 15 steps: f32 ${f32[0].toFixed(6)} -> ${f32[14].toFixed(6)}, mixed ${mixed[0].toFixed(6)} -> ${mixed[14].toFixed(6)}`);
    // The first loss differs only by the f16 rounding of the forward pass's products and activations.
    expect(mixed[0]).not.toBe(f32[0]);
    expect(Math.abs(mixed[0] - f32[0])).toBeLessThan(5e-3);
    mixed.forEach((l, i) => expect(Math.abs(l - f32[i])).toBeLessThan(0.05));
    expect(mixed[14]).toBeLessThan(mixed[0] - 0.25);
  });

  it('skips steps while f16 overflows and lowers the scale until it fits, then trains', async () => {
    const engine = await testEngine();
    const { tokens, vocabSize } = setup();
    const model = createGpt({ ...shape, vocabSize, precision: 'mixed' });
    // dL/dlogits are ~1/(B T) = 2^-6: scaled by 2^40 they are far past f16's 65504.
    const trainer = await createGptTrainer(engine, model, { batch: 4, optimizer: { lr: 3e-3, lossScale: { init: 2 ** 40, factor: 16 } } });
    const sampler = new BatchSampler(tokens, { batch: 4, block: shape.blockSize, seed: 1 });
    const wte = model.wte;
    const before = await engine.readParameter(wte);
    const seen: { skipped: number; scale: number }[] = [];
    for (let s = 0; s < 8; s++) {
      const batch = sampler.next();
      const r = (await trainer.step(batch))!;
      seen.push({ skipped: r.skipped, scale: r.lossScale });
      if (s === 0) expect(Array.from(await engine.readParameter(wte))).toEqual(Array.from(before)); // nothing applied
    }
    console.log(`loss scale from 2^40: ${seen.map((r) => `${r.skipped ? 'skip' : 'step'} 2^${Math.log2(r.scale)}`).join(', ')}`);
    const firstGood = seen.findIndex((r) => r.skipped === 0);
    expect(firstGood).toBeGreaterThan(0); // f16 really overflowed at 2^40
    expect(seen.slice(0, firstGood).every((r) => r.skipped === 1)).toBe(true);
    expect(seen[firstGood].scale).toBeLessThan(2 ** 40);
    expect(seen.slice(firstGood).every((r) => r.skipped === 0)).toBe(true);
    expect(Array.from(await engine.readParameter(wte))).not.toEqual(Array.from(before));
    trainer.dispose();
  });
});
