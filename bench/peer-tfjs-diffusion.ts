// The peer of the diffusion suite in the same run: the same denoiser and training step written
// with TensorFlow.js 4.22 ops and trained on each of its backends (WebGPU, WebGL, the pure-JS
// CPU backend) in the same page, at the shapes of bench/diffusion.ts. The step: timesteps t
// drawn uniformly on the host and uploaded with the clean batch (as the engine feeds them),
// sqrt(alphaBar_t) and sqrt(1 - alphaBar_t) gathered from (T, 1) tables of the same cosine
// schedule, the noise from tf.randomNormal, x_t formed, the MLP (concat(x_t, sinusoidal table
// gathered by t) -> three tf.fused.matMul + bias layers of 128 with SiLU as x sigmoid(x) ->
// a linear head) predicting eps, mean squared error; gradients from tf.variableGrads, then
// global-norm clipping to 1 and Adam (bias-corrected, no weight decay, lr 1e-3) written with
// tf ops, as the engine's fused AdamW kernel computes it. Not tf.train.adam: it has no clipping.
// Timing: two warm-up steps (shader compilation, uploads), then windows of steps queued back to
// back whose last loss is read back, under the wall clock; the median window is reported, as
// for the engine (tf.js has no timestamps of its own). Quick mode, as the suite's: one warm-up,
// then one window of two steps.
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/diffusion.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { diffusionDefaults, noiseSchedule, sinusoidTable } from '../src/models/diffusion.js';
import { mulberry32 } from '../src/data/random.js';
import { DIFFUSION_BENCH_SHAPE, diffusionBatch } from './diffusion.js';
import { clippedAdam, peerBackends, timeQueued, timeTraining, type PeerAdamConfig, type PeerBackend } from './peer-tfjs.js';

export interface DiffusionPeerMeasurement {
  backend: PeerBackend;
  msPerStep: number;
  samplesPerSecond: number;
  /** Timed steps (after two warm-up steps), in WINDOWS windows (quick: one warm-up, one window of two). */
  steps: number;
  /** Loss read back at the end of the median window. */
  loss: number;
}

export interface DiffusionPeerOptions {
  /** Wall-clock time all timed steps should take per backend, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

// The engine's step: diffusionDefaults' optimizer (AdamW at lr 1e-3, no decay, clip 1) at the
// fused optimizer's defaults for the rest.
const ADAM: PeerAdamConfig = {
  lr: diffusionDefaults.optimizer.lr as number,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  maxGradNorm: diffusionDefaults.optimizer.maxGradNorm!,
};

let models = 0;

/** The denoiser's variables, the constant tables and one training step, on the current backend. */
function buildModel() {
  const { batch: B, dims: D, hidden: H, layers: L, embDim: E, timesteps: T } = DIFFUSION_BENCH_SHAPE;
  const prefix = `diffusion${models++}`;
  const vars: tf.Variable[] = [];
  let seed = 1;
  // He uniform for a SiLU/ReLU layer, U(-b, b) with b = sqrt(6 / fan_in), as kaimingUniform draws.
  // In a tidy, so the initial values go once the variables hold them (variables outlive tidies).
  const variable = (init: () => tf.Tensor, trainable: boolean, name?: string) => tf.tidy(() => tf.variable(init(), trainable, name));
  const layer = (name: string, cin: number, cout: number) => {
    const b = Math.sqrt(6 / cin);
    const w = variable(() => tf.randomUniform([cin, cout], -b, b, 'float32', seed++), true, `${prefix}.${name}.weight`);
    const bias = variable(() => tf.zeros([cout]), true, `${prefix}.${name}.bias`);
    vars.push(w, bias);
    return { w, bias };
  };
  const layers = [layer('in', D + E, H), ...Array.from({ length: L - 1 }, (_, l) => layer(`hidden.${l + 1}`, H, H)), layer('out', H, D)];

  const { alphaBar } = noiseSchedule(diffusionDefaults.schedule, T);
  const signalTable = tf.tensor2d(Float32Array.from(alphaBar, Math.sqrt), [T, 1]);
  const noiseTable = tf.tensor2d(Float32Array.from(alphaBar, (a) => Math.sqrt(1 - a)), [T, 1]);
  const embTable = tf.tensor2d(sinusoidTable(T, E), [T, E]);

  const predict = (xt: tf.Tensor2D, t: tf.Tensor1D): tf.Tensor2D => {
    let h = tf.concat2d([xt, tf.gather(embTable, t) as tf.Tensor2D], 1);
    layers.forEach(({ w, bias }, i) => {
      const z = tf.fused.matMul({ a: h, b: w as tf.Tensor2D, bias }) as tf.Tensor2D;
      h = i < layers.length - 1 ? (tf.mul(z, tf.sigmoid(z)) as tf.Tensor2D) : z; // SiLU on the hidden layers
    });
    return h;
  };

  const adam = clippedAdam(vars, ADAM);
  const rand = mulberry32(1);
  /** One training step on the clean batch x0 (B, D); returns the loss tensor (the caller reads or disposes it). */
  const train = (x0Host: Float32Array): tf.Scalar =>
    tf.tidy(() => {
      // Fed every step, as Diffusion.step feeds x0 and t.
      const x0 = tf.tensor2d(x0Host, [B, D]);
      const t = tf.tensor1d(Int32Array.from({ length: B }, () => Math.min(T - 1, Math.floor(rand() * T))), 'int32');
      const signal = tf.gather(signalTable, t); // (B, 1)
      const noise = tf.gather(noiseTable, t);
      const eps = tf.randomNormal([B, D]);
      const xt = tf.add(tf.mul(x0, signal), tf.mul(eps, noise)) as tf.Tensor2D;
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(predict(xt, t), eps)) as tf.Scalar, vars);
      adam.update(grads);
      return value;
    });

  const dispose = () => {
    for (const p of vars) p.dispose();
    adam.dispose();
    signalTable.dispose();
    noiseTable.dispose();
    embTable.dispose();
  };
  return { train, dispose };
}

async function measure(targetMs: number, quick: boolean): Promise<{ ms: number; loss: number; steps: number }> {
  const x0 = diffusionBatch();
  const model = buildModel();
  const timeSteps = (n: number) => timeQueued(() => [model.train(x0)], n, async ([l]) => ({ loss: (await l.data())[0] }));
  try {
    return await timeTraining(timeSteps, targetMs, quick);
  } finally {
    model.dispose();
  }
}

/** ms per training step of TensorFlow.js on every backend it can start here. */
export async function runTfjsDiffusionPeer(opts: DiffusionPeerOptions = {}): Promise<DiffusionPeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: DiffusionPeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    const { ms, loss, steps } = await measure(opts.targetMs ?? 6000, opts.quick ?? false);
    out.push({ backend, msPerStep: ms, samplesPerSecond: (DIFFUSION_BENCH_SHAPE.batch * 1000) / ms, steps, loss });
    log(`tfjs-${backend.padEnd(6)} ${ms.toFixed(2).padStart(9)} ms/step  (${steps} steps after a warm-up, loss ${loss.toFixed(3)}, ${tf.memory().numTensors} tensors live)`);
  }
  return out;
}
