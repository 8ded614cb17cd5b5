// Denoising diffusion (DDPM, Ho et al. 2020) around any denoiser: the noise schedules (linear,
// cosine), the forward process q(x_t | x_0) run on the GPU inside the training step, the ε- or
// v-prediction MSE objective, an exponential moving average of the weights for sampling, and
// one sampler that is ancestral DDPM at eta = 1 and deterministic DDIM at eta = 0, over any
// subsequence of the timesteps, with classifier-free guidance for class-conditional models.
// Each training step feeds only the clean batch, the timesteps and a seed: the noise is drawn
// on the GPU, so the same compiled step replays every step.
// Not here: the denoisers themselves (denoiser-mlp.ts, unet.ts), data, or quality metrics.

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Feeds, Plan } from '../executor.js';
import { createOptimizer, type FusedOptimizer, type OptimizerConfig } from '../optim/fused.js';
import { add, mul, sub } from '../ops/binary.js';
import { embedding } from '../ops/embedding.js';
import { mse } from '../ops/losses.js';
import { randomNormal } from '../ops/random.js';
import { reshape } from '../ops/shape.js';
import { constant, input, parameter, type Tensor } from '../tensor.js';
import { SeededRandom } from '../data/random.js';

export type NoiseScheduleKind = 'linear' | 'cosine';
export type Prediction = 'eps' | 'v';

/** The variance schedule: beta_t for t = 0..T-1 and the products alphaBar_t = prod (1 - beta_s), s <= t. */
export interface NoiseSchedule {
  kind: NoiseScheduleKind;
  betas: Float64Array;
  alphaBar: Float64Array;
}

/**
 * 'linear': betas from 1e-4 to 0.02 as in DDPM at T = 1000, both ends scaled by 1000 / T so that
 * shorter chains still end near pure noise. 'cosine': alphaBar_t = f(t) / f(0) with
 * f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), s = 0.008, betas capped at 0.999 (Nichol & Dhariwal 2021).
 */
export function noiseSchedule(kind: NoiseScheduleKind, T: number): NoiseSchedule {
  if (!(Number.isInteger(T) && T >= 2)) throw new ConfigError(`noiseSchedule: timesteps must be an integer >= 2, got ${T}.`);
  const betas = new Float64Array(T);
  if (kind === 'linear') {
    const lo = 1e-4 * (1000 / T), hi = Math.min(0.02 * (1000 / T), 0.999);
    for (let t = 0; t < T; t++) betas[t] = lo + ((hi - lo) * t) / (T - 1);
  } else if (kind === 'cosine') {
    const f = (t: number) => Math.cos(((t / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (let t = 0; t < T; t++) betas[t] = Math.min(1 - f(t + 1) / f(t), 0.999);
  } else {
    throw new ConfigError(`noiseSchedule: kind must be 'linear' or 'cosine', got '${String(kind)}'.`);
  }
  const alphaBar = new Float64Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) alphaBar[t] = prod *= 1 - betas[t];
  return { kind, betas, alphaBar };
}

/** Sinusoidal embeddings of t = 0..T-1 (Transformer positions): row t is [sin(t w_i), cos(t w_i)], w_i = 10000^(-i / (E/2)). */
export function sinusoidTable(T: number, E: number): Float32Array {
  if (E % 2 !== 0) throw new ConfigError(`timestepTable: the embedding width must be even, got ${E}.`);
  const half = E / 2;
  const data = new Float32Array(T * E);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const w = Math.exp((-Math.log(10000) * i) / half);
      data[t * E + i] = Math.sin(t * w);
      data[t * E + half + i] = Math.cos(t * w);
    }
  }
  return data;
}

/** The sinusoidal table as a constant (T, E) tensor, as the denoisers look timesteps up in it. */
export function timestepTable(T: number, E: number): Tensor {
  return constant(sinusoidTable(T, E), [T, E]);
}

/**
 * A network that predicts the noise (or v) in x_t. `predict` is pure in its weights so the same
 * architecture runs with the trained weights or with their moving average.
 */
export interface Denoiser {
  /** The shape of one sample, without the batch axis ([2] for points, [1, 16, 16] for images). */
  readonly sampleShape: number[];
  /** Classes of the conditioning label; 0 for an unconditional model. Label `classes` means "no label". */
  readonly classes: number;
  /** Diffusion steps T the timestep embedding covers. */
  readonly timesteps: number;
  /** Parameters by state_dict name. */
  readonly weights: Record<string, Tensor>;
  /** The prediction for x_t (B, ...sampleShape) at steps t (B) i32, with labels (B) i32 when conditional. */
  predict(weights: Record<string, Tensor>, xt: Tensor, t: Tensor, label: Tensor | null): Tensor;
}

export interface DiffusionConfig {
  /** Noise schedule over the denoiser's timesteps. */
  schedule: NoiseScheduleKind;
  /** What the network predicts: the noise (eps) or v = sqrt(alphaBar) eps - sqrt(1 - alphaBar) x_0. */
  prediction: Prediction;
  /** Probability of replacing the label by "no label" while training, so guidance can be used. */
  labelDrop: number;
  /** Decay of the moving average of the weights used for sampling. */
  emaDecay: number;
  /** The fused optimizer; default AdamW at 1e-3, no weight decay, clip 1. */
  optimizer: OptimizerConfig;
}

export const diffusionDefaults: DiffusionConfig = {
  schedule: 'cosine',
  prediction: 'eps',
  labelDrop: 0.1,
  emaDecay: 0.995,
  optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0, maxGradNorm: 1 },
};

export function diffusionConfig(overrides: Partial<DiffusionConfig> = {}): DiffusionConfig {
  const c = { ...diffusionDefaults, ...overrides };
  if (c.schedule !== 'linear' && c.schedule !== 'cosine') throw new ConfigError(`diffusion: schedule must be 'linear' or 'cosine', got '${String(c.schedule)}'.`);
  if (c.prediction !== 'eps' && c.prediction !== 'v') throw new ConfigError(`diffusion: prediction must be 'eps' or 'v', got '${String(c.prediction)}'.`);
  if (!(c.labelDrop >= 0 && c.labelDrop < 1)) throw new ConfigError(`diffusion: labelDrop must be in [0, 1), got ${c.labelDrop}.`);
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) throw new ConfigError(`diffusion: emaDecay must be in [0, 1), got ${c.emaDecay}.`);
  return c;
}

/** A (T, 1) table of per-step scalars, gathered by t on the GPU. */
const table = (values: Float64Array) => constant(Float32Array.from(values), [values.length, 1]);

/** (B, 1, ..., 1): a per-sample scalar that broadcasts against (B, ...sampleShape). */
const perSample = (v: Tensor, rank: number) => reshape(v, [v.shape[0], ...Array(rank).fill(1)]);

/** A model, its schedule, the moving average of its weights, and the compiled training step. */
export class Diffusion {
  readonly schedule: NoiseSchedule;
  /** The moving average of `denoiser.weights`, by the same names prefixed 'ema.'. */
  readonly emaWeights: Record<string, Tensor>;
  /** Training steps run. */
  steps = 0;
  /** Draws timesteps, dropped labels and noise seeds; its `state` goes into checkpoints. */
  readonly rng: SeededRandom;

  private constructor(
    readonly engine: Engine,
    readonly denoiser: Denoiser,
    readonly config: DiffusionConfig,
    readonly batch: number,
    readonly plan: Plan,
    readonly optimizer: FusedOptimizer,
    private emaPlan: Plan,
    emaWeights: Record<string, Tensor>,
    seed: number,
  ) {
    this.schedule = noiseSchedule(config.schedule, denoiser.timesteps);
    this.emaWeights = emaWeights;
    this.rng = new SeededRandom(seed);
  }

  /**
   * Compiles the training step for batches of `batch` samples and the moving-average update.
   * The moving average starts from the initial weights (the same seeded fills).
   */
  static async create(engine: Engine, denoiser: Denoiser, batch: number, overrides: Partial<DiffusionConfig> = {}, seed = 1): Promise<Diffusion> {
    const config = diffusionConfig(overrides);
    const { alphaBar } = noiseSchedule(config.schedule, denoiser.timesteps);
    const rank = denoiser.sampleShape.length;
    const x0 = input('x0', [batch, ...denoiser.sampleShape]);
    const t = input('t', [batch], 'i32');
    const label = denoiser.classes > 0 ? input('label', [batch], 'i32') : null;
    const noiseSeed = input('seed', [], 'i32');
    // q(x_t | x_0): x_t = sqrt(alphaBar_t) x_0 + sqrt(1 - alphaBar_t) eps, eps ~ N(0, I) drawn here.
    const signal = perSample(embedding(table(alphaBar.map(Math.sqrt)), t), rank); // (B, 1, ...)
    const noise = perSample(embedding(table(alphaBar.map((a) => Math.sqrt(1 - a))), t), rank);
    const eps = randomNormal(x0.shape, noiseSeed);
    const xt = add(mul(x0, signal), mul(eps, noise));
    const target = config.prediction === 'eps' ? eps : sub(mul(eps, signal), mul(x0, noise));
    const loss = mse(denoiser.predict(denoiser.weights, xt, t, label), target);
    const params = Object.values(denoiser.weights);
    const optimizer = await createOptimizer(engine, params, config.optimizer);
    const plan = await engine.compile({ outputs: { loss }, optimizer: optimizer.minimize(loss), label: 'the training step' });

    const emaWeights = Object.fromEntries(
      Object.entries(denoiser.weights).map(([name, p]) => {
        const src = p.source;
        return [name, parameter(`ema.${name}`, src.kind === 'parameter' ? src.init : p, p.shape)];
      }),
    );
    const decay = input('decay', []);
    const emaPlan = await engine.compile({
      updates: Object.entries(emaWeights).map(([name, e]) => [e, add(e, mul(sub(denoiser.weights[name], e), decay))]),
      label: 'the moving average',
    });
    return new Diffusion(engine, denoiser, config, batch, plan, optimizer, emaPlan, emaWeights, seed);
  }

  /**
   * One step on clean samples x0 (batch, ...sampleShape) with their labels when conditional.
   * Timesteps, dropped labels and the noise seed are drawn here. With `read`, resolves to the loss.
   */
  async step(x0: Float32Array, labels?: Int32Array, read = true): Promise<number | null> {
    const { batch, denoiser } = this;
    const T = denoiser.timesteps;
    const t = Int32Array.from({ length: batch }, () => Math.min(T - 1, Math.floor(this.rng.next() * T)));
    const feeds: Feeds = { x0, t, seed: (this.rng.next() * 2 ** 31) | 0 };
    if (denoiser.classes > 0) {
      if (!labels || labels.length !== batch) throw new InputError(`Diffusion.step: a conditional model needs ${batch} labels, got ${labels?.length ?? 'none'}.`);
      feeds['label'] = labels.map((l) => (this.rng.next() < this.config.labelDrop ? denoiser.classes : l));
    }
    this.steps++;
    const out = await this.plan.run(feeds, read ? ['loss'] : []);
    return read ? out['loss'][0] : null;
  }

  /**
   * ema <- ema + (1 - decay^every) (w - ema): called every `every` steps it tracks the moving
   * average a per-step update would, at a fraction of the dispatches.
   */
  async updateEma(every = 1): Promise<void> {
    await this.emaPlan.run({ decay: 1 - this.config.emaDecay ** every }, []);
  }

  /** Copies the current weights into the moving average (after loading a checkpoint without one). */
  async resetEma(): Promise<void> {
    for (const [name, p] of Object.entries(this.denoiser.weights)) {
      await this.engine.writeParameter(this.emaWeights[name], await this.engine.readParameter(p));
    }
  }

  dispose(): void {
    this.plan.dispose();
    this.emaPlan.dispose();
    this.optimizer.dispose();
  }
}
