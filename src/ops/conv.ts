// 2D convolution in NCHW and the ops its gradients are made of: conv2d (x, w) -> y,
// conv2dBackwardInput (dy, w) -> dx and conv2dBackwardWeight (x, dy) -> dw; and convTranspose2d,
// which is conv2dBackwardInput under another name (its forward is that op's kernel, its
// gradients are conv2d and conv2dBackwardWeight). All three products are linear in each input,
// so each one's gradients are again these ops and second derivatives come for free.
// One relation defines them all (the CPU references walk it): output pixel (i, j) of channel o
// reads x[n, c, i s - p + a, j s - p + b] through tap w[o, c, a, b].
// Each op lowers to its own kernels or to the tuned matmul, a measured choice (conv-gemm.ts,
// conv-tune.ts). Not here: a bias (add it with broadcast add), dilation, groups, or the
// nn.Conv2d module; WGSL in shaders/conv.ts and shaders/im2col.ts.

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, type OpNode, type Tensor, type TensorSpec } from '../tensor.js';
import { QUAD_PROBE_WORKGROUP } from '../gpu/quads.js';
import { CONV_BLOCK, QUAD_CHANNEL_GROUPS, QUAD_PIXEL_GROUPS, WIDE_CHANNEL_GROUPS, WIDE_PIXEL_GROUPS, TAPS_PER_BLOCK, convShader } from '../../shaders/conv.js';
import { convUniform as uniform, gemmBackwardInput, gemmBackwardWeight, gemmForward, type ConvGeo } from './conv-gemm.js';
import { grid1d } from './grid.js';
import { kernelChoices } from './tunable.js';
import type { Dispatch, HostTensor, KernelEnv, KernelPlan, OpDef, Slot } from './types.js';

export interface Conv2dAttrs {
  /** Step between output pixels, in input pixels (both axes). */
  stride: number;
  /** Zeros added on every side of the input (both axes). */
  padding: number;
}

export interface Conv2dBackwardInputAttrs extends Conv2dAttrs {
  /** The input's height and width: stride rounding loses them from dy's shape. */
  H: number;
  W: number;
}

export interface Conv2dBackwardWeightAttrs extends Conv2dAttrs {
  /** Kernel height and width. */
  kh: number;
  kw: number;
}

export interface ConvTranspose2dAttrs extends Conv2dAttrs {
  /** Rows and columns added at the bottom and right of the output, below stride (default 0). */
  outputPadding: number;
}

type Geo = ConvGeo;

const outSize = (size: number, k: number, { stride, padding }: Conv2dAttrs) => Math.floor((size + 2 * padding - k) / stride) + 1;

function checkAttrs(op: string, at: Conv2dAttrs, extra: Record<string, number> = {}): void {
  const bad = (what: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new ShapeError(`${op}: ${what} must be an integer >= ${min}, got ${v}.`);
  };
  bad('stride', at.stride, 1);
  bad('padding', at.padding, 0);
  for (const [k, v] of Object.entries(extra)) bad(k, v, k === 'outputPadding' ? 0 : 1);
}

function check4d(op: string, what: string, layout: string, t: TensorSpec): number[] {
  if (t.dtype !== 'f32') throw new DTypeError(`${op}: ${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}. Convert it with cast(x, 'f32').`);
  if (t.shape.length !== 4) {
    throw new ShapeError(`${op}: ${what} must be 4-D ${layout}, got ${fmtShape(t.shape)}. Reshape it first (a single image is [1, C, H, W]).`);
  }
  return [...t.shape];
}

/** The geometry of conv2d(x, w), checked; `op` and the names are for messages. */
function geometry(op: string, x: TensorSpec, w: TensorSpec, at: Conv2dAttrs, names = ['x', 'w']): Geo {
  const [N, C, H, W] = check4d(op, names[0], '(N, C, H, W)', x);
  const [O, Cw, kh, kw] = check4d(op, names[1], '(O, C, kh, kw)', w);
  if (C !== Cw) {
    throw new ShapeError(`${op}: ${names[0]} ${fmtShape(x.shape)} has ${C} channels but ${names[1]} ${fmtShape(w.shape)} expects ${Cw} (dim 1 of (O, C, kh, kw)).`);
  }
  const Ho = outSize(H, kh, at);
  const Wo = outSize(W, kw, at);
  if (Ho < 1 || Wo < 1) {
    throw new ShapeError(`${op}: a ${kh}x${kw} kernel does not fit ${names[0]} ${fmtShape(x.shape)} with padding ${at.padding}; pad more or use a smaller kernel.`);
  }
  return { N, C, H, W, O, kh, kw, Ho, Wo, s: at.stride, p: at.padding };
}

/** Checks that dy is conv2d's output shape for geometry g. */
function checkDy(op: string, dy: TensorSpec, g: Geo, what = 'dy'): void {
  const want = [g.N, g.O, g.Ho, g.Wo];
  if (fmtShape(check4d(op, what, '(N, O, Ho, Wo)', dy)) !== fmtShape(want)) {
    throw new ShapeError(`${op}: ${what} ${fmtShape(dy.shape)} must be ${fmtShape(want)}, the conv2d output for input [${g.N},${g.C},${g.H},${g.W}], kernel ${g.kh}x${g.kw}, stride ${g.s}, padding ${g.p}.`);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU reference: one walk over every (output pixel, tap) pair that lands inside x.

function walk(g: Geo, visit: (xi: number, wi: number, yi: number) => void): void {
  for (let n = 0; n < g.N; n++) for (let o = 0; o < g.O; o++) for (let i = 0; i < g.Ho; i++) for (let j = 0; j < g.Wo; j++) {
    const yi = ((n * g.O + o) * g.Ho + i) * g.Wo + j;
    for (let c = 0; c < g.C; c++) for (let a = 0; a < g.kh; a++) for (let b = 0; b < g.kw; b++) {
      const h = i * g.s - g.p + a;
      const w = j * g.s - g.p + b;
      if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
      visit(((n * g.C + c) * g.H + h) * g.W + w, ((o * g.C + c) * g.kh + a) * g.kw + b, yi);
    }
  }
}

const host = (shape: number[], data: Float64Array): HostTensor[] => [{ shape, dtype: 'f32', data }];

function forwardCpu(x: HostTensor, w: HostTensor, g: Geo): HostTensor[] {
  const [xs, ws, y] = [x.data, w.data, new Float64Array(g.N * g.O * g.Ho * g.Wo)];
  walk(g, (xi, wi, yi) => (y[yi] += xs[xi] * ws[wi]));
  return host([g.N, g.O, g.Ho, g.Wo], y);
}

function backwardInputCpu(dy: HostTensor, w: HostTensor, g: Geo): HostTensor[] {
  const [ds, ws, dx] = [dy.data, w.data, new Float64Array(g.N * g.C * g.H * g.W)];
  walk(g, (xi, wi, yi) => (dx[xi] += ds[yi] * ws[wi]));
  return host([g.N, g.C, g.H, g.W], dx);
}

function backwardWeightCpu(x: HostTensor, dy: HostTensor, g: Geo): HostTensor[] {
  const [xs, ds, dw] = [x.data, dy.data, new Float64Array(g.O * g.C * g.kh * g.kw)];
  walk(g, (xi, wi, yi) => (dw[wi] += xs[xi] * ds[yi]));
  return host([g.O, g.C, g.kh, g.kw], dw);
}

// ---------------------------------------------------------------------------------------------
// Lowerings: each op runs as its own kernels ('direct', below) or unfolded into the tuned matmul
// ('gemm', conv-gemm.ts), by a measured pick per role and size class (conv-tune.ts).

/** How a conv runs: its own register-blocked kernels, or im2col and the tuned matmul. */
export const CONV_LOWERINGS = ['direct', 'gemm'] as const;
export type ConvLowering = (typeof CONV_LOWERINGS)[number];

/** What a conv op computes: conv2d's product, an input gradient (and convTranspose2d), a weight gradient. */
export const CONV_ROLES = ['forward', 'inputGrad', 'weightGrad'] as const;
export type ConvRole = (typeof CONV_ROLES)[number];
export type ConvSizeClass = `${ConvRole}.${'small' | 'large'}`;
export const CONV_SIZE_CLASSES = CONV_ROLES.flatMap((r) => [`${r}.small`, `${r}.large`] as const) as readonly ConvSizeClass[];
/** Multiply-adds (N Ho Wo O C kh kw, the same for all three roles) from which a conv is large. */
export const CONV_LARGE = 2 ** 22;

export function convSizeClass(role: ConvRole, g: Geo): ConvSizeClass {
  const work = g.N * g.Ho * g.Wo * g.O * g.C * g.kh * g.kw;
  return `${role}.${work < CONV_LARGE ? 'small' : 'large'}`;
}

/**
 * The lowering per class: measured where an adapter times both. A CPU-emulated adapter runs
 * 'direct' (conv-tune.ts has the figures); a GPU defaults to the matmul, whose tiles are its own
 * tuned ones, where the direct kernels are laid out for CPU emulation (no workgroup memory).
 */
export const CONV_CHOICES = kernelChoices<ConvSizeClass, ConvLowering>({
  name: 'conv',
  classes: CONV_SIZE_CLASSES,
  choices: CONV_LOWERINGS,
  defaultChoice: (isSoftware) => (isSoftware ? 'direct' : 'gemm'),
});

const lowering = (env: KernelEnv, role: ConvRole, g: Geo) => CONV_CHOICES.choose(env, convSizeClass(role, g));

// ---------------------------------------------------------------------------------------------
// Direct kernels

const WG = 64;
const B = CONV_BLOCK;
/**
 * conv2d takes conv_fwd_wide from 4 input channels (its steps take four at a time) and more than
 * 8 output channels (its blocks take 16; below, conv_fwd's 8 waste less).
 */
const wideFits = (g: Geo) => g.C >= 4 && g.O > B;
/** Invocations conv_bwd_weight aims for before it splits dy's rows into chunks. */
const WEIGHT_TARGET = { software: 512, gpu: 16384 };

function forwardKernel(g: Geo, env: KernelEnv): KernelPlan {
  if (lowering(env, 'forward', g) === 'gemm') return gemmForward(g, env);
  return { dispatches: [forwardDispatch(g, env, { in: 0 }, { in: 1 })] };
}

/**
 * conv_fwd_quad where the adapter's quads are in order (a software adapter with subgroups,
 * src/gpu/quads.ts) and there are more output channels than one of conv_fwd_wide's blocks: its
 * 16-pixel x 32-channel blocks share their weights in a quad, 1.25-1.4x conv_fwd_wide's speed on
 * the U-Net's layers on SwiftShader (Node, GPU timestamps, batch 32). Its pixel
 * blocks are counted in fours, so that the four invocations of every quad have the same channels.
 */
const quadFits = (g: Geo, env: KernelEnv) =>
  env.quadsInOrder && WG === QUAD_PROBE_WORKGROUP && wideFits(g) && g.O > 4 * WIDE_CHANNEL_GROUPS;

/** conv_fwd, conv_fwd_wide or conv_fwd_quad (by what fits) of x and w (in those slots) into output 0. */
function forwardDispatch(g: Geo, env: KernelEnv, x: Slot, w: Slot): Dispatch {
  const quad = quadFits(g, env);
  const wide = wideFits(g);
  const [pixels, channels] = quad
    ? [4 * QUAD_PIXEL_GROUPS, 4 * QUAD_CHANNEL_GROUPS]
    : wide ? [4 * WIDE_PIXEL_GROUPS, 4 * WIDE_CHANNEL_GROUPS] : [B, B];
  const pixelBlocks = Math.ceil((g.N * g.Ho * g.Wo) / pixels);
  const blocks = quad ? Math.ceil(pixelBlocks / 4) * 4 : pixelBlocks;
  const tiles = blocks * Math.ceil(g.O / channels);
  return {
    shader: convShader, entry: quad ? 'conv_fwd_quad' : wide ? 'conv_fwd_wide' : 'conv_fwd', constants: { WG },
    reads: [x, w], writes: [{ out: 0 }],
    params: [...uniform(g), blocks, tiles],
    workgroups: grid1d(tiles, WG, env.limits.maxComputeWorkgroupsPerDimension),
  };
}

/**
 * The input gradient of a stride-1 conv with a square kernel is the forward conv of dy with the
 * kernel flipped in both axes and its channels swapped, padded by k - 1 - p: where
 * conv_fwd_wide's blocks fit it, they serve it too (1.3-1.5x the gather kernel's speed on the
 * U-Net's layers); otherwise (or with stride) it runs conv_bwd_input.
 */
function asForward(g: Geo): Geo | null {
  if (g.s !== 1 || g.kh !== g.kw || g.p > g.kh - 1) return null;
  const flipped = { N: g.N, C: g.O, H: g.Ho, W: g.Wo, O: g.C, kh: g.kh, kw: g.kw, Ho: g.H, Wo: g.W, s: 1, p: g.kh - 1 - g.p };
  return wideFits(flipped) ? flipped : null;
}

function flippedForwardKernel(g: Geo, flipped: Geo, env: KernelEnv): KernelPlan {
  const size = g.O * g.C * g.kh * g.kw;
  const flip: Dispatch = {
    shader: convShader, entry: 'conv_flip_weights', constants: { WG },
    reads: [{ in: 1 }], writes: [{ tmp: 0 }], params: [...uniform(g), size],
    workgroups: grid1d(size, WG, env.limits.maxComputeWorkgroupsPerDimension),
  };
  return { tmp: [size * 4], dispatches: [flip, forwardDispatch(flipped, env, { in: 0 }, { tmp: 0 })] };
}

function backwardInputKernel(g: Geo, env: KernelEnv): KernelPlan {
  if (lowering(env, 'inputGrad', g) === 'gemm') return gemmBackwardInput(g, env);
  const flipped = asForward(g);
  if (flipped) return flippedForwardKernel(g, flipped, env);
  // Pixels of one phase (h = ph + S i, w = pw + S j) in blocks of 2 rows x 4 columns.
  const HQ = Math.ceil(Math.ceil(g.H / g.s) / 2);
  const JQ = Math.ceil(Math.ceil(g.W / g.s) / 4);
  const tiles = JQ * g.s * HQ * g.s * g.N * Math.ceil(g.C / B);
  const d: Dispatch = {
    shader: convShader, entry: 'conv_bwd_input', constants: { WG },
    reads: [{ in: 0 }, { in: 1 }], writes: [{ out: 0 }],
    params: [...uniform(g), HQ, JQ, tiles],
    workgroups: grid1d(tiles, WG, env.limits.maxComputeWorkgroupsPerDimension),
  };
  return { dispatches: [d] };
}

/**
 * conv_bwd_weight_quad where quads are in order and the input channels make a multiple of four
 * of conv_bwd_weight_wide's 16-channel blocks, so that every quad's four blocks share their
 * output channels, tap and rows: 15-22% faster than conv_bwd_weight_wide on those U-Net layers on
 * SwiftShader (Node, GPU timestamps, batch 32). Padding the blocks to a multiple of four cost as
 * much as sharing saved on 96 channels (6 blocks), and more on 32.
 */
const weightQuadFits = (g: Geo, env: KernelEnv) =>
  env.quadsInOrder && WG === QUAD_PROBE_WORKGROUP && Math.ceil(g.C / (4 * WIDE_CHANNEL_GROUPS)) % 4 === 0;

/**
 * conv_bwd_weight_taps at stride 1 where kernel rows come in threes and both channel counts fill
 * a block of 8: 16 output x 8 input channels x 3 taps of a row per invocation, in one loop over
 * the chunk's rows and columns. On the U-Net's layers on SwiftShader (Node, GPU timestamps,
 * batch 32) its quad form took the weight gradients from ~780 to ~320 ms a step, and every layer
 * beat conv_bwd_weight_quad and _wide (most of it the single loop: see shaders/conv.ts). Its quad
 * form, where quads are in order and the 8-channel input blocks come in fours, shares dy.
 */
const tapsFit = (g: Geo) => g.s === 1 && g.kw % TAPS_PER_BLOCK === 0 && g.C >= B && g.O > B;
const tapsQuadFit = (g: Geo, env: KernelEnv) => env.quadsInOrder && WG === QUAD_PROBE_WORKGROUP && Math.ceil(g.C / B) % 4 === 0;

function backwardWeightKernel(g: Geo, env: KernelEnv): KernelPlan {
  if (lowering(env, 'weightGrad', g) === 'gemm') return gemmBackwardWeight(g, env);
  // By rows of taps where they fit; else conv_bwd_weight_wide's 16 x 16 blocks where both channel
  // counts pass one 8-channel block (conv_bwd_weight_quad's where its input channels fit).
  const taps = tapsFit(g);
  const tapsQuad = taps && tapsQuadFit(g, env);
  const wide = !taps && g.C > B && g.O > B;
  const block = wide ? 4 * WIDE_CHANNEL_GROUPS : B;
  const quad = wide && weightQuadFits(g, env);
  const [CQ, OQ, rows] = taps ? [Math.ceil(g.C / B), Math.ceil(g.O / (2 * B)), g.N * g.Ho] : [Math.ceil(g.C / block), Math.ceil(g.O / block), g.N * g.Ho];
  const perChunk = CQ * OQ * g.kh * (taps ? g.kw / TAPS_PER_BLOCK : g.kw);
  // Enough invocations to fill the device; each chunk adds one pass over dw in the final sum.
  const want = Math.ceil((env.isSoftware ? WEIGHT_TARGET.software : WEIGHT_TARGET.gpu) / perChunk);
  const R = Math.ceil(rows / Math.max(1, Math.min(rows, want)));
  const chunks = Math.ceil(rows / R);
  const size = g.O * g.C * g.kh * g.kw;
  const max = env.limits.maxComputeWorkgroupsPerDimension;
  const tiles = perChunk * chunks;
  const partial: Dispatch = {
    shader: convShader, entry: tapsQuad ? 'conv_bwd_weight_taps_quad' : taps ? 'conv_bwd_weight_taps' : quad ? 'conv_bwd_weight_quad' : wide ? 'conv_bwd_weight_wide' : 'conv_bwd_weight', constants: { WG },
    reads: [{ in: 0 }, { in: 1 }], writes: [chunks === 1 ? { out: 0 } : { tmp: 0 }],
    params: [...uniform(g), CQ, OQ, R, tiles],
    workgroups: grid1d(tiles, WG, max),
  };
  if (chunks === 1) return { dispatches: [partial] };
  const lanes = size % 4 === 0 ? 4 : 1;
  const sum: Dispatch = {
    shader: convShader, entry: lanes === 4 ? 'conv_sum_chunks4' : 'conv_sum_chunks', constants: { WG },
    reads: [{ tmp: 0 }], writes: [{ out: 0 }], params: [size, chunks], workgroups: grid1d(size / lanes, WG, max),
  };
  return { tmp: [chunks * size * 4], dispatches: [partial, sum] };
}

// ---------------------------------------------------------------------------------------------
// The ops. Each hook rebuilds the geometry from the specs (cheap; `shape` has checked them).

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });

export const conv2dDef: OpDef<Conv2dAttrs> = {
  name: 'conv2d',
  shape: ([x, w], at) => {
    checkAttrs('conv2d', at);
    const g = geometry('conv2d', x, w, at);
    return [f32(g.N, g.O, g.Ho, g.Wo)];
  },
  kernel: ([x, w], _outs, at, env) => forwardKernel(geometry('conv2d', x, w, at), env),
  cpu: ([x, w], at) => forwardCpu(x, w, geometry('conv2d', x, w, at)),
  backward: ({ inputs: [x, w], attrs: { stride, padding } }, [dy]) => [
    x.requiresGrad ? conv2dBackwardInput(dy!, w, { H: x.shape[2], W: x.shape[3], stride, padding }) : null,
    w.requiresGrad ? conv2dBackwardWeight(x, dy!, { kh: w.shape[2], kw: w.shape[3], stride, padding }) : null,
  ],
  cases: [
    { inputs: [f32(1, 1, 5, 5), f32(1, 1, 3, 3)], attrs: { stride: 1, padding: 0 } },
    { inputs: [f32(2, 3, 7, 7), f32(5, 3, 3, 3)], attrs: { stride: 1, padding: 1 } },
    // Stride 2 over an odd size: the last row and column of x are never read.
    { inputs: [f32(2, 3, 8, 7), f32(5, 3, 3, 3)], attrs: { stride: 2, padding: 0 } },
    { inputs: [f32(2, 3, 7, 7), f32(5, 3, 3, 3)], attrs: { stride: 2, padding: 1 } },
    { inputs: [f32(1, 3, 8, 8), f32(5, 3, 1, 1)], attrs: { stride: 1, padding: 0 } },
    { inputs: [f32(2, 2, 7, 7), f32(3, 2, 1, 1)], attrs: { stride: 2, padding: 0 } },
    // A DCGAN discriminator layer (kernel 4, stride 2, padding 1), and its last layer (4x4 -> 1x1).
    { inputs: [f32(2, 3, 8, 8), f32(5, 3, 4, 4)], attrs: { stride: 2, padding: 1 } },
    { inputs: [f32(2, 5, 4, 4), f32(1, 5, 4, 4)], attrs: { stride: 1, padding: 0 } },
    // A non-square kernel on a non-square image; channels that are not multiples of a block.
    { inputs: [f32(1, 2, 6, 5), f32(3, 2, 3, 2)], attrs: { stride: 1, padding: 1 } },
    { inputs: [f32(2, 9, 5, 6), f32(7, 9, 3, 3)], attrs: { stride: 1, padding: 1 } },
    // More output channels than one 8-channel block.
    { inputs: [f32(1, 2, 4, 5), f32(10, 2, 3, 3)], attrs: { stride: 1, padding: 1 } },
    // conv_fwd_wide: 42 pixels, 5 input and 17 output channels, tails in every block dimension.
    { inputs: [f32(1, 5, 6, 7), f32(17, 5, 3, 3)], attrs: { stride: 1, padding: 1 } },
  ],
};

/** Cross-correlation of x (N, C, H, W) with w (O, C, kh, kw): (N, O, Ho, Wo), Ho = floor((H + 2 padding - kh) / stride) + 1. */
export function conv2d(x: Tensor, w: Tensor, { stride = 1, padding = 0 }: Partial<Conv2dAttrs> = {}): Tensor {
  return apply(conv2dDef, [x, w], { stride, padding })[0];
}

// ---------------------------------------------------------------------------------------------
// conv2dBackwardInput: dx (N, C, H, W) from dy (N, O, Ho, Wo) and w (O, C, kh, kw)

function backwardInputGeo(op: string, [dy, w]: TensorSpec[], at: Conv2dBackwardInputAttrs, names = ['dy', 'w']): Geo {
  checkAttrs(op, at, { H: at.H, W: at.W });
  const [N] = check4d(op, names[0], '(N, O, Ho, Wo)', dy);
  const [O, C] = check4d(op, names[1], '(O, C, kh, kw)', w);
  const g = geometry(op, f32(N, C, at.H, at.W), w, at, [`the input ${fmtShape([N, C, at.H, at.W])}`, names[1]]);
  if (dy.shape[1] !== O) {
    throw new ShapeError(`${op}: ${names[0]} ${fmtShape(dy.shape)} has ${dy.shape[1]} channels but ${names[1]} ${fmtShape(w.shape)} expects ${O} (its dim 0).`);
  }
  checkDy(op, dy, g, names[0]);
  return g;
}

export const conv2dBackwardInputDef: OpDef<Conv2dBackwardInputAttrs> = {
  name: 'conv2dBackwardInput',
  shape: (ins, at) => {
    const g = backwardInputGeo('conv2dBackwardInput', ins, at);
    return [f32(g.N, g.C, g.H, g.W)];
  },
  kernel: (ins, _outs, at, env) => backwardInputKernel(backwardInputGeo('conv2dBackwardInput', ins, at), env),
  cpu: ([dy, w], at) => backwardInputCpu(dy, w, backwardInputGeo('conv2dBackwardInput', [dy, w], at)),
  // dx is linear in dy (its adjoint is conv2d) and in w (the weight gradient, dx's gradient as x).
  backward: ({ inputs: [dy, w], attrs: { stride, padding } }, [g]) => [
    dy.requiresGrad ? conv2d(g!, w, { stride, padding }) : null,
    w.requiresGrad ? conv2dBackwardWeight(g!, dy, { kh: w.shape[2], kw: w.shape[3], stride, padding }) : null,
  ],
  cases: [
    { inputs: [f32(2, 5, 4, 4), f32(5, 3, 3, 3)], attrs: { H: 7, W: 7, stride: 2, padding: 1 } },
    // H = 8 with stride 2 gives the same dy as H = 7: the last row of dx gets no tap from row 3.
    { inputs: [f32(2, 4, 4, 4), f32(4, 3, 3, 3)], attrs: { H: 8, W: 7, stride: 2, padding: 1 } },
    { inputs: [f32(1, 5, 8, 8), f32(5, 3, 1, 1)], attrs: { H: 8, W: 8, stride: 1, padding: 0 } },
    { inputs: [f32(2, 3, 4, 4), f32(3, 2, 4, 4)], attrs: { H: 8, W: 8, stride: 2, padding: 1 } },
    { inputs: [f32(1, 6, 5, 6), f32(6, 5, 3, 3)], attrs: { H: 5, W: 6, stride: 1, padding: 1 } },
    // More input channels than one 8-channel block.
    { inputs: [f32(1, 2, 3, 3), f32(2, 10, 3, 3)], attrs: { H: 5, W: 5, stride: 2, padding: 1 } },
    // Stride 1 as a forward conv with the flipped kernel (padding 1, then 0: the flipped conv pads 1, then 2).
    { inputs: [f32(1, 6, 5, 4), f32(6, 11, 3, 3)], attrs: { H: 5, W: 4, stride: 1, padding: 1 } },
    { inputs: [f32(2, 4, 3, 3), f32(4, 9, 3, 3)], attrs: { H: 5, W: 5, stride: 1, padding: 0 } },
  ],
};

/** The input gradient of conv2d: dx (N, C, H, W) from dy (N, O, Ho, Wo) and w (O, C, kh, kw). */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, attrs: Conv2dBackwardInputAttrs): Tensor {
  return apply(conv2dBackwardInputDef, [dy, w], attrs)[0];
}

// ---------------------------------------------------------------------------------------------
// conv2dBackwardWeight: dw (O, C, kh, kw) from x (N, C, H, W) and dy (N, O, Ho, Wo)

function backwardWeightGeo(op: string, [x, dy]: TensorSpec[], at: Conv2dBackwardWeightAttrs): Geo {
  checkAttrs(op, at, { kh: at.kh, kw: at.kw });
  const [, C] = check4d(op, 'x', '(N, C, H, W)', x);
  const [, O] = check4d(op, 'dy', '(N, O, Ho, Wo)', dy);
  const g = geometry(op, x, f32(O, C, at.kh, at.kw), at, ['x', `the kernel ${fmtShape([O, C, at.kh, at.kw])}`]);
  checkDy(op, dy, g);
  return g;
}

export const conv2dBackwardWeightDef: OpDef<Conv2dBackwardWeightAttrs> = {
  name: 'conv2dBackwardWeight',
  shape: (ins, at) => {
    const g = backwardWeightGeo('conv2dBackwardWeight', ins, at);
    return [f32(g.O, g.C, g.kh, g.kw)];
  },
  kernel: (ins, _outs, at, env) => backwardWeightKernel(backwardWeightGeo('conv2dBackwardWeight', ins, at), env),
  cpu: ([x, dy], at) => backwardWeightCpu(x, dy, backwardWeightGeo('conv2dBackwardWeight', [x, dy], at)),
  // dw is linear in x (its adjoint is the input gradient with dw's gradient as the kernel) and in
  // dy (conv2d of x with that kernel).
  backward: ({ inputs: [x, dy], attrs: { stride, padding } }, [g]) => [
    x.requiresGrad ? conv2dBackwardInput(dy, g!, { H: x.shape[2], W: x.shape[3], stride, padding }) : null,
    dy.requiresGrad ? conv2d(x, g!, { stride, padding }) : null,
  ],
  cases: [
    { inputs: [f32(2, 3, 7, 7), f32(2, 5, 4, 4)], attrs: { kh: 3, kw: 3, stride: 2, padding: 1 } },
    { inputs: [f32(2, 3, 7, 7), f32(2, 5, 7, 7)], attrs: { kh: 3, kw: 3, stride: 1, padding: 1 } },
    { inputs: [f32(1, 3, 8, 8), f32(1, 5, 8, 8)], attrs: { kh: 1, kw: 1, stride: 1, padding: 0 } },
    { inputs: [f32(2, 2, 8, 8), f32(2, 3, 4, 4)], attrs: { kh: 4, kw: 4, stride: 2, padding: 1 } },
    // More than one 8-channel block of each.
    { inputs: [f32(1, 9, 3, 4), f32(1, 10, 3, 4)], attrs: { kh: 3, kw: 3, stride: 1, padding: 1 } },
    // One row of dy: a single chunk, written straight to dw.
    { inputs: [f32(1, 3, 3, 3), f32(1, 5, 1, 1)], attrs: { kh: 3, kw: 3, stride: 1, padding: 0 } },
  ],
};

/** The weight gradient of conv2d: dw (O, C, kh, kw) from x (N, C, H, W) and dy (N, O, Ho, Wo). */
export function conv2dBackwardWeight(x: Tensor, dy: Tensor, attrs: Conv2dBackwardWeightAttrs): Tensor {
  return apply(conv2dBackwardWeightDef, [x, dy], attrs)[0];
}

// ---------------------------------------------------------------------------------------------
// convTranspose2d: x (N, Cin, H, W), w (Cin, Cout, kh, kw) -> (N, Cout, Ho, Wo),
// Ho = (H - 1) stride - 2 padding + kh + outputPadding. It is conv2dBackwardInput with x as dy
// and the output as the conv's input (PyTorch's weight layout is exactly conv2d's (O, C, ...)).

function transposeAttrs(op: string, [x, w]: TensorSpec[], at: ConvTranspose2dAttrs): Conv2dBackwardInputAttrs {
  checkAttrs(op, at, { outputPadding: at.outputPadding });
  if (at.outputPadding >= at.stride) {
    throw new ShapeError(`${op}: outputPadding ${at.outputPadding} must be below stride ${at.stride}.`);
  }
  const [, , H, W] = check4d(op, 'x', '(N, Cin, H, W)', x);
  const [, , kh, kw] = check4d(op, 'w', '(Cin, Cout, kh, kw)', w);
  const size = (n: number, k: number) => (n - 1) * at.stride - 2 * at.padding + k + at.outputPadding;
  if (size(H, kh) < 1 || size(W, kw) < 1) {
    throw new ShapeError(`${op}: x ${fmtShape(x.shape)} with a ${kh}x${kw} kernel, stride ${at.stride} and padding ${at.padding} gives an empty output; use less padding.`);
  }
  return { H: size(H, kh), W: size(W, kw), stride: at.stride, padding: at.padding };
}

const asInputGrad = (ins: TensorSpec[], at: ConvTranspose2dAttrs) =>
  backwardInputGeo('convTranspose2d', ins, transposeAttrs('convTranspose2d', ins, at), ['x', 'w']);

export const convTranspose2dDef: OpDef<ConvTranspose2dAttrs> = {
  name: 'convTranspose2d',
  shape: (ins, at) => {
    const g = asInputGrad(ins, at);
    return [f32(g.N, g.C, g.H, g.W)];
  },
  kernel: (ins, _outs, at, env) => backwardInputKernel(asInputGrad(ins, at), env),
  cpu: ([x, w], at) => backwardInputCpu(x, w, asInputGrad([x, w], at)),
  // As conv2dBackwardInput's: the gradient reaching the output plays the conv's input.
  backward: ({ inputs: [x, w], attrs: { stride, padding } }, [dy]) => [
    x.requiresGrad ? conv2d(dy!, w, { stride, padding }) : null,
    w.requiresGrad ? conv2dBackwardWeight(dy!, x, { kh: w.shape[2], kw: w.shape[3], stride, padding }) : null,
  ],
  cases: [
    // A DCGAN generator layer: kernel 4, stride 2, padding 1 doubles the size (8x8 -> 16x16).
    { inputs: [f32(1, 2, 8, 8), f32(2, 3, 4, 4)], attrs: { stride: 2, padding: 1, outputPadding: 0 } },
    { inputs: [f32(2, 4, 3, 3), f32(4, 5, 4, 4)], attrs: { stride: 2, padding: 1, outputPadding: 0 } },
    // Its first layer: a 1x1 latent to 4x4.
    { inputs: [f32(2, 5, 1, 1), f32(5, 3, 4, 4)], attrs: { stride: 1, padding: 0, outputPadding: 0 } },
    { inputs: [f32(1, 3, 3, 3), f32(3, 2, 3, 3)], attrs: { stride: 1, padding: 0, outputPadding: 0 } },
    { inputs: [f32(2, 3, 3, 4), f32(3, 5, 3, 3)], attrs: { stride: 2, padding: 1, outputPadding: 1 } },
    { inputs: [f32(2, 3, 4, 4), f32(3, 2, 1, 1)], attrs: { stride: 2, padding: 0, outputPadding: 1 } },
  ],
};

/** Transposed convolution (the gradient of conv2d with respect to its input, as a layer): PyTorch's layout and sizes. */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  { stride = 1, padding = 0, outputPadding = 0 }: Partial<ConvTranspose2dAttrs> = {},
): Tensor {
  return apply(convTranspose2dDef, [x, w], { stride, padding, outputPadding })[0];
}

/** The role and geometry of a conv op node, before it is lowered (the tuner asks); undefined for other ops. */
export function convRoleOf(node: Pick<OpNode, 'def' | 'inputs' | 'attrs'>): { role: ConvRole; geo: Geo } | undefined {
  const ins = node.inputs;
  if (node.def === conv2dDef) return { role: 'forward', geo: geometry('conv2d', ins[0], ins[1], node.attrs as Conv2dAttrs) };
  if (node.def === conv2dBackwardInputDef) return { role: 'inputGrad', geo: backwardInputGeo('conv2dBackwardInput', ins, node.attrs as Conv2dBackwardInputAttrs) };
  if (node.def === convTranspose2dDef) return { role: 'inputGrad', geo: asInputGrad(ins, node.attrs as ConvTranspose2dAttrs) };
  if (node.def === conv2dBackwardWeightDef) return { role: 'weightGrad', geo: backwardWeightGeo('conv2dBackwardWeight', ins, node.attrs as Conv2dBackwardWeightAttrs) };
  return undefined;
}

export const convOps = {
  conv2d: conv2dDef,
  conv2dBackwardInput: conv2dBackwardInputDef,
  conv2dBackwardWeight: conv2dBackwardWeightDef,
  convTranspose2d: convTranspose2dDef,
};
