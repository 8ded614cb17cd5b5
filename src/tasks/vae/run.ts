// What one VAE session holds and everything done to it outside the training loop: building the
// data (generated digits with a held-out set from a seed of its own, or the user's images), the
// model and its optimizer from a checked config; filling batches from a resumable batch order;
// the pictures (held-out images beside their reconstructions with the held-out ELBO, prior
// samples from fixed z, and for a 2D latent the encoded means and a decoded grid over the plane);
// and the checkpoint's contents, written and read back into a freshly built model (the caller
// swaps it in only once the load succeeded).
// Not here: the loop, events and API (session.ts), the model itself (models/vae.ts).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { glyphs } from '../../data/glyphs.js';
import { SeededRandom, gaussian } from '../../data/random.js';
import type { UserImageSet } from '../../data/user-images.js';
import type { Engine } from '../../engine.js';
import { DataError } from '../../errors.js';
import { Vae, type VaeConfig } from '../../models/vae.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import { imageSide, LATENT_EXTENT, SAVED_KEYS, vaeSessionConfig, type VaePicturesEvent, type VaeSessionConfig } from './protocol.js';

// Seeds derived from the config's, so weights, data, batch order and fixed latents draw separate
// streams. The held-out digits and the evaluation's noise do not depend on the seed: every run
// is measured on the same images with the same draws.
const trainSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x51ed) >>> 0;
const batchSeed = (seed: number) => (seed ^ 0x5bd1e995) >>> 0;
const latentSeed = (seed: number) => (seed ^ 0x68e31da4) >>> 0;
const HELD_OUT_SEED = 0x7e57_0001;
const EVAL_SEED = 0x7e57_0002;
const BINARIZE_SEED = 0x7e57_0003;

/** Images (count, C, S, S) in [0, 1], with their classes when they have any. */
export interface ImageSet {
  images: Float32Array;
  labels: Int32Array | null;
  count: number;
}

/** Everything built from one config. */
export interface VaeRun {
  config: VaeSessionConfig;
  vae: Vae;
  /** Training images; null for an upload's checkpoint loaded without the images. */
  train: ImageSet | null;
  /** What the pictures evaluate: held-out digits, or the first of the user's images (null without them). */
  heldOut: ImageSet | null;
  /** The mean training image per pixel (binarised pixels have the same mean): the baseline for reconstructions. */
  meanImage: Float64Array | null;
  /** The batch order; its state goes into checkpoints. */
  batches: SeededRandom;
  /** The batch being filled. */
  x: Float32Array;
  /** Fixed latents: sampleCount draws from the prior, then for a 2D latent the grid's points. */
  z: Float32Array;
}

/** The model's config for a session config: one channel (digits and the user's images are grayscale). */
export function vaeModelConfig(c: VaeSessionConfig): Partial<VaeConfig> {
  const { arch, latent, hidden, layers, width, likelihood, sigma, beta, warmupSteps, lr, batch, seed } = c;
  return { arch, channels: 1, size: imageSide(c), latent, hidden, layers, width, likelihood, sigma, beta, warmupSteps, lr, batch, seed };
}

/** [-1, 1] (the data sets' convention) to [0, 1] (the pixel probabilities a Bernoulli decoder models). */
const toUnit = (images: Float32Array) => images.map((v) => (v + 1) / 2);

/**
 * The images of `config`: digits drawn from its seed and the held-out ones, or the user's set
 * `upload` at the config's size (null: a checkpoint's model without it, which has no data).
 */
export function runData(config: VaeSessionConfig, upload: UserImageSet | null): Pick<VaeRun, 'train' | 'heldOut' | 'meanImage'> {
  const S = imageSide(config);
  let train: ImageSet | null = null, heldOut: ImageSet | null = null;
  if (config.dataset === 'upload') {
    if (upload) {
      train = { images: toUnit(upload.images), labels: null, count: upload.count };
      const n = Math.min(config.heldOut, upload.count); // too few to split: the pictures show the first ones
      heldOut = { images: train.images.slice(0, n * S * S), labels: null, count: n };
    }
  } else {
    const g = glyphs(config.trainSize, { size: S, seed: trainSeed(config.seed) });
    train = { images: toUnit(g.images), labels: g.labels, count: config.trainSize };
    const h = glyphs(config.heldOut, { size: S, seed: HELD_OUT_SEED });
    heldOut = { images: toUnit(h.images), labels: h.labels, count: config.heldOut };
  }
  if (heldOut && config.binarize) {
    const rb = new SeededRandom(BINARIZE_SEED);
    heldOut.images = heldOut.images.map((p) => (rb.next() < p ? 1 : 0)); // once: every picture evaluates the same bits
  }
  return { train, heldOut, meanImage: train && meanImage(train, S * S) };
}

/** Data, model, optimizer and plans for `config`, weights fresh from its seed; `upload` as for runData. */
export async function buildRun(engine: Engine, config: VaeSessionConfig, upload: UserImageSet | null): Promise<VaeRun> {
  const data = runData(config, upload);
  const vae = await Vae.create(engine, vaeModelConfig(config));
  const L = config.latent;
  const rz = new SeededRandom(latentSeed(config.seed));
  const prior = Float32Array.from({ length: config.sampleCount * L }, () => gaussian(() => rz.next()));
  let z = prior;
  if (L === 2) {
    const side = config.gridSide;
    z = new Float32Array(prior.length + side * side * 2);
    z.set(prior);
    const at = (i: number) => LATENT_EXTENT * ((2 * i) / (side - 1) - 1);
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const k = prior.length + 2 * (r * side + c);
        z[k] = at(c);
        z[k + 1] = -at(r); // the top row at z2 = +extent
      }
    }
  }
  return {
    config, vae, ...data, batches: new SeededRandom(batchSeed(config.seed)), x: new Float32Array(config.batch * vae.imageSize), z,
  };
}

function meanImage(set: ImageSet, per: number): Float64Array {
  const m = new Float64Array(per);
  for (let k = 0; k < set.count; k++) for (let j = 0; j < per; j++) m[j] += set.images[k * per + j];
  return m.map((v) => v / set.count);
}

/** Frees every GPU buffer of a run: plans, optimizer state and weights. */
export function freeRun(engine: Engine, r: VaeRun): void {
  r.vae.dispose();
  for (const p of r.vae.params) engine.freeParameter(p);
}

/** Fills the run's batch from its batch order. */
export function nextBatch(r: VaeRun): Float32Array {
  const t = r.train;
  if (!t) {
    throw new DataError('This model was trained on images you uploaded: upload them again (at the same size) to continue training. It can still draw samples.', 'empty');
  }
  const per = r.vae.imageSize;
  for (let i = 0; i < r.config.batch; i++) {
    const k = Math.min(t.count - 1, Math.floor(r.batches.next() * t.count));
    const image = t.images.subarray(k * per, (k + 1) * per);
    // Fresh bits from the batch order's generator, whose state checkpoints keep.
    if (r.config.binarize) for (let j = 0; j < per; j++) r.x[i * per + j] = r.batches.next() < image[j] ? 1 : 0;
    else r.x.set(image, i * per);
  }
  return r.x;
}

// ---------------------------------------------------------------------------------------------
// pictures

/** One evaluation of the held-out images and one decode of the fixed latents. */
export async function pictures(r: VaeRun): Promise<VaePicturesEvent> {
  const { vae, config: c } = r;
  const per = vae.imageSize;
  const decoded = await vae.decode(r.z);
  const samples = decoded.slice(0, c.sampleCount * per);
  const e: VaePicturesEvent = {
    type: 'pictures', step: vae.steps, channels: vae.config.channels, size: vae.config.size,
    inputs: new Float32Array(0), reconstructions: new Float32Array(0), samples, heldOut: null, latent: null,
  };
  const h = r.heldOut;
  if (!h) return e;
  const ev = await vae.evaluate(h.images, EVAL_SEED);
  const n = h.count;
  const meanOf = (v: Float32Array) => v.reduce((a, b) => a + b, 0) / v.length;
  let pixel = 0, baseline = 0;
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < per; j++) {
      const x = h.images[k * per + j];
      pixel += (ev.reconstructions[k * per + j] - x) ** 2;
      baseline += (r.meanImage![j] - x) ** 2;
    }
  }
  const recon = meanOf(ev.recon), kl = meanOf(ev.kl);
  e.inputs = h.images.slice(0, c.pictureCount * per);
  e.reconstructions = ev.reconstructions.slice(0, c.pictureCount * per);
  e.heldOut = { count: n, recon, kl, elbo: -(recon + kl), pixelError: pixel / (n * per), meanImageError: baseline / (n * per) };
  if (c.latent === 2) {
    e.latent = { mu: ev.mu, labels: h.labels, grid: { side: c.gridSide, extent: LATENT_EXTENT, images: decoded.slice(c.sampleCount * per) } };
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// checkpoints
//
// The weights under their state_dict names ('encoder.0.weight'); AdamW's moments under
// 'optimizer.exp_avg.<param>' and its counters under 'optimizer.counters'; the step; the batch
// order's and the noise generator's states, so a loaded run continues exactly as the saved one
// would have (the KL weight follows from the step).

export async function checkpointContents(r: VaeRun): Promise<CheckpointContents> {
  const { vae } = r;
  return {
    params: vae.stateDict(),
    state: await vae.optimizer.readState(),
    step: vae.steps,
    rng: { batches: r.batches.state, noise: vae.rng.state },
    config: { vae: r.config },
  };
}

/**
 * The config to build for a checkpoint: its model and training fields (SAVED_KEYS) over `base`
 * (the current config: cadences and picture sizes stay the page's).
 */
export function savedConfig(meta: Record<string, string>, base: VaeSessionConfig | null): VaeSessionConfig {
  const theirs = savedSection<VaeSessionConfig>(meta, 'vae', base);
  return usableConfig(() => vaeSessionConfig({ ...base, ...pickSaved(theirs, SAVED_KEYS) }));
}

/** Weights and optimizer state into a freshly built run, every entry checked before the first is written. */
export async function loadInto(engine: Engine, r: VaeRun, bytes: Uint8Array): Promise<void> {
  const { vae } = r;
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  for (const p of vae.params) for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${p.label}`] = new Float32Array(p.size);
  const loaded = await loadCheckpoint(engine, bytes, { params: vae.stateDict(), state });
  await vae.optimizer.writeState(state);
  const step = loaded.step ?? 0;
  vae.steps = step;
  vae.optimizer.step = step;
  const { batches, noise } = loaded.rng ?? {};
  if (batches !== undefined) r.batches.state = batches >>> 0;
  if (noise !== undefined) vae.rng.state = noise >>> 0;
}
