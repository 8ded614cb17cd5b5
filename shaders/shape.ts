// WGSL for data movement: strided gather (permute, slice), strided scatter (one input of a
// concat into its window of the output) and zero padding (the gradient of slice).
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
`,
};

export const padShader: ShaderModuleDef = {
  label: 'pad',
  code: () => wgsl`
${flatIndexWgsl}

override WG: u32 = 64u;

// out (out_shape) holds x (in_shape) at offset \`before\` and zeros elsewhere.
struct Pad {
  n: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  out_shape: array<vec4<u32>, 2>,
  before: array<vec4<u32>, 2>,
  in_shape: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> pd: Pad;

// One invocation per output element, inside the window or not, so every element is written
// (pooled buffers are not zeroed).
@compute @workgroup_size(WG)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= pd.n) { return; }
  var rem = i;
  var src = 0u;
  var stride = 1u;
  var inside = true;
  for (var d = i32(pd.rank) - 1; d >= 0; d--) {
    let e = pd.out_shape[d / 4][d % 4];
    // Below the window the subtraction wraps to a huge u32, so one compare covers both sides.
    let k = rem % e - pd.before[d / 4][d % 4];
    let m = pd.in_shape[d / 4][d % 4];
    inside = inside && k < m;
    src += k * stride;
    stride *= m;
    rem /= e;
  }
  y[i] = select(0u, x[select(0u, src, inside)], inside);
}
`,
};
