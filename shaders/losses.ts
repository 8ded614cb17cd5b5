// WGSL for the pointwise loss kernels: binary cross-entropy with logits and the KL divergence
// term, each forward beside its backward. Every kernel is one pass over flat arrays with one
// invocation per element (no barriers, so the same code suits GPUs and SwiftShader); the
// reductions to a scalar are the ordinary sum/mean ops.
// Not here: shape rules, reductions or CPU references (src/ops/losses.ts), cross-entropy over
// classes (shaders/crossentropy.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

export const lossesShader: ShaderModuleDef = {
  label: 'losses',
  code: () => wgsl`
override WG: u32 = 256u;
// klDiv only: 1 when the target holds log-probabilities, 0 when it holds probabilities.
override LOG_TARGET: u32 = 0u;
struct P { n: u32 }
${flatIndexWgsl}

// log(1 + e) for e in [0, 1] without losing the small e to the rounding of 1 + e: the ratio
// e / (u - 1) corrects log(u) by the rounding that u = 1 + e made.
fn log1p_small(e: f32) -> f32 {
  let u = 1.0 + e;
  if (u == 1.0) { return e; }
  return log(u) * (e / (u - 1.0));
}

// ---- bce_fwd: loss = max(x, 0) - x * y + log(1 + exp(-|x|)), the log-sigmoid form that
// neither overflows (exp of a large x) nor cancels (log of 1 - sigmoid(x) near 0).
@group(0) @binding(0) var<storage, read> x: array<f32>;          // (N)
@group(0) @binding(1) var<storage, read> y: array<f32>;          // (N)
@group(0) @binding(2) var<storage, read_write> loss: array<f32>; // (N)
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(WG)
fn bce_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let v = x[i];
  loss[i] = max(v, 0.0) - v * y[i] + log1p_small(exp(-abs(v)));
}

// ---- bce_bwd: dx = (sigmoid(x) - y) * dloss. sigmoid from exp(-|x|), which never overflows.
@group(0) @binding(2) var<storage, read> dloss: array<f32>;    // (N)
@group(0) @binding(3) var<storage, read_write> dx: array<f32>; // (N)
@group(0) @binding(4) var<uniform> pb: P;

@compute @workgroup_size(WG)
fn bce_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n) { return; }
  let v = x[i];
  let e = exp(-abs(v));
  let s = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
  dx[i] = (s - y[i]) * dloss[i];
}

// ---- kl_fwd: the pointwise term of KL(target || q) with input = log q:
// probabilities: xlogy(t, t) - t * input (0 log 0 = 0; a negative t gives NaN);
// log-probabilities: exp(t) * (t - input).
@group(0) @binding(0) var<storage, read> kin: array<f32>;      // (N) log q
@group(0) @binding(1) var<storage, read> kt: array<f32>;       // (N) target
@group(0) @binding(2) var<storage, read_write> kl: array<f32>; // (N)

@compute @workgroup_size(WG)
fn kl_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let t = kt[i];
  if (LOG_TARGET == 1u) {
    kl[i] = exp(t) * (t - kin[i]);
  } else {
    // select, not a multiply: log(0) need not be finite, and 0 times it must not leak a NaN.
    kl[i] = select(t * log(t), 0.0, t == 0.0) - t * kin[i];
  }
}

// ---- kl_bwd: d/d input = -target probability * dloss (exp(t) for log-probability targets).
@group(0) @binding(0) var<storage, read> bt: array<f32>;        // (N) target
@group(0) @binding(1) var<storage, read> bdl: array<f32>;       // (N) dloss
@group(0) @binding(2) var<storage, read_write> bdx: array<f32>; // (N)

@compute @workgroup_size(WG)
fn kl_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let t = bt[i];
  let prob = select(t, exp(t), LOG_TARGET == 1u);
  bdx[i] = -prob * bdl[i];
}
`,
};
