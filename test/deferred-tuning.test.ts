// Deferred tuning (tune: 'deferred', an engine's default): a plan whose size classes have no
// pick runs its first step on each family's first choice (quick to build) without measuring
// anything; its second run waits for the measurement; where a pick differs from what the plan
// runs, the plan is rebuilt in the background and swapped in at a later run, and a disposed plan
// gives the rebuild's buffers back. Engines here share the test engine's device, with picks in
// memory only.
// Not here: what the tuners measure (matmul-tune, attention-tune tests), tune: 'upfront'.

import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, Engine, addScalar, clearTuningMemory, input, matmul, mulScalar, parameter, type CompileSpec, type Tensor } from '../src/index.js';
import { MATMUL_CHOICES, matmulDef, plainMatmulAttrs } from '../src/ops/matmul.js';
import type { Progress } from '../src/progress.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const [M, K, N] = [20, 30, 12];

/** A deferred-tuning engine on the test engine's device, with the phases it reports. */
async function deferredEngine(): Promise<{ engine: Engine; phases: string[] }> {
  const engine = new Engine((await testEngine()).gpu, { tuningCache: false, progress: false });
  const phases: string[] = [];
  engine.onProgress((p: Progress) => {
    if (p.done === 0) phases.push(p.phase);
  });
  return { engine, phases };
}

/** One product x (M, K) times a parameter w (K, N), and its CPU reference. */
function product(): { spec: CompileSpec; x: Float32Array; w: Tensor; expected: ArrayLike<number> } {
  const rand = seededRandom(3);
  const x = Float32Array.from({ length: M * K }, () => rand() * 2 - 1);
  const w = Float32Array.from({ length: K * N }, () => rand() * 2 - 1);
  const wt = parameter('w', w, [K, N]);
  const y = matmul(input('x', [M, K]), wt);
  const [{ data: expected }] = matmulDef.cpu(
    [
      { shape: [M, K], dtype: 'f32', data: Float64Array.from(x) },
      { shape: [K, N], dtype: 'f32', data: Float64Array.from(w) },
    ],
    plainMatmulAttrs,
  );
  return { spec: { outputs: { y }, label: 'a product' }, x, w: wt, expected };
}

function expectClose(got: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(got.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
  expect(worst).toBeLessThan(1e-4);
}

/** The matmul tiling a class lowers to until it is measured. */
const firstTiling = (engine: Engine) => MATMUL_CHOICES.firstChoice(engine.gpu.adapter.isSoftware);

/** A matmul tiling other than the first one (what a pick that differs looks like). */
const otherTiling = (engine: Engine) => (engine.gpu.adapter.isSoftware ? 'shared' : 'register');

beforeEach(() => clearTuningMemory());

describe('deferred tuning', () => {
  it('runs the first step on the defaults at once, and measures at the second', async () => {
    const { engine, phases } = await deferredEngine();
    const { spec, x, expected } = product();
    const plan = await engine.compile(spec);
    expect(phases).toEqual(['compiling a product']);
    expect(engine.tuneResults).toEqual([]);
    expect(engine.tuning['matmul.small']).toBeUndefined();
    // Lowered to the first choice, the quick one to build; eager work takes the defaults.
    expect(engine.loweredChoices(spec)).toBe(`matmul.small=${firstTiling(engine)}`);
    expect(engine.loweredChoices({ ...spec, eager: true })).toBe(`matmul.small=${MATMUL_CHOICES.defaultChoice(engine.gpu.adapter.isSoftware)}`);

    expectClose((await plan.run({ x })).y, expected);
    expect(engine.tuneResults).toEqual([]);

    expectClose((await plan.run({ x })).y, expected);
    expect(engine.tuneResults.map((r) => [r.family, r.sizeClass, r.source])).toEqual([['matmul', 'small', 'measured']]);
    expect(engine.tuning['matmul.small']).toBe(engine.tuneResults[0].pick);
    expect(phases.slice(0, 2)).toEqual(['compiling a product', 'tuning matmul']);

    // A later plan of the same class finds the pick: nothing deferred, nothing measured.
    const later = await engine.compile(product().spec);
    await later.run({ x });
    await later.run({ x });
    expect(engine.tuneResults).toHaveLength(1);
    later.dispose();
    plan.dispose();
  });

  it('rebuilds on a pick that differs from the first choice in the background, and swaps it in at a run', async () => {
    const { engine, phases } = await deferredEngine();
    const { spec, x, w, expected } = product();
    const plan = await engine.compile(spec);
    const held = engine.pool.bytesInUse;
    expectClose((await plan.run({ x })).y, expected);
    // The class's pick turns out other than the first choice the plan was lowered with.
    engine.tuning['matmul.small'] = otherTiling(engine);
    // The second run measures nothing (the class has its pick) and still runs on the defaults.
    expectClose((await plan.run({ x })).y, expected);
    await plan.settled();
    expect(phases).toEqual(['compiling a product', 'compiling a product on the tuned kernels']);
    expectClose((await plan.run({ x })).y, expected);
    // The old kernels' buffers went back when the rebuilt ones came in.
    expect(engine.pool.bytesInUse).toBe(held);
    if (engine.gpu.features.has('timestamp-query')) {
      const labels = (await plan.profile({ x })).map((t) => t.label);
      expect(labels).toEqual([otherTiling(engine) === 'shared' ? 'matmul.mm_shared' : 'matmul.mm_register']);
    }
    plan.dispose();
    engine.freeParameter(w);
    expect(engine.pool.bytesInUse).toBe(0);
  });

  it('keeps the plan when every pick is what it runs, and gives a rebuild back when disposed first', async () => {
    const { engine, phases } = await deferredEngine();
    const { spec, x, w } = product();
    const same = await engine.compile(spec);
    await same.run({ x });
    engine.tuning['matmul.small'] = firstTiling(engine);
    await same.run({ x });
    await same.settled();
    expect(phases).toEqual(['compiling a product']);
    same.dispose();

    delete engine.tuning['matmul.small'];
    const other = product();
    const doomed = await engine.compile(other.spec);
    await doomed.run({ x });
    engine.tuning['matmul.small'] = otherTiling(engine);
    // Disposed while the rebuild is under way (its pipelines compiling): it gives its buffers back when it ends.
    let disposedMidway = false;
    const stop = engine.onProgress((p) => {
      if (p.phase.endsWith('on the tuned kernels') && p.done === 0) {
        doomed.dispose();
        disposedMidway = true;
      }
    });
    await doomed.settled();
    stop();
    expect(disposedMidway).toBe(true);
    for (const p of [w, other.w]) engine.freeParameter(p);
    expect(engine.pool.bytesInUse).toBe(0);
    await expect(doomed.run({ x })).rejects.toThrow(/disposed/);
  });

  it('submits runs in the order they were called, across plans, while one waits for its measurement', async () => {
    const { engine } = await deferredEngine();
    const { spec, x, w } = product();
    // Both plans update one counter: the first doubles it beside its product, the second adds one.
    const counter = parameter('counter', new Float32Array([1]), [1]);
    const doubling = await engine.compile({ ...spec, updates: [[counter, mulScalar(counter, 2)]] });
    const adding = await engine.compile({ outputs: { counter }, updates: [[counter, addScalar(counter, 1)]] });
    const first = doubling.run({ x }, []);
    // The second run waits for the measurement; the run of the other plan called after it waits too.
    const second = doubling.run({ x }, []);
    const third = adding.run();
    await Promise.all([first, second]);
    // Read after its update: 1 * 2 * 2 + 1, where the other order would give 1 * 2 + 1.
    expect((await third).counter[0]).toBe(5);
    expect(engine.tuneResults.map((r) => r.sizeClass)).toEqual(['small']);
    expect((await adding.run()).counter[0]).toBe(6);
    for (const p of [doubling, adding]) p.dispose();
    for (const p of [w, counter]) engine.freeParameter(p);
  });

  it('settled() measures at once when asked before the second run', async () => {
    const { engine } = await deferredEngine();
    const { spec, x, expected } = product();
    const plan = await engine.compile(spec);
    await plan.settled();
    expect(engine.tuneResults.map((r) => r.sizeClass)).toEqual(['small']);
    expectClose((await plan.run({ x })).y, expected);
    plan.dispose();
  });

  it("is the default, and a tune that is not a mode is a configuration error", async () => {
    const { gpu } = await testEngine();
    expect(new Engine(gpu, {}).tuneMode).toBe('deferred');
    expect(new Engine(gpu, { tune: true }).tuneMode).toBe('deferred');
    expect(new Engine(gpu, { tune: 'upfront' }).tuneMode).toBe('upfront');
    expect(() => new Engine(gpu, { tune: 'sometimes' as 'upfront' })).toThrow(ConfigError);
    expect(() => new Engine(gpu, { tune: 'sometimes' as 'upfront' })).toThrow(/'deferred' or 'upfront'/);
  });
});
