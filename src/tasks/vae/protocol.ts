// The contract between the VAE page and its worker: the session's config (checked field by field,
// ConfigError naming the field), the events the session pushes (status; per-step records of the
// two terms of the ELBO and the KL weight; periodic pictures: held-out images beside their
// reconstructions, samples from the prior, and for a 2D latent the encoded means coloured by
// class and a grid decoded over the latent plane; the held-out ELBO and how reconstructions
// compare with the mean image), and the API the worker exposes through comlink, the user's
// images included. Plain data that survives structured cloning; the calls and events every
// session has come from worker/protocol.ts. Images here are in [0, 1], 1 being ink.
// Not here: the session (session.ts), what it builds (run.ts), the model (models/vae.ts), the
// comlink glue (worker.ts, client.ts).

import type { UploadSource, UploadSummary } from '../../data/image-upload.js';
import type { VaeArch, VaeLikelihood } from '../../models/vae.js';
import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';

export type { UploadSource, UploadSummary };

/** Half the side of the square of the latent plane the decoded grid covers (z ~ N(0, I) puts 99% within it). */
export const LATENT_EXTENT = 3;

/** Generated digit images at 16 or 28 pixels (labelled), or the user's own images (not). */
export type VaeDataset = 'glyphs16' | 'glyphs28' | 'upload';
export const VAE_DATASETS: readonly VaeDataset[] = ['glyphs16', 'glyphs28', 'upload'];
export const VAE_ARCHS: readonly VaeArch[] = ['mlp', 'conv'];
export const VAE_LIKELIHOODS: readonly VaeLikelihood[] = ['bernoulli', 'gaussian'];

/** Side of the images of a config. */
export function imageSide(c: Pick<VaeSessionConfig, 'dataset' | 'uploadSize'>): number {
  return c.dataset === 'glyphs16' ? 16 : c.dataset === 'glyphs28' ? 28 : c.uploadSize;
}

export interface VaeSessionConfig {
  /** What to learn: digits ('glyphs16', 'glyphs28') or the user's images ('upload'). */
  dataset: VaeDataset;
  /** 'mlp' or 'conv' (two strided convolutions each way). */
  arch: VaeArch;
  /** Dimensions of z: 2 draws the latent plane (encoded means, a decoded grid), more reconstructs better. */
  latent: number;
  /** MLP: units per hidden layer, and hidden layers on each side. */
  hidden: number;
  layers: number;
  /** Conv: feature channels of the half-resolution map. */
  width: number;
  /** 'bernoulli' (binary cross-entropy on [0, 1] pixels) or 'gaussian' (squared error scaled by sigma). */
  likelihood: VaeLikelihood;
  /** Gaussian: the decoder's standard deviation, in pixel units. */
  sigma: number;
  /**
   * Train and evaluate on binarised pixels: each training image drawn afresh as x ~ Bernoulli(pixel)
   * every time it is batched, the held-out ones once (dynamic binarisation, as the VAE papers'
   * MNIST figures are). Off, the Bernoulli term includes the grey pixels' own entropy, a floor it cannot pass.
   */
  binarize: boolean;
  /** Weight of the KL term after warm-up (1: the ELBO; above 1: a beta-VAE). May change between steps. */
  beta: number;
  /** Steps over which the KL weight ramps linearly from 0 to beta (0: no warm-up). May change between steps. */
  warmupSteps: number;
  /** AdamW learning rate. May change between steps. */
  lr: number;
  /** Images per step. */
  batch: number;
  /** Seed of the weights, the data, the batch order, the per-step noise and the fixed prior samples. */
  seed: number;
  /** 'upload': the side the user's images are shrunk to (a multiple of 4 for the conv variant). */
  uploadSize: number;
  /** Digits: training images, drawn once. */
  trainSize: number;
  /** Held-out images (digits: drawn from another seed, never trained on; upload: the first of the user's) that each picture evaluates. */
  heldOut: number;
  /** Held-out images drawn beside their reconstructions. */
  pictureCount: number;
  /** Samples from the prior, decoded from one fixed set of z. */
  sampleCount: number;
  /** 2D latent: points per side of the grid decoded over [-LATENT_EXTENT, LATENT_EXTENT]². */
  gridSide: number;
  /** Pictures every this many steps (0: only on request). */
  pictureEvery: number;
  /** Steps after which the loop stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many steps (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
}

export const vaeSessionDefaults: VaeSessionConfig = {
  dataset: 'glyphs16',
  arch: 'mlp',
  latent: 2,
  hidden: 256,
  layers: 1,
  width: 16,
  likelihood: 'bernoulli',
  sigma: 0.1,
  binarize: false,
  beta: 1,
  warmupSteps: 200,
  lr: 1e-3,
  batch: 64,
  seed: 1,
  uploadSize: 16,
  trainSize: 4096,
  heldOut: 256,
  pictureCount: 16,
  sampleCount: 32,
  gridSide: 15,
  pictureEvery: 50,
  totalSteps: 0,
  metricsIntervalMs: 250,
  autosaveEvery: 500,
};

/** Fields a checkpoint brings with it (the model, its data and training); the others stay as the page set them. */
export const SAVED_KEYS = [
  'dataset', 'arch', 'latent', 'hidden', 'layers', 'width', 'likelihood', 'sigma', 'binarize', 'beta', 'warmupSteps', 'lr', 'batch', 'seed', 'uploadSize', 'trainSize',
] as const satisfies readonly (keyof VaeSessionConfig)[];

/** Fields setHyper may change between steps. */
export type VaeHyper = Pick<VaeSessionConfig, 'lr' | 'beta' | 'warmupSteps' | 'pictureEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'>;
export const HYPER_KEYS: readonly (keyof VaeHyper)[] = ['lr', 'beta', 'warmupSteps', 'pictureEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery'];

/** A full config from the defaults and the overrides; every field checked, before any GPU work. */
export function vaeSessionConfig(overrides: Partial<VaeSessionConfig> = {}): VaeSessionConfig {
  refuseUnknown('vae', overrides, vaeSessionDefaults);
  const c: VaeSessionConfig = { ...vaeSessionDefaults, ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('vae', c);
  const oneOf = (xs: readonly string[]) => `one of ${xs.map((s) => `'${s}'`).join(', ')}`;
  if (!VAE_DATASETS.includes(c.dataset)) fail('dataset', oneOf(VAE_DATASETS));
  if (!VAE_ARCHS.includes(c.arch)) fail('arch', oneOf(VAE_ARCHS));
  if (!VAE_LIKELIHOODS.includes(c.likelihood)) fail('likelihood', oneOf(VAE_LIKELIHOODS));
  integers([
    ['latent', 1, 512], ['hidden', 1, 4096], ['layers', 1, 8], ['width', 1, 256], ['batch', 1, 4096], ['trainSize', 1, 1 << 18],
    ['heldOut', 1, 4096], ['pictureCount', 1, 256], ['sampleCount', 1, 1024], ['gridSide', 2, 64],
    ['warmupSteps', 0, Number.MAX_SAFE_INTEGER], ['pictureEvery', 0, Number.MAX_SAFE_INTEGER], ['totalSteps', 0, Number.MAX_SAFE_INTEGER],
    ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
  ]);
  if (c.pictureCount > c.heldOut) fail('pictureCount', `at most heldOut (${c.heldOut}): the pictures show held-out images`);
  if (typeof c.binarize !== 'boolean') fail('binarize', 'true or false');
  nonNegative('lr');
  nonNegative('beta');
  if (!(typeof c.sigma === 'number' && Number.isFinite(c.sigma) && c.sigma > 0)) fail('sigma', 'a finite number > 0');
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  if (!(Number.isInteger(c.uploadSize) && c.uploadSize >= 8 && c.uploadSize <= 64 && c.uploadSize % 4 === 0)) fail('uploadSize', 'a multiple of 4 in [8, 64]');
  nonNegative('metricsIntervalMs');
  return c;
}

export interface VaeInfo extends BaseInfo<VaeSessionConfig> {
  /** Parameters of the encoder and decoder together. */
  parameterCount: number;
  /** Image side and channels of the model. */
  size: number;
  channels: number;
  /** Images trained on (0 for an upload's checkpoint loaded without its images). */
  trainImages: number;
  /** True when the pictures' held-out images are training images (the user's images are too few to split). */
  heldOutIsTrain: boolean;
  /** The user's images held by the worker (kept across models), or null. */
  upload: UploadSummary | null;
  /** False for a model of an upload loaded from a checkpoint without its images: it can draw, not train. */
  canTrain: boolean;
}

/** One step; the terms are per-image sums in nats, means over the batch, one draw of z per image. */
export interface VaeStepRecord {
  step: number;
  /** Reconstruction term -E_q[log p(x|z)]. */
  recon: number;
  /** KL(q(z|x) || N(0, I)), closed form. */
  kl: number;
  /** The evidence lower bound -(recon + kl), whatever beta is (a bound on log p(x), higher is better). */
  elbo: number;
  /** The KL weight the step trained with (ramping up during warm-up). */
  beta: number;
  /** What the step minimised: recon + beta kl. */
  loss: number;
  /** Global gradient norm, before clipping. */
  gradNorm: number;
  lr: number;
  /** Wall time between this step's result and the previous one's, in ms. */
  ms: number;
}

/** Records since the previous metrics event, in step order. */
export interface VaeMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: VaeStepRecord[];
}

/** What the model makes of the held-out images, of the prior and, for a 2D latent, of the plane. */
export interface VaePicturesEvent {
  type: 'pictures';
  step: number;
  channels: number;
  size: number;
  /** (pictureCount, C, S, S) held-out images and their reconstructions sigmoid(decode(mu)), in [0, 1]. */
  inputs: Float32Array;
  reconstructions: Float32Array;
  /** (sampleCount, C, S, S) decoded from fixed z ~ N(0, I): successive pictures show the same z. */
  samples: Float32Array;
  /**
   * The held-out images' figures, per-image means in nats (one draw of z from a fixed seed); null,
   * with no inputs or reconstructions, for an upload's model loaded without its images.
   */
  heldOut: {
    count: number;
    recon: number;
    kl: number;
    elbo: number;
    /** Mean squared error per pixel of the reconstructions, and of the mean training image as the prediction. */
    pixelError: number;
    meanImageError: number;
  } | null;
  /** 2D latent only, with held-out images (null otherwise). */
  latent: {
    /** (heldOut, 2) posterior means of the held-out images, and their classes (null for the user's images). */
    mu: Float32Array;
    labels: Int32Array | null;
    /**
     * Images decoded on a side × side grid over [-extent, extent]², row-major with the top row at
     * z2 = +extent and the left column at z1 = -extent: (side², C, S, S).
     */
    grid: { side: number; extent: number; images: Float32Array };
  } | null;
}

export type VaeEvent = CoreEvent<VaeInfo> | VaeMetricsEvent | VaePicturesEvent;

/** What the VAE worker exposes: every session's calls, pictures on request, decoding any z, and uploads. */
export interface VaeApi extends SessionApi<VaeSessionConfig, VaeHyper, VaeInfo, VaeEvent, { step: number; recon: number; kl: number; elbo: number }> {
  /** The pictures now (emitted as an event too). */
  pictures(): Promise<VaePicturesEvent>;
  /** sigmoid(decode(z)) for z (n, latent): (n, C, S, S) in [0, 1]; the page's own points on the plane. */
  decode(z: Float32Array): Promise<Float32Array>;
  /**
   * Takes the user's images, checked and shrunk to `size` in the worker (DataError naming the
   * file, and the images held before stay). A model of an upload loaded without its images gets
   * them when `size` is its own (`attached`); otherwise create a model with dataset 'upload'.
   */
  upload(source: UploadSource, size: number): Promise<UploadSummary>;
}

/** Every VaeApi method, in the order the worker serves them. */
export const VAE_METHODS = [...SESSION_METHODS, 'pictures', 'decode', 'upload'] as const satisfies readonly (keyof VaeApi)[];
