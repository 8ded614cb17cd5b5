// Generated data for generative models, on the host: the seeded 2D samplers (determinism, scale,
// the ring's modes and the mode-coverage score) and the digit glyph images (determinism, layout
// and range, anti-aliasing, classes that differ from each other and images that vary within one).

import { describe, expect, it } from 'vitest';
import {
  modeCoverage, moons, ringCentres, ringOfGaussians, sample2D, samplers2D, spirals, swissRoll,
} from '../src/data/toy2d.js';
import { glyphs } from '../src/data/glyphs.js';
import { ConfigError, InputError } from '../src/errors.js';

/** Bitwise equality of two float arrays (vitest's deep equality is slow on large typed arrays). */
function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function meanStd(x: Float32Array, dims: number): { mean: number[]; std: number[] } {
  const n = x.length / dims;
  const mean = new Array<number>(dims).fill(0);
  const std = new Array<number>(dims).fill(0);
  for (let i = 0; i < n; i++) for (let d = 0; d < dims; d++) mean[d] += x[i * dims + d] / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < dims; d++) std[d] += (x[i * dims + d] - mean[d]) ** 2 / n;
  return { mean, std: std.map(Math.sqrt) };
}

describe('2D samplers', () => {
  it('are deterministic for a seed, differ across seeds and sit at unit-ish scale', () => {
    expect(samplers2D.map((s) => s.name)).toEqual(['swissroll', 'moons', 'ring', 'spirals']);
    for (const { name } of samplers2D) {
      const a = sample2D(name, 3000, 4);
      expect(a).toBeInstanceOf(Float32Array);
      expect(a.length).toBe(6000);
      expect(same(sample2D(name, 3000, 4), a)).toBe(true);
      expect(same(sample2D(name, 3000, 5), a)).toBe(false);
      expect(a.every(Number.isFinite)).toBe(true);
      const { mean, std } = meanStd(a, 2);
      for (const m of mean) expect(Math.abs(m)).toBeLessThan(0.15);
      for (const s of std) {
        expect(s).toBeGreaterThan(0.45);
        expect(s).toBeLessThan(1.1);
      }
    }
    expect(sample2D('moons', 0, 1).length).toBe(0);
    expect(() => sample2D('circles' as never, 10)).toThrow(ConfigError);
    expect(() => swissRoll(2.5)).toThrow(ConfigError);
  });

  it('leaves the labelled spirals and moons as they were', () => {
    const s = spirals(4, 2, 0, 1);
    expect(s.x[0]).toBeCloseTo(0.125 * Math.cos(0.375 * Math.PI), 6);
    expect(s.x[1]).toBeCloseTo(0.125 * Math.sin(0.375 * Math.PI), 6);
    expect(Array.from(s.y)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    const m = moons(3, 0, 1);
    expect(Array.from(m.x)).toEqual([1, 0, Math.fround(Math.cos(Math.PI / 2)), 1, -1, Math.fround(Math.sin(Math.PI)), 0, 0.5,
      1, -0.5, 2, Math.fround(0.5 - Math.sin(Math.PI))]);
  });

  it('draws the ring around its centres, every mode, each point near the mode it names', () => {
    const { x, mode, centres } = ringOfGaussians(4000, { std: 0.05 }, 2);
    expect(centres).toEqual(ringCentres(8, Math.SQRT2));
    const perMode = new Array<number>(8).fill(0);
    let meanDist = 0;
    for (let i = 0; i < 4000; i++) {
      const k = mode[i];
      perMode[k]++;
      const dist = Math.hypot(x[2 * i] - centres[2 * k], x[2 * i + 1] - centres[2 * k + 1]);
      expect(dist).toBeLessThan(0.05 * 5);
      meanDist += dist / 4000;
    }
    // The distance of a 2D isotropic Gaussian point to its centre is Rayleigh: mean σ·sqrt(π/2).
    expect(meanDist).toBeCloseTo(0.05 * Math.sqrt(Math.PI / 2), 2);
    for (const c of perMode) expect(Math.abs(c - 500)).toBeLessThan(100);
    const other = ringOfGaussians(30, { modes: 3, radius: 1, std: 0 }, 1);
    for (let i = 0; i < 30; i++) expect(Math.hypot(other.x[2 * i], other.x[2 * i + 1])).toBeCloseTo(1, 6);
  });

  it('counts covered modes: 8 of 8 for real data, 1 for a collapsed set, 0 off the ring', () => {
    const { x, centres } = ringOfGaussians(2000, {}, 3);
    const real = modeCoverage(x, centres);
    expect(real.covered).toBe(8);
    expect(real.counts.reduce((s, c) => s + c, 0)).toBeGreaterThan(1950);
    expect(real.highQuality).toBeGreaterThan(0.97);
    // A collapsed generator: every sample near mode 3.
    const collapsed = ringOfGaussians(2000, { modes: 1, radius: 0 }, 4).x;
    for (let i = 0; i < 2000; i++) {
      collapsed[2 * i] += centres[6];
      collapsed[2 * i + 1] += centres[7];
    }
    const c = modeCoverage(collapsed, centres);
    expect(c.covered).toBe(1);
    expect(c.counts[3]).toBeGreaterThan(1950);
    // Blurry samples (the ring shrunk to half radius) reach no mode at all.
    const shrunk = x.map((v) => v / 2);
    expect(modeCoverage(shrunk, centres)).toMatchObject({ covered: 0, highQuality: 0 });
    // A mode with a handful of samples is not covered under minShare.
    const sparse = new Float32Array(2 * 1010);
    for (let i = 0; i < 1010; i++) {
      const k = i < 1000 ? i % 7 : 7;
      sparse[2 * i] = centres[2 * k];
      sparse[2 * i + 1] = centres[2 * k + 1];
    }
    expect(modeCoverage(sparse, centres).covered).toBe(7);
    expect(modeCoverage(sparse, centres, { minShare: 0.005 }).covered).toBe(8);
    expect(() => modeCoverage(new Float32Array(3), centres)).toThrow(InputError);
  });
});

describe('digit glyphs', () => {
  it('are deterministic, NCHW, in [-1, 1] with a -1 background and anti-aliased edges', () => {
    for (const size of [16, 28]) {
      const g = glyphs(200, { size, seed: 9 });
      expect(g.size).toBe(size);
      expect(g.classes).toBe(10);
      expect(g.images.length).toBe(200 * size * size);
      expect(g.labels.length).toBe(200);
      const again = glyphs(200, { size, seed: 9 });
      expect(same(again.images, g.images)).toBe(true);
      expect(Array.from(again.labels)).toEqual(Array.from(g.labels));
      expect(same(glyphs(200, { size, seed: 10 }).images, g.images)).toBe(false);
      let min = Infinity;
      let max = -Infinity;
      let partial = 0;
      let background = 0;
      for (const v of g.images) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        if (v > -1 && v < 1) partial++;
        if (v === -1) background++;
      }
      expect(min).toBe(-1);
      expect(max).toBe(1);
      expect(partial).toBeGreaterThan(0);
      // Strokes are thin: most pixels are background, and the one-pixel border almost always is.
      expect(background / g.images.length).toBeGreaterThan(0.6);
      let border = 0;
      let borderInk = 0;
      for (let b = 0; b < 200; b++) {
        for (let k = 0; k < size; k++) {
          for (const [i, j] of [[0, k], [size - 1, k], [k, 0], [k, size - 1]]) {
            border++;
            if (g.images[b * size * size + j * size + i] > -1) borderInk++;
          }
        }
      }
      expect(borderInk / border).toBeLessThan(0.02);
      for (const l of g.labels) expect(l >= 0 && l <= 9).toBe(true);
    }
  });

  it('draws classes that differ from each other (nearest class mean classifies) and vary within', () => {
    const size = 16;
    const px = size * size;
    const train = glyphs(2000, { size, seed: 1 });
    const means = new Float64Array(10 * px);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 2000; i++) {
      const c = train.labels[i];
      counts[c]++;
      for (let k = 0; k < px; k++) means[c * px + k] += train.images[i * px + k];
    }
    for (let c = 0; c < 10; c++) {
      expect(counts[c]).toBeGreaterThan(120);
      for (let k = 0; k < px; k++) means[c * px + k] /= counts[c];
    }
    // Class means differ pairwise...
    for (let c = 0; c < 10; c++) {
      for (let d = c + 1; d < 10; d++) {
        let dist = 0;
        for (let k = 0; k < px; k++) dist += (means[c * px + k] - means[d * px + k]) ** 2;
        expect(Math.sqrt(dist / px)).toBeGreaterThan(0.1);
      }
    }
    // ... enough that the nearest mean labels fresh images far above chance (10%).
    const test = glyphs(500, { size, seed: 2 });
    let correct = 0;
    for (let i = 0; i < 500; i++) {
      let best = -1;
      let bestD = Infinity;
      for (let c = 0; c < 10; c++) {
        let dist = 0;
        for (let k = 0; k < px; k++) dist += (test.images[i * px + k] - means[c * px + k]) ** 2;
        if (dist < bestD) { bestD = dist; best = c; }
      }
      if (best === test.labels[i]) correct++;
    }
    expect(correct / 500).toBeGreaterThan(0.8);
    // Within a class, images vary: the per-pixel spread about the class mean is substantial.
    let spread = 0;
    for (let i = 0; i < 2000; i++) {
      const c = train.labels[i];
      for (let k = 0; k < px; k++) spread += (train.images[i * px + k] - means[c * px + k]) ** 2;
    }
    expect(Math.sqrt(spread / (2000 * px))).toBeGreaterThan(0.25);
  });

  it('draws only the asked classes, rejects bad options, and draws a large set whole', () => {
    const g = glyphs(300, { size: 16, seed: 3, classes: [1, 7] });
    expect(new Set(g.labels)).toEqual(new Set([1, 7]));
    expect(() => glyphs(10, { size: 4 })).toThrow(ConfigError);
    expect(() => glyphs(10, { classes: [10] })).toThrow(ConfigError);
    expect(() => glyphs(10, { classes: [] })).toThrow(ConfigError);
    expect(glyphs(0).images.length).toBe(0);
    const big = glyphs(10000, { size: 28, seed: 1 });
    expect(big.images.length).toBe(10000 * 28 * 28);
    expect(big.labels.length).toBe(10000);
    expect(new Set(big.labels).size).toBe(10);
  });
});
