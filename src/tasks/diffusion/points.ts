// What one diffusion session on 2D points holds and everything done to it outside the training
// loop: building the data (a training set and a held-out set), the MLP denoiser, the diffusion
// model and its two samplers from a checked config; drawing samples and scoring them against the
// held-out set; the denoising field on a grid. And what every session shares, points or images:
// the seeds, freeing a model, and the checkpoint's contents, written and read back into a freshly
// built model (the caller swaps it in only once the load succeeded).
// Not here: the loop, events and API (session.ts), images (images.ts), the
// model (models/diffusion*.ts).

import { loadCheckpoint, STATE_PREFIX, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { SeededRandom } from '../../data/random.js';
import { modeCoverage, ringCentres, sample2D } from '../../data/toy2d.js';
import type { Engine } from '../../engine.js';
import { ConfigError, NonFiniteError } from '../../errors.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import { squareGrid } from '../../data/plane.js';
import { mmd, slicedWasserstein } from '../../eval/distance.js';
import type { TrainingMetrics } from '../../metrics.js';
import { createMlpDenoiser } from '../../models/denoiser-mlp.js';
import { Diffusion, type Denoiser } from '../../models/diffusion.js';
import { DiffusionSampler } from '../../models/diffusion-sampler.js';
import type { Tensor } from '../../tensor.js';
import {
  defaultsFor, diffusionSessionConfig, imageSessionDefaults, isImageDataset, SAVED_KEYS, type DenoiseFrames,
  type DiffusionSessionConfig, type FieldEvent, type QualityEvent, type SamplesEvent,
} from './protocol.js';

// Seeds derived from the config's, so weights, data, batch order and noise draw separate streams.
// The held-out set does not depend on the seed: every run is measured against the same points.
export const trainSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x51ed) >>> 0;
export const batchSeed = (seed: number) => (seed ^ 0x5bd1e995) >>> 0;
export const noiseSeed = (seed: number) => (seed ^ 0x2545f491) >>> 0;
/** One noise seed for every sample of a run: successive samples show the same noise becoming data. */
export const sampleSeed = (seed: number) => (seed ^ 0x68e31da4) | 0;
const HELD_OUT_SEED = 0x7e57_0001;

/** What every session holds, points or images. */
export interface SessionBase {
  config: DiffusionSessionConfig;
  /** The learning rate the optimizer reads at every step: setHyper changes it in place. */
  live: { lr: number };
  diffusion: Diffusion;
  /** The batch order; its state goes into checkpoints. */
  batches: SeededRandom;
  metrics: TrainingMetrics;
}

/** Everything built from one config of 2D points. */
export interface PointSession extends SessionBase {
  kind: 'points';
  train: Float32Array;
  heldOut: Float32Array;
  /** Draws sampleCount points. */
  sampler: DiffusionSampler;
  /** Denoises the field's grid. */
  fieldSampler: DiffusionSampler;
  grid: Float32Array;
  /** The timestep of the field events. */
  fieldT: number;
  /** The batch being filled. */
  x0: Float32Array;
}

/** The diffusion model of `config` around `denoiser`; its AdamW reads the learning rate from `live`. */
export function createDiffusion(
  engine: Engine, denoiser: Denoiser, config: DiffusionSessionConfig, live: { lr: number }, labelDrop: number,
): Promise<Diffusion> {
  return Diffusion.create(engine, denoiser, config.batch, {
    schedule: config.schedule,
    prediction: config.prediction,
    emaDecay: config.emaDecay,
    labelDrop,
    optimizer: { kind: 'adamw', lr: () => live.lr, weightDecay: 0, maxGradNorm: 1 },
  }, noiseSeed(config.seed));
}

/** Data, model and plans for `config`, weights fresh from its seed. */
export async function buildSession(engine: Engine, config: DiffusionSessionConfig, metrics: TrainingMetrics): Promise<PointSession> {
  const name = config.dataset;
  if (isImageDataset(name)) throw new ConfigError(`buildSession: '${name}' holds images; build it with buildImageSession.`);
  const train = sample2D(name, config.trainPoints, trainSeed(config.seed));
  const heldOut = sample2D(name, config.heldOut, HELD_OUT_SEED);
  const live = { lr: config.lr };
  const denoiser = createMlpDenoiser({ dims: 2, hidden: config.hidden, layers: config.layers, timesteps: config.timesteps, seed: config.seed });
  const made: { dispose(): void }[] = [];
  try {
    const diffusion = await createDiffusion(engine, denoiser, config, live, 0);
    made.push({ dispose: () => freeModel(engine, diffusion) });
    const sampler = await DiffusionSampler.create(engine, diffusion, config.sampleCount);
    made.push(sampler);
    const fieldSampler = await DiffusionSampler.create(engine, diffusion, config.fieldGrid ** 2);
    return {
      kind: 'points', config, live, train, heldOut, diffusion, sampler, fieldSampler, grid: squareGrid(config.fieldGrid),
      fieldT: Math.round(config.timesteps / 5), batches: new SeededRandom(batchSeed(config.seed)),
      x0: new Float32Array(config.batch * 2), metrics,
    };
  } catch (e) {
    for (const m of made.reverse()) m.dispose();
    throw e;
  }
}

/** Frees every GPU buffer of a session: plans, optimizer state, weights and their average. */
export function freeSession(engine: Engine, s: PointSession): void {
  s.sampler.dispose();
  s.fieldSampler.dispose();
  freeModel(engine, s.diffusion);
}

export function freeModel(engine: Engine, d: Diffusion): void {
  d.dispose();
  for (const p of [...Object.values(d.denoiser.weights), ...Object.values(d.emaWeights)]) engine.freeParameter(p);
}

/** A diverged run stops with a NonFiniteError rather than drawing NaNs. */
export function checkLoss(loss: number, step: number): void {
  if (!Number.isFinite(loss)) {
    throw new NonFiniteError(`The loss became ${loss} by step ${step}: the learning rate is too high for this model. Lower it and reset.`, 'loss');
  }
}

/** Fills the session's batch buffer with the next `batch` training points of its batch order. */
export function nextBatch(s: PointSession): Float32Array {
  const n = s.train.length / 2;
  for (let i = 0; i < s.config.batch; i++) {
    const k = Math.min(n - 1, Math.floor(s.batches.next() * n));
    s.x0[2 * i] = s.train[2 * k];
    s.x0[2 * i + 1] = s.train[2 * k + 1];
  }
  return s.x0;
}

// ---------------------------------------------------------------------------------------------
// looking at the model

/** sampleCount points drawn with the moving-average weights; `onStep` sees every intermediate x. */
export async function drawSamples(s: PointSession, onStep?: (x: Float32Array, t: number) => void): Promise<SamplesEvent> {
  const { sampler, sampleSteps: steps, seed } = s.config;
  const points = await s.sampler.sample({ sampler, steps, seed: sampleSeed(seed), onStep: onStep && ((x, _i, t) => onStep(x, t)) });
  return { type: 'samples', step: s.diffusion.steps, points, sampler, steps };
}

/** What `draw` draws, with every intermediate step it shows its callback (the frames) and their timesteps. */
export async function withFrames<E>(draw: (onStep: (x: Float32Array, t: number) => void) => Promise<E>) {
  const frames: Float32Array[] = [];
  const ts: number[] = [];
  const drawn = await draw((x, t) => {
    frames.push(x);
    ts.push(t);
  });
  return { drawn, frames, ts };
}

/** The samples again, with every step from the noise on. */
export async function denoiseFrames(s: PointSession): Promise<DenoiseFrames> {
  const { drawn, frames, ts } = await withFrames((onStep) => drawSamples(s, onStep));
  return { step: drawn.step, sampler: drawn.sampler, frames, ts, grid: null };
}

/** How far samples are from the held-out set; a diverged model's NaNs come out as NaN distances. */
export function quality(s: PointSession, e: SamplesEvent): QualityEvent {
  const q: QualityEvent = {
    type: 'quality',
    step: e.step,
    mmd: mmd(e.points, s.heldOut, 2),
    slicedWasserstein: slicedWasserstein(e.points, s.heldOut, 2, { projections: 64 }),
    modes: null,
  };
  if (s.config.dataset === 'ring') {
    const c = modeCoverage(e.points, ringCentres());
    q.modes = { covered: c.covered, of: c.counts.length, nearMode: c.highQuality };
  }
  return q;
}

/** The model's estimate of x0 at every grid point, at the session's field timestep. */
export async function denoisingField(s: PointSession): Promise<FieldEvent> {
  const t = s.fieldT;
  const x0 = await s.fieldSampler.denoise(s.grid, t);
  return { type: 'field', step: s.diffusion.steps, t, alphaBar: s.diffusion.schedule.alphaBar[t], grid: s.grid, x0 };
}

// ---------------------------------------------------------------------------------------------
// checkpoints

/** The moving-average weights under their names in a checkpoint: 'ema.' + the weight's name. */
function emaByName(d: Diffusion): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(d.emaWeights).map(([name, t]) => [`ema.${name}`, t]));
}

export async function checkpointContents(s: SessionBase): Promise<CheckpointContents> {
  const { diffusion } = s;
  return {
    params: { ...diffusion.denoiser.weights, ...emaByName(diffusion) },
    state: await diffusion.optimizer.readState(),
    step: diffusion.steps,
    rng: { batches: s.batches.state, diffusion: diffusion.rng.state },
    config: { diffusion: s.config },
  };
}

/**
 * The config to build for a checkpoint: its model and training fields (SAVED_KEYS) over `base`
 * (the current config: sampling and cadences stay the page's). A file without a diffusion config
 * is loaded into a model like the current one.
 */
export function savedConfig(meta: Record<string, string>, base: DiffusionSessionConfig | null): DiffusionSessionConfig {
  const theirs = savedSection<DiffusionSessionConfig>(meta, 'diffusion', base);
  const picked = pickSaved(theirs, SAVED_KEYS);
  // From points to images or back, the page's sampling settings give way to the new kind's defaults.
  const kindOf = (d: string | undefined) => (d !== undefined && isImageDataset(d) ? 'images' : 'points');
  const crossing = base && picked.dataset !== undefined && kindOf(base.dataset) !== kindOf(picked.dataset);
  const kindDefaults = crossing ? pickSaved(defaultsFor(picked.dataset!), Object.keys(imageSessionDefaults) as (keyof DiffusionSessionConfig)[]) : {};
  const merged = { ...base, ...kindDefaults, ...picked };
  return usableConfig(() => diffusionSessionConfig({ ...merged, sampleSteps: Math.min(merged.sampleSteps ?? 50, merged.timesteps ?? 100) }));
}

/**
 * Weights, moving average and optimizer state into a freshly built session, every entry checked
 * before the first is written. A file without a moving average starts it from the loaded
 * weights; one without optimizer state starts AdamW afresh.
 */
export async function loadInto(engine: Engine, s: SessionBase, bytes: Uint8Array, names: Iterable<string>): Promise<void> {
  const { diffusion } = s;
  const all = [...names];
  const hasEma = all.some((n) => n.startsWith('ema.'));
  const hasState = all.some((n) => n.startsWith(STATE_PREFIX));
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  for (const [name, p] of Object.entries(diffusion.denoiser.weights)) {
    for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${name}`] = new Float32Array(p.size);
  }
  const params = { ...diffusion.denoiser.weights, ...(hasEma ? emaByName(diffusion) : {}) };
  const loaded = await loadCheckpoint(engine, bytes, { params, state: hasState ? state : {} });
  if (hasState) await diffusion.optimizer.writeState(state);
  if (!hasEma) await diffusion.resetEma();
  const step = loaded.step ?? 0;
  diffusion.steps = step;
  diffusion.optimizer.step = step;
  // Both generators resume where they were, so the run continues as it would have.
  const { batches, diffusion: noise } = loaded.rng ?? {};
  if (batches !== undefined) s.batches.state = batches >>> 0;
  if (noise !== undefined) diffusion.rng.state = noise >>> 0;
}
