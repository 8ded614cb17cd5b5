// WGSL for the backward pass of fused attention (shaders/attention.ts). The attention weights
// are recomputed from q, k and the saved logsumexp rather than stored: p_ij = exp(s_ij - lse_i)
// with s_ij = scale * q_i . k_j. With the dropout mask z_ij (0 or 1 / (1 - p), regenerated from
// the same Philox stream as the forward) and D_i = rowsum(dO * O)_i:
//   dv_j = sum_i p_ij z_ij dO_i
//   ds_ij = p_ij (z_ij (dO_i . v_j) - D_i)
//   dq_i = scale * sum_j ds_ij k_j,   dk_j = scale * sum_i ds_ij q_i
// Three kernels, no atomics: a pre-pass for D, dq with one owner per query row (looping over
// keys), and dk, dv with one owner per key row (looping over queries). dq, dk and dv go to one
// output, in q's layout (struct Attn): (3, B, H, T, hs) for separate q, k, v, or the packed
// projection's (B, T, 3, H, hs).
//
// As in the forward, each of dq and dk/dv comes in two layouts with the same bindings:
// `*_rows` (one invocation per four rows, the lanes of a vec4, reading straight from storage,
// no barriers: SwiftShader) and `*_wg` (workgroups of WG rows, one per invocation, streaming
// tiles of BK rows through workgroup memory: GPUs).
// Mixed precision: q, k, v and o may be stored f16 (one module per storage format, reads
// through load_q, load_k, load_v, load_o); dO, D and the gradients are f32 either way, as every
// gradient in the engine is.
// Not here: the forward pass, the choice of layout (src/ops/attention.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';
import { attentionCommonWgsl } from './attention.js';
import { halfValueWgsl, loadWgsl, storageType } from './half.js';

/**
 * The backward module for q, k, v and o stored f32 or, with `half`, f16. Bindings of
 * attn_bwd_rowdot: o, dO, D, the uniform; of the gradient kernels: q, k, v, lse, dO, seed, D,
 * then the gradient, then the uniform.
 */
export const attentionBackwardShader = (half: boolean): ShaderModuleDef => backwardModules[+half];

const backwardModules = [false, true].map(
  (half): ShaderModuleDef => ({ label: half ? 'attention-backward.f16' : 'attention-backward', code: () => backwardCode(half) }),
);

function backwardCode(half: boolean): string {
  return wgsl`
${flatIndexWgsl}
${flatGroupWgsl}
${attentionCommonWgsl}
${half ? halfValueWgsl : ''}

// D = rowsum(dO * O), one invocation per row.
@group(0) @binding(0) var<storage, read> o: array<${storageType(half)}>; // o's layout
@group(0) @binding(1) var<storage, read> do_rd: array<f32>;       // o's layout
@group(0) @binding(2) var<storage, read_write> d_out: array<f32>; // (BH, T)
@group(0) @binding(3) var<uniform> rp: Attn;

${loadWgsl('o', half)}

@compute @workgroup_size(WG)
fn attn_bwd_rowdot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= rp.bh * rp.t) { return; }
  let at = out_row(r / rp.t, r % rp.t, rp);
  var s = 0.0;
  for (var d = 0u; d < rp.hs; d++) { s += load_o(at + d) * do_rd[at + d]; }
  d_out[r] = s;
}

// dq and dk/dv read the same inputs (q, k and v may be one buffer bound three times) and write
// parts of the same output.
@group(0) @binding(0) var<storage, read> q: array<${storageType(half)}>;
@group(0) @binding(1) var<storage, read> k: array<${storageType(half)}>;
@group(0) @binding(2) var<storage, read> v: array<${storageType(half)}>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;  // (BH, T)
@group(0) @binding(4) var<storage, read> dout: array<f32>; // dO, in o's layout
@group(0) @binding(5) var<storage, read> seed: array<u32>; // (1)
@group(0) @binding(6) var<storage, read> dsum: array<f32>; // (BH, T): D
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(8) var<uniform> gp: Attn;

${loadWgsl('q', half)}
${loadWgsl('k', half)}
${loadWgsl('v', half)}

var<workgroup> tile_a: array<f32, BK * HSW>; // k (dq) or q (dk, dv): (BK, hs)
var<workgroup> tile_b: array<f32, BK * HSW>; // v (dq) or dO (dk, dv): (BK, hs)
var<workgroup> tile_lse: array<f32, BK>;     // lse of the q tile (dk, dv)
var<workgroup> tile_d: array<f32, BK>;       // D of the q tile (dk, dv)

// ---- dq: one owner per query row, looping over keys.

@compute @workgroup_size(WG)
fn attn_dq_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let P = gp;
  let n = flat_index(gid, nwg, WG);
  if (n >= P.bh * ((P.t + 3u) / 4u)) { return; }
  let Q = quad_of(n, P); // four query rows
  let rv = vec4<u32>(Q.bh * P.t) + Q.rows; // rows of (BH, T)
  let kbase = in_row(Q.bh, 0u, P);
  let qr = vec4<u32>(kbase) + Q.rows * P.in_t;
  let orow = vec4<u32>(out_row(Q.bh, 0u, P)) + Q.rows * P.out_t;
  let seed0 = seed[0];
  let li = vec4<f32>(lse[rv.x], lse[rv.y], lse[rv.z], lse[rv.w]);
  let di = vec4<f32>(dsum[rv.x], dsum[rv.y], dsum[rv.z], dsum[rv.w]);
  var qv: array<vec4<f32>, MAX_HS>;
  var dov: array<vec4<f32>, MAX_HS>;
  var acc: array<vec4<f32>, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    qv[d] = vec4<f32>(load_q(qr.x + d), load_q(qr.y + d), load_q(qr.z + d), load_q(qr.w + d)) * P.scale;
    dov[d] = vec4<f32>(dout[orow.x + d], dout[orow.y + d], dout[orow.z + d], dout[orow.w + d]);
    acc[d] = vec4<f32>(0.0);
  }
  let jend = select(P.t, min(Q.first + 4u, P.t), P.causal != 0u);
  // Four keys per step, as in the forward.
  for (var j0 = 0u; j0 < jend; j0 += 4u) {
    let kr = vec4<u32>(kbase) + min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(jend - 1u)) * P.in_t;
    let kj = kr + vec4<u32>(P.k_off);
    let vj = kr + vec4<u32>(P.v_off);
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    var dp0 = vec4<f32>(0.0);
    var dp1 = vec4<f32>(0.0);
    var dp2 = vec4<f32>(0.0);
    var dp3 = vec4<f32>(0.0);
    for (var d = 0u; d < P.hs; d++) {
      let qd = qv[d];
      let od = dov[d];
      s0 += qd * load_k(kj.x + d);
      s1 += qd * load_k(kj.y + d);
      s2 += qd * load_k(kj.z + d);
      s3 += qd * load_k(kj.w + d);
      dp0 += od * load_v(vj.x + d);
      dp1 += od * load_v(vj.y + d);
      dp2 += od * load_v(vj.z + d);
      dp3 += od * load_v(vj.w + d);
    }
    let idx = rv * P.t + vec4<u32>(j0);
    let p0 = select(vec4<f32>(0.0), exp(s0 - li), visible4(j0, Q.rows, P) & vec4<bool>(j0 < jend));
    let p1 = select(vec4<f32>(0.0), exp(s1 - li), visible4(j0 + 1u, Q.rows, P) & vec4<bool>(j0 + 1u < jend));
    let p2 = select(vec4<f32>(0.0), exp(s2 - li), visible4(j0 + 2u, Q.rows, P) & vec4<bool>(j0 + 2u < jend));
    let p3 = select(vec4<f32>(0.0), exp(s3 - li), visible4(j0 + 3u, Q.rows, P) & vec4<bool>(j0 + 3u < jend));
    let ds0 = p0 * (dp0 * drop_factor4(idx, seed0, P) - di);
    let ds1 = p1 * (dp1 * drop_factor4(idx + vec4<u32>(1u), seed0, P) - di);
    let ds2 = p2 * (dp2 * drop_factor4(idx + vec4<u32>(2u), seed0, P) - di);
    let ds3 = p3 * (dp3 * drop_factor4(idx + vec4<u32>(3u), seed0, P) - di);
    for (var d = 0u; d < P.hs; d++) {
      acc[d] += ds0 * load_k(kj.x + d) + ds1 * load_k(kj.y + d) + ds2 * load_k(kj.z + d) + ds3 * load_k(kj.w + d);
    }
  }
  for (var c = 0u; c < 4u; c++) {
    if (Q.live[c]) {
      for (var d = 0u; d < P.hs; d++) { dqkv[qr[c] + d] = acc[d][c] * P.scale; }
    }
  }
}

@compute @workgroup_size(WG)
fn attn_dq_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let P = gp;
  let nqb = (P.t + WG - 1u) / WG;
  let g = flat_group(wid, nwg);
  let bh = g / nqb;
  if (bh >= P.bh) { return; }
  let q0 = (g % nqb) * WG;
  // Rows past T take part in every barrier, reading row T - 1 and writing nothing.
  let i = min(q0 + lid, P.t - 1u);
  let live = q0 + lid < P.t;
  let r = bh * P.t + i; // row of (BH, T)
  let kbase = in_row(bh, 0u, P);
  let qrow = kbase + i * P.in_t;
  let orow = out_row(bh, i, P);
  let seed0 = seed[0];
  let li = lse[r];
  let di = dsum[r];
  var qr: array<f32, MAX_HS>;
  var dor: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    qr[d] = load_q(qrow + d) * P.scale;
    dor[d] = dout[orow + d];
    acc[d] = 0.0;
  }
  let jend = key_end(i, P);
  let kend = select(P.t, min(P.t, q0 + WG), P.causal != 0u);
  for (var k0 = 0u; k0 < kend; k0 += BK) {
    for (var e = lid; e < BK * P.hs; e += WG) {
      let j = k0 + e / P.hs;
      let at = kbase + min(j, P.t - 1u) * P.in_t + e % P.hs;
      tile_a[e] = select(0.0, load_k(at + P.k_off), j < P.t);
      tile_b[e] = select(0.0, load_v(at + P.v_off), j < P.t);
    }
    workgroupBarrier();
    let jn = select(0u, min(BK, jend - k0), jend > k0);
    for (var jj = 0u; jj < jn; jj++) {
      let kj = jj * P.hs;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < P.hs; d++) {
        s += qr[d] * tile_a[kj + d];
        dp += dor[d] * tile_b[kj + d];
      }
      let p = exp(s - li);
      let ds = p * (dp * drop_factor(r * P.t + k0 + jj, seed0, P) - di);
      for (var d = 0u; d < P.hs; d++) { acc[d] += ds * tile_a[kj + d]; }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var d = 0u; d < P.hs; d++) { dqkv[qrow + d] = acc[d] * P.scale; }
  }
}

// ---- dk, dv: one owner per key row, looping over queries.

@compute @workgroup_size(WG)
fn attn_dkv_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let P = gp;
  let n = flat_index(gid, nwg, WG);
  if (n >= P.bh * ((P.t + 3u) / 4u)) { return; }
  let Q = quad_of(n, P); // four key rows
  let rbase = Q.bh * P.t; // first row of this (b, h) in (BH, T)
  let ibase = in_row(Q.bh, 0u, P);
  let obase = out_row(Q.bh, 0u, P);
  let kr = vec4<u32>(ibase) + Q.rows * P.in_t;
  let kj = kr + vec4<u32>(P.k_off);
  let vj = kr + vec4<u32>(P.v_off);
  let seed0 = seed[0];
  var kv: array<vec4<f32>, MAX_HS>;
  var vv: array<vec4<f32>, MAX_HS>;
  var dka: array<vec4<f32>, MAX_HS>;
  var dva: array<vec4<f32>, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    kv[d] = vec4<f32>(load_k(kj.x + d), load_k(kj.y + d), load_k(kj.z + d), load_k(kj.w + d)) * P.scale;
    vv[d] = vec4<f32>(load_v(vj.x + d), load_v(vj.y + d), load_v(vj.z + d), load_v(vj.w + d));
    dka[d] = vec4<f32>(0.0);
    dva[d] = vec4<f32>(0.0);
  }
  // Causal: only queries i >= j see key j. Four queries per step.
  let istart = select(0u, Q.first, P.causal != 0u);
  for (var i0 = istart; i0 < P.t; i0 += 4u) {
    let iv = vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u);
    let ic = min(iv, vec4<u32>(P.t - 1u));
    let ri = vec4<u32>(rbase) + ic; // query rows of (BH, T)
    let qi = vec4<u32>(ibase) + ic * P.in_t;
    let oi = vec4<u32>(obase) + ic * P.out_t;
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    var dp0 = vec4<f32>(0.0);
    var dp1 = vec4<f32>(0.0);
    var dp2 = vec4<f32>(0.0);
    var dp3 = vec4<f32>(0.0);
    for (var d = 0u; d < P.hs; d++) {
      let kd = kv[d];
      let vd = vv[d];
      s0 += kd * load_q(qi.x + d);
      s1 += kd * load_q(qi.y + d);
      s2 += kd * load_q(qi.z + d);
      s3 += kd * load_q(qi.w + d);
      dp0 += vd * dout[oi.x + d];
      dp1 += vd * dout[oi.y + d];
      dp2 += vd * dout[oi.z + d];
      dp3 += vd * dout[oi.w + d];
    }
    // Query i sees key j when i < T and j <= i (or always, without the causal mask).
    let vis = iv < vec4<u32>(P.t);
    let c = P.causal != 0u;
    let p0 = select(vec4<f32>(0.0), exp(s0 - lse[ri.x]), vec4<bool>(vis.x) & select(vec4<bool>(true), Q.rows <= vec4<u32>(iv.x), c));
    let p1 = select(vec4<f32>(0.0), exp(s1 - lse[ri.y]), vec4<bool>(vis.y) & select(vec4<bool>(true), Q.rows <= vec4<u32>(iv.y), c));
    let p2 = select(vec4<f32>(0.0), exp(s2 - lse[ri.z]), vec4<bool>(vis.z) & select(vec4<bool>(true), Q.rows <= vec4<u32>(iv.z), c));
    let p3 = select(vec4<f32>(0.0), exp(s3 - lse[ri.w]), vec4<bool>(vis.w) & select(vec4<bool>(true), Q.rows <= vec4<u32>(iv.w), c));
    let z0 = drop_factor4(vec4<u32>(ri.x * P.t) + Q.rows, seed0, P);
    let z1 = drop_factor4(vec4<u32>(ri.y * P.t) + Q.rows, seed0, P);
    let z2 = drop_factor4(vec4<u32>(ri.z * P.t) + Q.rows, seed0, P);
    let z3 = drop_factor4(vec4<u32>(ri.w * P.t) + Q.rows, seed0, P);
    let pz0 = p0 * z0;
    let pz1 = p1 * z1;
    let pz2 = p2 * z2;
    let pz3 = p3 * z3;
    let ds0 = p0 * (dp0 * z0 - dsum[ri.x]);
    let ds1 = p1 * (dp1 * z1 - dsum[ri.y]);
    let ds2 = p2 * (dp2 * z2 - dsum[ri.z]);
    let ds3 = p3 * (dp3 * z3 - dsum[ri.w]);
    for (var d = 0u; d < P.hs; d++) {
      dva[d] += pz0 * dout[oi.x + d] + pz1 * dout[oi.y + d] + pz2 * dout[oi.z + d] + pz3 * dout[oi.w + d];
      dka[d] += ds0 * load_q(qi.x + d) + ds1 * load_q(qi.y + d) + ds2 * load_q(qi.z + d) + ds3 * load_q(qi.w + d);
    }
  }
  for (var c = 0u; c < 4u; c++) {
    if (Q.live[c]) {
      for (var d = 0u; d < P.hs; d++) {
        dqkv[kr[c] + P.dk_off + d] = dka[d][c] * P.scale;
        dqkv[kr[c] + P.dv_off + d] = dva[d][c];
      }
    }
  }
}

@compute @workgroup_size(WG)
fn attn_dkv_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let P = gp;
  let nkb = (P.t + WG - 1u) / WG;
  let g = flat_group(wid, nwg);
  let bh = g / nkb;
  if (bh >= P.bh) { return; }
  let j0 = (g % nkb) * WG;
  let j = min(j0 + lid, P.t - 1u);
  let live = j0 + lid < P.t;
  let rbase = bh * P.t; // first row of this (b, h) in (BH, T)
  let ibase = in_row(bh, 0u, P);
  let obase = out_row(bh, 0u, P);
  let krow = ibase + j * P.in_t;
  let seed0 = seed[0];
  var kr: array<f32, MAX_HS>;
  var vr: array<f32, MAX_HS>;
  var dka: array<f32, MAX_HS>;
  var dva: array<f32, MAX_HS>;
  for (var d = 0u; d < P.hs; d++) {
    kr[d] = load_k(krow + P.k_off + d) * P.scale;
    vr[d] = load_v(krow + P.v_off + d);
    dka[d] = 0.0;
    dva[d] = 0.0;
  }
  // Causal: no query before the block's first key sees any key of it.
  let istart = select(0u, j0, P.causal != 0u);
  let ifirst = select(0u, j, P.causal != 0u);
  for (var i0 = istart; i0 < P.t; i0 += BK) {
    for (var e = lid; e < BK * P.hs; e += WG) {
      let i = i0 + e / P.hs;
      let ic = min(i, P.t - 1u);
      tile_a[e] = select(0.0, load_q(ibase + ic * P.in_t + e % P.hs), i < P.t);
      tile_b[e] = select(0.0, dout[obase + ic * P.out_t + e % P.hs], i < P.t);
    }
    for (var e = lid; e < BK; e += WG) {
      let at = rbase + min(i0 + e, P.t - 1u);
      tile_lse[e] = lse[at];
      tile_d[e] = dsum[at];
    }
    workgroupBarrier();
    let ib = select(i0, ifirst, ifirst > i0); // first query of this tile that sees key j
    let iend = min(i0 + BK, P.t);
    for (var i = ib; i < iend; i++) {
      let ii = i - i0;
      let qi = ii * P.hs;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < P.hs; d++) {
        s += kr[d] * tile_a[qi + d];
        dp += vr[d] * tile_b[qi + d];
      }
      let p = exp(s - tile_lse[ii]);
      let idx = (rbase + i) * P.t + j;
      let z = drop_factor(idx, seed0, P);
      let pz = p * z;
      let ds = p * (dp * z - tile_d[ii]);
      for (var d = 0u; d < P.hs; d++) {
        dva[d] += pz * tile_b[qi + d];
        dka[d] += ds * tile_a[qi + d];
      }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var d = 0u; d < P.hs; d++) {
      dqkv[krow + P.dk_off + d] = dka[d] * P.scale;
      dqkv[krow + P.dv_off + d] = dva[d];
    }
  }
}
`;
}
