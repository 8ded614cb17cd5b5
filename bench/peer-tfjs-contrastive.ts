// The peer of the contrastive suite in the same run: the NT-Xent step of bench/contrastive.ts
// written with TensorFlow.js 4.22 ops and trained on each of its backends (WebGPU, WebGL, the
// pure-JS CPU backend) in the same page, at the suite's shapes (the triplet row has no peer).
// The step, as Contrastive.step's plan computes it: the batch of 64 16x16 images uploaded; two
// views of each, drawn on the device from tf's random ops: a shift by integers in [-1, 1] and a
// rotation by up to 15 degrees about the centre, composed into one tf.image.transform per view
// (bilinear, zero outside: what a TF.js user would write, one resampling where the engine does
// two passes), a 4-pixel cut-out from a mask of comparisons, and Gaussian noise of std 0.1;
// the encoder 256 -> 128 -> 64 and the head 64 -> 64 -> 32 (tf.fused.matMul + bias, ReLU fused
// but on the last layer) over the 128 views; rows normalised, the cosine similarities, the
// diagonal masked, NT-Xent as tf.losses.softmaxCrossEntropy over tau 0.5 with each view's
// positive as the target; the similarities with the positive and the negatives and the share of
// positives found, as the engine's step computes them; gradients from tf.variableGrads and
// Adam with decoupled weight decay 1e-4 of the matrices written with tf ops (clippedAdam with
// no clip, which still takes the global gradient norm the engine's step also takes).
// He-uniform weights, zero biases.
// Timing, as the engine's: two warm-up steps (shader compilation, uploads), then windows of
// steps queued back to back whose last step's figures are read back, under the wall clock; the
// median window is reported (tf.js has no timestamps of its own). Quick mode, as the suite's:
// one warm-up, then one window of two steps.
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/contrastive.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { CONTRASTIVE_BENCH_SHAPE, contrastiveBatch } from './contrastive.js';
import { clippedAdam, peerBackends, timeQueued, timeTraining, type PeerBackend } from './peer-tfjs.js';

export interface ContrastivePeerMeasurement {
  backend: PeerBackend;
  /** The loss, as the suite's rows name it: NT-Xent only. */
  loss: 'ntxent';
  msPerStep: number;
  imagesPerSecond: number;
  /** Timed steps (after two warm-up steps), in WINDOWS windows (quick: one warm-up, one window of two). */
  steps: number;
  /** The loss's value and the share of positives found, read back at the end of the median window. */
  value: number;
  accuracy: number;
}

export interface ContrastivePeerOptions {
  /** Wall-clock time all timed steps should take per backend, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

let models = 0;

/** Two views' worth of augmentation of x (N, S, S, 1): shift and rotation in one transform, cut-out, noise. */
function augment(x: tf.Tensor4D, rows: tf.Tensor, cols: tf.Tensor): tf.Tensor4D {
  const { batch: N, size: S, shift, rotate, cutout, noise } = CONTRASTIVE_BENCH_SHAPE;
  const c = (S - 1) / 2;
  const dx = tf.sub(tf.floor(tf.randomUniform([N], 0, 2 * shift + 1)), shift);
  const dy = tf.sub(tf.floor(tf.randomUniform([N], 0, 2 * shift + 1)), shift);
  const theta = tf.randomUniform([N], (-rotate * Math.PI) / 180, (rotate * Math.PI) / 180);
  const cos = tf.cos(theta), sin = tf.sin(theta);
  // Output (u, v) reads input R(-theta) ((u, v) - centre) + centre - (dx, dy): the shifted image turned.
  const a2 = tf.sub(tf.sub(c, tf.add(tf.mul(cos, c), tf.mul(sin, c))), dx);
  const b2 = tf.sub(tf.sub(c, tf.sub(tf.mul(cos, c), tf.mul(sin, c))), dy);
  const zero = tf.zeros([N]);
  const transforms = tf.stack([cos, sin, a2, tf.neg(sin), cos, b2, zero, zero], 1) as tf.Tensor2D; // (N, 8)
  let y = tf.image.transform(x, transforms, 'bilinear', 'constant', 0);
  // Cut-out: a square of side `cutout` from a random corner, as the engine places it.
  const r0 = tf.sub(tf.floor(tf.randomUniform([N, 1, 1, 1], 0, S)), Math.floor(cutout / 2));
  const c0 = tf.sub(tf.floor(tf.randomUniform([N, 1, 1, 1], 0, S)), Math.floor(cutout / 2));
  const inRows = tf.logicalAnd(tf.greaterEqual(rows, r0), tf.less(rows, tf.add(r0, cutout)));
  const inCols = tf.logicalAnd(tf.greaterEqual(cols, c0), tf.less(cols, tf.add(c0, cutout)));
  y = tf.where(tf.logicalAnd(inRows, inCols), tf.zerosLike(y), y);
  return tf.add(y, tf.randomNormal(y.shape, 0, noise)) as tf.Tensor4D;
}

/** The encoder, the head, their optimizer and one NT-Xent training step, on the current backend. */
function buildModel() {
  const { batch: N, size: S, channels: C, hidden, features, projHidden, projection, temperature, lr, weightDecay } = CONTRASTIVE_BENCH_SHAPE;
  const D = C * S * S, R = 2 * N;
  const prefix = `contrastive${models++}`;
  let seed = 1;
  // He uniform, U(-b, b) with b = sqrt(6 / fan_in), as kaimingUniform draws. In a tidy, so the
  // initial values go once the variables hold them (variables outlive tidies).
  const dense = (name: string, i: number, o: number) => {
    const bound = Math.sqrt(6 / i);
    return tf.tidy(() => ({
      w: tf.variable(tf.randomUniform([i, o], -bound, bound, 'float32', seed++), true, `${prefix}.${name}.weight`) as tf.Variable<tf.Rank.R2>,
      b: tf.variable(tf.zeros([o]), true, `${prefix}.${name}.bias`),
    }));
  };
  const layers = [dense('encoder.0', D, hidden), dense('encoder.1', hidden, features), dense('head.0', features, projHidden), dense('head.1', projHidden, projection)];
  const vars = layers.flatMap((l) => [l.w, l.b]);
  const adam = clippedAdam(vars, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: Infinity, weightDecay });
  // Constants of the step, made once: pixel rows and columns for the cut-out, the masks and targets of the similarities.
  const pos = Array.from({ length: R }, (_, i) => (i < N ? i + N : i - N));
  const posMask = new Float32Array(R * R), negMask = new Float32Array(R * R), diag = new Float32Array(R * R);
  for (let i = 0; i < R; i++) {
    posMask[i * R + pos[i]] = 1;
    for (let j = 0; j < R; j++) if (j !== i && j !== pos[i]) negMask[i * R + j] = 1;
    diag[i * R + i] = -1e9;
  }
  const consts = tf.tidy(() => ({
    rows: tf.reshape(tf.range(0, S), [1, S, 1, 1]),
    cols: tf.reshape(tf.range(0, S), [1, 1, S, 1]),
    posMask: tf.tensor2d(posMask, [R, R]),
    negMask: tf.tensor2d(negMask, [R, R]),
    diag: tf.tensor2d(diag, [R, R]),
    targets: tf.tensor1d(pos, 'int32'),
    onehot: tf.oneHot(tf.tensor1d(pos, 'int32'), R),
  }));

  /** One step on the batch (N, D) in [0, 1]: the kept loss, share of positives found and similarities (the caller reads or disposes them). */
  const step = (xHost: Float32Array): tf.Tensor[] => {
    const kept: tf.Tensor[] = [];
    tf.tidy(() => {
      const x = tf.tensor4d(xHost, [N, S, S, 1]); // one channel: NCHW and NHWC hold the same values
      const views = tf.reshape(tf.concat([augment(x, consts.rows, consts.cols), augment(x, consts.rows, consts.cols)], 0), [R, D]) as tf.Tensor2D;
      const { grads } = tf.variableGrads(() => {
        const z = layers.reduce<tf.Tensor2D>((h, l, i) =>
          tf.fused.matMul({ a: h, b: l.w, bias: l.b, ...(i < layers.length - 1 ? { activation: 'relu' as const } : {}) }) as tf.Tensor2D, views); // (2N, P)
        const zn = tf.div(z, tf.sqrt(tf.add(tf.sum(tf.square(z), -1, true), 1e-12)));
        const sim = tf.matMul(zn, zn, false, true); // (2N, 2N)
        const masked = tf.add(sim, consts.diag);
        const loss = tf.losses.softmaxCrossEntropy(consts.onehot, tf.div(masked, temperature)) as tf.Scalar;
        // The step's figures, as the engine's plan computes them every step.
        const posSim = tf.div(tf.sum(tf.mul(sim, consts.posMask)), R);
        const negSim = tf.div(tf.sum(tf.mul(sim, consts.negMask)), R * (R - 2));
        const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(masked, -1), consts.targets), 'float32'));
        kept.push(...[loss, accuracy, posSim, negSim].map((t) => tf.keep(t)));
        return loss;
      }, vars);
      adam.update(grads);
    });
    return kept;
  };

  const dispose = () => {
    for (const v of vars) v.dispose();
    adam.dispose();
    tf.dispose(Object.values(consts));
  };
  return { step, dispose };
}

/** The loss and the share of positives found of the last step queued. */
async function figures([loss, accuracy]: tf.Tensor[]): Promise<{ value: number; accuracy: number }> {
  const [l, a] = await Promise.all([loss.data(), accuracy.data()]);
  return { value: l[0], accuracy: a[0] };
}

/** ms per training step of TensorFlow.js's NT-Xent step on every backend it can start here. */
export async function runTfjsContrastivePeer(opts: ContrastivePeerOptions = {}): Promise<ContrastivePeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: ContrastivePeerMeasurement[] = [];
  const x = contrastiveBatch();
  for await (const backend of peerBackends(log)) {
    const model = buildModel();
    try {
      const { steps, ms, value, accuracy } = await timeTraining((n) => timeQueued(() => model.step(x), n, figures), opts.targetMs ?? 6000, opts.quick ?? false);
      out.push({ backend, loss: 'ntxent', msPerStep: ms, imagesPerSecond: (CONTRASTIVE_BENCH_SHAPE.batch * 1000) / ms, steps, value, accuracy });
      log(
        `tfjs-${backend.padEnd(6)} ntxent ${ms.toFixed(2).padStart(9)} ms/step  (${steps} steps after a warm-up, loss ${value.toFixed(3)}, ` +
          `positives found ${(100 * accuracy).toFixed(0)}%, ${tf.memory().numTensors} tensors live)`,
      );
    } finally {
      model.dispose();
    }
  }
  return out;
}
