// The specification of fused attention (attention.ts): where each operand's elements are (the
// two layouts, whose strides the kernels are given too) and the plain-loop float64 references
// of attention and attentionBackward that every kernel variant is checked against.
// Mixed precision is specified here as well: with q, k, v stored f16 the inputs are f16
// values, every sum is float64, and o is rounded to f16 once at the end, as the kernels round
// their f32 result; lse and the backward's gradients are never rounded.
// Not here: shape checks, kernels, variants or the test cases (attention.ts).

import { roundToHalf } from '../half.js';
import type { TensorSpec } from '../tensor.js';
import { keepThreshold, randomBits } from './random.js';
import type { AttentionAttrs } from './attention.js';
import type { HostTensor } from './types.js';

/** Where every operand's elements are: strides and offsets in elements. */
export interface Layout {
  B: number;
  H: number;
  T: number;
  hs: number;
  /** Batch, head and row strides of q, k, v (and of dq, dk, dv), and of o (and dO). */
  qkvStrides: [number, number, number];
  oStrides: [number, number, number];
  /** Offsets of k and v from q in their buffers, and of dk and dv from dq in the gradient. */
  kOff: number;
  vOff: number;
  dkOff: number;
  dvOff: number;
}

/** The layout, from the first input: q (B, H, T, hs), or the packed qkv (B, T, 3 H hs). */
export function layoutOf(x: TensorSpec, a: AttentionAttrs): Layout {
  if (!a.heads) {
    const [B, H, T, hs] = x.shape;
    const strides: [number, number, number] = [H * T * hs, T * hs, hs];
    const n = B * H * T * hs;
    return { B, H, T, hs, qkvStrides: strides, oStrides: strides, kOff: 0, vOff: 0, dkOff: n, dvOff: 2 * n };
  }
  const [B, T, C3] = x.shape;
  const C = C3 / 3;
  const H = a.heads;
  const hs = C / H;
  return { B, H, T, hs, qkvStrides: [T * C3, hs, C3], oStrides: [T * C, hs, C], kOff: C, vOff: 2 * C, dkOff: C, dvOff: 2 * C };
}

/** The shape of o: q's, or (B, T, C) packed. */
export const outShape = (L: Layout, a: AttentionAttrs) => (a.heads ? [L.B, L.T, L.H * L.hs] : [L.B, L.H, L.T, L.hs]);

/** The gradient's shape: dq, dk, dv stacked (3, B, H, T, hs), or packed like qkv. */
export const gradShape = (x: TensorSpec, a: AttentionAttrs) => (a.heads ? x.shape : [3, ...x.shape]);

// ---------------------------------------------------------------------------------------------
// References: plain loops in float64.

/** The dropout factor of every weight: 0 or 1 / (1 - p), from dropout()'s stream. */
function dropFactors(seed: HostTensor, a: AttentionAttrs, n: number): Float64Array | null {
  if (a.p === 0) return null;
  const bits = randomBits(seed.data[0] >>> 0, a.offset, n);
  const t = keepThreshold(a.p);
  const keep = 1 / (1 - a.p);
  return Float64Array.from(bits, (w) => (w >= t ? keep : 0));
}

/** Swaps axes 1 and 2 of a (B, X, Y, n) array: (B, T, H, hs) <-> (B, H, T, hs). */
function swap12(x: ArrayLike<number>, B: number, X: number, Y: number, n: number): Float64Array {
  const out = new Float64Array(B * X * Y * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < X; i++) {
      for (let j = 0; j < Y; j++) {
        for (let d = 0; d < n; d++) out[((b * Y + j) * X + i) * n + d] = x[((b * X + i) * Y + j) * n + d];
      }
    }
  }
  return out;
}

/** q, k, v as (B, H, T, hs) arrays: the inputs themselves, or unpacked from (B, T, 3, H, hs). */
function qkvHeads(ins: HostTensor[], L: Layout, a: AttentionAttrs): Float64Array[] {
  if (!a.heads) return ins.slice(0, 3).map((x) => x.data as Float64Array);
  const { B, H, T, hs } = L;
  const all = swap12(ins[0].data, B, T, 3 * H, hs); // (B, 3, H, T, hs)
  const n = H * T * hs;
  return [0, 1, 2].map((part) => {
    const out = new Float64Array(B * n);
    for (let b = 0; b < B; b++) out.set(all.subarray((3 * b + part) * n, (3 * b + part + 1) * n), b * n);
    return out;
  });
}

/** The inverse of qkvHeads for the gradient: (3, B, H, T, hs), or packed (B, T, 3, H, hs). */
function packGrads(parts: Float64Array[], L: Layout, a: AttentionAttrs): Float64Array {
  const { B, H, T, hs } = L;
  const n = H * T * hs;
  const out = new Float64Array(3 * B * n);
  parts.forEach((g, part) => {
    for (let b = 0; b < B; b++) out.set(g.subarray(b * n, (b + 1) * n), a.heads ? (3 * b + part) * n : part * B * n + b * n);
  });
  return a.heads ? swap12(out, B, 3 * H, T, hs) : out;
}

/** Scores of one (b, h): s[i * T + j] = scale * q_i . k_j, -Infinity where masked. */
function scoresOf(qs: Float64Array, ks: Float64Array, base: number, t: number, hs: number, a: AttentionAttrs): Float64Array {
  const s = new Float64Array(t * t);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      let dot = 0;
      for (let d = 0; d < hs; d++) dot += qs[base + i * hs + d] * ks[base + j * hs + d];
      s[i * t + j] = a.causal && j > i ? -Infinity : a.scale * dot;
    }
  }
  return s;
}

export function attentionCpu(ins: HostTensor[], a: AttentionAttrs): HostTensor[] {
  const L = layoutOf(ins[0], a);
  const { B, H, T: t, hs } = L;
  const bh = B * H;
  const [qs, ks, vs] = qkvHeads(ins, L, a);
  const o = new Float64Array(qs.length);
  const lse = new Float64Array(bh * t);
  const z = dropFactors(ins[ins.length - 1], a, bh * t * t);
  for (let g = 0; g < bh; g++) {
    const base = g * t * hs;
    const s = scoresOf(qs, ks, base, t, hs, a);
    for (let i = 0; i < t; i++) {
      let m = -Infinity;
      for (let j = 0; j < t; j++) m = Math.max(m, s[i * t + j]);
      let l = 0;
      for (let j = 0; j < t; j++) l += Math.exp(s[i * t + j] - m);
      lse[g * t + i] = m + Math.log(l);
      for (let j = 0; j < t; j++) {
        const w = (Math.exp(s[i * t + j] - m) / l) * (z ? z[(g * t + i) * t + j] : 1);
        for (let d = 0; d < hs; d++) o[base + i * hs + d] += w * vs[base + j * hs + d];
      }
    }
  }
  // o takes the inputs' storage format: f16 values when they are f16, rounded once from the sums.
  const dtype = ins[0].dtype;
  const out = a.heads ? swap12(o, B, H, t, hs) : o;
  return [
    { shape: outShape(L, a), dtype, data: dtype === 'f16' ? out.map(roundToHalf) : out },
    { shape: [B, H, t], dtype: 'f32', data: lse },
  ];
}

export function attentionBackwardCpu(ins: HostTensor[], a: AttentionAttrs): HostTensor[] {
  const L = layoutOf(ins[0], a);
  const { B, H, T: t, hs } = L;
  const bh = B * H;
  const [o, lse, dO, seed] = ins.slice(a.heads ? 1 : 3);
  const [qs, ks, vs] = qkvHeads(ins, L, a);
  const [os, dos] = [o, dO].map((x) => (a.heads ? swap12(x.data, B, t, H, hs) : (x.data as Float64Array)));
  const ls = lse.data;
  const [dq, dk, dv] = [0, 1, 2].map(() => new Float64Array(qs.length));
  const z = dropFactors(seed, a, bh * t * t);
  for (let g = 0; g < bh; g++) {
    const base = g * t * hs;
    const s = scoresOf(qs, ks, base, t, hs, a);
    for (let i = 0; i < t; i++) {
      const row = base + i * hs;
      let D = 0;
      for (let d = 0; d < hs; d++) D += dos[row + d] * os[row + d];
      for (let j = 0; j < t; j++) {
        const p = Math.exp(s[i * t + j] - ls[g * t + i]); // 0 where masked
        const zij = z ? z[(g * t + i) * t + j] : 1;
        let dp = 0;
        for (let d = 0; d < hs; d++) dp += dos[row + d] * vs[base + j * hs + d];
        const ds = p * (dp * zij - D);
        for (let d = 0; d < hs; d++) {
          dv[base + j * hs + d] += p * zij * dos[row + d];
          dq[row + d] += a.scale * ds * ks[base + j * hs + d];
          dk[base + j * hs + d] += a.scale * ds * qs[row + d];
        }
      }
    }
  }
  return [{ shape: gradShape(ins[0], a), dtype: 'f32', data: packGrads([dq, dk, dv], L, a) }];
}
