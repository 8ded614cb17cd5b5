// WGSL for the fused optimizers. Every parameter, gradient and state value lives in flat arenas
// at the same per-tensor offsets; `table` maps each workgroup to (tensor, first element) and
// holds the per-tensor table, so one dispatch updates every parameter of a model.
//
// table (u32): [0] workgroups W, [1] tensors T, then W pairs (tensor, start), then T records
//             (offset in floats, size, weight decay as f32 bits, first workgroup, workgroups).
// scal (f32): hyperparameters written by the host each step, then state kept by the GPU:
//             [0] lr [1] beta1 [2] beta2 [3] eps [6] max grad norm (0: no clipping)
//             [7] 1/micro-batches [8] momentum [9] nesterov [10] read acc [12] first micro-batch
//             [13] dynamic loss scaling [14] growth interval [15] growth factor;
//             [16] gradient norm [17] clipping scale [18] skip this update [19] updates applied
//             [20] good steps since the scale changed [21] 1/loss scale of this step.
// scale (f32): [0] the loss scale, read by the graph as the backward pass's seed. On a
// non-finite gradient the update is skipped and the scale shrinks; after `interval` good
// steps it grows. Skipped updates do not count for Adam's bias correction.
// Each invocation handles PER elements of its workgroup's chunk, strided by WG so that
// neighbouring invocations touch neighbouring words. Norm partial sums are kept one per
// invocation, which needs no barrier (barriers are very costly on CPU-emulated adapters);
// grad_norm then reduces them in one workgroup.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';

export const optimShader: ShaderModuleDef = {
  label: 'optim',
  code: () => wgsl`
override WG: u32 = 64u;
override PER: u32 = 4u;
const LR = 0u; const B1 = 1u; const B2 = 2u; const EPS = 3u;
const MAX_NORM = 6u; const INV_ACC = 7u; const MOMENTUM = 8u; const NESTEROV = 9u;
const USE_ACC = 10u; const FIRST_MICRO = 12u; const SCALING = 13u; const INTERVAL = 14u; const FACTOR = 15u;
const NORM = 16u; const CLIP = 17u; const SKIP = 18u; const APPLIED = 19u; const GOOD = 20u; const INV_SCALE = 21u;
${flatIndexWgsl}
${flatGroupWgsl}

// Bindings 0-3 are common to the norm and update kernels; the ones after differ per kernel.
@group(0) @binding(0) var<storage, read> grads: array<f32>;
@group(0) @binding(1) var<storage, read> acc: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> scal: array<f32>;

struct Chunk { tensor: u32, start: u32, offset: u32, size: u32, decay: f32 }

fn chunk_of(w: u32) -> Chunk {
  let t = table[2u + 2u * w];
  let rec = 2u + 2u * table[0] + 5u * t;
  return Chunk(t, table[3u + 2u * w], table[rec], table[rec + 1u], bitcast<f32>(table[rec + 2u]));
}

// The gradient summed over micro-batches and averaged (still multiplied by the loss scale).
fn grad_at(i: u32) -> f32 {
  var g = grads[i];
  if (scal[USE_ACC] != 0.0) { g += acc[i]; }
  return g * scal[INV_ACC];
}

// ---- gradient norm: per-invocation partial sums, then one workgroup reduces them ----

@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn grad_sumsq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0]) { return; }
  let c = chunk_of(w);
  let unscale = 1.0 / scale[0];
  var s = 0.0;
  for (var e = 0u; e < PER; e++) {
    let j = c.start + lid + e * WG;
    if (j < c.size) { let g = grad_at(c.offset + j) * unscale; s += g * g; }
  }
  partials[w * WG + lid] = s;
}

@group(0) @binding(0) var<storage, read> n_partials: array<f32>;
@group(0) @binding(1) var<storage, read> n_table: array<u32>;
@group(0) @binding(2) var<storage, read_write> n_scal: array<f32>;
@group(0) @binding(3) var<storage, read_write> n_scale: array<f32>;
var<workgroup> tree: array<f32, WG>;

@compute @workgroup_size(WG)
fn grad_norm(@builtin(local_invocation_index) lid: u32) {
  let n = n_table[0] * WG;
  var s = 0.0;
  for (var i = lid; i < n; i += WG) { s += n_partials[i]; }
  tree[lid] = s;
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid < half) { tree[lid] += tree[lid + half]; }
  }
  if (lid == 0u) {
    let norm = sqrt(tree[0]);
    // Exponent bits all set: infinity or NaN (comparisons may be folded away by compilers).
    let bad = (bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u;
    n_scal[NORM] = norm;
    let m = n_scal[MAX_NORM];
    n_scal[CLIP] = select(1.0, min(1.0, m / (norm + 1e-6)), m > 0.0 && !bad);
    n_scal[SKIP] = select(0.0, 1.0, bad);
    n_scal[APPLIED] += select(1.0, 0.0, bad);
    let s = n_scale[0];
    n_scal[INV_SCALE] = 1.0 / s;
    if (n_scal[SCALING] != 0.0) {
      let good = select(n_scal[GOOD] + 1.0, 0.0, bad);
      let grow = good >= n_scal[INTERVAL];
      n_scale[0] = select(select(s, s * n_scal[FACTOR], grow), s / n_scal[FACTOR], bad);
      n_scal[GOOD] = select(good, 0.0, grow);
    }
  }
}

// ---- micro-batch accumulation: acc = (first ? 0 : acc) + grads over the whole arena ----

@group(0) @binding(0) var<storage, read> a_grads: array<f32>;
@group(0) @binding(1) var<storage, read> a_scal: array<f32>;
@group(0) @binding(2) var<storage, read_write> a_acc: array<f32>;

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < arrayLength(&a_acc)) {
    a_acc[i] = select(a_acc[i], 0.0, a_scal[FIRST_MICRO] != 0.0) + a_grads[i];
  }
}

// ---- updates: grads, acc, table, scal (read); params, s1, s2 and, for LAMB, norms (write) ----

@group(0) @binding(4) var<storage, read_write> params: array<f32>;
@group(0) @binding(5) var<storage, read_write> s1: array<f32>;
@group(0) @binding(6) var<storage, read_write> s2: array<f32>;

// The gradient an update applies: unscaled, then clipped.
fn step_grad(i: u32) -> f32 {
  return grad_at(i) * scal[INV_SCALE] * scal[CLIP];
}

// AdamW (decoupled weight decay, bias-corrected moments): s1 = m, s2 = v.
@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  let lr = scal[LR];
  let bc1 = 1.0 - pow(scal[B1], scal[APPLIED]);
  let bc2 = 1.0 - pow(scal[B2], scal[APPLIED]);
  for (var e = 0u; e < PER; e++) {
    let j = c.start + lid + e * WG;
    if (j < c.size) {
      let i = c.offset + j;
      let g = step_grad(i);
      let m = scal[B1] * s1[i] + (1.0 - scal[B1]) * g;
      let v = scal[B2] * s2[i] + (1.0 - scal[B2]) * g * g;
      s1[i] = m;
      s2[i] = v;
      let p = params[i] * (1.0 - lr * c.decay);
      params[i] = p - lr * (m / bc1) / (sqrt(v / bc2) + scal[EPS]);
    }
  }
}

// SGD with momentum (PyTorch's form: the buffer starts as the first gradient) and optional
// Nesterov; weight decay is added to the gradient (L2). s1 = momentum buffer; s2 unused.
@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  let mu = scal[MOMENTUM];
  for (var e = 0u; e < PER; e++) {
    let j = c.start + lid + e * WG;
    if (j < c.size) {
      let i = c.offset + j;
      let p = params[i];
      var d = step_grad(i) + c.decay * p;
      if (mu != 0.0) {
        let b = select(mu * s1[i] + d, d, scal[APPLIED] == 1.0);
        s1[i] = b;
        d = select(b, d + mu * b, scal[NESTEROV] != 0.0);
      }
      params[i] = p - scal[LR] * d;
    }
  }
}

// LAMB, first pass: Adam moments, and per-invocation partial sums of w^2 and u^2 where
// u = m_hat / (sqrt(v_hat) + eps) + decay * w is the step before the trust ratio.
@group(0) @binding(7) var<storage, read_write> norms: array<f32>;

fn lamb_u(i: u32, decay: f32) -> f32 {
  let bc1 = 1.0 - pow(scal[B1], scal[APPLIED]);
  let bc2 = 1.0 - pow(scal[B2], scal[APPLIED]);
  return (s1[i] / bc1) / (sqrt(s2[i] / bc2) + scal[EPS]) + decay * params[i];
}

@compute @workgroup_size(WG)
fn lamb_moments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  var ww = 0.0;
  var uu = 0.0;
  for (var e = 0u; e < PER; e++) {
    let j = c.start + lid + e * WG;
    if (j < c.size) {
      let i = c.offset + j;
      let g = step_grad(i);
      s1[i] = scal[B1] * s1[i] + (1.0 - scal[B1]) * g;
      s2[i] = scal[B2] * s2[i] + (1.0 - scal[B2]) * g * g;
      let u = lamb_u(i, c.decay);
      ww += params[i] * params[i];
      uu += u * u;
    }
  }
  norms[2u * (w * WG + lid)] = ww;
  norms[2u * (w * WG + lid) + 1u] = uu;
}

// LAMB, second pass: w -= lr * trust * u with trust = |w| / |u| per tensor (1 when either is
// zero). Each invocation sums its tensor's partials itself: tensors span few workgroups, and
// this avoids a third dispatch and a barrier.
@compute @workgroup_size(WG)
fn lamb_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  let rec = 2u + 2u * table[0] + 5u * c.tensor;
  let first = table[rec + 3u] * WG;
  let count = table[rec + 4u] * WG;
  var ww = 0.0;
  var uu = 0.0;
  for (var k = first; k < first + count; k++) { ww += norms[2u * k]; uu += norms[2u * k + 1u]; }
  let trust = select(1.0, sqrt(ww) / sqrt(uu), ww > 0.0 && uu > 0.0);
  // Each invocation changes only its own elements, so reading u and writing them is race-free.
  for (var e = 0u; e < PER; e++) {
    let j = c.start + lid + e * WG;
    if (j < c.size) {
      let i = c.offset + j;
      params[i] -= scal[LR] * trust * lamb_u(i, c.decay);
    }
  }
}
`,
};
