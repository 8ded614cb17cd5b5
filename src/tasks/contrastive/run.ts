// What one contrastive session holds and everything done to it outside the training loop:
// building the data (generated 16x16 digits: unlabelled training images, a balanced labelled
// subset of them for the probe, held-out labelled digits from a seed of their own), the model
// and its optimizer from a checked config; filling batches from a resumable batch order; the
// linear probe with its two baselines (raw pixels, and the encoder as the seed initialises it:
// computed once per run), the 2D embedding of the held-out features and views of training
// images as the step augments them; and the checkpoint's
// contents, written and read back into a freshly built model (the caller swaps it in only once
// the load succeeded).
// Not here: the loop, events and API (session.ts), the model and the evaluations themselves
// (models/contrastive.ts, models/contrastive-eval.ts).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { glyphs } from '../../data/glyphs.js';
import { SeededRandom } from '../../data/random.js';
import type { Engine } from '../../engine.js';
import type { Plan } from '../../executor.js';
import { Contrastive, contrastiveNets, encodeWith, type ContrastiveConfig } from '../../models/contrastive.js';
import { linearProbe, pca2, type FeatureSet } from '../../models/contrastive-eval.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import {
  contrastiveSessionConfig, contrastiveSessionDefaults, SAVED_KEYS, type ContrastiveEmbeddingEvent, type ContrastiveProbeEvent, type ContrastiveViewsEvent, type ContrastiveSessionConfig, type ProbeScore,
} from './protocol.js';

/** The side of the generated digits. */
export const IMAGE_SIDE = 16;
const CLASSES = 10;

// Seeds derived from the config's, so weights, data and batch order draw separate streams. The
// held-out digits do not depend on the seed: every run is scored on the same images.
const trainSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x51ed) >>> 0;
const batchSeed = (seed: number) => (seed ^ 0x5bd1e995) >>> 0;
const viewSeed = (seed: number) => (seed ^ 0x7f4a7c15) >>> 0;
const HELD_OUT_SEED = 0x7e57_0011;

/** Everything built from one config. */
export interface ContrastiveRun {
  config: ContrastiveSessionConfig;
  model: Contrastive;
  /** Training images (trainSize, 1, S, S) in [0, 1]; their labels are used only by the probe's subset. */
  train: Float32Array;
  /** The probe's labelled images (probePerClass of each digit, from the training images) and the held-out ones. */
  labelled: { images: Float32Array; labels: Int32Array };
  heldOut: { images: Float32Array; labels: Int32Array };
  /** The probes of raw pixels and of the initial encoder, once computed. */
  baselines: { rawPixels: ProbeScore; randomEncoder: ProbeScore } | null;
  /** The batch order; its state goes into checkpoints. */
  batches: SeededRandom;
  /** The batch being filled. */
  x: Float32Array;
  /** Seeds of the views shown (never of training, never saved). */
  viewSeeds: SeededRandom;
}

/** Training images whose views are shown. */
export const VIEW_COUNT = 8;

/** The model's config for a session config: one channel of 16x16 digits. */
export function modelConfig(c: ContrastiveSessionConfig): Partial<ContrastiveConfig> {
  const { loss, temperature, margin, hidden, features, projHidden, projection, shift, rotate, cutout, noise, lr, weightDecay, batch, seed } = c;
  return { channels: 1, size: IMAGE_SIDE, loss, temperature, margin, hidden, features, projHidden, projection, shift, rotate, cutout, noise, lr, weightDecay, batch, seed };
}

/** [-1, 1] (the digits' convention) to [0, 1], so zero fill and cut-out are background. */
const toUnit = (images: Float32Array) => images.map((v) => (v + 1) / 2);

/** The first `per` images of each class of (images, labels), in class order. */
function balanced(images: Float32Array, labels: Int32Array, per: number): { images: Float32Array; labels: Int32Array } {
  const D = IMAGE_SIDE * IMAGE_SIDE;
  const picked: number[] = [];
  for (let k = 0; k < CLASSES; k++) {
    let n = 0;
    for (let i = 0; i < labels.length && n < per; i++) if (labels[i] === k) (picked.push(i), n++);
  }
  const out = new Float32Array(picked.length * D);
  picked.forEach((i, j) => out.set(images.subarray(i * D, (i + 1) * D), j * D));
  return { images: out, labels: Int32Array.from(picked, (i) => labels[i]) };
}

/** Data, model, optimizer and plan for `config`, weights fresh from its seed. */
export async function buildRun(engine: Engine, config: ContrastiveSessionConfig): Promise<ContrastiveRun> {
  const g = glyphs(config.trainSize, { size: IMAGE_SIDE, seed: trainSeed(config.seed) });
  const h = glyphs(config.heldOut, { size: IMAGE_SIDE, seed: HELD_OUT_SEED });
  const train = toUnit(g.images);
  const model = await Contrastive.create(engine, modelConfig(config));
  return {
    config, model, train, labelled: balanced(train, g.labels, config.probePerClass), heldOut: { images: toUnit(h.images), labels: h.labels },
    baselines: null, batches: new SeededRandom(batchSeed(config.seed)), x: new Float32Array(config.batch * model.imageSize),
    viewSeeds: new SeededRandom(viewSeed(config.seed)),
  };
}

/** Frees every GPU buffer of a run: plan, optimizer state and weights. */
export function freeRun(engine: Engine, r: ContrastiveRun): void {
  r.model.dispose();
  for (const p of r.model.params) engine.freeParameter(p);
}

/** Fills the run's batch from its batch order: images drawn uniformly, with replacement. */
export function nextBatch(r: ContrastiveRun): Float32Array {
  const per = r.model.imageSize, n = r.config.trainSize;
  for (let i = 0; i < r.config.batch; i++) {
    const k = Math.min(n - 1, Math.floor(r.batches.next() * n));
    r.x.set(r.train.subarray(k * per, (k + 1) * per), i * per);
  }
  return r.x;
}

// ---------------------------------------------------------------------------------------------
// evaluations

/** The probe trained on features of the labelled images and scored on the held-out ones. */
async function probeOn(r: ContrastiveRun, features: (x: Float32Array) => Promise<Float32Array>): Promise<ProbeScore> {
  const train: FeatureSet = { features: await features(r.labelled.images), labels: r.labelled.labels };
  const test: FeatureSet = { features: await features(r.heldOut.images), labels: r.heldOut.labels };
  return linearProbe(r.model.engine, train, test, { steps: r.config.probeSteps, classes: CLASSES });
}

/** The probe on raw pixels and on a copy of the encoder as its seed initialises it (built, used, freed). */
async function baselines(r: ContrastiveRun): Promise<NonNullable<ContrastiveRun['baselines']>> {
  const engine = r.model.engine;
  const rawPixels = await probeOn(r, async (x) => x);
  const nets = contrastiveNets(r.model.config);
  const plans = new Map<number, Plan>();
  try {
    const randomEncoder = await probeOn(r, (x) => encodeWith(engine, nets, r.model.config, x, plans));
    return { rawPixels, randomEncoder };
  } finally {
    for (const p of plans.values()) p.dispose();
    for (const p of nets.params) engine.freeParameter(p);
  }
}

/** The linear probe of the features now, beside its baselines. */
export async function probe(r: ContrastiveRun): Promise<ContrastiveProbeEvent> {
  r.baselines ??= await baselines(r);
  const learned = await probeOn(r, (x) => r.model.features(x));
  return {
    type: 'probe', step: r.model.steps, labelled: r.labelled.labels.length, heldOut: r.heldOut.labels.length, learned, ...r.baselines,
  };
}

/** The held-out digits' features projected on their top two principal components. */
export async function embedding(r: ContrastiveRun): Promise<ContrastiveEmbeddingEvent> {
  const h = await r.model.features(r.heldOut.images);
  const p = await pca2(r.model.engine, h, r.model.config.features);
  return { type: 'embedding', step: r.model.steps, points: p.points, labels: r.heldOut.labels, images: r.heldOut.images, explained: p.explained };
}

/** The first VIEW_COUNT training images and both their views, from the next seed of the views' own stream. */
export async function views(r: ContrastiveRun): Promise<ContrastiveViewsEvent> {
  const per = r.model.imageSize;
  const images = r.train.slice(0, Math.min(VIEW_COUNT, r.config.trainSize) * per);
  const v = await r.model.views(images, (r.viewSeeds.next() * 2 ** 31) | 0);
  return { type: 'views', step: r.model.steps, images, first: v.slice(0, images.length), second: v.slice(images.length), size: IMAGE_SIDE };
}

// ---------------------------------------------------------------------------------------------
// checkpoints
//
// The weights under their state_dict names ('encoder.0.weight'); AdamW's moments under
// 'optimizer.exp_avg.<param>' and its counters under 'optimizer.counters'; the step; the batch
// order's and the augmentation seeds' generator states, so a loaded run continues exactly as
// the saved one would have.

export async function checkpointContents(r: ContrastiveRun): Promise<CheckpointContents> {
  const { model } = r;
  return {
    params: model.stateDict(),
    state: await model.optimizer.readState(),
    step: model.steps,
    rng: { batches: r.batches.state, augment: model.rng.state },
    config: { contrastive: r.config },
  };
}

/** The config to build for a checkpoint: its model and training fields (SAVED_KEYS) over `base`. */
export function savedConfig(meta: Record<string, string>, base: ContrastiveSessionConfig | null): ContrastiveSessionConfig {
  const theirs = savedSection<ContrastiveSessionConfig>(meta, 'contrastive', base);
  const next = { ...base, ...pickSaved(theirs, SAVED_KEYS) };
  // The probe's labels come from the file's training images: no more per class than they allow.
  const most = Math.max(1, Math.floor((next.trainSize ?? contrastiveSessionDefaults.trainSize) / 10));
  const probePerClass = Math.min(next.probePerClass ?? contrastiveSessionDefaults.probePerClass, most);
  return usableConfig(() => contrastiveSessionConfig({ ...next, probePerClass }));
}

/** Weights and optimizer state into a freshly built run, every entry checked before the first is written. */
export async function loadInto(engine: Engine, r: ContrastiveRun, bytes: Uint8Array): Promise<void> {
  const { model } = r;
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  for (const p of model.params) for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${p.label}`] = new Float32Array(p.size);
  const loaded = await loadCheckpoint(engine, bytes, { params: model.stateDict(), state });
  await model.optimizer.writeState(state);
  const step = loaded.step ?? 0;
  model.steps = step;
  model.optimizer.step = step;
  const { batches, augment } = loaded.rng ?? {};
  if (batches !== undefined) r.batches.state = batches >>> 0;
  if (augment !== undefined) model.rng.state = augment >>> 0;
}
