// WGSL for fused softmax + cross-entropy over the last axis. The forward reads each row of
// logits once (online max and sum, and the plain sum for label smoothing) and writes
// loss = (1 - eps) * (logsumexp(row) - row[target]) + eps * mean_j (logsumexp(row) - row[j]);
// the mean reduction sums those losses over rows in one workgroup, in a fixed order. The
// backward recomputes the row statistics and writes (softmax - (1 - eps) * onehot - eps / V)
// * dloss in the same pass, so no probability tensor is ever stored. eps = 0 is plain
// cross-entropy, bit for bit. A target outside [0, V) (the usual ignore index is -1)
// gives loss 0 and gradient 0, is left out of the mean's count, and is never used as an index.
// Row kernels come in `*_rows` / `*_wg` layouts with identical bindings (see softmax.ts).
// Not here: class weights, or the choice of layout (src/ops/crossentropy.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';
import { onlineSoftmaxWgsl, wgOnlineWgsl, wgReduceWgsl } from './softmax.js';

export const crossEntropyShader: ShaderModuleDef = {
  label: 'crossentropy',
  code: () => wgsl`
${flatIndexWgsl}
${flatGroupWgsl}
${onlineSoftmaxWgsl}

// Invocations per workgroup: rows per workgroup in *_rows, threads per row (or, in ce_mean and
// ce_count, per row set) in *_wg and the reductions. A power of two.
override WG: u32 = 64u;

${wgReduceWgsl}
${wgOnlineWgsl}

// eps: the label smoothing weight, in [0, 1].
struct Rows { rows: u32, cols: u32, eps: f32 }

fn valid(t: i32, V: u32) -> bool {
  return t >= 0 && u32(t) < V;
}

// ---- forward: loss[r] = (1 - eps) * (lse - x[target]) + eps * (lse - sum(x) / V), where
// lse = max + log(sum exp(x - max)); 0 for an ignored row.
@group(0) @binding(0) var<storage, read> logits: array<f32>;     // (N, V)
@group(0) @binding(1) var<storage, read> targets: array<i32>;    // (N)
@group(0) @binding(2) var<storage, read_write> loss: array<f32>; // (N)
@group(0) @binding(3) var<uniform> fp: Rows;

fn row_loss(ms: vec2<f32>, sx: f32, base: u32, t: i32) -> f32 {
  if (!valid(t, fp.cols)) { return 0.0; }
  // Differences from the max first: exact when the logits are large and close, where
  // max + log(sum) would round. With eps = 0 this is (max - x[t]) + log(sum) exactly.
  let nll = ms.x - logits[base + u32(t)];
  let uniform_nll = ms.x - sx / f32(fp.cols);
  return ((1.0 - fp.eps) * nll + fp.eps * uniform_nll) + log(ms.y);
}

@compute @workgroup_size(WG)
fn ce_fwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= fp.rows) { return; }
  let base = r * fp.cols;
  var ms = vec2<f32>(LOWEST, 0.0);
  var sx = 0.0;
  for (var j = 0u; j < fp.cols; j++) {
    let v = logits[base + j];
    ms = online_add(ms, v);
    sx += v;
  }
  loss[r] = row_loss(ms, sx, base, targets[r]);
}

@compute @workgroup_size(WG)
fn ce_fwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= fp.rows) { return; }
  let base = r * fp.cols;
  var ms = vec2<f32>(LOWEST, 0.0);
  var sx = 0.0;
  for (var j = lid; j < fp.cols; j += WG) {
    let v = logits[base + j];
    ms = online_add(ms, v);
    sx += v;
  }
  ms = wg_online(ms, lid);
  sx = wg_sum2(sx, 0.0, lid).x;
  if (lid == 0u) { loss[r] = row_loss(ms, sx, base, targets[r]); }
}

// ---- mean over rows whose target is valid (0 when none is): one workgroup.
@group(0) @binding(0) var<storage, read> row_losses: array<f32>;  // (N)
@group(0) @binding(1) var<storage, read> mtargets: array<i32>;    // (N)
@group(0) @binding(2) var<storage, read_write> mean_loss: array<f32>; // (1)
@group(0) @binding(3) var<uniform> mp: Rows;

@compute @workgroup_size(WG)
fn ce_mean(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var n = 0.0;
  for (var r = lid; r < mp.rows; r += WG) {
    s += row_losses[r];
    n += select(0.0, 1.0, valid(mtargets[r], mp.cols));
  }
  let t = wg_sum2(s, n, lid);
  if (lid == 0u) { mean_loss[0] = t.x / max(t.y, 1.0); }
}

// ---- count of valid targets, for the mean's backward: one workgroup.
@group(0) @binding(0) var<storage, read> ctargets: array<i32>;   // (N)
@group(0) @binding(1) var<storage, read_write> count: array<f32>; // (1)
@group(0) @binding(2) var<uniform> cp: Rows;

@compute @workgroup_size(WG)
fn ce_count(@builtin(local_invocation_index) lid: u32) {
  var n = 0.0;
  for (var r = lid; r < cp.rows; r += WG) { n += select(0.0, 1.0, valid(ctargets[r], cp.cols)); }
  let t = wg_sum2(n, 0.0, lid);
  if (lid == 0u) { count[0] = t.x; }
}

// ---- backward: dlogits = (softmax(row) - (1 - eps) * onehot(target) - eps / V) * scale, where
// scale is dloss[r] per row, or dloss[0] / count for the mean. Ignored rows get zeros.
@group(0) @binding(0) var<storage, read> blogits: array<f32>;       // (N, V)
@group(0) @binding(1) var<storage, read> btargets: array<i32>;      // (N)
@group(0) @binding(2) var<storage, read> dloss: array<f32>;         // (N), or (1) for the mean
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>; // (N, V)
@group(0) @binding(4) var<uniform> bp: Rows;
// The *_mean entry points also read the count, shifting dlogits to binding 4, the uniform to 5.
@group(0) @binding(3) var<storage, read> bcount: array<f32>;         // (1)
@group(0) @binding(4) var<storage, read_write> mdlogits: array<f32>; // (N, V)
@group(0) @binding(5) var<uniform> bmp: Rows;

fn grad_at(base: u32, j: u32, V: u32, ms: vec2<f32>, t: i32, scale: f32, eps: f32) -> f32 {
  let p = exp(blogits[base + j] - ms.x) / ms.y;
  // With eps = 0 both subtractions are of exact zeros: plain cross-entropy's bits.
  let g = (select(p, p - (1.0 - eps), i32(j) == t) - eps / f32(V)) * scale;
  // select rather than a multiply by 0, so non-finite logits in an ignored row still give 0.
  return select(0.0, g, valid(t, V));
}

fn stats_rows(base: u32, V: u32) -> vec2<f32> {
  var ms = vec2<f32>(LOWEST, 0.0);
  for (var j = 0u; j < V; j++) { ms = online_add(ms, blogits[base + j]); }
  return ms;
}

fn stats_wg(base: u32, V: u32, lid: u32) -> vec2<f32> {
  var ms = vec2<f32>(LOWEST, 0.0);
  for (var j = lid; j < V; j += WG) { ms = online_add(ms, blogits[base + j]); }
  return wg_online(ms, lid);
}

@compute @workgroup_size(WG)
fn ce_bwd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= bp.rows) { return; }
  let V = bp.cols;
  let base = r * V;
  let t = btargets[r];
  let ms = stats_rows(base, V);
  for (var j = 0u; j < V; j++) { dlogits[base + j] = grad_at(base, j, V, ms, t, dloss[r], bp.eps); }
}

@compute @workgroup_size(WG)
fn ce_bwd_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= bp.rows) { return; }
  let V = bp.cols;
  let base = r * V;
  let t = btargets[r];
  let ms = stats_wg(base, V, lid);
  for (var j = lid; j < V; j += WG) { dlogits[base + j] = grad_at(base, j, V, ms, t, dloss[r], bp.eps); }
}

@compute @workgroup_size(WG)
fn ce_bwd_mean_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat_index(gid, nwg, WG);
  if (r >= bmp.rows) { return; }
  let V = bmp.cols;
  let base = r * V;
  let t = btargets[r];
  let scale = dloss[0] / max(bcount[0], 1.0);
  let ms = stats_rows(base, V);
  for (var j = 0u; j < V; j++) { mdlogits[base + j] = grad_at(base, j, V, ms, t, scale, bmp.eps); }
}

@compute @workgroup_size(WG)
fn ce_bwd_mean_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let r = flat_group(wid, nwg);
  if (r >= bmp.rows) { return; }
  let V = bmp.cols;
  let base = r * V;
  let t = btargets[r];
  let scale = dloss[0] / max(bcount[0], 1.0);
  let ms = stats_wg(base, V, lid);
  for (var j = lid; j < V; j += WG) { mdlogits[base + j] = grad_at(base, j, V, ms, t, scale, bmp.eps); }
}
`,
};
