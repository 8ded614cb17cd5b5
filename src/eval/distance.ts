// Distances between two point sets in R^dims, for judging a generative model's samples against
// data without a trained feature network: the squared maximum mean discrepancy (MMD²) with a
// mixture of Gaussian kernels, and the sliced 2-Wasserstein distance. Plain host loops in float64
// over flat (n, dims) arrays; fast enough for a few thousand points in low dimension (2D toy sets,
// small feature vectors). Not here: the Fréchet distance between Gaussian fits (frechet.ts) or
// mode counting (modeCoverage in src/data/toy2d.ts).

import { ConfigError, InputError } from '../errors.js';
import { gaussian, mulberry32 } from '../data/random.js';

function rows(fn: string, name: string, x: Float32Array | Float64Array, dims: number): number {
  if (!Number.isInteger(dims) || dims < 1) throw new ConfigError(`${fn}: dims must be a positive integer, got ${dims}`);
  if (x.length % dims !== 0) {
    throw new InputError(`${fn}: ${name} has length ${x.length}, not a multiple of dims = ${dims}; pass points as (n, ${dims})`);
  }
  return x.length / dims;
}

export interface MmdOptions {
  /**
   * Bandwidths h of the Gaussian kernels exp(-|x - y|² / (2h²)), in data units. The kernel is
   * their mean, so k(x, x) = 1; several scales keep MMD sensitive both to a misplaced cloud and
   * to a blurred mode. Defaults suit data of unit-ish scale (the 2D samplers).
   */
  bandwidths?: readonly number[];
}

export const mmdDefaults = { bandwidths: [0.1, 0.2, 0.5, 1, 2] } as const;

/**
 * Squared MMD between samples a (n, dims) and b (m, dims), the unbiased estimate
 *   1/(n(n-1)) Σ_{i≠j} k(a_i, a_j) + 1/(m(m-1)) Σ_{i≠j} k(b_i, b_j) - 2/(nm) Σ_{i,j} k(a_i, b_j)
 * with k the mean of Gaussian kernels over `bandwidths`. Its expectation is 0 when a and b come
 * from the same distribution, so a single estimate can be slightly negative. Needs n, m >= 2.
 * Cost O((n + m)² · dims · bandwidths).
 */
export function mmd(a: Float32Array, b: Float32Array, dims: number, options: MmdOptions = {}): number {
  const n = rows('mmd', 'a', a, dims);
  const m = rows('mmd', 'b', b, dims);
  if (n < 2 || m < 2) throw new InputError(`mmd: the unbiased estimate needs at least 2 points per set, got ${n} and ${m}`);
  const bw = options.bandwidths ?? mmdDefaults.bandwidths;
  if (bw.length === 0 || bw.some((h) => !(h > 0))) {
    throw new ConfigError(`mmd: bandwidths must be a non-empty list of positive numbers, got [${bw.join(', ')}]`);
  }
  const coef = bw.map((h) => -1 / (2 * h * h));
  const kernel = (x: Float32Array, i: number, y: Float32Array, j: number): number => {
    let d2 = 0;
    for (let d = 0; d < dims; d++) {
      const t = x[i * dims + d] - y[j * dims + d];
      d2 += t * t;
    }
    let k = 0;
    for (const c of coef) k += Math.exp(c * d2);
    return k / coef.length;
  };
  // Within-set sums over i < j, doubled: the kernel is symmetric.
  const within = (x: Float32Array, count: number): number => {
    let s = 0;
    for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) s += kernel(x, i, x, j);
    return (2 * s) / (count * (count - 1));
  };
  let cross = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) cross += kernel(a, i, b, j);
  return within(a, n) + within(b, m) - (2 * cross) / (n * m);
}

export interface SlicedWassersteinOptions {
  /** Random unit directions the sets are projected onto. */
  projections?: number;
  /** Seed of the directions: the same seed compares every pair of sets along the same lines. */
  seed?: number;
}

export const slicedWassersteinDefaults = { projections: 128, seed: 1 } as const;

/**
 * Squared 1D 2-Wasserstein distance between two sorted samples, exactly, through their quantile
 * functions: W2² = ∫_0^1 (Fa⁻¹(t) - Fb⁻¹(t))² dt, where each quantile function is a step
 * function (sample i holds [i/n, (i+1)/n)). Walking the merged step boundaries handles unequal
 * counts; with equal counts it is the mean of squared differences of the sorted values.
 */
function w2SquaredSorted(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  let t = 0;
  let s = 0;
  while (i < n && j < m) {
    // Next boundary in exact rational arithmetic (i+1)/n vs (j+1)/m, compared by cross-multiplying.
    const ci = (i + 1) * m;
    const cj = (j + 1) * n;
    const next = Math.min(ci, cj) / (n * m);
    const d = x[i] - y[j];
    s += (next - t) * d * d;
    t = next;
    if (ci <= cj) i++;
    if (cj <= ci) j++;
  }
  return s;
}

/**
 * Sliced 2-Wasserstein distance between a (n, dims) and b (m, dims):
 *   SW₂ = sqrt( mean over directions u of W2²(a·u, b·u) )
 * over `projections` random unit directions (uniform on the sphere, seeded). Each 1D W2 is exact
 * (sort both projections, integrate the quantile difference), so n and m may differ. In data
 * units: two sets that differ by a shift δ give |δ| / sqrt(dims) in expectation over directions
 * (W2 along u is |δ·u|, and the mean of (δ·u)² is |δ|²/dims).
 */
export function slicedWasserstein(a: Float32Array, b: Float32Array, dims: number, options: SlicedWassersteinOptions = {}): number {
  const n = rows('slicedWasserstein', 'a', a, dims);
  const m = rows('slicedWasserstein', 'b', b, dims);
  if (n < 1 || m < 1) throw new InputError(`slicedWasserstein: both sets need at least one point, got ${n} and ${m}`);
  const projections = options.projections ?? slicedWassersteinDefaults.projections;
  if (!Number.isInteger(projections) || projections < 1) {
    throw new ConfigError(`slicedWasserstein: projections must be a positive integer, got ${projections}`);
  }
  const rand = mulberry32(options.seed ?? slicedWassersteinDefaults.seed);
  const u = new Float64Array(dims);
  const pa = new Float64Array(n);
  const pb = new Float64Array(m);
  const project = (x: Float32Array, count: number, out: Float64Array) => {
    for (let i = 0; i < count; i++) {
      let s = 0;
      for (let d = 0; d < dims; d++) s += x[i * dims + d] * u[d];
      out[i] = s;
    }
    out.sort(); // typed-array sort is numeric
  };
  let total = 0;
  for (let p = 0; p < projections; p++) {
    // A normalised Gaussian vector is uniform on the sphere.
    let norm = 0;
    do {
      norm = 0;
      for (let d = 0; d < dims; d++) {
        u[d] = gaussian(rand);
        norm += u[d] * u[d];
      }
    } while (norm < 1e-12);
    norm = Math.sqrt(norm);
    for (let d = 0; d < dims; d++) u[d] /= norm;
    project(a, n, pa);
    project(b, m, pb);
    total += w2SquaredSorted(pa, pb);
  }
  return Math.sqrt(total / projections);
}
