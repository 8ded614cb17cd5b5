// The peer in the same run: TensorFlow.js 4.22 matmuls on each of its backends (WebGPU, WebGL
// and the pure-JS CPU backend) in the same page, on the same machine and products as the
// engine's suite (bench/suite.ts: its square sizes, the transformer's products and the
// transpositions, through tf.matMul's transposeA / transposeB), so the ratios compare like with
// like. Browser only (WebGL needs a page).
// Timing: wall clock around `reps` products whose last result is read back (tf.js has no
// per-dispatch timestamps of its own); a warm-up first compiles its shaders.
// Also what every TensorFlow.js peer shares (peer-tfjs-*.ts): the loop over the backends that
// start, timing calls queued back to back, batches of them, and the clipped Adam their training
// steps apply. Not here: the engine's own figures (bench/suite.ts).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { median, medianWindow } from './common.js';
import { matmulProducts, type MatmulProduct } from './suite.js';

export const PEER_BACKENDS = ['webgpu', 'webgl', 'cpu'] as const;
export type PeerBackend = (typeof PEER_BACKENDS)[number];

export interface PeerMeasurement {
  backend: PeerBackend;
  /** A square product's M = N = K (the suite's `results`); absent on a named product's row. */
  size?: number;
  /** A named product's name (the suite's `shapes` and `transpositions`); absent on a square one's. */
  name?: string;
  ms: number;
  gflops: number;
  reps: number;
}

/** The backends of PEER_BACKENDS that start here, each made current in turn; the others are logged as unavailable. */
export async function* peerBackends(log: (line: string) => void): AsyncGenerator<PeerBackend> {
  for (const backend of PEER_BACKENDS) {
    if (!(await tf.setBackend(backend).catch(() => false))) {
      log(`tfjs-${backend}: not available in this browser`);
      continue;
    }
    await tf.ready();
    yield backend;
  }
}

/**
 * Queues `call` n times back to back (each call's outputs disposed as the next is queued), then
 * awaits `read` of the last call's outputs, which waits for all of them: ms per call under the
 * wall clock, with what was read.
 */
export async function timeQueued<T extends object>(call: () => tf.Tensor[], n: number, read: (last: tf.Tensor[]) => Promise<T>): Promise<T & { ms: number }> {
  const t0 = performance.now();
  let last: tf.Tensor[] = [];
  for (let i = 0; i < n; i++) {
    tf.dispose(last);
    last = call();
  }
  const got = await read(last);
  tf.dispose(last);
  return { ...got, ms: (performance.now() - t0) / n };
}

/**
 * Median ms per call over three batches sized to take about `targetMs` each (at most
 * maxPerBatch calls), `batch(n)` timing n calls: a warm-up batch of one first compiles the
 * shaders and uploads, a second one sizes the batches. A call slower than `slowMs` (the CPU
 * backend on a big shape) is timed once more instead, the mean of the two.
 */
export async function timeBatches(
  batch: (n: number) => Promise<number>,
  targetMs: number,
  { maxPerBatch = Infinity, slowMs = Infinity }: { maxPerBatch?: number; slowMs?: number } = {},
): Promise<{ ms: number; reps: number }> {
  await batch(1);
  const first = await batch(1);
  if (first > slowMs) return { ms: (first + (await batch(1))) / 2, reps: 2 };
  const n = Math.max(1, Math.min(maxPerBatch, Math.round(targetMs / Math.max(first, 1e-3))));
  const times: number[] = [];
  for (let r = 0; r < 3; r++) times.push(await batch(n));
  return { ms: median(times), reps: 3 * n };
}

/**
 * A training step's (or iteration's) ms as the engine's suites report it, `run(n)` timing n
 * queued back to back: two warm-up steps (shader compilation, uploads; the second sizes the
 * windows), then medianWindow; quick mode warms up once and times one window of two.
 */
export async function timeTraining<R extends { ms: number }>(run: (n: number) => Promise<R>, targetMs: number, quick: boolean): Promise<R & { steps: number }> {
  const first = await run(1);
  const second = quick ? first : await run(1);
  return medianWindow(run, second.ms, { targetMs, quick });
}

/** The engine's fused AdamW hyperparameters, as a peer's training step applies them. */
export interface PeerAdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
  /** Decoupled decay of the matrices (rank >= 2), as AdamW's; default none. */
  weightDecay?: number;
}

/**
 * Global-norm clipping and bias-corrected Adam (AdamW with a weight decay) written with tf ops,
 * as the engine's fused optimizer computes them (tf.train.adam has no clipping). `update` runs
 * inside the caller's tidy, with the gradients tf.variableGrads gave for `vars`.
 */
export function clippedAdam(vars: tf.Variable[], c: PeerAdamConfig): { update(grads: tf.NamedTensorMap): void; dispose(): void } {
  // In a tidy, so the zeros go once the variables hold them (variables outlive tidies).
  const zeros = (p: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(p), false));
  const moments = vars.map((p) => ({ m: zeros(p), s: zeros(p) }));
  let t = 0;
  return {
    update(grads) {
      const gs = vars.map((p) => grads[p.name]);
      // Summed one at a time: tf.addN of every gradient binds more storage buffers than
      // SwiftShader allows a WebGPU pipeline (8), and its pipeline fails.
      const norm = tf.sqrt(gs.reduce<tf.Tensor>((a, g) => tf.add(a, tf.sum(tf.square(g))), tf.scalar(0)));
      const clip = tf.minimum(1, tf.div(c.maxGradNorm, tf.add(norm, 1e-6)));
      t++;
      const c1 = 1 - c.beta1 ** t;
      const c2 = 1 - c.beta2 ** t;
      vars.forEach((p, i) => {
        const g = tf.mul(gs[i], clip);
        const { m, s } = moments[i];
        m.assign(tf.add(tf.mul(c.beta1, m), tf.mul(1 - c.beta1, g)));
        s.assign(tf.add(tf.mul(c.beta2, s), tf.mul(1 - c.beta2, tf.square(g))));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(s, c2)), c.eps));
        const decayed = c.weightDecay && p.rank >= 2 ? tf.mul(p, 1 - c.lr * c.weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(c.lr, update)));
      });
    },
    dispose() {
      for (const { m, s } of moments) (m.dispose(), s.dispose());
    },
  };
}

/** Median ms of one product, over timed batches sized to take about `targetMs` each. */
async function timeMatmul({ M, N, K, transA, transB }: Omit<MatmulProduct, 'name'>, targetMs: number): Promise<{ ms: number; reps: number }> {
  // Operands as the engine's suite stores them: a is (K, M) when transA, b is (N, K) when transB.
  const a = tf.randomUniform(transA ? [K, M] : [M, K], -1, 1);
  const b = tf.randomUniform(transB ? [N, K] : [K, N], -1, 1);
  try {
    const read = async ([y]: tf.Tensor[]) => {
      await y.data();
      return {};
    };
    const batch = async (n: number) => (await timeQueued(() => [tf.matMul(a, b, transA, transB)], n, read)).ms;
    return await timeBatches(batch, targetMs);
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * GFLOP/s of TensorFlow.js on every backend it can start here, for each square size and each
 * named product (default the suite's own for `quick`: matmulProducts in bench/suite.ts).
 */
export async function runTfjsPeer(
  sizes: readonly number[],
  log: (line: string) => void = () => {},
  quick = false,
  products: readonly MatmulProduct[] = Object.values(matmulProducts({ quick })).flat(),
): Promise<PeerMeasurement[]> {
  const out: PeerMeasurement[] = [];
  for await (const backend of peerBackends(log)) {
    for (const size of sizes) {
      // Quick mode (the suite's --quick): batches of ~20 ms, every figure but no precision.
      const { ms, reps } = await timeMatmul({ M: size, N: size, K: size, transA: false, transB: false }, quick ? 20 : backend === 'cpu' ? 500 : 1000);
      const gflops = (2 * size ** 3) / (ms * 1e6);
      out.push({ backend, size, ms, gflops, reps });
      log(`tfjs-${backend.padEnd(6)} ${String(size).padStart(5)}  ${gflops.toFixed(2).padStart(8)} GFLOP/s  (${reps} products, wall clock)`);
    }
    for (const p of products) {
      // Far smaller than the big squares: batches of ~300 ms still hold many products, and a
      // full run's 19 of them on three backends stay near a minute.
      const { ms, reps } = await timeMatmul(p, quick ? 20 : 300);
      const gflops = (2 * p.M * p.N * p.K) / (ms * 1e6);
      out.push({ backend, name: p.name, ms, gflops, reps });
      log(`tfjs-${backend.padEnd(6)} ${p.name}  ${gflops.toFixed(2)} GFLOP/s  (${reps} products, wall clock)`);
    }
  }
  return out;
}
