// Sampling from a trained diffusion model: one compiled plan per sample count that takes x_t to
// the next x along a subsequence of the timesteps, replayed from pure noise to data. The update
// is DDIM's (Song et al. 2021) with its eta: eta = 1 is ancestral DDPM sampling (the posterior
// variance; over all T steps exactly DDPM's sampler), eta = 0 the deterministic DDIM sampler,
// which stays good with a few dozen steps. Conditional models sample with classifier-free
// guidance (Ho & Salimans 2022): out = uncond + w (cond - uncond).
// Not here: training (diffusion.ts) or the networks (denoiser-mlp.ts, unet.ts).

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Feeds, Plan } from '../executor.js';
import { add, mul, sub } from '../ops/binary.js';
import { randomNormal } from '../ops/random.js';
import { input, type Tensor } from '../tensor.js';
import type { Diffusion } from './diffusion.js';

export type SamplerKind = 'ddpm' | 'ddim';

export interface DiffusionSampleOptions {
  /** 'ddpm' (ancestral, eta 1) or 'ddim' (deterministic, eta 0). */
  sampler: SamplerKind;
  /** Denoising steps, at most the model's timesteps; evenly spaced over them. */
  steps: number;
  /** Seed of the starting noise and of every step's fresh noise. */
  seed: number;
  /** Class of each sample for a conditional model (default: i mod classes). */
  labels?: Int32Array;
  /** Classifier-free guidance scale w (1: the conditional prediction alone). */
  guidance?: number;
  /** Called with x after each step (and with the starting noise first), for animations. */
  onStep?: (x: Float32Array, step: number, t: number) => void | Promise<void>;
}

/**
 * The timesteps visited, descending: 0, T/steps, 2 T/steps, ... (DDIM's uniform skip), so all T
 * steps with steps = T. Fewer steps start below T - 1 on purpose: where the cosine schedule's
 * last alphaBar is ~1e-7, a deterministic step from there would multiply the prediction's error
 * by 1 / sqrt(alphaBar).
 */
export function samplingTimesteps(T: number, steps: number): number[] {
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= T)) {
    throw new ConfigError(`sampling steps must be an integer in [1, ${T}] (the model's timesteps), got ${steps}.`);
  }
  return Array.from({ length: steps }, (_, i) => Math.floor(((steps - 1 - i) * T) / steps));
}

/**
 * Coefficients of x_next = ca x + cb out + cc z and x0 = da x + db out, for the network output
 * `out` at alphaBar `at` stepping to alphaBar `ap` (1 after the last step).
 */
export function stepCoefficients(at: number, ap: number, eta: number, prediction: 'eps' | 'v') {
  const sigma = eta * Math.sqrt(((1 - ap) / (1 - at)) * (1 - at / ap));
  const a = Math.sqrt(ap / at);
  const b = Math.sqrt(Math.max(0, 1 - ap - sigma * sigma)) - Math.sqrt(ap) * Math.sqrt((1 - at) / at);
  if (prediction === 'eps') {
    return { ca: a, cb: b, cc: sigma, da: 1 / Math.sqrt(at), db: -Math.sqrt((1 - at) / at) };
  }
  // v = sqrt(at) eps - sqrt(1 - at) x0, so eps = sqrt(at) v + sqrt(1 - at) x and x0 = sqrt(at) x - sqrt(1 - at) v.
  return { ca: a + b * Math.sqrt(1 - at), cb: b * Math.sqrt(at), cc: sigma, da: Math.sqrt(at), db: -Math.sqrt(1 - at) };
}

export class DiffusionSampler {
  private constructor(
    readonly diffusion: Diffusion,
    readonly n: number,
    private plan: Plan,
  ) {}

  /** Compiles the step for `n` samples, with the moving-average weights (default) or the trained ones. */
  static async create(engine: Engine, diffusion: Diffusion, n: number, opts: { ema?: boolean } = {}): Promise<DiffusionSampler> {
    const { denoiser } = diffusion;
    const weights = opts.ema === false ? denoiser.weights : diffusion.emaWeights;
    const shape = [n, ...denoiser.sampleShape];
    const x = input('x', shape);
    const t = input('t', [n], 'i32');
    const scalar = (name: string) => input(name, []);
    let out: Tensor;
    if (denoiser.classes > 0) {
      const label = input('label', [n], 'i32');
      const cond = denoiser.predict(weights, x, t, label);
      const uncond = denoiser.predict(weights, x, t, input('nolabel', [n], 'i32'));
      out = add(uncond, mul(sub(cond, uncond), scalar('guidance')));
    } else {
      out = denoiser.predict(weights, x, t, null);
    }
    const z = randomNormal(shape, input('seed', [], 'i32'));
    const next = add(add(mul(x, scalar('ca')), mul(out, scalar('cb'))), mul(z, scalar('cc')));
    const x0 = add(mul(x, scalar('da')), mul(out, scalar('db')));
    return new DiffusionSampler(diffusion, n, await engine.compile({ outputs: { x: next, x0 }, label: 'sampling' }));
  }

  private labelFeeds(labels: Int32Array | undefined, guidance: number): Feeds {
    const { classes } = this.diffusion.denoiser;
    if (classes === 0) return {};
    if (labels && labels.length !== this.n) throw new InputError(`sample: ${this.n} labels needed, got ${labels.length}.`);
    if (labels?.some((l) => !(l >= 0 && l < classes))) throw new InputError(`sample: labels must be in [0, ${classes - 1}].`);
    return {
      label: labels ?? Int32Array.from({ length: this.n }, (_, i) => i % classes),
      nolabel: new Int32Array(this.n).fill(classes),
      guidance,
    };
  }

  /** Draws n samples: pure noise, then `steps` denoising steps. Returns (n, ...sampleShape). */
  async sample(opts: DiffusionSampleOptions): Promise<Float32Array> {
    const { diffusion, n } = this;
    const { denoiser, schedule, config } = diffusion;
    if (opts.sampler !== 'ddpm' && opts.sampler !== 'ddim') throw new ConfigError(`sample: sampler must be 'ddpm' or 'ddim', got '${String(opts.sampler)}'.`);
    const eta = opts.sampler === 'ddpm' ? 1 : 0;
    const ts = samplingTimesteps(denoiser.timesteps, opts.steps);
    const fixed = this.labelFeeds(opts.labels, opts.guidance ?? 1);
    let x = (await diffusion.engine.read(randomNormal([n, ...denoiser.sampleShape], opts.seed | 0))) as Float32Array;
    await opts.onStep?.(x, 0, denoiser.timesteps);
    for (let i = 0; i < ts.length; i++) {
      const at = schedule.alphaBar[ts[i]];
      const ap = i + 1 < ts.length ? schedule.alphaBar[ts[i + 1]] : 1;
      const { ca, cb, cc } = stepCoefficients(at, ap, eta, config.prediction);
      const seed = (Math.imul(opts.seed | 0, 0x9e3779b1) ^ (i + 1)) | 0;
      const r = await this.plan.run({ ...fixed, x, t: new Int32Array(n).fill(ts[i]), ca, cb, cc, da: 0, db: 0, seed }, ['x']);
      x = r['x'] as Float32Array;
      await opts.onStep?.(x, i + 1, ts[i]);
    }
    return x;
  }

  /**
   * The model's estimate of the clean data behind x at timestep t (one network evaluation):
   * drawn as arrows from x, it shows the learned denoising field.
   */
  async denoise(x: Float32Array, t: number, labels?: Int32Array, guidance = 1): Promise<Float32Array> {
    const { denoiser, schedule, config } = this.diffusion;
    if (!(Number.isInteger(t) && t >= 0 && t < denoiser.timesteps)) throw new InputError(`denoise: t must be an integer in [0, ${denoiser.timesteps - 1}], got ${t}.`);
    const { da, db } = stepCoefficients(schedule.alphaBar[t], 1, 0, config.prediction);
    const feeds = { ...this.labelFeeds(labels, guidance), x, t: new Int32Array(this.n).fill(t), ca: 0, cb: 0, cc: 0, da, db, seed: 0 };
    return (await this.plan.run(feeds, ['x0']))['x0'] as Float32Array;
  }

  dispose(): void {
    this.plan.dispose();
  }
}
