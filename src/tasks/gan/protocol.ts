// The contract between the GAN page and its worker: the session's config (checked field by
// field, ConfigError naming the field; defaults that depend on the dataset), the events the
// session pushes (status, per-iteration losses, sample quality, and the snapshots that make the
// game visible: for points, generated points from a fixed latent set, the discriminator's logits
// over the plane and the generator's image of a latent lattice; for images, a grid of samples
// from fixed noise), and the API the worker exposes through comlink, the user's images
// included. Plain data that survives structured cloning; the calls and events every session has
// come from worker/protocol.ts.
// Not here: the session (session.ts), what it builds (run.ts), the comlink glue (worker.ts,
// client.ts).

import { samplers2D, type Sampler2DName } from '../../data/toy2d.js';
import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import type { GanLoss } from '../../models/gan.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';
import type { UploadSource, UploadSummary } from '../../data/image-upload.js';

/** Half the side of the square of the plane that the page draws and the discriminator's grid covers. */
export { PLANE_EXTENT } from '../../data/plane.js';
/** Half the side of the square of latent space whose lattice the generator maps (z ~ N(0, I)). */
export const LATENT_EXTENT = 2.5;

/** The 2D distributions, generated digit images at 16 or 28 pixels, and the user's own images. */
export type GanDataset = Sampler2DName | 'glyphs16' | 'glyphs28' | 'upload';
export const GAN_DATASETS: readonly GanDataset[] = [...samplers2D.map((s) => s.name), 'glyphs16', 'glyphs28', 'upload'];
export const GAN_LOSSES: readonly GanLoss[] = ['nonsaturating', 'hinge', 'wgan-gp'];

/** True for the datasets of images (a DCGAN), false for the 2D ones (MLPs). */
export const isImageDataset = (d: GanDataset): boolean => d === 'glyphs16' || d === 'glyphs28' || d === 'upload';

/** Side of the images of an image config. */
export function imageSide(c: Pick<GanSessionConfig, 'dataset' | 'uploadSize'>): number {
  return c.dataset === 'glyphs16' ? 16 : c.dataset === 'glyphs28' ? 28 : c.uploadSize;
}

export interface GanSessionConfig {
  /** What to learn: a 2D distribution ('ring', 'swissroll', 'moons', 'spirals'), digits ('glyphs16', 'glyphs28') or the user's images ('upload'). */
  dataset: GanDataset;
  /** 'nonsaturating' (BCE), 'hinge' or 'wgan-gp' (Wasserstein critic with gradient penalty). */
  loss: GanLoss;
  /** Adam learning rate of the generator (may change between steps). */
  lrG: number;
  /** Adam learning rate of the discriminator (may change between steps). */
  lrD: number;
  /** Discriminator steps per generator step. */
  dSteps: number;
  /** Spectral normalisation of the discriminator's weights. */
  spectralNorm: boolean;
  /** Real and generated samples per step. */
  batch: number;
  /** Seed of the weights, the data, the batch order, the per-step noise and the fixed latents. */
  seed: number;
  /** Points: units per hidden layer, and hidden layers, of each player's MLP. */
  hidden: number;
  layers: number;
  /** Images: feature channels of the DCGAN players' full-resolution layer, and the latent size. */
  width: number;
  imageLatent: number;
  /** 'upload': the side the user's images are shrunk to (a multiple of 4: two stride-2 layers). */
  uploadSize: number;
  /** Training points or images, drawn once. */
  trainSize: number;
  /** Points: held-out points (another seed, never trained on) that samples are compared with. */
  heldOut: number;
  /** Points: generated points drawn from one fixed set of latents. */
  sampleCount: number;
  /** Points: the discriminator's decision surface is sampled on a grid of this many points per side. */
  surfaceGrid: number;
  /** Points: lines per direction of the latent lattice the generator maps (a deformed grid). */
  latentLines: number;
  /** Images: samples in the grid, from fixed noise. */
  imageCount: number;
  /** Images: samples the Fréchet distance is computed on (from fixed noise too). */
  scoreSamples: number;
  /** Images: training steps of the scorer's classifier (trained once per page, see ImageScorer). */
  scorerSteps: number;
  /** Snapshots (points, surface and grid; or the image grid) every this many iterations (0: only on request). */
  snapshotEvery: number;
  /** Quality figures every this many iterations (0: only on request). */
  qualityEvery: number;
  /** Where a run started with start() stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many iterations (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
}

export const ganSessionDefaults: GanSessionConfig = {
  dataset: 'ring',
  loss: 'nonsaturating',
  lrG: 1e-3,
  lrD: 1e-3,
  dSteps: 1,
  spectralNorm: false,
  batch: 256,
  seed: 1,
  hidden: 128,
  layers: 2,
  width: 32,
  imageLatent: 32,
  uploadSize: 16,
  trainSize: 8192,
  heldOut: 1000,
  sampleCount: 1000,
  surfaceGrid: 64,
  latentLines: 11,
  imageCount: 64,
  scoreSamples: 512,
  scorerSteps: 800,
  snapshotEvery: 25,
  qualityEvery: 100,
  totalSteps: 0,
  metricsIntervalMs: 250,
  autosaveEvery: 500,
};

/** Defaults that differ for images: the DCGAN learns at Radford et al.'s 2e-4, on smaller batches. */
export const imageDefaults: Partial<GanSessionConfig> = { lrG: 2e-4, lrD: 2e-4, batch: 64, snapshotEvery: 20, qualityEvery: 100, autosaveEvery: 200 };

/** The defaults for a dataset. */
export function datasetDefaults(dataset: GanDataset): GanSessionConfig {
  return { ...ganSessionDefaults, dataset, ...(isImageDataset(dataset) ? imageDefaults : {}) };
}

/** Fields a checkpoint brings with it (the model, its data and training settings); the others stay as the page set them. */
export const SAVED_KEYS = [
  'dataset', 'loss', 'lrG', 'lrD', 'dSteps', 'spectralNorm', 'batch', 'seed', 'hidden', 'layers', 'width', 'imageLatent', 'uploadSize', 'trainSize',
] as const satisfies readonly (keyof GanSessionConfig)[];

/** Fields setHyper may change between steps. */
export type GanHyper = Pick<GanSessionConfig, 'lrG' | 'lrD' | 'snapshotEvery' | 'qualityEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'>;
export const HYPER_KEYS: readonly (keyof GanHyper)[] = ['lrG', 'lrD', 'snapshotEvery', 'qualityEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery'];

/** A full config from the dataset's defaults and the overrides; every field checked, before any GPU work. */
export function ganSessionConfig(overrides: Partial<GanSessionConfig> = {}): GanSessionConfig {
  refuseUnknown('gan', overrides, ganSessionDefaults);
  const dataset = overrides.dataset ?? ganSessionDefaults.dataset;
  const c: GanSessionConfig = { ...(GAN_DATASETS.includes(dataset) ? datasetDefaults(dataset) : ganSessionDefaults), ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('gan', c);
  if (!GAN_DATASETS.includes(c.dataset)) fail('dataset', `one of ${GAN_DATASETS.map((s) => `'${s}'`).join(', ')}`);
  if (!GAN_LOSSES.includes(c.loss)) fail('loss', `one of ${GAN_LOSSES.map((s) => `'${s}'`).join(', ')}`);
  if (typeof c.spectralNorm !== 'boolean') fail('spectralNorm', 'true or false');
  integers([
    ['dSteps', 1, 20], ['batch', 1, 1 << 14], ['hidden', 1, 4096], ['layers', 1, 16], ['width', 1, 512], ['imageLatent', 1, 1024],
    ['trainSize', 1, 1 << 20], ['heldOut', 2, 20_000], ['sampleCount', 2, 20_000], ['surfaceGrid', 2, 256], ['latentLines', 2, 64],
    ['imageCount', 1, 1024], ['scoreSamples', 2, 20_000], ['scorerSteps', 1, 100_000],
    ['snapshotEvery', 0, Number.MAX_SAFE_INTEGER], ['qualityEvery', 0, Number.MAX_SAFE_INTEGER], ['totalSteps', 0, Number.MAX_SAFE_INTEGER],
    ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
  ]);
  nonNegative('lrG');
  nonNegative('lrD');
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  if (!(Number.isInteger(c.uploadSize) && c.uploadSize >= 8 && c.uploadSize <= 64 && c.uploadSize % 4 === 0)) fail('uploadSize', 'a multiple of 4 in [8, 64]');
  nonNegative('metricsIntervalMs');
  return c;
}

/** Its step counts generator steps (each after dSteps discriminator steps). */
export interface GanInfo extends BaseInfo<GanSessionConfig> {
  /** 'points' for the 2D datasets, 'images' for digits and uploads. */
  kind: 'points' | 'images' | null;
  /** Parameters of each player. */
  generatorParams: number;
  discriminatorParams: number;
  /** Modes of the dataset that coverage is counted for (8 for 'ring', 10 digit classes for digits; 0: not counted). */
  modes: number;
  /** Images: the scorer's accuracy on held-out real glyphs (how far its figures can be trusted). */
  scorerAccuracy: number | null;
  /** The user's images held by the worker (kept across models), or null. */
  upload: UploadSummary | null;
  /** False for a model of an upload loaded from a checkpoint without its images: it can draw, not train. */
  canTrain: boolean;
}

/** One iteration: dSteps discriminator steps and one generator step. */
export interface GanStepRecord {
  step: number;
  /** The discriminator's loss at its last step, and the generator's (NaN when not read). */
  dLoss: number;
  gLoss: number;
  /** Wall time between this iteration's result and the previous one's, in ms. */
  ms: number;
  lrG: number;
  lrD: number;
}

/** Records since the previous metrics event, in step order. */
export interface GanMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: GanStepRecord[];
}

/** How far samples are from real data. */
export type GanQualityEvent = {
  type: 'quality';
  step: number;
} & (
  | {
      kind: 'points';
      /** Squared MMD with a mixture of Gaussian kernels against the held-out points. */
      mmd: number;
      /** Sliced 2-Wasserstein distance, in data units. */
      slicedWasserstein: number;
      /** For 'ring': modes with a fair share of the samples, and the share of samples near any mode. */
      modes: { covered: number; of: number; nearMode: number } | null;
    }
  | {
      kind: 'images';
      /** Class-free Fréchet distance of the scorer's features, samples against held-out real glyphs. */
      frechet: number;
      /** Digit classes the scorer sees with a fair share of the samples (mode collapse shows here), and the counts. */
      classes: { covered: number; of: number; predicted: number[] };
    }
  | {
      /** The user's images: no classifier knows them, so distances in pixel space against them. */
      kind: 'pixels';
      /** Squared MMD with Gaussian kernels scaled to the images' dimension. */
      mmd: number;
      /** Sliced 2-Wasserstein distance, per pixel (values in [-1, 1]). */
      slicedWasserstein: number;
      /** Samples compared on each side. */
      samples: number;
    }
);

/** The 2D game: what G makes of fixed latents and of a lattice, and what D thinks of every place. */
export interface GanPlaneEvent {
  type: 'plane';
  step: number;
  /** (sampleCount, 2) generated points from the session's fixed latents. */
  points: Float32Array;
  /** (sampleCount, 2) those latents, to colour each point by where it came from. */
  z: Float32Array;
  /** The discriminator's logits on a surfaceGrid² square grid over [-PLANE_EXTENT, PLANE_EXTENT]², top row first. */
  surface: { side: number; logits: Float32Array };
  /**
   * G of a square lattice of z over [-LATENT_EXTENT, LATENT_EXTENT]², `side` points per side
   * (row-major, top row first); every `every`-th row and column is one of the latentLines lines.
   */
  lattice: { side: number; every: number; points: Float32Array };
}

/** Samples of the image generator from fixed noise, with the discriminator's logit for each. */
export interface GanImagesEvent {
  type: 'images';
  step: number;
  /** (count, channels, size, size) in [-1, 1]. */
  images: Float32Array;
  count: number;
  channels: number;
  size: number;
  logits: Float32Array;
}

export type GanEvent = CoreEvent<GanInfo> | GanMetricsEvent | GanQualityEvent | GanPlaneEvent | GanImagesEvent;

/** What the GAN worker exposes: every session's calls, snapshots, the reference data and uploads. */
export interface GanApi extends SessionApi<GanSessionConfig, GanHyper, GanInfo, GanEvent, { step: number; dLoss: number; gLoss: number }> {
  /** A snapshot and quality figures now (emitted as events too). */
  snapshot(): Promise<void>;
  /** Real data to draw beside the samples: the held-out points (n, 2), or imageCount training images (none when not held). */
  reference(): Promise<Float32Array>;
  /**
   * Takes the user's images, checked and shrunk to `size` in the worker (DataError naming the
   * file, and the images held before stay). A model of an upload loaded without its images gets
   * them when `size` is its own (`attached`); otherwise create a model with dataset 'upload'.
   */
  upload(source: UploadSource, size: number): Promise<UploadSummary>;
}

/** Every GanApi method, in the order the worker serves them. */
export const GAN_METHODS = [...SESSION_METHODS, 'snapshot', 'reference', 'upload'] as const satisfies readonly (keyof GanApi)[];
