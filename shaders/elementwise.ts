// WGSL for elementwise ops: unary math and its derivative, scalar ops, casts, fills,
// numpy-broadcast binary ops and compares, where, and the broadcast copy.
// Every buffer is declared array<u32> and reinterpreted with bitcast, so one pipeline serves
// f32 and i32 tensors alike (both are 4-byte words) and the dtype choice is an override.
// The function an entry point computes is the override constant OP (codes in src/ops/*.ts),
// so each op is one pipeline with no branching left after specialisation.
// Strided launches carry the output shape and each operand's strides (0 on broadcast dims) in
// the uniform as array<vec4<u32>, 2> (uniform arrays need a 16-byte element stride), so up to
// 8 dims after the host has merged the dims that every operand walks contiguously.
// Not here: reductions (shaders/reduce.ts), shape rules or CPU references (src/ops/).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/**
 * x^e with the real-valued cases WGSL's pow leaves undefined: negative bases with integer
 * exponents, zero bases, and e = 0. Negative bases with fractional exponents give NaN.
 */
const spowWgsl = /* wgsl */ `
fn spow(v: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  let m = exp2(e * log2(abs(v)));
  if (v < 0.0 && fract(e) == 0.0 && fract(e * 0.5) != 0.0) { return -m; }
  if (v < 0.0 && fract(e) != 0.0) { return sqrt(v); }
  return m;
}`;

/** Fills the output with one 4-byte word (an f32 or i32 value's bits). */
export const fillShader: ShaderModuleDef = {
  label: 'fill',
  code: () => wgsl`
override WG: u32 = 256u;
struct P { n: u32, word: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> p: P;
${flatIndexWgsl}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  y[i] = p.word;
}
`,
};

/**
 * Unary ops. OP codes: 0 neg, 1 exp, 2 log, 3 sqrt, 4 relu, 5 gelu, 6 silu, 7 sigmoid,
 * 8 tanh, 9 abs, 10 sign, 11 leakyRelu(a), 12 addScalar(a), 13 mulScalar(a), 14 powScalar(a),
 * 15 cast f32->i32, 16 cast i32->f32, 17 copy. `unary_bwd` computes dx = dy * f'(x) for the
 * codes with a fused derivative (4, 5, 6, 7, 8, 11).
 */
export const unaryShader: ShaderModuleDef = {
  label: 'unary',
  code: () => wgsl`
override OP: u32 = 0u;
override WG: u32 = 256u;
struct P { n: u32, a: f32 }

// unary_fwd: x -> y
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
// unary_bwd: (x, dy) -> dx; bindings alias the forward ones, each entry uses its own set.
@group(0) @binding(1) var<storage, read> dy: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<u32>;
@group(0) @binding(3) var<uniform> pb: P;
${flatIndexWgsl}

const GELU_K: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_C: f32 = 0.044715;

// tanh of large arguments is inf/inf on some drivers; |x| > 15 is +-1 in f32 anyway.
fn safe_tanh(v: f32) -> f32 { return tanh(clamp(v, -15.0, 15.0)); }
fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

${spowWgsl}

fn f(v: f32, a: f32) -> f32 {
  switch OP {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return sqrt(v); }
    case 4u: { return max(v, 0.0); }
    case 5u: { return 0.5 * v * (1.0 + safe_tanh(GELU_K * (v + GELU_C * v * v * v))); }
    case 6u: { return v * sigmoid(v); }
    case 7u: { return sigmoid(v); }
    case 8u: { return safe_tanh(v); }
    case 9u: { return abs(v); }
    case 10u: { return sign(v); }
    case 11u: { return select(a * v, v, v > 0.0); }
    case 12u: { return v + a; }
    case 13u: { return v * a; }
    case 14u: { return spow(v, a); }
    default: { return v; }
  }
}

fn df(v: f32, a: f32) -> f32 {
  switch OP {
    case 4u: { return select(0.0, 1.0, v > 0.0); }
    case 5u: {
      let t = safe_tanh(GELU_K * (v + GELU_C * v * v * v));
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
    }
    case 6u: { let s = sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
    case 7u: { let s = sigmoid(v); return s * (1.0 - s); }
    case 8u: { let t = safe_tanh(v); return 1.0 - t * t; }
    case 11u: { return select(a, 1.0, v > 0.0); }
    default: { return 0.0; }
  }
}

fn word(w: u32, a: f32) -> u32 {
  switch OP {
    case 15u: { return bitcast<u32>(i32(bitcast<f32>(w))); }
    case 16u: { return bitcast<u32>(f32(bitcast<i32>(w))); }
    case 17u: { return w; }
    default: { return bitcast<u32>(f(bitcast<f32>(w), a)); }
  }
}

@compute @workgroup_size(WG)
fn unary_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  y[i] = word(x[i], p.a);
}

@compute @workgroup_size(WG)
fn unary_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n) { return; }
  dx[i] = bitcast<u32>(bitcast<f32>(dy[i]) * df(bitcast<f32>(x[i]), pb.a));
}
`,
};

/**
 * Binary ops with numpy broadcasting. OP codes: 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 maximum,
 * 6 minimum, 7 greater, 8 less, 9 equal, 10 greaterEqual, 11 lessEqual (compares write an
 * f32 0/1 mask). INT reads both operands as i32 (arithmetic results are then i32 too).
 * `binary_same` is the fast path for operands of the output's shape; `binary_bcast` walks
 * strides.
 */
export const binaryShader: ShaderModuleDef = {
  label: 'binary',
  code: () => wgsl`
override OP: u32 = 0u;
override INT: bool = false;
override WG: u32 = 256u;
// Merged rank of a binary_bcast launch: 1 to 3 take a walk of their own, 0 the general loop.
override RANK: u32 = 0u;
struct PS { n: u32 }
struct PB {
  n: u32, rank: u32, pad0: u32, pad1: u32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<uniform> ps: PS;
@group(0) @binding(3) var<uniform> pb: PB;
${flatIndexWgsl}

${spowWgsl}

fn cmp_f(u: f32, v: f32) -> bool {
  switch OP {
    case 7u: { return u > v; }
    case 8u: { return u < v; }
    case 9u: { return u == v; }
    case 10u: { return u >= v; }
    default: { return u <= v; }
  }
}

fn cmp_i(u: i32, v: i32) -> bool {
  switch OP {
    case 7u: { return u > v; }
    case 8u: { return u < v; }
    case 9u: { return u == v; }
    case 10u: { return u >= v; }
    default: { return u <= v; }
  }
}

fn arith_f(u: f32, v: f32) -> f32 {
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return spow(u, v); }
    case 5u: { return max(u, v); }
    default: { return min(u, v); }
  }
}

// i32 arithmetic wraps on overflow; division and pow are rejected on the host.
fn arith_i(u: i32, v: i32) -> i32 {
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 5u: { return max(u, v); }
    default: { return min(u, v); }
  }
}

fn combine(wa: u32, wb: u32) -> u32 {
  if (INT) {
    if (OP >= 7u) { return bitcast<u32>(select(0.0, 1.0, cmp_i(bitcast<i32>(wa), bitcast<i32>(wb)))); }
    return bitcast<u32>(arith_i(bitcast<i32>(wa), bitcast<i32>(wb)));
  }
  if (OP >= 7u) { return bitcast<u32>(select(0.0, 1.0, cmp_f(bitcast<f32>(wa), bitcast<f32>(wb)))); }
  return bitcast<u32>(arith_f(bitcast<f32>(wa), bitcast<f32>(wb)));
}

@compute @workgroup_size(WG)
fn binary_same(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= ps.n) { return; }
  y[i] = combine(a[i], b[i]);
}

@compute @workgroup_size(WG)
fn binary_bcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n) { return; }
  var oa = 0u;
  var ob = 0u;
  // Ranks 1 to 3 after merging (a bias over rows, a per-channel value over (B, C, H*W)) walk
  // with constant indices into the uniform; dynamic ones, as in the general loop, make the
  // kernel several times slower on SwiftShader (measured). RANK is an override, so only one
  // of the walks is compiled.
  if (RANK == 1u) {
    oa = i * pb.sa[0].x;
    ob = i * pb.sb[0].x;
  } else if (RANK == 2u) {
    let r = i / pb.shape[0].y;
    let c = i - r * pb.shape[0].y;
    oa = r * pb.sa[0].x + c * pb.sa[0].y;
    ob = r * pb.sb[0].x + c * pb.sb[0].y;
  } else if (RANK == 3u) {
    let plane = pb.shape[0].y * pb.shape[0].z;
    let r0 = i / plane;
    let rest = i - r0 * plane;
    let r1 = rest / pb.shape[0].z;
    let r2 = rest - r1 * pb.shape[0].z;
    oa = r0 * pb.sa[0].x + r1 * pb.sa[0].y + r2 * pb.sa[0].z;
    ob = r0 * pb.sb[0].x + r1 * pb.sb[0].y + r2 * pb.sb[0].z;
  } else {
    var rem = i;
    for (var d = pb.rank; d > 0u; d--) {
      let k = d - 1u;
      let size = pb.shape[k / 4u][k % 4u];
      let c = rem % size;
      rem = rem / size;
      oa += c * pb.sa[k / 4u][k % 4u];
      ob += c * pb.sb[k / 4u][k % 4u];
    }
  }
  y[i] = combine(a[oa], b[ob]);
}
`,
};

/**
 * where(cond, a, b): a where cond is nonzero, else b; words are copied, so a and b may be f32
 * or i32. COND_INT reads cond as i32 (otherwise f32, where -0.0 counts as zero).
 */
export const whereShader: ShaderModuleDef = {
  label: 'where',
  code: () => wgsl`
override COND_INT: bool = false;
override WG: u32 = 256u;
struct PS { n: u32 }
struct PB {
  n: u32, rank: u32, pad0: u32, pad1: u32,
  shape: array<vec4<u32>, 2>,
  sc: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> c: array<u32>;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
@group(0) @binding(4) var<uniform> ps: PS;
@group(0) @binding(4) var<uniform> pb: PB;
${flatIndexWgsl}

fn truthy(w: u32) -> bool {
  if (COND_INT) { return w != 0u; }
  return bitcast<f32>(w) != 0.0;
}

@compute @workgroup_size(WG)
fn where_same(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= ps.n) { return; }
  y[i] = select(b[i], a[i], truthy(c[i]));
}

@compute @workgroup_size(WG)
fn where_bcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n) { return; }
  var rem = i;
  var oc = 0u;
  var oa = 0u;
  var ob = 0u;
  for (var d = pb.rank; d > 0u; d--) {
    let k = d - 1u;
    let size = pb.shape[k / 4u][k % 4u];
    let q = rem % size;
    rem = rem / size;
    oc += q * pb.sc[k / 4u][k % 4u];
    oa += q * pb.sa[k / 4u][k % 4u];
    ob += q * pb.sb[k / 4u][k % 4u];
  }
  y[i] = select(b[ob], a[oa], truthy(c[oc]));
}
`,
};

/** Copies x into a larger output along strides (0 on the dims it is repeated over). */
export const broadcastShader: ShaderModuleDef = {
  label: 'broadcast',
  code: () => wgsl`
override WG: u32 = 256u;
struct P {
  n: u32, rank: u32, pad0: u32, pad1: u32,
  shape: array<vec4<u32>, 2>,
  sx: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
${flatIndexWgsl}

@compute @workgroup_size(WG)
fn broadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  var rem = i;
  var ox = 0u;
  for (var d = p.rank; d > 0u; d--) {
    let k = d - 1u;
    let size = p.shape[k / 4u][k % 4u];
    ox += (rem % size) * p.sx[k / 4u][k % 4u];
    rem = rem / size;
  }
  y[i] = x[ox];
}
`,
};
