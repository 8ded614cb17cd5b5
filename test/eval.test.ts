// Distribution-quality metrics on the host: MMD² (hand-computed case, same vs different
// distributions), the sliced 2-Wasserstein distance (exact 1D quantile integral with unequal
// counts, a shift's closed form), the Jacobi eigen solver, and the Fréchet distance (zero for
// equal fits, the diagonal and a non-commuting 2×2 closed form, symmetry, from samples).

import { describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from '../src/data/random.js';
import { sample2D } from '../src/data/toy2d.js';
import { mmd, slicedWasserstein } from '../src/eval/distance.js';
import { featureStats, frechetDistance, frechetFromStats, symmetricEigen, type FeatureStats } from '../src/eval/frechet.js';
import { ConfigError, InputError } from '../src/errors.js';

function normals(n: number, dims: number, seed: number, scale: number[] = [], shift: number[] = []): Float32Array {
  const rand = mulberry32(seed);
  const x = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) for (let d = 0; d < dims; d++) x[i * dims + d] = (scale[d] ?? 1) * gaussian(rand) + (shift[d] ?? 0);
  return x;
}

describe('MMD²', () => {
  it('matches the unbiased formula on a tiny hand-computed case', () => {
    const a = new Float32Array([0, 1]);
    const b = new Float32Array([0, 2]);
    const k = (d: number) => Math.exp(-(d * d) / 2); // bandwidth 1
    const expected = k(1) + k(2) - (2 / 4) * (k(0) + k(2) + k(1) + k(1));
    expect(mmd(a, b, 1, { bandwidths: [1] })).toBeCloseTo(expected, 12);
    // The kernel is the mean over bandwidths.
    const k2 = (d: number) => (Math.exp(-(d * d) / 2) + Math.exp(-(d * d) / 8)) / 2;
    const expected2 = k2(1) + k2(2) - (2 / 4) * (k2(0) + k2(2) + k2(1) + k2(1));
    expect(mmd(a, b, 1, { bandwidths: [1, 2] })).toBeCloseTo(expected2, 12);
    expect(mmd(b, a, 1, { bandwidths: [1, 2] })).toBeCloseTo(expected2, 12);
  });

  it('is near 0 between two samples of one distribution and far from it between two', () => {
    const a = sample2D('moons', 600, 1);
    const a2 = sample2D('moons', 600, 2);
    const b = sample2D('spirals', 600, 3);
    const same = mmd(a, a2, 2);
    const diff = mmd(a, b, 2);
    expect(Math.abs(same)).toBeLessThan(0.005);
    expect(diff).toBeGreaterThan(0.02);
    expect(diff).toBeGreaterThan(10 * Math.abs(same));
    // Unequal counts work, and a small shift is seen.
    const shifted = sample2D('moons', 400, 4).map((v, i) => (i % 2 === 0 ? v + 0.3 : v));
    expect(mmd(a, shifted, 2)).toBeGreaterThan(10 * Math.abs(same));
  });

  it('rejects malformed input', () => {
    expect(() => mmd(new Float32Array(5), new Float32Array(4), 2)).toThrow(InputError);
    expect(() => mmd(new Float32Array(2), new Float32Array(4), 2)).toThrow(InputError);
    expect(() => mmd(new Float32Array(4), new Float32Array(4), 2, { bandwidths: [0] })).toThrow(ConfigError);
  });
});

describe('sliced Wasserstein', () => {
  it('integrates 1D quantile functions exactly, with unequal counts', () => {
    // Fa⁻¹: 0 on [0, 1/2), 1 on [1/2, 1); Fb⁻¹: 0, 0.5, 1 on thirds. The squared difference is
    // 0.25 on [1/3, 2/3), so W2² = 1/12. In 1D every direction is ±1, which leaves W2 unchanged.
    const w = slicedWasserstein(new Float32Array([1, 0]), new Float32Array([0.5, 1, 0]), 1, { projections: 3 });
    expect(w).toBeCloseTo(Math.sqrt(1 / 12), 12);
    // Equal counts: the root mean squared difference of the sorted values.
    const w2 = slicedWasserstein(new Float32Array([3, 1, 2]), new Float32Array([0, 5, 1]), 1);
    expect(w2).toBeCloseTo(Math.sqrt((1 + 1 + 4) / 3), 12);
  });

  it('gives |δ|/sqrt(dims) for a shift δ, from a deterministic shift and from fresh samples', () => {
    const delta = [1, 0.5];
    const expected = Math.hypot(...delta) / Math.SQRT2;
    // A shifted copy is shifted by exactly δ·u along every direction u; only the directions'
    // Monte Carlo error remains (about 1% for 4096 of them).
    const copy = normals(300, 2, 1);
    const shiftedCopy = copy.map((v, i) => v + delta[i % 2]);
    expect(Math.abs(slicedWasserstein(copy, shiftedCopy, 2, { projections: 4096 }) / expected - 1)).toBeLessThan(0.03);
    const a = normals(2000, 2, 1);
    const b = normals(2000, 2, 2, [], delta);
    expect(Math.abs(slicedWasserstein(a, b, 2, { projections: 1024 }) / expected - 1)).toBeLessThan(0.06);
    // Two samples of one distribution: small. Same seed, same directions, same value.
    const a2 = normals(2000, 2, 3);
    expect(slicedWasserstein(a, a2, 2)).toBeLessThan(0.12);
    expect(slicedWasserstein(a, b, 2, { seed: 7 })).toBe(slicedWasserstein(a, b, 2, { seed: 7 }));
    // In 5D the expected value shrinks with sqrt(dims).
    const d5 = [1, -1, 0.5, 0, 2];
    const c = normals(300, 5, 4);
    const c2 = c.map((v, i) => v + d5[i % 5]);
    expect(Math.abs(slicedWasserstein(c, c2, 5, { projections: 4096 }) / (Math.hypot(...d5) / Math.sqrt(5)) - 1)).toBeLessThan(0.04);
  });

  it('rejects malformed input', () => {
    expect(() => slicedWasserstein(new Float32Array(3), new Float32Array(4), 2)).toThrow(InputError);
    expect(() => slicedWasserstein(new Float32Array(4), new Float32Array(4), 2, { projections: 0 })).toThrow(ConfigError);
  });
});

describe('symmetric Jacobi eigen solver', () => {
  it('returns an orthonormal basis with A V = V Λ, eigenvalues descending', () => {
    for (const n of [1, 2, 7, 40]) {
      const rand = mulberry32(n);
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = i; j < n; j++) {
          const v = 2 * rand() - 1;
          a[i * n + j] = v;
          a[j * n + i] = v;
        }
      }
      const { values, vectors } = symmetricEigen(a, n);
      let trace = 0;
      for (let i = 0; i < n; i++) trace += a[i * n + i];
      expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 10);
      for (let k = 1; k < n; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
      for (let k = 0; k < n; k++) {
        for (let l = 0; l < n; l++) {
          let dot = 0;
          for (let i = 0; i < n; i++) dot += vectors[i * n + k] * vectors[i * n + l];
          expect(dot).toBeCloseTo(k === l ? 1 : 0, 10);
        }
        for (let i = 0; i < n; i++) {
          let av = 0;
          for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[j * n + k];
          expect(av).toBeCloseTo(values[k] * vectors[i * n + k], 10);
        }
      }
    }
  });
});

describe('Fréchet distance', () => {
  const stats = (mean: number[], cov: number[]): FeatureStats => ({
    mean: Float64Array.from(mean), cov: Float64Array.from(cov), n: 0, dims: mean.length,
  });
  const diag = (v: number[]) => v.flatMap((x, i) => v.map((_, j) => (i === j ? x : 0)));

  it('is 0 for identical Gaussians and matches the diagonal closed form', () => {
    const cov = [2, 0.3, -0.1, 0.3, 1, 0.2, -0.1, 0.2, 0.5];
    expect(frechetFromStats(stats([1, 2, 3], cov), stats([1, 2, 3], cov))).toBeCloseTo(0, 10);
    const va = [1, 4, 0.25, 9];
    const vb = [2, 1, 0.25, 0.01];
    const ma = [0, 1, -1, 2];
    const mb = [0.5, 1, 1, 0];
    let expected = 0;
    for (let i = 0; i < 4; i++) expected += (ma[i] - mb[i]) ** 2 + (Math.sqrt(va[i]) - Math.sqrt(vb[i])) ** 2;
    expect(frechetFromStats(stats(ma, diag(va)), stats(mb, diag(vb)))).toBeCloseTo(expected, 10);
  });

  it('matches the 2×2 closed form for covariances that do not commute, and is symmetric', () => {
    // For 2×2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); Σa Σb has the eigenvalues of
    // Σa^{1/2} Σb Σa^{1/2}, so tr (Σa Σb)^{1/2} = sqrt(tr(Σa Σb) + 2 sqrt(det Σa det Σb)).
    const sa = [2, 0.8, 0.8, 1];
    const sb = [0.5, -0.3, -0.3, 3];
    const trAB = sa[0] * sb[0] + sa[1] * sb[2] + sa[2] * sb[1] + sa[3] * sb[3];
    const det = (m: number[]) => m[0] * m[3] - m[1] * m[2];
    const trSqrt = Math.sqrt(trAB + 2 * Math.sqrt(det(sa) * det(sb)));
    const expected = 1 ** 2 + 2 ** 2 + sa[0] + sa[3] + sb[0] + sb[3] - 2 * trSqrt;
    const a = stats([0, 0], sa);
    const b = stats([1, -2], sb);
    expect(frechetFromStats(a, b)).toBeCloseTo(expected, 10);
    expect(frechetFromStats(b, a)).toBeCloseTo(expected, 10);
    // Larger and random: FD(a, b) = FD(b, a) although the computation is not symmetric.
    const x = normals(300, 16, 1).map((v, i) => v * (1 + (i % 16) / 4));
    const y = normals(300, 16, 2).map((v, i, arr) => v + 0.5 * arr[i - (i % 16)]);
    const fab = frechetDistance(x, y, 16);
    expect(fab).toBeGreaterThan(1);
    expect(frechetDistance(y, x, 16)).toBeCloseTo(fab, 8);
  });

  it('estimates the closed form from samples, and is 0 for the same samples', () => {
    const va = [1, 4, 0.25, 1];
    const vb = [2, 1, 0.25, 1];
    const mb = [0.5, 0, 1, -1];
    let expected = 0;
    for (let i = 0; i < 4; i++) expected += mb[i] ** 2 + (Math.sqrt(va[i]) - Math.sqrt(vb[i])) ** 2;
    const a = normals(20000, 4, 1, va.map(Math.sqrt));
    const b = normals(20000, 4, 2, vb.map(Math.sqrt), mb);
    expect(Math.abs(frechetDistance(a, b, 4) - expected)).toBeLessThan(0.05 * expected);
    expect(frechetDistance(a, a, 4)).toBeCloseTo(0, 8);
    expect(frechetDistance(a, normals(20000, 4, 3, va.map(Math.sqrt)), 4)).toBeLessThan(0.01);
    const s = featureStats(new Float32Array([1, 2, 3, 6]), 2);
    expect(Array.from(s.mean)).toEqual([2, 4]);
    expect(Array.from(s.cov)).toEqual([2, 4, 4, 8]);
  });

  it('handles 128 features and rejects mismatched input', () => {
    const a = normals(1000, 128, 1);
    const fd = frechetDistance(a, a.map((v) => v * 1.2), 128);
    // μb = 1.2 μa and Σb = 1.44 Σa (up to float32 rounding), so FD = 0.04 (|μa|² + tr Σa).
    let total = 0;
    const s = featureStats(a, 128);
    for (let i = 0; i < 128; i++) total += s.cov[i * 128 + i] + s.mean[i] ** 2;
    expect(fd).toBeCloseTo(0.04 * total, 3);
    expect(() => frechetDistance(new Float32Array(6), new Float32Array(8), 3)).toThrow(InputError);
    expect(() => frechetDistance(new Float32Array(3), new Float32Array(6), 3)).toThrow(InputError);
    expect(() => frechetFromStats(featureStats(new Float32Array(6), 3), featureStats(new Float32Array(8), 2))).toThrow(InputError);
  });
});
