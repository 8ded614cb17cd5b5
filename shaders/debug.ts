// WGSL for debug checks. NaN and infinity are recognised from the exponent bits, because
// comparisons such as x != x may be folded away by shader compilers that assume finite math.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

export const debugShader: ShaderModuleDef = {
  label: 'debug',
  code: () => wgsl`
override WG: u32 = 64;
struct Params { n: u32, flag: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flags: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
${flatIndexWgsl}
@compute @workgroup_size(WG)
fn check_finite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.n) { return; }
  if ((bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u) { flags[p.flag] = 1u; }
}`,
};
