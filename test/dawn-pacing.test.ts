// Node's wait for the GPU on a software adapter (src/gpu/dawn-pacing.ts): while a long
// computation runs, the event loop sleeps between Dawn's ticks instead of spinning on them, and
// every other setImmediate still runs at once with its arguments, promisify included.
// Not here: what the pacing buys (the gpt bench in Node against Chromium).

import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { matmul } from '../src/ops/matmul.js';
import { constant } from '../src/tensor.js';
import { testEngine } from './support/engine.js';

describe('waiting for the GPU in Node', () => {
  it("leaves the event loop idle while the GPU works, and other setImmediate callers' callbacks as they were", async () => {
    const engine = await testEngine();
    expect(await new Promise((resolve) => setImmediate((a: number, b: string) => resolve([a, b]), 1, 'two'))).toEqual([1, 'two']);
    expect(await promisify(setImmediate)('value')).toBe('value');

    // A chain of 512^3 products: a wait of a few hundred ms on SwiftShader, one readback at the end.
    const n = 512;
    const a = constant(Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5), [n, n]);
    let x = a;
    for (let i = 0; i < 6; i++) x = matmul(x, a);
    await engine.read(matmul(a, a)); // compiles the kernel: that wait is paced too, but not measured here
    const before = performance.eventLoopUtilization();
    const out = await engine.read(x);
    const used = performance.eventLoopUtilization(before);
    expect(out.length).toBe(n * n);
    // Spinning keeps the loop busy (utilization near 1); paced, it sleeps between ticks. A GPU's
    // wait is left as Dawn makes it (see dawn-pacing.ts), so there is nothing to check there.
    if (engine.gpu.adapter.isSoftware) expect(used.utilization).toBeLessThan(0.5);
  });
});
