// WGSL for layer normalisation over the last axis: the forward (y, and the per-row mean and
// reciprocal standard deviation it saves), the input gradient (with or without gradients
// arriving at the saved statistics), and the gain/bias gradients as a two-pass column sum
// (per-chunk partial sums, then a sum of the partials in chunk order: deterministic, no atomics).
// Row kernels come in `*_rows` (one invocation per row) and `*_wg` (one workgroup per row)
// layouts with identical bindings; see shaders/softmax.ts for why both exist.
// The forward may store y as f16 (mixed precision: y is the next matmul's operand): two columns
// to a word, written by the invocation that computed both (C is even, so rows start on a word).
// Not here: the choice of layout or chunk size (src/ops/layernorm.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';
import { wgReduceWgsl } from './softmax.js';
import { halfPairWgsl, storageType } from './half.js';

/**
 * The module for y stored f32 or, with `halfOut`, f16 (the other entry points are the same); with
 * `vec4` (C a multiple of 4) every array along C is of vec4<f32> and the uniforms count columns
 * in vec4s, so the kernels take four columns a loop trip: on SwiftShader a trip costs more than
 * its load (the group norm's kernels ran 1.9x faster so).
 */
export const layerNormShader = (halfOut = false, vec4 = false): ShaderModuleDef => modules[+halfOut + 2 * +vec4];

const modules = [false, true].flatMap((vec4) =>
  [false, true].map((half): ShaderModuleDef => ({
    label: `layernorm${half ? '.o16' : ''}${vec4 ? '.vec4' : ''}`,
    code: () => layerNormCode(half, vec4),
  })),
);

function layerNormCode(half: boolean, vec4: boolean): string {
  return wgsl`
// T is LANES consecutive columns of the arrays along C; total() sums its lanes.
alias T = ${vec4 ? 'vec4<f32>' : 'f32'};
const LANES = ${vec4 ? 4 : 1}u;
fn total(v: T) -> f32 { return ${vec4 ? 'dot(v, vec4<f32>(1.0))' : 'v'}; }
${flatIndexWgsl}
${flatGroupWgsl}

// Invocations per workgroup: rows (or columns) per workgroup in *_rows and the column passes,
// threads per row in *_wg (a power of two).
override WG: u32 = 64u;
// Rows summed by one invocation of the column pass; the number of partials is ceil(R / CHUNK).
override CHUNK: u32 = 64u;

${wgReduceWgsl}

// cols (and Cols.cols) in T elements.
struct Norm { rows: u32, cols: u32, eps: f32 }
${half ? halfPairWgsl : ''}

// ---- forward: y = (x - mean) * rstd * gain + bias, rstd = 1 / sqrt(var + eps)
@group(0) @binding(0) var<storage, read> x: array<T>;              // (R, C)
@group(0) @binding(1) var<storage, read> gain: array<T>;           // (C)
@group(0) @binding(2) var<storage, read> bias: array<T>;           // (C)
@group(0) @binding(3) var<storage, read_write> y: array<${half ? storageType(half) : 'T'}>; // (R, C)
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>; // (R)
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>; // (R)
@group(0) @binding(6) var<uniform> fp: Norm;

// Element j of the row at base, normalised, scaled and shifted.
fn normed(base: u32, j: u32, mu: f32, rs: f32) -> T { return (x[base + j] - mu) * rs * gain[j] + bias[j]; }

@compute @workgroup_size(WG)
fn ln_fwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= fp.rows) { return; }
  let C = fp.cols;
  let base = r * C;
  var s = T(0.0);
  for (var j = 0u; j < C; j++) { s += x[base + j]; }
  let mu = total(s) / f32(C * LANES);
  // Variance from deviations (two passes), not E[x^2] - mu^2, which cancels badly.
  var q = T(0.0);
  for (var j = 0u; j < C; j++) { let d = x[base + j] - mu; q += d * d; }
  let rs = inverseSqrt(total(q) / f32(C * LANES) + fp.eps);
#if ${half && vec4}
  for (var j = 0u; j < C; j++) { let v = normed(base, j, mu, rs); y[2u * (base + j)] = half_pair(v.x, v.y); y[2u * (base + j) + 1u] = half_pair(v.z, v.w); }
#elif ${half}
  for (var j = 0u; j < C; j += 2u) { y[(base + j) >> 1u] = half_pair(normed(base, j, mu, rs), normed(base, j + 1u, mu, rs)); }
#else
  for (var j = 0u; j < C; j++) { y[base + j] = normed(base, j, mu, rs); }
#endif
  mean_out[r] = mu;
  rstd_out[r] = rs;
}

@compute @workgroup_size(WG)
fn ln_fwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= fp.rows) { return; }
  let C = fp.cols;
  let base = r * C;
  var s = T(0.0);
  for (var j = lid; j < C; j += WG) { s += x[base + j]; }
  let mu = wg_sum2(total(s), 0.0, lid).x / f32(C * LANES);
  var q = T(0.0);
  for (var j = lid; j < C; j += WG) { let d = x[base + j] - mu; q += d * d; }
  let rs = inverseSqrt(wg_sum2(total(q), 0.0, lid).x / f32(C * LANES) + fp.eps);
#if ${half && vec4}
  for (var j = lid; j < C; j += WG) { let v = normed(base, j, mu, rs); y[2u * (base + j)] = half_pair(v.x, v.y); y[2u * (base + j) + 1u] = half_pair(v.z, v.w); }
#elif ${half}
  for (var j = 2u * lid; j < C; j += 2u * WG) { y[(base + j) >> 1u] = half_pair(normed(base, j, mu, rs), normed(base, j + 1u, mu, rs)); }
#else
  for (var j = lid; j < C; j += WG) { y[base + j] = normed(base, j, mu, rs); }
#endif
  if (lid == 0u) {
    mean_out[r] = mu;
    rstd_out[r] = rs;
  }
}

// ---- input gradient. With xh = (x - mean) * rstd and u = gain * dy:
//   dx = rstd * (u - mean(u) - xh * mean(u * xh)) + dmean / C - drstd * rstd^2 * xh / C
// where the last two terms carry gradients that reach the saved mean and rstd outputs.
@group(0) @binding(0) var<storage, read> bx: array<T>;          // (R, C)
@group(0) @binding(1) var<storage, read> mean: array<f32>;      // (R)
@group(0) @binding(2) var<storage, read> rstd: array<f32>;      // (R)
@group(0) @binding(3) var<storage, read> bgain: array<T>;       // (C)
@group(0) @binding(4) var<storage, read> dy: array<T>;          // (R, C)
@group(0) @binding(5) var<storage, read_write> dx: array<T>;    // (R, C)
@group(0) @binding(6) var<uniform> bp: Norm;
// The *_stats entry points also read these, shifting dx to binding 7 and the uniform to 8.
@group(0) @binding(5) var<storage, read> dmean: array<f32>;     // (R)
@group(0) @binding(6) var<storage, read> drstd: array<f32>;     // (R)
@group(0) @binding(7) var<storage, read_write> sdx: array<T>;   // (R, C)
@group(0) @binding(8) var<uniform> sp: Norm;

// Both sums of one row over the columns j = first, first + step, ...
fn dx_sums(base: u32, mu: f32, rs: f32, C: u32, first: u32, step: u32) -> vec2<f32> {
  var a = T(0.0);
  var b = T(0.0);
  for (var j = first; j < C; j += step) {
    let u = bgain[j] * dy[base + j];
    a += u;
    b += u * (bx[base + j] - mu) * rs;
  }
  return vec2<f32>(total(a), total(b));
}

// Per-row coefficients of dx, from the row sums (sum u, sum u * xh) and the statistics' gradients.
struct RowGrad { mu: f32, rs: f32, a: f32, b: f32, cm: f32, cr: f32 }

fn row_grad(r: u32, C: u32, sums: vec2<f32>, dm: f32, dr: f32) -> RowGrad {
  let rs = rstd[r];
  let inv_c = 1.0 / f32(C * LANES);
  return RowGrad(mean[r], rs, sums.x * inv_c, sums.y * inv_c, dm * inv_c, dr * rs * rs * inv_c);
}

fn dx_at(base: u32, j: u32, g: RowGrad) -> T {
  let xh = (bx[base + j] - g.mu) * g.rs;
  return g.rs * (bgain[j] * dy[base + j] - g.a - xh * g.b) + g.cm - xh * g.cr;
}

@compute @workgroup_size(WG)
fn ln_dx_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= bp.rows) { return; }
  let C = bp.cols;
  let base = r * C;
  let g = row_grad(r, C, dx_sums(base, mean[r], rstd[r], C, 0u, 1u), 0.0, 0.0);
  for (var j = 0u; j < C; j++) { dx[base + j] = dx_at(base, j, g); }
}

@compute @workgroup_size(WG)
fn ln_dx_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= bp.rows) { return; }
  let C = bp.cols;
  let base = r * C;
  let part = dx_sums(base, mean[r], rstd[r], C, lid, WG);
  let g = row_grad(r, C, wg_sum2(part.x, part.y, lid), 0.0, 0.0);
  for (var j = lid; j < C; j += WG) { dx[base + j] = dx_at(base, j, g); }
}

@compute @workgroup_size(WG)
fn ln_dx_stats_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= sp.rows) { return; }
  let C = sp.cols;
  let base = r * C;
  let g = row_grad(r, C, dx_sums(base, mean[r], rstd[r], C, 0u, 1u), dmean[r], drstd[r]);
  for (var j = 0u; j < C; j++) { sdx[base + j] = dx_at(base, j, g); }
}

@compute @workgroup_size(WG)
fn ln_dx_stats_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= sp.rows) { return; }
  let C = sp.cols;
  let base = r * C;
  let part = dx_sums(base, mean[r], rstd[r], C, lid, WG);
  let g = row_grad(r, C, wg_sum2(part.x, part.y, lid), dmean[r], drstd[r]);
  for (var j = lid; j < C; j += WG) { sdx[base + j] = dx_at(base, j, g); }
}

// ---- gain and bias gradients: dgain = sum_r dy * xh, dbias = sum_r dy, over rows.
struct Cols { rows: u32, cols: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> cx: array<T>;            // (R, C)
@group(0) @binding(1) var<storage, read> cmean: array<f32>;       // (R)
@group(0) @binding(2) var<storage, read> crstd: array<f32>;       // (R)
@group(0) @binding(3) var<storage, read> cdy: array<T>;           // (R, C)
@group(0) @binding(4) var<storage, read_write> part: array<T>;    // (K, 2, C)
@group(0) @binding(5) var<uniform> cp: Cols;

// One invocation per (chunk k, column c): neighbouring invocations read neighbouring columns.
@compute @workgroup_size(WG)
fn ln_cols_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let C = cp.cols;
  if (i >= cp.chunks * C) { return; }
  let k = i / C;
  let c = i % C;
  var dg = T(0.0);
  var db = T(0.0);
  for (var r = k * CHUNK; r < min(cp.rows, (k + 1u) * CHUNK); r++) {
    let g = cdy[r * C + c];
    dg += g * (cx[r * C + c] - cmean[r]) * crstd[r];
    db += g;
  }
  part[(2u * k) * C + c] = dg;
  part[(2u * k + 1u) * C + c] = db;
}

@group(0) @binding(0) var<storage, read> fpart: array<T>;          // (K, 2, C)
@group(0) @binding(1) var<storage, read_write> dgain: array<T>;    // (C)
@group(0) @binding(2) var<storage, read_write> dbias: array<T>;    // (C)
@group(0) @binding(3) var<uniform> kp: Cols;

@compute @workgroup_size(WG)
fn ln_cols_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat_index(gid, nwg, WG);
  let C = kp.cols;
  if (c >= C) { return; }
  var dg = T(0.0);
  var db = T(0.0);
  for (var k = 0u; k < kp.chunks; k++) {
    dg += fpart[(2u * k) * C + c];
    db += fpart[(2u * k + 1u) * C + c];
  }
  dgain[c] = dg;
  dbias[c] = db;
}
`;
}
