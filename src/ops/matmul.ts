// The matmul family: batched products out = act(op(A) op(B) + bias) + residual, where op
// transposes an operand when asked, leading batch dims broadcast numpy-style ((B, T, C) x
// (C, N) works), and bias, activation and residual add are fused into the kernel's epilogue.
//
// Backward. The gradient at the pre-activation z = op(A) op(B) + bias is dz = dy * act'(z);
// the operand gradients are matmuls of dz with the other operand (other transpositions), summed
// over broadcast batch dims; the bias gradient is dz summed to (N); the residual's is dy.
// act'(z) needs z. When a gradient can flow (an input requires grad at graph-build time), the
// forward emits z as a second output, written by the same kernel at the cost of one store per
// element; otherwise (the tensor built under noGrad, or a gradient asked of a tensor that did
// not require grad when the graph was built) the backward recomputes z with one more matmul.
// Storing beats recomputing in training: a write of M x N floats against 2 M N K flops.
// dz = dy * act'(z) is itself fused where it can be: when dy is a plain matmul (the backward of
// the next layer, as in an MLP), that matmul is rebuilt with a gate, multiplying each element by
// act'(z) in its epilogue, instead of writing dy and reading it back in another pass.
//
// Mixed precision. a and b may be f16 (rounded copies, `f16: true` makes them): they are read
// as f32 and summed in f32, and the output is f32. The backward of such a product rounds dz to
// f16 before multiplying it by the other operand, as an f16 pipeline would, and keeps its
// products' sums and outputs f32: small gradients underflow there, large ones overflow to
// infinity, which is what dynamic loss scaling (optim/fused.ts) exists for.
// The output may be stored f16 as well (`f16Output`): rounded once from the f32 sums, with the
// pre-activation kept for the backward, so the activations a mixed-precision model keeps take
// half the bytes, and the next f16 product reads them without a cast.
//
// Not here: WGSL (shaders/matmul.ts), measuring which tiling is fastest (matmul-tune.ts), or the
// registry test cases (matmul-cases.ts).

import { DTypeError, DeviceLimitError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Shape, type Tensor, type TensorSpec } from '../tensor.js';
import { MATMUL_ACT, MATMUL_FLAGS, REGISTER_TILE, WIDE_TILE, matmulShader } from '../../shaders/matmul.js';
import { add, geluGrad, reluGrad, siluGrad } from './elementwise.js';
import { activationCpu, cast, geluGradDef, reluGradDef, siluGradDef } from './unary.js';
import { roundToHalf } from '../half.js';
import { sumToShape } from './reduce.js';
import { reshape } from './shape.js';
import { kernelChoices } from './tunable.js';
import { matmulCases, plainMatmulAttrs } from './matmul-cases.js';
import type { Dispatch, GradContext, HostTensor, KernelEnv, KernelPlan, OpDef } from './types.js';

export type MatmulActivation = keyof typeof MATMUL_ACT;

export interface MatmulAttrs {
  /** `a` holds op(A) transposed: (..., K, M). */
  transA: boolean;
  /** `b` holds op(B) transposed: (..., N, K). */
  transB: boolean;
  act: MatmulActivation;
  /** A bias (N) follows a and b in the inputs. */
  bias: boolean;
  /** A residual with the output's shape follows (after the bias, if any). */
  residual: boolean;
  /** Emit the pre-activation op(A) op(B) + bias as output 1. */
  savePre: boolean;
  /**
   * Multiply op(A) op(B) by this activation's derivative at z, an input with the output's
   * shape after a and b: an activation's backward fused in. Not with bias, act or residual.
   */
  gate: MatmulActivation;
  /** Store the output and the pre-activation as f16 (N even). Not with a gate. */
  halfOut: boolean;
}

export interface MatmulOptions {
  /** Use a's transpose (a is (..., K, M)). */
  transA?: boolean;
  /** Use b's transpose (b is (..., N, K)). */
  transB?: boolean;
  /** Added to every row of the product: shape (N). */
  bias?: Tensor;
  /** Applied after the bias: 'relu', 'gelu' (tanh form) or 'silu' (x * sigmoid(x)). */
  activation?: MatmulActivation;
  /** Added after the activation: the output's shape. */
  residual?: Tensor;
  /**
   * Mixed precision: multiply f16 copies of a and b (cast(x, 'f16')), summing in f32; the
   * output, bias and residual stay f32, and so do the gradients.
   */
  f16?: boolean;
  /**
   * Store the output (and the pre-activation an activation's backward keeps) as f16, rounded
   * from the f32 sums: half the bytes to keep, and the next f16 product reads it as it is.
   * The last dim (N) must be even. Gradients stay f32.
   */
  f16Output?: boolean;
}

/**
 * The kernels a matmul can run: barrier-free register tiles; the same with op(A) rows shared
 * across a subgroup quad ('quad', needs 'subgroups': faster on SwiftShader at large sizes, its
 * pipelines take twice as long to build); workgroup-memory tiles ('shared'); or bigger ones
 * with vec4 loads ('wide': 128x128 blocks, 8x8 an invocation, for GPUs; products whose operands
 * it cannot read as vec4s, f16 ones or those with an odd contiguous dim, run 'shared' instead);
 * or barrier-free 4x4 blocks ('small', which the register tilings run for narrow products:
 * slower at large sizes, but its pipelines build about 3x faster on SwiftShader, which makes it
 * a CPU adapter's first compile while the picks are measured). 'quad' and 'register' give the
 * same sums in the same order, so a switch between them changes no result.
 */
export type MatmulTiling = 'register' | 'quad' | 'shared' | 'wide' | 'small';
export const MATMUL_TILINGS: readonly MatmulTiling[] = ['register', 'quad', 'shared', 'wide', 'small'];

/**
 * The block tilings, what the tuner and the benchmark compare: not 'small', the 4x4 blocks the
 * register tilings run for narrow products anyway, chosen of its own only for a first compile.
 */
export const MATMUL_BLOCK_TILINGS: readonly MatmulTiling[] = MATMUL_TILINGS.filter((t) => t !== 'small');

/** The block tilings an adapter with `features` runs as themselves ('quad' runs as 'register' without subgroups). */
export const matmulTilingsFor = (features: ReadonlySet<string>): readonly MatmulTiling[] =>
  MATMUL_BLOCK_TILINGS.filter((t) => t !== 'quad' || features.has('subgroups'));

/**
 * Products by work (M N K times the batch, in multiply-adds): the tiling that wins can differ
 * between a product of a few blocks and one that fills a GPU many times over, so a pick is
 * measured per class (matmul-tune.ts, which also holds each class's representative product).
 * 'small', below 2^21 (128^3): at most 2 register or 4 shared blocks, launch and per-block
 * latency decide. 'medium', below 2^27 (512^3): up to 32 or 64 blocks, about one wave on a GPU.
 * 'large': more blocks than a GPU has compute units, throughput bound. The cuts are 64x apart
 * in work (4x per side), so a class spans one regime without a dozen classes to measure.
 */
export type MatmulSizeClass = 'small' | 'medium' | 'large';
export const MATMUL_SIZE_CLASSES: readonly MatmulSizeClass[] = ['small', 'medium', 'large'];
/** Work at which each class ends (exclusive); 'large' has no end. */
export const MATMUL_CLASS_CUTS = { small: 2 ** 21, medium: 2 ** 27 } as const;

/** The size class of an (M, K) x (K, N) product repeated `batch` times. */
export function matmulSizeClass(M: number, N: number, K: number, batch = 1): MatmulSizeClass {
  const work = M * N * K * batch;
  return work < MATMUL_CLASS_CUTS.small ? 'small' : work < MATMUL_CLASS_CUTS.medium ? 'medium' : 'large';
}

/** The size class of a matmul node from its inputs, before it is lowered (the tuner asks). */
export function matmulClassOf(ins: TensorSpec[], at: MatmulAttrs): MatmulSizeClass {
  const g = geometry(ins[0].shape, ins[1].shape, at);
  return matmulSizeClass(g.M, g.N, g.K, numel(g.batch));
}

/**
 * The tilings as a tuned family (tunable.ts): 'matmul' in KernelEnv.tuning fixes one for every
 * size (a user's choice), 'matmul.<class>' holds a class's pick (measured, or the default when
 * autotuning is off); with nothing measured, barrier-free on CPU-emulated adapters (without
 * quad sharing, which takes twice as long to build), shared memory on GPUs. While a class waits
 * for its measurement (deferred tuning), a CPU adapter lowers it to 'small': the tiny GPT's
 * first compile took 2.0 s on it against 4.9 s on 'register' (SwiftShader, Node), and its steps
 * 1.2x as long until the picks came.
 */
export const MATMUL_CHOICES = kernelChoices<MatmulSizeClass, MatmulTiling>({
  name: 'matmul',
  classes: MATMUL_SIZE_CLASSES,
  choices: MATMUL_TILINGS,
  defaultChoice: (isSoftware) => (isSoftware ? 'register' : 'shared'),
  firstChoice: (isSoftware) => (isSoftware ? 'small' : 'shared'),
});

/** Batch dims the kernel addresses after merging (vec4 fields of its uniform). */
const MAX_BATCH_DIMS = 4;
/** Workgroup shape of each tiling (the shared one's block is 4 WG_Y x 4 WG_X, depth BK). */
const REGISTER_WG = { x: 4, y: 4 };
/**
 * Products with N or M at most this take mm_small's 4x4 blocks on the register tiling. On
 * SwiftShader the GAN's (512, 1, 128), (256, 2, 128) and (2, 128, 512) products ran at
 * 0.03-0.25 GFLOP/s in 32x16 blocks, half of an iteration's matmul time for 2% of its work.
 */
const SMALL_EDGE = 8;

/** 64 invocations of 4x4 blocks, as wide as N needs (one column of blocks for N <= 4). */
function smallWorkgroup(N: number): { x: number; y: number } {
  let x = 1;
  while (x < 64 && x * 4 < N) x *= 2;
  return { x, y: 64 / x };
}
const SHARED_WG = { x: 16, y: 16, bk: 16 };

/**
 * Whether mm_wide can read both operands as vec4s: f32, and the dim each runs along in memory (K
 * for A, M for A^T, N for B, K for B^T) a multiple of 4, so every vec4 starts on a multiple of 4
 * (batch strides included) and lies wholly inside or outside the matrix.
 */
function wideFits(ins: TensorSpec[], at: MatmulAttrs, g: Geometry): boolean {
  const f32 = ins[0].dtype === 'f32' && ins[1].dtype === 'f32';
  return f32 && (at.transA ? g.M : g.K) % 4 === 0 && (at.transB ? g.K : g.N) % 4 === 0;
}

// ---------------------------------------------------------------------------------------------
// Geometry

interface Geometry {
  M: number;
  N: number;
  K: number;
  /** Broadcast batch shape of the output. */
  batch: number[];
  /** Batch dims merged where both operands walk them contiguously, size-1 dims dropped. */
  dims: number[];
  /** Element strides of a and b along `dims` (0 where an operand is broadcast). */
  sa: number[];
  sb: number[];
}

function describe(a: Shape, b: Shape, at: MatmulAttrs): string {
  return `a ${fmtShape(a)}${at.transA ? ' (transposed)' : ''} and b ${fmtShape(b)}${at.transB ? ' (transposed)' : ''}`;
}

function geometry(a: Shape, b: Shape, at: MatmulAttrs): Geometry {
  if (a.length < 2 || b.length < 2) {
    throw new ShapeError(
      `matmul: operands need at least 2 dims, got ${describe(a, b, at)}. ` +
        'Reshape a vector to [1, K] or [K, 1] first.',
    );
  }
  const [ra, ca] = a.slice(-2);
  const [rb, cb] = b.slice(-2);
  const [M, Ka] = at.transA ? [ca, ra] : [ra, ca];
  const [Kb, N] = at.transB ? [cb, rb] : [rb, cb];
  if (Ka !== Kb) {
    throw new ShapeError(
      `matmul: inner dims differ for ${describe(a, b, at)}: op(A) is ${M}x${Ka}, op(B) is ${Kb}x${N}. ` +
        'Transpose an operand (transA / transB) or fix the shapes.',
    );
  }
  const K = Ka;
  const ba = a.slice(0, -2);
  const bb = b.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  // Strides of each operand's batch dims, aligned at the right, 0 where repeated.
  let stA = M * K;
  let stB = K * N;
  for (let k = rank - 1; k >= 0; k--) {
    const da = ba[k - rank + ba.length] ?? 1;
    const db = bb[k - rank + bb.length] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `matmul: batch dims of ${describe(a, b, at)} do not broadcast: aligned from the right, ` +
          `sizes ${da} and ${db} at batch axis ${k - rank} must be equal or 1.`,
      );
    }
    batch.unshift(Math.max(da, db));
    sa.unshift(da === 1 ? 0 : stA);
    sb.unshift(db === 1 ? 0 : stB);
    stA *= da;
    stB *= db;
  }
  // Merge neighbours both operands walk contiguously; drop dims of size 1.
  const dims: number[] = [];
  const ma: number[] = [];
  const mb: number[] = [];
  batch.forEach((d, k) => {
    if (d === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && ma[last] === sa[k] * d && mb[last] === sb[k] * d) {
      dims[last] *= d;
      ma[last] = sa[k];
      mb[last] = sb[k];
    } else {
      dims.push(d);
      ma.push(sa[k]);
      mb.push(sb[k]);
    }
  });
  if (dims.length > MAX_BATCH_DIMS) {
    throw new ShapeError(
      `matmul: the batch dims of ${describe(a, b, at)} alternate between broadcast and not ` +
        `${dims.length} times; at most ${MAX_BATCH_DIMS} are supported. Merge batch dims with a reshape.`,
    );
  }
  return { M, N, K, batch, dims, sa: ma, sb: mb };
}

function requireF32(what: string, t: TensorSpec, orF16 = false): void {
  if (t.dtype !== 'f32' && !(orF16 && t.dtype === 'f16')) {
    throw new DTypeError(`matmul: ${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}. Convert it with cast(x, 'f32').`);
  }
}

function matmulShape(ins: TensorSpec[], at: MatmulAttrs): TensorSpec[] {
  const gated = at.gate !== 'none';
  const want = 2 + +at.bias + +at.residual + +gated;
  if (ins.length !== want) throw new ShapeError(`matmul: expected ${want} inputs, got ${ins.length}.`);
  if (gated && (at.bias || at.residual || at.act !== 'none' || at.savePre)) {
    throw new ShapeError('matmul: a gate (a fused activation backward) takes no bias, activation or residual.');
  }
  const [a, b] = ins;
  requireF32('a', a, true);
  requireF32('b', b, true);
  const g = geometry(a.shape, b.shape, at);
  const shape = [...g.batch, g.M, g.N];
  if (gated && (ins[2].dtype === 'i32' || fmtShape(ins[2].shape) !== fmtShape(shape))) {
    throw new ShapeError(`matmul: the gate's z must be f32 or f16 ${fmtShape(shape)}, the output's shape; got ${ins[2].dtype} ${fmtShape(ins[2].shape)}.`);
  }
  if (at.halfOut && (gated || g.N % 2 !== 0)) {
    throw new ShapeError(
      `matmul: an f16 output needs an even last dim and no gate; ${describe(a.shape, b.shape, at)} has N = ${g.N}` +
        `${gated ? ' and a gate' : ''}. Leave the output f32 and cast it.`,
    );
  }
  if (at.bias) {
    const bias = ins[2];
    requireF32('bias', bias);
    if (bias.shape.length !== 1 || bias.shape[0] !== g.N) {
      throw new ShapeError(`matmul: bias must have shape [${g.N}] for ${describe(a.shape, b.shape, at)}, got ${fmtShape(bias.shape)}.`);
    }
  }
  if (at.residual) {
    const r = ins[at.bias ? 3 : 2];
    requireF32('residual', r);
    if (fmtShape(r.shape) !== fmtShape(shape)) {
      throw new ShapeError(
        `matmul: residual must have the output's shape ${fmtShape(shape)}, got ${fmtShape(r.shape)}. ` +
          'Broadcast it first (broadcastTo) or add it separately.',
      );
    }
  }
  const out: TensorSpec = { shape, dtype: at.halfOut ? 'f16' : 'f32' };
  return at.savePre && at.act !== 'none' ? [out, { ...out }] : [out];
}

// ---------------------------------------------------------------------------------------------
// Kernel

function matmulKernel(ins: TensorSpec[], _outs: TensorSpec[], at: MatmulAttrs, env: KernelEnv): KernelPlan {
  const g = geometry(ins[0].shape, ins[1].shape, at);
  let { M, dims, sa, sb } = g;
  // a's batch folds into its rows when b is shared by every batch and a is row-major and not
  // broadcast: (B, T, C) x (C, N) runs as one (B T) x C x N product.
  if (!at.transA && dims.length === 1 && sb[0] === 0 && sa[0] === M * g.K) {
    M *= dims[0];
    dims = [];
    sa = [];
    sb = [];
  }
  const count = dims.reduce((x, y) => x * y, 1);
  const pad = (v: number[], fill: number) => [...v, ...new Array<number>(MAX_BATCH_DIMS - v.length).fill(fill)];
  const picked = MATMUL_CHOICES.choose(env, matmulSizeClass(M, g.N, g.K, count));
  const tiling = picked === 'wide' && !wideFits(ins, at, g) ? 'shared' : picked;
  const wide = tiling === 'wide';
  const register = tiling === 'register' || tiling === 'quad' || tiling === 'small';
  // Narrow products on the register tiling take 4x4 blocks, laid out along the long side.
  const small = tiling === 'small' || (register && (g.N <= SMALL_EDGE || M <= SMALL_EDGE));
  const wg = small ? smallWorkgroup(g.N) : register ? REGISTER_WG : wide ? { x: WIDE_TILE.wg, y: WIDE_TILE.wg } : SHARED_WG;
  const [rows, cols] = wide
    ? [WIDE_TILE.edge, WIDE_TILE.edge]
    : register && !small ? [REGISTER_TILE.rows * wg.y, REGISTER_TILE.cols * wg.x] : [4 * wg.y, 4 * wg.x];
  const workgroups: [number, number, number] = [Math.ceil(g.N / cols), Math.ceil(M / rows), count];
  const max = env.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((w) => w > max)) {
    throw new DeviceLimitError(
      `matmul: ${describe(ins[0].shape, ins[1].shape, at)} needs ${workgroups.join(' x ')} workgroups, ` +
        `more than this device's ${max} per dimension. Split the batch or the matrices.`,
    );
  }
  const keepPre = at.savePre && at.act !== 'none';
  const flags = (at.transA ? MATMUL_FLAGS.transA : 0) | (at.transB ? MATMUL_FLAGS.transB : 0);
  const epilogue = {
    BIAS: +at.bias,
    RESIDUAL: +at.residual,
    SAVE_PRE: +keepPre,
    GATE: +(at.gate !== 'none'),
    ACT: MATMUL_ACT[at.gate !== 'none' ? at.gate : at.act],
    // f16 runs along k (A) or n (B) that start on multiples of 4 are read four at a time.
    QUAD_A: +(ins[0].dtype === 'f16' && !at.transA && g.K % 4 === 0),
    QUAD_B: +(ins[1].dtype === 'f16' && !at.transB && g.N % 4 === 0),
  };
  const d: Dispatch = {
    shader: matmulShader({
      halfA: ins[0].dtype === 'f16',
      halfB: ins[1].dtype === 'f16',
      halfRes: (at.residual || at.gate !== 'none') && ins[at.bias ? 3 : 2].dtype === 'f16',
      halfOut: at.halfOut,
    }),
    entry: small ? 'mm_small' : register ? 'mm_register' : wide ? 'mm_wide' : 'mm_shared',
    constants: {
      WG_X: wg.x,
      WG_Y: wg.y,
      ...(tiling === 'shared' ? { BK: SHARED_WG.bk } : {}),
      ...(register && !small ? { QUAD_SHARE: +(tiling === 'quad' && env.features.has('subgroups')) } : {}),
      ...epilogue,
    },
    // Absent optional operands are bound to `a` and never read; a gate's z takes the residual's place.
    reads: [{ in: 0 }, { in: 1 }, { in: at.bias ? 2 : 0 }, { in: at.residual || at.gate !== 'none' ? (at.bias ? 3 : 2) : 0 }],
    // Without a pre-activation output, a 4-byte scratch buffer fills its binding.
    writes: [{ out: 0 }, keepPre ? { out: 1 } : { tmp: 0 }],
    params: [M, g.N, g.K, flags, ...pad(dims, 1), ...pad(sa, 0), ...pad(sb, 0)],
    workgroups,
  };
  return { tmp: keepPre ? [] : [4], dispatches: [d] };
}

// ---------------------------------------------------------------------------------------------
// CPU reference

const activate = (z: number, act: MatmulActivation): number => (act === 'none' ? z : activationCpu[act](z));

/** The fused derivative ops a gate stands for (their CPU references are the spec). */
const gateDefs = { relu: reluGradDef, gelu: geluGradDef, silu: siluGradDef } as const;
type Gated = keyof typeof gateDefs;
const gateOps = { relu: reluGrad, gelu: geluGrad, silu: siluGrad } as const;

function matmulCpu(ins: HostTensor[], at: MatmulAttrs): HostTensor[] {
  const [a, b] = ins;
  const bias = at.bias ? ins[2] : null;
  const res = at.residual ? ins[at.bias ? 3 : 2] : null;
  const gate = at.gate !== 'none' ? ins[2] : null;
  const [spec] = matmulShape(ins, at);
  const { M, N, K } = geometry(a.shape, b.shape, at);
  const batch = spec.shape.slice(0, -2);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const y = new Float64Array(numel(spec.shape));
  const z = new Float64Array(y.length);
  // The batch index of an operand for output batch index `idx`: broadcast dims read index 0.
  const operandBatch = (own: Shape, idx: number[]) => {
    let flat = 0;
    own.forEach((d, k) => (flat = flat * d + (d === 1 ? 0 : idx[k + idx.length - own.length])));
    return flat;
  };
  const count = numel(batch);
  for (let t = 0; t < count; t++) {
    const idx: number[] = [];
    for (let k = batch.length - 1, r = t; k >= 0; k--) {
      idx.unshift(r % batch[k]);
      r = Math.floor(r / batch[k]);
    }
    const oa = operandBatch(ba, idx) * M * K;
    const ob = operandBatch(bb, idx) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a.data[oa + (at.transA ? k * M + m : m * K + k)];
          const bv = b.data[ob + (at.transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        const i = (t * M + m) * N + n;
        z[i] = s + (bias ? bias.data[n] : 0);
        y[i] = activate(z[i], at.act) + (res ? res.data[i] : 0);
      }
    }
  }
  if (gate) {
    // dy * act'(z) with dy the product: the derivative op's own reference.
    const dy: HostTensor = { shape: spec.shape, dtype: 'f32', data: y };
    return gateDefs[at.gate as Gated].cpu([gate, dy], {});
  }
  const stored = (v: Float64Array): HostTensor => ({ shape: spec.shape, dtype: spec.dtype, data: at.halfOut ? v.map(roundToHalf) : v });
  return at.savePre && at.act !== 'none' ? [stored(y), stored(z)] : [stored(y)];
}

// ---------------------------------------------------------------------------------------------
// Backward

const plain = (x: Tensor, y: Tensor, transA: boolean, transB: boolean) => matmul(x, y, { transA, transB });

/** The output gradient as the operand gradient products take it: f16 when the forward's operands were. */
const asOperand = (dz: Tensor, a: Tensor, b: Tensor) => (a.dtype === 'f16' || b.dtype === 'f16' ? cast(dz, 'f16') : dz);

/** `g` summed over the batch dims `x` was broadcast along, so it has x's shape. */
function toShapeOf(g: Tensor, x: Tensor): Tensor {
  return fmtShape(g.shape) === fmtShape(x.shape) ? g : sumToShape(g, x.shape);
}

/** d a: dz op(B)^T, or its transpose when a holds op(A) transposed. */
function gradA(a: Tensor, b: Tensor, dz: Tensor, at: MatmulAttrs): Tensor {
  const g = at.transA ? plain(b, dz, at.transB, true) : plain(dz, b, false, !at.transB);
  return toShapeOf(g, a);
}

/** d b: op(A)^T dz, or its transpose when b holds op(B) transposed. */
function gradB(a: Tensor, b: Tensor, dz: Tensor, at: MatmulAttrs): Tensor {
  const batched = dz.rank > 2;
  const aWhole = a.rank === dz.rank && a.shape.slice(0, -2).every((d, k) => d === dz.shape[k]);
  if (batched && b.rank === 2 && aWhole && !at.transA) {
    // b is shared by every batch: contract over batch and rows at once, (B T, K)^T (B T, N).
    const rows = numel(dz.shape) / dz.shape[dz.rank - 1];
    const a2 = reshape(a, [rows, a.shape[a.rank - 1]]); // (B T, K)
    const dz2 = reshape(dz, [rows, dz.shape[dz.rank - 1]]); // (B T, N)
    return at.transB ? plain(dz2, a2, true, false) : plain(a2, dz2, true, false);
  }
  const g = at.transB ? plain(dz, a, true, at.transA) : plain(a, dz, !at.transA, false);
  return toShapeOf(g, b);
}

/**
 * dy * act'(z). When dy is a plain matmul's output (nothing added, nothing else reading it in
 * the usual case), the same product rebuilt with a gate, which the executor runs instead:
 * the original node is then never run.
 */
function activationBackward(z: Tensor, dy: Tensor, act: Gated): Tensor {
  const src = dy.source;
  if (src.kind === 'op' && src.node.def === matmulDef) {
    const at = src.node.attrs as MatmulAttrs;
    if (at.act === 'none' && at.gate === 'none' && !at.bias && !at.residual && !at.halfOut) {
      return apply(matmulDef, [src.node.inputs[0], src.node.inputs[1], z], { ...at, gate: act })[0];
    }
  }
  return gateOps[act](cast(z, 'f32'), dy);
}

function matmulBackward({ inputs, outputs, attrs: at }: GradContext<MatmulAttrs>, [dy, dpre]: (Tensor | null)[]): (Tensor | null)[] {
  const [a, b] = inputs;
  if (at.gate !== 'none') {
    // out = P * act'(z), P = op(A) op(B): the derivative op's backward gives dz and dP.
    const z = inputs[2];
    if (!dy) return [null, null, null];
    const P = matmul(a, b, { transA: at.transA, transB: at.transB });
    const rule = gateDefs[at.gate].backward;
    const [dz, dP32] = rule === 'none' ? [null, null] : rule({ inputs: [cast(z, 'f32'), P], outputs: [], attrs: {} }, [dy]);
    const dP = dP32 && asOperand(dP32, a, b);
    return [dP && a.requiresGrad ? gradA(a, b, dP, at) : null, dP && b.requiresGrad ? gradB(a, b, dP, at) : null, dz];
  }
  const bias = at.bias ? inputs[2] : undefined;
  let dz: Tensor | null = null;
  if (dy) {
    if (at.act === 'none') dz = dy;
    else {
      const z = outputs[1] ?? matmul(a, b, { transA: at.transA, transB: at.transB, bias });
      dz = activationBackward(z, dy, at.act);
    }
  }
  if (dpre) dz = dz ? add(dz, dpre) : dpre;
  const dzOp = dz && asOperand(dz, a, b);
  const grads: (Tensor | null)[] = [
    dzOp && a.requiresGrad ? gradA(a, b, dzOp, at) : null,
    dzOp && b.requiresGrad ? gradB(a, b, dzOp, at) : null,
  ];
  if (bias) grads.push(dz && bias.requiresGrad ? sumToShape(dz, bias.shape) : null);
  if (at.residual) grads.push(dy);
  return grads;
}

// ---------------------------------------------------------------------------------------------
// The op

export { plainMatmulAttrs };

export const matmulDef: OpDef<MatmulAttrs> = {
  name: 'matmul',
  f16: true,
  shape: matmulShape,
  kernel: matmulKernel,
  cpu: matmulCpu,
  backward: matmulBackward,
  cases: matmulCases,
};

/**
 * act(op(A) op(B) + bias) + residual over the last two dims of a and b, batch dims
 * broadcast: (M, K) x (K, N) -> (M, N); (B, T, C) x (C, N) -> (B, T, N);
 * transB: (M, K) x (N, K) -> (M, N); transA: (K, M) x (K, N) -> (M, N).
 */
export function matmul(a32: Tensor, b32: Tensor, opts: MatmulOptions = {}): Tensor {
  const [a, b] = opts.f16 ? [cast(a32, 'f16'), cast(b32, 'f16')] : [a32, b32];
  const inputs = [a, b, ...(opts.bias ? [opts.bias] : []), ...(opts.residual ? [opts.residual] : [])];
  const attrs: MatmulAttrs = {
    transA: !!opts.transA,
    transB: !!opts.transB,
    act: opts.activation ?? 'none',
    bias: !!opts.bias,
    residual: !!opts.residual,
    savePre: false,
    gate: 'none',
    halfOut: !!opts.f16Output,
  };
  const [y] = apply(matmulDef, inputs, attrs);
  // The activation's backward needs the pre-activation: keep it only when a gradient can flow
  // (y.requiresGrad accounts for noGrad too). The discarded node above is never run.
  if (attrs.act === 'none' || !y.requiresGrad) return y;
  return apply(matmulDef, inputs, { ...attrs, savePre: true })[0];
}

export const matmulOps = { matmul: matmulDef };
