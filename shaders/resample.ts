// WGSL for 2D resampling of NCHW tensors by an integer factor K: pool_sum (each output is
// `scale` times the sum of a K x K window; scale = 1 / K^2 is average pooling) and
// upsample_nearest (each input is repeated over a K x K block, times `scale`). With the same
// K and scale the two are exact adjoints of each other, so each is the other's backward.
// Both run one invocation per element of the small side, which reads or writes its whole
// K x K window: no barriers, and K is an override constant so the window loops unroll.
// Not here: shape checks or the choice of scale (src/ops/resample.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

export const resampleShader: ShaderModuleDef = {
  label: 'resample',
  code: () => wgsl`
${flatIndexWgsl}

override WG: u32 = 256u;
// The window side (the resampling factor).
override K: u32 = 2u;

// n: elements on the small side (N * C * Hs * Ws); ws: its row length Ws; wl: the large side's
// row length Ws * K. Small element i = (row, col) has its window at row * K * wl + col * K,
// since large row index = small row index * K (N, C and H fold into one row index).
struct Resample { n: u32, ws: u32, wl: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Resample;

fn window_base(i: u32) -> u32 {
  return (i / p.ws) * K * p.wl + (i % p.ws) * K;
}

// src (N, C, H, W) -> dst (N, C, H / K, W / K)
@compute @workgroup_size(WG)
fn pool_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let base = window_base(i);
  var s = 0.0;
  for (var a = 0u; a < K; a++) {
    for (var b = 0u; b < K; b++) { s += src[base + a * p.wl + b]; }
  }
  dst[i] = s * p.scale;
}

// src (N, C, H, W) -> dst (N, C, H * K, W * K)
@compute @workgroup_size(WG)
fn upsample_nearest(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  let base = window_base(i);
  let v = src[i] * p.scale;
  for (var a = 0u; a < K; a++) {
    for (var b = 0u; b < K; b++) { dst[base + a * p.wl + b] = v; }
  }
}
`,
};
