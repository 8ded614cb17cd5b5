// WGSL for reductions over any set of axes: sum (scaled, so mean too), max and argmax.
// The host merges the input's dims into runs of kept dims and runs of reduced dims (at most
// 4 of each), so an output index and a reduction index each decompose over a short vec4 of
// sizes and strides. Two strategies, same uniform:
//   reduce_loop: one invocation per output, looping over its reduced elements. No barriers,
//                and coalesced when the reduced axes are not innermost (column sums).
//   reduce_wg:   one workgroup per output, each invocation striding over the reduced elements,
//                then a tree reduction in workgroup memory. For long contiguous rows.
// Max and argmax keep (value, index) pairs and prefer the lower index on ties, so argmax
// returns the first maximum, as numpy does. The override OP selects (REDUCE_OP): sum (times
// `scale`), max, argmax (writes the i32 index within the reduced elements).
// Not here: the choice between the strategies and the backward rules (src/ops/reduce.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatGroupWgsl, flatIndexWgsl } from '../src/ops/grid.js';

/** The reduce shader's OP codes (src/ops/reduce.ts dispatches by them). */
export const REDUCE_OP = { sum: 0, max: 1, argmax: 2 } as const;

export const reduceShader: ShaderModuleDef = {
  label: 'reduce',
  code: () => wgsl`
override OP: u32 = 0u;
override WG: u32 = 64u;
struct P {
  nout: u32, nred: u32, scale: f32, krank: u32,
  rrank: u32, pad0: u32, pad1: u32, pad2: u32,
  kshape: vec4<u32>, kstride: vec4<u32>,
  rshape: vec4<u32>, rstride: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
${flatIndexWgsl}
${flatGroupWgsl}

// Offset of row-major index i over rank dims of shape, walked with stride.
fn strided(i: u32, rank: u32, shape: vec4<u32>, stride: vec4<u32>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = rank; d > 0u; d--) {
    let k = d - 1u;
    off += (rem % shape[k]) * stride[k];
    rem = rem / shape[k];
  }
  return off;
}

// Offset in x of output element o (its kept coordinates).
fn base_offset(o: u32) -> u32 {
  return strided(o, p.krank, p.kshape, p.kstride);
}

// Offset in x of reduced element r relative to its output's base.
fn red_offset(r: u32) -> u32 {
  if (p.rrank == 1u) { return r * p.rstride[0]; }
  return strided(r, p.rrank, p.rshape, p.rstride);
}

// Folding for max/argmax: (value, index), index == nred meaning "nothing seen yet".
// A later candidate wins only if strictly greater or equal with a lower index.
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  if (i >= p.nred) { return false; }
  if (bi >= p.nred) { return true; }
  return v > bv || (v == bv && i < bi);
}

fn result(acc: f32, best: f32, bi: u32) -> u32 {
  switch OP {
    case ${REDUCE_OP.sum}u: { return bitcast<u32>(acc * p.scale); }
    case ${REDUCE_OP.max}u: { return bitcast<u32>(best); }
    default: { return bi; }
  }
}

@compute @workgroup_size(WG)
fn reduce_loop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_index(gid, nwg, WG);
  if (o >= p.nout) { return; }
  let base = base_offset(o);
  var acc = 0.0;
  var best = x[base];
  var bi = 0u;
  if (OP == ${REDUCE_OP.sum}u && p.rrank == 1u) {
    // Sums along one run (column sums of a bias gradient): no index decomposition, and four
    // independent partial sums so consecutive loads do not wait on each other.
    let st = p.rstride[0];
    var a = vec4<f32>(0.0);
    var r = 0u;
    for (; r + 4u <= p.nred; r += 4u) {
      let at = base + r * st;
      a += vec4<f32>(x[at], x[at + st], x[at + 2u * st], x[at + 3u * st]);
    }
    for (; r < p.nred; r++) { a.x += x[base + r * st]; }
    acc = (a.x + a.y) + (a.z + a.w);
  } else {
    for (var r = 0u; r < p.nred; r++) {
      let v = x[base + red_offset(r)];
      acc += v;
      if (v > best) { best = v; bi = r; }
    }
  }
  y[o] = result(acc, best, bi);
}

var<workgroup> sh_v: array<f32, WG>;
var<workgroup> sh_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn reduce_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) t: u32) {
  // Every invocation of a workgroup takes the same branch here, so the barriers are uniform.
  let o = flat_group(wid, nwg);
  let base = base_offset(min(o, p.nout - 1u));
  var acc = 0.0;
  var best = 0.0;
  var bi = p.nred;
  for (var r = t; r < p.nred; r += WG) {
    let v = x[base + red_offset(r)];
    acc += v;
    if (better(v, r, best, bi)) { best = v; bi = r; }
  }
  if (OP == ${REDUCE_OP.sum}u) { sh_v[t] = acc; } else { sh_v[t] = best; sh_i[t] = bi; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      if (OP == ${REDUCE_OP.sum}u) {
        sh_v[t] += sh_v[t + s];
      } else if (better(sh_v[t + s], sh_i[t + s], sh_v[t], sh_i[t])) {
        sh_v[t] = sh_v[t + s];
        sh_i[t] = sh_i[t + s];
      }
    }
    workgroupBarrier();
  }
  if (t == 0u && o < p.nout) { y[o] = result(sh_v[0], sh_v[0], sh_i[0]); }
}
`,
};
