// A generative adversarial network: a generator mapping latent noise z to samples and a
// discriminator scoring samples (MLPs for points, a DCGAN pair for small images; gan-players.ts),
// trained against each other with
// one of three losses: non-saturating (BCE on logits, Goodfellow et al. 2014), hinge (Miyato et
// al. 2018) or WGAN-GP (Gulrajani et al. 2017, whose gradient penalty differentiates the
// discriminator's input gradient inside the step). Spectral normalisation of the
// discriminator's weights is an option: one power iteration per step on the GPU, its vectors
// kept as state between steps. Each player has its own fused Adam and learning rate (two
// time-scale updates), and its own compiled step; `dSteps` discriminator steps run per
// generator step. The noise is drawn on the GPU from a seed fed each step.
// Not here: the networks (gan-players.ts), data, or the quality metrics (src/eval).

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Plan } from '../executor.js';
import { gradients } from '../autograd.js';
import { createOptimizer, type FusedOptimizer } from '../optim/fused.js';
import { add, div, mul } from '../ops/binary.js';
import { detach, watch } from '../ops/identity.js';
import { bceWithLogits } from '../ops/losses.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal, randomUniform } from '../ops/random.js';
import { mean, sum } from '../ops/reduce.js';
import { concat, reshape } from '../ops/shape.js';
import { addScalar, full, mulScalar, neg, powScalar, relu, sqrt } from '../ops/unary.js';
import { constant, input, type Tensor } from '../tensor.js';
import { SeededRandom } from '../data/random.js';
import { dcganDiscriminator, dcganGenerator, mlpPlayer, type GanPlayer } from './gan-players.js';

export type GanLoss = 'nonsaturating' | 'hinge' | 'wgan-gp';

export interface GanConfig {
  /** What is generated: points of `dims` dimensions (MLP players) or images (DCGAN players). */
  data: 'points' | 'images';
  /** Dimensions of a data point. */
  dims: number;
  /** Images: channels, side (divisible by 4) and the players' base width in feature channels. */
  channels: number;
  size: number;
  width: number;
  /** Dimensions of the latent noise z ~ N(0, I); 2 lets the page draw the generator's map as a grid. */
  latent: number;
  /** Points: units per hidden layer, and hidden layers, of each player. */
  hidden: number;
  layers: number;
  loss: GanLoss;
  /** Weight of WGAN-GP's gradient penalty. */
  gpWeight: number;
  /** Spectral normalisation of the discriminator's weights. */
  spectralNorm: boolean;
  /** Learning rates of the generator and the discriminator (two time-scale updates). */
  lrG: number;
  lrD: number;
  /** Adam's betas for both players (GANs usually want a small beta1). */
  beta1: number;
  beta2: number;
  /** Discriminator steps per generator step. */
  dSteps: number;
  /** Samples per step. */
  batch: number;
  /** Seed of the weights and of the per-step noise. */
  seed: number;
}

export const ganDefaults: GanConfig = {
  data: 'points', dims: 2, channels: 1, size: 16, width: 32, latent: 2, hidden: 128, layers: 2, loss: 'nonsaturating', gpWeight: 10, spectralNorm: false,
  lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.99, dSteps: 1, batch: 256, seed: 1,
};

/**
 * Documented starting points. 'ring': the ring of 8 Gaussians; from seed 1 it covers all 8 modes
 * by iteration 750 and at 1000 (test/gan.test.ts asks for at least 7 of 8 within 1000 iterations).
 * 'glyphs': a DCGAN on 16x16 glyphs with DCGAN's Adam settings.
 */
export const ganPresets = {
  ring: { data: 'points', loss: 'nonsaturating', lrG: 2e-3, lrD: 2e-3, dSteps: 1, batch: 256, latent: 2, hidden: 128, layers: 2 },
  glyphs: { data: 'images', size: 16, channels: 1, width: 32, latent: 32, loss: 'nonsaturating', lrG: 2e-4, lrD: 2e-4, beta1: 0.5, beta2: 0.999, batch: 64 },
} as const satisfies Record<string, Partial<GanConfig>>;

export function ganConfig(overrides: Partial<GanConfig> = {}): GanConfig {
  const c = { ...ganDefaults, ...overrides };
  if (c.data !== 'points' && c.data !== 'images') throw new ConfigError(`gan: data must be 'points' or 'images', got '${String(c.data)}'.`);
  for (const k of ['dims', 'channels', 'size', 'width', 'latent', 'hidden', 'layers', 'dSteps', 'batch'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) throw new ConfigError(`gan: ${k} must be a positive integer, got ${c[k]}.`);
  }
  if (!['nonsaturating', 'hinge', 'wgan-gp'].includes(c.loss)) throw new ConfigError(`gan: loss must be 'nonsaturating', 'hinge' or 'wgan-gp', got '${String(c.loss)}'.`);
  for (const k of ['lrG', 'lrD', 'gpWeight'] as const) if (!(c[k] >= 0 && Number.isFinite(c[k]))) throw new ConfigError(`gan: ${k} must be a finite number >= 0, got ${c[k]}.`);
  for (const k of ['beta1', 'beta2'] as const) if (!(c[k] >= 0 && c[k] < 1)) throw new ConfigError(`gan: ${k} must be in [0, 1), got ${c[k]}.`);
  if (!Number.isInteger(c.seed)) throw new ConfigError(`gan: seed must be an integer, got ${c.seed}.`);
  if (c.data === 'images' && c.size % 4 !== 0) throw new ConfigError(`gan: image size ${c.size} must be divisible by 4 (two stride-2 layers); pad or resize the images.`);
  return c;
}

/** x / |x| for a column (n, 1); the small constant keeps a zero vector finite. */
const normalize = (x: Tensor) => div(x, sqrt(addScalar(sum(mul(x, x)), 1e-12)));

/**
 * W / sigma(W) for W seen as a (rows, cols) matrix M, sigma from one power iteration started at
 * the stored u: v = M u / |M u|, u' = M^T v / |M^T v|, sigma = v^T M u' (u and v held constant,
 * as PyTorch's spectral_norm). Returns the weights to swap in and the u' to store.
 */
function spectralNormalized(player: GanPlayer): { swap: Map<Tensor, Tensor>; updates: [Tensor, Tensor][] } {
  const swap = new Map<Tensor, Tensor>();
  const updates: [Tensor, Tensor][] = [];
  for (const s of player.spectral) {
    const m = reshape(s.w, [s.rows, s.cols]);
    const v = normalize(matmul(detach(m), s.u)); // (rows, 1)
    const u = detach(normalize(matmul(detach(m), v, { transA: true }))); // (cols, 1)
    const sigma = sum(mul(v, matmul(m, u))); // ()
    swap.set(s.w, div(s.w, sigma));
    updates.push([s.u, u]);
  }
  return { swap, updates };
}

/**
 * WGAN-GP's penalty mean((|grad_x critic(x)| - 1)^2) over the rows of `points` (n, dims): the
 * input gradient is itself a graph, so the penalty's own gradient reaches the critic's weights.
 */
export function gradientPenalty(critic: (x: Tensor) => Tensor, points: Tensor): Tensor {
  const x = watch(points);
  const [g] = gradients([sum(critic(x))], [x]); // (n, ...)
  const flat = reshape(g, [g.shape[0], g.size / g.shape[0]]);
  const norm = sqrt(addScalar(sum(mul(flat, flat), -1), 1e-12)); // (n)
  return mean(powScalar(addScalar(norm, -1), 2));
}

export interface GanStepResult {
  dLoss: number;
  gLoss: number;
}

export class Gan {
  /** Generator steps run. */
  steps = 0;
  /** Draws the per-step noise seeds; its `state` goes into checkpoints. */
  readonly rng: SeededRandom;
  private plans = new Map<string, Plan>();

  private constructor(
    readonly engine: Engine,
    readonly config: GanConfig,
    readonly generator: GanPlayer,
    readonly discriminator: GanPlayer,
    readonly gOptimizer: FusedOptimizer,
    readonly dOptimizer: FusedOptimizer,
    private dPlan: Plan,
    private gPlan: Plan,
  ) {
    this.rng = new SeededRandom(config.seed ^ 0x2545f491);
  }

  static async create(engine: Engine, overrides: Partial<GanConfig> = {}): Promise<Gan> {
    const c = ganConfig(overrides);
    const img = { channels: c.channels, size: c.size, width: c.width };
    const hidden = Array<number>(c.layers).fill(c.hidden);
    const generator = c.data === 'images'
      ? dcganGenerator('generator', c.latent, img, c.seed)
      : mlpPlayer('generator', [c.latent, ...hidden, c.dims], 'generator', c.seed, false);
    const discriminator = c.data === 'images'
      ? dcganDiscriminator('discriminator', img, c.seed + 1, c.spectralNorm)
      : mlpPlayer('discriminator', [c.dims, ...hidden, 1], 'discriminator', c.seed + 1, c.spectralNorm);
    const adam = (lr: number) => ({ kind: 'adamw' as const, lr, beta1: c.beta1, beta2: c.beta2, weightDecay: 0 });
    // Both optimizers place their parameters before anything is compiled.
    const gOptimizer = await createOptimizer(engine, generator.params, adam(c.lrG));
    const dOptimizer = await createOptimizer(engine, discriminator.params, adam(c.lrD));

    const B = c.batch;
    const seed = input('seed', [], 'i32');
    const z = randomNormal([B, c.latent], seed);

    // Discriminator step: real and (detached) fake samples in one batch of 2B, so each layer is
    // one product; `sign` is +1 on real rows and -1 on fake ones, and every loss is a mean over
    // the 2B rows times 2 (the sum of the two halves' means).
    const real = input('real', [B, ...discriminator.inShape]);
    const sn = spectralNormalized(discriminator);
    const D = (x: Tensor) => discriminator.apply(x, sn.swap);
    const fake = detach(generator.apply(z));
    const logits = D(concat([real, fake], 0)); // (2B, 1)
    const column = (f: (i: number) => number) => constant(Float32Array.from({ length: 2 * B }, (_, i) => f(i)), [2 * B, 1]);
    const sign = column((i) => (i < B ? 1 : -1));
    let dLoss: Tensor;
    if (c.loss === 'nonsaturating') {
      dLoss = mulScalar(bceWithLogits(logits, column((i) => (i < B ? 1 : 0))), 2);
    } else if (c.loss === 'hinge') {
      dLoss = mulScalar(mean(relu(addScalar(neg(mul(logits, sign)), 1))), 2);
    } else {
      // mean(D(fake)) - mean(D(real)), plus the penalty at random points between real and fake samples.
      const eps = randomUniform([B, ...discriminator.inShape.map(() => 1)], seed, 0, 1, 1);
      const mixed = add(mul(real, eps), mul(fake, addScalar(neg(eps), 1)));
      dLoss = add(mulScalar(mean(mul(logits, sign)), -2), mulScalar(gradientPenalty(D, mixed), c.gpWeight));
    }
    const dPlan = await engine.compile({ outputs: { dLoss }, optimizer: dOptimizer.minimize(dLoss), updates: sn.updates, label: 'the discriminator step' });

    // Generator step: fool the current discriminator (its spectral estimate read, not advanced).
    const score = discriminator.apply(generator.apply(z), spectralNormalized(discriminator).swap);
    const gLoss = c.loss === 'nonsaturating' ? bceWithLogits(score, full([B, 1], 1)) : neg(mean(score));
    const gPlan = await engine.compile({ outputs: { gLoss }, optimizer: gOptimizer.minimize(gLoss), label: 'the generator step' });
    return new Gan(engine, c, generator, discriminator, gOptimizer, dOptimizer, dPlan, gPlan);
  }

  private nextSeed(): number {
    return (this.rng.next() * 2 ** 31) | 0;
  }

  /** New learning rates for both players, used from the next update (nothing recompiles). */
  setLearningRates(lrG: number, lrD: number): void {
    for (const [k, v] of [['lrG', lrG], ['lrD', lrD]] as const) {
      if (!(v >= 0 && Number.isFinite(v))) throw new ConfigError(`gan: ${k} must be a finite number >= 0, got ${v}.`);
    }
    this.gOptimizer.config.lr = lrG;
    this.dOptimizer.config.lr = lrD;
    Object.assign(this.config, { lrG, lrD });
  }

  /** Values in one real sample. */
  get sampleSize(): number {
    return this.discriminator.inShape.reduce((a, b) => a * b, 1);
  }

  /**
   * One iteration: `dSteps` discriminator steps, one on each real batch given (batch samples
   * each), then one generator step. With `read`, resolves to the last losses of both players.
   * All of its GPU work is submitted before it first awaits, so callers may queue iterations.
   */
  async step(reals: Float32Array[], read = true): Promise<GanStepResult | null> {
    const { dSteps, batch } = this.config;
    if (reals.length !== dSteps || reals.some((r) => r.length !== batch * this.sampleSize)) {
      throw new InputError(`Gan.step: needs ${dSteps} real batch(es) of ${batch} x ${this.sampleSize} values (one per discriminator step).`);
    }
    // Every run is awaited, so that a failure of any (a lost device) is the step's.
    const runs = reals.map((real, k) => this.dPlan.run({ real, seed: this.nextSeed() }, read && k === dSteps - 1 ? ['dLoss'] : []));
    runs.push(this.gPlan.run({ seed: this.nextSeed() }, read ? ['gLoss'] : []));
    this.steps++;
    const done = await Promise.all(runs);
    return read ? { dLoss: done[dSteps - 1]['dLoss'][0], gLoss: done[dSteps]['gLoss'][0] } : null;
  }

  /** Runs `player` on rows of `values`, with a plan compiled once per player and row count. */
  private async run(name: 'generate' | 'discriminate', values: Float32Array): Promise<Float32Array> {
    const player = name === 'generate' ? this.generator : this.discriminator;
    const per = player.inShape.reduce((a, b) => a * b, 1);
    if (values.length === 0 || values.length % per !== 0) {
      throw new InputError(`Gan.${name}: ${name === 'generate' ? 'z' : 'samples'} must be (n, ${player.inShape.join(', ')}); got ${values.length} values.`);
    }
    const n = values.length / per;
    const key = `${name}:${n}`;
    let plan = this.plans.get(key);
    if (!plan) {
      const x = input('x', [n, ...player.inShape]);
      const swap = name === 'discriminate' ? spectralNormalized(player).swap : undefined;
      plan = await this.engine.compile({ outputs: { y: player.apply(x, swap) }, label: `the ${name === 'discriminate' ? 'discriminator' : 'generator'} on its own` });
      this.plans.set(key, plan);
    }
    return (await plan.run({ x: values }))['y'] as Float32Array;
  }

  /** Generator outputs for latent points z (n, latent): fixed z shows the map changing. */
  generate(z: Float32Array): Promise<Float32Array> {
    return this.run('generate', z);
  }

  /** Discriminator logits (n) for samples: over a grid of points, its decision surface. */
  discriminate(samples: Float32Array): Promise<Float32Array> {
    return this.run('discriminate', samples);
  }

  /** Parameters by state_dict name (both players, and the spectral-norm vectors). */
  stateDict(): Record<string, Tensor> {
    const all = [this.generator, this.discriminator].flatMap((p) => [...p.params, ...p.spectral.map((s) => s.u)]);
    return Object.fromEntries(all.map((p) => [p.label, p]));
  }

  dispose(): void {
    for (const p of [this.dPlan, this.gPlan, ...this.plans.values()]) p.dispose();
    this.gOptimizer.dispose();
    this.dOptimizer.dispose();
  }
}
