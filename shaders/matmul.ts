// WGSL for batched matrix products out = act(op(A) op(B) + bias) + residual, in two tilings
// that share bindings, batch addressing and the fused epilogue:
// - `mm_register`: barrier-free. Each invocation accumulates a 32x16 block of the output in
//   registers as 4x4 matrices, reading its operands straight from storage (and, with
//   subgroups and QUAD_SHARE, sharing op(A) rows within a quad). Suited to CPU-emulated
//   adapters (SwiftShader), where a workgroup barrier is a costly context switch and every
//   load is a per-lane gather, so many FMAs per load is what counts.
// - `mm_shared`: the classic GPU kernel. A workgroup stages (4 WG_Y x BK) and (BK x 4 WG_X)
//   blocks of the operands in workgroup memory with coalesced loads, then each invocation
//   accumulates a 4x4 block of the output from it.
// - `mm_wide`: the GPU kernel for larger products. 128x128 blocks in workgroup memory, 8x8 of
//   the output per invocation (twice the products per workgroup-memory read of mm_shared's 4x4),
//   the operands read from storage as vec4s. f32 operands whose contiguous dim (K for A, M for
//   A^T, N for B, K for B^T) is a multiple of 4 only; src/ops/matmul.ts runs mm_shared otherwise.
// They handle any M, N, K (rows and columns past the edge are clamped on load and skipped on
// store; the tail of K is masked) and every transposition. Transpositions are uniform flags: they
// change an address step, not the inner loop, so one pipeline serves them all. The epilogue is
// override constants, one pipeline per kind (a model has a handful): SwiftShader runs the
// branches of a uniform-dependent epilogue under lane masks, activation included, and that made
// a 1024 x 512 x 4 product take 39 ms instead of 7 (measured). Bias and residual as uniform
// flags alone still took a plain product from 3.6 to 9.6 ms at K = 4, and from 29 to 41 ms at
// K = 128 (measured), for two fewer pipelines to build (~0.45 s each on SwiftShader).
// The backward pass is the same kernels with other transpositions (see src/ops/matmul.ts).
// Either operand may be stored as f16 (mixed precision; shaders/half.ts): every read goes
// through load_a / load_b, which widen to f32, so one text serves both storage formats. The
// output (and the kept pre-activation) may be stored f16 too, rounded once from the f32 sums:
// store_row then writes whole words, two columns to a word, which needs N even so that a word
// never spans two rows (and two invocations never share one).
// Not here: shape checks, batch-dimension collapsing or the choice of tiling (src/ops/matmul.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { activationsWgsl } from './activations.js';
import { halfPairWgsl, halfValueWgsl, loadWgsl, quadLoadWgsl, storageType } from './half.js';

/** Activation codes (the ACT override constant). */
export const MATMUL_ACT = { none: 0, relu: 1, gelu: 2, silu: 3 } as const;

/** Bits of the flags word. */
export const MATMUL_FLAGS = { transA: 1, transB: 2 } as const;

/** Rows and columns of the output block one `mm_register` invocation computes. */
export const REGISTER_TILE = { rows: 32, cols: 16 } as const;

/** Which bindings hold f16 (packed words): the operands, the residual or gate z, the outputs. */
export interface MatmulStorage {
  halfA: boolean;
  halfB: boolean;
  halfRes: boolean;
  halfOut: boolean;
}

/** Column-wise quad broadcasts of a 4x4 block (needs `enable subgroups`), shared with shaders/conv.ts. */
export const quadBroadcastWgsl = /* wgsl */ `
// Column-wise broadcasts of a 4x4 block from one invocation of a quad (the lane must be a
// constant expression, hence one function per lane).
fn from_lane0(x: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadBroadcast(x[0], 0u), quadBroadcast(x[1], 0u), quadBroadcast(x[2], 0u), quadBroadcast(x[3], 0u));
}
fn from_lane1(x: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadBroadcast(x[0], 1u), quadBroadcast(x[1], 1u), quadBroadcast(x[2], 1u), quadBroadcast(x[3], 1u));
}
fn from_lane2(x: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadBroadcast(x[0], 2u), quadBroadcast(x[1], 2u), quadBroadcast(x[2], 2u), quadBroadcast(x[3], 2u));
}
fn from_lane3(x: mat4x4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(quadBroadcast(x[0], 3u), quadBroadcast(x[1], 3u), quadBroadcast(x[2], 3u), quadBroadcast(x[3], 3u));
}
`;

const modules = new Map<string, ShaderModuleDef>();

/**
 * Bindings (every entry point): reads a, b, bias, residual at 0..3 (bias and residual are
 * bound to `a` when absent and then never read); writes out, pre at 4..5 (`pre` is a 4-byte
 * scratch buffer unless the pre-activation is kept); the uniform at 6.
 * Uniform words: M, N, K, flags, then the merged output batch dims (outermost first, padded
 * with 1s) and the element strides of a and b along them (0 where broadcast).
 * a, b, the residual (or gate z) and the outputs are each f32 or f16 (packed words, read
 * through load_* as f32; the sums stay f32): one module per combination, made when first asked.
 */
export function matmulShader(storage: Partial<MatmulStorage> = {}): ShaderModuleDef {
  const s: MatmulStorage = { halfA: false, halfB: false, halfRes: false, halfOut: false, ...storage };
  const key = `${s.halfA ? '.a16' : ''}${s.halfB ? '.b16' : ''}${s.halfRes ? '.r16' : ''}${s.halfOut ? '.o16' : ''}`;
  let m = modules.get(key);
  if (!m) {
    m = { label: `matmul${key}`, code: (features) => matmulCode(features.has('subgroups'), s) };
    modules.set(key, m);
  }
  return m;
}

function matmulCode(sg: boolean, { halfA, halfB, halfRes, halfOut }: MatmulStorage): string {
  return wgsl`
#if ${sg}
enable subgroups;
// The quad broadcasts in mm_register run under a condition every invocation of a subgroup
// agrees on (subgroupAll), which the uniformity analysis cannot see.
diagnostic(off, subgroup_uniformity);
#endif

struct Params {
  M: u32, N: u32, K: u32,
  // MATMUL_FLAGS: a holds op(A) transposed, (K, M) per batch; b holds op(B) transposed, (N, K).
  flags: u32,
  dims: vec4<u32>,
  sa: vec4<u32>,
  sb: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> a: array<${storageType(halfA)}>;
@group(0) @binding(1) var<storage, read> b: array<${storageType(halfB)}>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> res: array<${storageType(halfRes)}>;
@group(0) @binding(4) var<storage, read_write> out: array<${storageType(halfOut)}>;
@group(0) @binding(5) var<storage, read_write> pre: array<${storageType(halfOut)}>;
@group(0) @binding(6) var<uniform> p: Params;

override WG_X: u32 = 4u;
override WG_Y: u32 = 4u;
// Depth of the K blocks mm_shared stages in workgroup memory.
override BK: u32 = 16u;
// The epilogue: add bias; add residual; also write the pre-activation (matmul + bias) to pre,
// for the activation's backward; the activation (MATMUL_ACT). GATE: multiply by ACT'(z) with z
// read from res instead (an activation's backward fused into the product that delivers its
// gradient).
override BIAS: bool = false;
override RESIDUAL: bool = false;
override SAVE_PRE: bool = false;
override GATE: bool = false;
override ACT: u32 = 0u;
// f16 operands whose k (for A) or n (for B) runs are four aligned values, read two words at a
// time (quad_a / quad_b): not transposed, and K (for A) or N (for B) a multiple of 4.
override QUAD_A: bool = false;
override QUAD_B: bool = false;
// mm_register: invocations of a subgroup quad share their op(A) rows (with subgroups only). An
// override rather than a uniform so that without it the compiler drops the quad loop: SwiftShader
// then builds the pipeline in under half the time (0.45 s against 1.05 s, measured), which is
// what a first compile on the adapter's defaults waits for.
override QUAD_SHARE: bool = false;

fn flag(bit: u32) -> bool { return (p.flags & bit) != 0u; }
${halfA || halfB || halfRes ? halfValueWgsl : ''}
${halfOut ? halfPairWgsl : ''}
${loadWgsl('a', halfA)}
${loadWgsl('b', halfB)}
${loadWgsl('res', halfRes)}
${halfA ? quadLoadWgsl('a') : ''}
${halfB ? quadLoadWgsl('b') : ''}
${halfA || halfB ? '' : wideWgsl}

${activationsWgsl}
const STEP = vec4<u32>(0u, 1u, 2u, 3u);

// Element offsets of batch z in a and b (batch dims collapsed to at most four).
fn batch_offsets(z: u32) -> vec2<u32> {
  var r = z;
  var o = vec2<u32>(0u, 0u);
  for (var d = 3i; d >= 0i; d--) {
    let i = r % p.dims[d];
    r = r / p.dims[d];
    o += i * vec2<u32>(p.sa[d], p.sb[d]);
  }
  return o;
}

fn activate(z: f32) -> f32 {
  switch ACT {
    case ${MATMUL_ACT.relu}u: { return max(z, 0.0); }
    case ${MATMUL_ACT.gelu}u: { return gelu(z); }
    case ${MATMUL_ACT.silu}u: { return silu(z); }
    default: { return z; }
  }
}

// The activation's derivative at z (the gate).
fn activate_grad(z: f32) -> f32 {
  switch ACT {
    case ${MATMUL_ACT.relu}u: { return select(0.0, 1.0, z > 0.0); }
    case ${MATMUL_ACT.gelu}u: { return gelu_grad(z); }
    case ${MATMUL_ACT.silu}u: { return silu_grad(z); }
    default: { return 1.0; }
  }
}

// The fused epilogue for output element i in column n: (output, pre-activation).
fn finish(i: u32, n: u32, s: f32) -> vec2<f32> {
  if (GATE) { return vec2<f32>(s * activate_grad(load_res(i)), 0.0); }
  var z = s;
  if (BIAS) { z += bias[n]; }
  var y = activate(z);
  if (RESIDUAL) { y += load_res(i); }
  return vec2<f32>(y, z);
}

// Stores a 4x4 output block at (m, n) of the matrix starting at oc; column r of acc is output
// row m + r. Rows and columns past the edge are skipped. Rows and elements go by constant
// index: SwiftShader reads a dynamically indexed matrix or vector with per-lane gathers, which
// made the epilogue ~1.5x slower (measured).
fn store_block(oc: u32, m: u32, n: u32, acc: mat4x4<f32>) {
  store_row(oc, m, n, acc[0]);
  store_row(oc, m + 1u, n, acc[1]);
  store_row(oc, m + 2u, n, acc[2]);
  store_row(oc, m + 3u, n, acc[3]);
}

#if ${halfOut}
// N is even and n a multiple of 4, so columns pair up in words (n, n + 1) and (n + 2, n + 3).
fn store_row(oc: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  let i = oc + m * p.N + n;
  if (n < p.N) { store_pair(i, finish(i, n, v.x), finish(i + 1u, n + 1u, v.y)); }
  if (n + 2u < p.N) { store_pair(i + 2u, finish(i + 2u, n + 2u, v.z), finish(i + 3u, n + 3u, v.w)); }
}

fn store_pair(i: u32, r0: vec2<f32>, r1: vec2<f32>) {
  out[i >> 1u] = half_pair(r0.x, r1.x);
  if (SAVE_PRE) { pre[i >> 1u] = half_pair(r0.y, r1.y); }
}
#else
fn store_row(oc: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= p.M) { return; }
  let i = oc + m * p.N + n;
  if (n < p.N) { store_one(i, finish(i, n, v.x)); }
  if (n + 1u < p.N) { store_one(i + 1u, finish(i + 1u, n + 1u, v.y)); }
  if (n + 2u < p.N) { store_one(i + 2u, finish(i + 2u, n + 2u, v.z)); }
  if (n + 3u < p.N) { store_one(i + 3u, finish(i + 3u, n + 3u, v.w)); }
}

fn store_one(i: u32, r: vec2<f32>) {
  out[i] = r.x;
  if (SAVE_PRE) { pre[i] = r.y; }
}
#endif

// ---------------------------------------------------------------------------------------------
// mm_register

// Offsets in a of rows m..m+3 of op(A) at k = 0; rows past M are clamped (and never stored).
fn a_rows(oa: u32, m: u32) -> vec4<u32> {
  let mm = min(vec4<u32>(m) + STEP, vec4<u32>(p.M - 1u));
  return vec4<u32>(oa) + select(mm * p.K, mm, flag(${MATMUL_FLAGS.transA}u));
}

// Offsets in b of columns n..n+3 of op(B) at k = 0, clamped likewise.
fn b_cols(ob: u32, n: u32) -> vec4<u32> {
  let nn = min(vec4<u32>(n) + STEP, vec4<u32>(p.N - 1u));
  return vec4<u32>(ob) + select(nn, nn * p.K, flag(${MATMUL_FLAGS.transB}u));
}

// Columns are rows m..m+3 of op(A), each over k..k+3 (ko: the k offsets). Only A is masked
// past K: the clamped B values there are real elements of the same output column, so a
// non-finite one makes that output non-finite either way.
fn a_block(r: vec4<u32>, ko: vec4<u32>, live: vec4<bool>) -> mat4x4<f32> {
  let zero = vec4<f32>(0.0);
#if ${halfA}
  // K is a multiple of 4, so ko is k..k+3 and every lane is live.
  if (QUAD_A) { return mat4x4<f32>(quad_a(r.x + ko.x), quad_a(r.y + ko.x), quad_a(r.z + ko.x), quad_a(r.w + ko.x)); }
#endif
  return mat4x4<f32>(
    select(zero, vec4<f32>(load_a(r.x + ko.x), load_a(r.x + ko.y), load_a(r.x + ko.z), load_a(r.x + ko.w)), live),
    select(zero, vec4<f32>(load_a(r.y + ko.x), load_a(r.y + ko.y), load_a(r.y + ko.z), load_a(r.y + ko.w)), live),
    select(zero, vec4<f32>(load_a(r.z + ko.x), load_a(r.z + ko.y), load_a(r.z + ko.z), load_a(r.z + ko.w)), live),
    select(zero, vec4<f32>(load_a(r.w + ko.x), load_a(r.w + ko.y), load_a(r.w + ko.z), load_a(r.w + ko.w)), live));
}

// Columns are rows k..k+3 of op(B), each over n..n+3. Then (b_block * a_block)[r] is the
// contribution of k..k+3 to output row m + r, columns n..n+3.
fn b_block(c: vec4<u32>, ko: vec4<u32>) -> mat4x4<f32> {
#if ${halfB}
  // N is a multiple of 4, so c is n..n+3 wherever an output is stored (past the edge the values
  // are clamped reads that are never stored).
  if (QUAD_B) { return mat4x4<f32>(quad_b(c.x + ko.x), quad_b(c.x + ko.y), quad_b(c.x + ko.z), quad_b(c.x + ko.w)); }
#endif
  return mat4x4<f32>(
    vec4<f32>(load_b(c.x + ko.x), load_b(c.y + ko.x), load_b(c.z + ko.x), load_b(c.w + ko.x)),
    vec4<f32>(load_b(c.x + ko.y), load_b(c.y + ko.y), load_b(c.z + ko.y), load_b(c.w + ko.y)),
    vec4<f32>(load_b(c.x + ko.z), load_b(c.y + ko.z), load_b(c.z + ko.z), load_b(c.w + ko.z)),
    vec4<f32>(load_b(c.x + ko.w), load_b(c.y + ko.w), load_b(c.z + ko.w), load_b(c.w + ko.w)));
}

// The 32x16 accumulator block of mm_register as 8x4 blocks of 4x4 (column r of c_ij is
// output row 4i + r, columns 4j..4j+3).
struct Tile {
  c00: mat4x4<f32>, c01: mat4x4<f32>, c02: mat4x4<f32>, c03: mat4x4<f32>,
  c10: mat4x4<f32>, c11: mat4x4<f32>, c12: mat4x4<f32>, c13: mat4x4<f32>,
  c20: mat4x4<f32>, c21: mat4x4<f32>, c22: mat4x4<f32>, c23: mat4x4<f32>,
  c30: mat4x4<f32>, c31: mat4x4<f32>, c32: mat4x4<f32>, c33: mat4x4<f32>,
  c40: mat4x4<f32>, c41: mat4x4<f32>, c42: mat4x4<f32>, c43: mat4x4<f32>,
  c50: mat4x4<f32>, c51: mat4x4<f32>, c52: mat4x4<f32>, c53: mat4x4<f32>,
  c60: mat4x4<f32>, c61: mat4x4<f32>, c62: mat4x4<f32>, c63: mat4x4<f32>,
  c70: mat4x4<f32>, c71: mat4x4<f32>, c72: mat4x4<f32>, c73: mat4x4<f32>,
}

// Adds the contribution of one k..k+3 step: rows a0..a7 (a_block) times columns b0..b3.
fn accumulate(
  t: ptr<function, Tile>,
  a0: mat4x4<f32>, a1: mat4x4<f32>, a2: mat4x4<f32>, a3: mat4x4<f32>,
  a4: mat4x4<f32>, a5: mat4x4<f32>, a6: mat4x4<f32>, a7: mat4x4<f32>,
  b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>,
) {
  (*t).c00 += b0 * a0; (*t).c01 += b1 * a0; (*t).c02 += b2 * a0; (*t).c03 += b3 * a0;
  (*t).c10 += b0 * a1; (*t).c11 += b1 * a1; (*t).c12 += b2 * a1; (*t).c13 += b3 * a1;
  (*t).c20 += b0 * a2; (*t).c21 += b1 * a2; (*t).c22 += b2 * a2; (*t).c23 += b3 * a2;
  (*t).c30 += b0 * a3; (*t).c31 += b1 * a3; (*t).c32 += b2 * a3; (*t).c33 += b3 * a3;
  (*t).c40 += b0 * a4; (*t).c41 += b1 * a4; (*t).c42 += b2 * a4; (*t).c43 += b3 * a4;
  (*t).c50 += b0 * a5; (*t).c51 += b1 * a5; (*t).c52 += b2 * a5; (*t).c53 += b3 * a5;
  (*t).c60 += b0 * a6; (*t).c61 += b1 * a6; (*t).c62 += b2 * a6; (*t).c63 += b3 * a6;
  (*t).c70 += b0 * a7; (*t).c71 += b1 * a7; (*t).c72 += b2 * a7; (*t).c73 += b3 * a7;
}

${sg ? quadBroadcastWgsl : ''}
// One invocation per 32x16 output block, kept as 8x4 blocks of 4x4 in named fields: WGSL has
// no unrolled loops, and on SwiftShader a loop over a private accumulator array runs ~4x
// slower than named accumulators (measured), so the block shape is fixed in the code.
// With QUAD_SHARE, where invocations of a subgroup quad share their rows (SwiftShader runs a
// subgroup of 4 as one SIMD group, consecutive in x), each loads a quarter of the 32 rows of
// op(A) and broadcasts them to the others: loads dominate there, and this is ~20% faster at
// 512^3 in Dawn (5.9 against 4.9 GFLOP/s). Elsewhere each invocation loads all its rows. The
// sums are the same either way, in the same order: only where a row comes from differs.
// There is no early exit for invocations past the edge: they read clamped addresses and store
// nothing. Besides keeping quads whole, this matters on SwiftShader, which runs everything
// after a divergent return under an execution mask (~25% slower at 512^3, measured).
@compute @workgroup_size(WG_X, WG_Y)
fn mm_register(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
#if ${sg}
  @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
  let m = gid.y * 32u;
  let n = gid.x * 16u;
#if ${sg}
  var quad = false;
  if (QUAD_SHARE) { quad = subgroupAll(quadBroadcast(m, 0u) == m); }
  let rq0 = a_rows(0u, m + 8u * (sg_lane % 4u));
  let rq1 = a_rows(0u, m + 8u * (sg_lane % 4u) + 4u);
#endif
  let o = batch_offsets(wid.z);
  // Steps between consecutive k in a and b.
  let ska = select(1u, p.M, flag(${MATMUL_FLAGS.transA}u));
  let skb = select(p.N, 1u, flag(${MATMUL_FLAGS.transB}u));
  let r0 = a_rows(o.x, m);
  let r1 = a_rows(o.x, m + 4u);
  let r2 = a_rows(o.x, m + 8u);
  let r3 = a_rows(o.x, m + 12u);
  let r4 = a_rows(o.x, m + 16u);
  let r5 = a_rows(o.x, m + 20u);
  let r6 = a_rows(o.x, m + 24u);
  let r7 = a_rows(o.x, m + 28u);
  let c0 = b_cols(o.y, n);
  let c1 = b_cols(o.y, n + 4u);
  let c2 = b_cols(o.y, n + 8u);
  let c3 = b_cols(o.y, n + 12u);
  var t: Tile;
#if ${sg}
  if (quad) {
    for (var k = 0u; k < p.K; k += 4u) {
      let kk = min(vec4<u32>(k) + STEP, vec4<u32>(p.K - 1u));
      let live = vec4<u32>(k) + STEP < vec4<u32>(p.K);
      let ka = kk * ska;
      let kb = kk * skb;
      let q0 = a_block(rq0 + vec4<u32>(o.x), ka, live);
      let q1 = a_block(rq1 + vec4<u32>(o.x), ka, live);
      accumulate(&t,
        from_lane0(q0), from_lane0(q1), from_lane1(q0), from_lane1(q1),
        from_lane2(q0), from_lane2(q1), from_lane3(q0), from_lane3(q1),
        b_block(c0, kb), b_block(c1, kb), b_block(c2, kb), b_block(c3, kb));
    }
  } else {
#endif
  for (var k = 0u; k < p.K; k += 4u) {
    let kk = min(vec4<u32>(k) + STEP, vec4<u32>(p.K - 1u));
    let live = vec4<u32>(k) + STEP < vec4<u32>(p.K);
    let ka = kk * ska;
    let kb = kk * skb;
    accumulate(&t,
      a_block(r0, ka, live), a_block(r1, ka, live), a_block(r2, ka, live), a_block(r3, ka, live),
      a_block(r4, ka, live), a_block(r5, ka, live), a_block(r6, ka, live), a_block(r7, ka, live),
      b_block(c0, kb), b_block(c1, kb), b_block(c2, kb), b_block(c3, kb));
  }
#if ${sg}
  }
#endif
  // One epilogue loop rather than 32 inlined copies: SwiftShader compiles this kernel several
  // times faster, and runs it faster too (measured).
  let tile = array<mat4x4<f32>, 32>(
    t.c00, t.c01, t.c02, t.c03, t.c10, t.c11, t.c12, t.c13,
    t.c20, t.c21, t.c22, t.c23, t.c30, t.c31, t.c32, t.c33,
    t.c40, t.c41, t.c42, t.c43, t.c50, t.c51, t.c52, t.c53,
    t.c60, t.c61, t.c62, t.c63, t.c70, t.c71, t.c72, t.c73);
  let oc = wid.z * p.M * p.N;
  for (var i = 0u; i < 32u; i++) {
    store_block(oc, m + 4u * (i / 4u), n + 4u * (i % 4u), tile[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// mm_small

// One invocation per 4x4 output block: for narrow products (a logit column, a 2D point, the
// weight gradient of a 2-input layer), where most of mm_register's 32x16 block would fall past
// the edge and a handful of invocations would do all the work.
@compute @workgroup_size(WG_X, WG_Y)
fn mm_small(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = gid.y * 4u;
  let n = gid.x * 4u;
  let o = batch_offsets(wid.z);
  let ska = select(1u, p.M, flag(${MATMUL_FLAGS.transA}u));
  let skb = select(p.N, 1u, flag(${MATMUL_FLAGS.transB}u));
  let r = a_rows(o.x, m);
  let c = b_cols(o.y, n);
  var acc = mat4x4<f32>();
  for (var k = 0u; k < p.K; k += 4u) {
    let kk = min(vec4<u32>(k) + STEP, vec4<u32>(p.K - 1u));
    let live = vec4<u32>(k) + STEP < vec4<u32>(p.K);
    acc += b_block(c, kk * skb) * a_block(r, kk * ska, live);
  }
  store_block(wid.z * p.M * p.N, m, n, acc);
}

// ---------------------------------------------------------------------------------------------
// mm_shared

// Operand blocks, k-major: row k holds 4 WG_Y values of op(A) (as vec4s) or 4 WG_X of op(B).
var<workgroup> tile_a: array<vec4<f32>, BK * WG_Y>;
var<workgroup> tile_b: array<vec4<f32>, BK * WG_X>;

// One workgroup per (4 WG_Y x 4 WG_X) output block; invocation (x, y) owns its 4x4 block at
// rows 4y.., columns 4x... Every invocation takes part in loading, whether or not it stores.
@compute @workgroup_size(WG_X, WG_Y)
fn mm_shared(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let bm = 4u * WG_Y;
  let bn = 4u * WG_X;
  let m0 = wid.y * bm;
  let n0 = wid.x * bn;
  let o = batch_offsets(wid.z);
  let t = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let ta = flag(${MATMUL_FLAGS.transA}u);
  let tb = flag(${MATMUL_FLAGS.transB}u);
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Consecutive invocations take consecutive addresses of whichever layout a and b have.
    for (var i = t; i < bm * BK; i += threads) {
      let mi = select(i / BK, i % bm, ta);
      let ki = select(i % BK, i / bm, ta);
      let mg = m0 + mi;
      let kg = k0 + ki;
      var v = 0.0;
      if (mg < p.M && kg < p.K) { v = load_a(o.x + select(mg * p.K + kg, kg * p.M + mg, ta)); }
      tile_a[ki * WG_Y + mi / 4u][mi % 4u] = v;
    }
    for (var i = t; i < bn * BK; i += threads) {
      let ni = select(i % bn, i / BK, tb);
      let ki = select(i / bn, i % BK, tb);
      let ng = n0 + ni;
      let kg = k0 + ki;
      var v = 0.0;
      if (ng < p.N && kg < p.K) { v = load_b(o.y + select(kg * p.N + ng, ng * p.K + kg, tb)); }
      tile_b[ki * WG_X + ni / 4u][ni % 4u] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let av = tile_a[k * WG_Y + lid.y];
      let bv = tile_b[k * WG_X + lid.x];
      acc0 += av.x * bv;
      acc1 += av.y * bv;
      acc2 += av.z * bv;
      acc3 += av.w * bv;
    }
    workgroupBarrier();
  }
  store_block(wid.z * p.M * p.N, m0 + 4u * lid.y, n0 + 4u * lid.x, mat4x4<f32>(acc0, acc1, acc2, acc3));
}
`;
}

/** mm_wide's block edge and k depth, and its workgroup edge (each invocation 8x8). */
export const WIDE_TILE = { edge: 128, bk: 8, wg: 16 } as const;

// mm_wide (f32 operands only: it reads a and b as vec4s, so its module declares those views).
const wideWgsl = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;

// k-major blocks: entry k * 32 + q holds rows (or columns) 4q..4q+3 of the block at depth k.
var<workgroup> wide_a: array<vec4<f32>, ${WIDE_TILE.bk * 32}>;
var<workgroup> wide_b: array<vec4<f32>, ${WIDE_TILE.bk * 32}>;

// Four values of op(A) or op(B) from element offset i (a multiple of 4), or zeros when not live.
fn wide_load(from_a: bool, i: u32, live: bool) -> vec4<f32> {
  if (!live) { return vec4<f32>(0.0); }
  if (from_a) { return a4[i / 4u]; }
  return b4[i / 4u];
}

// Stores four values of one row (or column) q4 over depths 4j..4j+3 of a k-major block: for an
// operand whose four consecutive values run along k.
fn wide_put_k(to_a: bool, j: u32, q: u32, v: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    if (to_a) { wide_a[(4u * j + c) * 32u + q / 4u][q % 4u] = v[c]; } else { wide_b[(4u * j + c) * 32u + q / 4u][q % 4u] = v[c]; }
  }
}

// 128x128 output blocks per workgroup of 16x16; invocation (x, y) owns rows 4y.., 64 + 4y.. and
// columns 4x.., 64 + 4x.. of it (so neighbours read neighbouring entries of the blocks). Each
// k step of WIDE_TILE.bk loads one vec4 of op(A) and one of op(B) per invocation.
@compute @workgroup_size(${WIDE_TILE.wg}, ${WIDE_TILE.wg})
fn mm_wide(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m0 = wid.y * ${WIDE_TILE.edge}u;
  let n0 = wid.x * ${WIDE_TILE.edge}u;
  let o = batch_offsets(wid.z);
  let t = lid.y * ${WIDE_TILE.wg}u + lid.x;
  let ta = flag(${MATMUL_FLAGS.transA}u);
  let tb = flag(${MATMUL_FLAGS.transB}u);
  var c00 = mat4x4<f32>();
  var c01 = mat4x4<f32>();
  var c10 = mat4x4<f32>();
  var c11 = mat4x4<f32>();
  for (var k0 = 0u; k0 < p.K; k0 += ${WIDE_TILE.bk}u) {
    // op(A): along k (row-major A: row t / 2, depths 4 (t % 2)..) or along m (A^T: depth t / 32,
    // rows 4 (t % 32)..); consecutive invocations read consecutive vec4s either way.
    if (ta) {
      let k = k0 + t / 32u;
      let m = m0 + 4u * (t % 32u);
      wide_a[t] = wide_load(true, o.x + k * p.M + m, k < p.K && m < p.M);
    } else {
      let m = m0 + t / 2u;
      let k = k0 + 4u * (t % 2u);
      wide_put_k(true, t % 2u, t / 2u, wide_load(true, o.x + m * p.K + k, m < p.M && k < p.K));
    }
    // op(B): along n (row-major B) or along k (B^T), likewise.
    if (tb) {
      let n = n0 + t / 2u;
      let k = k0 + 4u * (t % 2u);
      wide_put_k(false, t % 2u, t / 2u, wide_load(false, o.y + n * p.K + k, n < p.N && k < p.K));
    } else {
      let k = k0 + t / 32u;
      let n = n0 + 4u * (t % 32u);
      wide_b[t] = wide_load(false, o.y + k * p.N + n, k < p.K && n < p.N);
    }
    workgroupBarrier();
    for (var k = 0u; k < ${WIDE_TILE.bk}u; k++) {
      let a0 = wide_a[k * 32u + lid.y];
      let a1 = wide_a[k * 32u + 16u + lid.y];
      let b0 = wide_b[k * 32u + lid.x];
      let b1 = wide_b[k * 32u + 16u + lid.x];
      // Column r of c_ij: output row r of row group i, over the four columns of group j.
      c00 += mat4x4<f32>(a0.x * b0, a0.y * b0, a0.z * b0, a0.w * b0);
      c01 += mat4x4<f32>(a0.x * b1, a0.y * b1, a0.z * b1, a0.w * b1);
      c10 += mat4x4<f32>(a1.x * b0, a1.y * b0, a1.z * b0, a1.w * b0);
      c11 += mat4x4<f32>(a1.x * b1, a1.y * b1, a1.z * b1, a1.w * b1);
    }
    workgroupBarrier();
  }
  let oc = wid.z * p.M * p.N;
  store_block(oc, m0 + 4u * lid.y, n0 + 4u * lid.x, c00);
  store_block(oc, m0 + 4u * lid.y, n0 + 64u + 4u * lid.x, c01);
  store_block(oc, m0 + 64u + 4u * lid.y, n0 + 4u * lid.x, c10);
  store_block(oc, m0 + 64u + 4u * lid.y, n0 + 64u + 4u * lid.x, c11);
}
`;
