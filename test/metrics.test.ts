// Training metrics arrive in step order, a few steps behind, without awaiting each step: loss,
// perplexity, gradient norm, learning rate and throughput; and per-kernel GPU time.

import { describe, expect, it } from 'vitest';
import { TrainingMetrics, kernelTimes } from '../src/metrics.js';
import { createOptimizer, crossEntropyMean, input, matmul, parameter, randomNormal } from '../src/index.js';
import { testEngine } from './support/engine.js';

describe('training metrics', () => {
  it('turns out-of-order-resolving results into in-order records', async () => {
    let clock = 0;
    const m = new TrainingMetrics({ itemsPerStep: 100, window: 2, now: () => clock });
    const seen: number[] = [];
    m.subscribe((r) => seen.push(r.step));
    const resolvers: ((v: Record<string, Float32Array>) => void)[] = [];
    for (let s = 1; s <= 3; s++) m.record(s, 0.1 * s, new Promise((res) => resolvers.push(res)));
    // The third result comes first; records still come in step order.
    resolvers[2]({ loss: Float32Array.of(1) });
    clock = 10;
    resolvers[0]({ loss: Float32Array.of(Math.log(4)), gradNorm: Float32Array.of(2) });
    resolvers[1]({ loss: Float32Array.of(2) });
    await m.flush();
    expect(seen).toEqual([1, 2, 3]);
    const [r1, r2] = m.history;
    expect(r1.perplexity).toBeCloseTo(4, 5);
    expect(r1.gradNorm).toBe(2);
    expect(r1.lr).toBeCloseTo(0.1);
    expect(r1.stepMs).toBe(10);
    expect(r1.throughput).toBe(10_000); // 100 items in 10 ms
    expect(r2.gradNorm).toBeNaN();
    expect(r2.throughput).toBe(20_000); // window of (10 ms, 0 ms)
  });

  it('follows a real compiled step without awaiting it, and profiles its kernels', async () => {
    const engine = await testEngine();
    const x = input('x', [8, 4]);
    const y = input('y', [8], 'i32');
    const w = parameter('w', randomNormal([4, 3], 5));
    const loss = crossEntropyMean(matmul(x, w), y);
    const opt = await createOptimizer(engine, [w], { kind: 'adamw', lr: (t) => 0.01 / t });
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    const m = new TrainingMetrics({ itemsPerStep: 8 });
    const feeds = { x: new Float32Array(32).fill(0.5), y: new Int32Array(8).fill(1) };
    for (let s = 1; s <= 5; s++) {
      const lr = opt.lr;
      m.record(s, lr, plan.run(feeds, ['loss', 'gradNorm']));
    }
    await m.flush();
    expect(m.history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    expect(m.history.map((r) => r.lr)).toEqual([0.01, 0.005, 0.01 / 3, 0.0025, 0.002]);
    expect(m.history.every((r) => r.loss > 0 && r.gradNorm > 0 && r.throughput > 0)).toBe(true);
    expect(m.history[4].loss).toBeLessThan(m.history[0].loss);
    if (engine.gpu.features.has('timestamp-query')) {
      const times = kernelTimes(await plan.profile(feeds));
      expect(times.reduce((a, t) => a + t.calls, 0)).toBe(plan.stats.dispatches);
      expect(times[0].ms).toBeGreaterThanOrEqual(times[times.length - 1].ms);
    }
    plan.dispose();
    opt.dispose();
  });
});
