// The peer of the row-kernel suite in the same run: the same passes written the way a
// TensorFlow.js 4.22 user would, on each of its backends (WebGPU, WebGL, the pure-JS CPU
// backend) in the same page, at the shapes of bench/kernels.ts:
//   softmax       tf.softmax over the last axis; backward: tf.grad with dy given;
//   layerNorm     tf.moments, then (x - mean) * rsqrt(variance + eps) * gain + bias (TF.js has
//                 no fused layer norm); backward: tf.grads for dx, dgain and dbias with dy given;
//   crossEntropy  tf.losses.softmaxCrossEntropy of float one-hot labels made from the int32
//                 targets inside the pass (tf.oneHot), the mean over rows; backward: tf.grad of
//                 the scalar loss for dlogits.
// GB/s uses the suite's byte model (minBytes: the least traffic of the pass), not what TF.js
// actually moves, so the figures compare with the engine's like for like.
// Timing: a warm-up call (shader compilation, uploads), then batches of calls queued back to
// back under the wall clock, each ended by reading back one element of the last result (a
// whole output would time the readback); the median batch (tf.js has no timestamps of its own).
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/kernels.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { mulberry32 } from '../src/data/random.js';
import { KERNEL_PASSES, minBytes, type KernelOp, type KernelPass, type KernelShape } from './kernels.js';
import { peerBackends, timeBatches, timeQueued, type PeerBackend } from './peer-tfjs.js';

export interface KernelPeerMeasurement {
  /** Op and pass, as the engine's row is named. */
  name: string;
  backend: PeerBackend;
  op: KernelOp;
  pass: KernelPass;
  /** rows x cols. */
  shape: string;
  label: string;
  /** Median ms per pass. */
  ms: number;
  /** minBytes of the pass over ms. */
  gbPerSecond: number;
  /** Timed calls. */
  reps: number;
}

export interface KernelPeerOptions {
  log?: (line: string) => void;
  /** Batches of ~20 ms, every figure but no precision (the suite's --quick). */
  quick?: boolean;
}

const LN_EPS = 1e-5;

/** Inputs of a shape and the pass as a function from them to the tensors it produces. */
function build(s: KernelShape, pass: KernelPass) {
  const { rows: R, cols: C } = s;
  const rand = mulberry32(1);
  const u = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
  const x = tf.tensor2d(u(R * C, -4, 4), [R, C]);
  const dy = tf.tensor2d(u(R * C, -1, 1), [R, C]);
  const gain = tf.tensor1d(u(C, 0.5, 1.5));
  const bias = tf.tensor1d(u(C, -0.5, 0.5));
  const targets = tf.tensor1d(Int32Array.from({ length: R }, () => Math.floor(rand() * C)), 'int32');
  const dispose = () => tf.dispose([x, dy, gain, bias, targets]);
  const fwd = pass === 'forward';
  let call: () => tf.Tensor[];
  switch (s.op) {
    case 'softmax': {
      const grad = tf.grad((t: tf.Tensor) => tf.softmax(t));
      call = fwd ? () => [tf.softmax(x)] : () => [grad(x, dy)];
      break;
    }
    case 'layerNorm': {
      const layerNorm = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(t, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, LN_EPS))), g), b);
      };
      const grads = tf.grads((t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(t, g, b));
      call = fwd ? () => [layerNorm(x, gain, bias)] : () => grads([x, gain, bias], dy);
      break;
    }
    case 'crossEntropy': {
      const loss = (logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(targets, C, 1, 0, 'float32'), logits);
      const grad = tf.grad(loss);
      call = fwd ? () => [loss(x)] : () => [grad(x)];
      break;
    }
  }
  return { call: () => tf.tidy(call), dispose };
}

/** One element of the last call's first output: waits for every queued call without timing a whole output's readback. */
async function probe([y]: tf.Tensor[]): Promise<object> {
  const one = tf.tidy(() => tf.slice(tf.reshape(y, [-1]), 0, 1));
  await one.data();
  one.dispose();
  return {};
}

async function measure(s: KernelShape, pass: KernelPass, targetMs: number): Promise<{ ms: number; reps: number }> {
  const { call, dispose } = build(s, pass);
  try {
    return await timeBatches(async (n) => (await timeQueued(call, n, probe)).ms, targetMs, { maxPerBatch: 256, slowMs: 1000 });
  } finally {
    dispose();
  }
}

/** ms and GB/s of TensorFlow.js on every backend it can start here, for each shape and pass. */
export async function runTfjsKernelsPeer(shapes: readonly KernelShape[], opts: KernelPeerOptions = {}): Promise<KernelPeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: KernelPeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    for (const s of shapes) {
      for (const pass of KERNEL_PASSES) {
        const { ms, reps } = await measure(s, pass, opts.quick ? 20 : 200);
        const shape = `${s.rows}x${s.cols}`;
        const gbPerSecond = minBytes(s.op, pass, s.rows, s.cols) / (ms * 1e6);
        out.push({ name: `${s.op} ${pass}`, backend, op: s.op, pass, shape, label: s.label, ms, gbPerSecond, reps });
        log(`tfjs-${backend.padEnd(6)} ${`${s.op} ${pass}`.padEnd(29)} ${shape.padStart(10)}  ${ms.toPrecision(4).padStart(9)} ms  ${gbPerSecond.toFixed(2).padStart(8)} GB/s  (${reps} calls, wall clock)`);
      }
    }
  }
  return out;
}
