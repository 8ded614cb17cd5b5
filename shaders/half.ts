// WGSL for f16 tensors: conversions between f32 and f16, and the loads other kernels use to
// read f16 operands. An f16 tensor is stored two values to a u32 word (element 2i in the low
// half) and converted with pack2x16float / unpack2x16float, core WGSL on every adapter: no
// `shader-f16` is needed, because f16 here is a storage format (half the bytes to keep and to
// read), never arithmetic; every sum is f32. One invocation converts one word (two values), so
// no two invocations write the same word.
// pack2x16float is indeterminate outside f16's finite range, so overflow is made explicit:
// |x| >= 65520 (the midpoint past the largest f16, 65504) becomes infinity with x's sign, as
// round-to-nearest would give, and NaN stays NaN; that is what dynamic loss scaling looks for.
// Not here: host conversions (src/half.ts) or the op (src/ops/half.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/**
 * WGSL reading element i of the f16 operand bound as `array<u32>` named `name`, as f32:
 * `fn load_<name>(i: u32) -> f32`. With `half` false, the same function over `array<f32>`,
 * so a kernel is written once against load_<name> for both storage formats.
 */
export function loadWgsl(name: string, half: boolean): string {
  return half
    ? `fn load_${name}(i: u32) -> f32 { return half_value(${name}[i >> 1u], i & 1u); }`
    : `fn load_${name}(i: u32) -> f32 { return ${name}[i]; }`;
}

/**
 * WGSL: half_value(word, k), half k of a word as f32. unpack2x16float is indeterminate for
 * infinities and NaNs, which must survive (an overflow has to reach the loss scaler), so those
 * are rebuilt from their bits. The half is shifted down and unpacked as component x: indexing
 * the unpacked pair by a runtime k made SwiftShader's f16 matmuls ~2x slower (measured).
 * Also halves(word), both values of a word. Include once in a module that reads f16.
 */
export const halfValueWgsl = /* wgsl */ `
fn half_value(word: u32, k: u32) -> f32 {
  let h = (word >> (16u * k)) & 0xffffu;
  let special = bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | ((h & 0x3ffu) << 13u));
  return select(unpack2x16float(h).x, special, (h & 0x7c00u) == 0x7c00u);
}

// Both halves of a word, specials rebuilt as in half_value.
fn halves(word: u32) -> vec2<f32> {
  let h = vec2<u32>(word & 0xffffu, word >> 16u);
  let special = bitcast<vec2<f32>>(((h & vec2<u32>(0x8000u)) << vec2<u32>(16u)) | vec2<u32>(0x7f800000u) | ((h & vec2<u32>(0x3ffu)) << vec2<u32>(13u)));
  return select(unpack2x16float(word), special, (h & vec2<u32>(0x7c00u)) == vec2<u32>(0x7c00u));
}`;

/**
 * WGSL: half_pair(lo, hi), the word holding two f32 values as f16 (lo in the low half), both
 * packed by one pack2x16float. Overflow and NaN are spelled out by their bits (see the header;
 * a compiler may assume x == x and drop a float test), with selects rather than branches, which
 * SwiftShader would run under lane masks. 0x477ff000 is 65520.0. Include once in a module that
 * writes f16.
 */
export const halfPairWgsl = /* wgsl */ `
fn half_pair(lo: f32, hi: f32) -> u32 {
  let v = vec2<f32>(lo, hi);
  let bits = bitcast<vec2<u32>>(v);
  let mag = bits & vec2<u32>(0x7fffffffu);
  let sign = (bits >> vec2<u32>(16u)) & vec2<u32>(0x8000u);
  let packed = pack2x16float(clamp(v, vec2<f32>(-65504.0), vec2<f32>(65504.0)));
  var h = vec2<u32>(packed & 0xffffu, packed >> 16u);
  h = select(h, sign | vec2<u32>(0x7c00u), mag >= vec2<u32>(0x477ff000u));
  h = select(h, sign | vec2<u32>(0x7e00u), mag > vec2<u32>(0x7f800000u));
  return h.x | (h.y << 16u);
}`;

/**
 * WGSL reading elements i..i+3 of the f16 operand `name` (i a multiple of 4) as one vec4: two
 * words unpacked whole, `fn quad_<name>(i: u32) -> vec4<f32>`. A kernel whose rows start on
 * multiples of 4 reads four values for the price of two loads and no shifts. Needs
 * halfValueWgsl in the module.
 */
export function quadLoadWgsl(name: string): string {
  return `fn quad_${name}(i: u32) -> vec4<f32> { let w = i >> 1u; return vec4<f32>(halves(${name}[w]), halves(${name}[w + 1u])); }`;
}

/** The element type an operand's binding declares: packed words for f16, else f32. */
export const storageType = (half: boolean) => (half ? 'u32' : 'f32');

/**
 * Entry points: `to_half` reads x (f32, n values) and writes its words; `from_half` reads words
 * and writes f32. Bindings: x at 0, out at 1, the uniform (n) at 2.
 */
export const halfShader: ShaderModuleDef = {
  label: 'half',
  code: () => wgsl`
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;
${flatIndexWgsl}

${halfValueWgsl}

${halfPairWgsl}

@compute @workgroup_size(WG)
fn to_half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = flat_index(gid, nwg, WG);
  let i = 2u * w;
  if (i >= p.n) { return; }
  // An odd tail's high half is 0.0 (never read).
  let hi = select(0.0, bitcast<f32>(src[min(i + 1u, p.n - 1u)]), i + 1u < p.n);
  dst[w] = half_pair(bitcast<f32>(src[i]), hi);
}

@compute @workgroup_size(WG)
fn from_half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = flat_index(gid, nwg, WG);
  let i = 2u * w;
  if (i >= p.n) { return; }
  dst[i] = bitcast<u32>(half_value(src[w], 0u));
  if (i + 1u < p.n) { dst[i + 1u] = bitcast<u32>(half_value(src[w], 1u)); }
}
`,
};
