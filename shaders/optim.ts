// WGSL for the fused optimizers. Every parameter, gradient and state value lives in flat arenas
// at the same per-tensor offsets; `table` maps each workgroup to (tensor, first element) and
// holds the per-tensor table, so one dispatch updates every parameter of a model.
//
// table (u32): [0] workgroups W, [1] tensors T, then W pairs (tensor, start), then T records
//             (offset in floats, size, weight decay as f32 bits, first workgroup, workgroups),
//             then beta1 and beta2 as 64-bit fractions (high word, low word).
// scal (f32): words named in SCAL. Those below HOST_WORDS are hyperparameters the host writes
// each step (1 - beta is written too: f32(0.999) is 0.99900001, and 1 - f32(0.999) is 1.3e-5
// off); the rest is state kept by the GPU.
// scale (f32): [0] the loss scale, read by the graph as the backward pass's seed. On a
// non-finite gradient the update is skipped and the scale shrinks; after `interval` good
// steps it grows. Skipped updates do not count for Adam's bias correction.
// Each invocation handles PER elements of its workgroup's chunk, strided by WG so that
// neighbouring invocations touch neighbouring words; grad_sumsq, adamw and sgd take them four at a
// time (vec4 views of the same arenas, PER a multiple of 4, every tensor starting on a multiple
// of four floats), since on SwiftShader an invocation's or a loop trip's overhead and every
// scalar it reads from storage (a per-lane gather) cost more than the loads of the data. Norm
// partial sums are kept one per invocation, which needs no barrier (barriers are very costly on
// CPU-emulated adapters); grad_norm then reduces them in one workgroup.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';

/** Words of `scal`. */
export const SCAL = {
  // Written by the host each step: MAX_NORM 0 is no clipping, INV_ACC is 1/micro-batches,
  // USE_ACC says the update adds the accumulator, FIRST_MICRO restarts it, SCALING turns on
  // dynamic loss scaling with its growth INTERVAL and FACTOR.
  LR: 0, B1: 1, B2: 2, EPS: 3, ONE_MINUS_B1: 4, ONE_MINUS_B2: 5, MAX_NORM: 6, INV_ACC: 7,
  MOMENTUM: 8, NESTEROV: 9, USE_ACC: 10, FIRST_MICRO: 12, SCALING: 13, INTERVAL: 14, FACTOR: 15,
  // Kept by the GPU: the gradient norm, the clipping scale, whether this update is skipped,
  // updates applied, good steps since the scale changed, 1/loss scale of this step, and the
  // bias corrections 1 - beta1^t and sqrt(1 - beta2^t) for t updates applied.
  NORM: 16, CLIP: 17, SKIP: 18, APPLIED: 19, GOOD: 20, INV_SCALE: 21, BC1: 22, BC2_SQRT: 23,
} as const;
/** The host writes the words below this one; the GPU owns the rest. */
export const HOST_WORDS = 16;

export const optimShader: ShaderModuleDef = {
  label: 'optim',
  code: () => wgsl`
override WG: u32 = 64u;
override PER: u32 = 4u;
${Object.entries(SCAL).map(([name, word]) => `const ${name} = ${word}u;`).join('\n')}
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

// The same arenas as vec4s (q: index of a vec4), for grad_sumsq and adamw.
@group(0) @binding(0) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> acc4: array<vec4<f32>>;

// Four gradients at vec4 q, as grad_at gives each.
fn grad_at4(q: u32, use_acc: bool, inv_acc: f32) -> vec4<f32> {
  var g = grads4[q];
  if (use_acc) { g += acc4[q]; }
  return g * inv_acc;
}

// Which of the four elements from j on lie inside a tensor of \`size\` elements (the rest is the
// padding before the next tensor's aligned start).
fn inside4(j: u32, size: u32) -> vec4<bool> {
  return vec4<u32>(j) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(size);
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
  let use_acc = scal[USE_ACC] != 0.0;
  let inv_acc = scal[INV_ACC];
  var s = 0.0;
  for (var e = 0u; e < PER / 4u; e++) {
    let j = c.start + 4u * (lid + e * WG);
    if (j < c.size) {
      let g = select(vec4<f32>(0.0), grad_at4((c.offset + j) / 4u, use_acc, inv_acc) * unscale, inside4(j, c.size));
      s += dot(g, g);
    }
  }
  partials[w * WG + lid] = s;
}

// ---- bias corrections: 1 - beta^t in 64-bit fixed point ----
// f32 pow cancels badly in 1 - beta^t (with beta2 = 0.999, AdamW's first step is 3e-5 too
// large), and the host cannot take it in f64: t counts applied updates, and whether one is
// skipped is decided here, possibly several queued steps after the host wrote its scalars. So
// the host passes each beta as an exact 64-bit fraction and the power is taken in integer
// arithmetic, which compilers neither reassociate nor fuse, then rounded once to f32.

// The full product of two u32, as (high word, low word).
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), (mid << 16u) | (p00 & 0xffffu));
}

fn add_wide(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.y + b.y;
  return vec2<u32>(a.x + b.x + select(0u, 1u, lo < a.y), lo);
}

// a * b for fractions of 2^64, rounded down (error under 2^-64).
fn frac_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = mul_wide(a.y, b.y);
  let part = add_wide(mul_wide(a.x, b.y), vec2<u32>(0u, lo.x));
  let mid = add_wide(part, mul_wide(a.y, b.x));
  let carry = select(0u, 1u, mid.x < part.x || (mid.x == part.x && mid.y < part.y));
  return add_wide(mul_wide(a.x, b.x), vec2<u32>(carry, mid.x));
}

// 1 - beta^t for t >= 1, rounded to the nearest f32.
fn bias_correction(beta: vec2<u32>, t: u32) -> f32 {
  var r = beta;
  for (var k = 30i - i32(countLeadingZeros(t)); k >= 0i; k--) {
    r = frac_mul(r, r);
    if (((t >> u32(k)) & 1u) == 1u) { r = frac_mul(r, beta); }
  }
  if (r.x == 0u && r.y == 0u) { return 1.0; }
  // 2^64 - r, then normalised so that the high word's top bit is set: value = (hi, lo) * 2^e.
  var lo = ~r.y + 1u;
  var hi = ~r.x + select(0u, 1u, lo == 0u);
  var e = -64i;
  if (hi == 0u) { hi = lo; lo = 0u; e -= 32i; }
  let s = countLeadingZeros(hi);
  if (s > 0u) { hi = (hi << s) | (lo >> (32u - s)); lo = lo << s; e -= i32(s); }
  let m = hi >> 8u;
  let rest = hi & 0xffu;
  let up = rest > 0x80u || (rest == 0x80u && (lo != 0u || (m & 1u) == 1u));
  return ldexp(f32(m + select(0u, 1u, up)), e + 40i);
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
    if (!bad) {
      let t = u32(n_scal[APPLIED]);
      let betas = 2u + 2u * n_table[0] + 5u * n_table[1];
      n_scal[BC1] = bias_correction(vec2<u32>(n_table[betas], n_table[betas + 1u]), t);
      n_scal[BC2_SQRT] = sqrt(bias_correction(vec2<u32>(n_table[betas + 2u], n_table[betas + 3u]), t));
    }
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

@group(0) @binding(4) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> v4: array<vec4<f32>>;

// What turns a summed gradient into the one an update applies, read once per invocation.
struct GradScale { use_acc: bool, inv_acc: f32, unscale: f32, clip: f32 }

fn grad_scale() -> GradScale {
  return GradScale(scal[USE_ACC] != 0.0, scal[INV_ACC], scal[INV_SCALE], scal[CLIP]);
}

// step_grad of the four elements at vec4 q.
fn step_grad4(q: u32, s: GradScale) -> vec4<f32> {
  return grad_at4(q, s.use_acc, s.inv_acc) * s.unscale * s.clip;
}

// AdamW (decoupled weight decay, bias-corrected moments) on vec4s of params, m (s1) and v (s2);
// the padding lanes past a tensor's end keep their values.
@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  let lr = scal[LR];
  let gs = grad_scale();
  let b1 = scal[B1];
  let b2 = scal[B2];
  let omb1 = scal[ONE_MINUS_B1];
  let omb2 = scal[ONE_MINUS_B2];
  let bc2 = scal[BC2_SQRT];
  let eps = scal[EPS];
  // PyTorch's order of operations, so that its results are matched to f32 rounding.
  let step_size = lr / scal[BC1];
  let keep = 1.0 - lr * c.decay;
  for (var e = 0u; e < PER / 4u; e++) {
    let j = c.start + 4u * (lid + e * WG);
    if (j < c.size) {
      let q = (c.offset + j) / 4u;
      let inside = inside4(j, c.size);
      let g = step_grad4(q, gs);
      let m0 = m4[q];
      let v0 = v4[q];
      let p0 = params4[q];
      let m = b1 * m0 + omb1 * g;
      let v = b2 * v0 + omb2 * g * g;
      m4[q] = select(m0, m, inside);
      v4[q] = select(v0, v, inside);
      params4[q] = select(p0, p0 * keep - step_size * m / (sqrt(v) / bc2 + eps), inside);
    }
  }
}

// SGD with momentum (PyTorch's form: the buffer starts as the first gradient) and optional
// Nesterov; weight decay is added to the gradient (L2). On vec4s of params and the momentum
// buffer (s1, the m4 view); s2 unused. Padding lanes keep their values.
@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let w = flat_group(wid, nwg);
  if (w >= table[0] || scal[SKIP] != 0.0) { return; }
  let c = chunk_of(w);
  let gs = grad_scale();
  let lr = scal[LR];
  let mu = scal[MOMENTUM];
  let first = scal[APPLIED] == 1.0;
  let nesterov = scal[NESTEROV] != 0.0;
  for (var e = 0u; e < PER / 4u; e++) {
    let j = c.start + 4u * (lid + e * WG);
    if (j < c.size) {
      let q = (c.offset + j) / 4u;
      let inside = inside4(j, c.size);
      let p = params4[q];
      var d = step_grad4(q, gs) + c.decay * p;
      if (mu != 0.0) {
        let b0 = m4[q];
        let b = select(mu * b0 + d, d, first);
        m4[q] = select(b0, b, inside);
        d = select(b, d + mu * b, nesterov);
      }
      params4[q] = select(p, p - lr * d, inside);
    }
  }
}

// LAMB, first pass: Adam moments, and per-invocation partial sums of w^2 and u^2 where
// u = m_hat / (sqrt(v_hat) + eps) + decay * w is the step before the trust ratio.
@group(0) @binding(7) var<storage, read_write> norms: array<f32>;

fn lamb_u(i: u32, decay: f32) -> f32 {
  return (s1[i] / scal[BC1]) / (sqrt(s2[i]) / scal[BC2_SQRT] + scal[EPS]) + decay * params[i];
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
      s1[i] = scal[B1] * s1[i] + scal[ONE_MINUS_B1] * g;
      s2[i] = scal[B2] * s2[i] + scal[ONE_MINUS_B2] * g * g;
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
