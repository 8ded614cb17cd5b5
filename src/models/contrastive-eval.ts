// How representation learning is judged (SimCLR's protocol, scaled down): a linear probe,
// multinomial logistic regression trained by the engine on the GPU on frozen features of
// labelled images, scored by its accuracy on held-out ones; and a 2D picture of the features by
// PCA, the covariance computed by the engine (one matmul) and its top two eigenvectors found by
// power iteration on the CPU, a stated small step on the read-back F x F matrix.
// Features are standardised by the probe's training set before the probe sees them, so raw
// pixels, a random encoder and a trained one are judged on the same footing.
// Not here: the features themselves (models/contrastive.ts), when a probe runs (the task).

import { InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import { createOptimizer } from '../optim/fused.js';
import { equal, sub } from '../ops/binary.js';
import { crossEntropyMean } from '../ops/crossentropy.js';
import { matmul } from '../ops/matmul.js';
import { argmax, mean } from '../ops/reduce.js';
import { full, mulScalar } from '../ops/unary.js';
import { constant, input, parameter } from '../tensor.js';

export interface ProbeConfig {
  /** Full-batch AdamW steps of the logistic regression. */
  steps: number;
  /** Its learning rate. */
  lr: number;
  /** Its weight decay (decoupled; a little keeps many features from overfitting few images). */
  weightDecay: number;
  /** Label values K (10 digits). */
  classes: number;
}

export const probeDefaults: ProbeConfig = { steps: 300, lr: 0.01, weightDecay: 1e-3, classes: 10 };

/** A labelled set of feature rows: (n, F) values and (n) classes. */
export interface FeatureSet {
  features: Float32Array;
  labels: Int32Array;
}

export interface ProbeResult {
  /** Accuracy on the probe's own training rows, and on the held-out rows. */
  trainAccuracy: number;
  testAccuracy: number;
}

/** Columns F of a set, checked against its labels. */
function widthOf(what: string, s: FeatureSet): number {
  const n = s.labels.length;
  if (n === 0 || s.features.length % n !== 0) {
    throw new InputError(`linearProbe: ${what} has ${s.features.length} feature values for ${n} labels; give (n, F) values and n labels, n >= 1.`);
  }
  return s.features.length / n;
}

/** Both sets standardised per feature by the training set's mean and standard deviation. */
function standardise(train: Float32Array, test: Float32Array, F: number): [Float32Array, Float32Array] {
  const n = train.length / F;
  const mu = new Float64Array(F), sd = new Float64Array(F);
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) mu[j] += train[i * F + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) sd[j] += (train[i * F + j] - mu[j]) ** 2 / n;
  // A feature constant over the training set (a dead ReLU, a blank pixel) carries nothing: it maps to 0.
  const scale = sd.map((v) => (v > 1e-12 ? 1 / Math.sqrt(v) : 0));
  const apply = (x: Float32Array) => x.map((v, k) => (v - mu[k % F]) * scale[k % F]);
  return [apply(train), apply(test)];
}

/**
 * Trains logistic regression (weights (F, K) and biases from zero) on `train` for a fixed number
 * of full-batch steps and returns its accuracies; every GPU buffer it made is freed.
 */
export async function linearProbe(engine: Engine, train: FeatureSet, test: FeatureSet, overrides: Partial<ProbeConfig> = {}): Promise<ProbeResult> {
  const c = { ...probeDefaults, ...overrides };
  const F = widthOf('train', train);
  if (widthOf('test', test) !== F) throw new InputError(`linearProbe: train has ${F} features per row, test ${widthOf('test', test)}.`);
  const [xTrain, xTest] = standardise(train.features, test.features, F);
  const K = c.classes;
  const w = parameter('probe.weight', full([F, K], 0));
  const b = parameter('probe.bias', full([K], 0));
  const optimizer = await createOptimizer(engine, [w, b], { kind: 'adamw', lr: c.lr, weightDecay: c.weightDecay });
  const plans = [];
  try {
    const x = input('x', [train.labels.length, F]);
    const y = constant(train.labels, [train.labels.length], 'i32');
    const loss = crossEntropyMean(matmul(x, w, { bias: b }), y);
    const fit = await engine.compile({ outputs: { loss }, optimizer: optimizer.minimize(loss), label: 'the linear probe' });
    plans.push(fit);
    const accuracy = async (set: FeatureSet, values: Float32Array) => {
      const n = set.labels.length;
      const hit = mean(equal(argmax(matmul(input('x', [n, F]), w, { bias: b }), -1), constant(set.labels, [n], 'i32')));
      const plan = await engine.compile({ outputs: { hit }, label: 'the linear probe' });
      plans.push(plan);
      return (await plan.run({ x: values }))['hit'][0];
    };
    for (let s = 0; s < c.steps; s++) await fit.run({ x: xTrain }, s === c.steps - 1 ? ['loss'] : []);
    return { trainAccuracy: await accuracy(train, xTrain), testAccuracy: await accuracy(test, xTest) };
  } finally {
    for (const p of plans) p.dispose();
    optimizer.dispose();
    engine.freeParameter(w);
    engine.freeParameter(b);
  }
}

/** The top two principal components of rows x (n, F) and the rows projected on them. */
export interface Pca2 {
  /** (n, 2) coordinates of the centred rows along the components. */
  points: Float32Array;
  /** The two largest eigenvalues of the covariance, and the share of the total variance each explains. */
  variances: [number, number];
  explained: [number, number];
}

/** Power iterations per component: ample for the gap between a 64 x 64 covariance's top eigenvalues. */
const POWER_ITERATIONS = 200;

/**
 * PCA of rows x (n, F), n >= 2: the engine centres them and forms the covariance X^T X / (n - 1)
 * (F, F); the top two eigenvectors come from power iteration with deflation on the CPU, and the
 * centred rows are projected on them. Signs are fixed so each component's largest entry is positive.
 */
export async function pca2(engine: Engine, x: Float32Array, F: number): Promise<Pca2> {
  const n = x.length / F;
  if (!Number.isInteger(n) || n < 2) throw new InputError(`pca2: x must be (n, ${F}) values with n >= 2; got ${x.length} values.`);
  const xs = input('x', [n, F]);
  const xc = sub(xs, mean(xs, 0, true)); // (n, F)
  const cov = mulScalar(matmul(xc, xc, { transA: true }), 1 / (n - 1)); // (F, F)
  const plan = await engine.compile({ outputs: { xc, cov }, label: 'PCA' });
  let out;
  try {
    out = await plan.run({ x });
  } finally {
    plan.dispose();
  }
  const C = Float64Array.from(out['cov']);
  let total = 0;
  for (let j = 0; j < F; j++) total += C[j * F + j];
  const comps: Float64Array[] = [];
  const variances: number[] = [];
  for (let k = 0; k < 2; k++) {
    let v = Float64Array.from({ length: F }, (_, j) => 1 + j / F); // not orthogonal to any eigenvector in practice
    let lambda = 0;
    for (let it = 0; it < POWER_ITERATIONS; it++) {
      const u = new Float64Array(F);
      for (let i = 0; i < F; i++) for (let j = 0; j < F; j++) u[i] += C[i * F + j] * v[j];
      lambda = Math.hypot(...u);
      if (lambda === 0) break;
      v = u.map((e) => e / lambda);
    }
    const big = v.reduce((m, e) => (Math.abs(e) > Math.abs(m) ? e : m), 0);
    if (big < 0) v = v.map((e) => -e);
    comps.push(v);
    variances.push(lambda);
    for (let i = 0; i < F; i++) for (let j = 0; j < F; j++) C[i * F + j] -= lambda * v[i] * v[j]; // deflate
  }
  const xcs = out['xc'];
  const points = new Float32Array(n * 2);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let j = 0; j < F; j++) s += xcs[r * F + j] * comps[k][j];
      points[r * 2 + k] = s;
    }
  }
  const share = (v: number) => (total > 0 ? v / total : 0);
  return { points, variances: [variances[0], variances[1]], explained: [share(variances[0]), share(variances[1])] };
}
