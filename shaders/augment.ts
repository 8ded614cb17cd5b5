// WGSL for seeded image augmentations of NCHW batches, the random views of contrastive learning:
// a random integer shift with zero fill, a random rotation about the image centre sampled
// bilinearly (zero outside), and cut-out (a random square set to zero). Each image n draws its
// own parameters from one Philox block of the engine's stream, counter (n, offset, 0, 0) and key
// (seed, 0), so every channel of an image moves alike, the draw does not depend on the launch
// shape, and src/ops/augment.ts reproduces it on the CPU from the same generator.
// One invocation per output element, gathering from the input: no barriers, no atomics. The
// block is recomputed per element (ten rounds of integer multiplies), which is cheaper than a
// second dispatch for images of a few hundred pixels.
// Not here: which offsets two views use, or additive noise (randomNormal plus add).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';
import { philoxWgsl } from './random.js';

export const augmentShader: ShaderModuleDef = {
  label: 'augment',
  code: () => wgsl`
${philoxWgsl}
${flatIndexWgsl}

override WG: u32 = 64u;

// n: elements of x; h, w: its image side lengths; chw: elements per image; offset: the stream;
// a: the op's integer parameter (shift: most pixels moved; cut-out: the square's side);
// angle: rotation, the largest angle in radians.
struct Aug {
  n: u32,
  h: u32,
  w: u32,
  chw: u32,
  offset: u32,
  a: u32,
  angle: f32,
  pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Aug;

fn image_words(img: u32) -> vec4<u32> {
  return philox4x32_10(vec4<u32>(img, p.offset, 0u, 0u), vec2<u32>(seed[0], 0u));
}

// y[n, c, i, j] = x[n, c, i - dy, j - dx] inside the image, else 0; dx, dy uniform in [-a, a].
@compute @workgroup_size(WG)
fn shift(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  if (e >= p.n) { return; }
  let wd = image_words(e / p.chw);
  let span = 2u * p.a + 1u;
  let dx = i32(wd.x % span) - i32(p.a);
  let dy = i32(wd.y % span) - i32(p.a);
  let pix = e % (p.h * p.w);
  let si = i32(pix / p.w) - dy;
  let sj = i32(pix % p.w) - dx;
  var v = 0.0;
  if (si >= 0 && si < i32(p.h) && sj >= 0 && sj < i32(p.w)) {
    v = x[e - pix + u32(si) * p.w + u32(sj)];
  }
  y[e] = v;
}

// x at (row r, column c) of the plane starting at base, 0 outside the image.
fn at(base: u32, r: i32, c: i32) -> f32 {
  if (r < 0 || r >= i32(p.h) || c < 0 || c >= i32(p.w)) { return 0.0; }
  return x[base + u32(r) * p.w + u32(c)];
}

// The output pixel (i, j) samples the input at the point rotated by -theta about the centre
// ((h - 1) / 2, (w - 1) / 2), so the picture turns by theta, uniform in [-angle, angle].
@compute @workgroup_size(WG)
fn rotate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  if (e >= p.n) { return; }
  let wd = image_words(e / p.chw);
  let theta = p.angle * (2.0 * unit_float(wd.x) - 1.0);
  let cs = cos(theta);
  let sn = sin(theta);
  let pix = e % (p.h * p.w);
  let cy = 0.5 * f32(p.h - 1u);
  let cx = 0.5 * f32(p.w - 1u);
  let u = f32(pix % p.w) - cx;
  let v = f32(pix / p.w) - cy;
  let sx = cs * u + sn * v + cx;
  let sy = -sn * u + cs * v + cy;
  let c0 = floor(sx);
  let r0 = floor(sy);
  let fx = sx - c0;
  let fy = sy - r0;
  let base = e - pix;
  let ic = i32(c0);
  let ir = i32(r0);
  let top = (1.0 - fx) * at(base, ir, ic) + fx * at(base, ir, ic + 1);
  let bottom = (1.0 - fx) * at(base, ir + 1, ic) + fx * at(base, ir + 1, ic + 1);
  y[e] = (1.0 - fy) * top + fy * bottom;
}

// Zeroes rows [ci - a / 2, ci - a / 2 + a) and the same columns around a centre (ci, cj) drawn
// uniformly over the whole image, clipped at its edges (DeVries & Taylor 2017).
@compute @workgroup_size(WG)
fn cutout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_index(gid, nwg, WG);
  if (e >= p.n) { return; }
  let wd = image_words(e / p.chw);
  let r0 = i32(wd.x % p.h) - i32(p.a / 2u);
  let c0 = i32(wd.y % p.w) - i32(p.a / 2u);
  let pix = e % (p.h * p.w);
  let i = i32(pix / p.w);
  let j = i32(pix % p.w);
  let inside = i >= r0 && i < r0 + i32(p.a) && j >= c0 && j < c0 + i32(p.a);
  y[e] = select(x[e], 0.0, inside);
}
`,
};
