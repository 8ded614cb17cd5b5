// The diffusion training benchmark suite, shared by the Node runner (bench/node.ts) and the
// browser page (bench/page.ts), chosen with --suite=diffusion: the 2D MLP denoiser of
// src/models/denoiser-mlp.ts (x_t next to a 32-wide sinusoidal timestep embedding, three hidden
// layers of 128 with SiLU, a linear head) trained by Diffusion's compiled step at batch 256 on
// the ring of Gaussians: t drawn uniformly, the schedule gathered by t, the noise drawn on the
// GPU, x_t formed, eps predicted, MSE, global-norm clipping and AdamW, in one plan.
// Reports ms per step and samples per second, the GPU bytes the step holds, and, second, the
// time to draw 1000 points with 50 DDIM steps (one plan run and read-back per step).
// A second model row: the image U-Net of src/models/unet.ts (16x16 glyphs, 10 classes, its
// default widths) trained by the same Diffusion step at batch 32 on images from
// src/data/glyphs.ts, labels dropped at the default rate: ms per step and samples per second
// (engine only: no peer, no sampling figure).
// Timing runs the way a trainer does: after a warm-up, N - 1 steps queued back to back with
// no read-back, then one that reads the loss; the wall clock around the N steps is divided by N.
// Of three such windows the median is reported. On request, a per-kernel profile of the step
// from GPU timestamps (where the adapter has them).
// Quick mode (--quick): one warm-up step and one window of two timed steps per row, sampling
// 256 points in 5 DDIM steps (one warm-up draw, one timed), and the U-Net row at a tiny config
// (8x8 glyphs, base 8, embedding 16, batch 4): every figure of the suite in seconds on
// SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-diffusion.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import { Diffusion } from '../src/models/diffusion.js';
import { DiffusionSampler } from '../src/models/diffusion-sampler.js';
import { createMlpDenoiser } from '../src/models/denoiser-mlp.js';
import { createUnet, type UnetConfig } from '../src/models/unet.js';
import { glyphs } from '../src/data/glyphs.js';
import { mulberry32 } from '../src/data/random.js';
import { sample2D } from '../src/data/toy2d.js';
import type { DiffusionPeerMeasurement } from './peer-tfjs-diffusion.js';
import { WINDOWS, measuredOn, median, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** The problem: the target model and batch, and the sampling figure's size. */
export const DIFFUSION_BENCH_SHAPE = {
  batch: 256,
  dims: 2,
  hidden: 128,
  layers: 3,
  embDim: 32,
  timesteps: 100,
  data: 'ring',
  samplePoints: 1000,
  sampleSteps: 50,
} as const;

/** The problem as a result records it: quick mode draws fewer points in fewer steps. */
export type DiffusionBenchShape = Omit<typeof DIFFUSION_BENCH_SHAPE, 'samplePoints' | 'sampleSteps'> & {
  samplePoints: number;
  sampleSteps: number;
};
export const DIFFUSION_QUICK_SHAPE: DiffusionBenchShape = { ...DIFFUSION_BENCH_SHAPE, samplePoints: 256, sampleSteps: 5 };

/** The U-Net row's problem: batch, glyph size, classes, and config fields other than unetDefaults'. */
export interface UnetBenchShape {
  batch: number;
  size: number;
  classes: number;
  data: 'glyphs';
  /** Config fields besides size and classes that differ from unetDefaults (none in the full suite). */
  overrides?: Partial<UnetConfig>;
}

/** The second row: the U-Net denoiser on 16x16 glyph images, conditional on the digit (the rest at unetDefaults). */
export const UNET_BENCH_SHAPE: UnetBenchShape = { batch: 32, size: 16, classes: 10, data: 'glyphs' };
/** Quick mode's U-Net: every layer kind of the full one (two levels, GroupNorm, skips, labels), tiny. */
export const UNET_QUICK_SHAPE: UnetBenchShape = {
  batch: 4, size: 8, classes: 10, data: 'glyphs', overrides: { base: 8, groups: 4, embDim: 16, timesteps: 100 },
};

export type DiffusionBenchModel = 'mlp' | 'unet';
export const DIFFUSION_BENCH_MODELS: readonly DiffusionBenchModel[] = ['mlp', 'unet'];

/** Model rows from a comma-separated list ('mlp,unet'); undefined for none given. */
export function parseDiffusionModels(list: string | null | undefined): DiffusionBenchModel[] | undefined {
  if (!list) return undefined;
  const names = list.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !DIFFUSION_BENCH_MODELS.includes(n as DiffusionBenchModel));
  if (bad.length) throw new Error(`Unknown diffusion model row(s) ${bad.join(', ')}; choose from ${DIFFUSION_BENCH_MODELS.join(', ')}.`);
  return names as DiffusionBenchModel[];
}

export interface DiffusionKernelTime {
  /** The dispatch label's first word: the op (or kernel) name. */
  kernel: string;
  /** Dispatches with that name in one step. */
  count: number;
  /** Their summed GPU time in one step. */
  ms: number;
}

export interface DiffusionMeasurement {
  /** Which denoiser (results saved before the U-Net row have none: the MLP). */
  model?: DiffusionBenchModel;
  /** Samples per step. */
  batch?: number;
  parameters: number;
  /** Milliseconds per training step. */
  msPerStep: number;
  samplesPerSecond: number;
  /** Steps timed after the warm-up, in WINDOWS windows (the median window's ms/step is reported). */
  steps: number;
  /** Intermediates of the compiled step after liveness reuse (Plan.stats.peakBytes). */
  planBytes: number;
  /** Dispatches per step (forward and backward; the optimizer's few come on top). */
  dispatches: number;
  /** Loss read back at the end of the median window (eps-MSE: 1 at initialisation, falls as it trains). */
  loss: number;
  /** Milliseconds to draw samplePoints points with sampleSteps DDIM steps (median of WINDOWS draws); NaN when not measured. */
  msPerSample: number;
  /** The same per DDIM step. */
  msPerSampleStep: number;
  /** GPU time per kernel of one step, largest first, when profiled on an adapter with timestamps. */
  profile?: DiffusionKernelTime[];
}

export interface DiffusionSuiteResult extends ResultHeader<'diffusion'> {
  timing: 'wall clock';
  shape: DiffusionBenchShape;
  /** The U-Net row's problem and its full config, when that row ran. */
  unet?: UnetBenchShape & { config: Record<string, unknown> };
  results: DiffusionMeasurement[];
  /** TensorFlow.js on the same model, step and machine, when the runner measured it (browser only). */
  peer?: DiffusionPeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one model row. */
export interface DiffusionSuiteOptions extends SuiteOptionsBase {
  /** Wall-clock time all timed steps of one model should take, roughly (default 6000 ms). */
  targetMs?: number;
  /** The model rows to run (default DIFFUSION_BENCH_MODELS: the MLP, then the U-Net). */
  models?: readonly DiffusionBenchModel[];
  /** Also time DDIM sampling of the MLP (default true). */
  sampling?: boolean;
  /** Also profile one step per kernel with GPU timestamps, where the adapter has them (default false). */
  profile?: boolean;
  /** Two timed steps per row, a small sampling figure and a tiny U-Net (default false). */
  quick?: boolean;
}

/** Parameters of the MLP denoiser: (D + E) H + H, (layers - 1) (H H + H), H D + D. */
export function denoiserParameterCount(s: typeof DIFFUSION_BENCH_SHAPE = DIFFUSION_BENCH_SHAPE): number {
  const { dims: D, hidden: H, embDim: E, layers } = s;
  return (D + E) * H + H + (layers - 1) * (H * H + H) + H * D + D;
}

/** A fixed batch of ring points: timing does not depend on the data. */
export function diffusionBatch(seed = 1): Float32Array {
  return sample2D(DIFFUSION_BENCH_SHAPE.data, DIFFUSION_BENCH_SHAPE.batch, seed);
}

/** A fixed batch of glyphs and their labels for the U-Net row. */
export function unetBatch(seed = 1, u: UnetBenchShape = UNET_BENCH_SHAPE): { x0: Float32Array; labels: Int32Array } {
  const { images, labels } = glyphs(u.batch, { size: u.size, seed });
  return { x0: images, labels };
}

/** The U-Net of a row's problem. */
const unetOf = (u: UnetBenchShape) => createUnet({ ...u.overrides, size: u.size, classes: u.classes });

/** Runs `n` steps with no read-back, then one that reads; returns ms per step and the loss. */
async function timeSteps(diffusion: Diffusion, x0: Float32Array, labels: Int32Array | undefined, n: number): Promise<{ ms: number; loss: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(diffusion.step(x0, labels, false));
  const last = await diffusion.step(x0, labels, true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1), loss: last! };
}

/** Median of WINDOWS wall-clock timings of `draw`. */
async function medianMs(draw: () => Promise<unknown>, windows = WINDOWS): Promise<number> {
  const times: number[] = [];
  for (let w = 0; w < windows; w++) {
    const t0 = performance.now();
    await draw();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** One step's dispatches timed one by one, summed by kernel name (the optimizer's are not in the plan's list). */
async function profileStep(diffusion: Diffusion, x0: Float32Array, labels?: Int32Array): Promise<DiffusionKernelTime[]> {
  const { batch } = diffusion;
  const timesteps = diffusion.denoiser.timesteps;
  const rand = mulberry32(7);
  const t = Int32Array.from({ length: batch }, () => Math.floor(rand() * timesteps));
  const feeds = { x0, t, seed: 3, ...(labels ? { label: labels } : {}) };
  // The first profile compiles nothing new but warms the timestamp path; the second is kept.
  await diffusion.plan.profile(feeds);
  const times = await diffusion.plan.profile(feeds);
  const byKernel = new Map<string, DiffusionKernelTime>();
  for (const { label, ms } of times) {
    const kernel = label.split(' ')[0];
    const k = byKernel.get(kernel) ?? { kernel, count: 0, ms: 0 };
    k.count++;
    k.ms += ms;
    byKernel.set(kernel, k);
  }
  return [...byKernel.values()].sort((a, b) => b.ms - a.ms);
}

/** The denoiser, batch size, data and parameter count of one model row. */
function setup(model: DiffusionBenchModel, quick: boolean) {
  if (model === 'unet') {
    const u = quick ? UNET_QUICK_SHAPE : UNET_BENCH_SHAPE;
    const denoiser = unetOf(u);
    const parameters = Object.values(denoiser.weights).reduce((n, p) => n + p.size, 0);
    return { denoiser, batch: u.batch, ...unetBatch(1, u), parameters };
  }
  const { batch, dims, hidden, layers, embDim, timesteps } = DIFFUSION_BENCH_SHAPE;
  const denoiser = createMlpDenoiser({ dims, hidden, layers, embDim, timesteps });
  return { denoiser, batch, x0: diffusionBatch(), labels: undefined, parameters: denoiserParameterCount() };
}

async function measure(engine: Engine, model: DiffusionBenchModel, opts: DiffusionSuiteOptions): Promise<DiffusionMeasurement> {
  const quick = opts.quick ?? false;
  const { samplePoints, sampleSteps } = quick ? DIFFUSION_QUICK_SHAPE : DIFFUSION_BENCH_SHAPE;
  const { denoiser, batch, x0, labels, parameters } = setup(model, quick);
  const diffusion = await Diffusion.create(engine, denoiser, batch);
  let sampler: DiffusionSampler | null = null;
  try {
    // Warm-up: pipelines, first-use uploads and the pool's buffers.
    const first = await timeSteps(diffusion, x0, labels, 0);
    if (!quick) await timeSteps(diffusion, x0, labels, 1);
    const timed = await medianWindow((n) => timeSteps(diffusion, x0, labels, n - 1), first.ms, { targetMs: opts.targetMs ?? 6000, quick });

    let msPerSample = NaN;
    if (model === 'mlp' && (opts.sampling ?? true)) {
      sampler = await DiffusionSampler.create(engine, diffusion, samplePoints);
      const draw = (seed: number) => sampler!.sample({ sampler: 'ddim', steps: sampleSteps, seed });
      await draw(0); // warm-up: pipelines and staging buffers
      let seed = 1;
      msPerSample = await medianMs(() => draw(seed++), quick ? 1 : WINDOWS);
    }

    const profile = opts.profile && engine.gpu.features.has('timestamp-query') ? await profileStep(diffusion, x0, labels) : undefined;
    return {
      model,
      batch,
      parameters,
      msPerStep: timed.ms,
      samplesPerSecond: (batch * 1000) / timed.ms,
      steps: timed.steps,
      planBytes: diffusion.plan.stats.peakBytes,
      dispatches: diffusion.plan.stats.dispatches,
      loss: timed.loss,
      msPerSample,
      msPerSampleStep: msPerSample / sampleSteps,
      profile,
    };
  } finally {
    sampler?.dispose();
    diffusion.dispose();
    for (const p of [...Object.values(denoiser.weights), ...Object.values(diffusion.emaWeights)]) engine.freeParameter(p);
  }
}

/** The row's label: the model and its size (`u`: the U-Net row's problem). */
function modelLabel(m: DiffusionMeasurement, u: UnetBenchShape = UNET_BENCH_SHAPE): string {
  const s = DIFFUSION_BENCH_SHAPE;
  return m.model === 'unet' ? `unet ${u.size}x${u.size} c${u.classes} batch ${m.batch}` : `mlp ${s.layers}x${s.hidden} batch ${m.batch ?? s.batch}`;
}

export async function runDiffusionSuite(engine: Engine, opts: DiffusionSuiteOptions): Promise<DiffusionSuiteResult> {
  const { log, progress } = reporters(opts);
  const s = opts.quick ? DIFFUSION_QUICK_SHAPE : DIFFUSION_BENCH_SHAPE;
  const u = opts.quick ? UNET_QUICK_SHAPE : UNET_BENCH_SHAPE;
  const models = opts.models ?? DIFFUSION_BENCH_MODELS;
  const results: DiffusionMeasurement[] = [];
  for (const model of models) {
    progress(results.length + 1, models.length, model === 'mlp' ? 'mlp step and sampling' : 'unet step');
    const r = await measure(engine, model, opts);
    results.push(r);
    log(
      `${modelLabel(r, u).padEnd(24)} ${r.msPerStep.toFixed(2).padStart(8)} ms/step  ` +
        `${Math.round(r.samplesPerSecond).toString().padStart(8)} samples/s  (${r.steps} steps, ${r.dispatches} dispatches, loss ${r.loss.toFixed(3)})`,
    );
    if (Number.isFinite(r.msPerSample)) {
      log(`ddim ${s.sampleSteps} steps on ${s.samplePoints} points  ${r.msPerSample.toFixed(1)} ms  (${r.msPerSampleStep.toFixed(2)} ms per step)`);
    }
    if (r.profile) {
      const total = r.profile.reduce((a, k) => a + k.ms, 0);
      log(`profile of one ${model} step (GPU timestamps, one dispatch per pass, optimizer not included): ${total.toFixed(2)} ms in kernels`);
      for (const k of r.profile) log(`  ${k.kernel.padEnd(28)} x${String(k.count).padEnd(3)} ${k.ms.toFixed(3).padStart(9)} ms`);
    }
  }
  return {
    ...resultHeader('diffusion', engine, opts),
    timing: 'wall clock',
    shape: s,
    ...(models.includes('unet') ? { unet: { ...u, config: { ...unetOf(u).config } } } : {}),
    results,
  };
}

/** The MLP row (results saved before the U-Net row have no model field). */
const mlpRow = (r: DiffusionSuiteResult) => r.results.find((m) => (m.model ?? 'mlp') === 'mlp');

/** TF.js's fastest backend against our MLP row: [backend, its ms/step, its ms / ours], or null without a peer. */
export function diffusionSpeedup(r: DiffusionSuiteResult): { backend: string; msPerStep: number; ratio: number } | null {
  const ours = mlpRow(r);
  const best = [...(r.peer ?? [])].sort((a, b) => a.msPerStep - b.msPerStep)[0];
  return ours && best ? { backend: best.backend, msPerStep: best.msPerStep, ratio: best.msPerStep / ours.msPerStep } : null;
}

/**
 * A plain-text table: one row per model with ms/step, samples/s and (for the MLP) the sampling
 * time, TensorFlow.js's ms/step per backend and our speed-up over each when the peer ran (the
 * MLP only: the peer has no U-Net), then the summary line against the fastest backend (the
 * target: at least 2x).
 */
export function formatDiffusionSuite(r: DiffusionSuiteResult): string {
  const s = r.shape;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `Diffusion training step (MLP denoiser ${s.dims}D, ${s.layers}x${s.hidden} SiLU, t-embedding ${s.embDim}, T ${s.timesteps}, ` +
      `batch ${s.batch}, eps-MSE, clip 1 + AdamW), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
  ];
  if (r.unet) {
    const c = r.unet.config;
    lines.push(
      `U-Net row: ${r.unet.data} ${r.unet.size}x${r.unet.size}, ${r.unet.classes} classes, batch ${r.unet.batch}, base ${c['base']}, ` +
        `mults [${String(c['mults'])}], blocks ${c['blocks']}, groups ${c['groups']}, embedding ${c['embDim']}, T ${c['timesteps']}, same step (eps-MSE, clip 1 + AdamW)`,
    );
  }
  lines.push(
    [
      'model', 'params', 'ms/step', 'samples/s', 'plan KiB', 'dispatches', `ddim${s.sampleSteps}x${s.samplePoints} ms`,
      ...backends.flatMap((b) => [`tfjs-${b} ms/step`, 'speed-up']),
    ].join('\t'),
  );
  for (const m of r.results) {
    const isMlp = (m.model ?? 'mlp') === 'mlp';
    const peers = backends.flatMap((b) => {
      const p = isMlp ? r.peer?.find((x) => x.backend === b) : undefined;
      return p ? [p.msPerStep.toFixed(2), `${(p.msPerStep / m.msPerStep).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push(
      [
        modelLabel(m, r.unet), m.parameters, m.msPerStep.toFixed(2), Math.round(m.samplesPerSecond), (m.planBytes / 1024).toFixed(1), m.dispatches,
        Number.isFinite(m.msPerSample) ? m.msPerSample.toFixed(1) : '-', ...peers,
      ].join('\t'),
    );
  }
  const best = diffusionSpeedup(r);
  if (best) {
    lines.push(
      `summary (mlp): TF.js fastest backend (${best.backend}) ${best.msPerStep.toFixed(2)} ms/step / ours ${mlpRow(r)!.msPerStep.toFixed(2)} ms/step ` +
        `= ${best.ratio.toFixed(2)}x (target: at least 2x) ${best.ratio >= 2 ? 'MET' : 'NOT MET'}`,
    );
  }
  return lines.join('\n');
}
