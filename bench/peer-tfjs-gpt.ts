// The peer of the GPT suite in the same run: the same model written with TensorFlow.js 4.22
// ops and trained on each of its backends (WebGPU, WebGL, the pure-JS CPU backend) in the same
// page, at the same shapes and batch as bench/gpt.ts. The model: token and position embeddings,
// pre-LayerNorm blocks with causal multi-head attention (batched matmul, additive mask,
// softmax, matmul) and a 4x GELU (tanh form) MLP, a final LayerNorm, a head tied to the token
// embedding, mean cross-entropy; gradients from tf.variableGrads, then global-norm clipping
// and AdamW (decoupled decay on matrices only) written with tf ops, as the engine's step does.
// Timing: as the engine's suites time their own steps (timeTraining): two warm-up steps
// (shader compilation, uploads), then the median of windows of steps queued back to back whose
// last loss is read back, under the wall clock (tf.js has no timestamps of its own).
// Browser only (WebGL needs a page). Not here: the engine's own figures (bench/gpt.ts).

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them with this import.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { gptPresets, gptTrainDefaults, type GptPresetName } from '../src/models/gpt.js';
import { GPT_BENCH_SHAPE, randomGptBatch } from './gpt.js';
import { clippedAdam, peerBackends, timeQueued, timeTraining, type PeerAdamConfig, type PeerBackend } from './peer-tfjs.js';

export interface GptPeerMeasurement {
  backend: PeerBackend;
  preset: GptPresetName;
  msPerStep: number;
  tokensPerSecond: number;
  /** Timed steps (after two warm-up steps), in all windows. */
  steps: number;
  /** Loss read back after the timed steps. */
  loss: number;
}

export interface GptPeerOptions {
  /** Wall-clock time all timed steps should take per backend and preset, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed ones, as the suite's quick mode (default false). */
  quick?: boolean;
  log?: (line: string) => void;
}

// The engine's step: AdamW at its defaults, the same hyperparameters as createGptTrainer's.
const ADAMW: PeerAdamConfig = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: gptTrainDefaults.beta2!,
  eps: 1e-8,
  weightDecay: gptTrainDefaults.weightDecay!,
  maxGradNorm: gptTrainDefaults.maxGradNorm!,
};
const LN_EPS = 1e-5;

let models = 0;

/** The model's variables and a loss function over one batch, on the current backend. */
function buildModel(preset: GptPresetName) {
  const { nLayer: L, nHead: H, nEmbd: C, blockSize: T } = gptPresets[preset];
  const { batch: B, vocabSize: V } = GPT_BENCH_SHAPE;
  const hs = C / H;
  const prefix = `gpt${models++}`;
  const vars: tf.Variable[] = [];
  const v = (name: string, init: tf.Tensor) => {
    const x = tf.variable(init, true, `${prefix}.${name}`);
    vars.push(x);
    return x;
  };
  let seed = 1;
  const normal = (shape: number[], std = 0.02) => tf.randomNormal(shape, 0, std, 'float32', seed++);
  const wte = v('wte', normal([V, C])); // (V, C), also the head
  const wpe = v('wpe', normal([T, C])); // (T, C)
  const norm = (name: string) => ({ g: v(`${name}.g`, tf.ones([C])), b: v(`${name}.b`, tf.zeros([C])) });
  const lin = (name: string, cin: number, cout: number, std = 0.02) => ({
    w: v(`${name}.w`, normal([cin, cout], std)),
    b: v(`${name}.b`, tf.zeros([cout])),
  });
  const residualStd = 0.02 / Math.sqrt(2 * L);
  const blocks = Array.from({ length: L }, (_, l) => ({
    ln1: norm(`h${l}.ln1`),
    attn: lin(`h${l}.attn`, C, 3 * C),
    proj: lin(`h${l}.proj`, C, C, residualStd),
    ln2: norm(`h${l}.ln2`),
    fc: lin(`h${l}.fc`, C, 4 * C),
    fcProj: lin(`h${l}.fcproj`, 4 * C, C, residualStd),
  }));
  const lnF = norm('lnf');

  const pos = tf.range(0, T, 1, 'int32');
  const mask = tf.tensor2d(
    Float32Array.from({ length: T * T }, (_, e) => (e % T > Math.floor(e / T) ? -1e9 : 0)),
    [T, T],
  );
  const layerNorm = (x: tf.Tensor2D, n: { g: tf.Variable; b: tf.Variable }) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), n.g), n.b) as tf.Tensor2D;
  };
  const linear = (x: tf.Tensor2D, p: { w: tf.Variable; b: tf.Variable }) => tf.add(tf.matMul(x, p.w as tf.Tensor2D), p.b) as tf.Tensor2D;
  const gelu = (x: tf.Tensor2D) => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner))) as tf.Tensor2D;
  };
  const heads = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [B, T, H, hs]), [0, 2, 1, 3]) as tf.Tensor4D; // (B, H, T, hs)

  const loss = (idx: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar => {
    let x = tf.reshape(tf.add(tf.reshape(tf.gather(wte, idx), [B, T, C]), tf.gather(wpe, pos)), [B * T, C]) as tf.Tensor2D; // (B T, C)
    for (const blk of blocks) {
      const [q, k, vv] = tf.split(linear(layerNorm(x, blk.ln1), blk.attn), 3, 1).map((t) => heads(t as tf.Tensor2D));
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), mask); // (B, H, T, T)
      const y = tf.matMul(tf.softmax(scores), vv); // (B, H, T, hs)
      const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, C]) as tf.Tensor2D;
      x = tf.add(x, linear(merged, blk.proj));
      x = tf.add(x, linear(gelu(linear(layerNorm(x, blk.ln2), blk.fc)), blk.fcProj));
    }
    const logits = tf.matMul(layerNorm(x, lnF), wte as tf.Tensor2D, false, true); // (B T, V)
    const logp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, V), logp), 1)));
  };

  const adam = clippedAdam(vars, ADAMW);
  /** One training step; returns the loss tensor (the caller reads or disposes it). */
  const step = (idx: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => loss(idx, targets), vars);
      adam.update(grads);
      return value;
    });

  const dispose = () => {
    for (const p of vars) p.dispose();
    adam.dispose();
    pos.dispose();
    mask.dispose();
  };
  return { step, dispose, tokens: B * T };
}

async function measure(preset: GptPresetName, targetMs: number, quick: boolean): Promise<{ ms: number; loss: number; tokens: number; steps: number }> {
  const { batch, vocabSize } = GPT_BENCH_SHAPE;
  const T = gptPresets[preset].blockSize;
  const data = randomGptBatch(batch, T, vocabSize);
  const idx = tf.tensor1d(data.x, 'int32');
  const targets = tf.tensor1d(data.y, 'int32');
  const model = buildModel(preset);
  const timeSteps = (n: number) => timeQueued(() => [model.step(idx, targets)], n, async ([l]) => ({ loss: (await l.data())[0] }));
  try {
    return { ...(await timeTraining(timeSteps, targetMs, quick)), tokens: model.tokens };
  } finally {
    model.dispose();
    idx.dispose();
    targets.dispose();
  }
}

/** ms per training step of TensorFlow.js on every backend it can start here, for each preset. */
export async function runTfjsGptPeer(presets: readonly GptPresetName[], opts: GptPeerOptions = {}): Promise<GptPeerMeasurement[]> {
  const log = opts.log ?? (() => {});
  const out: GptPeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    for (const preset of presets) {
      const { ms, loss, tokens, steps } = await measure(preset, opts.targetMs ?? 6000, opts.quick ?? false);
      out.push({ backend, preset, msPerStep: ms, tokensPerSecond: (tokens * 1000) / ms, steps, loss });
      log(`tfjs-${backend.padEnd(6)} ${preset.padEnd(6)} ${ms.toFixed(1).padStart(9)} ms/step  (median of ${steps} steps after two warm-ups, loss ${loss.toFixed(3)})`);
    }
  }
  return out;
}
