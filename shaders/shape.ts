// WGSL for data movement: strided gather (permute, slice), strided scatter (one input of a
// concat, or of a pad, into its window of the output), and zero fills (pad's background).
// The *4 entry points move vec4s: the host uses them when the innermost run is contiguous
// and every offset is a multiple of 4 words, which divides the index arithmetic by four.
//
// Elements are moved as raw 32-bit words (array<u32>), so one pipeline serves f32 and i32.
// Shapes and strides travel in the uniform as array<vec4<u32>, 2>: uniform arrays need a
// 16-byte element stride, and two vec4s hold up to MAX_RANK = 8 dimensions.
//
// Not here: reshape, which moves nothing (its output aliases its input), and tiled transposes:
// a gather reads strided but writes coalesced, which is enough for the sizes trained here.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/** Dimensions the uniform layout can describe. */
export const MAX_RANK = 8;

export const shapeShader: ShaderModuleDef = {
  label: 'shape',
  code: () => wgsl`
${flatIndexWgsl}

override WG: u32 = 64u;

// gather: out[i] = src[base + sum_d idx_d(i) * strides[d]] with idx over \`shape\` (the output).
// scatter: dst[base + sum_d idx_d(i) * strides[d]] = src[i] with idx over \`shape\` (the input).
struct Strided {
  n: u32,
  rank: u32,
  base: u32,
  _pad: u32,
  shape: array<vec4<u32>, 2>,
  strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> st: Strided;

// Offset of the element with row-major linear index i, walking from the last dimension.
fn strided_offset(i: u32) -> u32 {
  var rem = i;
  var off = st.base;
  for (var d = i32(st.rank) - 1; d >= 0; d--) {
    let e = st.shape[d / 4][d % 4];
    off += (rem % e) * st.strides[d / 4][d % 4];
    rem /= e;
  }
  return off;
}

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= st.n) { return; }
  dst[i] = src[strided_offset(i)];
}

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= st.n) { return; }
  dst[strided_offset(i)] = src[i];
}

// The same over vec4s: shape, strides and base are in vec4 units.
@group(0) @binding(0) var<storage, read> src4: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn gather4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < st.n) { dst4[i] = src4[strided_offset(i)]; }
}

@compute @workgroup_size(WG)
fn scatter4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < st.n) { dst4[strided_offset(i)] = src4[i]; }
}

// Zero fills: n words (or n vec4s) of the output.
struct Count { n: u32 }
@group(0) @binding(2) var<uniform> cnt: Count;

@compute @workgroup_size(WG)
fn zero(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < cnt.n) { dst[i] = 0u; }
}

@compute @workgroup_size(WG)
fn zero4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i < cnt.n) { dst4[i] = vec4<u32>(); }
}
`,
};
