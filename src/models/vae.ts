// A variational autoencoder (Kingma & Welling 2014) on small images (C, S, S) with pixels in
// [0, 1]: an encoder q(z|x) = N(mu, diag(exp(logvar))), the reparameterised draw
// z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) from the engine's seeded generator on the GPU
// (a seed fed each step, so one compiled step replays every step), and a decoder p(x|z) whose
// output is a logit per pixel: Bernoulli (binary cross-entropy with logits) or Gaussian with a
// fixed standard deviation around sigmoid(logit). Two network variants: an MLP, and a small
// convolutional pair (two stride-2 convolutions down, two transposed ones up).
// The objective is the negative ELBO per image, reconstruction plus beta times the closed-form
// KL(q(z|x) || N(0, I)), with beta ramped linearly from 0 over `warmupSteps` (KL warm-up); both
// terms are per-image sums in nats, as papers report them, and the step reads them back apart.
// Beta is fed each step, so the warm-up and setHyper need no recompile.
// Not here: data, batches, pictures or checkpoints (tasks/vae/), the ops it is built from.

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Feeds, Plan } from '../executor.js';
import { kaimingUniform } from '../nn/init.js';
import { createOptimizer, type FusedOptimizer } from '../optim/fused.js';
import { add, mul, sub } from '../ops/binary.js';
import { conv2d, convTranspose2d } from '../ops/conv.js';
import { bceWithLogits } from '../ops/losses.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal } from '../ops/random.js';
import { mean, sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { addScalar, exp, full, mulScalar, relu, sigmoid } from '../ops/unary.js';
import { input, parameter, type Tensor } from '../tensor.js';
import { SeededRandom } from '../data/random.js';

export type VaeArch = 'mlp' | 'conv';
export type VaeLikelihood = 'bernoulli' | 'gaussian';

export interface VaeConfig {
  /** 'mlp': fully connected layers on the flattened image; 'conv': two strided convolutions each way. */
  arch: VaeArch;
  /** Image channels C and side S (the conv variant needs S divisible by 4). */
  channels: number;
  size: number;
  /** Dimensions L of z: 2 lets the latent space be drawn, more reconstructs better. */
  latent: number;
  /** MLP: units per hidden layer, and hidden layers on each side. */
  hidden: number;
  layers: number;
  /** Conv: feature channels F of the half-resolution map (the quarter-resolution one has 2F). */
  width: number;
  /** p(x|z): 'bernoulli' (BCE with logits) or 'gaussian' (fixed sigma around sigmoid(logit)). */
  likelihood: VaeLikelihood;
  /** Gaussian: the decoder's standard deviation, in pixel units. */
  sigma: number;
  /** Weight of the KL term once warmed up (1: the true ELBO; other values: beta-VAE). */
  beta: number;
  /** Steps over which beta ramps linearly from 0 (0: full beta from the first step). */
  warmupSteps: number;
  /** AdamW learning rate (may change between steps). */
  lr: number;
  /** Clip the global gradient norm to this (0: no clipping; the per-image sums make norms of tens to hundreds). */
  maxGradNorm: number;
  /** Images per step. */
  batch: number;
  /** Seed of the weights and of the per-step noise. */
  seed: number;
}

export const vaeDefaults: VaeConfig = {
  arch: 'mlp', channels: 1, size: 16, latent: 2, hidden: 256, layers: 1, width: 16, likelihood: 'bernoulli', sigma: 0.1,
  beta: 1, warmupSteps: 0, lr: 1e-3, maxGradNorm: 0, batch: 64, seed: 1,
};

export function vaeConfig(overrides: Partial<VaeConfig> = {}): VaeConfig {
  const c = { ...vaeDefaults, ...overrides };
  const fail = (k: keyof VaeConfig, want: string): never => {
    throw new ConfigError(`vae: ${k} must be ${want}, got ${JSON.stringify(c[k])}.`);
  };
  if (c.arch !== 'mlp' && c.arch !== 'conv') fail('arch', "'mlp' or 'conv'");
  if (c.likelihood !== 'bernoulli' && c.likelihood !== 'gaussian') fail('likelihood', "'bernoulli' or 'gaussian'");
  for (const k of ['channels', 'size', 'latent', 'hidden', 'layers', 'width', 'batch'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) fail(k, 'a positive integer');
  }
  for (const k of ['beta', 'lr', 'maxGradNorm'] as const) if (!(Number.isFinite(c[k]) && c[k] >= 0)) fail(k, 'a finite number >= 0');
  if (!(Number.isFinite(c.sigma) && c.sigma > 0)) fail('sigma', 'a finite number > 0');
  if (!(Number.isInteger(c.warmupSteps) && c.warmupSteps >= 0)) fail('warmupSteps', 'an integer >= 0');
  if (!Number.isInteger(c.seed)) fail('seed', 'an integer');
  if (c.arch === 'conv' && c.size % 4 !== 0) {
    throw new ConfigError(`vae: the conv variant halves the side twice, so size must be divisible by 4, got ${c.size}; use arch 'mlp' or resize the images.`);
  }
  return c;
}

/** The KL weight of the update that follows `done` completed steps: beta * min(1, done / warmupSteps). */
export function betaAt(c: Pick<VaeConfig, 'beta' | 'warmupSteps'>, done: number): number {
  return c.warmupSteps > 0 ? c.beta * Math.min(1, done / c.warmupSteps) : c.beta;
}

/** KL(N(mu, exp(logvar)) || N(0, I)) per row of (B, L): 0.5 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j), (B). */
export function gaussianKl(mu: Tensor, logvar: Tensor): Tensor {
  const terms = addScalar(sub(add(mul(mu, mu), exp(logvar)), logvar), -1); // (B, L)
  return mulScalar(sum(terms, -1), 0.5); // (B)
}

/**
 * -log p(x | logits) per image of (B, C, S, S), in nats: Bernoulli, the BCE with logits summed
 * over pixels; Gaussian, sum (x - sigmoid(logit))^2 / (2 sigma^2) + D/2 log(2 pi sigma^2).
 */
export function reconstructionNats(logits: Tensor, x: Tensor, likelihood: VaeLikelihood, sigma: number): Tensor {
  const B = x.shape[0], D = x.size / B;
  if (likelihood === 'bernoulli') return sum(reshape(bceWithLogits(logits, x, { reduction: 'none' }), [B, D]), -1); // (B)
  const d = reshape(sub(sigmoid(logits), x), [B, D]);
  return addScalar(mulScalar(sum(mul(d, d), -1), 1 / (2 * sigma * sigma)), (D / 2) * Math.log(2 * Math.PI * sigma * sigma)); // (B)
}

/** The two networks: x (B, C, S, S) to mu and logvar (B, L), and z (B, L) to pixel logits (B, C, S, S). */
interface VaeNets {
  params: Tensor[];
  encode(x: Tensor): { mu: Tensor; logvar: Tensor };
  decode(z: Tensor): Tensor;
}

/** Draws each weight from its own stream of the one seed; biases start at 0. */
function paramMaker(seed: number) {
  let stream = 0;
  const params: Tensor[] = [];
  return {
    params,
    weight(name: string, shape: number[], fanIn: number, fanOut: number): Tensor {
      const w = parameter(`${name}.weight`, kaimingUniform(shape, seed, { fanIn, fanOut, offset: stream++ }));
      params.push(w);
      return w;
    },
    bias(name: string, n: number): Tensor {
      const b = parameter(`${name}.bias`, full([n], 0));
      params.push(b);
      return b;
    },
  };
}

/** MLP: D -> hidden (ReLU) x layers -> mu, logvar; L -> hidden (ReLU) x layers -> D logits. */
function mlpNets(c: VaeConfig): VaeNets {
  const m = paramMaker(c.seed);
  const D = c.channels * c.size * c.size;
  const dense = (name: string, i: number, o: number) => ({ w: m.weight(name, [i, o], i, o), b: m.bias(name, o) });
  const enc = Array.from({ length: c.layers }, (_, i) => dense(`encoder.${i}`, i === 0 ? D : c.hidden, c.hidden));
  const muHead = dense('encoder.mu', c.hidden, c.latent);
  const logvarHead = dense('encoder.logvar', c.hidden, c.latent);
  const dec = Array.from({ length: c.layers }, (_, i) => dense(`decoder.${i}`, i === 0 ? c.latent : c.hidden, c.hidden));
  const out = dense('decoder.out', c.hidden, D);
  return {
    params: m.params,
    encode(x) {
      let h = reshape(x, [x.shape[0], D]); // (B, D)
      for (const l of enc) h = matmul(h, l.w, { bias: l.b, activation: 'relu' }); // (B, hidden)
      return { mu: matmul(h, muHead.w, { bias: muHead.b }), logvar: matmul(h, logvarHead.w, { bias: logvarHead.b }) }; // (B, L)
    },
    decode(z) {
      let h = z;
      for (const l of dec) h = matmul(h, l.w, { bias: l.b, activation: 'relu' }); // (B, hidden)
      return reshape(matmul(h, out.w, { bias: out.b }), [z.shape[0], c.channels, c.size, c.size]); // (B, C, S, S)
    },
  };
}

const perChannel = (b: Tensor) => reshape(b, [b.shape[0], 1, 1]);

/**
 * Conv: (B, C, S, S) -> (B, F, S/2, S/2) -> (B, 2F, S/4, S/4) -> mu, logvar by linear heads;
 * z -> (B, 2F, S/4, S/4) by a linear layer, then transposed convolutions back up. Every
 * convolution has kernel 4, stride 2, padding 1 (DCGAN's), with ReLU between.
 */
function convNets(c: VaeConfig): VaeNets {
  const m = paramMaker(c.seed);
  const { channels: C, size: S, width: F, latent: L } = c;
  const s4 = S / 4, flat = 2 * F * s4 * s4;
  // conv2d weights are (C_out, C_in, k, k); convTranspose2d's (C_in, C_out, k, k), each output seeing C_in k^2 / 4 taps.
  const down1 = { w: m.weight('encoder.down1', [F, C, 4, 4], C * 16, F * 16), b: m.bias('encoder.down1', F) };
  const down2 = { w: m.weight('encoder.down2', [2 * F, F, 4, 4], F * 16, 2 * F * 16), b: m.bias('encoder.down2', 2 * F) };
  const muHead = { w: m.weight('encoder.mu', [flat, L], flat, L), b: m.bias('encoder.mu', L) };
  const logvarHead = { w: m.weight('encoder.logvar', [flat, L], flat, L), b: m.bias('encoder.logvar', L) };
  const fc = { w: m.weight('decoder.fc', [L, flat], L, flat), b: m.bias('decoder.fc', flat) };
  const up1 = { w: m.weight('decoder.up1', [2 * F, F, 4, 4], 2 * F * 4, F * 16), b: m.bias('decoder.up1', F) };
  const up2 = { w: m.weight('decoder.up2', [F, C, 4, 4], F * 4, C * 16), b: m.bias('decoder.up2', C) };
  const conv = { stride: 2, padding: 1 };
  return {
    params: m.params,
    encode(x) {
      let h = relu(add(conv2d(x, down1.w, conv), perChannel(down1.b))); // (B, F, S/2, S/2)
      h = relu(add(conv2d(h, down2.w, conv), perChannel(down2.b))); // (B, 2F, S/4, S/4)
      const f = reshape(h, [x.shape[0], flat]);
      return { mu: matmul(f, muHead.w, { bias: muHead.b }), logvar: matmul(f, logvarHead.w, { bias: logvarHead.b }) }; // (B, L)
    },
    decode(z) {
      let h = reshape(matmul(z, fc.w, { bias: fc.b, activation: 'relu' }), [z.shape[0], 2 * F, s4, s4]);
      h = relu(add(convTranspose2d(h, up1.w, conv), perChannel(up1.b))); // (B, F, S/2, S/2)
      return add(convTranspose2d(h, up2.w, conv), perChannel(up2.b)); // (B, C, S, S)
    },
  };
}

/** The figures of one step, means over its batch (per-image sums in nats). */
export interface VaeStepResult {
  /** -E_q[log p(x|z)], one draw of z per image. */
  recon: number;
  /** KL(q(z|x) || N(0, I)), closed form. */
  kl: number;
  /** What was minimised: recon + beta kl. */
  loss: number;
  /** The KL weight this step used. */
  beta: number;
  /** Global gradient norm, before clipping. */
  gradNorm: number;
}

/** Per-image figures of a batch, and what the encoder and decoder make of it. */
export interface VaeEvaluation {
  /** (n) reconstruction term of each image, one draw of z from the evaluation's seed. */
  recon: Float32Array;
  /** (n) KL of each image's posterior. */
  kl: Float32Array;
  /** (n, L) posterior means and log-variances. */
  mu: Float32Array;
  logvar: Float32Array;
  /** (n, C, S, S) sigmoid(decode(mu)) in [0, 1]: the reconstructions drawn beside the inputs. */
  reconstructions: Float32Array;
}

export class Vae {
  /** Optimizer updates applied. */
  steps = 0;
  /** Draws the per-step noise seeds; its `state` goes into checkpoints. */
  readonly rng: SeededRandom;
  private plans = new Map<string, Plan>();

  private constructor(
    readonly engine: Engine,
    readonly config: VaeConfig,
    private readonly nets: VaeNets,
    readonly optimizer: FusedOptimizer,
    private readonly plan: Plan,
  ) {
    this.rng = new SeededRandom(config.seed ^ 0x2545f491);
  }

  static async create(engine: Engine, overrides: Partial<VaeConfig> = {}): Promise<Vae> {
    const c = vaeConfig(overrides);
    const nets = c.arch === 'conv' ? convNets(c) : mlpNets(c);
    const optimizer = await createOptimizer(engine, nets.params, { kind: 'adamw', lr: c.lr, weightDecay: 0, maxGradNorm: c.maxGradNorm });
    try {
      const x = input('x', [c.batch, c.channels, c.size, c.size]);
      const beta = input('beta', []);
      const { recon, kl } = Vae.terms(nets, c, x, input('seed', [], 'i32'));
      const reconMean = mean(recon), klMean = mean(kl);
      const loss = add(reconMean, mul(klMean, beta));
      const plan = await engine.compile({ outputs: { recon: reconMean, kl: klMean, loss }, optimizer: optimizer.minimize(loss), label: 'the training step' });
      return new Vae(engine, c, nets, optimizer, plan);
    } catch (e) {
      optimizer.dispose();
      throw e;
    }
  }

  /** Per-image reconstruction and KL terms of x (B, C, S, S), z drawn with `seed`; mu and logvar beside them. */
  private static terms(nets: VaeNets, c: VaeConfig, x: Tensor, seed: Tensor) {
    const { mu, logvar } = nets.encode(x); // (B, L)
    const eps = randomNormal(mu.shape, seed); // (B, L)
    const z = add(mu, mul(exp(mulScalar(logvar, 0.5)), eps)); // (B, L)
    return { recon: reconstructionNats(nets.decode(z), x, c.likelihood, c.sigma), kl: gaussianKl(mu, logvar), mu, logvar }; // (B), (B)
  }

  /** Values in one image. */
  get imageSize(): number {
    return this.config.channels * this.config.size * this.config.size;
  }

  /** The parameters, in the optimizer's order. */
  get params(): Tensor[] {
    return this.nets.params;
  }

  /** Parameters by state_dict name ('encoder.0.weight', 'decoder.up1.bias'). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.nets.params.map((p) => [p.label, p]));
  }

  /** New learning rate and KL weighting, used from the next step (nothing recompiles). */
  setHyper(h: Partial<Pick<VaeConfig, 'lr' | 'beta' | 'warmupSteps'>>): void {
    const next = vaeConfig({ ...this.config, ...h });
    Object.assign(this.config, { lr: next.lr, beta: next.beta, warmupSteps: next.warmupSteps });
    this.optimizer.config.lr = next.lr;
  }

  /**
   * One update on x (batch, C, S, S) in [0, 1], beta from the warm-up and a fresh noise seed.
   * With `read`, resolves to its figures. Its GPU work is submitted before it first awaits, so
   * callers may queue steps and refill `x` at once.
   */
  async step(x: Float32Array, read = true): Promise<VaeStepResult | null> {
    if (x.length !== this.config.batch * this.imageSize) {
      throw new InputError(`Vae.step: x must hold ${this.config.batch} images of ${this.imageSize} values, got ${x.length} values.`);
    }
    const beta = betaAt(this.config, this.steps);
    const feeds: Feeds = { x, beta, seed: (this.rng.next() * 2 ** 31) | 0 };
    this.steps++;
    const out = await this.plan.run(feeds, read ? ['recon', 'kl', 'loss', 'gradNorm'] : []);
    return read ? { recon: out['recon'][0], kl: out['kl'][0], loss: out['loss'][0], beta, gradNorm: out['gradNorm'][0] } : null;
  }

  /** A plan compiled once per kind and row count. */
  private async planFor(kind: string, build: () => Record<string, Tensor>): Promise<Plan> {
    let plan = this.plans.get(kind);
    if (!plan) {
      plan = await this.engine.compile({ outputs: build(), label: `the VAE's ${kind.split(':')[0]}` });
      this.plans.set(kind, plan);
    }
    return plan;
  }

  /** Rows n of `values`, which must be images (n, C, S, S) or, for 'z', latent points (n, L). */
  private rows(method: string, values: Float32Array, what: 'x' | 'z'): number {
    const { channels: C, size: S, latent: L } = this.config;
    const per = what === 'z' ? L : this.imageSize;
    if (values.length === 0 || values.length % per !== 0) {
      throw new InputError(`Vae.${method}: ${what} must be (n, ${what === 'z' ? L : `${C}, ${S}, ${S}`}) values, n >= 1; got ${values.length} values.`);
    }
    return values.length / per;
  }

  /** The per-image terms, posteriors and reconstructions of images x (n, C, S, S) in [0, 1]; z drawn from `seed`. */
  async evaluate(x: Float32Array, seed = 0): Promise<VaeEvaluation> {
    const n = this.rows('evaluate', x, 'x');
    const { channels: C, size: S } = this.config;
    const plan = await this.planFor(`evaluation:${n}`, () => {
      const t = Vae.terms(this.nets, this.config, input('x', [n, C, S, S]), input('seed', [], 'i32'));
      return { recon: t.recon, kl: t.kl, mu: t.mu, logvar: t.logvar, reconstructions: sigmoid(this.nets.decode(t.mu)) };
    });
    const out = await plan.run({ x, seed });
    return { recon: out['recon'], kl: out['kl'], mu: out['mu'], logvar: out['logvar'], reconstructions: out['reconstructions'] } as VaeEvaluation;
  }

  /** Posterior means and log-variances (n, L) of images x (n, C, S, S). */
  async encode(x: Float32Array): Promise<{ mu: Float32Array; logvar: Float32Array }> {
    const n = this.rows('encode', x, 'x');
    const { channels: C, size: S } = this.config;
    const plan = await this.planFor(`encoder:${n}`, () => this.nets.encode(input('x', [n, C, S, S])));
    const out = await plan.run({ x });
    return { mu: out['mu'] as Float32Array, logvar: out['logvar'] as Float32Array };
  }

  /** sigmoid(decode(z)) (n, C, S, S) in [0, 1] for latent points z (n, L): prior samples, a grid over the plane. */
  async decode(z: Float32Array): Promise<Float32Array> {
    const n = this.rows('decode', z, 'z');
    const plan = await this.planFor(`decoder:${n}`, () => ({ images: sigmoid(this.nets.decode(input('z', [n, this.config.latent]))) }));
    return (await plan.run({ z }))['images'] as Float32Array;
  }

  /** sigmoid(decode(mu(x))): the reconstructions of images x (n, C, S, S). */
  async reconstruct(x: Float32Array): Promise<Float32Array> {
    return (await this.evaluate(x)).reconstructions;
  }

  dispose(): void {
    for (const p of [this.plan, ...this.plans.values()]) p.dispose();
    this.optimizer.dispose();
  }
}
