// The 'gemm' lowering of the convolution ops (src/ops/conv.ts): each one as the tuned matmul of
// src/ops/matmul.ts on pixel-major operands, made and undone by shaders/im2col.ts. With
// M = N Ho Wo output pixels, K = C kh kw taps, O output channels:
//   conv2d                im2row(x) (M, K) . w^T (K, O) -> (M, O), to NCHW
//   conv2dBackwardInput   to_nhwc(dy) (M, O) . w (O, K) -> (M, K), row2im into dx
//   conv2dBackwardWeight  to_nhwc(dy)^T (O, M) . im2row(x) (M, K) -> dw (O, K)
// Every product is one matmul whose long side is all the batch's pixels: the same M N K as the
// "matmul of the same arithmetic" the conv benchmark compares with. The unfolded copy costs M K
// floats of scratch and a pass over memory; what it buys is the matmul's tiles (its tuned
// tiling) in place of the direct kernels' per-tap gathers. Which lowering a conv takes is a
// measured pick per class (conv-tune.ts).
// Not here: the direct kernels, shape checks or backward rules (conv.ts); the WGSL (shaders/).

import { EngineError } from '../errors.js';
import type { TensorSpec } from '../tensor.js';
import { im2colShader } from '../../shaders/im2col.js';
import { grid1d } from './grid.js';
import { matmulDef, plainMatmulAttrs, type MatmulAttrs } from './matmul.js';
import type { Dispatch, KernelEnv, KernelPlan, Slot } from './types.js';

/** Every size of one convolution, named as for conv2d: x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo). */
export interface ConvGeo {
  N: number; C: number; H: number; W: number; O: number; kh: number; kw: number;
  Ho: number; Wo: number; s: number; p: number;
}

const WG = 64;
const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });

/** The words every conv kernel's uniform starts with (shaders/conv.ts and shaders/im2col.ts). */
export const convUniform = (g: ConvGeo) => [g.kh, g.kw, g.s, g.p, g.N, g.C, g.H, g.W, g.O, g.Ho, g.Wo];

/** The GEMM's sides: M pixels, K taps. */
const sides = (g: ConvGeo) => ({ M: g.N * g.Ho * g.Wo, K: g.C * g.kh * g.kw });

/** A layout kernel of shaders/im2col.ts over `rows` rows. */
function layout(entry: string, g: ConvGeo, rows: number, from: Slot, to: Slot, env: KernelEnv): Dispatch {
  return {
    shader: im2colShader, entry, constants: { WG },
    reads: [from], writes: [to], params: [...convUniform(g), rows],
    workgroups: grid1d(rows, WG, env.limits.maxComputeWorkgroupsPerDimension),
  };
}

const im2row = (g: ConvGeo, to: Slot, env: KernelEnv) => layout('conv_im2row', g, sides(g).M, { in: 0 }, to, env);
const toNhwc = (g: ConvGeo, from: Slot, to: Slot, env: KernelEnv) => layout('conv_to_nhwc', g, sides(g).M, from, to, env);

/**
 * The matmul of `a` x `b` (specs as matmul sees them) with its operands and output bound to the
 * given slots and its own scratch buffers placed from `tmpBase` on.
 */
function product(
  [a, b]: [TensorSpec, TensorSpec],
  attrs: Partial<MatmulAttrs>,
  slots: { a: Slot; b: Slot; out: Slot; tmpBase: number },
  env: KernelEnv,
): { tmp: number[]; dispatches: Dispatch[] } {
  const at = { ...plainMatmulAttrs, ...attrs };
  const plan = matmulDef.kernel([a, b], matmulDef.shape([a, b], at), at, env);
  if ('alias' in plan) throw new EngineError('conv: the matmul of a gemm lowering came back as an alias.');
  const rename = (s: Slot): Slot =>
    'in' in s ? (s.in === 0 ? slots.a : s.in === 1 ? slots.b : fail(s)) : 'out' in s ? (s.out === 0 ? slots.out : fail(s)) : { tmp: slots.tmpBase + s.tmp };
  const dispatches = plan.dispatches.map((d) => ({ ...d, reads: d.reads.map(rename), writes: d.writes.map(rename) }));
  return { tmp: plan.tmp ?? [], dispatches };
}

function fail(s: Slot): never {
  throw new EngineError(`conv: a plain matmul bound an unexpected slot ${JSON.stringify(s)}.`);
}

/** conv2d (x input 0, w input 1): im2row(x) into scratch 0, times w^T into scratch 1, to NCHW. */
export function gemmForward(g: ConvGeo, env: KernelEnv): KernelPlan {
  const { M, K } = sides(g);
  const mm = product([f32(M, K), f32(g.O, K)], { transB: true }, { a: { tmp: 0 }, b: { in: 1 }, out: { tmp: 1 }, tmpBase: 2 }, env);
  return {
    tmp: [M * K * 4, M * g.O * 4, ...mm.tmp],
    dispatches: [im2row(g, { tmp: 0 }, env), ...mm.dispatches, layout('conv_to_nchw', g, g.N * g.O, { tmp: 1 }, { out: 0 }, env)],
  };
}

/** The input gradient (dy input 0, w input 1; convTranspose2d's forward): dy to NHWC, times w, row2im into dx. */
export function gemmBackwardInput(g: ConvGeo, env: KernelEnv): KernelPlan {
  const { M, K } = sides(g);
  const mm = product([f32(M, g.O), f32(g.O, K)], {}, { a: { tmp: 0 }, b: { in: 1 }, out: { tmp: 1 }, tmpBase: 2 }, env);
  return {
    tmp: [M * g.O * 4, M * K * 4, ...mm.tmp],
    dispatches: [toNhwc(g, { in: 0 }, { tmp: 0 }, env), ...mm.dispatches, layout('conv_row2im', g, g.N * g.C * g.H, { tmp: 1 }, { out: 0 }, env)],
  };
}

/** The weight gradient (x input 0, dy input 1): dy to NHWC, transposed, times im2row(x), straight into dw. */
export function gemmBackwardWeight(g: ConvGeo, env: KernelEnv): KernelPlan {
  const { M, K } = sides(g);
  const mm = product([f32(M, g.O), f32(M, K)], { transA: true }, { a: { tmp: 0 }, b: { tmp: 1 }, out: { out: 0 }, tmpBase: 2 }, env);
  return {
    tmp: [M * g.O * 4, M * K * 4, ...mm.tmp],
    dispatches: [toNhwc(g, { in: 1 }, { tmp: 0 }, env), im2row(g, { tmp: 1 }, env), ...mm.dispatches],
  };
}
