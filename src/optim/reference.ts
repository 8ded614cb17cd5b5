// The specification of the fused optimizers: one update as plain loops in float64, the way the
// GPU kernels must compute it (PyTorch's AdamW and SGD, LAMB with bias-corrected moments and a
// per-tensor trust ratio), including global-norm clipping of the averaged gradient.
// Not here: arenas, tables or anything else about how the GPU version is laid out.

import type { OptimizerKind } from './fused.js';

export interface ReferenceConfig {
  kind: OptimizerKind;
  beta1: number;
  beta2: number;
  eps: number;
  momentum: number;
  nesterov: boolean;
  maxGradNorm: number;
}

export interface ReferenceState {
  /** Updates done so far. */
  step: number;
  /** First state per tensor: Adam's m, SGD's momentum buffer. */
  s1: Float64Array[];
  /** Second state per tensor: Adam's v. */
  s2: Float64Array[];
}

export function referenceState(sizes: number[]): ReferenceState {
  return { step: 0, s1: sizes.map((n) => new Float64Array(n)), s2: sizes.map((n) => new Float64Array(n)) };
}

/**
 * Updates `params` in place from `grads` (already averaged over micro-batches) with learning
 * rate `lr` and per-tensor weight decay `decay`; returns the global gradient norm before clipping.
 */
export function referenceStep(
  c: ReferenceConfig,
  lr: number,
  decay: number[],
  params: Float64Array[],
  grads: Float64Array[],
  st: ReferenceState,
): number {
  let sq = 0;
  for (const g of grads) for (const v of g) sq += v * v;
  const norm = Math.sqrt(sq);
  const clip = c.maxGradNorm > 0 ? Math.min(1, c.maxGradNorm / (norm + 1e-6)) : 1;
  const t = ++st.step;
  const bc1 = 1 - c.beta1 ** t;
  const bc2 = 1 - c.beta2 ** t;
  params.forEach((p, k) => {
    const g = grads[k];
    const m = st.s1[k];
    const v = st.s2[k];
    const wd = decay[k];
    if (c.kind === 'adamw') {
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip;
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
        p[i] = p[i] * (1 - lr * wd) - (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + c.eps);
      }
    } else if (c.kind === 'sgd') {
      for (let i = 0; i < p.length; i++) {
        let d = g[i] * clip + wd * p[i];
        if (c.momentum !== 0) {
          m[i] = t === 1 ? d : c.momentum * m[i] + d;
          d = c.nesterov ? d + c.momentum * m[i] : m[i];
        }
        p[i] -= lr * d;
      }
    } else {
      const u = new Float64Array(p.length);
      let ww = 0;
      let uu = 0;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * clip;
        m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
        u[i] = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + c.eps) + wd * p[i];
        ww += p[i] * p[i];
        uu += u[i] * u[i];
      }
      const trust = ww > 0 && uu > 0 ? Math.sqrt(ww) / Math.sqrt(uu) : 1;
      for (let i = 0; i < p.length; i++) p[i] -= lr * trust * u[i];
    }
  });
  return norm;
}
