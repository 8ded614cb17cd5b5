// The contract between the diffusion page and its worker: the session's config (checked field by
// field, ConfigError naming the field), the events the session pushes (status, metrics, sample
// quality, samples, the denoising field), the denoising frames it returns on request, and the
// API the worker exposes through comlink. Plain data that survives structured cloning; typed
// errors travel as WireErrors, as for the transformer's worker (protocol.ts).
// Not here: the session itself (diffusion-session.ts), the comlink glue (diffusion-worker.ts,
// diffusion-client.ts).

import { samplers2D, type Sampler2DName } from '../data/toy2d.js';
import { ConfigError } from '../errors.js';
import type { StepRecord } from '../metrics.js';
import type { NoiseScheduleKind, Prediction } from '../models/diffusion.js';
import type { SamplerKind } from '../models/diffusion-sampler.js';
import type { WireError } from './protocol.js';

/** Half the side of the square of the plane that the page draws and the field's grid covers. */
export const PLANE_EXTENT = 2.5;

export interface DiffusionSessionConfig {
  /** The 2D distribution to learn: 'swissroll' | 'moons' | 'ring' | 'spirals'. */
  dataset: Sampler2DName;
  /** Points drawn once from the distribution: the whole training set. */
  trainPoints: number;
  /** Points drawn with another seed, never trained on, that samples are compared with. */
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
  /** Points per sample (the scatter, the quality figures and the animation). */
  sampleCount: number;
  /** Samples, quality and field every this many steps (0: only on request). */
  sampleEvery: number;
  /** Points per side of the field's grid. */
  fieldGrid: number;
  /** Where a run started with start() stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
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
  lr: 3e-3,
  batch: 256,
  seed: 1,
  emaDecay: 0.99,
  emaEvery: 10,
  sampler: 'ddim',
  sampleSteps: 50,
  sampleCount: 1000,
  sampleEvery: 200,
  fieldGrid: 21,
  totalSteps: 0,
  metricsIntervalMs: 250,
};

/**
 * Fields a checkpoint brings with it (the model, its data, its training settings); the others
 * (how and how often to sample, cadences) stay as the loading page set them.
 */
export const SAVED_KEYS = [
  'dataset', 'trainPoints', 'heldOut', 'schedule', 'prediction', 'timesteps', 'hidden', 'layers', 'lr', 'batch', 'seed', 'emaDecay', 'emaEvery',
] as const satisfies readonly (keyof DiffusionSessionConfig)[];

/** Fields setHyper may change between steps. */
export type DiffusionHyper = Pick<DiffusionSessionConfig, 'lr' | 'sampler' | 'sampleSteps' | 'sampleEvery' | 'totalSteps' | 'metricsIntervalMs'>;
export const HYPER_KEYS: readonly (keyof DiffusionHyper)[] = ['lr', 'sampler', 'sampleSteps', 'sampleEvery', 'totalSteps', 'metricsIntervalMs'];

/** A full config from defaults and overrides; every field checked, before any GPU work. */
export function diffusionSessionConfig(overrides: Partial<DiffusionSessionConfig> = {}): DiffusionSessionConfig {
  const c: DiffusionSessionConfig = { ...diffusionSessionDefaults, ...overrides };
  const fail = (field: keyof DiffusionSessionConfig, want: string): never => {
    throw new ConfigError(`diffusion config: ${field} must be ${want}, got ${JSON.stringify(c[field])}.`);
  };
  const unknown = Object.keys(overrides).filter((k) => !(k in diffusionSessionDefaults));
  if (unknown.length) throw new ConfigError(`diffusion config: unknown field(s) ${unknown.join(', ')}; known: ${Object.keys(diffusionSessionDefaults).join(', ')}.`);
  if (!samplers2D.some((s) => s.name === c.dataset)) fail('dataset', `one of ${samplers2D.map((s) => `'${s.name}'`).join(', ')}`);
  if (c.schedule !== 'linear' && c.schedule !== 'cosine') fail('schedule', "'linear' or 'cosine'");
  if (c.prediction !== 'eps' && c.prediction !== 'v') fail('prediction', "'eps' or 'v'");
  if (c.sampler !== 'ddpm' && c.sampler !== 'ddim') fail('sampler', "'ddpm' or 'ddim'");
  const ints: [keyof DiffusionSessionConfig, number, number][] = [
    ['trainPoints', 1, 1 << 20], ['heldOut', 2, 20_000], ['timesteps', 2, 10_000], ['hidden', 1, 4096], ['layers', 1, 32],
    ['batch', 1, 1 << 16], ['emaEvery', 1, 10_000], ['sampleCount', 2, 20_000], ['fieldGrid', 2, 101],
    ['sampleEvery', 0, Number.MAX_SAFE_INTEGER], ['totalSteps', 0, Number.MAX_SAFE_INTEGER],
  ];
  for (const [k, lo, hi] of ints) {
    const v = c[k] as number;
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) fail(k, `an integer in [${lo}, ${hi}]`);
  }
  if (!(Number.isInteger(c.sampleSteps) && c.sampleSteps >= 1 && c.sampleSteps <= c.timesteps)) fail('sampleSteps', `an integer in [1, ${c.timesteps}] (the timesteps)`);
  if (!(Number.isFinite(c.lr) && c.lr >= 0)) fail('lr', 'a finite number >= 0');
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) fail('emaDecay', 'in [0, 1)');
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  if (!(c.metricsIntervalMs >= 0 && Number.isFinite(c.metricsIntervalMs))) fail('metricsIntervalMs', 'a number >= 0');
  return c;
}

/** 'empty': no model yet; 'paused': a model, not training; 'running': the loop is on. */
export type DiffusionState = 'empty' | 'paused' | 'running';

export interface DiffusionInfo {
  state: DiffusionState;
  /** Training steps completed. */
  step: number;
  /** The config in force; null while 'empty'. */
  config: DiffusionSessionConfig | null;
  /** Parameters of the denoiser (the moving average holds as many again). */
  parameterCount: number;
  /** The adapter, e.g. 'SwiftShader (software)' or a GPU's description. */
  adapter: string;
  /** True on a CPU-emulated adapter: expect slow steps. */
  isSoftware: boolean;
  /** Modes of the dataset that coverage is counted for (8 for 'ring'; 0: not counted). */
  modes: number;
}

export interface DiffusionStatusEvent {
  type: 'status';
  info: DiffusionInfo;
}

/** Step records since the previous metrics event (loss, ms per step, points per second, lr). */
export interface DiffusionMetricsEvent {
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

/** A failure inside the running loop (the loop stops; state becomes 'paused'). */
export interface DiffusionErrorEvent {
  type: 'error';
  error: WireError;
}

export type DiffusionEvent = DiffusionStatusEvent | DiffusionMetricsEvent | QualityEvent | SamplesEvent | FieldEvent | DiffusionErrorEvent;

/** Samples denoising from pure noise to data, one frame per sampler step. */
export interface DenoiseFrames {
  step: number;
  sampler: SamplerKind;
  /** frames[0] is the starting noise; frames[i] the points after step i, each (sampleCount, 2). */
  frames: Float32Array[];
  /** The timestep each frame is at (T for the noise, then the visited timesteps). */
  ts: number[];
}

/** What the diffusion worker exposes; every method may reject with a typed error. */
export interface DiffusionApi {
  /** Data, model, optimizer and plans from the config (the old session stays if this fails); state 'paused'. */
  create(config: Partial<DiffusionSessionConfig>): Promise<DiffusionInfo>;
  /** Starts the loop and resolves at once; progress arrives as events. */
  start(): Promise<void>;
  /** Stops the loop; resolves once the steps in flight are done and their metrics delivered. */
  pause(): Promise<DiffusionInfo>;
  /** Runs n steps while paused; resolves with the last step's loss. */
  step(n: number): Promise<{ step: number; loss: number }>;
  /** New weights from the seed, optimizer and moving average fresh, step 0; pauses first. */
  reset(): Promise<DiffusionInfo>;
  /** Takes effect at the next step or sample. */
  setHyper(hyper: Partial<DiffusionHyper>): Promise<DiffusionInfo>;
  /** Draws a sample now: emits 'samples' and 'quality' and resolves with the samples. */
  sample(): Promise<SamplesEvent>;
  /** The denoising field at timestep t; later periodic fields use this t too. */
  field(t: number): Promise<FieldEvent>;
  /** A fresh sample with every intermediate step, for the animation. */
  frames(): Promise<DenoiseFrames>;
  /** The held-out points (heldOut, 2) that samples are compared with. */
  heldOutPoints(): Promise<Float32Array>;
  /** A safetensors checkpoint: weights, moving average, AdamW state, step, batch position, config. */
  exportCheckpoint(): Promise<Uint8Array>;
  /**
   * Builds the model the file was saved from, loads it, and only then replaces the current one:
   * a file that does not load (CheckpointError) leaves the session as it was.
   */
  importCheckpoint(bytes: Uint8Array): Promise<DiffusionInfo>;
  info(): Promise<DiffusionInfo>;
  /** Calls listener with every event (pass it through comlink.proxy across the worker boundary). */
  subscribe(listener: (event: DiffusionEvent) => void): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /** Frees every GPU buffer; state 'empty'. */
  dispose(): Promise<void>;
}
