// Self-supervised contrastive learning on small images (C, S, S) with pixels in [0, 1], after
// SimCLR (Chen et al. 2020): every image of a batch of N gives two views by seeded augmentations
// on the GPU (random shift with zero fill, small rotation, cut-out, additive Gaussian noise; a
// seed fed each step, so one compiled step replays every step), an MLP encoder maps each view to
// features h, a projection head maps h to z, and the loss pulls the two views of an image
// together against the other 2N - 2 views: NT-Xent (InfoNCE with cosine similarities over a
// temperature) or, as the alternative, the triplet loss with the other view as the positive and
// another image's view as the negative. After training the head is dropped and h is what a
// linear probe reads (contrastive-eval.ts).
// Dimension letters: N images, 2N views, D = C S S pixels, F features, P projections.
// Not here: data, batches, probes or checkpoints (tasks/contrastive/), the ops it is built from.

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Feeds, Plan } from '../executor.js';
import { kaimingUniform } from '../nn/init.js';
import { createOptimizer, type FusedOptimizer } from '../optim/fused.js';
import { randomCutout2d, randomRotate2d, randomShift2d } from '../ops/augment.js';
import { add, div, equal, mul, sub } from '../ops/binary.js';
import { crossEntropyMean } from '../ops/crossentropy.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal } from '../ops/random.js';
import { argmax, mean, sum } from '../ops/reduce.js';
import { concat, reshape, sliceAxis } from '../ops/shape.js';
import { addScalar, full, mulScalar, relu, sqrt } from '../ops/unary.js';
import { constant, input, parameter, type Tensor } from '../tensor.js';
import { SeededRandom } from '../data/random.js';

export type ContrastiveLoss = 'ntxent' | 'triplet';

/** How the two views of an image are drawn; 0 turns an augmentation off. */
export interface AugmentConfig {
  /** Most pixels each view is shifted by along each axis (zeros move in). */
  shift: number;
  /** Largest rotation, in degrees, either way. */
  rotate: number;
  /** Side of the square cut out of each view, in pixels. */
  cutout: number;
  /** Standard deviation of the Gaussian noise added to each pixel. */
  noise: number;
}

export interface ContrastiveConfig extends AugmentConfig {
  /** Image channels C and side S. */
  channels: number;
  size: number;
  /** Encoder: units of its hidden layer, and the features F it gives (what a probe reads). */
  hidden: number;
  features: number;
  /** Projection head: units of its hidden layer, and the projections P the loss compares. */
  projHidden: number;
  projection: number;
  /** 'ntxent' (SimCLR's normalised-temperature cross-entropy) or 'triplet'. */
  loss: ContrastiveLoss;
  /** NT-Xent: the temperature tau dividing the cosine similarities (SimCLR: 0.1 to 0.5). */
  temperature: number;
  /** Triplet: the margin between squared distances on the unit sphere (in [0, 4]). */
  margin: number;
  /** AdamW learning rate (may change between steps). */
  lr: number;
  /** AdamW's decoupled weight decay of the weight matrices. */
  weightDecay: number;
  /** Images N per step (2N views). */
  batch: number;
  /** Seed of the weights and of the per-step augmentation seeds. */
  seed: number;
}

export const contrastiveDefaults: ContrastiveConfig = {
  channels: 1, size: 16, hidden: 256, features: 64, projHidden: 64, projection: 32, loss: 'ntxent', temperature: 0.5,
  margin: 0.5, shift: 1, rotate: 15, cutout: 4, noise: 0.1, lr: 1e-3, weightDecay: 1e-4, batch: 64, seed: 1,
};

export function contrastiveConfig(overrides: Partial<ContrastiveConfig> = {}): ContrastiveConfig {
  const c = { ...contrastiveDefaults, ...overrides };
  const fail = (k: keyof ContrastiveConfig, want: string): never => {
    throw new ConfigError(`contrastive: ${k} must be ${want}, got ${JSON.stringify(c[k])}.`);
  };
  if (c.loss !== 'ntxent' && c.loss !== 'triplet') fail('loss', "'ntxent' or 'triplet'");
  for (const k of ['channels', 'size', 'hidden', 'features', 'projHidden', 'projection'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) fail(k, 'a positive integer');
  }
  if (!(Number.isInteger(c.batch) && c.batch >= 2)) fail('batch', 'an integer >= 2 (each image needs others as negatives)');
  for (const k of ['shift', 'cutout'] as const) if (!(Number.isInteger(c[k]) && c[k] >= 0 && c[k] <= c.size)) fail(k, `an integer in [0, size = ${c.size}]`);
  if (!(Number.isFinite(c.rotate) && c.rotate >= 0 && c.rotate <= 180)) fail('rotate', 'a number of degrees in [0, 180]');
  for (const k of ['noise', 'lr', 'weightDecay'] as const) if (!(Number.isFinite(c[k]) && c[k] >= 0)) fail(k, 'a finite number >= 0');
  if (!(Number.isFinite(c.temperature) && c.temperature >= 0.01)) fail('temperature', 'a number >= 0.01');
  if (!(Number.isFinite(c.margin) && c.margin >= 0 && c.margin <= 4)) fail('margin', 'a number in [0, 4] (squared distances of unit vectors)');
  if (!Number.isInteger(c.seed)) fail('seed', 'an integer');
  return c;
}

// ---------------------------------------------------------------------------------------------
// views and losses

/** Offsets of one view's streams: each augmentation of each view draws from its own. */
const VIEW_STREAMS = 4;

/** View v (0 or 1) of images x (N, C, S, S): shift, rotate, cut out, add noise, each with its own stream of `seed`. */
export function augmentView(x: Tensor, a: AugmentConfig, seed: Tensor, v: number): Tensor {
  const o = v * VIEW_STREAMS;
  let y = x;
  if (a.shift > 0) y = randomShift2d(y, a.shift, seed, o);
  if (a.rotate > 0) y = randomRotate2d(y, (a.rotate * Math.PI) / 180, seed, o + 1);
  if (a.cutout > 0) y = randomCutout2d(y, a.cutout, seed, o + 2);
  if (a.noise > 0) y = add(y, randomNormal(y.shape, seed, 0, a.noise, o + 3));
  return y; // (N, C, S, S)
}

/** Each row of z (R, P) divided by its Euclidean norm (eps under the root keeps a zero row finite). */
export function l2NormalizeRows(z: Tensor, eps = 1e-12): Tensor {
  return div(z, sqrt(addScalar(sum(mul(z, z), -1, true), eps))); // (R, P)
}

/** What both losses report about the 2N views' similarities. */
export interface PairFigures {
  /** Mean cosine similarity of each view with its positive (the other view of its image). */
  posSim: Tensor;
  /** Mean cosine similarity of each view with the 2N - 2 views of other images. */
  negSim: Tensor;
  /** Share of views whose most similar other view is their positive: top-1 among 2N - 1 candidates. */
  accuracy: Tensor;
}

/** Row i's positive: the other view of its image, i + N or i - N. */
const positives = (N: number) => Array.from({ length: 2 * N }, (_, i) => (i < N ? i + N : i - N));

/**
 * Cosine similarities (2N, 2N) of the views' projections z (2N, P), rows 0..N-1 the first
 * views and N..2N-1 the second: the figures, the normalised rows zn, the similarities with the
 * diagonal masked, and each row's positive as a target.
 */
function similarities(z: Tensor): PairFigures & { zn: Tensor; masked: Tensor; targets: Tensor } {
  const R = z.shape[0], N = R / 2;
  if (z.shape.length !== 2 || !Number.isInteger(N) || N < 2) {
    throw new InputError(`contrastive loss: z must be (2N, P) with N >= 2, both views of N images; got shape [${z.shape}].`);
  }
  const zn = l2NormalizeRows(z); // (2N, P)
  const sim = matmul(zn, zn, { transB: true }); // (2N, 2N)
  const pos = positives(N);
  const posMask = new Float32Array(R * R), negMask = new Float32Array(R * R), diag = new Float32Array(R * R);
  for (let i = 0; i < R; i++) {
    posMask[i * R + pos[i]] = 1;
    for (let j = 0; j < R; j++) if (j !== i && j !== pos[i]) negMask[i * R + j] = 1;
    diag[i * R + i] = -1e9; // a view is not its own candidate: exp(-1e9 - max) is 0 in f32
  }
  const targets = constant(pos, [R], 'i32');
  const masked = add(sim, constant(diag, [R, R])); // (2N, 2N)
  return {
    zn,
    masked,
    targets,
    posSim: mulScalar(sum(mul(sim, constant(posMask, [R, R]))), 1 / R),
    negSim: mulScalar(sum(mul(sim, constant(negMask, [R, R]))), 1 / (R * (R - 2))),
    accuracy: mean(equal(argmax(masked, -1), targets)),
  };
}

/**
 * NT-Xent (SimCLR's eq. 1, averaged over all 2N anchors): with s the cosine similarities of the
 * projections z (2N, P), loss = mean_i -log( exp(s_i,pos(i) / tau) / sum_{k != i} exp(s_ik / tau) ).
 */
export function ntXent(z: Tensor, temperature: number): PairFigures & { loss: Tensor } {
  const s = similarities(z);
  return { ...s, loss: crossEntropyMean(mulScalar(s.masked, 1 / temperature), s.targets) };
}

/**
 * The triplet loss on the unit sphere: anchors the first views, positives the second views of
 * the same images, negatives the second view of the next image (i + 1 mod N); loss =
 * mean_i max(0, |a_i - p_i|^2 - |a_i - n_i|^2 + margin).
 */
export function tripletLoss(z: Tensor, margin: number): PairFigures & { loss: Tensor } {
  const s = similarities(z);
  const N = z.shape[0] / 2;
  const zn = s.zn; // (2N, P)
  const a = sliceAxis(zn, 0, 0, N), p = sliceAxis(zn, 0, N, 2 * N); // (N, P)
  const n = concat([sliceAxis(p, 0, 1, N), sliceAxis(p, 0, 0, 1)], 0); // (N, P)
  const sq = (d: Tensor) => sum(mul(d, d), -1); // (N)
  return { ...s, loss: mean(relu(addScalar(sub(sq(sub(a, p)), sq(sub(a, n))), margin))) };
}

// ---------------------------------------------------------------------------------------------
// networks

/** A dense layer's weight (In, Out) and bias (Out). */
interface Dense {
  w: Tensor;
  b: Tensor;
}

/** The encoder's and the head's layers, weights drawn from their own streams of `seed`, biases 0. */
export function contrastiveNets(c: ContrastiveConfig, seed = c.seed) {
  let stream = 0;
  const params: Tensor[] = [];
  const dense = (name: string, i: number, o: number): Dense => {
    const w = parameter(`${name}.weight`, kaimingUniform([i, o], seed, { fanIn: i, fanOut: o, offset: stream++ }));
    const b = parameter(`${name}.bias`, full([o], 0));
    params.push(w, b);
    return { w, b };
  };
  const D = c.channels * c.size * c.size;
  const enc = [dense('encoder.0', D, c.hidden), dense('encoder.1', c.hidden, c.features)];
  const head = [dense('head.0', c.features, c.projHidden), dense('head.1', c.projHidden, c.projection)];
  const layer = (h: Tensor, l: Dense, act: boolean) => matmul(h, l.w, { bias: l.b, ...(act ? { activation: 'relu' as const } : {}) });
  return {
    params,
    /** The encoder's parameters alone: what a probe freezes. */
    encoderParams: params.slice(0, 4),
    /** Features h (B, F) of images x (B, C, S, S): two ReLU layers. */
    encode: (x: Tensor) => layer(layer(reshape(x, [x.shape[0], D]), enc[0], true), enc[1], true),
    /** Projections z (B, P) of features h (B, F); the last layer linear, as SimCLR's head. */
    project: (h: Tensor) => layer(layer(h, head[0], true), head[1], false),
  };
}

export type ContrastiveNets = ReturnType<typeof contrastiveNets>;

/** The figures of one step. */
export interface ContrastiveStepResult {
  /** What was minimised (NT-Xent or triplet). */
  loss: number;
  posSim: number;
  negSim: number;
  /** Top-1 accuracy of the positive among the 2N - 1 candidates. */
  accuracy: number;
  /** Global gradient norm. */
  gradNorm: number;
}

export class Contrastive {
  /** Optimizer updates applied. */
  steps = 0;
  /** Draws the per-step augmentation seeds; its `state` goes into checkpoints. */
  readonly rng: SeededRandom;
  private plans = new Map<number, Plan>();
  /** The views' plans, by image count. */
  private viewPlans = new Map<number, Plan>();

  private constructor(
    readonly engine: Engine,
    readonly config: ContrastiveConfig,
    readonly nets: ContrastiveNets,
    readonly optimizer: FusedOptimizer,
    private readonly plan: Plan,
  ) {
    this.rng = new SeededRandom(config.seed ^ 0x2545f491);
  }

  static async create(engine: Engine, overrides: Partial<ContrastiveConfig> = {}): Promise<Contrastive> {
    const c = contrastiveConfig(overrides);
    const nets = contrastiveNets(c);
    const optimizer = await createOptimizer(engine, nets.params, { kind: 'adamw', lr: c.lr, weightDecay: c.weightDecay });
    try {
      const x = input('x', [c.batch, c.channels, c.size, c.size]);
      const seed = input('seed', [], 'i32');
      const views = concat([augmentView(x, c, seed, 0), augmentView(x, c, seed, 1)], 0); // (2N, C, S, S)
      const z = nets.project(nets.encode(views)); // (2N, P)
      const f = c.loss === 'ntxent' ? ntXent(z, c.temperature) : tripletLoss(z, c.margin);
      const plan = await engine.compile({
        outputs: { loss: f.loss, posSim: f.posSim, negSim: f.negSim, accuracy: f.accuracy },
        optimizer: optimizer.minimize(f.loss),
        label: 'the contrastive training step',
      });
      return new Contrastive(engine, c, nets, optimizer, plan);
    } catch (e) {
      optimizer.dispose();
      throw e;
    }
  }

  /** Values in one image. */
  get imageSize(): number {
    return this.config.channels * this.config.size * this.config.size;
  }

  get params(): Tensor[] {
    return this.nets.params;
  }

  /** Parameters by state_dict name ('encoder.0.weight', 'head.1.bias'). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.nets.params.map((p) => [p.label, p]));
  }

  /** A new learning rate, used from the next step (nothing recompiles). */
  setLr(lr: number): void {
    this.config.lr = contrastiveConfig({ ...this.config, lr }).lr;
    this.optimizer.config.lr = lr;
  }

  /**
   * One update on x (batch, C, S, S) in [0, 1] with a fresh augmentation seed. With `read`,
   * resolves to its figures. Its GPU work is submitted before it first awaits, so callers may
   * queue steps and refill `x` at once.
   */
  async step(x: Float32Array, read = true): Promise<ContrastiveStepResult | null> {
    if (x.length !== this.config.batch * this.imageSize) {
      throw new InputError(`Contrastive.step: x must hold ${this.config.batch} images of ${this.imageSize} values, got ${x.length} values.`);
    }
    const seed = (this.rng.next() * 2 ** 31) | 0;
    // With every augmentation off the plan reads no seed; the stream still advances, as ever.
    const feeds: Feeds = this.hasAugmentation ? { x, seed } : { x };
    this.steps++;
    const keys = ['loss', 'posSim', 'negSim', 'accuracy', 'gradNorm'] as const;
    const out = await this.plan.run(feeds, read ? [...keys] : []);
    return read ? (Object.fromEntries(keys.map((k) => [k, out[k][0]])) as unknown as ContrastiveStepResult) : null;
  }

  /** Features h (n, F) of images x (n, C, S, S), unaugmented: what a probe and the embedding read. */
  async features(x: Float32Array): Promise<Float32Array> {
    return encodeWith(this.engine, this.nets, this.config, x, this.plans);
  }

  /**
   * Both views of images x (n, C, S, S) in [0, 1] as a training step augments them, from
   * `seed`: (2, n, C, S, S) values, the first views then the second. What the loss is told is
   * "the same image"; an augmentation set to 0 leaves its part out, as in the step.
   */
  async views(x: Float32Array, seed: number): Promise<Float32Array> {
    const c = this.config, per = this.imageSize;
    if (x.length === 0 || x.length % per !== 0) {
      throw new InputError(`views: x must be (n, ${c.channels}, ${c.size}, ${c.size}) values, n >= 1; got ${x.length} values.`);
    }
    const n = x.length / per;
    let plan = this.viewPlans.get(n);
    if (!plan) {
      const xs = input('x', [n, c.channels, c.size, c.size]);
      const s = input('seed', [], 'i32');
      const v = concat([augmentView(xs, c, s, 0), augmentView(xs, c, s, 1)], 0); // (2n, C, S, S)
      plan = await this.engine.compile({ outputs: { v }, label: 'the contrastive views' });
      this.viewPlans.set(n, plan);
    }
    return (await plan.run(this.hasAugmentation ? { x, seed: seed | 0 } : { x }))['v'] as Float32Array;
  }

  /** Whether any augmentation is on (without one, the two views are the image itself). */
  private get hasAugmentation(): boolean {
    const c = this.config;
    return c.shift > 0 || c.rotate > 0 || c.cutout > 0 || c.noise > 0;
  }

  dispose(): void {
    for (const p of [this.plan, ...this.plans.values(), ...this.viewPlans.values()]) p.dispose();
    this.optimizer.dispose();
  }
}

/** Features of images x under `nets`, through a plan per row count kept in `plans`. */
export async function encodeWith(engine: Engine, nets: ContrastiveNets, c: ContrastiveConfig, x: Float32Array, plans: Map<number, Plan>): Promise<Float32Array> {
  const per = c.channels * c.size * c.size;
  if (x.length === 0 || x.length % per !== 0) {
    throw new InputError(`features: x must be (n, ${c.channels}, ${c.size}, ${c.size}) values, n >= 1; got ${x.length} values.`);
  }
  const n = x.length / per;
  let plan = plans.get(n);
  if (!plan) {
    plan = await engine.compile({ outputs: { h: nets.encode(input('x', [n, c.channels, c.size, c.size])) }, label: 'the contrastive encoder' });
    plans.set(n, plan);
  }
  return (await plan.run({ x }))['h'] as Float32Array;
}
