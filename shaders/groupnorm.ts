// WGSL for group normalisation of NCHW tensors. Seen from the kernels, x (N, C, S) with S the
// product of the spatial dims is R = N * G contiguous groups of M = (C / G) * S elements, one
// row per (sample, group); channel c of a group spans S consecutive elements.
// The forward (y and the per-group mean and reciprocal standard deviation it saves) comes in
// `*_rows` (one invocation per group, no barriers) and `*_wg` (one workgroup per group,
// reductions in workgroup memory) layouts with identical bindings, as the other row kernels.
// The backward needs no reduction over a whole group: gn_sums first sums dy * xh and dy per
// (sample, channel) over S, and those partials give both the per-group dx coefficients (a sum
// over the group's C / G channels) and, summed over samples in fixed order, dgain and dbias.
// So the dx kernels are barrier-free in both layouts, and nothing uses float atomics.
// Not here: the choice of layout (src/ops/groupnorm.ts), shape checks (the op's rule).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';
import { wgReduceWgsl } from './softmax.js';

/**
 * The module whose (N, C, S) tensors are arrays of f32, or with `vec4` of vec4<f32> (S a multiple
 * of 4): the same kernels then take four elements a step, with every size and offset in the
 * uniforms counted in vec4s. On SwiftShader a loop's every trip costs more than its load, so the
 * U-Net's forward took 21 ms a step instead of 37 (Node, GPU timestamps).
 */
export const groupNormShader = (vec4: boolean): ShaderModuleDef => modules[+vec4];

const modules = [false, true].map((vec4): ShaderModuleDef => ({ label: vec4 ? 'groupnorm.vec4' : 'groupnorm', code: () => groupNormCode(vec4) }));

const groupNormCode = (vec4: boolean) => wgsl`
// T is one element of the (N, C, S) tensors, LANES values; total() sums its lanes.
alias T = ${vec4 ? 'vec4<f32>' : 'f32'};
const LANES = ${vec4 ? 4 : 1}u;
fn total(v: T) -> f32 { return ${vec4 ? 'dot(v, vec4<f32>(1.0))' : 'v'}; }
${flatIndexWgsl}
${flatGroupWgsl}

// Invocations per workgroup: groups (or channels) per workgroup in *_rows and the 1D kernels,
// threads per group in *_wg (a power of two).
override WG: u32 = 64u;

${wgReduceWgsl}

// rows = N * G groups of size = cg * S elements; cg = C / G channels of S elements each
// (size and S in T elements).
struct Groups { rows: u32, size: u32, S: u32, cg: u32, groups: u32, eps: f32 }

// ---- forward: y = (x - mean) * rstd * gain[c] + bias[c], rstd = 1 / sqrt(var + eps)
@group(0) @binding(0) var<storage, read> x: array<T>;                // (N, C, S)
@group(0) @binding(1) var<storage, read> gain: array<f32>;           // (C)
@group(0) @binding(2) var<storage, read> bias: array<f32>;           // (C)
@group(0) @binding(3) var<storage, read_write> y: array<T>;          // (N, C, S)
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>; // (N, G)
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>; // (N, G)
@group(0) @binding(6) var<uniform> fp: Groups;

@compute @workgroup_size(WG)
fn gn_fwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= fp.rows) { return; }
  let M = fp.size;
  let base = r * M;
  var s = T(0.0);
  for (var j = 0u; j < M; j++) { s += x[base + j]; }
  let mu = total(s) / f32(M * LANES);
  // Variance from deviations (two passes), not E[x^2] - mu^2, which cancels badly.
  var q = T(0.0);
  for (var j = 0u; j < M; j++) { let d = x[base + j] - mu; q += d * d; }
  let rs = inverseSqrt(total(q) / f32(M * LANES) + fp.eps);
  // Channel by channel, so the gain and bias index needs no division per element.
  let c0 = (r % fp.groups) * fp.cg;
  var i = base;
  for (var ci = 0u; ci < fp.cg; ci++) {
    let a = rs * gain[c0 + ci];
    let b = bias[c0 + ci];
    for (var k = 0u; k < fp.S; k++) {
      y[i] = (x[i] - mu) * a + b;
      i++;
    }
  }
  mean_out[r] = mu;
  rstd_out[r] = rs;
}

@compute @workgroup_size(WG)
fn gn_fwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= fp.rows) { return; }
  let M = fp.size;
  let base = r * M;
  var s = T(0.0);
  for (var j = lid; j < M; j += WG) { s += x[base + j]; }
  let mu = wg_sum2(total(s), 0.0, lid).x / f32(M * LANES);
  var q = T(0.0);
  for (var j = lid; j < M; j += WG) { let d = x[base + j] - mu; q += d * d; }
  let rs = inverseSqrt(wg_sum2(total(q), 0.0, lid).x / f32(M * LANES) + fp.eps);
  let c0 = (r % fp.groups) * fp.cg;
  for (var j = lid; j < M; j += WG) {
    let c = c0 + j / fp.S;
    y[base + j] = (x[base + j] - mu) * rs * gain[c] + bias[c];
  }
  if (lid == 0u) {
    mean_out[r] = mu;
    rstd_out[r] = rs;
  }
}

// ---- per-(sample, channel) sums over S: part[n, 0, c] = sum dy * xh, part[n, 1, c] = sum dy,
// with xh = (x - mean) * rstd. One invocation per (n, c), contiguous runs of S.
struct Sums { N: u32, C: u32, S: u32, cg: u32, groups: u32 } // S in T elements
@group(0) @binding(0) var<storage, read> sx: array<T>;            // (N, C, S)
@group(0) @binding(1) var<storage, read> smean: array<f32>;       // (N, G)
@group(0) @binding(2) var<storage, read> srstd: array<f32>;       // (N, G)
@group(0) @binding(3) var<storage, read> sdy: array<T>;           // (N, C, S)
@group(0) @binding(4) var<storage, read_write> spart: array<f32>; // (N, 2, C)
@group(0) @binding(5) var<uniform> sp: Sums;

@compute @workgroup_size(WG)
fn gn_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let C = sp.C;
  if (i >= sp.N * C) { return; }
  let n = i / C;
  let c = i % C;
  let r = n * sp.groups + c / sp.cg;
  let mu = smean[r];
  let rs = srstd[r];
  let base = i * sp.S;
  var dg = T(0.0);
  var db = T(0.0);
  for (var k = 0u; k < sp.S; k++) {
    let d = sdy[base + k];
    dg += d * (sx[base + k] - mu) * rs;
    db += d;
  }
  spart[(2u * n) * C + c] = total(dg);
  spart[(2u * n + 1u) * C + c] = total(db);
}

// ---- input gradient. With xh = (x - mean) * rstd and u = gain[c] * dy, per group:
//   dx = rstd * (u - mean(u) - xh * mean(u * xh)) + dmean / M - drstd * rstd^2 * xh / M
// where sum(u) = sum_c gain[c] * part[n, 1, c] and sum(u * xh) = sum_c gain[c] * part[n, 0, c],
// and the last two terms carry gradients that reach the saved mean and rstd outputs.
@group(0) @binding(0) var<storage, read> bx: array<T>;          // (N, C, S)
@group(0) @binding(1) var<storage, read> mean: array<f32>;      // (N, G)
@group(0) @binding(2) var<storage, read> rstd: array<f32>;      // (N, G)
@group(0) @binding(3) var<storage, read> bgain: array<f32>;     // (C)
@group(0) @binding(4) var<storage, read> dy: array<T>;          // (N, C, S)
@group(0) @binding(5) var<storage, read> part: array<f32>;      // (N, 2, C)
@group(0) @binding(6) var<storage, read_write> dx: array<T>;    // (N, C, S)
@group(0) @binding(7) var<uniform> bp: Groups;
// The *_stats entry points also read these, shifting dx to binding 8 and the uniform to 9.
@group(0) @binding(6) var<storage, read> dmean: array<f32>;     // (N, G)
@group(0) @binding(7) var<storage, read> drstd: array<f32>;     // (N, G)
@group(0) @binding(8) var<storage, read_write> sdx: array<T>;   // (N, C, S)
@group(0) @binding(9) var<uniform> tp: Groups;

// Per-group coefficients of dx: dx = rs * (gain[c] * dy - a - xh * b) + cm - xh * cr.
struct GroupGrad { mu: f32, rs: f32, a: f32, b: f32, cm: f32, cr: f32 }

fn group_grad(r: u32, p: Groups, dm: f32, dr: f32) -> GroupGrad {
  let C = p.cg * p.groups;
  let n = r / p.groups;
  let c0 = (r % p.groups) * p.cg;
  var a = 0.0;
  var b = 0.0;
  for (var c = c0; c < c0 + p.cg; c++) {
    a += bgain[c] * part[(2u * n + 1u) * C + c];
    b += bgain[c] * part[(2u * n) * C + c];
  }
  let rs = rstd[r];
  let inv_m = 1.0 / f32(p.size * LANES);
  return GroupGrad(mean[r], rs, a * inv_m, b * inv_m, dm * inv_m, dr * rs * rs * inv_m);
}

fn dx_at(i: u32, c: u32, g: GroupGrad) -> T {
  let xh = (bx[i] - g.mu) * g.rs;
  return g.rs * (bgain[c] * dy[i] - g.a - xh * g.b) + g.cm - xh * g.cr;
}

@compute @workgroup_size(WG)
fn gn_dx_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= bp.rows) { return; }
  let g = group_grad(r, bp, 0.0, 0.0);
  let c0 = (r % bp.groups) * bp.cg;
  var i = r * bp.size;
  for (var c = c0; c < c0 + bp.cg; c++) {
    for (var k = 0u; k < bp.S; k++) {
      dx[i] = dx_at(i, c, g);
      i++;
    }
  }
}

// One workgroup per group; each invocation derives the (uniform) coefficients itself: no barrier.
@compute @workgroup_size(WG)
fn gn_dx_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= bp.rows) { return; }
  let g = group_grad(r, bp, 0.0, 0.0);
  let c0 = (r % bp.groups) * bp.cg;
  let base = r * bp.size;
  for (var j = lid; j < bp.size; j += WG) { dx[base + j] = dx_at(base + j, c0 + j / bp.S, g); }
}

@compute @workgroup_size(WG)
fn gn_dx_stats_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= tp.rows) { return; }
  let g = group_grad(r, tp, dmean[r], drstd[r]);
  let c0 = (r % tp.groups) * tp.cg;
  var i = r * tp.size;
  for (var c = c0; c < c0 + tp.cg; c++) {
    for (var k = 0u; k < tp.S; k++) {
      sdx[i] = dx_at(i, c, g);
      i++;
    }
  }
}

@compute @workgroup_size(WG)
fn gn_dx_stats_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= tp.rows) { return; }
  let g = group_grad(r, tp, dmean[r], drstd[r]);
  let c0 = (r % tp.groups) * tp.cg;
  let base = r * tp.size;
  for (var j = lid; j < tp.size; j += WG) { sdx[base + j] = dx_at(base + j, c0 + j / tp.S, g); }
}

// ---- gain and bias gradients: the partials summed over samples in order (deterministic).
struct Cols { N: u32, C: u32 }
@group(0) @binding(0) var<storage, read> fpart: array<f32>;        // (N, 2, C)
@group(0) @binding(1) var<storage, read_write> dgain: array<f32>;  // (C)
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;  // (C)
@group(0) @binding(3) var<uniform> kp: Cols;

@compute @workgroup_size(WG)
fn gn_cols_final(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = flat_index(gid, nwg, WG);
  let C = kp.C;
  if (c >= C) { return; }
  var dg = 0.0;
  var db = 0.0;
  for (var n = 0u; n < kp.N; n++) {
    dg += fpart[(2u * n) * C + c];
    db += fpart[(2u * n + 1u) * C + c];
  }
  dgain[c] = dg;
  dbias[c] = db;
}
`;
