// The peer in the same run: TensorFlow.js 4.22 matmuls on each of its backends (WebGPU, WebGL
// and the pure-JS CPU backend) in the same page, on the same machine and products as the
// engine's suite (bench/suite.ts: its square sizes, the transformer's products and the
// transpositions, through tf.matMul's transposeA / transposeB), so the ratios compare like with
// like. Browser only (WebGL needs a page).
// Timing: wall clock around `reps` products whose last result is read back (tf.js has no
// per-dispatch timestamps of its own); a warm-up first compiles its shaders.
// Not here: the engine's own figures (bench/suite.ts).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
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

/** Median ms of one product, over timed batches sized to take about `targetMs` each. */
async function timeMatmul({ M, N, K, transA, transB }: Omit<MatmulProduct, 'name'>, targetMs: number): Promise<{ ms: number; reps: number }> {
  // Operands as the engine's suite stores them: a is (K, M) when transA, b is (N, K) when transB.
  const a = tf.randomUniform(transA ? [K, M] : [M, K], -1, 1);
  const b = tf.randomUniform(transB ? [N, K] : [K, N], -1, 1);
  try {
    const batch = async (n: number) => {
      const t0 = performance.now();
      let last: tf.Tensor | null = null;
      for (let i = 0; i < n; i++) {
        last?.dispose();
        last = tf.matMul(a, b, transA, transB);
      }
      await last!.data();
      last!.dispose();
      return performance.now() - t0;
    };
    await batch(1); // shader compilation and upload
    const per = Math.max(1, Math.round(targetMs / Math.max(await batch(1), 1e-3)));
    const times: number[] = [];
    for (let r = 0; r < 3; r++) times.push((await batch(per)) / per);
    times.sort((x, y) => x - y);
    return { ms: times[1], reps: 3 * per };
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
  for (const backend of PEER_BACKENDS) {
    if (!(await tf.setBackend(backend).catch(() => false))) {
      log(`tfjs-${backend}: not available in this browser`);
      continue;
    }
    await tf.ready();
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
