// Reliability of the compiled path: GPU memory stays flat over a thousand replayed training
// steps; a plan that would not fit the engine's memory budget is refused before anything is
// acquired, with the estimate `engine.estimate` gives; and GPU validation failures while
// building a plan come back as typed errors naming the op.
// Not here: numerical correctness of the step (optim.test.ts, executor.test.ts).

import { describe, expect, it } from 'vitest';
import {
  ConfigError, DeviceLimitError, Engine, EngineError, OutOfMemoryError, add, createOptimizer, input, matmul, mean, mul, parameter, tanh,
} from '../src/index.js';
import { sizeClass } from '../src/gpu/buffers.js';
import type { KernelPlan, OpDef, ShaderModuleDef } from '../src/ops/types.js';
import { apply, type Tensor } from '../src/tensor.js';
import { seededRandom } from './support/opchecks.js';
import { ownEngine, testEngine } from './support/engine.js';

const B = 4, D = 3, H = 5, O = 2;

/** A tiny two-layer model with its batch. */
function tinyModel(seed: number) {
  const rand = seededRandom(seed);
  const randoms = (n: number, s = 0.5) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const x = input('x', [B, D]);
  const w1 = parameter('w1', randoms(D * H), [D, H]);
  const b1 = parameter('b1', randoms(H, 0.1), [H]);
  const w2 = parameter('w2', randoms(H * O), [H, O]);
  const y = matmul(tanh(add(matmul(x, w1), b1)), w2); // (B, O)
  const loss = mean(mul(y, y));
  return { x, loss, params: [w1, b1, w2], batch: randoms(B * D, 1) };
}

describe('GPU memory over many steps', () => {
  it('bytes in use and allocated stay flat over 1,000 replayed steps with a fused optimizer', async () => {
    const engine = await ownEngine();
    const { pool } = engine;
    const { loss, params, batch } = tinyModel(3);
    const before = pool.bytesInUse;
    const opt = await createOptimizer(engine, params, { kind: 'adamw', lr: 0.01, maxGradNorm: 1 });
    const plan = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
    // Warm up: the first runs create the readback staging buffers.
    for (let i = 0; i < 3; i++) await plan.run({ x: batch }, ['loss', 'gradNorm']);
    const inUse = pool.bytesInUse;
    const allocated = pool.bytesAllocated;
    const losses: number[] = [];
    const started = performance.now();
    for (let s = 1; s <= 1000; s++) {
      if (s % 50 === 0) {
        losses.push((await plan.run({ x: batch }, ['loss'])).loss[0]);
        expect(pool.bytesInUse, `step ${s}`).toBe(inUse);
        expect(pool.bytesAllocated, `step ${s}`).toBe(allocated);
      } else await plan.run({ x: batch }, []);
    }
    console.log(`1000 steps in ${(performance.now() - started).toFixed(0)} ms; in use ${inUse} B, allocated ${allocated} B`);
    expect(opt.step).toBe(1003);
    // The steps did train: the loss went down and stayed finite.
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    // Everything comes back: the plan's buffers, then the optimizer's arenas.
    plan.dispose();
    opt.dispose();
    // The model's parameters belong to the caller; the optimizer freed its own loss scale.
    for (const p of params) engine.freeParameter(p);
    expect(pool.bytesInUse).toBe(before);
  });
});

describe('memory budget', () => {
  it('estimate says what compile acquires, and acquires nothing itself', async () => {
    const engine = await ownEngine();
    const { pool } = engine;
    const { loss, params } = tinyModel(4);
    const opt = await createOptimizer(engine, params, { kind: 'sgd', lr: 0.1 });
    const spec = { outputs: { loss }, optimizer: opt.minimize(loss) };
    const before = pool.bytesInUse;
    const e = engine.estimate(spec);
    expect(pool.bytesInUse).toBe(before);
    expect(e.inputs).toBe(sizeClass(B * D * 4));
    expect(e.gradientArena).toBe(sizeClass(spec.optimizer.arenaBytes));
    expect(e.total).toBe(e.intermediates + e.inputs + e.gradientArena + e.leaves);
    const plan = await engine.compile(spec);
    expect(e.intermediates).toBe(plan.stats.peakBytes);
    expect(pool.bytesInUse - before).toBe(e.total);
    plan.dispose();
    opt.dispose();
    for (const p of params) engine.freeParameter(p);
  });

  it('counts parameters that have no storage yet, and the debug flags', async () => {
    const engine = await ownEngine();
    const { pool } = engine;
    const { loss, params } = tinyModel(5);
    const spec = { outputs: { loss }, checkFinite: true };
    const e = engine.estimate(spec);
    expect(e.gradientArena).toBe(0);
    expect(e.leaves).toBeGreaterThanOrEqual(params.reduce((a, p) => a + sizeClass(p.size * 4), 0));
    const before = pool.bytesInUse;
    const plan = await engine.compile(spec);
    expect(pool.bytesInUse - before).toBe(e.total);
    // Compiled again, the parameters are there already.
    expect(engine.estimate(spec).leaves).toBeLessThan(e.leaves);
    plan.dispose();
    for (const p of params) engine.freeParameter(p);
  });

  it('the budget is an engine option, checked when the engine is made', async () => {
    const { gpu } = await testEngine();
    expect(new Engine(gpu, { memoryBudget: 2 ** 20 }).memoryBudget).toBe(2 ** 20);
    expect(new Engine(gpu).memoryBudget).toBeUndefined();
    for (const bad of [0, -1, Number.NaN]) expect(() => new Engine(gpu, { memoryBudget: bad })).toThrow(ConfigError);
  });

  it('a plan over the budget is refused before anything is acquired', async () => {
    const engine = await ownEngine();
    const { pool } = engine;
    const { loss, params } = tinyModel(6);
    const opt = await createOptimizer(engine, params, { kind: 'adamw', lr: 0.01 });
    const spec = { outputs: { loss }, optimizer: opt.minimize(loss) };
    const need = engine.estimate(spec).total;
    const inUse = pool.bytesInUse;
    const allocated = pool.bytesAllocated;
    try {
      engine.memoryBudget = inUse + need - 1;
      const err = await engine.compile(spec).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OutOfMemoryError);
      expect(err).toBeInstanceOf(DeviceLimitError);
      const oom = err as OutOfMemoryError;
      expect([oom.needed, oom.inUse, oom.budget]).toEqual([need, inUse, inUse + need - 1]);
      expect(oom.message).toMatch(/smaller batch/);
      expect(oom.message).toMatch(/accumulate/);
      expect(oom.message).toMatch(/preset/);
      // Nothing half-built: no buffer taken, none created.
      expect(pool.bytesInUse).toBe(inUse);
      expect(pool.bytesAllocated).toBe(allocated);
      // Exactly enough fits.
      engine.memoryBudget = inUse + need;
      const plan = await engine.compile(spec);
      expect(pool.bytesInUse).toBe(inUse + need);
      plan.dispose();
    } finally {
      engine.memoryBudget = undefined;
      opt.dispose();
      for (const p of params) engine.freeParameter(p);
    }
  });
});

/** A copy kernel whose WGSL declares `reads` read bindings and one write binding (then scratch). */
function copyShader(reads: number): ShaderModuleDef {
  const decl = Array.from({ length: reads }, (_, i) => `@group(0) @binding(${i}) var<storage, read> x${i}: array<f32>;`);
  return {
    label: `broken_copy_${reads}`,
    code: () => `${decl.join('\n')}
@group(0) @binding(${reads}) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&y)) { y[g.x] = x0[g.x]; }
}`,
  };
}

/** An op for these tests only: y = x, with whatever (broken) kernel plan it is given. */
function brokenOp(name: string, plan: KernelPlan): (x: Tensor) => Tensor {
  const def: OpDef = {
    name,
    shape: ([x]) => [{ shape: x.shape, dtype: 'f32' }],
    kernel: () => plan,
    cpu: ([x]) => [{ ...x, data: x.data.slice() }],
    backward: 'none',
    cases: [],
  };
  return (x) => apply(def, [x], {})[0];
}

describe('GPU errors while building a plan', () => {
  const N = 8;
  const cases: [string, KernelPlan, RegExp][] = [
    // The shader reads two buffers; the plan binds one (the layout disagrees with the WGSL).
    ['two_reads_one_bound', { dispatches: [{ shader: copyShader(2), entry: 'main', reads: [{ in: 0 }], writes: [{ out: 0 }], workgroups: [1] }] },
      /two_reads_one_bound\(\[8\]\).*broken_copy_2\.main/s],
    // Scratch of 6 bytes: a storage binding must be a multiple of 4 bytes (a bind group error).
    ['odd_scratch', { tmp: [6], dispatches: [{ shader: copyShader(1), entry: 'main', reads: [{ in: 0 }], writes: [{ tmp: 0 }], workgroups: [1] }] },
      /odd_scratch\(\[8\]\).*Could not bind the buffers of broken_copy_1\.main/s],
    // More workgroups than any device allows in one dimension.
    ['huge_grid', { dispatches: [{ shader: copyShader(1), entry: 'main', reads: [{ in: 0 }], writes: [{ out: 0 }], workgroups: [1 << 30] }] },
      /huge_grid\(\[8\]\).*maxComputeWorkgroupsPerDimension/s],
  ];
  for (const [name, plan, message] of cases) {
    it(`${name}: a typed error naming the op, and nothing left acquired`, async () => {
      const engine = await ownEngine();
      const { pool } = engine;
      const uncaptured: string[] = [];
      const listen = (e: Event) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message);
      engine.gpu.device.addEventListener('uncapturederror', listen);
      try {
        const x = input('x', [N]);
        const y = brokenOp(name, plan)(x);
        const before = pool.bytesInUse;
        const err = await engine.compile({ outputs: { y } }).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(EngineError);
        expect((err as Error).message).toMatch(message);
        expect(pool.bytesInUse).toBe(before);
        // The engine is still sound: a good plan compiles and runs.
        const ok = await engine.compile({ outputs: { z: tanh(x) } });
        const z = (await ok.run({ x: new Float32Array(N).fill(0.5) })).z;
        for (const v of z) expect(v).toBeCloseTo(Math.tanh(0.5), 6);
        ok.dispose();
        expect(pool.bytesInUse).toBe(before);
      } finally {
        engine.gpu.device.removeEventListener('uncapturederror', listen);
      }
      expect(uncaptured).toEqual([]);
    });
  }
});
