// WGSL for the row softmax over the last axis and its backward, in two layouts side by side:
// `*_rows` gives each invocation a whole row (no barriers: the quick choice on CPU-emulated
// adapters such as SwiftShader, where a barrier costs more than a short row of arithmetic) and
// `*_wg` gives each row one workgroup that reduces in workgroup memory (coalesced reads and
// enough parallelism for a real GPU). Also exports the WGSL pieces every row kernel shares:
// the online max/sum step and the workgroup reductions.
// Not here: which layout runs (src/ops/softmax.ts chooses) or shape checks (the op's rule).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';

/**
 * Online softmax statistics: a running (max, sum of exp(x - max)) pair, updated one value at a
 * time, so a row is read once to get both. Starts from (LOWEST, 0) rather than -inf because
 * WGSL implementations need not handle infinities.
 */
export const onlineSoftmaxWgsl = /* wgsl */ `
const LOWEST: f32 = -0x1.fffffep+127f;

fn online_add(ms: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > ms.x) {
    return vec2<f32>(v, ms.y * exp(ms.x - v) + 1.0);
  }
  return vec2<f32>(ms.x, ms.y + exp(v - ms.x));
}

fn online_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}`;

/**
 * Workgroup tree reductions for row-per-workgroup kernels, in a fixed order (deterministic).
 * Needs an override WG, a power of two, as the workgroup size. Every invocation gets the
 * result; call from workgroup-uniform control flow.
 */
export const wgReduceWgsl = /* wgsl */ `
var<workgroup> red_a: array<f32, WG>;
var<workgroup> red_b: array<f32, WG>;

fn wg_sum2(a: f32, b: f32, lid: u32) -> vec2<f32> {
  red_a[lid] = a;
  red_b[lid] = b;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) {
      red_a[lid] += red_a[lid + half];
      red_b[lid] += red_b[lid + half];
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(red_a[0], red_b[0]);
  // The next reduction must not overwrite the totals before every invocation has read them.
  workgroupBarrier();
  return r;
}`;

/** The online (max, sum) pair reduced over the workgroup; needs wgReduceWgsl and onlineSoftmaxWgsl. */
export const wgOnlineWgsl = /* wgsl */ `
fn wg_online(ms: vec2<f32>, lid: u32) -> vec2<f32> {
  red_a[lid] = ms.x;
  red_b[lid] = ms.y;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) {
      let m = online_merge(vec2<f32>(red_a[lid], red_b[lid]), vec2<f32>(red_a[lid + half], red_b[lid + half]));
      red_a[lid] = m.x;
      red_b[lid] = m.y;
    }
    workgroupBarrier();
  }
  let r = vec2<f32>(red_a[0], red_b[0]);
  workgroupBarrier();
  return r;
}`;

export const softmaxShader: ShaderModuleDef = {
  label: 'softmax',
  code: () => wgsl`
${flatIndexWgsl}
${flatGroupWgsl}
${onlineSoftmaxWgsl}

// Invocations per workgroup: rows per workgroup in *_rows, threads per row in *_wg (power of 2).
override WG: u32 = 64u;

${wgReduceWgsl}
${wgOnlineWgsl}

struct Rows { rows: u32, cols: u32 }

// softmax: y = exp(x - max) / sum(exp(x - max)), row by row.
@group(0) @binding(0) var<storage, read> x: array<f32>;          // (R, C)
@group(0) @binding(1) var<storage, read_write> y_out: array<f32>; // (R, C)
@group(0) @binding(2) var<uniform> fp: Rows;

@compute @workgroup_size(WG)
fn softmax_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= fp.rows) { return; }
  let base = r * fp.cols;
  var ms = vec2<f32>(LOWEST, 0.0);
  for (var j = 0u; j < fp.cols; j++) { ms = online_add(ms, x[base + j]); }
  let inv = 1.0 / ms.y;
  for (var j = 0u; j < fp.cols; j++) { y_out[base + j] = exp(x[base + j] - ms.x) * inv; }
}

@compute @workgroup_size(WG)
fn softmax_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= fp.rows) { return; }
  let base = r * fp.cols;
  var ms = vec2<f32>(LOWEST, 0.0);
  for (var j = lid; j < fp.cols; j += WG) { ms = online_add(ms, x[base + j]); }
  ms = wg_online(ms, lid);
  let inv = 1.0 / ms.y;
  for (var j = lid; j < fp.cols; j += WG) { y_out[base + j] = exp(x[base + j] - ms.x) * inv; }
}

// softmax backward: dx = y * (dy - sum(dy * y)), row by row.
@group(0) @binding(0) var<storage, read> y: array<f32>;        // (R, C)
@group(0) @binding(1) var<storage, read> dy: array<f32>;       // (R, C)
@group(0) @binding(2) var<storage, read_write> dx: array<f32>; // (R, C)
@group(0) @binding(3) var<uniform> bp: Rows;

@compute @workgroup_size(WG)
fn softmax_bwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= bp.rows) { return; }
  let base = r * bp.cols;
  var s = 0.0;
  for (var j = 0u; j < bp.cols; j++) { s += dy[base + j] * y[base + j]; }
  for (var j = 0u; j < bp.cols; j++) { dx[base + j] = y[base + j] * (dy[base + j] - s); }
}

@compute @workgroup_size(WG)
fn softmax_bwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= bp.rows) { return; }
  let base = r * bp.cols;
  var part = 0.0;
  for (var j = lid; j < bp.cols; j += WG) { part += dy[base + j] * y[base + j]; }
  let s = wg_sum2(part, 0.0, lid).x;
  for (var j = lid; j < bp.cols; j += WG) { dx[base + j] = y[base + j] * (dy[base + j] - s); }
}
`,
};
