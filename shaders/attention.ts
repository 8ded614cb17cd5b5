// WGSL for fused multi-head attention, forward pass: o = dropout(softmax(scale * q k^T + mask)) v
// per (batch, head), computed without ever storing the (T, T) scores. Keys and values are
// streamed and folded into a running max, a running denominator and an output accumulator
// (the online softmax: when the max grows, what was accumulated is rescaled by exp(old - new)),
// and only the per-row logsumexp is saved for the backward pass.
//
// Two layouts with the same bindings:
// - `attn_fwd_rows`: one invocation per four query rows (the lanes of a vec4, so each K/V
//   element read serves four rows) reads K and V rows straight from storage. No barriers: the
//   quick choice on CPU-emulated adapters (SwiftShader), where a barrier costs more than a tile
//   of arithmetic.
// - `attn_fwd_wg`: one workgroup per block of WG query rows (one invocation per row) streams
//   tiles of BK keys and values through workgroup memory, so each K/V element read from storage
//   serves WG rows: the right shape for a GPU.
//
// q, k and v are addressed through strides (struct Attn), so the kernels read them either as
// three (B, H, T, hs) tensors or straight out of one packed (B, T, 3, H, hs) projection, and
// write o as (B, H, T, hs) or (B, T, H, hs): the packed form needs no permute before or after.
//
// Mixed precision: q, k and v may be stored f16 (two values to a u32 word, shaders/half.ts),
// read through load_q / load_k / load_v as f32; every sum stays f32 and o is then written f16,
// rounded once from the f32 result, lse f32. One text, one module per storage format. Two values
// of o share a word, so o is stored a word at a time by the invocation that owns the row: rows
// start at even elements because the op requires an even head size for f16.
//
// Also exports the pieces the backward module (shaders/attention-backward.ts) shares: the
// uniform struct, the dropout keep test and the Philox generator.
// Not here: the backward kernels, the choice of layout or tile sizes (src/ops/attention.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
// Philox as shaders/random.ts defines it: attention dropout draws exactly the bits `dropout()`
// would draw on the (B, H, T, T) weights (same seed, offset and index).
import { philoxWgsl } from './random.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';
import { halfPairWgsl, halfValueWgsl, loadWgsl, storageType } from './half.js';

/** The largest head size the kernels hold in private arrays (one row of q, o, dq, ...). */
export const ATTENTION_MAX_HS = 64;

/**
 * What every attention kernel shares: the uniform words (src/ops/attention.ts packs them in
 * this order), the head-size bound, and the dropout keep test.
 */
export const attentionCommonWgsl = /* wgsl */ `
${philoxWgsl}

const MAX_HS: u32 = ${ATTENTION_MAX_HS}u;
// Start of a running max: the lowest finite f32 (WGSL need not handle infinities).
const LOWEST: f32 = -0x1.fffffep+127f;

// Invocations per workgroup: rows per workgroup (both layouts).
override WG: u32 = 64u;
// Rows per streamed tile and the head size, which size the workgroup tiles ('wg' layout).
override BK: u32 = 32u;
override HSW: u32 = 64u;
// Whether dropout is on: when off, no Philox code is compiled in.
override DROPOUT: bool = false;

struct Attn {
  bh: u32,         // B * H
  t: u32,          // T
  hs: u32,         // head size, <= MAX_HS
  causal: u32,     // 1: key j is masked for query i when j > i
  scale: f32,      // multiplies q . k
  threshold: u32,  // dropout keeps a weight when its word is >= threshold = floor(p * 2^32)
  keep_scale: f32, // 1 / (1 - p)
  offset: u32,     // dropout stream
  heads: u32,      // H
  // Element strides of batch, head and row: of q, k, v (and dq, dk, dv), then of o (and dO).
  in_b: u32, in_h: u32, in_t: u32,
  out_b: u32, out_h: u32, out_t: u32,
  // Where k and v start relative to q (0 when each has a buffer of its own), and dk, dv
  // relative to dq.
  k_off: u32, v_off: u32, dk_off: u32, dv_off: u32,
}

// The first element of row i of head bh (= b * H + h) of q (k, v: add k_off, v_off), and of o.
fn in_row(bh: u32, i: u32, P: Attn) -> u32 {
  return (bh / P.heads) * P.in_b + (bh % P.heads) * P.in_h + i * P.in_t;
}

fn out_row(bh: u32, i: u32, P: Attn) -> u32 {
  return (bh / P.heads) * P.out_b + (bh % P.heads) * P.out_h + i * P.out_t;
}

// Whether attention weight idx = ((b * H + h) * T + i) * T + j survives dropout: word idx % 4
// of philox((idx / 4, offset, 0, 0), (seed, 0)), the stream dropout() uses for element idx.
fn keep_weight(idx: u32, seed: u32, offset: u32, threshold: u32) -> bool {
  let w = philox4x32_10(vec4<u32>(idx >> 2u, offset, 0u, 0u), vec2<u32>(seed, 0u));
  return w[idx & 3u] >= threshold;
}

// The dropout factor z of weight idx: 1 without dropout, else 1 / (1 - p) kept or 0 dropped.
fn drop_factor(idx: u32, seed: u32, P: Attn) -> f32 {
  if (DROPOUT) {
    return select(0.0, P.keep_scale, keep_weight(idx, seed, P.offset, P.threshold));
  }
  return 1.0;
}

// One past the last key query i may see.
fn key_end(i: u32, P: Attn) -> u32 {
  return select(P.t, min(i + 1u, P.t), P.causal != 0u);
}

// The dropout factors of four weights.
fn drop_factor4(idx: vec4<u32>, seed: u32, P: Attn) -> vec4<f32> {
  if (DROPOUT) {
    return vec4<f32>(drop_factor(idx.x, seed, P), drop_factor(idx.y, seed, P),
                     drop_factor(idx.z, seed, P), drop_factor(idx.w, seed, P));
  }
  return vec4<f32>(1.0);
}

// The four rows (of T) that invocation n of a *_rows kernel owns, as the lanes of a vec4:
// rows 4m .. 4m + 3 of one (b, h). Rows past T repeat row T - 1; \`live\` says which are real.
struct Quad {
  bh: u32,
  first: u32,
  rows: vec4<u32>,
  live: vec4<bool>,
}

fn quad_of(n: u32, P: Attn) -> Quad {
  let nq = (P.t + 3u) / 4u;
  let first = (n % nq) * 4u;
  let rows = vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u);
  return Quad(n / nq, first, min(rows, vec4<u32>(P.t - 1u)), rows < vec4<u32>(P.t));
}

// Whether key j is visible to each row of a quad.
fn visible4(j: u32, rows: vec4<u32>, P: Attn) -> vec4<bool> {
  return select(vec4<bool>(true), vec4<u32>(j) <= rows, P.causal != 0u);
}`;

/**
 * The forward module for q, k, v (and o) stored f32 or, with `half`, f16. Bindings: q, k, v,
 * seed at 0..3, o and lse at 4..5, the uniform (struct Attn) at 6.
 */
export const attentionShader = (half: boolean): ShaderModuleDef => forwardModules[+half];

const forwardModules = [false, true].map(
  (half): ShaderModuleDef => ({ label: half ? 'attention.f16' : 'attention', code: () => forwardCode(half) }),
);

function forwardCode(half: boolean): string {
  return wgsl`
${flatIndexWgsl}
${flatGroupWgsl}
${attentionCommonWgsl}
${half ? halfValueWgsl + halfPairWgsl : ''}

// q, k and v may be one buffer bound three times (the packed layout).
@group(0) @binding(0) var<storage, read> q: array<${storageType(half)}>;
@group(0) @binding(1) var<storage, read> k: array<${storageType(half)}>;
@group(0) @binding(2) var<storage, read> v: array<${storageType(half)}>;
@group(0) @binding(3) var<storage, read> seed: array<u32>;        // (1)
@group(0) @binding(4) var<storage, read_write> o: array<${storageType(half)}>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;   // (BH, T)
@group(0) @binding(6) var<uniform> ap: Attn;

${loadWgsl('q', half)}
${loadWgsl('k', half)}
${loadWgsl('v', half)}

@compute @workgroup_size(WG)
fn attn_fwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let P = ap;
  let n = flat_index(gid, nwg, WG);
  if (n >= P.bh * ((P.t + 3u) / 4u)) { return; }
  let Q = quad_of(n, P);
  let rv = vec4<u32>(Q.bh * P.t) + Q.rows; // rows of (BH, T): lse and the dropout index
  let kbase = in_row(Q.bh, 0u, P);
  let qr = vec4<u32>(kbase) + Q.rows * P.in_t;
  let seed0 = seed[0];
  var qv: array<vec4<f32>, MAX_HS>;
  var acc: array<vec4<f32>, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    qv[d] = vec4<f32>(load_q(qr.x + d), load_q(qr.y + d), load_q(qr.z + d), load_q(qr.w + d)) * P.scale;
    acc[d] = vec4<f32>(0.0);
  }
  var m = vec4<f32>(LOWEST);
  var l = vec4<f32>(0.0);
  let jend = select(P.t, min(Q.first + 4u, P.t), P.causal != 0u);
  // Four keys per step: each q element read serves four keys, each k or v element four rows.
  for (var j0 = 0u; j0 < jend; j0 += 4u) {
    let kr = vec4<u32>(kbase) + min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(jend - 1u)) * P.in_t;
    let kj = kr + vec4<u32>(P.k_off);
    let vj = kr + vec4<u32>(P.v_off);
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var d = 0u; d < P.hs; d++) {
      let qd = qv[d];
      s0 += qd * load_k(kj.x + d);
      s1 += qd * load_k(kj.y + d);
      s2 += qd * load_k(kj.z + d);
      s3 += qd * load_k(kj.w + d);
    }
    let v0 = visible4(j0, Q.rows, P) & vec4<bool>(j0 < jend);
    let v1 = visible4(j0 + 1u, Q.rows, P) & vec4<bool>(j0 + 1u < jend);
    let v2 = visible4(j0 + 2u, Q.rows, P) & vec4<bool>(j0 + 2u < jend);
    let v3 = visible4(j0 + 3u, Q.rows, P) & vec4<bool>(j0 + 3u < jend);
    s0 = select(vec4<f32>(LOWEST), s0, v0);
    s1 = select(vec4<f32>(LOWEST), s1, v1);
    s2 = select(vec4<f32>(LOWEST), s2, v2);
    s3 = select(vec4<f32>(LOWEST), s3, v3);
    let mn = max(m, max(max(s0, s1), max(s2, s3)));
    if (any(mn > m)) {
      // A new max in some row: rescale what was accumulated against the old one.
      let c = exp(m - mn);
      l *= c;
      for (var d = 0u; d < P.hs; d++) { acc[d] *= c; }
      m = mn;
    }
    let e0 = select(vec4<f32>(0.0), exp(s0 - m), v0);
    let e1 = select(vec4<f32>(0.0), exp(s1 - m), v1);
    let e2 = select(vec4<f32>(0.0), exp(s2 - m), v2);
    let e3 = select(vec4<f32>(0.0), exp(s3 - m), v3);
    l += (e0 + e1) + (e2 + e3);
    let idx = rv * P.t + vec4<u32>(j0);
    let w0 = e0 * drop_factor4(idx, seed0, P);
    let w1 = e1 * drop_factor4(idx + vec4<u32>(1u), seed0, P);
    let w2 = e2 * drop_factor4(idx + vec4<u32>(2u), seed0, P);
    let w3 = e3 * drop_factor4(idx + vec4<u32>(3u), seed0, P);
    for (var d = 0u; d < P.hs; d++) {
      acc[d] += w0 * load_v(vj.x + d) + w1 * load_v(vj.y + d) + w2 * load_v(vj.z + d) + w3 * load_v(vj.w + d);
    }
  }
  let inv = 1.0 / l;
  let lv = m + log(l);
  let orow = vec4<u32>(out_row(Q.bh, 0u, P)) + Q.rows * P.out_t;
  for (var c = 0u; c < 4u; c++) {
    if (Q.live[c]) {
#if ${half}
      // Two values to a word: the row's owner writes all its words (hs is even, rows start even).
      for (var d = 0u; d < P.hs; d += 2u) { o[(orow[c] + d) >> 1u] = half_pair(acc[d][c] * inv[c], acc[d + 1u][c] * inv[c]); }
#else
      for (var d = 0u; d < P.hs; d++) { o[orow[c] + d] = acc[d][c] * inv[c]; }
#endif
      lse[rv[c]] = lv[c];
    }
  }
}

// The running softmax state of one query row in attn_fwd_wg: max m and denominator l (the
// unnormalised output is the private array beside it).
struct Online {
  m: f32,
  l: f32,
}

var<workgroup> k_tile: array<f32, BK * HSW>; // (BK, hs)
var<workgroup> v_tile: array<f32, BK * HSW>; // (BK, hs)

@compute @workgroup_size(WG)
fn attn_fwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let P = ap;
  let nqb = (P.t + WG - 1u) / WG;
  let g = flat_group(wid, nwg);
  let bh = g / nqb;
  if (bh >= P.bh) { return; } // whole workgroups past the end of a folded grid
  let q0 = (g % nqb) * WG;
  // Rows past T still take part in every barrier; they read row T - 1 and write nothing.
  let i = min(q0 + lid, P.t - 1u);
  let live = q0 + lid < P.t;
  let r = bh * P.t + i; // row of (BH, T)
  let kbase = in_row(bh, 0u, P);
  let seed0 = seed[0];
  var qr: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    qr[d] = load_q(kbase + i * P.in_t + d) * P.scale;
    acc[d] = 0.0;
  }
  var st = Online(LOWEST, 0.0);
  let jend = key_end(i, P);
  // Causal: no row of this block sees a key past the block's last row.
  let kend = select(P.t, min(P.t, q0 + WG), P.causal != 0u);
  for (var k0 = 0u; k0 < kend; k0 += BK) {
    for (var e = lid; e < BK * P.hs; e += WG) {
      let j = k0 + e / P.hs;
      let at = kbase + min(j, P.t - 1u) * P.in_t + e % P.hs;
      k_tile[e] = select(0.0, load_k(at + P.k_off), j < P.t);
      v_tile[e] = select(0.0, load_v(at + P.v_off), j < P.t);
    }
    workgroupBarrier();
    let jn = select(0u, min(BK, jend - k0), jend > k0);
    for (var jj = 0u; jj < jn; jj++) {
      let kj = jj * P.hs;
      var s = 0.0;
      for (var d = 0u; d < P.hs; d++) { s += qr[d] * k_tile[kj + d]; }
      if (s > st.m) {
        let c = exp(st.m - s);
        st.l *= c;
        for (var d = 0u; d < P.hs; d++) { acc[d] *= c; }
        st.m = s;
      }
      let e = exp(s - st.m);
      st.l += e;
      let w = e * drop_factor(r * P.t + k0 + jj, seed0, P);
      for (var d = 0u; d < P.hs; d++) { acc[d] += w * v_tile[kj + d]; }
    }
    // The next tile must not overwrite this one while a row still reads it.
    workgroupBarrier();
  }
  if (live) {
    let inv = 1.0 / st.l;
    let orow = out_row(bh, i, P);
#if ${half}
    for (var d = 0u; d < P.hs; d += 2u) { o[(orow + d) >> 1u] = half_pair(acc[d] * inv, acc[d + 1u] * inv); }
#else
    for (var d = 0u; d < P.hs; d++) { o[orow + d] = acc[d] * inv; }
#endif
    lse[r] = st.m + log(st.l);
  }
}
`;
}
