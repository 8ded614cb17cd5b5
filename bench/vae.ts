// The VAE training benchmark suite, shared by the Node runner (bench/node.ts) and the browser
// page (bench/page.ts), chosen with --suite=vae: the VAE of src/models/vae.ts at the VAE task's
// defaults (16x16 digits of src/data/glyphs.ts in [0, 1], latent 2, Bernoulli decoder, batch 64,
// AdamW lr 1e-3 without decay or clipping), one row per network variant:
//   mlp:  256 -> 256 ReLU -> mu, logvar (2 each); 2 -> 256 ReLU -> 256 logits;
//   conv: two stride-2 convolutions (16, 32 channels) -> mu, logvar; a linear layer and two
//         stride-2 transposed convolutions back up.
// One step is Vae.step: the batch uploaded, the encoder, z = mu + exp(logvar / 2) eps with eps
// drawn on the GPU, the decoder, BCE-with-logits summed per image plus the closed-form KL (beta
// 1), the mean over the batch, backward and AdamW, one compiled plan.
// Timing runs the way a trainer does: after a warm-up, N - 1 steps queued back to back with no
// read-back, then one that reads the loss terms; the wall clock around the N steps is divided by
// N. Of three such windows the median is reported.
// Quick mode (--quick): one warm-up step and one window of two timed ones per row: every figure
// of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-vae.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import { glyphs } from '../src/data/glyphs.js';
import { Vae, vaeDefaults, type VaeArch, type VaeConfig } from '../src/models/vae.js';
import type { VaePeerMeasurement } from './peer-tfjs-vae.js';
import { measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** The problem: the task's model defaults, spelled out so that the peer builds the same MLP. */
export const VAE_BENCH_SHAPE = {
  batch: vaeDefaults.batch,
  size: 16,
  channels: 1,
  latent: vaeDefaults.latent,
  hidden: vaeDefaults.hidden,
  layers: vaeDefaults.layers,
  width: vaeDefaults.width,
  likelihood: vaeDefaults.likelihood,
  beta: 1,
  lr: vaeDefaults.lr,
  data: 'glyphs16',
} as const;

/** The rows, one per network variant. */
export const VAE_BENCH_ARCHS: readonly VaeArch[] = ['mlp', 'conv'];

/** The model's config of a row. */
export function vaeBenchConfig(arch: VaeArch): Partial<VaeConfig> {
  const { batch, size, channels, latent, hidden, layers, width, likelihood, beta, lr } = VAE_BENCH_SHAPE;
  return { arch, batch, size, channels, latent, hidden, layers, width, likelihood, beta, warmupSteps: 0, lr, maxGradNorm: 0 };
}

/** A fixed batch of digits in [0, 1] (the data sets' [-1, 1] mapped): timing does not depend on the data. */
export function vaeBatch(seed = 1): Float32Array {
  const { images } = glyphs(VAE_BENCH_SHAPE.batch, { size: VAE_BENCH_SHAPE.size, seed });
  return images.map((v) => (v + 1) / 2);
}

export interface VaeMeasurement {
  /** The network variant (also the row's key in bench:compare). */
  model: VaeArch;
  parameters: number;
  msPerStep: number;
  imagesPerSecond: number;
  /** Steps timed after the warm-up, in WINDOWS windows (one in quick mode). */
  steps: number;
  /** Per-image reconstruction and KL terms (nats) read back at the end of the median window. */
  recon: number;
  kl: number;
}

export interface VaeSuiteResult extends ResultHeader<'vae'> {
  timing: 'wall clock';
  shape: typeof VAE_BENCH_SHAPE;
  results: VaeMeasurement[];
  /** TensorFlow.js on the MLP variant's step, when the runner measured it (browser only). */
  peer?: VaePeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one variant. */
export interface VaeSuiteOptions extends SuiteOptionsBase {
  /** Variants to time (default VAE_BENCH_ARCHS). */
  archs?: readonly VaeArch[];
  /** Wall-clock time all timed steps of one variant should take, roughly (default 6000 ms). */
  targetMs?: number;
}

/** Runs `n` steps with no read-back, then one that reads; returns ms per step and the terms. */
async function timeSteps(vae: Vae, x: Float32Array, n: number): Promise<{ ms: number; recon: number; kl: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(vae.step(x, false));
  const last = await vae.step(x, true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1), recon: last!.recon, kl: last!.kl };
}

async function measure(engine: Engine, model: VaeArch, opts: VaeSuiteOptions): Promise<VaeMeasurement> {
  const vae = await Vae.create(engine, vaeBenchConfig(model));
  const x = vaeBatch();
  try {
    // Warm-up: pipelines, first-use uploads and the pool's buffers.
    const quick = opts.quick ?? false;
    const first = await timeSteps(vae, x, 0);
    if (!quick) await timeSteps(vae, x, 1);
    const timed = await medianWindow((n) => timeSteps(vae, x, n - 1), first.ms, { targetMs: opts.targetMs ?? 6000, quick });
    return {
      model,
      parameters: vae.params.reduce((s, p) => s + p.size, 0),
      msPerStep: timed.ms,
      imagesPerSecond: (VAE_BENCH_SHAPE.batch * 1000) / timed.ms,
      steps: timed.steps,
      recon: timed.recon,
      kl: timed.kl,
    };
  } finally {
    vae.dispose();
    for (const p of vae.params) engine.freeParameter(p);
  }
}

export async function runVaeSuite(engine: Engine, opts: VaeSuiteOptions): Promise<VaeSuiteResult> {
  const { log, progress } = reporters(opts);
  const models = opts.archs ?? VAE_BENCH_ARCHS;
  const results: VaeMeasurement[] = [];
  for (const model of models) {
    progress(results.length + 1, models.length, `model ${model}`);
    const r = await measure(engine, model, opts);
    results.push(r);
    log(
      `${model.padEnd(5)} batch ${VAE_BENCH_SHAPE.batch}  ${r.msPerStep.toFixed(2).padStart(8)} ms/step  ${Math.round(r.imagesPerSecond).toString().padStart(7)} images/s  ` +
        `(${r.steps} steps, ${r.parameters} parameters, recon ${r.recon.toFixed(1)}, KL ${r.kl.toFixed(2)} nats)`,
    );
  }
  return { ...resultHeader('vae', engine, opts), timing: 'wall clock', shape: VAE_BENCH_SHAPE, results };
}

/** TF.js's fastest backend against ours for the MLP step: its backend, ms/step and ms / ours, or null without a peer. */
export function vaeSpeedup(r: VaeSuiteResult, model: VaeArch = 'mlp'): { backend: string; msPerStep: number; ratio: number } | null {
  const ours = r.results.find((m) => m.model === model);
  const best = [...(r.peer ?? [])].filter((p) => p.model === model).sort((a, b) => a.msPerStep - b.msPerStep)[0];
  return ours && best ? { backend: best.backend, msPerStep: best.msPerStep, ratio: best.msPerStep / ours.msPerStep } : null;
}

/**
 * A plain-text table: one row per variant with ms/step and images/s, TensorFlow.js's ms/step per
 * backend and our speed-up over each where the peer ran (the MLP only), then a summary line
 * against the fastest backend.
 */
export function formatVaeSuite(r: VaeSuiteResult): string {
  const s = r.shape;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `VAE training step (${s.data}, ${s.size}x${s.size}, latent ${s.latent}, ${s.likelihood}, batch ${s.batch}, MLP hidden ${s.hidden}x${s.layers}, ` +
      `conv width ${s.width}, AdamW lr ${s.lr}), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    ['model', 'params', 'ms/step', 'images/s', ...backends.flatMap((b) => [`tfjs-${b} ms/step`, 'speed-up'])].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = r.peer?.find((x) => x.backend === b && x.model === m.model);
      return p ? [p.msPerStep.toFixed(2), `${(p.msPerStep / m.msPerStep).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push([m.model, m.parameters, m.msPerStep.toFixed(2), Math.round(m.imagesPerSecond), ...peers].join('\t'));
  }
  for (const m of r.results) {
    const best = vaeSpeedup(r, m.model);
    if (!best) continue;
    lines.push(
      `summary (${m.model}): TF.js fastest backend (${best.backend}) ${best.msPerStep.toFixed(2)} ms/step / ours ` +
        `${m.msPerStep.toFixed(2)} ms/step = ${best.ratio.toFixed(2)}x`,
    );
  }
  return lines.join('\n');
}
