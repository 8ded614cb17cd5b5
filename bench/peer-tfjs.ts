// The peer in the same run: TensorFlow.js 4.22 square matmuls on each of its backends (WebGPU,
// WebGL and the pure-JS CPU backend) in the same page, on the same machine and shapes as the
// engine's suite, so the ratios compare like with like. Browser only (WebGL needs a page).
// Timing: wall clock around `reps` products whose last result is read back (tf.js has no
// per-dispatch timestamps of its own); a warm-up first compiles its shaders.
// Not here: the engine's own figures (bench/suite.ts).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';

export const PEER_BACKENDS = ['webgpu', 'webgl', 'cpu'] as const;
export type PeerBackend = (typeof PEER_BACKENDS)[number];

export interface PeerMeasurement {
  backend: PeerBackend;
  size: number;
  ms: number;
  gflops: number;
  reps: number;
}

/** Median ms of one product, over timed batches sized to take about `targetMs` each. */
async function timeMatmul(size: number, targetMs: number): Promise<{ ms: number; reps: number }> {
  const a = tf.randomUniform([size, size], -1, 1);
  const b = tf.randomUniform([size, size], -1, 1);
  try {
    const batch = async (n: number) => {
      const t0 = performance.now();
      let last: tf.Tensor | null = null;
      for (let i = 0; i < n; i++) {
        last?.dispose();
        last = tf.matMul(a, b);
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

/** GFLOP/s of TensorFlow.js on every backend it can start here, for each size. */
export async function runTfjsPeer(sizes: readonly number[], log: (line: string) => void = () => {}, quick = false): Promise<PeerMeasurement[]> {
  const out: PeerMeasurement[] = [];
  for (const backend of PEER_BACKENDS) {
    if (!(await tf.setBackend(backend).catch(() => false))) {
      log(`tfjs-${backend}: not available in this browser`);
      continue;
    }
    await tf.ready();
    for (const size of sizes) {
      // Quick mode (the suite's --quick): batches of ~20 ms, every figure but no precision.
      const { ms, reps } = await timeMatmul(size, quick ? 20 : backend === 'cpu' ? 500 : 1000);
      const gflops = (2 * size ** 3) / (ms * 1e6);
      out.push({ backend, size, ms, gflops, reps });
      log(`tfjs-${backend.padEnd(6)} ${String(size).padStart(5)}  ${gflops.toFixed(2).padStart(8)} GFLOP/s  (${reps} products, wall clock)`);
    }
  }
  return out;
}
