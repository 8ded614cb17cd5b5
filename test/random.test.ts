// Random-number checks that the registry cannot express: Philox against published known
// answers, GPU bits against the TypeScript stream, reproducibility from (seed, offset), a seed
// fed per run into a compiled plan, and the statistics of 100k samples.
// Statistical bounds are 5 standard errors wide: a correct generator fails one about once in
// 1.7 million runs, and the seeds are fixed, so a pass is stable.
// Not here: GPU-vs-CPU values on small cases and the dropout gradient (test/ops.test.ts).

import { describe, expect, it } from 'vitest';
import { dropout, philox4x32, randomBits, randomNormal, randomUniform } from '../src/ops/random.js';
import { constant, input } from '../src/tensor.js';
import { testEngine } from './support/engine.js';

const N = 100_000;

function moments(v: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, variance: q / (v.length - 1) };
}

const hex = (w: number[]) => w.map((v) => v.toString(16).padStart(8, '0'));

describe('Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    const ones = 0xffffffff;
    expect(hex(philox4x32([ones, ones, ones, ones], [ones, ones]))).toEqual([
      '408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd',
    ]);
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual([
      'd16cfe09', '94fdcceb', '5001e420', '24126ea1',
    ]);
  });

  it('GPU bits equal the TypeScript stream', async () => {
    const engine = await testEngine();
    // With low = 0 and high = 2^24, each value is exactly the top 24 bits of its word.
    for (const [seed, offset] of [[12345, 0], [-7, 3], [2 ** 32 - 1, 1]]) {
      const n = 1029;
      const got = await engine.read(randomUniform([n], seed, 0, 2 ** 24, offset));
      const want = Array.from(randomBits(seed >>> 0, offset, n), (w) => w >>> 8);
      expect(Array.from(got)).toEqual(want);
    }
  });
});

describe('reproducibility', () => {
  it('the same seed gives identical bits; another seed or offset does not', async () => {
    const engine = await testEngine();
    const [a, b, c, d] = await engine.run([
      randomNormal([4099], 42),
      randomNormal([4099], 42),
      randomNormal([4099], 43),
      randomNormal([4099], 42, 0, 1, 1),
    ]);
    expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer));
    const same = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).filter((v, i) => v === y[i]).length;
    expect(same(a, c)).toBeLessThan(5);
    expect(same(a, d)).toBeLessThan(5);
  });

  it('a number seed and a fed seed tensor give the same values; a fresh feed gives fresh values', async () => {
    const engine = await testEngine();
    const seed = input('seed', [], 'i32');
    const x = constant(new Float32Array(999).fill(1), [999]);
    const plan = await engine.compile({ outputs: { u: randomUniform([999], seed), y: dropout(x, 0.25, seed, 2) } });
    try {
      const r7 = await plan.run({ seed: 7 });
      const r7again = await plan.run({ seed: 7 });
      const r8 = await plan.run({ seed: 8 });
      const [u7, y7] = await engine.run([randomUniform([999], 7), dropout(x, 0.25, 7, 2)]);
      expect(r7.u).toEqual(u7);
      expect(r7.y).toEqual(y7);
      expect(r7again.u).toEqual(r7.u);
      expect(r8.u).not.toEqual(r7.u);
      expect(r8.y).not.toEqual(r7.y);
    } finally {
      plan.dispose();
    }
  });
});

describe('statistics of 100k samples', () => {
  it('uniform: range, mean and variance', async () => {
    const engine = await testEngine();
    const v = await engine.read(randomUniform([N], 2024, -1, 3));
    expect(v.every((x) => x >= -1 && x < 3)).toBe(true);
    const { mean, variance } = moments(v);
    // On [0, 1): var = 1/12, the sample variance has variance (1/80 - 1/144) / N; scaled by 4^2.
    expect(Math.abs(mean - 1)).toBeLessThan(5 * 4 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(variance - 16 / 12)).toBeLessThan(5 * 16 * Math.sqrt((1 / 80 - 1 / 144) / N));
  });

  it('normal: mean and standard deviation', async () => {
    const engine = await testEngine();
    const v = await engine.read(randomNormal([N], 99, 3, 2));
    const { mean, variance } = moments(v);
    expect(Math.abs(mean - 3)).toBeLessThan((5 * 2) / Math.sqrt(N));
    // The sample variance of a normal has standard error sigma^2 * sqrt(2 / N).
    expect(Math.abs(variance - 4)).toBeLessThan(5 * 4 * Math.sqrt(2 / N));
    // Tails: P(|z| > 3) = 0.0027 for a normal.
    const tail = Array.from(v).filter((x) => Math.abs(x - 3) > 6).length / N;
    expect(Math.abs(tail - 0.0027)).toBeLessThan(5 * Math.sqrt((0.0027 * 0.9973) / N));
  });

  it('dropout keeps a fraction 1 - p and scales what it keeps by 1 / (1 - p)', async () => {
    const engine = await testEngine();
    const x = constant(new Float32Array(N).fill(1), [N]);
    for (const p of [0.1, 0.5, 0.9]) {
      const y = await engine.read(dropout(x, p, 5));
      const kept = Array.from(y).filter((v) => v !== 0);
      expect(kept.every((v) => Math.abs(v - 1 / (1 - p)) < 1e-6)).toBe(true);
      expect(Math.abs(kept.length / N - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    expect(dropout(x, 0, 5)).toBe(x);
  });
});
