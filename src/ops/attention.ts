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
// Mixed precision: q, k and v (or qkv) may be stored f16, all of them or none; every sum stays
// f32, o is then f16 too (rounded once: half the bytes to keep and for the output projection to
// read), lse f32. The backward reads f16 q, k, v and o, and takes and gives f32 gradients, as
// everywhere in the engine. f16 needs an even head size: o's words hold two values, and each
// row's owner writes whole words.
//
// Not here: projections, cross attention with different query and key lengths, or second
// derivatives: attentionBackward has no backward of its own (differentiating it throws). The
// layouts and the float64 references are in attention-reference.ts.

import { DTypeError, EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { attentionShader, ATTENTION_MAX_HS } from '../../shaders/attention.js';
import { attentionBackwardShader } from '../../shaders/attention-backward.js';
import { grid1d } from './grid.js';
import { checkSeedSpec, keepThreshold, seedTensor } from './random.js';
import { reshape, sliceAxis } from './shape.js';
import { f32 } from './types.js';
import type { Dispatch, HostTensor, KernelEnv, KernelPlan, OpCase, OpDef, ParamWord, ShaderModuleDef } from './types.js';
import { attentionBackwardCpu, attentionCpu, gradShape, layoutOf, outShape, type Layout } from './attention-reference.js';
import { kernelChoices } from './tunable.js';

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

/**
 * The variants as a tuned family (tunable.ts): 'attention' in KernelEnv.tuning fixes one for
 * every size, 'attention.<class>' holds a class's pick; with nothing measured, 'thread' on
 * CPU-emulated adapters, 'workgroup' on GPUs.
 */
export const ATTENTION_CHOICES = kernelChoices<AttentionSizeClass, AttentionVariant>({
  name: 'attention',
  classes: ATTENTION_SIZE_CLASSES,
  choices: ATTENTION_VARIANT_NAMES,
  defaultChoice: (isSoftware) => (isSoftware ? 'thread' : 'workgroup'),
});

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

function checkHeadSize(op: string, x: TensorSpec, hs: number): void {
  if (hs > ATTENTION_MAX_HS) {
    throw new ShapeError(`${op}: head size ${hs} in ${fmtShape(x.shape)} exceeds ${ATTENTION_MAX_HS}; use more heads.`);
  }
}

/**
 * The storage format of q, k, v (and of o in the backward): all f32, or all f16 (mixed
 * precision). dO is a gradient, and gradients are f32 whatever they are of.
 */
function checkDtypes(op: string, named: [string, TensorSpec][], dO?: TensorSpec): void {
  const [name, x] = named[0];
  if (x.dtype !== 'f32' && x.dtype !== 'f16') {
    throw new DTypeError(`${op}: ${name} must be f32 or f16, got ${x.dtype} ${fmtShape(x.shape)}.`);
  }
  const other = named.find(([, t]) => t.dtype !== x.dtype);
  if (other) {
    throw new DTypeError(
      `${op}: ${named.map(([n]) => n).join(', ')} must share one dtype (all f32, or all f16), got ${name} ${x.dtype} ` +
        `and ${other[0]} ${other[1].dtype} ${fmtShape(other[1].shape)}; convert with cast(x, 'f16') or cast(x, 'f32').`,
    );
  }
  if (dO && dO.dtype !== 'f32') {
    throw new DTypeError(`${op}: dO must be f32 (gradients are f32, those of f16 tensors too), got ${dO.dtype} ${fmtShape(dO.shape)}.`);
  }
}

/** q, k, v (B, H, T, hs) and, in the backward, o and dO (named last). */
function checkQkv(op: string, names: string[], ts: TensorSpec[]): void {
  const [q] = ts;
  const backward = ts.length > 3;
  checkDtypes(op, ts.slice(0, backward ? 4 : 3).map((t, i) => [names[i], t]), backward ? ts[4] : undefined);
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
function checkPacked(op: string, qkv: TensorSpec, heads: number, o?: TensorSpec, dO?: TensorSpec): void {
  if (!Number.isInteger(heads) || heads < 1) throw new ShapeError(`${op}: heads must be a whole number >= 1, got ${heads}.`);
  checkDtypes(op, o ? [['qkv', qkv], ['o', o]] : [['qkv', qkv]], dO);
  if (qkv.shape.length !== 3 || qkv.shape[2] % (3 * heads) !== 0) {
    throw new ShapeError(
      `${op}: qkv must be (B, T, 3 C) with C a multiple of ${heads} heads, got ${fmtShape(qkv.shape)}; ` +
        'it is the output of one projection to 3 C channels, q then k then v.',
    );
  }
  const [B, T, C3] = qkv.shape;
  checkHeadSize(op, qkv, C3 / 3 / heads);
  for (const [name, t] of [['o', o], ['dO', dO]] as const) {
    if (t && fmtShape(t.shape) !== fmtShape([B, T, C3 / 3])) {
      throw new ShapeError(`${op}: ${name} ${fmtShape(t.shape)} must be ${fmtShape([B, T, C3 / 3])}, the shape of attention's output.`);
    }
  }
}

/** f16's o is written a word (two values) at a time by each row's owner: rows must start at even elements. */
function checkHalfHeadSize(x: TensorSpec, hs: number): void {
  if (x.dtype === 'f16' && hs % 2 !== 0) {
    throw new ShapeError(
      `attention: f16 inputs need an even head size, got ${hs} in ${fmtShape(x.shape)} (o is stored two values to a word); ` +
        "use an even head size, or f32 inputs (cast(x, 'f32')).",
    );
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
  const v: AttentionVariantSpec = ATTENTION_VARIANTS[ATTENTION_CHOICES.choose(env, attentionSizeClass(bh, t, hs))];
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
// Cases: small and awkward (T = 1, 7, 37 with tiles of 32 rows; hs 2, 8, 16 and 32; dropout;
// packed; f16).

const spec = (dtype: 'f32' | 'f16', ...shape: number[]): TensorSpec => ({ shape, dtype });
const f32s = (...shape: number[]) => spec('f32', ...shape);
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

/** (B, H, T, hs), attributes, a name, and f16 storage; `heads` set means the packed layout of the same sizes. */
const forwardCases: [number[], AttentionAttrs, string?, 'f16'?][] = [
  [[1, 1, 1, 16], attrsOf(16, false)],
  [[1, 2, 7, 16], attrsOf(16, true)],
  [[2, 1, 7, 32], attrsOf(32, false)],
  [[1, 1, 37, 16], attrsOf(16, true)],
  [[2, 2, 5, 32], attrsOf(32, true, 0.3, 5), 'dropout p=0.3 causal [2,2,5,32]'],
  [[2, 3, 7, 8], attrsOf(8, true, 0, 0, 3), 'packed qkv (2, 7, 72), 3 heads, causal'],
  [[1, 2, 6, 16], attrsOf(16, false, 0.25, 2, 2), 'packed qkv (1, 6, 96), dropout p=0.25'],
  [[2, 2, 37, 16], attrsOf(16, true, 0, 0, 2), 'f16 packed qkv (2, 37, 96), 2 heads, causal', 'f16'],
  [[2, 3, 7, 8], attrsOf(8, false, 0.3, 4), 'f16 q, k, v, dropout p=0.3 [2,3,7,8]', 'f16'],
  [[1, 1, 5, 2], attrsOf(2, true), 'f16 q, k, v, hs 2 causal [1,1,5,2]', 'f16'],
];

/** The specs of q, k, v (or qkv) and of o for a case (dO: o's shape, f32). */
function caseSpecs([B, H, T, hs]: number[], a: AttentionAttrs, dtype: 'f32' | 'f16' = 'f32'): { qkv: TensorSpec[]; o: TensorSpec } {
  if (!a.heads) return { qkv: [0, 1, 2].map(() => spec(dtype, B, H, T, hs)), o: spec(dtype, B, H, T, hs) };
  return { qkv: [spec(dtype, B, T, 3 * H * hs)], o: spec(dtype, B, T, H * hs) };
}

const attentionCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name, dtype]) => {
  const { qkv } = caseSpecs(shape, attrs, dtype);
  const half = dtype === 'f16';
  return {
    name,
    inputs: [...qkv, seedSpec],
    attrs,
    gen: wide,
    // f16's o is rounded (a relative 2^-11 at most, where the f32 result and the float64 one
    // straddle a rounding boundary). Its gradient is checked against finite differences in
    // test/attention-f16.test.ts instead: here the differences would be those of the rounding's
    // steps, while the gradient passes the rounding straight through, as cast's does.
    ...(half ? { tol: 1e-3, gradInputs: [] } : { gradInputs: qkv.map((_, i) => i) }),
    // lse is saved statistics for the backward, not differentiable (see the backward rule).
    gradOutputs: [0],
  };
});

const backwardCases: OpCase<AttentionAttrs>[] = forwardCases.map(([shape, attrs, name, dtype]) => {
  const { qkv, o } = caseSpecs(shape, attrs, dtype);
  return {
    name: name && `backward ${name}`,
    inputs: [...qkv, o, f32s(...shape.slice(0, 3)), { shape: o.shape, dtype: 'f32' }, seedSpec],
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

function checkCount(op: string, ins: TensorSpec[], want: number, a: AttentionAttrs): void {
  if (ins.length !== want) {
    throw new ShapeError(`${op}: expected ${want} inputs ${a.heads ? '(packed qkv)' : '(separate q, k, v)'}, got ${ins.length}.`);
  }
}

/** Reads of q, k, v: three inputs, or the packed one bound three times. */
const qkvReads = (a: AttentionAttrs) => (a.heads ? [{ in: 0 }, { in: 0 }, { in: 0 }] : [{ in: 0 }, { in: 1 }, { in: 2 }]);

export const attentionDef: OpDef<AttentionAttrs> = {
  name: 'attention',
  f16: true,
  shape: (ins, attrs) => {
    const n = qkvCount(attrs);
    checkCount('attention', ins, n + 1, attrs);
    if (attrs.heads) checkPacked('attention', ins[0], attrs.heads);
    else checkQkv('attention', ['q', 'k', 'v'], ins.slice(0, 3));
    checkAttrs('attention', ins[n], attrs);
    const L = layoutOf(ins[0], attrs);
    checkHalfHeadSize(ins[0], L.hs);
    checkDropoutSize('attention', ins[0], L, attrs.p);
    return [
      { shape: outShape(L, attrs), dtype: ins[0].dtype }, // (B, H, T, hs) or (B, T, C), f32 or f16
      { shape: [L.B, L.H, L.T], dtype: 'f32' },
    ];
  },
  kernel: (ins, _outs, attrs, env): KernelPlan => ({
    dispatches: [
      rowDispatch(attentionShader(ins[0].dtype === 'f16'), 'attn_fwd', layoutOf(ins[0], attrs), attrs, env, {
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
  f16: true,
  shape: (ins, attrs) => {
    const n = qkvCount(attrs);
    checkCount('attentionBackward', ins, n + 4, attrs);
    const [o, lse, dO, seed] = ins.slice(n);
    if (attrs.heads) checkPacked('attentionBackward', ins[0], attrs.heads, o, dO);
    else checkQkv('attentionBackward', ['q', 'k', 'v', 'o', 'dO'], [...ins.slice(0, 3), o, dO]);
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
    const shader = attentionBackwardShader(ins[0].dtype === 'f16');
    return {
      tmp: [rows * 4],
      dispatches: [
        {
          shader,
          entry: 'attn_bwd_rowdot',
          constants: { WG: ROWS_WG },
          reads: [{ in: n }, { in: n + 2 }],
          writes: [{ tmp: 0 }],
          params: attnParams(L, attrs),
          workgroups: grid1d(rows, ROWS_WG, env.limits.maxComputeWorkgroupsPerDimension),
        },
        rowDispatch(shader, 'attn_dq', L, attrs, env, { reads, writes: [{ out: 0 }] }),
        rowDispatch(shader, 'attn_dkv', L, attrs, env, { reads, writes: [{ out: 0 }] }),
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
 * q, k and v are all f32 or all f16 (mixed precision, even hs); o has their dtype.
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
 * same computation as splitting and permuting the heads out, without moving any data. An f16
 * qkv gives an f16 output, for an f16 output projection to read.
 */
export function attentionPacked(qkv: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const hs = (qkv.shape[qkv.shape.length - 1] ?? 3) / 3 / heads;
  const { attrs, seed } = attrsFrom(hs, heads, opts);
  return apply(attentionDef, [qkv, seed], attrs)[0];
}

export const attentionOps = { attention: attentionDef, attentionBackward: attentionBackwardDef };
