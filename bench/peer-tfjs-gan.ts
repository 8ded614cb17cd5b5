// The peer of the GAN suite in the same run: the same generator and discriminator and the same
// iteration written with TensorFlow.js 4.22 ops and trained on each of its backends (WebGPU,
// WebGL, the pure-JS CPU backend) in the same page, at the shapes of bench/gan.ts.
// The iteration, as Gan.step runs it: z ~ tf.randomNormal; a discriminator step on
// concat(real, G(z)) with G(z) computed outside the gradient (detached), then a generator step
// on fresh z through the current D; the real batch uploaded every iteration (as the engine feeds
// it). Layers are tf.fused.matMul + bias, ReLU fused into the generator's hidden layers, leaky
// ReLU 0.2 in the discriminator's; He-uniform weights, zero biases. Each player has its own
// tf.train.adam(1e-3, 0.5, 0.99, 1e-8): the engine's fused Adam without weight decay or clipping
// computes the same update, so TF.js's own optimizer is a fair peer here.
//   nonsaturating: D loss = BCE-with-logits of the 2B logits against [1 x B, 0 x B] (mean) x 2,
//     G loss = BCE-with-logits of D(G(z)) against 1, both via tf.losses.sigmoidCrossEntropy.
//   wgan-gp: D loss = mean(D(fake)) - mean(D(real)) + 10 mean((|grad_x D(x_mix)| - 1)^2) with
//     x_mix = eps real + (1 - eps) fake, eps ~ U(0, 1) per row; the input gradient is tf.grad
//     inside tf.variableGrads (TF.js records the inner backward on the outer tape, so this is a
//     true double backward). G loss = -mean(D(G(z))). One difference, forced by TF.js: the
//     LeakyRelu kernel's gradient builds a Greater mask, which has no gradient of its own, so a
//     double backward through tf.leakyRelu throws; here the discriminator's activation is the
//     same function written as 0.2 x + 0.8 relu(x) (Relu's gradient is twice differentiable).
// Timing: two warm-up iterations (shader compilation, uploads), then windows of iterations
// queued back to back whose last losses are read back, under the wall clock; the median window
// is reported, as for the engine (tf.js has no timestamps of its own). Quick mode, as the
// suite's: one warm-up, then one window of two iterations.
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/gan.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import type { GanLoss } from '../src/models/gan.js';
import { GAN_BENCH_LOSSES, GAN_BENCH_SHAPE, ganBatch } from './gan.js';
import { peerBackends, timeQueued, timeTraining, type PeerBackend } from './peer-tfjs.js';

export interface GanPeerMeasurement {
  backend: PeerBackend;
  loss: GanLoss;
  msPerIteration: number;
  samplesPerSecond: number;
  /** Timed iterations (after two warm-up iterations), in WINDOWS windows (quick: one warm-up, one window of two). */
  iterations: number;
  /** Losses read back at the end of the median window. */
  dLoss: number;
  gLoss: number;
}

export interface GanPeerOptions {
  /** Losses to time (default GAN_BENCH_LOSSES). */
  losses?: readonly GanLoss[];
  /** Wall-clock time all timed iterations of one loss should take per backend, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up iteration and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

const EPS = 1e-8;

let models = 0;

interface Layer {
  w: tf.Variable;
  b: tf.Variable;
}

/** Both players, their optimizers and one iteration, on the current backend. */
function buildModel(loss: GanLoss) {
  const { batch: B, dims, latent, hidden, layers, slope, lr, beta1, beta2, gpWeight } = GAN_BENCH_SHAPE;
  const prefix = `gan${models++}`;
  let seed = 1;
  // He uniform for a ReLU layer, U(-b, b) with b = sqrt(6 / fan_in), as kaimingUniform draws.
  // In a tidy, so the initial values go once the variables hold them (variables outlive tidies).
  const mlp = (name: string, sizes: number[]): Layer[] =>
    sizes.slice(1).map((out, i) => {
      const bound = Math.sqrt(6 / sizes[i]);
      return tf.tidy(() => ({
        w: tf.variable(tf.randomUniform([sizes[i], out], -bound, bound, 'float32', seed++), true, `${prefix}.${name}.${i}.weight`),
        b: tf.variable(tf.zeros([out]), true, `${prefix}.${name}.${i}.bias`),
      }));
    });
  const hiddenSizes = Array<number>(layers).fill(hidden);
  const generator = mlp('generator', [latent, ...hiddenSizes, dims]);
  const discriminator = mlp('discriminator', [dims, ...hiddenSizes, 1]);
  const gVars = generator.flatMap((l) => [l.w, l.b]);
  const dVars = discriminator.flatMap((l) => [l.w, l.b]);
  const gOpt = tf.train.adam(lr, beta1, beta2, EPS);
  const dOpt = tf.train.adam(lr, beta1, beta2, EPS);

  const G = (z: tf.Tensor2D): tf.Tensor2D => {
    let h = z;
    generator.forEach((l, i) => {
      const activation = i < generator.length - 1 ? 'relu' : 'linear';
      h = tf.fused.matMul({ a: h, b: l.w as tf.Tensor2D, bias: l.b, activation }) as tf.Tensor2D;
    });
    return h;
  };
  // The double backward of wgan-gp cannot go through tf.leakyRelu (see the header).
  const leaky = (h: tf.Tensor2D): tf.Tensor2D =>
    loss === 'wgan-gp' ? tf.add(tf.mul(h, slope), tf.mul(tf.relu(h), 1 - slope)) : tf.leakyRelu(h, slope);
  const D = (x: tf.Tensor2D): tf.Tensor2D => {
    let h = x;
    discriminator.forEach((l, i) => {
      h = tf.fused.matMul({ a: h, b: l.w as tf.Tensor2D, bias: l.b }) as tf.Tensor2D;
      if (i < discriminator.length - 1) h = leaky(h);
    });
    return h;
  };

  const labels = tf.concat([tf.ones([B, 1]), tf.zeros([B, 1])], 0);
  const ones = tf.ones([B, 1]);

  /** D loss from the real batch and detached fakes (a scalar). */
  const dLoss = (real: tf.Tensor2D, fake: tf.Tensor2D): tf.Scalar => {
    const logits = D(tf.concat2d([real, fake], 0)); // (2B, 1)
    if (loss === 'nonsaturating') return tf.mul(tf.losses.sigmoidCrossEntropy(labels, logits), 2) as tf.Scalar;
    const [r, f] = tf.split(logits, 2, 0);
    const eps = tf.randomUniform([B, 1]);
    const mixed = tf.add(tf.mul(real, eps), tf.mul(fake, tf.sub(1, eps))) as tf.Tensor2D;
    const g = tf.grad((x: tf.Tensor) => tf.sum(D(x as tf.Tensor2D)))(mixed); // (B, dims)
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(g), -1), 1e-12)); // (B)
    const penalty = tf.mean(tf.square(tf.sub(norm, 1)));
    return tf.add(tf.sub(tf.mean(f), tf.mean(r)), tf.mul(penalty, gpWeight)) as tf.Scalar;
  };
  const gLoss = (score: tf.Tensor2D): tf.Scalar =>
    (loss === 'nonsaturating' ? tf.losses.sigmoidCrossEntropy(ones, score) : tf.neg(tf.mean(score))) as tf.Scalar;

  /** One iteration on the real batch (B, dims): returns both losses (the caller reads or disposes them). */
  const iterate = (realHost: Float32Array): [tf.Scalar, tf.Scalar] =>
    tf.tidy(() => {
      const real = tf.tensor2d(realHost, [B, dims]);
      // The fakes are computed outside the D step's gradient: detached, as in the engine.
      const fake = G(tf.randomNormal([B, latent]));
      const d = dOpt.minimize(() => dLoss(real, fake), true, dVars)!;
      const g = gOpt.minimize(() => gLoss(D(G(tf.randomNormal([B, latent])))), true, gVars)!;
      return [d, g];
    });

  // tf.train.adam's dispose leaves one tensor of its own behind (measured in 4.22): the log's
  // count of live tensors grows by two per model for that reason.
  const dispose = () => {
    for (const v of [...gVars, ...dVars]) v.dispose();
    gOpt.dispose();
    dOpt.dispose();
    labels.dispose();
    ones.dispose();
  };
  return { iterate, dispose };
}

/** Both losses of the last iteration queued. */
async function losses([d, g]: tf.Tensor[]): Promise<{ dLoss: number; gLoss: number }> {
  const [dv, gv] = await Promise.all([d.data(), g.data()]);
  return { dLoss: dv[0], gLoss: gv[0] };
}

async function measure(loss: GanLoss, targetMs: number, quick: boolean): Promise<{ ms: number; dLoss: number; gLoss: number; iterations: number }> {
  const real = ganBatch();
  const model = buildModel(loss);
  const timeIterations = (n: number) => timeQueued(() => model.iterate(real), n, losses);
  try {
    const { steps, ...timed } = await timeTraining(timeIterations, targetMs, quick);
    return { ...timed, iterations: steps };
  } finally {
    model.dispose();
  }
}

/** ms per iteration of TensorFlow.js on every backend it can start here, for each loss. */
export async function runTfjsGanPeer(opts: GanPeerOptions = {}): Promise<GanPeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: GanPeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    for (const loss of opts.losses ?? GAN_BENCH_LOSSES) {
      const { ms, dLoss, gLoss, iterations } = await measure(loss, opts.targetMs ?? 6000, opts.quick ?? false);
      out.push({ backend, loss, msPerIteration: ms, samplesPerSecond: (GAN_BENCH_SHAPE.batch * 1000) / ms, iterations, dLoss, gLoss });
      log(
        `tfjs-${backend.padEnd(6)} ${loss.padEnd(13)} ${ms.toFixed(2).padStart(9)} ms/iteration  (${iterations} iterations after a warm-up, ` +
          `D loss ${dLoss.toFixed(3)}, G loss ${gLoss.toFixed(3)}, ${tf.memory().numTensors} tensors live)`,
      );
    }
  }
  return out;
}
