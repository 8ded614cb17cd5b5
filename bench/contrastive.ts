// The contrastive-learning benchmark suite, shared by the Node runner (bench/node.ts) and the
// browser page (bench/page.ts), chosen with --suite=contrastive: the model of
// src/models/contrastive.ts at the contrastive task's defaults (16x16 digits of
// src/data/glyphs.ts in [0, 1], batch 64 so 128 views, an MLP encoder 256 -> 128 -> 64 features
// and a head 64 -> 64 -> 32, both ReLU but the last layer; AdamW lr 1e-3, weight decay 1e-4 of
// the matrices, no clipping), one row per loss (NT-Xent at temperature 0.5, triplet at margin 0.5).
// One step is Contrastive.step: the batch uploaded, a fresh augmentation seed, two views of
// every image drawn on the GPU (shift by up to 1 pixel, rotation by up to 15 degrees, a 4-pixel
// cut-out, Gaussian noise of std 0.1), encoder and head over the 2N views, the cosine
// similarities, the loss with its figures (the similarities with the positive and the
// negatives, the share of positives found), backward and AdamW, one compiled plan.
// Timing runs the way a trainer does: after a warm-up, N - 1 steps queued back to back with no
// read-back, then one that reads the figures; the wall clock around the N steps is divided by
// N. Of three such windows the median is reported (bench/vae.ts does the same).
// Quick mode (--quick): one warm-up step and one window of two timed ones per row: every figure
// of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-contrastive.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import { glyphs } from '../src/data/glyphs.js';
import { Contrastive, type ContrastiveConfig, type ContrastiveLoss } from '../src/models/contrastive.js';
import { contrastiveSessionDefaults as task } from '../src/tasks/contrastive/protocol.js';
import type { ContrastivePeerMeasurement } from './peer-tfjs-contrastive.js';
import { measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** The problem: the task's defaults, spelled out so that the peer builds the same model and views. */
export const CONTRASTIVE_BENCH_SHAPE = {
  batch: task.batch,
  size: 16,
  channels: 1,
  hidden: task.hidden,
  features: task.features,
  projHidden: task.projHidden,
  projection: task.projection,
  temperature: task.temperature,
  margin: task.margin,
  shift: task.shift,
  rotate: task.rotate,
  cutout: task.cutout,
  noise: task.noise,
  lr: task.lr,
  weightDecay: task.weightDecay,
  data: 'glyphs16',
} as const;

/** The rows, one per loss. */
export const CONTRASTIVE_BENCH_LOSSES: readonly ContrastiveLoss[] = ['ntxent', 'triplet'];

/** The model's config of a row. */
export function contrastiveBenchConfig(loss: ContrastiveLoss): Partial<ContrastiveConfig> {
  const { data: _data, ...shape } = CONTRASTIVE_BENCH_SHAPE;
  return { ...shape, loss, seed: 1 };
}

/** A fixed batch of digits in [0, 1] (the data sets' [-1, 1] mapped): timing does not depend on the data. */
export function contrastiveBatch(seed = 1): Float32Array {
  const { images } = glyphs(CONTRASTIVE_BENCH_SHAPE.batch, { size: CONTRASTIVE_BENCH_SHAPE.size, seed });
  return images.map((v) => (v + 1) / 2);
}

export interface ContrastiveMeasurement {
  /** The loss (also the row's key in bench:compare). */
  loss: ContrastiveLoss;
  parameters: number;
  msPerStep: number;
  /** Images per second (each gives two views). */
  imagesPerSecond: number;
  /** Steps timed after the warm-up, in WINDOWS windows (one in quick mode). */
  steps: number;
  /** The loss's value and the share of positives found, read back at the end of the median window. */
  value: number;
  accuracy: number;
}

export interface ContrastiveSuiteResult extends ResultHeader<'contrastive'> {
  timing: 'wall clock';
  shape: typeof CONTRASTIVE_BENCH_SHAPE;
  results: ContrastiveMeasurement[];
  /** TensorFlow.js on the NT-Xent step, when the runner measured it (browser only). */
  peer?: ContrastivePeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one loss. */
export interface ContrastiveSuiteOptions extends SuiteOptionsBase {
  /** Losses to time (default CONTRASTIVE_BENCH_LOSSES). */
  losses?: readonly ContrastiveLoss[];
  /** Wall-clock time all timed steps of one row should take, roughly (default 6000 ms). */
  targetMs?: number;
}

/** Runs `n` steps with no read-back, then one that reads; returns ms per step and the figures. */
async function timeSteps(model: Contrastive, x: Float32Array, n: number): Promise<{ ms: number; value: number; accuracy: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(model.step(x, false));
  const last = await model.step(x, true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1), value: last!.loss, accuracy: last!.accuracy };
}

async function measure(engine: Engine, loss: ContrastiveLoss, opts: ContrastiveSuiteOptions): Promise<ContrastiveMeasurement> {
  const model = await Contrastive.create(engine, contrastiveBenchConfig(loss));
  const x = contrastiveBatch();
  try {
    // Warm-up: pipelines, first-use uploads and the pool's buffers.
    const quick = opts.quick ?? false;
    const first = await timeSteps(model, x, 0);
    if (!quick) await timeSteps(model, x, 1);
    const timed = await medianWindow((n) => timeSteps(model, x, n - 1), first.ms, { targetMs: opts.targetMs ?? 6000, quick });
    return {
      loss,
      parameters: model.params.reduce((s, p) => s + p.size, 0),
      msPerStep: timed.ms,
      imagesPerSecond: (CONTRASTIVE_BENCH_SHAPE.batch * 1000) / timed.ms,
      steps: timed.steps,
      value: timed.value,
      accuracy: timed.accuracy,
    };
  } finally {
    model.dispose();
    for (const p of model.params) engine.freeParameter(p);
  }
}

export async function runContrastiveSuite(engine: Engine, opts: ContrastiveSuiteOptions): Promise<ContrastiveSuiteResult> {
  const { log, progress } = reporters(opts);
  const losses = opts.losses ?? CONTRASTIVE_BENCH_LOSSES;
  const results: ContrastiveMeasurement[] = [];
  for (const loss of losses) {
    progress(results.length + 1, losses.length, `loss ${loss}`);
    const r = await measure(engine, loss, opts);
    results.push(r);
    log(
      `${loss.padEnd(7)} batch ${CONTRASTIVE_BENCH_SHAPE.batch}  ${r.msPerStep.toFixed(2).padStart(8)} ms/step  ${Math.round(r.imagesPerSecond).toString().padStart(7)} images/s  ` +
        `(${r.steps} steps, ${r.parameters} parameters, loss ${r.value.toFixed(3)}, positives found ${(100 * r.accuracy).toFixed(0)}%)`,
    );
  }
  return { ...resultHeader('contrastive', engine, opts), timing: 'wall clock', shape: CONTRASTIVE_BENCH_SHAPE, results };
}

/** TF.js's fastest backend against ours for a loss's step: its backend, ms/step and ms / ours, or null without a peer. */
export function contrastiveSpeedup(r: ContrastiveSuiteResult, loss: ContrastiveLoss = 'ntxent'): { backend: string; msPerStep: number; ratio: number } | null {
  const ours = r.results.find((m) => m.loss === loss);
  const best = [...(r.peer ?? [])].filter((p) => p.loss === loss).sort((a, b) => a.msPerStep - b.msPerStep)[0];
  return ours && best ? { backend: best.backend, msPerStep: best.msPerStep, ratio: best.msPerStep / ours.msPerStep } : null;
}

/**
 * A plain-text table: one row per loss with ms/step and images/s, TensorFlow.js's ms/step per
 * backend and our speed-up over each where the peer ran (NT-Xent only), then a summary line
 * against the fastest backend.
 */
export function formatContrastiveSuite(r: ContrastiveSuiteResult): string {
  const s = r.shape;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `Contrastive training step (${s.data}, ${s.size}x${s.size}, batch ${s.batch} = ${2 * s.batch} views, MLP ${s.size * s.size}-${s.hidden}-${s.features}, ` +
      `head ${s.projHidden}-${s.projection}, tau ${s.temperature}, views: shift ${s.shift}, rotate ${s.rotate}deg, cutout ${s.cutout}, noise ${s.noise}, ` +
      `AdamW lr ${s.lr}), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    ['loss', 'params', 'ms/step', 'images/s', ...backends.flatMap((b) => [`tfjs-${b} ms/step`, 'speed-up'])].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = r.peer?.find((x) => x.backend === b && x.loss === m.loss);
      return p ? [p.msPerStep.toFixed(2), `${(p.msPerStep / m.msPerStep).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push([m.loss, m.parameters, m.msPerStep.toFixed(2), Math.round(m.imagesPerSecond), ...peers].join('\t'));
  }
  for (const m of r.results) {
    const best = contrastiveSpeedup(r, m.loss);
    if (!best) continue;
    lines.push(
      `summary (${m.loss}): TF.js fastest backend (${best.backend}) ${best.msPerStep.toFixed(2)} ms/step / ours ` +
        `${m.msPerStep.toFixed(2)} ms/step = ${best.ratio.toFixed(2)}x`,
    );
  }
  return lines.join('\n');
}
