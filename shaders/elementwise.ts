// WGSL for elementwise ops: unary math and its derivative, scalar ops, casts, fills,
// numpy-broadcast binary ops and compares, where, and the broadcast copy.
// Every buffer is declared array<u32> and reinterpreted with bitcast, so one pipeline serves
// f32 and i32 tensors alike (both are 4-byte words) and the dtype choice is an override.
// The function an entry point computes is the override constant OP (UNARY_OP, BINARY_OP here;
// the ops import them), so each op is one pipeline with no branching left after specialisation.
// Strided launches carry the output shape and each operand's strides (0 on broadcast dims) in
// the uniform as array<vec4<u32>, 2> (uniform arrays need a 16-byte element stride), so up to
// 8 dims after the host has merged the dims that every operand walks contiguously.
// Not here: reductions (shaders/reduce.ts), shape rules or CPU references (src/ops/).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';
import { activationsWgsl } from './activations.js';

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

/** Codes 0, 1, 2, ... for `names` in order: the values of a shader's OP override. */
const opCodes = <N extends string>(names: readonly N[]): Readonly<Record<N, number>> =>
  Object.fromEntries(names.map((n, i) => [n, i])) as Record<N, number>;

/**
 * The unary shader's OP codes (src/ops/unary.ts dispatches by them): math, activations and
 * scalar ops (`a` is the scalar: slope, value or exponent), the casts, and a plain copy.
 * `unary_bwd` computes dx = dy * f'(x) for the activations with a fused derivative (relu,
 * gelu, silu, sigmoid, tanh, leakyRelu). `unary_fwd4` and `unary_bwd4` do the same four elements
 * an invocation (through vec4 views of the same bindings), where the count comes in fours.
 */
export const UNARY_OP = opCodes([
  'neg', 'exp', 'log', 'sqrt', 'relu', 'gelu', 'silu', 'sigmoid', 'tanh', 'abs', 'sign',
  'leakyRelu', 'addScalar', 'mulScalar', 'powScalar', 'castToI32', 'castToF32', 'copy',
] as const);

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
// The same bindings as four words an element (unary_fwd4, unary_bwd4).
@group(0) @binding(0) var<storage, read> x4: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> y4: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> dy4: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dx4: array<vec4<u32>>;
${flatIndexWgsl}
${activationsWgsl}
${spowWgsl}

fn f(v: f32, a: f32) -> f32 {
  switch OP {
    case ${UNARY_OP.neg}u: { return -v; }
    case ${UNARY_OP.exp}u: { return exp(v); }
    case ${UNARY_OP.log}u: { return log(v); }
    case ${UNARY_OP.sqrt}u: { return sqrt(v); }
    case ${UNARY_OP.relu}u: { return max(v, 0.0); }
    case ${UNARY_OP.gelu}u: { return gelu(v); }
    case ${UNARY_OP.silu}u: { return silu(v); }
    case ${UNARY_OP.sigmoid}u: { return sigmoid(v); }
    case ${UNARY_OP.tanh}u: { return safe_tanh(v); }
    case ${UNARY_OP.abs}u: { return abs(v); }
    case ${UNARY_OP.sign}u: { return sign(v); }
    case ${UNARY_OP.leakyRelu}u: { return select(a * v, v, v > 0.0); }
    case ${UNARY_OP.addScalar}u: { return v + a; }
    case ${UNARY_OP.mulScalar}u: { return v * a; }
    case ${UNARY_OP.powScalar}u: { return spow(v, a); }
    default: { return v; }
  }
}

fn df(v: f32, a: f32) -> f32 {
  switch OP {
    case ${UNARY_OP.relu}u: { return select(0.0, 1.0, v > 0.0); }
    case ${UNARY_OP.gelu}u: { return gelu_grad(v); }
    case ${UNARY_OP.silu}u: { return silu_grad(v); }
    case ${UNARY_OP.sigmoid}u: { let s = sigmoid(v); return s * (1.0 - s); }
    case ${UNARY_OP.tanh}u: { let t = safe_tanh(v); return 1.0 - t * t; }
    case ${UNARY_OP.leakyRelu}u: { return select(a, 1.0, v > 0.0); }
    default: { return 0.0; }
  }
}

fn word(w: u32, a: f32) -> u32 {
  switch OP {
    case ${UNARY_OP.castToI32}u: { return bitcast<u32>(i32(bitcast<f32>(w))); }
    case ${UNARY_OP.castToF32}u: { return bitcast<u32>(f32(bitcast<i32>(w))); }
    case ${UNARY_OP.copy}u: { return w; }
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
  dx[i] = grad_word(x[i], dy[i], pb.a);
}

fn grad_word(w: u32, dw: u32, a: f32) -> u32 { return bitcast<u32>(bitcast<f32>(dw) * df(bitcast<f32>(w), a)); }

@compute @workgroup_size(WG)
fn unary_fwd4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n / 4u) { return; }
  let w = x4[i];
  y4[i] = vec4<u32>(word(w.x, p.a), word(w.y, p.a), word(w.z, p.a), word(w.w, p.a));
}

@compute @workgroup_size(WG)
fn unary_bwd4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n / 4u) { return; }
  let w = x4[i];
  let d = dy4[i];
  dx4[i] = vec4<u32>(grad_word(w.x, d.x, pb.a), grad_word(w.y, d.y, pb.a), grad_word(w.z, d.z, pb.a), grad_word(w.w, d.w, pb.a));
}
`,
};

/**
 * The binary shader's OP codes (src/ops/binary.ts dispatches by them): arithmetic, then the
 * compares, which come last (OP >= greater) and write an f32 0/1 mask.
 */
export const BINARY_OP = opCodes([
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'greater', 'less', 'equal', 'greaterEqual', 'lessEqual',
] as const);

/**
 * binary_bcast's entries four elements an invocation, where the output's innermost dim (after
 * merging) comes in fours: each operand either runs along it (four words at once: "wide") or
 * is constant along it (one word, repeated). Entry name, then whether a and b are wide.
 */
export const BCAST4_ENTRIES = [
  ['binary_bcast4', true, true],
  ['binary_bcast4_repeat_a', false, true],
  ['binary_bcast4_repeat_b', true, false],
] as const;

const bcast4Entry = (name: string, wideA: boolean, wideB: boolean) => `
@compute @workgroup_size(WG)
fn ${name}(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n / 4u) { return; }
  let o = offsets(4u * i);
  y4[i] = combine4(${wideA ? 'a4[o.x / 4u]' : 'vec4<u32>(a[o.x])'}, ${wideB ? 'b4[o.y / 4u]' : 'vec4<u32>(b[o.y])'});
}
`;

/**
 * Binary ops with numpy broadcasting (BINARY_OP). INT reads both operands as i32 (arithmetic
 * results are then i32 too). `binary_same` is the fast path for operands of the output's shape;
 * `binary_bcast` walks strides. Their 4-wide forms (binary_same4, BCAST4_ENTRIES) take four
 * elements an invocation: one 16-byte load instead of four per-lane gathers on SwiftShader.
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
// The same bindings as four words an element (binary_same4, binary_bcast4*).
@group(0) @binding(0) var<storage, read> a4: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4<u32>>;
${flatIndexWgsl}

${spowWgsl}

fn cmp_f(u: f32, v: f32) -> bool {
  switch OP {
    case ${BINARY_OP.greater}u: { return u > v; }
    case ${BINARY_OP.less}u: { return u < v; }
    case ${BINARY_OP.equal}u: { return u == v; }
    case ${BINARY_OP.greaterEqual}u: { return u >= v; }
    default: { return u <= v; }
  }
}

fn cmp_i(u: i32, v: i32) -> bool {
  switch OP {
    case ${BINARY_OP.greater}u: { return u > v; }
    case ${BINARY_OP.less}u: { return u < v; }
    case ${BINARY_OP.equal}u: { return u == v; }
    case ${BINARY_OP.greaterEqual}u: { return u >= v; }
    default: { return u <= v; }
  }
}

fn arith_f(u: f32, v: f32) -> f32 {
  switch OP {
    case ${BINARY_OP.add}u: { return u + v; }
    case ${BINARY_OP.sub}u: { return u - v; }
    case ${BINARY_OP.mul}u: { return u * v; }
    case ${BINARY_OP.div}u: { return u / v; }
    case ${BINARY_OP.pow}u: { return spow(u, v); }
    case ${BINARY_OP.maximum}u: { return max(u, v); }
    default: { return min(u, v); }
  }
}

// i32 arithmetic wraps on overflow; division and pow are rejected on the host.
fn arith_i(u: i32, v: i32) -> i32 {
  switch OP {
    case ${BINARY_OP.add}u: { return u + v; }
    case ${BINARY_OP.sub}u: { return u - v; }
    case ${BINARY_OP.mul}u: { return u * v; }
    case ${BINARY_OP.maximum}u: { return max(u, v); }
    default: { return min(u, v); }
  }
}

fn combine(wa: u32, wb: u32) -> u32 {
  if (INT) {
    if (OP >= ${BINARY_OP.greater}u) { return bitcast<u32>(select(0.0, 1.0, cmp_i(bitcast<i32>(wa), bitcast<i32>(wb)))); }
    return bitcast<u32>(arith_i(bitcast<i32>(wa), bitcast<i32>(wb)));
  }
  if (OP >= ${BINARY_OP.greater}u) { return bitcast<u32>(select(0.0, 1.0, cmp_f(bitcast<f32>(wa), bitcast<f32>(wb)))); }
  return bitcast<u32>(arith_f(bitcast<f32>(wa), bitcast<f32>(wb)));
}

fn combine4(wa: vec4<u32>, wb: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(combine(wa.x, wb.x), combine(wa.y, wb.y), combine(wa.z, wb.z), combine(wa.w, wb.w));
}

@compute @workgroup_size(WG)
fn binary_same(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= ps.n) { return; }
  y[i] = combine(a[i], b[i]);
}

@compute @workgroup_size(WG)
fn binary_same4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= ps.n / 4u) { return; }
  y4[i] = combine4(a4[i], b4[i]);
}

// Offsets in a and b of output element i.
fn offsets(i: u32) -> vec2<u32> {
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
  return vec2<u32>(oa, ob);
}

@compute @workgroup_size(WG)
fn binary_bcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pb.n) { return; }
  let o = offsets(i);
  y[i] = combine(a[o.x], b[o.y]);
}
${BCAST4_ENTRIES.map(([name, wideA, wideB]) => bcast4Entry(name, wideA, wideB)).join('')}`,
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
