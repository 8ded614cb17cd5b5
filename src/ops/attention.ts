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
// Not here: projections, head splitting or merging (callers reshape and permute), cross
// attention with different query and key lengths, or second derivatives: attentionBackward has
// no backward of its own (differentiating it throws an EngineError).

import { DTypeError, EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { attentionShader, ATTENTION_MAX_HS } from '../../shaders/attention.js';
import { attentionBackwardShader } from '../../shaders/attention-backward.js';
import { grid1d } from './grid.js';
import { checkSeedSpec, keepThreshold, randomBits, seedTensor } from './random.js';
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
 * per invocation). 'workgroup': one invocation per row, WG rows per workgroup sharing tiles of
 * BK rows in workgroup memory (GPUs). `tuning.attention` overrides the default, which follows
 * the adapter kind.
 */
export type AttentionLayout = 'thread' | 'workgroup';

export function attentionLayout(env: KernelEnv): AttentionLayout {
  const t = env.tuning.attention;
  if (t === 'thread' || t === 'workgroup') return t;
  return env.isSoftware ? 'thread' : 'workgroup';
}

/** Invocations per workgroup in the 'thread' layout (four rows each). */
const ROWS_WG = 64;
/** Rows per workgroup in the 'workgroup' layout: one query (or key) row per invocation. */
const BLOCK_WG = 32;
/** Streamed tile rows: two (BK, hs) f32 tiles stay within 16 KiB, the default workgroup storage. */
const tileRows = (hs: number) => (hs <= 32 ? 32 : 16);

// ---------------------------------------------------------------------------------------------
// Shape rules and launch geometry.

function dims(q: TensorSpec): { bh: number; t: number; hs: number } {
  const [B, H, T, hs] = q.shape;
  return { bh: B * H, t: T, hs };
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
  if (q.shape[3] > ATTENTION_MAX_HS) {
    throw new ShapeError(`${op}: head size ${q.shape[3]} in q ${fmtShape(q.shape)} exceeds ${ATTENTION_MAX_HS}; use more heads.`);
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
function checkDropoutSize(op: string, q: TensorSpec, p: number): void {
  const { bh, t } = dims(q);
  if (p > 0 && bh * t * t > 2 ** 32) {
    throw new ShapeError(
      `${op}: dropout on ${bh} x ${t} x ${t} weights (q ${fmtShape(q.shape)}) exceeds 2^32 mask indices; ` +
        'split the batch into several calls.',
    );
  }
}


/** The uniform words, in the order of the WGSL struct Attn. */
function attnParams(q: TensorSpec, a: AttentionAttrs): ParamWord[] {
  const { bh, t, hs } = dims(q);
  return [bh, t, hs, a.causal ? 1 : 0, f32(a.scale), keepThreshold(a.p), f32(1 / (1 - a.p)), a.offset];
}

/** A row kernel in the chosen layout: entry `<base>_rows` or `<base>_wg`. */
function rowDispatch(
  shader: ShaderModuleDef,
  base: string,
  q: TensorSpec,
  a: AttentionAttrs,
  env: KernelEnv,
  io: Pick<Dispatch, 'reads' | 'writes'>,
): Dispatch {
  const { bh, t, hs } = dims(q);
  const maxPerDim = env.limits.maxComputeWorkgroupsPerDimension;
  const DROPOUT = a.p > 0 ? 1 : 0;
  const params = attnParams(q, a);
  if (attentionLayout(env) === 'thread') {
    // Four rows per invocation.
    const workgroups = grid1d(bh * Math.ceil(t / 4), ROWS_WG, maxPerDim);
    return { shader, entry: `${base}_rows`, constants: { WG: ROWS_WG, DROPOUT }, ...io, params, workgroups };
  }
  const blocks = bh * Math.ceil(t / BLOCK_WG);
  return {
    shader,
    entry: `${base}_wg`,
    constants: { WG: BLOCK_WG, BK: tileRows(hs), HSW: hs, DROPOUT },
    ...io,
    params,
    workgroups: grid1d(blocks, 1, maxPerDim),
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

function attentionCpu([q, k, v, seed]: HostTensor[], a: AttentionAttrs): HostTensor[] {
  const { bh, t, hs } = dims(q);
  const [qs, ks, vs] = [q, k, v].map((x) => x.data as Float64Array);
  const o = new Float64Array(qs.length);
  const lse = new Float64Array(bh * t);
  const z = dropFactors(seed, a, bh * t * t);
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
    { shape: q.shape, dtype: 'f32', data: o },
    { shape: q.shape.slice(0, 3), dtype: 'f32', data: lse },
  ];
}

function attentionBackwardCpu([q, k, v, o, lse, dO, seed]: HostTensor[], a: AttentionAttrs): HostTensor[] {
  const { bh, t, hs } = dims(q);
  const [qs, ks, vs, os, ls, dos] = [q, k, v, o, lse, dO].map((x) => x.data as Float64Array);
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
  return [dq, dk, dv].map((data) => ({ shape: q.shape, dtype: 'f32' as const, data }));
}

// ---------------------------------------------------------------------------------------------
// Cases: small and awkward (T = 1, 7, 37 with tiles of 32 rows; hs 16 and 32; one dropout case).

const f32s = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const seedSpec: TensorSpec = { shape: [], dtype: 'i32' };
const attrsOf = (hs: number, causal: boolean, p = 0, offset = 0): AttentionAttrs => ({ causal, scale: 1 / Math.sqrt(hs), p, offset });
/** Uniform floats in [-2, 2] for q and k, so the weights are far from uniform. */
const wide = (i: number, spec: TensorSpec, rand: () => number): HostTensor => ({
  ...spec,
  data:
    spec.dtype === 'i32'
      ? Int32Array.of(1234567)
      : Float64Array.from({ length: numel(spec.shape) }, () => (rand() * 2 - 1) * (i < 2 ? 2 : 1)),
});

const forwardCases: [number[], AttentionAttrs, string?][] = [
  [[1, 1, 1, 16], attrsOf(16, false)],
  [[1, 2, 7, 16], attrsOf(16, true)],
  [[2, 1, 7, 32], attrsOf(32, false)],
  [[1, 1, 37, 16], attrsOf(16, true)],
  [[2, 2, 5, 32], attrsOf(32, true, 0.3, 5), 'dropout p=0.3 causal [2,2,5,32]'],
];

const attentionCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name]) => ({
  name,
  inputs: [f32s(...shape), f32s(...shape), f32s(...shape), seedSpec],
  attrs,
  gen: wide,
  gradInputs: [0, 1, 2],
  // lse is saved statistics for the backward, not differentiable (see the backward rule).
  gradOutputs: [0],
}));

const backwardCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name]) => ({
  name: name && `backward ${name}`,
  inputs: [...[0, 1, 2, 3].map(() => f32s(...shape)), f32s(...shape.slice(0, 3)), f32s(...shape), seedSpec],
  attrs,
  gen: wide,
  // attentionBackward has no backward: see its rule.
  gradInputs: [],
}));

// ---------------------------------------------------------------------------------------------
// The ops.

export const attentionDef: OpDef<AttentionAttrs> = {
  name: 'attention',
  shape: ([q, k, v, seed], attrs) => {
    checkQkv('attention', ['q', 'k', 'v'], [q, k, v]);
    checkAttrs('attention', seed, attrs);
    checkDropoutSize('attention', q, attrs.p);
    return [
      { shape: q.shape, dtype: 'f32' }, // (B, H, T, hs)
      { shape: q.shape.slice(0, 3), dtype: 'f32' }, // (B, H, T)
    ];
  },
  kernel: ([q], _outs, attrs, env): KernelPlan => ({
    dispatches: [
      rowDispatch(attentionShader, 'attn_fwd', q, attrs, env, {
        reads: [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 3 }],
        writes: [{ out: 0 }, { out: 1 }],
      }),
    ],
  }),
  cpu: attentionCpu,
  backward: ({ inputs: [q, k, v, seed], outputs: [o, lse], attrs }, [dO, dlse]) => {
    if (dlse) {
      throw new EngineError(
        `attention: a gradient reached the logsumexp output ${fmtShape(lse.shape)}; it is saved statistics ` +
          'for the backward pass, not differentiable. Use output 0 (the attention result) only.',
      );
    }
    const [dq, dk, dv] = attentionBackward(q, k, v, o, lse, dO!, seed, attrs);
    return [dq, dk, dv, null];
  },
  cases: attentionCases,
};

export const attentionBackwardDef: OpDef<AttentionAttrs> = {
  name: 'attentionBackward',
  shape: ([q, k, v, o, lse, dO, seed], attrs) => {
    checkQkv('attentionBackward', ['q', 'k', 'v', 'o', 'dO'], [q, k, v, o, dO]);
    checkAttrs('attentionBackward', seed, attrs);
    checkDropoutSize('attentionBackward', q, attrs.p);
    if (lse.dtype !== 'f32' || fmtShape(lse.shape) !== fmtShape(q.shape.slice(0, 3))) {
      throw new ShapeError(
        `attentionBackward: lse ${lse.dtype} ${fmtShape(lse.shape)} must be f32 ${fmtShape(q.shape.slice(0, 3))}, ` +
          'the second output of attention() on these q, k, v.',
      );
    }
    return [0, 1, 2].map(() => ({ shape: q.shape, dtype: 'f32' as const }));
  },
  kernel: ([q], _outs, attrs, env): KernelPlan => {
    const { bh, t } = dims(q);
    // q, k, v, lse, dO, seed, D: what both gradient kernels read.
    const reads = [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 4 }, { in: 5 }, { in: 6 }, { tmp: 0 }];
    return {
      tmp: [bh * t * 4],
      dispatches: [
        {
          shader: attentionBackwardShader,
          entry: 'attn_bwd_rowdot',
          constants: { WG: ROWS_WG },
          reads: [{ in: 3 }, { in: 5 }],
          writes: [{ tmp: 0 }],
          params: attnParams(q, attrs),
          workgroups: grid1d(bh * t, ROWS_WG, env.limits.maxComputeWorkgroupsPerDimension),
        },
        rowDispatch(attentionBackwardShader, 'attn_dq', q, attrs, env, { reads, writes: [{ out: 0 }] }),
        rowDispatch(attentionBackwardShader, 'attn_dkv', q, attrs, env, { reads, writes: [{ out: 1 }, { out: 2 }] }),
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

/** The gradients of attention's output 0: (dq, dk, dv), each (B, H, T, hs). */
export function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  o: Tensor,
  lse: Tensor,
  dO: Tensor,
  seed: Tensor,
  attrs: AttentionAttrs,
): Tensor[] {
  return apply(attentionBackwardDef, [q, k, v, o, lse, dO, seed], attrs);
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
  const hs = q.shape[q.shape.length - 1] ?? 1;
  const drop = opts.dropout;
  const p = drop?.p ?? 0;
  const seed = seedTensor('attention', drop?.seed ?? 0);
  const attrs: AttentionAttrs = { causal: !!opts.causal, scale: opts.scale ?? 1 / Math.sqrt(hs), p, offset: drop?.offset ?? 0 };
  const [o, lse] = apply(attentionDef, [q, k, v, seed], attrs);
  return [o, lse];
}

export const attentionOps = { attention: attentionDef, attentionBackward: attentionBackwardDef };
