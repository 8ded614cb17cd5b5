// The compiled executor: replay matches eager mode, liveness reuse lowers peak bytes, replay
// leaks nothing, and bad feeds, device limits, non-finite values and a lost device each give
// their typed error before any state is harmed.

import { describe, expect, it } from 'vitest';
import {
  DeviceLimitError, DeviceLostError, InputError, NonFiniteError, add, constant, createEngine,
  crossEntropyMean, div, exp, full, grad, input, matmul, mul, mulScalar, parameter, relu, sgd, sliceAxis, sum, tanh,
} from '../src/index.js';
import { seededRandom } from './support/opchecks.js';
import { ownEngine, testEngine } from './support/engine.js';

const rand = seededRandom(11);
const randoms = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);

/** A two-layer MLP training step: loss, gradients and SGD updates. */
function mlpStep(N: number, D: number, H: number, V: number) {
  const x = input('x', [N, D]);
  const y = input('y', [N], 'i32');
  const lr = input('lr', []);
  const w1 = parameter('w1', randoms(D * H, 0.5), [D, H]);
  const b1 = parameter('b1', new Float32Array(H), [H]);
  const w2 = parameter('w2', randoms(H * V, 0.5), [H, V]);
  const logits = matmul(relu(add(matmul(x, w1), b1)), w2); // (N, V)
  const loss = crossEntropyMean(logits, y);
  const params = [w1, b1, w2];
  const grads = grad(loss, params);
  const feeds = {
    x: randoms(N * D),
    y: Int32Array.from({ length: N }, (_, i) => (i * 7) % V),
    lr: 0.1,
  };
  return { loss, params, grads, updates: sgd(params, grads, lr), feeds };
}

describe('executor', () => {
  it('replays a compiled step with the same numbers as eager mode', async () => {
    const engine = await testEngine();
    const { loss, grads, feeds } = mlpStep(29, 6, 17, 5);
    const { lr: _, ...forward } = feeds;
    const eager = await engine.run([loss, ...grads], forward);
    const plan = await engine.compile({ outputs: { loss, g0: grads[0], g1: grads[1], g2: grads[2] } });
    for (let rep = 0; rep < 3; rep++) {
      const r = await plan.run(forward);
      expect(Array.from(r.loss)).toEqual(Array.from(eager[0]));
      expect(Array.from(r.g0)).toEqual(Array.from(eager[1]));
      expect(Array.from(r.g2)).toEqual(Array.from(eager[3]));
    }
    plan.dispose();
  });

  it('reuses buffers by liveness: a long chain needs a few buffers, not one per op', async () => {
    const engine = await testEngine();
    let t = constant(randoms(1000), [1000]);
    for (let i = 0; i < 30; i++) t = tanh(mulScalar(t, 1.1));
    const plan = await engine.compile({ outputs: { t } });
    expect(plan.stats.ops).toBe(60);
    expect(plan.stats.peakBytes).toBeLessThanOrEqual(3 * 4096);
    expect(plan.stats.naiveBytes).toBe(60 * 4096);
    const eager = await engine.read(t);
    expect(Array.from((await plan.run()).t)).toEqual(Array.from(eager));
    plan.dispose();
  });

  it('reads an aligned contiguous slice as a view of its input, in compiled plans and gradients', async () => {
    const engine = await testEngine();
    const w = parameter('w', randoms(4 * 64), [4, 64]);
    const x = tanh(w); // an op output, so the slice views a pooled buffer
    const rows = [0, 1, 2, 3].map((r) => sliceAxis(x, 0, r, r + 1)); // 64 floats = 256 bytes apart
    const y = add(mulScalar(rows[1], 2), rows[3]);
    const [dw] = grad(sum(mul(y, y)), [w]);
    const plan = await engine.compile({ outputs: { y, dw } });
    // The slice itself dispatches nothing, and reading it reads the right window.
    const view = await engine.compile({ outputs: { s: rows[2] } });
    const whole = await engine.compile({ outputs: { t: x } });
    expect(view.stats.dispatches).toBe(whole.stats.dispatches);
    expect(Array.from((await view.run()).s)).toEqual(Array.from((await whole.run()).t.slice(128, 192)));
    view.dispose();
    whole.dispose();
    const r = await plan.run();
    const [ey, edw] = await engine.run([y, dw]);
    expect(Array.from(r.y)).toEqual(Array.from(ey));
    expect(Array.from(r.dw)).toEqual(Array.from(edw));
    const wv = (w.source as { init: Float32Array }).init;
    const want = Array.from({ length: 64 }, (_, j) => 2 * Math.tanh(wv[64 + j]) + Math.tanh(wv[192 + j]));
    want.forEach((v, j) => expect(r.y[j]).toBeCloseTo(v, 5));
    // d/dw of sum(y^2): 2y * 2 * (1 - tanh^2) on row 1, 2y * (1 - tanh^2) on row 3, 0 elsewhere.
    for (let j = 0; j < 64; j++) {
      expect(r.dw[j]).toBe(0);
      expect(r.dw[64 + j]).toBeCloseTo(4 * want[j] * (1 - Math.tanh(wv[64 + j]) ** 2), 4);
      expect(r.dw[192 + j]).toBeCloseTo(2 * want[j] * (1 - Math.tanh(wv[192 + j]) ** 2), 4);
    }
    plan.dispose();
  });

  it('leaks no bytes over 200 replayed training steps, and training changes the parameters', async () => {
    const engine = await ownEngine();
    const { loss, params, updates, feeds } = mlpStep(16, 4, 8, 3);
    const plan = await engine.compile({ outputs: { loss }, updates });
    const first = (await plan.run(feeds)).loss[0];
    const inUse = engine.pool.bytesInUse;
    const allocated = engine.pool.bytesAllocated;
    let last = first;
    for (let s = 0; s < 200; s++) {
      const pending = plan.run(feeds, s % 50 === 49 ? ['loss'] : []);
      if (s % 50 === 49) last = (await pending).loss[0];
    }
    expect(engine.pool.bytesInUse).toBe(inUse);
    expect(engine.pool.bytesAllocated).toBe(allocated);
    expect(last).toBeLessThan(first);
    const w2 = await engine.readParameter(params[2]);
    expect(w2.some((v, i) => v !== (params[2].source as { init: Float32Array }).init[i])).toBe(true);
    plan.dispose();
    expect(engine.pool.bytesInUse).toBeLessThan(inUse);
  });

  it('rejects a bad feed before doing any work and leaves parameters as they were', async () => {
    const engine = await testEngine();
    const { loss, params, updates, feeds } = mlpStep(8, 3, 5, 2);
    const plan = await engine.compile({ outputs: { loss }, updates });
    const before = await engine.readParameter(params[0]);
    await expect(plan.run({ ...feeds, x: new Float32Array(5) })).rejects.toThrow(InputError);
    await expect(plan.run({ ...feeds, x: new Float32Array(5) })).rejects.toThrow(/expects 24 values \(shape \[8, 3\]\), got 5/);
    await expect(plan.run({ x: feeds.x, lr: 0.1 })).rejects.toThrow(/Missing feed for input 'y'/);
    await expect(plan.run({ ...feeds, y: new Float32Array(8) })).rejects.toThrow(/i32/);
    await expect(plan.run({ ...feeds, z: [1] })).rejects.toThrow(/No input named 'z'/);
    expect(Array.from(await engine.readParameter(params[0]))).toEqual(Array.from(before));
    plan.dispose();
  });

  it('names the op and the limit when a tensor exceeds the device, before any GPU work', async () => {
    const engine = await ownEngine();
    const huge = full([1 << 16, 1 << 16], 1); // 16 GiB of f32
    const inUse = engine.pool.bytesInUse;
    await expect(engine.compile({ outputs: { s: sum(huge) } })).rejects.toThrow(DeviceLimitError);
    await expect(engine.compile({ outputs: { s: sum(huge) } })).rejects.toThrow(/full.*17179869184 bytes.*maxStorageBufferBindingSize/);
    expect(engine.pool.bytesInUse).toBe(inUse);
  });

  it('names the first op that produced a NaN or infinity in debug mode', async () => {
    const engine = await testEngine();
    const x = input('x', [4]);
    const z = input('z', [4]);
    const y = exp(mulScalar(div(x, z), 2)); // division by zero is the first non-finite value
    const plan = await engine.compile({ outputs: { y }, checkFinite: true });
    await expect(plan.run({ x: [1, 2, 3, 4], z: [1, 1, 1, 1] })).resolves.toBeDefined();
    const err = await plan.run({ x: [1, 2, 3, 4], z: [1, 0, 1, 1] }).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.op).toBe('div');
    // exp overflows f32 past 88.7: here the culprit is exp, found in eager mode too.
    await expect(engine.run([y], { x: [100, 1, 1, 1], z: [1, 1, 1, 1] }, { checkFinite: true })).rejects.toThrow(/exp/);
    plan.dispose();
  });

  it('profiles each dispatch with GPU timestamps when the adapter has them', async () => {
    const engine = await testEngine();
    const { loss, feeds: { lr: _, ...feeds } } = mlpStep(8, 3, 5, 2);
    const plan = await engine.compile({ outputs: { loss } });
    if (!engine.gpu.features.has('timestamp-query')) {
      await expect(plan.profile(feeds)).rejects.toThrow(/timestamp-query/);
      return;
    }
    const times = await plan.profile(feeds);
    expect(times.length).toBe(plan.stats.dispatches);
    expect(times.every((t) => t.ms >= 0 && t.label.length > 0)).toBe(true);
    plan.dispose();
  });

  it('reports a lost device as DeviceLostError', async () => {
    const engine = await createEngine();
    const plan = await engine.compile({ outputs: { y: mulScalar(constant([1, 2], [2]), 2) } });
    expect(Array.from((await plan.run()).y)).toEqual([2, 4]);
    engine.destroy();
    await engine.gpu.lost;
    await expect(plan.run()).rejects.toThrow(DeviceLostError);
  });
});
