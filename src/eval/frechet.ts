// The Fréchet distance between two sets of feature vectors, the statistic behind FID: fit a
// Gaussian to each set (mean and covariance, in float64) and take the 2-Wasserstein distance
// between the fits,
//   FD = |μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^{1/2}).
// The trace of the square root comes from the eigenvalues of the symmetric matrix
// Σa^{1/2} Σb Σa^{1/2} (similar to Σa Σb, so it has the same eigenvalues), both found with a
// cyclic Jacobi eigen solver written here: no general (non-symmetric) square root, no complex
// parts to drop, and negative round-off eigenvalues are clamped to 0. Meant for dims up to ~128.
// Not here: the feature network (FID proper uses Inception features; for small images the caller
// can use a classifier's penultimate layer or raw pixels) or kernel distances (distance.ts).

import { ConfigError, InputError } from '../errors.js';

/** Mean (dims,) and covariance (dims, dims), row-major, of n feature vectors. */
export interface FeatureStats {
  mean: Float64Array;
  cov: Float64Array;
  n: number;
  dims: number;
}

/**
 * Mean and covariance (unbiased: divided by n - 1, as numpy.cov) of feats (n, dims), accumulated
 * in float64 about the mean (two passes), so large offsets do not cancel the variances.
 */
export function featureStats(feats: Float32Array | Float64Array, dims: number): FeatureStats {
  if (!Number.isInteger(dims) || dims < 1) throw new ConfigError(`featureStats: dims must be a positive integer, got ${dims}`);
  if (feats.length % dims !== 0) {
    throw new InputError(`featureStats: feats has length ${feats.length}, not a multiple of dims = ${dims}; pass (n, ${dims})`);
  }
  const n = feats.length / dims;
  if (n < 2) throw new InputError(`featureStats: a covariance needs at least 2 vectors, got ${n}`);
  const mean = new Float64Array(dims);
  for (let i = 0; i < n; i++) for (let d = 0; d < dims; d++) mean[d] += feats[i * dims + d];
  for (let d = 0; d < dims; d++) mean[d] /= n;
  const cov = new Float64Array(dims * dims);
  const x = new Float64Array(dims);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dims; d++) x[d] = feats[i * dims + d] - mean[d];
    for (let p = 0; p < dims; p++) {
      const xp = x[p];
      for (let q = p; q < dims; q++) cov[p * dims + q] += xp * x[q];
    }
  }
  for (let p = 0; p < dims; p++) {
    for (let q = p; q < dims; q++) {
      const v = cov[p * dims + q] / (n - 1);
      cov[p * dims + q] = v;
      cov[q * dims + p] = v;
    }
  }
  return { mean, cov, n, dims };
}

/** Eigenvalues in descending order and, column k of `vectors` (row-major n×n), their eigenvectors. */
export interface SymmetricEigen {
  values: Float64Array;
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric matrix (n, n), row-major, by cyclic Jacobi rotations: each
 * rotation zeroes one off-diagonal pair exactly, and sweeps repeat until the off-diagonal mass is
 * negligible against the whole (quadratic convergence after the first few sweeps). Slower than
 * tridiagonal QR for large n, but short, accurate for small eigenvalues, and always returns an
 * orthonormal basis. Only the upper triangle's symmetry is assumed, not checked.
 */
export function symmetricEigen(matrix: Float64Array, n: number): SymmetricEigen {
  if (matrix.length !== n * n) throw new InputError(`symmetricEigen: expected ${n}×${n} = ${n * n} entries, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let k = 0; k < n * n; k++) total += a[k] * a[k];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * total) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // Rotation angle φ with tan φ = t chosen as the smaller root: |φ| <= π/4, stable.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        if (!Number.isFinite(t) || t === 0) continue; // |theta| overflowed: apq is negligible
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- Jᵀ A J: columns p and q, then rows p and q.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        // V <- V J accumulates the eigenvectors as columns.
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    values[k] = a[src * n + src];
    for (let i = 0; i < n; i++) vectors[i * n + k] = v[i * n + src];
  });
  return { values, vectors };
}

/** Square root of a symmetric positive semi-definite matrix, V diag(sqrt(max(λ, 0))) Vᵀ. */
function sqrtPsd(m: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * r;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return out;
}

/** FD between two Gaussian fits, e.g. a cached reference set's stats and a fresh sample's. */
export function frechetFromStats(a: FeatureStats, b: FeatureStats): number {
  const d = a.dims;
  if (b.dims !== d || a.mean.length !== d || b.mean.length !== d || a.cov.length !== d * d || b.cov.length !== d * d) {
    throw new InputError(`frechetFromStats: stats of ${a.dims} and ${b.dims} dims (or malformed); both sets need the same features`);
  }
  let dmu2 = 0;
  for (let i = 0; i < d; i++) dmu2 += (a.mean[i] - b.mean[i]) ** 2;
  let trA = 0;
  let trB = 0;
  for (let i = 0; i < d; i++) {
    trA += a.cov[i * d + i];
    trB += b.cov[i * d + i];
  }
  // M = Σa^{1/2} Σb Σa^{1/2}: symmetric PSD, eigenvalues those of Σa Σb.
  const ra = sqrtPsd(a.cov, d);
  const tmp = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const r = ra[i * d + k];
      if (r === 0) continue;
      for (let j = 0; j < d; j++) tmp[i * d + j] += r * b.cov[k * d + j];
    }
  }
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const t = tmp[i * d + k];
      if (t === 0) continue;
      for (let j = 0; j < d; j++) m[i * d + j] += t * ra[k * d + j];
    }
  }
  // Round-off leaves M a hair off symmetric; Jacobi assumes symmetry, so average it away.
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const s = 0.5 * (m[i * d + j] + m[j * d + i]);
      m[i * d + j] = s;
      m[j * d + i] = s;
    }
  }
  let trSqrt = 0;
  for (const lam of symmetricEigen(m, d).values) trSqrt += Math.sqrt(Math.max(lam, 0));
  // Exactly equal fits can come out at -1e-15; a distance is never negative.
  return Math.max(0, dmu2 + trA + trB - 2 * trSqrt);
}

/**
 * Fréchet distance between feature sets a (n, dims) and b (m, dims), n, m >= 2. Like FID it is
 * biased upwards for small samples (the covariance estimates are noisy), so compare scores
 * computed with the same sample sizes.
 */
export function frechetDistance(featsA: Float32Array | Float64Array, featsB: Float32Array | Float64Array, dims: number): number {
  return frechetFromStats(featureStats(featsA, dims), featureStats(featsB, dims));
}
