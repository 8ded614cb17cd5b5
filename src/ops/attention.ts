// Fused multi-head attention (flash-style) and its backward, as two ops:
//   attention(q, k, v) -> (o, lse): o = dropout(softmax(scale * q k^T + causal mask)) v per
//     (batch, head), streaming keys with an online softmax so no (T, T) matrix is ever stored;
//     lse (B, H, T) is the per-row logsumexp of the scaled, masked scores, kept for the backward.
//   attentionBackward(q, k, v, o, lse, dO) -> (dq, dk, dv): recomputes the weights tile by tile.
// Dropout on the weights draws the bits dropout() would draw for the (B, H, T, T) weight tensor
// with the same seed and offset (element ((b * H + h) * T + i) * T + j of the Philox stream), so
// the fused op and the unfused composition drop exactly the same weights, and the backward
// regenerates the forward's mask instead of storing it.
//
// Two layouts of the same ops: q, k, v as three (B, H, T, hs) tensors (o (B, H, T, hs)), or
// packed as the one (B, T, 3C) output of a qkv projection, C = H hs, read in place as
// (B, T, 3, H, hs) (o (B, T, C), ready for the output projection): the kernels address every
// operand through strides, so the packed form needs no permute or split on either side, and
// its gradient is one (B, T, 3C) tensor for the projection's backward.
//
// Not here: projections, cross attention with different query and key lengths, or second
// derivatives: attentionBackward has no backward of its own (differentiating it throws).

import { DTypeError, EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { attentionShader, ATTENTION_MAX_HS } from '../../shaders/attention.js';
import { attentionBackwardShader } from '../../shaders/attention-backward.js';
import { grid1d } from './grid.js';
import { checkSeedSpec, keepThreshold, randomBits, seedTensor } from './random.js';
import { reshape, sliceAxis } from './shape.js';
import { f32 } from './types.js';
import type { Dispatch, HostTensor, KernelEnv, KernelPlan, OpCase, OpDef, ParamWord, ShaderModuleDef } from './types.js';

export interface AttentionAttrs {
  /** Mask key j for query i when j > i. */
  causal: boolean;
  /** Multiplies q . k before the softmax. */
  scale: number;
  /** Dropout probability on the attention weights, in [0, 1); 0 is off. */
  p: number;
  /** Dropout stream for the seed (as dropout()'s offset). */
  offset: number;
  /** 0: separate q, k, v (B, H, T, hs); H > 0: one packed qkv (B, T, 3 H hs) with H heads. */
  heads: number;
}

export interface AttentionOptions {
  /** Mask future keys (default false). */
  causal?: boolean;
  /** Scale of the scores (default 1 / sqrt(hs)). */
  scale?: number;
  /** Dropout on the weights; seed is a number or an i32 scalar tensor (fed per step). */
  dropout?: { p: number; seed: number | Tensor; offset?: number };
}

/**
 * How the kernels spread the work. 'thread': one invocation per four rows (vec4 lanes), stepping
 * four keys (or queries) at a time straight from storage, no barriers (SwiftShader, where
 * barriers cost 30-100x; these register tiles made the kernels 3-6x faster there than one row
 * per invocation). 'workgroup': one invocation per row, `wg` rows per workgroup sharing tiles of
 * `tile` rows in workgroup memory (GPUs).
 */
export type AttentionLayout = 'thread' | 'workgroup';

export interface AttentionVariantSpec {
  layout: AttentionLayout;
  /** Invocations per workgroup: four rows each ('thread'), one row each ('workgroup'). */
  wg: number;
  /** Rows per streamed tile ('workgroup'), halved until the tiles fit the workgroup storage. */
  tile: number;
}

/**
 * The variants the tuner times (attention-tune.ts), few since each costs measurement inside a
 * compile. 'thread' is SwiftShader's default; 'thread-16' spreads a small problem over more
 * workgroups, which a CPU adapter runs on separate cores. 'workgroup' (32 rows, tiles of 32) is
 * the GPU default; 64x16 reads each K/V tile for twice the rows, for long sequences with many
 * workgroups in flight; 16x32 makes 4x the workgroups of 64, for problems too small to fill a GPU.
 * Every variant fits the storage WebGPU guarantees (16 KiB) at any head size, tiles clamped.
 */
export const ATTENTION_VARIANTS = {
  thread: { layout: 'thread', wg: 64, tile: 0 },
  'thread-16': { layout: 'thread', wg: 16, tile: 0 },
  workgroup: { layout: 'workgroup', wg: 32, tile: 32 },
  'workgroup-64x16': { layout: 'workgroup', wg: 64, tile: 16 },
  'workgroup-16x32': { layout: 'workgroup', wg: 16, tile: 32 },
} as const satisfies Record<string, AttentionVariantSpec>;

export type AttentionVariant = keyof typeof ATTENTION_VARIANTS;
export const ATTENTION_VARIANT_NAMES = Object.keys(ATTENTION_VARIANTS) as AttentionVariant[];
export const isAttentionVariant = (v: unknown): v is AttentionVariant => typeof v === 'string' && Object.hasOwn(ATTENTION_VARIANTS, v);

/**
 * Size classes by the multiply-adds of q k^T, W = B H T^2 hs (as many again for P V, twice that
 * in the backward), as the variants differ in how rows are grouped and keys streamed: below 2^20
 * (8 heads of 32 at T = 64) a GPU runs a few dozen workgroups and is launch bound, and a CPU
 * adapter has fewer groups of the default size than cores; from 2^24 (8 heads of 32 at T = 256)
 * there are workgroups for a wave of a GPU and per-row streaming decides; between, occupancy
 * against reuse. GPT presets at batch 8 fall in each: tiny small, mini medium, base large.
 */
export const ATTENTION_SIZE_CLASSES = ['small', 'medium', 'large'] as const;
export type AttentionSizeClass = (typeof ATTENTION_SIZE_CLASSES)[number];

export function attentionSizeClass(bh: number, t: number, hs: number): AttentionSizeClass {
  const w = bh * t * t * hs;
  return w < 2 ** 20 ? 'small' : w < 2 ** 24 ? 'medium' : 'large';
}

/** The size class of an attention (or its backward) with first input `x`. */
export function attentionClassOf(x: TensorSpec, a: AttentionAttrs): AttentionSizeClass {
  const L = layoutOf(x, a);
  return attentionSizeClass(L.B * L.H, L.T, L.hs);
}

/** Where variants live in KernelEnv.tuning: 'attention' fixes one for every size, 'attention.<class>' a class's pick. */
export const attentionTuningKey = (c: AttentionSizeClass) => `attention.${c}`;
export const defaultAttentionVariant = (isSoftware: boolean): AttentionVariant => (isSoftware ? 'thread' : 'workgroup');

/** Whether `tuning` already says which variant a class takes (fixed for all, or the class's pick). */
export const attentionVariantChosen = (tuning: Readonly<Record<string, string>>, c: AttentionSizeClass): boolean =>
  isAttentionVariant(tuning.attention) || isAttentionVariant(tuning[attentionTuningKey(c)]);

/** The variant a class runs: fixed by the user, else its pick, else the adapter kind's default. */
export function attentionVariant(env: KernelEnv, c: AttentionSizeClass): AttentionVariant {
  const fixed = env.tuning.attention;
  if (isAttentionVariant(fixed)) return fixed;
  const picked = env.tuning[attentionTuningKey(c)];
  return isAttentionVariant(picked) ? picked : defaultAttentionVariant(env.isSoftware);
}

/** Invocations per workgroup of the backward's row-dot pre-pass (one row each). */
const ROWS_WG = 64;
/**
 * Tile rows for head size hs: the variant's, halved until the backward's tiles (two (BK, hs) and
 * two of BK floats) fit the adapter's workgroup storage: 16 rows at hs 64 in the 16 KiB minimum.
 */
function tileRows(tile: number, hs: number, limits: GPUSupportedLimits): number {
  let bk = tile;
  while (bk > 1 && (2 * bk * hs + 2 * bk) * 4 > limits.maxComputeWorkgroupStorageSize) bk >>= 1;
  return bk;
}

// ---------------------------------------------------------------------------------------------
// Shape rules and launch geometry.

/** Where every operand's elements are: strides and offsets in elements. */
interface Layout {
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
function layoutOf(x: TensorSpec, a: AttentionAttrs): Layout {
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
const outShape = (L: Layout, a: AttentionAttrs) => (a.heads ? [L.B, L.T, L.H * L.hs] : [L.B, L.H, L.T, L.hs]);

function checkHeadSize(op: string, x: TensorSpec, hs: number): void {
  if (hs > ATTENTION_MAX_HS) {
    throw new ShapeError(`${op}: head size ${hs} in ${fmtShape(x.shape)} exceeds ${ATTENTION_MAX_HS}; use more heads.`);
  }
}

function checkQkv(op: string, names: string[], ts: TensorSpec[]): void {
  const [q] = ts;
  for (const [i, t] of ts.entries()) {
    if (t.dtype !== 'f32') throw new DTypeError(`${op}: ${names[i]} must be f32, got ${t.dtype} ${fmtShape(t.shape)}.`);
  }
  if (q.shape.length !== 4) {
    throw new ShapeError(`${op}: q must be (B, H, T, hs), got ${fmtShape(q.shape)}; reshape and permute the heads out first.`);
  }
  for (const [i, t] of ts.entries()) {
    if (fmtShape(t.shape) !== fmtShape(q.shape)) {
      throw new ShapeError(
        `${op}: ${names[i]} ${fmtShape(t.shape)} must have the shape of q ${fmtShape(q.shape)} (self-attention, one T).`,
      );
    }
  }
  checkHeadSize(op, q, q.shape[3]);
}

/** The packed qkv (B, T, 3 H hs) and, in the backward, o and dO (B, T, H hs). */
function checkPacked(op: string, qkv: TensorSpec, heads: number, outs: [string, TensorSpec][] = []): void {
  if (!Number.isInteger(heads) || heads < 1) throw new ShapeError(`${op}: heads must be a whole number >= 1, got ${heads}.`);
  if (qkv.dtype !== 'f32') throw new DTypeError(`${op}: qkv must be f32, got ${qkv.dtype} ${fmtShape(qkv.shape)}.`);
  if (qkv.shape.length !== 3 || qkv.shape[2] % (3 * heads) !== 0) {
    throw new ShapeError(
      `${op}: qkv must be (B, T, 3 C) with C a multiple of ${heads} heads, got ${fmtShape(qkv.shape)}; ` +
        'it is the output of one projection to 3 C channels, q then k then v.',
    );
  }
  const [B, T, C3] = qkv.shape;
  checkHeadSize(op, qkv, C3 / 3 / heads);
  for (const [name, t] of outs) {
    if (t.dtype !== 'f32' || fmtShape(t.shape) !== fmtShape([B, T, C3 / 3])) {
      throw new ShapeError(`${op}: ${name} ${t.dtype} ${fmtShape(t.shape)} must be f32 ${fmtShape([B, T, C3 / 3])}.`);
    }
  }
}

function checkAttrs(op: string, seed: TensorSpec, { p, offset, scale }: AttentionAttrs): void {
  checkSeedSpec(op, seed);
  if (!(p >= 0 && p < 1)) throw new ShapeError(`${op}: dropout p must be in [0, 1), got ${p}.`);
  if (!Number.isInteger(offset) || offset < 0 || offset >= 2 ** 32) {
    throw new ShapeError(`${op}: dropout offset must be an integer in [0, 2^32), got ${offset}.`);
  }
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be finite, got ${scale}.`);
}

/** Dropout indexes the (B, H, T, T) weights with u32 words: past 2^32 the mask would repeat. */
function checkDropoutSize(op: string, x: TensorSpec, L: Layout, p: number): void {
  const bh = L.B * L.H;
  if (p > 0 && bh * L.T * L.T > 2 ** 32) {
    throw new ShapeError(
      `${op}: dropout on ${bh} x ${L.T} x ${L.T} weights (${fmtShape(x.shape)}) exceeds 2^32 mask indices; ` +
        'split the batch into several calls.',
    );
  }
}


/** The uniform words, in the order of the WGSL struct Attn. */
function attnParams(L: Layout, a: AttentionAttrs): ParamWord[] {
  return [
    ...[L.B * L.H, L.T, L.hs, a.causal ? 1 : 0, f32(a.scale), keepThreshold(a.p), f32(1 / (1 - a.p)), a.offset],
    ...[L.H, ...L.qkvStrides, ...L.oStrides, L.kOff, L.vOff, L.dkOff, L.dvOff],
  ];
}

/** A row kernel in the class's variant: entry `<base>_rows` or `<base>_wg`. */
function rowDispatch(
  shader: ShaderModuleDef,
  base: string,
  L: Layout,
  a: AttentionAttrs,
  env: KernelEnv,
  io: Pick<Dispatch, 'reads' | 'writes'>,
): Dispatch {
  const [bh, t, hs] = [L.B * L.H, L.T, L.hs];
  const maxPerDim = env.limits.maxComputeWorkgroupsPerDimension;
  const DROPOUT = a.p > 0 ? 1 : 0;
  const params = attnParams(L, a);
  const v: AttentionVariantSpec = ATTENTION_VARIANTS[attentionVariant(env, attentionSizeClass(bh, t, hs))];
  if (v.layout === 'thread') {
    // Four rows per invocation.
    const workgroups = grid1d(bh * Math.ceil(t / 4), v.wg, maxPerDim);
    return { shader, entry: `${base}_rows`, constants: { WG: v.wg, DROPOUT }, ...io, params, workgroups };
  }
  return {
    shader,
    entry: `${base}_wg`,
    constants: { WG: v.wg, BK: tileRows(v.tile, hs, env.limits), HSW: hs, DROPOUT },
    ...io,
    params,
    workgroups: grid1d(bh * Math.ceil(t / v.wg), 1, maxPerDim),
  };
}

// ---------------------------------------------------------------------------------------------
// CPU references: plain loops in float64, the specification of both ops.

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

function attentionCpu(ins: HostTensor[], a: AttentionAttrs): HostTensor[] {
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
  return [
    { shape: outShape(L, a), dtype: 'f32', data: a.heads ? swap12(o, B, H, t, hs) : o },
    { shape: [B, H, t], dtype: 'f32', data: lse },
  ];
}

function attentionBackwardCpu(ins: HostTensor[], a: AttentionAttrs): HostTensor[] {
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

// ---------------------------------------------------------------------------------------------
// Cases: small and awkward (T = 1, 7, 37 with tiles of 32 rows; hs 8, 16 and 32; dropout; packed).

const f32s = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const seedSpec: TensorSpec = { shape: [], dtype: 'i32' };
const attrsOf = (hs: number, causal: boolean, p = 0, offset = 0, heads = 0): AttentionAttrs => ({
  causal,
  scale: 1 / Math.sqrt(hs),
  p,
  offset,
  heads,
});
/** Uniform floats in [-2, 2] for q and k (all of a packed qkv), so the weights are far from uniform. */
const wide = (i: number, spec: TensorSpec, rand: () => number): HostTensor => ({
  ...spec,
  data:
    spec.dtype === 'i32'
      ? Int32Array.of(1234567)
      : Float64Array.from({ length: numel(spec.shape) }, () => (rand() * 2 - 1) * (i < 2 ? 2 : 1)),
});

/** (B, H, T, hs) and attributes; `heads` set means the packed layout of the same sizes. */
const forwardCases: [number[], AttentionAttrs, string?][] = [
  [[1, 1, 1, 16], attrsOf(16, false)],
  [[1, 2, 7, 16], attrsOf(16, true)],
  [[2, 1, 7, 32], attrsOf(32, false)],
  [[1, 1, 37, 16], attrsOf(16, true)],
  [[2, 2, 5, 32], attrsOf(32, true, 0.3, 5), 'dropout p=0.3 causal [2,2,5,32]'],
  [[2, 3, 7, 8], attrsOf(8, true, 0, 0, 3), 'packed qkv (2, 7, 72), 3 heads, causal'],
  [[1, 2, 6, 16], attrsOf(16, false, 0.25, 2, 2), 'packed qkv (1, 6, 96), dropout p=0.25'],
];

/** The specs of q, k, v (or qkv) and of o (or dO) for a case. */
function caseSpecs([B, H, T, hs]: number[], a: AttentionAttrs): { qkv: TensorSpec[]; o: TensorSpec } {
  if (!a.heads) return { qkv: [0, 1, 2].map(() => f32s(B, H, T, hs)), o: f32s(B, H, T, hs) };
  return { qkv: [f32s(B, T, 3 * H * hs)], o: f32s(B, T, H * hs) };
}

const attentionCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name]) => {
  const { qkv } = caseSpecs(shape, attrs);
  return {
    name,
    inputs: [...qkv, seedSpec],
    attrs,
    gen: wide,
    gradInputs: qkv.map((_, i) => i),
    // lse is saved statistics for the backward, not differentiable (see the backward rule).
    gradOutputs: [0],
  };
});

const backwardCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name]) => {
  const { qkv, o } = caseSpecs(shape, attrs);
  return {
    name: name && `backward ${name}`,
    inputs: [...qkv, o, f32s(...shape.slice(0, 3)), o, seedSpec],
    attrs,
    gen: wide,
    // attentionBackward has no backward: see its rule.
    gradInputs: [],
  };
});

// ---------------------------------------------------------------------------------------------
// The ops.

/** Inputs before o (backward) or the seed (forward): q, k, v, or the packed qkv. */
const qkvCount = (a: AttentionAttrs) => (a.heads ? 1 : 3);

/** The gradient's shape: dq, dk, dv stacked (3, B, H, T, hs), or packed like qkv. */
const gradShape = (x: TensorSpec, a: AttentionAttrs) => (a.heads ? x.shape : [3, ...x.shape]);

function checkCount(op: string, ins: TensorSpec[], want: number, a: AttentionAttrs): void {
  if (ins.length !== want) {
    throw new ShapeError(`${op}: expected ${want} inputs ${a.heads ? '(packed qkv)' : '(separate q, k, v)'}, got ${ins.length}.`);
  }
}

/** Reads of q, k, v: three inputs, or the packed one bound three times. */
const qkvReads = (a: AttentionAttrs) => (a.heads ? [{ in: 0 }, { in: 0 }, { in: 0 }] : [{ in: 0 }, { in: 1 }, { in: 2 }]);

export const attentionDef: OpDef<AttentionAttrs> = {
  name: 'attention',
  shape: (ins, attrs) => {
    const n = qkvCount(attrs);
    checkCount('attention', ins, n + 1, attrs);
    if (attrs.heads) checkPacked('attention', ins[0], attrs.heads);
    else checkQkv('attention', ['q', 'k', 'v'], ins.slice(0, 3));
    checkAttrs('attention', ins[n], attrs);
    const L = layoutOf(ins[0], attrs);
    checkDropoutSize('attention', ins[0], L, attrs.p);
    return [
      { shape: outShape(L, attrs), dtype: 'f32' }, // (B, H, T, hs) or (B, T, C)
      { shape: [L.B, L.H, L.T], dtype: 'f32' },
    ];
  },
  kernel: (ins, _outs, attrs, env): KernelPlan => ({
    dispatches: [
      rowDispatch(attentionShader, 'attn_fwd', layoutOf(ins[0], attrs), attrs, env, {
        reads: [...qkvReads(attrs), { in: qkvCount(attrs) }],
        writes: [{ out: 0 }, { out: 1 }],
      }),
    ],
  }),
  cpu: attentionCpu,
  backward: ({ inputs, outputs: [o, lse], attrs }, [dO, dlse]) => {
    if (dlse) {
      throw new EngineError(
        `attention: a gradient reached the logsumexp output ${fmtShape(lse.shape)}; it is saved statistics ` +
          'for the backward pass, not differentiable. Use output 0 (the attention result) only.',
      );
    }
    const n = qkvCount(attrs);
    return [...attentionBackward(inputs.slice(0, n), o, lse, dO!, inputs[n], attrs), null];
  },
  cases: attentionCases,
};

export const attentionBackwardDef: OpDef<AttentionAttrs> = {
  name: 'attentionBackward',
  shape: (ins, attrs) => {
    const n = qkvCount(attrs);
    checkCount('attentionBackward', ins, n + 4, attrs);
    const [o, lse, dO, seed] = ins.slice(n);
    if (attrs.heads) {
      checkPacked('attentionBackward', ins[0], attrs.heads, [
        ['o', o],
        ['dO', dO],
      ]);
    } else checkQkv('attentionBackward', ['q', 'k', 'v', 'o', 'dO'], [...ins.slice(0, 3), o, dO]);
    checkAttrs('attentionBackward', seed, attrs);
    const L = layoutOf(ins[0], attrs);
    checkDropoutSize('attentionBackward', ins[0], L, attrs.p);
    if (lse.dtype !== 'f32' || fmtShape(lse.shape) !== fmtShape([L.B, L.H, L.T])) {
      throw new ShapeError(
        `attentionBackward: lse ${lse.dtype} ${fmtShape(lse.shape)} must be f32 ${fmtShape([L.B, L.H, L.T])}, ` +
          'the second output of attention() on these inputs.',
      );
    }
    return [{ shape: gradShape(ins[0], attrs), dtype: 'f32' }];
  },
  kernel: (ins, _outs, attrs, env): KernelPlan => {
    const L = layoutOf(ins[0], attrs);
    const rows = L.B * L.H * L.T;
    const n = qkvCount(attrs);
    // q, k, v, lse, dO, seed, D: what both gradient kernels read; both write parts of output 0.
    const reads = [...qkvReads(attrs), { in: n + 1 }, { in: n + 2 }, { in: n + 3 }, { tmp: 0 }];
    return {
      tmp: [rows * 4],
      dispatches: [
        {
          shader: attentionBackwardShader,
          entry: 'attn_bwd_rowdot',
          constants: { WG: ROWS_WG },
          reads: [{ in: n }, { in: n + 2 }],
          writes: [{ tmp: 0 }],
          params: attnParams(L, attrs),
          workgroups: grid1d(rows, ROWS_WG, env.limits.maxComputeWorkgroupsPerDimension),
        },
        rowDispatch(attentionBackwardShader, 'attn_dq', L, attrs, env, { reads, writes: [{ out: 0 }] }),
        rowDispatch(attentionBackwardShader, 'attn_dkv', L, attrs, env, { reads, writes: [{ out: 0 }] }),
      ],
    };
  },
  cpu: attentionBackwardCpu,
  backward: () => {
    throw new EngineError(
      'attentionBackward: attention is not twice differentiable (its backward has no backward). ' +
        'For second-order gradients build attention from matmul and softmax instead.',
    );
  },
  cases: backwardCases,
};

/**
 * The gradients of attention's output 0 with respect to `qkv`, the inputs it was given: (dq, dk,
 * dv), each (B, H, T, hs), for separate q, k, v; [dqkv] (B, T, 3C) for the packed layout.
 */
export function attentionBackward(qkv: Tensor[], o: Tensor, lse: Tensor, dO: Tensor, seed: Tensor, attrs: AttentionAttrs): Tensor[] {
  const [g] = apply(attentionBackwardDef, [...qkv, o, lse, dO, seed], attrs);
  if (attrs.heads) return [g];
  // Contiguous thirds: views of g where their offsets allow binding, else copies.
  return [0, 1, 2].map((i) => reshape(sliceAxis(g, 0, i, i + 1), qkv[0].shape));
}

/** Attributes from user options: scale by the head size, dropout off by default. */
function attrsFrom(hs: number, heads: number, opts: AttentionOptions): { attrs: AttentionAttrs; seed: Tensor } {
  const drop = opts.dropout;
  const seed = seedTensor('attention', drop?.seed ?? 0);
  const attrs: AttentionAttrs = {
    causal: !!opts.causal,
    scale: opts.scale ?? 1 / Math.sqrt(hs),
    p: drop?.p ?? 0,
    offset: drop?.offset ?? 0,
    heads,
  };
  return { attrs, seed };
}

/**
 * Fused multi-head attention over q, k, v of shape (B, H, T, hs), hs <= 64:
 * dropout(softmax(scale * q k^T [+ causal mask])) v, (B, H, T, hs). No (T, T) matrix is stored,
 * forward or backward. Dropout draws the same mask as dropout(weights, p, seed, offset) would.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  return attentionWithLse(q, k, v, opts)[0];
}

/** attention() and its per-row logsumexp (B, H, T) of the scaled, masked scores. */
export function attentionWithLse(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): [Tensor, Tensor] {
  const { attrs, seed } = attrsFrom(q.shape[q.shape.length - 1] ?? 1, 0, opts);
  const [o, lse] = apply(attentionDef, [q, k, v, seed], attrs);
  return [o, lse];
}

/**
 * attention() on the packed output of a qkv projection: qkv (B, T, 3C) holds q, k, v side by
 * side, each (B, T, H, hs) with C = H hs; returns (B, T, C), the heads side by side again. The
 * same computation as splitting and permuting the heads out, without moving any data.
 */
export function attentionPacked(qkv: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const hs = (qkv.shape[qkv.shape.length - 1] ?? 3) / 3 / heads;
  const { attrs, seed } = attrsFrom(hs, heads, opts);
  return apply(attentionDef, [qkv, seed], attrs)[0];
}

export const attentionOps = { attention: attentionDef, attentionBackward: attentionBackwardDef };
