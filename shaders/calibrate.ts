// WGSL for calibrating what the adapter can do at best, so that benchmarks can say what share
// of it a kernel reaches: an arithmetic-bound kernel (independent chains of vec4<f32> FMAs held
// in registers, touching memory once per invocation) and a bandwidth-bound one (a vec4<f32>
// copy, a few vec4s per invocation, every byte read once and written once).
// Both are launched with grid1d (src/ops/grid.ts) and guard their index with the output's
// arrayLength, so neither needs a uniform. bench/peak.ts times them and holds the CPU
// recomputation of fma_peak that its test checks against.
// Not here: timing, sizes or the figures (bench/peak.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/** Independent vec4 accumulators per invocation in fma_peak: enough to hide FMA latency. */
export const FMA_CHAINS = 8;
/** fma_peak's per-lane multiplier and addend: each lane converges slowly to C / (1 - M). */
export const FMA_M = [0.999, 0.9991, 0.9992, 0.9993] as const;
export const FMA_C = [0.001, 0.0011, 0.0012, 0.0013] as const;
/** Invocation i starts from (i mod SEED_PERIOD) / SEED_PERIOD, exact in f32. */
export const FMA_SEED_PERIOD = 4096;

export const calibrateShader: ShaderModuleDef = {
  label: 'calibrate',
  code: () => wgsl`
override WG: u32 = 256u;
// Loop trips of fma_peak; an override so that the compiler sees a constant trip count.
override ITERS: u32 = 64u;
${flatIndexWgsl}

@group(0) @binding(0) var<storage, read_write> peak_out: array<f32>;

// Every accumulator starts from a different exact value (dyadic, 12 fraction bits at most), so
// nothing folds, and each FMA depends only on its own chain: the loop is throughput-bound.
@compute @workgroup_size(WG)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= arrayLength(&peak_out)) { return; }
  let m = vec4<f32>(${FMA_M.join(', ')});
  let c = vec4<f32>(${FMA_C.join(', ')});
  let s = vec4<f32>(f32(i % ${FMA_SEED_PERIOD}u) / ${FMA_SEED_PERIOD}.0) + vec4<f32>(0.0, 1.0, 2.0, 3.0) / 32.0;
  var a0 = s;
  var a1 = s + 0.125;
  var a2 = s + 0.25;
  var a3 = s + 0.375;
  var a4 = s + 0.5;
  var a5 = s + 0.625;
  var a6 = s + 0.75;
  var a7 = s + 0.875;
  for (var k = 0u; k < ITERS; k++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  // One word per invocation keeps every chain live.
  let t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  peak_out[i] = (t.x + t.y) + (t.z + t.w);
}

@group(0) @binding(0) var<storage, read> copy_src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> copy_dst: array<vec4<f32>>;

// Each invocation copies PER vec4s, one per grid-sized stride, so neighbouring invocations touch
// neighbouring words on every trip; several per invocation amortise an invocation's start-up
// (large on CPU-emulated adapters) and keep several loads in flight. The host makes the length
// a multiple of PER.
override PER: u32 = 4u;

@compute @workgroup_size(WG)
fn copy_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let stride = arrayLength(&copy_dst) / PER;
  if (i >= stride) { return; }
  for (var k = 0u; k < PER; k++) {
    copy_dst[i + k * stride] = copy_src[i + k * stride];
  }
}
`,
};
