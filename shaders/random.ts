// WGSL for counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011) and the ops built on it (uniform and normal fills,
// inverted dropout).
//
// The stream is a pure function of (seed, offset, element index): element i takes word i % 4
// of philox(counter = (i / 4, offset, 0, 0), key = (seed, 0)). Nothing depends on workgroup
// size or dispatch shape, so the same (seed, offset) gives the same bits on every adapter and
// src/ops/random.ts can reproduce them exactly on the CPU. Each invocation handles one counter
// block, i.e. four consecutive elements, so one Philox evaluation feeds four outputs.
//
// Not here: the choice of seed or offset (the caller's), or any state: there is no generator
// object to advance, which is what lets a compiled plan replay a step with a fresh seed.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/** Philox4x32-10 and the bits-to-float map, shared with every kernel that draws from the stream. */
export const philoxWgsl = /* wgsl */ `
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High word of the 64-bit product a * b. WGSL has no 64-bit integers, so the product is
// assembled from 16-bit halves; every partial product fits in 32 bits.
fn mulhi32(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = mulhi32(PHILOX_M0, c.x);
    let hi1 = mulhi32(PHILOX_M1, c.z);
    c = vec4<u32>(hi1 ^ c.y ^ k.x, PHILOX_M1 * c.z, hi0 ^ c.w ^ k.y, PHILOX_M0 * c.x);
    k += vec2<u32>(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

// The top 24 bits as a float in [0, 1): exact in f32, so CPU and GPU agree bit for bit.
fn unit_float(w: u32) -> f32 {
  return f32(w >> 8u) * (1.0 / 16777216.0);
}
`;

export const randomShader: ShaderModuleDef = {
  label: 'random',
  code: () => wgsl`
${philoxWgsl}
${flatIndexWgsl}

override WG: u32 = 64u;

// Fill ops: a and b are (low, high) for uniform, (mean, std) for normal.
struct Fill {
  n: u32,
  offset: u32,
  a: f32,
  b: f32,
}

@group(0) @binding(0) var<storage, read> seed: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> fill: Fill;

fn fill_block(gid: vec3<u32>, nwg: vec3<u32>) -> vec4<u32> {
  let blk = flat_index(gid, nwg, WG);
  return philox4x32_10(vec4<u32>(blk, fill.offset, 0u, 0u), vec2<u32>(seed[0], 0u));
}

@compute @workgroup_size(WG)
fn uniform_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = flat_index(gid, nwg, WG) * 4u;
  if (i0 >= fill.n) { return; }
  let w = fill_block(gid, nwg);
  for (var j = 0u; j < 4u; j++) {
    if (i0 + j < fill.n) { out[i0 + j] = fill.a + (fill.b - fill.a) * unit_float(w[j]); }
  }
}

const PI: f32 = 3.14159265358979;

// Box-Muller on the word pairs (0, 1) and (2, 3). The radius uses a uniform in (0, 1] so the
// log is finite; the angle is kept in [-pi, pi) where WGSL's cos and sin are most accurate.
@compute @workgroup_size(WG)
fn normal_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = flat_index(gid, nwg, WG) * 4u;
  if (i0 >= fill.n) { return; }
  let w = fill_block(gid, nwg);
  var z: array<f32, 4>;
  for (var j = 0u; j < 4u; j += 2u) {
    let r = sqrt(-2.0 * log(unit_float(w[j]) + (1.0 / 16777216.0)));
    let theta = PI * (2.0 * unit_float(w[j + 1u]) - 1.0);
    z[j] = r * cos(theta);
    z[j + 1u] = r * sin(theta);
  }
  for (var j = 0u; j < 4u; j++) {
    if (i0 + j < fill.n) { out[i0 + j] = fill.a + fill.b * z[j]; }
  }
}
`,
};

export const dropoutShader: ShaderModuleDef = {
  label: 'dropout',
  code: () => wgsl`
${philoxWgsl}
${flatIndexWgsl}

override WG: u32 = 64u;

struct Drop {
  n: u32,
  offset: u32,
  threshold: u32, // keep an element when its word is >= threshold = floor(p * 2^32)
  scale: f32,     // 1 / (1 - p)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> drop: Drop;

// Forward and backward in one: y = x * mask / (1 - p) is linear in x, so the gradient is the
// same kernel applied to dy with the same seed and offset; the mask is regenerated, not stored.
@compute @workgroup_size(WG)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let blk = flat_index(gid, nwg, WG);
  let i0 = blk * 4u;
  if (i0 >= drop.n) { return; }
  let w = philox4x32_10(vec4<u32>(blk, drop.offset, 0u, 0u), vec2<u32>(seed[0], 0u));
  for (var j = 0u; j < 4u; j++) {
    let i = i0 + j;
    if (i < drop.n) { y[i] = select(0.0, x[i] * drop.scale, w[j] >= drop.threshold); }
  }
}
`,
};
