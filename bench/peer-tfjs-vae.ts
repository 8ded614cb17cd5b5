// The peer of the VAE suite in the same run: the MLP VAE and its training step written with
// TensorFlow.js 4.22 ops and trained on each of its backends (WebGPU, WebGL, the pure-JS CPU
// backend) in the same page, at the shapes of bench/vae.ts (the conv variant has no peer).
// The step, as Vae.step's plan computes it: the batch of 64 16x16 images uploaded; the encoder
// 256 -> 256 (tf.fused.matMul + bias, ReLU fused) -> two heads of 2 (mu, logvar); eps from
// tf.randomNormal, z = mu + exp(logvar / 2) eps; the decoder 2 -> 256 ReLU -> 256 logits;
// BCE with logits (tf.losses.sigmoidCrossEntropy, no reduction) summed per image, the
// closed-form KL 0.5 sum(mu^2 + exp(logvar) - 1 - logvar) per image, the loss
// mean(recon) + 1 x mean(KL). He-uniform weights, zero biases. tf.train.adam(1e-3, 0.9, 0.999,
// 1e-8): the engine's AdamW without decay or clipping computes the same update, so TF.js's own
// optimizer is a fair peer here.
// Timing, as the engine's: two warm-up steps (shader compilation, uploads), then windows of
// steps queued back to back whose last step's loss terms are read back, under the wall clock;
// the median window is reported (tf.js has no timestamps of its own). Quick mode, as the
// suite's: one warm-up, then one window of two steps.
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/vae.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { VAE_BENCH_SHAPE, vaeBatch } from './vae.js';
import { peerBackends, timeQueued, timeTraining, type PeerBackend } from './peer-tfjs.js';

export interface VaePeerMeasurement {
  backend: PeerBackend;
  /** The variant, as the suite's rows name it: the MLP only. */
  model: 'mlp';
  msPerStep: number;
  imagesPerSecond: number;
  /** Timed steps (after two warm-up steps), in WINDOWS windows (quick: one warm-up, one window of two). */
  steps: number;
  /** Per-image reconstruction and KL terms (nats) read back at the end of the median window. */
  recon: number;
  kl: number;
}

export interface VaePeerOptions {
  /** Wall-clock time all timed steps should take per backend, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

let models = 0;

/** The MLP VAE's variables, its optimizer and one training step, on the current backend. */
function buildModel() {
  const { batch: B, size: S, channels: C, latent: L, hidden: H, layers, beta, lr } = VAE_BENCH_SHAPE;
  const D = C * S * S;
  const prefix = `vae${models++}`;
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
  const enc = Array.from({ length: layers }, (_, i) => dense(`encoder.${i}`, i === 0 ? D : H, H));
  const muHead = dense('encoder.mu', H, L);
  const logvarHead = dense('encoder.logvar', H, L);
  const dec = Array.from({ length: layers }, (_, i) => dense(`decoder.${i}`, i === 0 ? L : H, H));
  const out = dense('decoder.out', H, D);
  const all = [...enc, muHead, logvarHead, ...dec, out];
  const vars = all.flatMap((l) => [l.w, l.b]);
  const opt = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  type Dense = (typeof all)[number];
  const relu = (h: tf.Tensor2D, l: Dense) => tf.fused.matMul({ a: h, b: l.w, bias: l.b, activation: 'relu' }) as tf.Tensor2D;
  const linear = (h: tf.Tensor2D, l: Dense) => tf.fused.matMul({ a: h, b: l.w, bias: l.b }) as tf.Tensor2D;

  /** One step on the batch (B, D) in [0, 1]: the kept mean reconstruction and KL terms (the caller reads or disposes them). */
  const step = (xHost: Float32Array): tf.Tensor[] => {
    const kept: tf.Tensor[] = [];
    tf.tidy(() => {
      const x = tf.tensor2d(xHost, [B, D]);
      opt.minimize(() => {
        const h = enc.reduce(relu, x);
        const mu = linear(h, muHead); // (B, L)
        const logvar = linear(h, logvarHead); // (B, L)
        const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), tf.randomNormal([B, L]))) as tf.Tensor2D;
        const logits = linear(dec.reduce(relu, z), out); // (B, D)
        const recon = tf.sum(tf.losses.sigmoidCrossEntropy(x, logits, undefined, 0, tf.Reduction.NONE), -1); // (B)
        const kl = tf.mul(tf.sum(tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logvar)), 1), logvar), -1), 0.5); // (B)
        const [reconMean, klMean] = [tf.mean(recon), tf.mean(kl)];
        // Kept past minimize's own tidy, to be read back as the engine's step reads them.
        kept.push(tf.keep(reconMean), tf.keep(klMean));
        return tf.add(reconMean, tf.mul(klMean, beta)) as tf.Scalar;
      }, false, vars);
    });
    return kept;
  };

  // tf.train.adam's dispose leaves one tensor of its own behind (measured in 4.22).
  const dispose = () => {
    for (const v of vars) v.dispose();
    opt.dispose();
  };
  return { step, dispose };
}

/** Both terms of the last step queued. */
async function terms([recon, kl]: tf.Tensor[]): Promise<{ recon: number; kl: number }> {
  const [r, k] = await Promise.all([recon.data(), kl.data()]);
  return { recon: r[0], kl: k[0] };
}

/** ms per training step of TensorFlow.js's MLP VAE on every backend it can start here. */
export async function runTfjsVaePeer(opts: VaePeerOptions = {}): Promise<VaePeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: VaePeerMeasurement[] = [];
  const x = vaeBatch();
  for await (const backend of peerBackends(log)) {
    const model = buildModel();
    try {
      const { steps, ms, recon, kl } = await timeTraining((n) => timeQueued(() => model.step(x), n, terms), opts.targetMs ?? 6000, opts.quick ?? false);
      out.push({ backend, model: 'mlp', msPerStep: ms, imagesPerSecond: (VAE_BENCH_SHAPE.batch * 1000) / ms, steps, recon, kl });
      log(
        `tfjs-${backend.padEnd(6)} mlp ${ms.toFixed(2).padStart(9)} ms/step  (${steps} steps after a warm-up, recon ${recon.toFixed(1)}, ` +
          `KL ${kl.toFixed(2)} nats, ${tf.memory().numTensors} tensors live)`,
      );
    } finally {
      model.dispose();
    }
  }
  return out;
}
