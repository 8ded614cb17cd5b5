// What one GAN session holds and everything done to it outside the training loop: building the
// data (2D points, digit images or the user's images), the two players and their optimizers from a checked config;
// filling the real batches from a resumable batch order; the snapshots (generated points from
// fixed latents, the discriminator's logits over the plane, the generator's image of a latent
// lattice; or a grid of images from fixed noise) and the quality figures (for the user's images,
// distances in pixel space: no classifier knows them); and the checkpoint's
// contents, written and read back into a freshly built model (the caller swaps it in only once
// the load succeeded).
// Not here: the loop, events and API (session.ts), the GAN itself (models/gan.ts), the image
// scorer (eval/image-scores.ts; the session trains it once and lends it to each build).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { glyphs } from '../../data/glyphs.js';
import { SeededRandom, gaussian } from '../../data/random.js';
import { modeCoverage, ringCentres, sample2D, type Sampler2DName } from '../../data/toy2d.js';
import type { UserImageSet } from '../../data/user-images.js';
import type { Engine } from '../../engine.js';
import { DataError } from '../../errors.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import { mmd, slicedWasserstein } from '../../eval/distance.js';
import type { ImageScorer } from '../../eval/image-scores.js';
import { Gan, ganPresets, type GanConfig } from '../../models/gan.js';
import type { Tensor } from '../../tensor.js';
import { PLANE_EXTENT, squareGrid } from '../../data/plane.js';
import {
  ganSessionConfig, imageSide, isImageDataset, LATENT_EXTENT, SAVED_KEYS, type GanImagesEvent, type GanPlaneEvent,
  type GanQualityEvent, type GanSessionConfig,
} from './protocol.js';

// Seeds derived from the config's, so weights, data, batch order and fixed latents draw separate
// streams. The held-out set does not depend on the seed: every run is measured on the same points.
const trainSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x51ed) >>> 0;
const batchSeed = (seed: number) => (seed ^ 0x5bd1e995) >>> 0;
const latentSeed = (seed: number) => (seed ^ 0x68e31da4) >>> 0;
const HELD_OUT_SEED = 0x7e57_0001;
/** A digit class counts as generated when it gets this share of a uniform share of the samples (as modeCoverage). */
const FAIR_SHARE = 0.2;
/** Samples per side that pixel-space distances compare. */
const PIXEL_SAMPLES = 256;

/** Everything built from one config. */
export interface GanRun {
  config: GanSessionConfig;
  kind: 'points' | 'images';
  gan: Gan;
  /** Training samples (n, ...sample), drawn once; null for an upload's checkpoint loaded without the images. */
  train: Float32Array | null;
  /** Points: the held-out set (heldOut, 2); images: null (the scorer holds its own real glyphs). */
  heldOut: Float32Array | null;
  /** The batch order; its state goes into checkpoints. */
  batches: SeededRandom;
  /** One real batch per discriminator step, refilled every iteration. */
  reals: Float32Array[];
  /** Fixed latents: sampleCount (points) or max(imageCount, scoreSamples) (images) rows, then, for points, the lattice. */
  z: Float32Array;
  /** Points: the discriminator's grid over the plane. */
  surface: Float32Array | null;
  /** Points: the latent lattice's points per side, and the step between two of its drawn lines. */
  lattice: { side: number; every: number } | null;
  /** Images: the scorer, lent by the session (not freed with the run). */
  scorer: ImageScorer | null;
}

/** The GAN's own config for a session config. */
export function ganModelConfig(c: GanSessionConfig): Partial<GanConfig> {
  const shared = { loss: c.loss, lrG: c.lrG, lrD: c.lrD, dSteps: c.dSteps, spectralNorm: c.spectralNorm, batch: c.batch, seed: c.seed };
  return isImageDataset(c.dataset)
    ? { ...ganPresets.glyphs, size: imageSide(c), width: c.width, latent: c.imageLatent, ...shared }
    : { ...ganPresets.ring, data: 'points', dims: 2, latent: 2, hidden: c.hidden, layers: c.layers, ...shared };
}

/**
 * Data, players, optimizers and plans for `config`, weights fresh from its seed. `upload` is the
 * user's set at the config's size for dataset 'upload' (null: a checkpoint's model without it).
 */
export async function buildRun(engine: Engine, config: GanSessionConfig, scorer: ImageScorer | null, upload: UserImageSet | null): Promise<GanRun> {
  const kind = isImageDataset(config.dataset) ? 'images' : 'points';
  const train = config.dataset === 'upload'
    ? upload?.images ?? null
    : kind === 'images'
      ? glyphs(config.trainSize, { size: imageSide(config), seed: trainSeed(config.seed) }).images
      : sample2D(config.dataset as Sampler2DName, config.trainSize, trainSeed(config.seed));
  const heldOut = kind === 'images' ? null : sample2D(config.dataset as Sampler2DName, config.heldOut, HELD_OUT_SEED);
  const gan = await Gan.create(engine, ganModelConfig(config));
  const rz = new SeededRandom(latentSeed(config.seed));
  const L = gan.config.latent;
  const rows = kind === 'points' ? config.sampleCount : Math.max(config.imageCount, config.scoreSamples);
  const fixed = Float32Array.from({ length: rows * L }, () => gaussian(() => rz.next()));
  let z = fixed;
  const lat = kind === 'points' ? lattice(config.latentLines) : null;
  if (lat) {
    z = new Float32Array(fixed.length + lat.points.length);
    z.set(fixed);
    z.set(lat.points, fixed.length);
  }
  return {
    config, kind, gan, train, heldOut, batches: new SeededRandom(batchSeed(config.seed)),
    reals: Array.from({ length: config.dSteps }, () => new Float32Array(config.batch * gan.sampleSize)),
    z, surface: kind === 'points' ? squareGrid(config.surfaceGrid) : null, lattice: lat && { side: lat.side, every: lat.every }, scorer: kind === 'images' ? scorer : null,
  };
}

/** Frees every GPU buffer of a run: plans, optimizer state, both players' weights and spectral vectors. */
export function freeRun(engine: Engine, r: GanRun): void {
  r.gan.dispose();
  for (const p of Object.values(r.gan.stateDict())) engine.freeParameter(p);
}

/** Fills the run's real batches (one per discriminator step) from its batch order. */
export function nextReals(r: GanRun): Float32Array[] {
  if (!r.train) {
    throw new DataError('This model was trained on images you uploaded: upload them again (at the same size) to continue training. It can still draw samples.', 'empty');
  }
  const per = r.gan.sampleSize;
  const n = r.train.length / per;
  for (const x of r.reals) {
    for (let i = 0; i < r.config.batch; i++) {
      const k = Math.min(n - 1, Math.floor(r.batches.next() * n));
      x.set(r.train.subarray(k * per, (k + 1) * per), i * per);
    }
  }
  return r.reals;
}

/**
 * The latent lattice: `lines` lines per direction over [-LATENT_EXTENT, LATENT_EXTENT]², each
 * sampled at 4 points per cell so that its image under G is drawn as a smooth curve.
 */
function lattice(lines: number): { side: number; every: number; points: Float32Array } {
  const every = 4;
  const side = (lines - 1) * every + 1;
  const points = squareGrid(side); // over the plane's extent: rescaled to the latent one
  for (let i = 0; i < points.length; i++) points[i] *= LATENT_EXTENT / PLANE_EXTENT;
  return { side, every, points };
}

// ---------------------------------------------------------------------------------------------
// looking at the game

/** The fixed latents' samples: what a snapshot and the quality figures are computed from. */
export async function generateFixed(r: GanRun): Promise<Float32Array> {
  return r.gan.generate(r.z);
}

/** Points: generated points, the decision surface and the mapped lattice, from one generate call. */
export async function planeSnapshot(r: GanRun, generated: Float32Array): Promise<GanPlaneEvent> {
  const n = r.config.sampleCount;
  return {
    type: 'plane',
    step: r.gan.steps,
    points: generated.slice(0, 2 * n),
    z: r.z.slice(0, 2 * n),
    surface: { side: r.config.surfaceGrid, logits: await r.gan.discriminate(r.surface!) },
    lattice: { ...r.lattice!, points: generated.slice(2 * n) },
  };
}

/** Images: the first imageCount samples of the fixed noise, and the discriminator's logit for each. */
export async function imagesSnapshot(r: GanRun, generated: Float32Array): Promise<GanImagesEvent> {
  const per = r.gan.sampleSize;
  const images = generated.slice(0, r.config.imageCount * per);
  return {
    type: 'images', step: r.gan.steps, images, count: r.config.imageCount, channels: 1, size: imageSide(r.config),
    logits: await r.gan.discriminate(images),
  };
}

/**
 * How far the samples are from real data; a diverged generator's NaNs come out as NaN figures.
 * Null for an upload's model without its images: nothing to compare with.
 */
export async function quality(r: GanRun, generated: Float32Array): Promise<GanQualityEvent | null> {
  const step = r.gan.steps;
  if (r.config.dataset === 'upload') return r.train && pixelDistances(r, generated);
  if (r.kind === 'images') {
    const per = r.gan.sampleSize;
    const s = await r.scorer!.score(generated.slice(0, r.config.scoreSamples * per));
    const total = s.predicted.reduce((a, b) => a + b, 0);
    const covered = s.predicted.filter((c) => c > 0 && c >= (FAIR_SHARE / s.predicted.length) * total).length;
    return { type: 'quality', step, kind: 'images', frechet: s.frechet, classes: { covered, of: s.predicted.length, predicted: s.predicted } };
  }
  const points = generated.subarray(0, 2 * r.config.sampleCount);
  let modes = null;
  if (r.config.dataset === 'ring') {
    const c = modeCoverage(points, ringCentres());
    modes = { covered: c.covered, of: c.counts.length, nearMode: c.highQuality };
  }
  return {
    type: 'quality', step, kind: 'points',
    mmd: mmd(points, r.heldOut!, 2),
    slicedWasserstein: slicedWasserstein(points, r.heldOut!, 2, { projections: 64 }),
    modes,
  };
}

/**
 * Samples against the user's images in pixel space. Kernel bandwidths scale with the square root
 * of the pixel count, as distances between images do; both sets are capped at PIXEL_SAMPLES so
 * the O(n²·pixels) host loops stay well under a second.
 */
function pixelDistances(r: GanRun, generated: Float32Array): GanQualityEvent {
  const dims = r.gan.sampleSize;
  const n = Math.min(PIXEL_SAMPLES, r.config.scoreSamples, generated.length / dims, r.train!.length / dims);
  const a = generated.subarray(0, n * dims), b = r.train!.subarray(0, n * dims);
  const scale = Math.sqrt(dims);
  return {
    type: 'quality', step: r.gan.steps, kind: 'pixels', samples: n,
    mmd: mmd(a, b, dims, { bandwidths: [0.25, 0.5, 1, 2].map((h) => h * scale) }),
    slicedWasserstein: slicedWasserstein(a, b, dims, { projections: 64 }) / scale,
  };
}

// ---------------------------------------------------------------------------------------------
// checkpoints
//
// Both players and the spectral vectors under their state_dict names ('generator.0.weight',
// 'discriminator.1.sn_u'); each optimizer's Adam moments under 'optimizer.exp_avg.<param>' (the
// names do not collide: each parameter belongs to one player) and its counters under
// 'optimizer.counters.generator' / '.discriminator'; the step; the batch order's and the GAN's
// noise generator's states, so a loaded run continues exactly as the saved one would have.

const PLAYERS = ['generator', 'discriminator'] as const;

export async function checkpointContents(r: GanRun): Promise<CheckpointContents> {
  const { gan } = r;
  const state: Record<string, Float32Array> = {};
  for (const [who, opt] of [['generator', gan.gOptimizer], ['discriminator', gan.dOptimizer]] as const) {
    const s = await opt.readState();
    for (const [name, v] of Object.entries(s)) state[name === 'counters' ? `counters.${who}` : name] = v;
  }
  return {
    params: gan.stateDict(),
    state,
    step: gan.steps,
    rng: { batches: r.batches.state, gan: gan.rng.state },
    config: { gan: r.config },
  };
}

/**
 * The config to build for a checkpoint: its model and training fields (SAVED_KEYS) over `base`
 * (the current config: cadences and display sizes stay the page's).
 */
export function savedConfig(meta: Record<string, string>, base: GanSessionConfig | null): GanSessionConfig {
  const theirs = savedSection<GanSessionConfig>(meta, 'gan', base);
  return usableConfig(() => ganSessionConfig({ ...base, ...pickSaved(theirs, SAVED_KEYS) }));
}

/** Players, spectral vectors and both optimizers' state into a freshly built run, every entry checked before the first is written. */
export async function loadInto(engine: Engine, r: GanRun, bytes: Uint8Array): Promise<void> {
  const { gan } = r;
  const state: Record<string, Float32Array> = {};
  const players: Record<(typeof PLAYERS)[number], Tensor[]> = { generator: gan.generator.params, discriminator: gan.discriminator.params };
  for (const who of PLAYERS) {
    state[`counters.${who}`] = new Float32Array(3);
    for (const p of players[who]) for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${p.label}`] = new Float32Array(p.size);
  }
  const loaded = await loadCheckpoint(engine, bytes, { params: gan.stateDict(), state });
  for (const [who, opt] of [['generator', gan.gOptimizer], ['discriminator', gan.dOptimizer]] as const) {
    const mine: Record<string, Float32Array> = { counters: state[`counters.${who}`] };
    for (const p of players[who]) for (const k of ['exp_avg', 'exp_avg_sq']) mine[`${k}.${p.label}`] = state[`${k}.${p.label}`];
    await opt.writeState(mine);
  }
  const step = loaded.step ?? 0;
  gan.steps = step;
  gan.gOptimizer.step = step;
  gan.dOptimizer.step = step * r.config.dSteps;
  const { batches, gan: noise } = loaded.rng ?? {};
  if (batches !== undefined) r.batches.state = batches >>> 0;
  if (noise !== undefined) gan.rng.state = noise >>> 0;
}
