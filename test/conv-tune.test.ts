// The conv lowering tuner: the role and size class of each conv op of a graph (a U-Net-like
// layer's forward and both gradients, and a transposed conv); a CPU-emulated adapter takes the
// direct kernels without timing anything; an adapter that has the choice (this device, presented
// as a GPU) times both lowerings on each class's layer and keeps the cheaper; each lowering's
// dispatches as measured. Engines here share the test engine's device, with picks in memory only.
// Not here: that both lowerings compute the same (conv.test.ts), the kernels' speed (the bench).

import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.js';
import { gradients } from '../src/autograd.js';
import { CONV_CLASS_PROBLEMS, convTunable, measureConv } from '../src/ops/conv-tune.js';
import { CONV_LARGE, CONV_LOWERINGS, CONV_ROLES, CONV_SIZE_CLASSES } from '../src/ops/conv.js';
import { conv2d, convTranspose2d } from '../src/ops/index.js';
import { clearTuningMemory } from '../src/ops/tune-cache.js';
import type { TuneTarget } from '../src/ops/tunable.js';
import { constant, numel, parameter, topoOrder } from '../src/tensor.js';
import { testEngine } from './support/engine.js';

const values = (shape: readonly number[]) => Float32Array.from({ length: numel(shape) }, (_, i) => Math.sin(i));

/** A conv layer, its gradients for x and w, and a transposed conv: every role of both sizes but one. */
function layers() {
  const x = parameter('x', values([16, 32, 16, 16]), [16, 32, 16, 16]); // 16 * 256 * 32 * 32 * 9 = 2^24.2: large
  const w = parameter('w', values([32, 32, 3, 3]), [32, 32, 3, 3]);
  const y = conv2d(x, w, { padding: 1 });
  const grads = gradients([y], [x, w], [constant(values(y.shape), y.shape)]);
  const up = convTranspose2d(constant(values([1, 4, 4, 4]), [1, 4, 4, 4]), constant(values([4, 2, 4, 4]), [4, 2, 4, 4]), { stride: 2, padding: 1 });
  return { outputs: { y, up, dx: grads[0], dw: grads[1] } };
}

/** The test engine's device presented as a GPU, so that the tuner has both lowerings to time. */
async function asGpu(): Promise<TuneTarget> {
  const { gpu, kernels, pool } = await testEngine();
  return { gpu: { ...gpu, adapter: { ...gpu.adapter, description: `${gpu.adapter.description} as a GPU`, isSoftware: false } }, kernels, pool };
}

beforeEach(() => clearTuningMemory(convTunable.name));

describe('conv lowering tuner', () => {
  it('finds the role and size class of every conv op in a graph', () => {
    const spec = layers();
    expect(convTunable.classesOf(topoOrder(Object.values(spec.outputs)))).toEqual(['forward.large', 'inputGrad.small', 'inputGrad.large', 'weightGrad.large']);
    expect(CONV_SIZE_CLASSES).toHaveLength(2 * CONV_ROLES.length);
    const mac = (p: (typeof CONV_CLASS_PROBLEMS)['forward.small']) => p.N * p.H * p.W * p.O * p.C * p.k * p.k;
    expect(mac(CONV_CLASS_PROBLEMS['forward.small'])).toBeLessThan(CONV_LARGE);
    expect(mac(CONV_CLASS_PROBLEMS['forward.large'])).toBeGreaterThanOrEqual(CONV_LARGE);
  });

  it('gives a CPU-emulated adapter the direct kernels, timing nothing', async () => {
    const engine = new Engine((await testEngine()).gpu, { tuningCache: false, tune: 'upfront', progress: false });
    if (!engine.gpu.adapter.isSoftware) return; // this adapter times both (the next test)
    const plan = await engine.compile(layers());
    const picks = engine.tuneResultsOf(convTunable);
    expect(picks.map((r) => [r.sizeClass, r.pick, r.source])).toEqual(
      ['forward.large', 'inputGrad.small', 'inputGrad.large', 'weightGrad.large'].map((c) => [c, 'direct', 'sole candidate']),
    );
    expect(picks.every((r) => Object.keys(r.ms).length === 0)).toBe(true);
    // Nothing was cached: an engine that only reads caches finds no conv pick.
    const reader = new Engine(engine.gpu, { tuningCache: false, progress: false });
    expect(await reader.loadCachedTuning()).toEqual([]);
    plan.dispose();
  });

  it('times both lowerings where the adapter has the choice, and keeps the cheaper', async () => {
    const target = await asGpu();
    const results = await convTunable.tune(target, { classes: ['forward.small', 'weightGrad.small'], cache: false });
    expect(results.map((r) => r.sizeClass)).toEqual(['forward.small', 'weightGrad.small']);
    for (const r of results) {
      expect(r.source).toBe('measured');
      expect(Object.keys(r.ms).sort()).toEqual([...CONV_LOWERINGS].sort());
      const cheaper = r.ms.direct! <= r.ms.gemm! ? 'direct' : 'gemm';
      expect(r.pick).toBe(cheaper);
      expect(r.speedup).toBeGreaterThanOrEqual(1);
    }
    // The second call finds them in memory.
    const again = await convTunable.tune(target, { classes: ['forward.small'], cache: false });
    expect(again.map((r) => [r.pick, r.source])).toEqual([[results[0].pick, 'memory']]);
  });

  it('times each lowering of each role over its own dispatches', async () => {
    const target = await testEngine();
    const small = CONV_CLASS_PROBLEMS['forward.small'];
    const counts: Record<string, number[]> = {};
    for (const role of CONV_ROLES) {
      counts[role] = [];
      for (const lowering of CONV_LOWERINGS) {
        const r = await measureConv(target, lowering, role, small, { reps: 3, targetMs: 5, maxPerRep: 4 });
        expect(r.ms).toBeGreaterThan(0);
        counts[role].push(r.dispatches);
      }
    }
    // direct: one kernel; the input gradient of this stride-1 layer flips the kernel, then runs
    // as a forward conv; the weight gradient may add the sum of its chunks. gemm: a layout
    // kernel on each side of the product, or two before it for the weight gradient.
    expect(counts.forward).toEqual([1, 3]);
    expect(counts.inputGrad).toEqual([2, 3]);
    expect(counts.weightGrad[1]).toBe(3);
    expect([1, 2]).toContain(counts.weightGrad[0]);
  });
});
