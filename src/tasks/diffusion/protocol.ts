// The contract between the diffusion page and its worker: the session's config (checked field by
// field, ConfigError naming the field), the events the session pushes (status, metrics, sample
// quality, samples, the denoising field; for images: sample grids, their scores and the scorer's
// progress), the denoising frames it returns on request, and the API the worker exposes through
// comlink. Two kinds of data share it: 2D points (an MLP denoiser) and small grayscale images (a
// U-Net: generated glyphs, class-conditional, or the user's own images, unconditional). Plain
// data that survives structured cloning; the calls and events every session has come from
// worker/protocol.ts.
// Not here: the session itself (session.ts), the comlink glue (worker.ts, client.ts).

import { samplers2D } from '../../data/toy2d.js';
import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import type { StepRecord } from '../../metrics.js';
import type { NoiseScheduleKind, Prediction } from '../../models/diffusion.js';
import type { SamplerKind } from '../../models/diffusion-sampler.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';
import {
  imageDatasets, imageSizeOf, isImageDataset, type DataKind, type DiffusionDatasetName, type ImageGridData, type ImageQualityEvent,
  type ImagesEvent, type ScorerEvent, type ScorerStatus, type UploadSource, type UploadSummary,
} from './image-protocol.js';

export * from './image-protocol.js';

export { PLANE_EXTENT } from '../../data/plane.js';

export interface DiffusionSessionConfig {
  /** What to learn: a 2D distribution ('swissroll' | 'moons' | 'ring' | 'spirals') or images ('glyphs16' | 'glyphs28' | 'upload'). */
  dataset: DiffusionDatasetName;
  /** Points (or glyphs) drawn once: the whole training set (an upload brings its own). */
  trainPoints: number;
  /** Points drawn with another seed, never trained on, that samples are compared with; for glyphs, the scorer's held-out glyphs. */
  heldOut: number;
  /** Noise schedule of the forward process. */
  schedule: NoiseScheduleKind;
  /** What the network predicts: the noise (eps) or v. */
  prediction: Prediction;
  /** Diffusion steps T. */
  timesteps: number;
  /** Units per hidden layer of the MLP denoiser. */
  hidden: number;
  /** Hidden layers of the MLP denoiser. */
  layers: number;
  /** Images: U-Net feature channels at full resolution. */
  base: number;
  /** Images: U-Net resolution levels, each halving the side (widths base × 1, 2, 2, ...). */
  levels: number;
  /** Images: the side uploaded images are shrunk to. */
  uploadSize: number;
  /** Images with labels: probability of training without the label, for classifier-free guidance. */
  labelDrop: number;
  /** AdamW learning rate (constant; may change between steps). */
  lr: number;
  /** Points per training step. */
  batch: number;
  /** Seed of the weights, the data, the batches and the noise. */
  seed: number;
  /** Per-step decay of the moving average of the weights that samples are drawn with. */
  emaDecay: number;
  /** Steps between two moving-average updates (each catches up on all of them). */
  emaEvery: number;
  /** 'ddpm' (ancestral, stochastic) or 'ddim' (deterministic). */
  sampler: SamplerKind;
  /** Denoising steps per sample, at most timesteps. */
  sampleSteps: number;
  /** Images with labels: classifier-free guidance scale (0: unconditional, 1: conditional, > 1: guided). */
  guidance: number;
  /** Points per sample (the scatter, the quality figures and the animation). */
  sampleCount: number;
  /** Images: samples per class row of the grid (10 rows, one per digit; an upload's grid has as many in 5 rows). */
  gridColumns: number;
  /** Samples, quality and field every this many steps (0: only on request). */
  sampleEvery: number;
  /** Points per side of the field's grid. */
  fieldGrid: number;
  /** Where a run started with start() stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many steps (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
  /** Glyphs: training steps of the image scorer (trained once per image size in the worker). */
  scorerSteps: number;
  /** Glyphs: images the scorer trains on. */
  scorerImages: number;
}

export const diffusionSessionDefaults: DiffusionSessionConfig = {
  dataset: 'swissroll',
  trainPoints: 8192,
  heldOut: 1000,
  schedule: 'cosine',
  prediction: 'eps',
  timesteps: 100,
  hidden: 128,
  layers: 3,
  base: 32,
  levels: 2,
  uploadSize: 16,
  labelDrop: 0.1,
  lr: 3e-3,
  batch: 256,
  seed: 1,
  emaDecay: 0.99,
  emaEvery: 10,
  sampler: 'ddim',
  sampleSteps: 50,
  guidance: 2,
  sampleCount: 1000,
  gridColumns: 3,
  sampleEvery: 200,
  fieldGrid: 21,
  totalSteps: 0,
  metricsIntervalMs: 250,
  autosaveEvery: 1000,
  scorerSteps: 800,
  scorerImages: 8000,
};

/**
 * Where images differ from points: a U-Net step costs hundreds of times an MLP step, so smaller
 * batches, a gentler rate, fewer sampler steps and rarer samples; and more timesteps, as DDPM
 * uses for images. Applied under the overrides whenever the dataset is an image dataset.
 */
export const imageSessionDefaults: Partial<DiffusionSessionConfig> = {
  timesteps: 400,
  lr: 1e-3,
  batch: 32,
  sampleSteps: 25,
  sampleEvery: 100,
  autosaveEvery: 200,
};

/** The defaults for a dataset: the 2D ones, with the image ones on top for image datasets. */
export function defaultsFor(dataset: string): DiffusionSessionConfig {
  return { ...diffusionSessionDefaults, ...(isImageDataset(dataset) ? imageSessionDefaults : {}) };
}


/**
 * Fields a checkpoint brings with it (the model, its data, its training settings); the others
 * (how and how often to sample, cadences) stay as the loading page set them.
 */
export const SAVED_KEYS = [
  'dataset', 'trainPoints', 'heldOut', 'schedule', 'prediction', 'timesteps', 'hidden', 'layers', 'base', 'levels', 'uploadSize',
  'labelDrop', 'lr', 'batch', 'seed', 'emaDecay', 'emaEvery',
] as const satisfies readonly (keyof DiffusionSessionConfig)[];

/** Fields setHyper may change between steps. */
export type DiffusionHyper = Pick<
  DiffusionSessionConfig, 'lr' | 'sampler' | 'sampleSteps' | 'guidance' | 'sampleEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'
>;
export const HYPER_KEYS: readonly (keyof DiffusionHyper)[] = [
  'lr', 'sampler', 'sampleSteps', 'guidance', 'sampleEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery',
];

/** A full config from defaults and overrides; every field checked, before any GPU work. */
export function diffusionSessionConfig(overrides: Partial<DiffusionSessionConfig> = {}): DiffusionSessionConfig {
  const c: DiffusionSessionConfig = { ...defaultsFor(overrides.dataset ?? diffusionSessionDefaults.dataset), ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('diffusion', c);
  refuseUnknown('diffusion', overrides, diffusionSessionDefaults);
  const names = [...samplers2D, ...imageDatasets].map((s) => s.name);
  if (!names.includes(c.dataset)) fail('dataset', `one of ${names.map((n) => `'${n}'`).join(', ')}`);
  if (c.schedule !== 'linear' && c.schedule !== 'cosine') fail('schedule', "'linear' or 'cosine'");
  if (c.prediction !== 'eps' && c.prediction !== 'v') fail('prediction', "'eps' or 'v'");
  if (c.sampler !== 'ddpm' && c.sampler !== 'ddim') fail('sampler', "'ddpm' or 'ddim'");
  integers([
    ['trainPoints', 1, 1 << 20], ['heldOut', 2, 20_000], ['timesteps', 2, 10_000], ['hidden', 1, 4096], ['layers', 1, 32],
    ['batch', 1, 1 << 16], ['emaEvery', 1, 10_000], ['sampleCount', 2, 20_000], ['fieldGrid', 2, 101],
    ['sampleEvery', 0, Number.MAX_SAFE_INTEGER], ['totalSteps', 0, Number.MAX_SAFE_INTEGER], ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
    ['base', 1, 512], ['levels', 1, 5], ['uploadSize', 8, 64], ['gridColumns', 1, 32], ['scorerSteps', 1, 1_000_000], ['scorerImages', 10, 1_000_000],
  ]);
  if (!(Number.isInteger(c.sampleSteps) && c.sampleSteps >= 1 && c.sampleSteps <= c.timesteps)) fail('sampleSteps', `an integer in [1, ${c.timesteps}] (the timesteps)`);
  nonNegative('lr');
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) fail('emaDecay', 'in [0, 1)');
  if (!(c.labelDrop >= 0 && c.labelDrop < 1)) fail('labelDrop', 'in [0, 1)');
  if (!(Number.isFinite(c.guidance) && c.guidance >= 0 && c.guidance <= 20)) fail('guidance', 'a number in [0, 20]');
  if (isImageDataset(c.dataset)) {
    const side = imageSizeOf(c), scale = 2 ** (c.levels - 1);
    if (side % scale !== 0) fail('levels', `at most what the image side allows: ${side} px is not divisible by 2^(levels - 1) = ${scale}`);
  }
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  nonNegative('metricsIntervalMs');
  return c;
}

export interface DiffusionInfo extends BaseInfo<DiffusionSessionConfig> {
  /** Parameters of the denoiser (the moving average holds as many again). */
  parameterCount: number;
  /** Modes of the dataset that coverage is counted for (8 for 'ring'; 0: not counted). */
  modes: number;
  /** What the model learns: 2D points or images. */
  kind: DataKind;
  /** Images: their side, classes (0: unlabelled), training images, and the sample grid's shape. */
  images: { size: number; classes: number; trainImages: number; rows: number; cols: number; canTrain: boolean } | null;
  /** Glyphs: the scorer for this image size (null: none, as for points and uploads). */
  scorer: ScorerStatus | null;
  /** The upload the worker holds, if any. */
  upload: UploadSummary | null;
}



/** Step records since the previous metrics event (loss, ms per step, points per second, lr). */
export interface DiffusionMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: StepRecord[];
}

/** How far a sample is from the held-out data. */
export interface QualityEvent {
  type: 'quality';
  step: number;
  /** Squared MMD with a mixture of Gaussian kernels (0 for the same distribution). */
  mmd: number;
  /** Sliced 2-Wasserstein distance, in data units. */
  slicedWasserstein: number;
  /** For 'ring': modes with a fair share of the samples, and the share of samples near any mode. */
  modes: { covered: number; of: number; nearMode: number } | null;
}

export interface SamplesEvent {
  type: 'samples';
  step: number;
  /** (sampleCount, 2), drawn with the moving-average weights from the session's fixed noise seed. */
  points: Float32Array;
  sampler: SamplerKind;
  steps: number;
}

/** The learned denoising field: for each grid point x, the model's estimate of the clean x0 at timestep t. */
export interface FieldEvent {
  type: 'field';
  step: number;
  t: number;
  /** alphaBar_t: the share of signal variance left in x_t. */
  alphaBar: number;
  /** (fieldGrid², 2) points on a square grid over [-PLANE_EXTENT, PLANE_EXTENT]². */
  grid: Float32Array;
  /** (fieldGrid², 2) estimates of x0 at each grid point. */
  x0: Float32Array;
}

export type DiffusionEvent =
  | CoreEvent<DiffusionInfo> | DiffusionMetricsEvent | QualityEvent | SamplesEvent | FieldEvent | ImagesEvent | ImageQualityEvent | ScorerEvent;

/** Samples denoising from pure noise to data, one frame per sampler step. */
export interface DenoiseFrames {
  step: number;
  sampler: SamplerKind;
  /** frames[0] is the starting noise; frames[i] the points after step i, each (sampleCount, 2), or the grid's images. */
  frames: Float32Array[];
  /** The timestep each frame is at (T for the noise, then the visited timesteps). */
  ts: number[];
  /** For images: the grid the frames are laid out as (labels, size, rows, cols); null for points. */
  grid: Omit<ImageGridData, 'images'> | null;
}

/** What the diffusion worker exposes: every session's calls, samples, the field, frames and uploads. */
export interface DiffusionApi
  extends SessionApi<DiffusionSessionConfig, DiffusionHyper, DiffusionInfo, DiffusionEvent, { step: number; loss: number }>
{
  /** Draws a sample now: emits 'samples' and 'quality' (images: 'images' and 'imageQuality') and resolves with it. */
  sample(): Promise<SamplesEvent | ImagesEvent>;
  /** Points only: the denoising field at timestep t; later periodic fields use this t too. */
  field(t: number): Promise<FieldEvent>;
  /** A fresh sample with every intermediate step, for the animation. */
  frames(): Promise<DenoiseFrames>;
  /** Points only: the held-out points (heldOut, 2) that samples are compared with. */
  heldOutPoints(): Promise<Float32Array>;
  /** Images only: training images laid out as the sample grid is (a row per class). */
  dataGrid(): Promise<ImageGridData>;
  /**
   * Takes the user's images for the 'upload' dataset, shrunk to `size`: DataError (with its reason)
   * when there are none, a file is not an image or cannot be decoded, there are too few or too
   * many; the held upload and the model stay as they were then. Build with dataset 'upload' next.
   */
  upload(source: UploadSource, size: number): Promise<UploadSummary>;
}

/** Every DiffusionApi method, in the order the worker serves them. */
export const DIFFUSION_METHODS = [
  ...SESSION_METHODS, 'sample', 'field', 'frames', 'heldOutPoints', 'dataGrid', 'upload',
] as const satisfies readonly (keyof DiffusionApi)[];
