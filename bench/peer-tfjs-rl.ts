// The peer of the RL suite in the same run: the task's policy and value networks and their
// gradient step written with TensorFlow.js 4.22 ops and trained on each of its backends (WebGPU,
// WebGL, the pure-JS CPU backend) in the same page, on the rows and sizes of bench/rl.ts. Only the
// gradient step: the rollout's CartPole is the task's own CPU code and has no peer.
// The networks: policy 4 -> 64 -> 64 -> 2 and value 4 -> 64 -> 64 -> 1, tf.fused.matMul + bias
// with tf.tanh between, Glorot-uniform weights with the agent's gains, zero biases. The step, as
// Agent.train's plan computes it: the rows uploaded (observations, actions, advantages, returns,
// old log probabilities, weights), log pi = log-softmax gathered at the action (by a one-hot),
//   ppo:       policy loss -sum(w min(r A, clip(r, 1 - 0.2, 1 + 0.2) A)), r = exp(log pi - log pi_old),
//   reinforce: policy loss -sum(w log pi A),
// value loss sum(w (V - R)^2), entropy sum(w H(softmax(z))), minimising
// policy + 0.5 value - 0.01 entropy; gradients from tf.variableGrads, then global-norm clipping
// to 0.5 and Adam (lr 1e-3, eps 1e-5, no decay) written with tf ops (clippedAdam: tf.train.adam
// has no clipping), as the engine's fused AdamW computes it. Every step reads back the three
// loss terms and the rows' log probabilities, as the engine's does (the engine also reads its
// gradient norm, one number more).
// Timing, as the engine's: two warm-up steps (shader compilation, uploads), then windows of N
// steps queued back to back, the wall clock until every step's read-back resolved, divided by
// N; the median of three windows is reported (tf.js has no timestamps of its own). Quick mode,
// as the suite's: one warm-up, then one window of two steps.
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/rl.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import type { RlAlgorithm, TrainRows } from '../src/tasks/rl/agent.js';
import { ACTIONS, OBS } from '../src/tasks/rl/cartpole.js';
import { trainRows } from '../src/tasks/rl/run.js';
import { RL_BENCH_ALGORITHMS, rlBenchConfig, rlBenchRows, rlBenchScalars } from './rl.js';
import { clippedAdam, peerBackends, timeTraining, type PeerBackend } from './peer-tfjs.js';

export interface RlPeerMeasurement {
  backend: PeerBackend;
  /** The algorithm, as the suite's rows name it. */
  name: RlAlgorithm;
  rows: number;
  msPerUpdateStep: number;
  rowsPerSecond: number;
  /** Timed steps (after two warm-up steps), in WINDOWS windows (quick: one warm-up, one window of two). */
  updateSteps: number;
  /** The losses read back by the median window's last step. */
  policyLoss: number;
  valueLoss: number;
  entropy: number;
}

export interface RlPeerOptions {
  /** Algorithms to time (default RL_BENCH_ALGORITHMS). */
  algorithms?: readonly RlAlgorithm[];
  /** Wall-clock time all timed steps of one algorithm should take per backend, roughly (default 4000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

let models = 0;

/** Both networks, the optimizer and one gradient step of `algorithm`, on the current backend. */
function buildModel(algorithm: RlAlgorithm) {
  const c = rlBenchConfig(algorithm);
  const s = rlBenchScalars(c);
  const prefix = `rl${models++}`;
  let seed = 1;
  // Glorot uniform, U(-b, b) with b = gain sqrt(6 / (fan_in + fan_out)); tanh's gain 5/3 inside,
  // the agent's 0.01 (policy) and 1 (value) on the last layer. In a tidy, so the initial values
  // go once the variables hold them.
  const mlp = (name: string, sizes: number[], outGain: number) =>
    sizes.slice(1).map((out, i) => {
      const gain = i === sizes.length - 2 ? outGain : 5 / 3;
      const bound = gain * Math.sqrt(6 / (sizes[i] + out));
      return tf.tidy(() => ({
        w: tf.variable(tf.randomUniform([sizes[i], out], -bound, bound, 'float32', seed++), true, `${prefix}.${name}.${i}.weight`),
        b: tf.variable(tf.zeros([out]), true, `${prefix}.${name}.${i}.bias`),
      }));
    });
  const hidden = Array<number>(c.layers).fill(c.hidden);
  const policy = mlp('policy', [OBS, ...hidden, ACTIONS], 0.01);
  const value = mlp('value', [OBS, ...hidden, 1], 1);
  const vars = [...policy, ...value].flatMap((l) => [l.w, l.b]);
  const adam = clippedAdam(vars, { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-5, maxGradNorm: c.maxGradNorm });
  // tf.fused.matMul has no tanh epilogue: the bias is fused, tanh is its own op.
  const apply = (layers: typeof policy, x: tf.Tensor2D): tf.Tensor2D =>
    layers.reduce((h, l, i) => {
      const y = tf.fused.matMul({ a: h, b: l.w as tf.Tensor2D, bias: l.b }) as tf.Tensor2D;
      return i < layers.length - 1 ? tf.tanh(y) : y;
    }, x);

  /** One gradient step on `rows` (N of them): the kept policy loss, value loss, entropy and log pi (the caller reads and disposes them). */
  const step = (rows: TrainRows): tf.Tensor[] => {
    const N = rows.action.length;
    const kept: tf.Tensor[] = [];
    tf.tidy(() => {
      const obs = tf.tensor2d(rows.obs, [N, OBS]);
      const picked = tf.oneHot(tf.tensor1d(rows.action, 'int32'), ACTIONS); // (N, ACTIONS)
      const advantage = tf.tensor1d(rows.advantage);
      const returns = tf.tensor1d(rows.returns);
      const oldLogp = tf.tensor1d(rows.oldLogp);
      const weight = tf.tensor1d(rows.weight);
      const wsum = (t: tf.Tensor) => tf.sum(tf.mul(weight, t));
      const { grads } = tf.variableGrads(() => {
        const lsm = tf.logSoftmax(apply(policy, obs)); // (N, ACTIONS)
        const logp = tf.sum(tf.mul(lsm, picked), -1); // (N)
        let policyLoss: tf.Tensor;
        if (algorithm === 'ppo') {
          const ratio = tf.exp(tf.sub(logp, oldLogp));
          const clipped = tf.clipByValue(ratio, 1 - s.clip, 1 + s.clip);
          policyLoss = tf.neg(wsum(tf.minimum(tf.mul(ratio, advantage), tf.mul(clipped, advantage))));
        } else {
          policyLoss = tf.neg(wsum(tf.mul(logp, advantage)));
        }
        const err = tf.sub(tf.reshape(apply(value, obs), [N]), returns);
        const valueLoss = wsum(tf.square(err));
        const entropy = wsum(tf.neg(tf.sum(tf.mul(tf.exp(lsm), lsm), -1)));
        // Kept past variableGrads' own tidy, to be read back as the engine's step reads them.
        kept.push(...[policyLoss, valueLoss, entropy, logp].map((t) => tf.keep(t)));
        return tf.sub(tf.add(policyLoss, tf.mul(valueLoss, s.valueCoef)), tf.mul(entropy, s.entropyCoef)) as tf.Scalar;
      });
      adam.update(grads);
    });
    return kept;
  };

  // clippedAdam's moments and the variables; nothing else outlives a step.
  const dispose = () => {
    for (const v of vars) v.dispose();
    adam.dispose();
  };
  return { step, dispose };
}

/** `n` steps queued back to back, every one's outputs read back: ms per step and the last one's losses. */
async function timeSteps(model: ReturnType<typeof buildModel>, rows: TrainRows, n: number) {
  const t0 = performance.now();
  const reads: Promise<Float32Array[]>[] = [];
  for (let i = 0; i < n; i++) {
    const out = model.step(rows);
    reads.push(Promise.all(out.map((t) => t.data() as Promise<Float32Array>)).finally(() => tf.dispose(out)));
  }
  const last = (await Promise.all(reads))[n - 1];
  return { ms: (performance.now() - t0) / n, policyLoss: last[0][0], valueLoss: last[1][0], entropy: last[2][0] };
}

/** ms per gradient step of TensorFlow.js on every backend it can start here, for each algorithm. */
export async function runTfjsRlPeer(opts: RlPeerOptions = {}): Promise<RlPeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: RlPeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    for (const name of opts.algorithms ?? RL_BENCH_ALGORITHMS) {
      const rows = rlBenchRows(trainRows(rlBenchConfig(name)));
      const model = buildModel(name);
      try {
        const { steps, ms, policyLoss, valueLoss, entropy } = await timeTraining((n) => timeSteps(model, rows, n), opts.targetMs ?? 4000, opts.quick ?? false);
        const N = rows.action.length;
        out.push({ backend, name, rows: N, msPerUpdateStep: ms, rowsPerSecond: (N * 1000) / ms, updateSteps: steps, policyLoss, valueLoss, entropy });
        log(
          `tfjs-${backend.padEnd(6)} ${name.padEnd(9)} ${ms.toFixed(2).padStart(9)} ms/step on ${N} rows  (${steps} steps after a warm-up, ` +
            `policy loss ${policyLoss.toFixed(3)}, value loss ${valueLoss.toFixed(2)}, ${tf.memory().numTensors} tensors live)`,
        );
      } finally {
        model.dispose();
      }
    }
  }
  return out;
}
