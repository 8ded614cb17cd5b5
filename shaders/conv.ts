// WGSL for 2D convolution in NCHW as implicit GEMM: nothing is unfolded into memory; each
// invocation gathers its operands on the fly and accumulates an 8x8 register block, with no
// barriers and no workgroup memory (what SwiftShader runs fastest; see shaders/matmul.ts).
// - `conv_fwd`: y = conv(x, w). GEMM rows are output pixels (n, oh, ow) flattened, columns output
//   channels: a block is 8 pixels x 8 channels, the reduction runs over taps and input channels.
// - `conv_bwd_input`: dx from dy and w as a gather: each input pixel sums over the taps that
//   hit it, so no two invocations write one element (no atomics). With stride s only one tap
//   in s per axis hits a pixel; a block takes 2 x 4 pixels that are s apart in both axes, so
//   they share the taps that hit them, and loops visit only those (s^2 fewer than all taps).
//   This is also the forward of convTranspose2d.
// - `conv_bwd_weight`: dw as a GEMM over K = N Ho Wo in fixed order: a block is 8 output x 8
//   input channels at one tap; the rows of dy may be split into chunks whose partial sums
//   `conv_sum_chunks` then adds in chunk order (deterministic, no atomics).
// - `conv_fwd_wide`, `conv_bwd_weight_wide`: the same products in larger blocks (32 pixels x 16
//   channels, 16 x 16 channels), the reduction four channels (or four dy columns) a step as
//   4x4 matrix products, as mm_register in shaders/matmul.ts; a stride-1 input gradient with a
//   square kernel runs conv_fwd_wide on the flipped kernel (`conv_flip_weights`, src/ops/conv.ts).
// - `conv_fwd_quad`, `conv_bwd_weight_quad` (with subgroups): conv_fwd_wide in 16-pixel x
//   32-channel blocks whose four invocations in a quad share the weights they load, and
//   conv_bwd_weight_wide with the quad sharing dy; only where the adapter's quads are
//   consecutive invocations (src/gpu/quads.ts).
// - `conv_bwd_weight_taps` (and `_quad`): the stride-1 weight gradient three taps of a kernel row
//   at a time, which read x at columns one apart, so they share its loads.
// The wide, quad and taps entries are generated (shaders/conv-wide.ts).
// Blocks of 8x8 ran 1.6-2x faster than 4x4 on SwiftShader (N=16, C=O=32, 16x16, 3x3: loads, not
// FMAs, are what costs there). Larger blocks with one channel a step gained nothing; with four a
// step as matrix products, the forward ran 1.3-1.5x faster on the U-Net's layers and the weight
// gradient 1.1-1.2x. The small kernels stay for layers too narrow for the wide blocks.
// Kernel size, stride and padding are uniforms like the other sizes, so each entry point is one
// pipeline for every geometry. As override constants they measured ~3% faster (the arithmetic
// they fold sits outside the inner loops) but cost SwiftShader 0.5-2 s of compilation per
// geometry and kernel, which a model with a handful of layer shapes pays at every start.
// Invocations past the last block do not return early (SwiftShader would run the rest under a
// mask): they recompute a clamped block and store nothing.
// Not here: shape checks, chunking or the backward rules (src/ops/conv.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';
import { quadBroadcastWgsl } from './matmul.js';
import { bwdWeightTaps, bwdWeightWide, fwdWide, QUAD_CHANNEL_GROUPS, QUAD_PIXEL_GROUPS, WIDE_CHANNEL_GROUPS, WIDE_PIXEL_GROUPS } from './conv-wide.js';

export { QUAD_CHANNEL_GROUPS, QUAD_PIXEL_GROUPS, TAPS_PER_BLOCK, WIDE_CHANNEL_GROUPS, WIDE_PIXEL_GROUPS } from './conv-wide.js';

/** Rows and columns of the register block one invocation computes. */
export const CONV_BLOCK = 8;
export const convShader: ShaderModuleDef = {
  label: 'conv',
  code: (features) => convCode(features.has('subgroups')),
};

function convCode(sg: boolean): string {
  return wgsl`
#if ${sg}
enable subgroups;
// conv_fwd_quad's broadcasts sit in loops bounded by uniforms read through private variables,
// which the uniformity analysis cannot see through.
diagnostic(off, subgroup_uniformity);
#endif
${flatIndexWgsl}
${sg ? quadBroadcastWgsl : ''}

override WG: u32 = 64u;
// Kernel height and width, stride and padding (the same in both axes): the first four words of
// every entry point's uniform, copied here on entry so that helper functions can read them.
var<private> KH: u32;
var<private> KW: u32;
var<private> S: u32;
var<private> P: u32;

fn set_geometry(kh: u32, kw: u32, s: u32, p: u32) {
  KH = kh;
  KW = kw;
  S = s;
  P = p;
}

const STEP = vec4<u32>(0u, 1u, 2u, 3u);
const ZERO = vec4<f32>(0.0);

// An 8x8 block as four 4x4 ones: column k of a<p><q> is GEMM row 4p + k, over columns 4q..4q+3.
// Named fields and constant indices: SwiftShader runs dynamically indexed private arrays and
// vectors as per-lane gathers, several times slower (measured for the matmul kernels).
struct Acc { a00: mat4x4<f32>, a01: mat4x4<f32>, a10: mat4x4<f32>, a11: mat4x4<f32> }

// acc += [r0; r1] (x) [c0; c1]: one step of the reduction, 16 loads for 64 multiply-adds.
fn outer(acc: ptr<function, Acc>, r0: vec4<f32>, r1: vec4<f32>, c0: vec4<f32>, c1: vec4<f32>) {
  (*acc).a00 += mat4x4<f32>(c0 * r0.x, c0 * r0.y, c0 * r0.z, c0 * r0.w);
  (*acc).a01 += mat4x4<f32>(c1 * r0.x, c1 * r0.y, c1 * r0.z, c1 * r0.w);
  (*acc).a10 += mat4x4<f32>(c0 * r1.x, c0 * r1.y, c0 * r1.z, c0 * r1.w);
  (*acc).a11 += mat4x4<f32>(c1 * r1.x, c1 * r1.y, c1 * r1.z, c1 * r1.w);
}

fn zero_acc() -> Acc {
  let z = mat4x4<f32>();
  return Acc(z, z, z, z);
}

// Channels ch..ch+3, each clamped to below count, times stride: the first elements of the four
// channels' slices, with channels past the end reading the last one (and never stored).
fn channel_offsets(ch: u32, count: u32, stride: u32) -> vec4<u32> {
  return min(vec4<u32>(ch) + STEP, vec4<u32>(count - 1u)) * stride;
}

// ---- forward: y[n, o, oh, ow] = sum_{a, b, c} x[n, c, oh S - P + a, ow S - P + b] w[o, c, a, b]
struct Fwd { kh: u32, kw: u32, s: u32, p: u32, N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, blocks: u32, tiles: u32 }
@group(0) @binding(0) var<storage, read> fx: array<f32>;       // (N, C, H, W)
@group(0) @binding(1) var<storage, read> fw: array<f32>;       // (O, C, KH, KW)
@group(0) @binding(2) var<storage, read_write> fy: array<f32>; // (N, O, Ho, Wo)
@group(0) @binding(3) var<uniform> fp: Fwd;

// Output pixels m..m+3 (clamped to the last): image, offset in the image, top-left input pixel.
struct Pix { n: vec4<u32>, r: vec4<u32>, ih: vec4<i32>, iw: vec4<i32> }

fn fwd_pixels(m: u32) -> Pix {
  let HWo = fp.Ho * fp.Wo;
  let mm = min(vec4<u32>(m) + STEP, vec4<u32>(fp.N * HWo - 1u));
  let r = mm % HWo;
  return Pix(mm / HWo, r, vec4<i32>((r / fp.Wo) * S) - i32(P), vec4<i32>((r % fp.Wo) * S) - i32(P));
}

// Where tap (a, b) of four pixels reads x at channel 0, and whether inside the image. Outside,
// the offset is the image's first element, read and replaced by 0: deciding once per tap keeps
// the bounds checks out of the channel loop.
struct Tap { off: vec4<u32>, ok: vec4<bool> }

fn fwd_tap(px: Pix, a: u32, b: u32) -> Tap {
  let ih = px.ih + i32(a);
  let iw = px.iw + i32(b);
  let ok = (ih >= vec4<i32>(0)) & (ih < vec4<i32>(i32(fp.H))) & (iw >= vec4<i32>(0)) & (iw < vec4<i32>(i32(fp.W)));
  let at = select(vec4<u32>(0u), vec4<u32>(ih * i32(fp.W) + iw), ok);
  return Tap(px.n * (fp.C * fp.H * fp.W) + at, ok);
}

// Channels o..o+3 below O of one output pixel (base: its element in channel o).
fn fwd_store(live: bool, base: u32, o: u32, v: vec4<f32>) {
  if (!live) { return; }
  let step = fp.Ho * fp.Wo;
  if (o < fp.O) { fy[base] = v.x; }
  if (o + 1u < fp.O) { fy[base + step] = v.y; }
  if (o + 2u < fp.O) { fy[base + 2u * step] = v.z; }
  if (o + 3u < fp.O) { fy[base + 3u * step] = v.w; }
}

// Pixels m..m+3 below M, channels o..o+7 (lo: o..o+3, hi: o+4..o+7; column k is pixel m + k).
fn fwd_store4(live: bool, m: u32, px: Pix, o: u32, lo: mat4x4<f32>, hi: mat4x4<f32>) {
  let HWo = fp.Ho * fp.Wo;
  let M = fp.N * HWo;
  let base = px.n * (fp.O * HWo) + px.r + o * HWo;
  fwd_store(live && m < M, base.x, o, lo[0]);
  fwd_store(live && m < M, base.x + 4u * HWo, o + 4u, hi[0]);
  fwd_store(live && m + 1u < M, base.y, o, lo[1]);
  fwd_store(live && m + 1u < M, base.y + 4u * HWo, o + 4u, hi[1]);
  fwd_store(live && m + 2u < M, base.z, o, lo[2]);
  fwd_store(live && m + 2u < M, base.z + 4u * HWo, o + 4u, hi[2]);
  fwd_store(live && m + 3u < M, base.w, o, lo[3]);
  fwd_store(live && m + 3u < M, base.w + 4u * HWo, o + 4u, hi[3]);
}

// One invocation per 8 output pixels (consecutive in (n, oh, ow), so any shape fills blocks)
// x 8 output channels; pixel blocks vary fastest, so neighbours share weights.
@compute @workgroup_size(WG)
fn conv_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  set_geometry(fp.kh, fp.kw, fp.s, fp.p);
  let t0 = flat_index(gid, nwg, WG);
  let live = t0 < fp.tiles;
  let t = min(t0, fp.tiles - 1u);
  let C = fp.C;
  let HW = fp.H * fp.W;
  let m = (t % fp.blocks) * 8u;
  let o = (t / fp.blocks) * 8u;
  let p0 = fwd_pixels(m);
  let p1 = fwd_pixels(m + 4u);
  let w0 = channel_offsets(o, fp.O, C * KH * KW);
  let w1 = channel_offsets(o + 4u, fp.O, C * KH * KW);
  var acc = zero_acc();
  for (var a = 0u; a < KH; a++) {
    for (var b = 0u; b < KW; b++) {
      let t0 = fwd_tap(p0, a, b);
      let t1 = fwd_tap(p1, a, b);
      var x0 = t0.off;
      var x1 = t1.off;
      var k0 = w0 + a * KW + b;
      var k1 = w1 + a * KW + b;
      for (var c = 0u; c < C; c++) {
        outer(&acc,
          select(ZERO, vec4<f32>(fx[x0.x], fx[x0.y], fx[x0.z], fx[x0.w]), t0.ok),
          select(ZERO, vec4<f32>(fx[x1.x], fx[x1.y], fx[x1.z], fx[x1.w]), t1.ok),
          vec4<f32>(fw[k0.x], fw[k0.y], fw[k0.z], fw[k0.w]),
          vec4<f32>(fw[k1.x], fw[k1.y], fw[k1.z], fw[k1.w]));
        x0 += HW;
        x1 += HW;
        k0 += KH * KW;
        k1 += KH * KW;
      }
    }
  }
  fwd_store4(live, m, p0, o, acc.a00, acc.a01);
  fwd_store4(live, m + 4u, p1, o, acc.a10, acc.a11);
}

// ---- forward in wide blocks: 32 output pixels x 16 output channels per invocation, and the
// reduction four input channels a step, each step 32 products of 4x4 matrices (as mm_register
// in shaders/matmul.ts). Input channels past C are masked to 0 in x.
fn fwd_x4(t: Tap, cc: vec4<u32>, live: vec4<bool>, HW: u32) -> mat4x4<f32> {
  // Column k: pixel k of the four, over channels cc.
  return mat4x4<f32>(
    select(ZERO, vec4<f32>(fx[t.off.x + cc.x * HW], fx[t.off.x + cc.y * HW], fx[t.off.x + cc.z * HW], fx[t.off.x + cc.w * HW]), live & vec4<bool>(t.ok.x)),
    select(ZERO, vec4<f32>(fx[t.off.y + cc.x * HW], fx[t.off.y + cc.y * HW], fx[t.off.y + cc.z * HW], fx[t.off.y + cc.w * HW]), live & vec4<bool>(t.ok.y)),
    select(ZERO, vec4<f32>(fx[t.off.z + cc.x * HW], fx[t.off.z + cc.y * HW], fx[t.off.z + cc.z * HW], fx[t.off.z + cc.w * HW]), live & vec4<bool>(t.ok.z)),
    select(ZERO, vec4<f32>(fx[t.off.w + cc.x * HW], fx[t.off.w + cc.y * HW], fx[t.off.w + cc.z * HW], fx[t.off.w + cc.w * HW]), live & vec4<bool>(t.ok.w)));
}

fn fwd_w4(k: vec4<u32>, cc: vec4<u32>) -> mat4x4<f32> {
  // Column j: input channel cc[j], over the four output channels whose offsets (at the tap) k holds.
  let KK = KH * KW;
  return mat4x4<f32>(
    vec4<f32>(fw[k.x + cc.x * KK], fw[k.y + cc.x * KK], fw[k.z + cc.x * KK], fw[k.w + cc.x * KK]),
    vec4<f32>(fw[k.x + cc.y * KK], fw[k.y + cc.y * KK], fw[k.z + cc.y * KK], fw[k.w + cc.y * KK]),
    vec4<f32>(fw[k.x + cc.z * KK], fw[k.y + cc.z * KK], fw[k.z + cc.z * KK], fw[k.w + cc.z * KK]),
    vec4<f32>(fw[k.x + cc.w * KK], fw[k.y + cc.w * KK], fw[k.z + cc.w * KK], fw[k.w + cc.w * KK]));
}

${fwdWide('conv_fwd_wide', WIDE_PIXEL_GROUPS, WIDE_CHANNEL_GROUPS, false)}
#if ${sg}
${fwdWide('conv_fwd_quad', QUAD_PIXEL_GROUPS, QUAD_CHANNEL_GROUPS, true)}
#endif

// ---- the flipped kernel the input gradient of a stride-1 conv runs as a forward conv with:
// wf[c, o, a, b] = w[o, c, KH - 1 - a, KW - 1 - b], (C, O, KH, KW) from (O, C, KH, KW).
struct Flip { kh: u32, kw: u32, s: u32, p: u32, N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, size: u32 }
@group(0) @binding(0) var<storage, read> lw: array<f32>;         // (O, C, KH, KW)
@group(0) @binding(1) var<storage, read_write> lwf: array<f32>;  // (C, O, KH, KW)
@group(0) @binding(2) var<uniform> lp: Flip;

@compute @workgroup_size(WG)
fn conv_flip_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  if (e >= lp.size) { return; }
  let KK = lp.kh * lp.kw;
  let b = e % lp.kw;
  let a = (e / lp.kw) % lp.kh;
  let o = (e / KK) % lp.O;
  let c = e / (KK * lp.O);
  lwf[e] = lw[((o * lp.C + c) * lp.kh + lp.kh - 1u - a) * lp.kw + lp.kw - 1u - b];
}

// ---- input gradient: dx[n, c, h, w] = sum over o and the taps (a, b) with h + P - a = i S,
// w + P - b = j S, (i, j) inside dy, of dy[n, o, i, j] w[o, c, a, b].
// HQ, JQ: blocks of 2 rows and of 4 columns of one phase: ceil(ceil(H / S) / 2), ceil(ceil(W / S) / 4).
struct BwdIn { kh: u32, kw: u32, s: u32, p: u32, N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, HQ: u32, JQ: u32, tiles: u32 }
@group(0) @binding(0) var<storage, read> gdy: array<f32>;       // (N, O, Ho, Wo)
@group(0) @binding(1) var<storage, read> gw: array<f32>;        // (O, C, KH, KW)
@group(0) @binding(2) var<storage, read_write> gdx: array<f32>; // (N, C, H, W)
@group(0) @binding(3) var<uniform> gp: BwdIn;

// Channels c..c+3 below C of pixel (h, w), if inside dx (base: its element in channel c).
fn bwd_in_store(live: bool, h: u32, w: u32, base: u32, c: u32, v: vec4<f32>) {
  if (!live || h >= gp.H || w >= gp.W) { return; }
  let step = gp.H * gp.W;
  if (c < gp.C) { gdx[base] = v.x; }
  if (c + 1u < gp.C) { gdx[base + step] = v.y; }
  if (c + 2u < gp.C) { gdx[base + 2u * step] = v.z; }
  if (c + 3u < gp.C) { gdx[base + 3u * step] = v.w; }
}

// Row h, columns w, w + S, w + 2S, w + 3S, channels c..c+7 (lo: c..c+3, hi: c+4..c+7).
fn bwd_in_store4(live: bool, n: u32, h: u32, w: u32, c: u32, lo: mat4x4<f32>, hi: mat4x4<f32>) {
  let HW = gp.H * gp.W;
  let base = (n * gp.C + c) * HW + h * gp.W + w;
  bwd_in_store(live, h, w, base, c, lo[0]);
  bwd_in_store(live, h, w, base + 4u * HW, c + 4u, hi[0]);
  bwd_in_store(live, h, w + S, base + S, c, lo[1]);
  bwd_in_store(live, h, w + S, base + S + 4u * HW, c + 4u, hi[1]);
  bwd_in_store(live, h, w + 2u * S, base + 2u * S, c, lo[2]);
  bwd_in_store(live, h, w + 2u * S, base + 2u * S + 4u * HW, c + 4u, hi[2]);
  bwd_in_store(live, h, w + 3u * S, base + 3u * S, c, lo[3]);
  bwd_in_store(live, h, w + 3u * S, base + 3u * S + 4u * HW, c + 4u, hi[3]);
}

// One invocation per 2 x 4 input pixels, rows h, h + S and columns w + S k (one phase in each
// axis, so one set of taps hits all eight, and they read 2 x 4 neighbours in dy) x 8 channels.
@compute @workgroup_size(WG)
fn conv_bwd_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  set_geometry(gp.kh, gp.kw, gp.s, gp.p);
  let t0 = flat_index(gid, nwg, WG);
  let live = t0 < gp.tiles;
  var rem = min(t0, gp.tiles - 1u);
  let w = (rem % gp.JQ) * 4u * S;
  rem /= gp.JQ;
  let pw = rem % S;
  rem /= S;
  let h = (rem % gp.HQ) * 2u * S;
  rem /= gp.HQ;
  let ph = rem % S;
  rem /= S;
  let n = rem % gp.N;
  let c = (rem / gp.N) * 8u;
  let h0 = h + ph;
  let w0 = w + pw;
  let O = gp.O;
  let HWo = gp.Ho * gp.Wo;
  let Ho = i32(gp.Ho);
  let k0 = channel_offsets(c, gp.C, KH * KW);
  let k1 = channel_offsets(c + 4u, gp.C, KH * KW);
  var acc = zero_acc();
  // Tap rows a with (h0 + P - a) divisible by S: rows h0 and h0 + S read dy rows i and i + 1.
  for (var a = (h0 + P) % S; a < KH; a += S) {
    let i = (i32(h0 + P) - i32(a)) / i32(S);
    let rows = vec2<bool>((i >= 0) && (i < Ho), (i + 1 >= 0) && (i + 1 < Ho));
    if (!any(rows)) { continue; }
    let y = n * O * HWo + vec2<u32>(clamp(vec2<i32>(i, i + 1), vec2<i32>(0), vec2<i32>(Ho - 1))) * gp.Wo;
    for (var b = (w0 + P) % S; b < KW; b += S) {
      // Exact: w0 + P - b is a multiple of S, so column w0 + S k reads column j + k of dy.
      let j = vec4<i32>((i32(w0 + P) - i32(b)) / i32(S)) + vec4<i32>(STEP);
      let cols = (j >= vec4<i32>(0)) & (j < vec4<i32>(i32(gp.Wo)));
      let jj = select(vec4<u32>(0u), vec4<u32>(j), cols);
      let ok0 = cols & vec4<bool>(rows.x);
      let ok1 = cols & vec4<bool>(rows.y);
      var y0 = y.x + jj;
      var y1 = y.y + jj;
      var q0 = k0 + a * KW + b;
      var q1 = k1 + a * KW + b;
      for (var o = 0u; o < O; o++) {
        outer(&acc,
          select(ZERO, vec4<f32>(gdy[y0.x], gdy[y0.y], gdy[y0.z], gdy[y0.w]), ok0),
          select(ZERO, vec4<f32>(gdy[y1.x], gdy[y1.y], gdy[y1.z], gdy[y1.w]), ok1),
          vec4<f32>(gw[q0.x], gw[q0.y], gw[q0.z], gw[q0.w]),
          vec4<f32>(gw[q1.x], gw[q1.y], gw[q1.z], gw[q1.w]));
        y0 += HWo;
        y1 += HWo;
        q0 += gp.C * KH * KW;
        q1 += gp.C * KH * KW;
      }
    }
  }
  bwd_in_store4(live, n, h0, w0, c, acc.a00, acc.a01);
  bwd_in_store4(live, n, h0 + S, w0, c, acc.a10, acc.a11);
}

// ---- weight gradient: dw[o, c, a, b] = sum_{n, i, j} dy[n, o, i, j] x[n, c, i S - P + a, j S - P + b],
// rows (n, i) of dy split into chunks of R; chunk k writes its partial sums to part[k].
struct BwdW { kh: u32, kw: u32, s: u32, p: u32, N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, CQ: u32, OQ: u32, R: u32, tiles: u32 }
@group(0) @binding(0) var<storage, read> wx: array<f32>;          // (N, C, H, W)
@group(0) @binding(1) var<storage, read> wdy: array<f32>;         // (N, O, Ho, Wo)
@group(0) @binding(2) var<storage, read_write> part: array<f32>;  // (chunks, O, C, KH, KW)
@group(0) @binding(3) var<uniform> wp: BwdW;

// Input channels c..c+3 below C of output channel o, if below O (base: element (o, c) at the tap).
fn bwd_w_store(live: bool, o: u32, base: u32, c: u32, v: vec4<f32>) {
  if (!live || o >= wp.O) { return; }
  let step = KH * KW;
  if (c < wp.C) { part[base] = v.x; }
  if (c + 1u < wp.C) { part[base + step] = v.y; }
  if (c + 2u < wp.C) { part[base + 2u * step] = v.z; }
  if (c + 3u < wp.C) { part[base + 3u * step] = v.w; }
}

// Output channels o..o+3, input channels c..c+7 (lo: c..c+3, hi: c+4..c+7; column k is o + k).
fn bwd_w_store4(live: bool, base: u32, o: u32, c: u32, lo: mat4x4<f32>, hi: mat4x4<f32>) {
  let och = wp.C * KH * KW;
  let chi = 4u * KH * KW;
  bwd_w_store(live, o, base, c, lo[0]);
  bwd_w_store(live, o, base + chi, c + 4u, hi[0]);
  bwd_w_store(live, o + 1u, base + och, c, lo[1]);
  bwd_w_store(live, o + 1u, base + och + chi, c + 4u, hi[1]);
  bwd_w_store(live, o + 2u, base + 2u * och, c, lo[2]);
  bwd_w_store(live, o + 2u, base + 2u * och + chi, c + 4u, hi[2]);
  bwd_w_store(live, o + 3u, base + 3u * och, c, lo[3]);
  bwd_w_store(live, o + 3u, base + 3u * och + chi, c + 4u, hi[3]);
}

// First and one-past-last output index i with 0 <= i S - P + a < size, within [0, count).
fn tap_range(a: u32, size: u32, count: u32) -> vec2<u32> {
  let lo = select(0u, (P - a + S - 1u) / S, P > a);
  let hi = clamp((i32(size + P) - i32(a) + i32(S) - 1) / i32(S), 0, i32(count));
  return vec2<u32>(lo, max(lo, u32(hi)));
}

// The tile of invocation t0 (clamped to the last) for blocks of block channels: its first
// input and output channels, tap, chunk of dy rows, and the rows and columns of dy the tap meets.
struct WTile { c: u32, o: u32, tap: u32, chunk: u32, a: u32, b: u32, rows: vec2<u32>, cols: vec2<u32> }

fn bwd_w_tile(t0: u32, block: u32) -> WTile {
  var rem = min(t0, wp.tiles - 1u);
  let c = (rem % wp.CQ) * block;
  rem /= wp.CQ;
  let tap = rem % (KH * KW);
  rem /= KH * KW;
  let o = (rem % wp.OQ) * block;
  let a = tap / KW;
  let b = tap % KW;
  return WTile(c, o, tap, rem / wp.OQ, a, b, tap_range(a, wp.H, wp.Ho), tap_range(b, wp.W, wp.Wo));
}

// One invocation per 8 output x 8 input channels at one tap, for one chunk of rows. The column
// range is computed once per tap, so the inner loop has no bounds checks.
@compute @workgroup_size(WG)
fn conv_bwd_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  set_geometry(wp.kh, wp.kw, wp.s, wp.p);
  let t0 = flat_index(gid, nwg, WG);
  let live = t0 < wp.tiles;
  let tl = bwd_w_tile(t0, 8u);
  let HW = wp.H * wp.W;
  let HWo = wp.Ho * wp.Wo;
  let x0 = channel_offsets(tl.c, wp.C, HW);
  let x1 = channel_offsets(tl.c + 4u, wp.C, HW);
  let y0 = channel_offsets(tl.o, wp.O, HWo);
  let y1 = channel_offsets(tl.o + 4u, wp.O, HWo);
  var acc = zero_acc();
  let first = tl.chunk * wp.R;
  for (var r = first; r < min(first + wp.R, wp.N * wp.Ho); r++) {
    let n = r / wp.Ho;
    let i = r % wp.Ho;
    if (i < tl.rows.x || i >= tl.rows.y) { continue; }
    // Column cols.x of dy row i meets column cols.x S - P + b of x row i S - P + a (tl holds them).
    let xr = n * wp.C * HW + (i * S + tl.a - P) * wp.W + tl.cols.x * S + tl.b - P;
    let yr = n * wp.O * HWo + i * wp.Wo + tl.cols.x;
    var xa = x0 + xr;
    var xb = x1 + xr;
    var ya = y0 + yr;
    var yb = y1 + yr;
    for (var j = tl.cols.x; j < tl.cols.y; j++) {
      outer(&acc,
        vec4<f32>(wdy[ya.x], wdy[ya.y], wdy[ya.z], wdy[ya.w]),
        vec4<f32>(wdy[yb.x], wdy[yb.y], wdy[yb.z], wdy[yb.w]),
        vec4<f32>(wx[xa.x], wx[xa.y], wx[xa.z], wx[xa.w]),
        vec4<f32>(wx[xb.x], wx[xb.y], wx[xb.z], wx[xb.w]));
      xa += S;
      xb += S;
      ya += 1u;
      yb += 1u;
    }
  }
  let base = ((tl.chunk * wp.O + tl.o) * wp.C + tl.c) * KH * KW + tl.tap;
  bwd_w_store4(live, base, tl.o, tl.c, acc.a00, acc.a01);
  bwd_w_store4(live, base + 4u * wp.C * KH * KW, tl.o + 4u, tl.c, acc.a10, acc.a11);
}

// ---- weight gradient in wide blocks: 16 output x 16 input channels at one tap per invocation,
// and the reduction four columns of dy a step, as 4x4 matrix products (as conv_fwd_wide).
// Column k of dw_d4: output channel o[k]'s dy at columns j..j+3 (0 past the tap's range);
// column k of dw_x4: x at column j + k (x steps S per dy column) over channels c..c+3.
fn dw_d4(yo: vec4<u32>, j: u32, end: u32) -> mat4x4<f32> {
  let live = vec4<u32>(j) + STEP < vec4<u32>(end);
  let jj = min(vec4<u32>(j) + STEP, vec4<u32>(end - 1u)) - vec4<u32>(j);
  return mat4x4<f32>(
    select(ZERO, vec4<f32>(wdy[yo.x + jj.x], wdy[yo.x + jj.y], wdy[yo.x + jj.z], wdy[yo.x + jj.w]), live),
    select(ZERO, vec4<f32>(wdy[yo.y + jj.x], wdy[yo.y + jj.y], wdy[yo.y + jj.z], wdy[yo.y + jj.w]), live),
    select(ZERO, vec4<f32>(wdy[yo.z + jj.x], wdy[yo.z + jj.y], wdy[yo.z + jj.z], wdy[yo.z + jj.w]), live),
    select(ZERO, vec4<f32>(wdy[yo.w + jj.x], wdy[yo.w + jj.y], wdy[yo.w + jj.z], wdy[yo.w + jj.w]), live));
}

fn dw_x4(xc: vec4<u32>, j: u32, end: u32) -> mat4x4<f32> {
  let jj = (min(vec4<u32>(j) + STEP, vec4<u32>(end - 1u)) - vec4<u32>(j)) * S;
  return mat4x4<f32>(
    vec4<f32>(wx[xc.x + jj.x], wx[xc.y + jj.x], wx[xc.z + jj.x], wx[xc.w + jj.x]),
    vec4<f32>(wx[xc.x + jj.y], wx[xc.y + jj.y], wx[xc.z + jj.y], wx[xc.w + jj.y]),
    vec4<f32>(wx[xc.x + jj.z], wx[xc.y + jj.z], wx[xc.z + jj.z], wx[xc.w + jj.z]),
    vec4<f32>(wx[xc.x + jj.w], wx[xc.y + jj.w], wx[xc.z + jj.w], wx[xc.w + jj.w]));
}

// x at column col of the row that starts at xc (one offset per channel), 0 outside the image.
fn dw_xcol(xc: vec4<u32>, col: i32) -> vec4<f32> {
  let k = u32(clamp(col, 0, i32(wp.W) - 1));
  return select(ZERO, vec4<f32>(wx[xc.x + k], wx[xc.y + k], wx[xc.z + k], wx[xc.w + k]), col >= 0 && col < i32(wp.W));
}

${bwdWeightTaps('conv_bwd_weight_taps', false)}
${bwdWeightWide('conv_bwd_weight_wide', false)}
#if ${sg}
${bwdWeightWide('conv_bwd_weight_quad', true)}
${bwdWeightTaps('conv_bwd_weight_taps_quad', true)}
#endif

// ---- dw = sum of the chunks' partials, in chunk order.
struct Sum { size: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> spart: array<f32>;      // (chunks, size)
@group(0) @binding(1) var<storage, read_write> sdw: array<f32>;  // (size)
@group(0) @binding(2) var<uniform> sp: Sum;

@compute @workgroup_size(WG)
fn conv_sum_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  if (e >= sp.size) { return; }
  var s = 0.0;
  for (var k = 0u; k < sp.chunks; k++) { s += spart[k * sp.size + e]; }
  sdw[e] = s;
}

// The same four elements an invocation (size a multiple of 4), through vec4 views: on
// SwiftShader a loop trip costs more than its load. The sums are the same, in the same order.
@group(0) @binding(0) var<storage, read> spart4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> sdw4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn conv_sum_chunks4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  let size = sp.size / 4u;
  if (e >= size) { return; }
  var s = vec4<f32>(0.0);
  for (var k = 0u; k < sp.chunks; k++) { s += spart4[k * size + e]; }
  sdw4[e] = s;
}
`;
}
