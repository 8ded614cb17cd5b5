// WGSL for calibrating what the adapter can do at best, so that benchmarks can say what share
// of it a kernel reaches: an arithmetic-bound kernel (fma_chains: up to 16 independent chains of
// vec4<f32> FMAs held in registers, the live count an override constant, touching memory once
// per invocation) and a bandwidth-bound one (copy_peak: a vec4<f32> copy, a few vec4s per
// invocation, every byte read once and written once).
// Both are launched with grid1d (src/ops/grid.ts) and guard their index with the output's
// arrayLength, so neither needs a uniform. bench/peak.ts sweeps and times them and holds the CPU
// recomputation of fma_chains that its test checks against.
// Not here: timing, sizes or the figures (bench/peak.ts).

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

/** The per-lane multiplier and addend of every chain: each lane converges slowly to C / (1 - M). */
export const FMA_M = [0.999, 0.9991, 0.9992, 0.9993] as const;
export const FMA_C = [0.001, 0.0011, 0.0012, 0.0013] as const;
/** The accumulators fma_chains holds; CHAINS of them are live. */
export const FMA_MAX_CHAINS = 16;
/** Invocation i's seeds step by 1 / SEED_PERIOD with i mod SEED_PERIOD (exact in f32). */
export const FMA_SEED_PERIOD = 4096;
/**
 * Steps of every live chain in one loop trip of fma_chains, written out: a loop trip costs an
 * emulated adapter a dozen instructions or more (SwiftShader reached 8 GFLOP/s with one step a
 * trip, 20 with 16 steps), which a GPU's compiler would unroll away by itself.
 */
export const FMA_UNROLL = 16;

// Chain k, lane j of invocation i starts at -0.5 - (i mod P) / P - (4k + j) / 64: exact in f32,
// distinct in every lane, and at least 1.5 below each lane's fixed point C / (1 - M) (1 to 1.9),
// so every step moves every lane by a part in a thousand or more and a check can tell one step
// count from another. The steps of chains past CHAINS, and their terms of the sum, sit under
// conditions on an override constant, which the pipeline's compiler folds: a configuration runs
// its own chains only (on SwiftShader one chain runs 4x the flop rate of sixteen at the same
// counted work, which could not be if the sixteen ran every time).
const accumulators = Array.from({ length: FMA_MAX_CHAINS }, (_, k) => k);
const step = ['    a0 = fma(a0, m, c);', ...accumulators.slice(1).map((k) => `    if (CHAINS > ${k}u) { a${k} = fma(a${k}, m, c); }`)].join('\n');
export const fmaShader: ShaderModuleDef = {
  label: 'peak fma chains',
  code: () => wgsl`
override WG: u32 = 64u;
// Live accumulators, 1 to ${FMA_MAX_CHAINS}.
override CHAINS: u32 = 4u;
// Loop trips of ${FMA_UNROLL} steps each: a constant trip count the compiler sees.
override ITERS: u32 = 4u;
${flatIndexWgsl}

@group(0) @binding(0) var<storage, read_write> fma_out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn fma_chains(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= arrayLength(&fma_out)) { return; }
  let m = vec4<f32>(${FMA_M.join(', ')});
  let c = vec4<f32>(${FMA_C.join(', ')});
  let s = vec4<f32>(-0.5 - f32(i % ${FMA_SEED_PERIOD}u) / ${FMA_SEED_PERIOD}.0) - vec4<f32>(0.0, 1.0, 2.0, 3.0) / 64.0;
${accumulators.map((k) => `  var a${k} = s - ${k / 16};`).join('\n')}
  for (var t = 0u; t < ITERS; t++) {
${Array.from({ length: FMA_UNROLL }, () => step).join('\n')}
  }
  // One vec4 per invocation, the sum of the live chains: each one stays live to the end.
  var sum = a0;
${accumulators.slice(1).map((k) => `  if (CHAINS > ${k}u) { sum += a${k}; }`).join('\n')}
  fma_out[i] = sum;
}
`,
};

export const calibrateShader: ShaderModuleDef = {
  label: 'calibrate',
  code: () => wgsl`
override WG: u32 = 256u;
${flatIndexWgsl}

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
