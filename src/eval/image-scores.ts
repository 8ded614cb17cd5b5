// Scores for generated images without downloaded networks: a small classifier trained by the
// engine on the generated glyphs (an MLP over pixels: pixels -> hidden -> features -> classes,
// ReLU) judges samples two ways. Class agreement: the share of conditional samples that the
// classifier assigns to the class they were asked for. A Fréchet distance, FID-like: between
// Gaussian fits of the classifier's feature layer on the samples and on held-out real glyphs.
// Both are reproducible from the config (seeded data, seeded weights) but are not comparable
// with FID on Inception features: compare figures from the same scorer config and sample count.
// Not here: the distance math (frechet.ts) or the images (data/glyphs.ts).

import type { Engine } from '../engine.js';
import { ConfigError, InputError } from '../errors.js';
import type { Plan } from '../executor.js';
import { glyphs } from '../data/glyphs.js';
import { kaimingUniform } from '../nn/init.js';
import { createOptimizer } from '../optim/fused.js';
import { crossEntropyMean } from '../ops/crossentropy.js';
import { matmul } from '../ops/matmul.js';
import { argmax } from '../ops/reduce.js';
import { full } from '../ops/unary.js';
import { input, parameter, type Tensor } from '../tensor.js';
import { featureStats, frechetFromStats, type FeatureStats } from './frechet.js';

export interface ImageScorerConfig {
  /** Image side (the glyphs' size). */
  size: number;
  /** Hidden units. */
  hidden: number;
  /** Width of the feature layer the Fréchet distance reads. */
  features: number;
  /** Training images, and held-out images for accuracy and the reference statistics. */
  trainImages: number;
  heldOut: number;
  /** Training steps of AdamW at `lr`, `batch` images each. */
  steps: number;
  batch: number;
  lr: number;
  seed: number;
}

export const imageScorerDefaults: ImageScorerConfig = {
  size: 16, hidden: 128, features: 64, trainImages: 8000, heldOut: 1000, steps: 800, batch: 128, lr: 2e-3, seed: 1,
};

export interface ImageScores {
  /** Share of samples the classifier puts in the class they were asked for (null without labels). */
  classAgreement: number | null;
  /** Fréchet distance of the samples' features to the held-out real glyphs'. */
  frechet: number;
  /** Samples per predicted class. */
  predicted: number[];
}

export class ImageScorer {
  private constructor(
    readonly config: ImageScorerConfig,
    private engine: Engine,
    private params: Tensor[],
    private plan: Plan,
    /** Accuracy on the held-out real glyphs: how far the scorer itself can be trusted. */
    readonly heldOutAccuracy: number,
    /** Feature statistics of the held-out real glyphs. */
    readonly reference: FeatureStats,
  ) {}

  /**
   * Trains the classifier on generated glyphs (seconds on a GPU, about a minute on SwiftShader).
   * `onStep` hears each training step as it is submitted (nothing is read back meanwhile), and
   * the next waits for it: a caller can report progress or let other GPU work take turns.
   */
  static async train(
    engine: Engine,
    overrides: Partial<ImageScorerConfig> = {},
    onStep?: (done: number) => void | Promise<void>,
  ): Promise<ImageScorer> {
    const c = { ...imageScorerDefaults, ...overrides };
    for (const [k, v] of Object.entries(c)) {
      if (!(typeof v === 'number' && v > 0 && (k === 'lr' || Number.isInteger(v)))) throw new ConfigError(`imageScorer: ${k} must be a positive ${k === 'lr' ? 'number' : 'integer'}, got ${v}.`);
    }
    const P = c.size * c.size;
    const layer = (name: string, cin: number, cout: number, offset: number) => ({
      w: parameter(`scorer.${name}.weight`, kaimingUniform([cin, cout], c.seed, { offset })),
      b: parameter(`scorer.${name}.bias`, full([cout], 0)),
    });
    const l1 = layer('fc1', P, c.hidden, 0), l2 = layer('fc2', c.hidden, c.features, 1), l3 = layer('head', c.features, 10, 2);
    const net = (x: Tensor) => {
      const h = matmul(x, l1.w, { bias: l1.b, activation: 'relu' });
      const f = matmul(h, l2.w, { bias: l2.b, activation: 'relu' }); // (B, features)
      return { f, logits: matmul(f, l3.w, { bias: l3.b }) };
    };
    const x = input('x', [c.batch, P]);
    const y = input('y', [c.batch], 'i32');
    const loss = crossEntropyMean(net(x).logits, y);
    const params = [l1.w, l1.b, l2.w, l2.b, l3.w, l3.b];
    const opt = await createOptimizer(engine, params, { kind: 'adamw', lr: c.lr, weightDecay: 0 });
    const step = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    const train = glyphs(c.trainImages, { size: c.size, seed: c.seed });
    const xb = new Float32Array(c.batch * P), yb = new Int32Array(c.batch);
    let at = 0;
    for (let s = 0; s < c.steps; s++) {
      for (let i = 0; i < c.batch; i++, at = (at + 1) % c.trainImages) {
        xb.set(train.images.subarray(at * P, (at + 1) * P), i * P);
        yb[i] = train.labels[at];
      }
      await step.run({ x: xb, y: yb }, []);
      await onStep?.(s + 1);
    }
    step.dispose();
    opt.dispose();
    const { f, logits } = net(x);
    const plan = await engine.compile({ outputs: { features: f, pred: argmax(logits, -1) } });
    const held = glyphs(c.heldOut, { size: c.size, seed: c.seed + 1_000_003 });
    const { features, pred } = await extract(plan, c, held.images);
    const accuracy = pred.filter((p, i) => p === held.labels[i]).length / c.heldOut;
    return new ImageScorer(c, engine, params, plan, accuracy, featureStats(features, c.features));
  }

  /** Scores samples (n, 1, size, size) in [-1, 1], with the class each was asked for when conditional. */
  async score(images: Float32Array, labels?: Int32Array): Promise<ImageScores> {
    const { features, pred } = await extract(this.plan, this.config, images);
    if (labels && labels.length !== pred.length) throw new InputError(`ImageScorer.score: ${pred.length} images but ${labels.length} labels.`);
    const predicted = new Array(10).fill(0);
    pred.forEach((p) => predicted[p]++);
    return {
      classAgreement: labels ? pred.filter((p, i) => p === labels[i]).length / pred.length : null,
      frechet: frechetFromStats(featureStats(features, this.config.features), this.reference),
      predicted,
    };
  }

  dispose(): void {
    this.plan.dispose();
    for (const p of this.params) this.engine.freeParameter(p);
  }
}

/** Features (n, features) and predicted classes of images (n, 1, size, size), in fixed-size batches. */
async function extract(plan: Plan, config: ImageScorerConfig, images: Float32Array): Promise<{ features: Float32Array; pred: Int32Array }> {
  const { batch, size, features: F } = config;
  const P = size * size;
  if (images.length % P !== 0 || images.length === 0) throw new InputError(`ImageScorer: images must be (n, 1, ${size}, ${size}); got ${images.length} values.`);
  const n = images.length / P;
  const features = new Float32Array(n * F), pred = new Int32Array(n);
  const xb = new Float32Array(batch * P);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    xb.fill(0).set(images.subarray(s * P, (s + m) * P));
    const r = await plan.run({ x: xb });
    features.set((r['features'] as Float32Array).subarray(0, m * F), s * F);
    pred.set((r['pred'] as Int32Array).subarray(0, m), s);
  }
  return { features, pred };
}
