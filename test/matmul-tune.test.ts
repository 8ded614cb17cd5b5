// The matmul tuner per size class: where the class boundaries fall; a compiled plan measures
// exactly the classes its matmuls need, once (later engines find the picks in memory); the JSON
// file cache in Node (written, read back after memory is cleared, a corrupt file measured over
// and rewritten, the default path under $XDG_CACHE_HOME); and each class's pick choosing the
// kernel its matmuls run. Engines here share the test engine's device (`new Engine(gpu, ...)`)
// and pass tuningCache: false or a temporary path: no test writes the user's cache directory.
// Not here: each tiling against the CPU reference (matmul.test.ts).

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../src/engine.js';
import type { CompileSpec } from '../src/executor.js';
import { layoutPlan } from '../src/layout.js';
import {
  MATMUL_SIZE_CLASSES,
  MATMUL_TILINGS,
  matmul,
  matmulClassOf,
  matmulSizeClass,
  plainMatmulAttrs,
  type MatmulAttrs,
  type MatmulSizeClass,
  type MatmulTiling,
} from '../src/ops/matmul.js';
import { clearMatmulTuningMemory, defaultTuningCachePath, MATMUL_CLASS_SHAPES, matmulCandidates, matmulTunable, tuneMatmul, type MatmulTuneResult } from '../src/ops/matmul-tune.js';
import { constant, type Tensor } from '../src/tensor.js';
import { testEngine } from './support/engine.js';

const plain = plainMatmulAttrs;
const ones = (...shape: number[]) => constant(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape);

/** The matmul picks an engine took. */
const picks = (engine: Engine) => engine.tuneResultsOf(matmulTunable);

/** An engine on the test engine's device that autotunes before compiling (memory only unless a path is given). */
const tuningEngine = async (opts: EngineOptions = {}) => new Engine((await testEngine()).gpu, { tuningCache: false, tune: 'upfront', ...opts });

/** A plan with one small product (16x16x32) and one medium one (128^3 = 2^21, the medium class's first size). */
function twoClasses(): CompileSpec {
  return { outputs: { small: matmul(ones(16, 32), ones(32, 16)), medium: matmul(ones(128, 128), ones(128, 128)) } };
}

/** The tiling each matmul size class of `spec` lowers to on `engine`, read from its dispatch. */
function tilings(engine: Engine, spec: CompileSpec): Partial<Record<MatmulSizeClass, MatmulTiling>> {
  const out: Partial<Record<MatmulSizeClass, MatmulTiling>> = {};
  for (const p of layoutPlan(engine, spec).plans) {
    if (p.node.def.name !== 'matmul') continue;
    const d = p.kernel!.dispatches[0];
    const tiling = d.entry === 'mm_shared' ? 'shared' : d.entry === 'mm_small' ? 'small' : d.constants?.QUAD_SHARE ? 'quad' : 'register';
    out[matmulClassOf(p.node.inputs, p.node.attrs as MatmulAttrs)] = tiling;
  }
  return out;
}

/** Every tiling the engine's adapter runs as itself was timed, and the fastest won. */
function expectMeasured(r: MatmulTuneResult, engine: Engine): void {
  const timed = matmulCandidates(engine.gpu.adapter.isSoftware, engine.gpu.features);
  expect(Object.keys(r.gflops).sort()).toEqual([...timed].sort());
  for (const t of timed) expect(r.gflops[t]).toBeGreaterThan(0);
  const slowest = Math.min(...timed.map((t) => r.gflops[t]!));
  expect(r.gflops[r.pick]).toBe(Math.max(...timed.map((t) => r.gflops[t]!)));
  expect(r.speedup).toBeCloseTo(r.gflops[r.pick]! / slowest, 10);
  expect(r.speedup).toBeGreaterThanOrEqual(1);
  expect(r.shape).toEqual(MATMUL_CLASS_SHAPES[r.sizeClass]);
}

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'webgpu-train-tune-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

beforeEach(() => clearMatmulTuningMemory());

describe('matmul size classes', () => {
  it('cut at 2^21 and 2^27 multiply-adds, batch included', () => {
    expect(matmulSizeClass(1, 1, 1)).toBe('small');
    expect(matmulSizeClass(127, 128, 128)).toBe('small');
    expect(matmulSizeClass(128, 128, 128)).toBe('medium');
    expect(matmulSizeClass(64, 64, 64, 7)).toBe('small');
    expect(matmulSizeClass(64, 64, 64, 8)).toBe('medium');
    expect(matmulSizeClass(511, 512, 512)).toBe('medium');
    expect(matmulSizeClass(512, 512, 512)).toBe('large');
    expect(matmulSizeClass(8192, 3072, 768)).toBe('large');
    // Every representative lies inside its own class.
    for (const c of MATMUL_SIZE_CLASSES) expect(matmulSizeClass(...MATMUL_CLASS_SHAPES[c])).toBe(c);
  });

  it('count broadcast batch dims and transposed operands as the product runs them', () => {
    const f = (...shape: number[]) => ({ shape, dtype: 'f32' as const });
    expect(matmulClassOf([f(8, 64, 64), f(64, 64)], plain)).toBe('medium'); // (B T, C) x (C, N): 2^21
    expect(matmulClassOf([f(7, 64, 64), f(64, 64)], plain)).toBe('small');
    expect(matmulClassOf([f(2, 1, 64, 64), f(4, 64, 64)], plain)).toBe('medium'); // batch 2 x 4 broadcast
    expect(matmulClassOf([f(256, 128), f(512, 256)], { ...plain, transA: true, transB: true })).toBe('medium'); // 128 x 512 x 256
  });
});

describe('tuning when a plan first needs a class', () => {
  it('measures exactly the classes of the plan, once; a later engine finds them in memory', async () => {
    const engine = await tuningEngine();
    const spec = twoClasses();
    (await engine.compile(spec)).dispose();
    expect(picks(engine).map((r) => [r.sizeClass, r.source])).toEqual([
      ['small', 'measured'],
      ['medium', 'measured'],
    ]);
    picks(engine).forEach((r) => expectMeasured(r, engine));
    for (const r of picks(engine)) expect(engine.tuning[`matmul.${r.sizeClass}`]).toBe(r.pick);
    expect(engine.tuning['matmul.large']).toBeUndefined();
    expect(tilings(engine, spec)).toEqual(Object.fromEntries(picks(engine).map((r) => [r.sizeClass, r.pick])));

    // Compiled again, nothing is asked of the tuner.
    expect(await engine.tuneForPlan(spec)).toEqual([]);
    (await engine.compile(spec)).dispose();
    expect(picks(engine)).toHaveLength(2);

    // Another engine on the adapter: the same picks, from memory, with the figures they were chosen by.
    const other = await tuningEngine();
    (await other.compile(twoClasses())).dispose();
    expect(picks(other).map((r) => [r.sizeClass, r.source, r.pick, r.gflops])).toEqual(
      picks(engine).map((r) => [r.sizeClass, 'memory', r.pick, r.gflops]),
    );
  });

  it('eager runs and estimates never wait for a measurement', async () => {
    const engine = await tuningEngine();
    const spec = twoClasses();
    engine.estimate(spec);
    await engine.run(Object.values(spec.outputs!));
    expect(picks(engine)).toEqual([]);
    const fallback = engine.gpu.adapter.isSoftware ? 'register' : 'shared';
    expect(tilings(engine, spec)).toEqual({ small: fallback, medium: fallback });
  });

  it('measures a class once when two compiles need it at the same time', async () => {
    const [a, b] = await Promise.all([tuningEngine(), tuningEngine()]);
    const spec = { outputs: { y: matmul(ones(16, 32), ones(32, 16)) } };
    await Promise.all([a.compile(spec), b.compile(spec)]).then((plans) => plans.forEach((p) => p.dispose()));
    expect([...picks(a), ...picks(b)].map((r) => r.source).sort()).toEqual(['measured', 'memory']);
  });

  it('with tune: false, writes the default tiling for every class and never measures', async () => {
    const engine = await tuningEngine({ tune: false });
    const fallback = engine.gpu.adapter.isSoftware ? 'register' : 'shared';
    for (const c of MATMUL_SIZE_CLASSES) expect(engine.tuning[`matmul.${c}`]).toBe(fallback);
    (await engine.compile(twoClasses())).dispose();
    expect(picks(engine)).toEqual([]);
  });
});

describe("a class's pick chooses its kernel", () => {
  it('per class, and a fixed tiling overrides every class', async () => {
    const spec = twoClasses();
    const mixed = await tuningEngine({ tuning: { 'matmul.small': 'shared', 'matmul.medium': 'register' } });
    const plan = await mixed.compile(spec);
    expect(picks(mixed)).toEqual([]);
    expect(tilings(mixed, spec)).toEqual({ small: 'shared', medium: 'register' });
    if (mixed.gpu.features.has('timestamp-query')) {
      // The compiled plan's own dispatches, by pipeline label (the plan's order is the layout's).
      const labels = (await plan.profile()).map((t) => t.label);
      const order = layoutPlan(mixed, spec).plans.map((p) => matmulClassOf(p.node.inputs, p.node.attrs as MatmulAttrs));
      expect(labels).toEqual(order.map((c) => (c === 'small' ? 'matmul.mm_shared' : 'matmul.mm_register')));
    }
    plan.dispose();
    const flipped = await tuningEngine({ tuning: { 'matmul.small': 'register', 'matmul.medium': 'shared' } });
    expect(tilings(flipped, spec)).toEqual({ small: 'register', medium: 'shared' });
    flipped.tuning.matmul = 'shared';
    expect(tilings(flipped, spec)).toEqual({ small: 'shared', medium: 'shared' });
  });

  it('results match whichever tiling each class takes', async () => {
    const a = ones(16, 32);
    const b = ones(32, 16);
    const y: Tensor = matmul(a, b);
    for (const t of MATMUL_TILINGS) {
      const engine = await tuningEngine({ tuning: { 'matmul.small': t } });
      const plan = await engine.compile({ outputs: { y } });
      const out = (await plan.run()).y;
      expect(Array.from(out).every((v) => v === 8)).toBe(true); // 32 x 0.5 x 0.5
      plan.dispose();
    }
  });
});

describe('the tuning cache file (Node)', () => {
  it('is written, read back once memory is cleared, and used by a new engine', async () => {
    const path = join(await tempDir(), 'nested', 'tuning.json');
    const engine = await testEngine();
    const [first] = await tuneMatmul(engine, { classes: ['small'], cache: path });
    expect(first.source).toBe('measured');
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, { pick: string }>;
    const keys = Object.keys(saved);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^matmul\/v\d+\/.*\/small$/);
    expect(saved[keys[0]].pick).toBe(first.pick);

    clearMatmulTuningMemory();
    const [again] = await tuneMatmul(engine, { classes: ['small'], cache: path });
    expect(again).toEqual({ ...first, source: 'file' });
    expect((await tuneMatmul(engine, { classes: ['small'], cache: path }))[0].source).toBe('memory');

    // An engine created on the same path starts with the cached pick, measuring nothing.
    clearMatmulTuningMemory();
    const fresh = await tuningEngine({ tuningCache: path });
    await fresh.loadCachedTuning();
    expect(picks(fresh).map((r) => [r.sizeClass, r.source, r.pick])).toEqual([['small', 'file', first.pick]]);
    expect(fresh.tuning['matmul.small']).toBe(first.pick);
    // Writes leave no temporary files behind.
    expect(await readdir(join(path, '..'))).toEqual(['tuning.json']);
  });

  it('ignores a corrupt file, measures again and rewrites it', async () => {
    const path = join(await tempDir(), 'tuning.json');
    const engine = await testEngine();
    for (const junk of ['{"matmul/v', '[1, 2, 3]', 'null']) {
      await writeFile(path, junk);
      clearMatmulTuningMemory();
      const [r] = await tuneMatmul(engine, { classes: ['small'], cache: path });
      expect(r.source).toBe('measured');
      const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, { pick: string }>;
      expect(Object.values(saved).map((e) => e.pick)).toEqual([r.pick]);
    }
    // An entry that is not one (another version's shape, or edited by hand) is measured over too.
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const key = Object.keys(saved)[0];
    await writeFile(path, JSON.stringify({ [key]: { pick: 'banana' }, 'matmul/v1/old': 'register', 'other/tool': 1 }));
    clearMatmulTuningMemory();
    expect((await tuneMatmul(engine, { classes: ['small'], cache: path }))[0].source).toBe('measured');
    // Older versions' picks are dropped; other keys are left alone.
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object).sort()).toEqual([key, 'other/tool'].sort());
  });

  it('defaults to $XDG_CACHE_HOME (else ~/.cache), and tuningCache: false writes nothing', async () => {
    const saved = process.env.XDG_CACHE_HOME;
    const dir = await tempDir();
    try {
      process.env.XDG_CACHE_HOME = dir;
      expect(await defaultTuningCachePath()).toBe(join(dir, 'webgpu-train', 'tuning.json'));
      const engine = await tuningEngine({ tuningCache: false });
      (await engine.compile({ outputs: { y: matmul(ones(16, 32), ones(32, 16)) } })).dispose();
      expect(picks(engine).map((r) => r.source)).toEqual(['measured']);
      expect(await readdir(dir)).toEqual([]);
      delete process.env.XDG_CACHE_HOME;
      if (process.platform === 'linux') expect(await defaultTuningCachePath()).toBe(join(homedir(), '.cache', 'webgpu-train', 'tuning.json'));
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});
