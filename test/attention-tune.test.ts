// The fused attention tuner per size class: where the class boundaries fall; every variant
// against the float64 CPU reference on awkward sizes (T = 37, tiles of 16, 32 and 64 rows; hs 16
// and 64, where the tiles are clamped to the workgroup storage; causal; dropout); a compiled plan
// measures its attention class once and runs the pick; the cache (a pick in the file used
// without measuring, corrupt files and entries measured over, matmul's entries left alone); and
// tune: false and a fixed tuning.attention respected. Engines here share the test engine's
// device and pass tuningCache: false or a temporary path: no test writes the user's cache.
// Not here: the default variants on the registry cases and against the unfused composition
// (ops.test.ts, attention.test.ts), or the matmul tuner (matmul-tune.test.ts).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../src/engine.js';
import type { CompileSpec } from '../src/executor.js';
import { layoutPlan } from '../src/layout.js';
import {
  ATTENTION_SIZE_CLASSES,
  ATTENTION_VARIANT_NAMES,
  ATTENTION_VARIANTS,
  attention,
  attentionBackward,
  attentionBackwardDef,
  attentionDef,
  attentionSizeClass,
  attentionWithLse,
  type AttentionAttrs,
  type AttentionVariant,
} from '../src/ops/attention.js';
import { ATTENTION_CLASS_PROBLEMS, attentionCandidates, attentionTunable, tuneAttention, type AttentionTuneResult } from '../src/ops/attention-tune.js';
import { clearTuningMemory } from '../src/ops/tune-cache.js';
import type { HostTensor } from '../src/ops/types.js';
import { gradients } from '../src/autograd.js';
import { constant, numel } from '../src/tensor.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(5);
const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/** The attention picks an engine took. */
const picks = (engine: Engine) => engine.tuneResultsOf(attentionTunable);

/** An engine on the test engine's device (memory-only cache unless a path is given). */
const engineWith = async (opts: EngineOptions = {}) => new Engine((await testEngine()).gpu, { tuningCache: false, tune: 'upfront', ...opts });

/** A plan with one small attention (2^13 multiply-adds), forward and backward. */
function smallPlan(): CompileSpec {
  const shape = [1, 2, 16, 16];
  const [q, k, v] = [0, 1, 2].map(() => constant(floats(numel(shape)), shape));
  q.requiresGrad = true;
  const o = attention(q, k, v, { causal: true });
  const [dq] = gradients([o], [q], [constant(floats(numel(shape)), shape)]);
  return { outputs: { o, dq } };
}

/** The variant each attention kernel of `spec` runs on `engine`, by its entry and workgroup size. */
function variantsOf(engine: Engine, spec: CompileSpec): string[] {
  const found = new Set<string>();
  for (const p of layoutPlan(engine, spec).plans) {
    if (p.node.def !== attentionDef && p.node.def !== attentionBackwardDef) continue;
    for (const d of p.kernel!.dispatches) if (d.entry !== 'attn_bwd_rowdot') found.add(`${d.entry.endsWith('_rows') ? 'thread' : 'workgroup'} ${d.constants!.WG}`);
  }
  return [...found];
}
const variantKey = (x: AttentionVariant) => `${ATTENTION_VARIANTS[x].layout} ${ATTENTION_VARIANTS[x].wg}`;

function expectMeasured(r: AttentionTuneResult, isSoftware: boolean): void {
  const timed = attentionCandidates(isSoftware);
  expect(Object.keys(r.fwdMs)).toEqual(timed);
  const totals = timed.map((x) => r.fwdMs[x]! + r.bwdMs[x]!);
  for (const t of totals) expect(t).toBeGreaterThan(0);
  expect(r.fwdMs[r.pick]! + r.bwdMs[r.pick]!).toBe(Math.min(...totals));
  expect(r.speedup).toBeCloseTo(Math.max(...totals) / Math.min(...totals), 10);
  expect(r.problem).toEqual(ATTENTION_CLASS_PROBLEMS[r.sizeClass]);
}

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'webgpu-train-attn-tune-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

beforeEach(() => clearTuningMemory('attention'));

describe('attention size classes', () => {
  it('cut at 2^20 and 2^24 multiply-adds of q k^T (B H T^2 hs)', () => {
    expect(attentionSizeClass(1, 1, 1)).toBe('small');
    expect(attentionSizeClass(8, 64, 31)).toBe('small');
    expect(attentionSizeClass(8, 64, 32)).toBe('medium');
    expect(attentionSizeClass(8, 255, 32)).toBe('medium');
    expect(attentionSizeClass(8, 256, 32)).toBe('large');
    // Every representative lies inside its own class.
    for (const c of ATTENTION_SIZE_CLASSES) {
      const { B, H, T, hs } = ATTENTION_CLASS_PROBLEMS[c];
      expect(attentionSizeClass(B * H, T, hs)).toBe(c);
    }
  });
});

describe('every variant matches the float64 CPU reference', () => {
  // 'thread' and 'workgroup' also run every case of attention.test.ts; T = 37 is a partial last
  // block for rows of 4, 16, 32 and 64, and hs 64 halves the 32-row tiles to fit 16 KiB.
  const cases: { shape: [number, number, number, number]; causal: boolean; p: number }[] = [
    { shape: [1, 2, 37, 16], causal: true, p: 0 },
    { shape: [2, 1, 37, 64], causal: false, p: 0.25 },
  ];
  it.each(ATTENTION_VARIANT_NAMES)('%s: forward (o, lse) and backward (dq, dk, dv)', async (variant) => {
    const engine = await engineWith({ tuning: { attention: variant } });
    for (const { shape, causal, p } of cases) {
      const attrs: AttentionAttrs = { causal, scale: 1 / Math.sqrt(shape[3]), p, offset: 3, heads: 0 };
      const n = numel(shape);
      const [q, k, v, dO] = [2, 2, 1, 1].map((s) => floats(n, s));
      const host = (d: Float32Array): HostTensor => ({ shape, dtype: 'f32', data: Float64Array.from(d) });
      const seedHost: HostTensor = { shape: [], dtype: 'i32', data: Int32Array.of(77) };
      const [o, lse] = attentionDef.cpu([host(q), host(k), host(v), seedHost], attrs);
      const [grads] = attentionBackwardDef.cpu([host(q), host(k), host(v), o, lse, host(dO), seedHost], attrs);
      const [tq, tk, tv, tdO] = [q, k, v, dO].map((d) => constant(d, shape));
      const seed = constant([77], [], 'i32');
      const dropout = p ? { p, seed, offset: 3 } : undefined;
      const [go, glse] = attentionWithLse(tq, tk, tv, { causal, dropout });
      const got = await engine.run([go, glse, ...attentionBackward([tq, tk, tv], go, glse, tdO, seed, attrs)]);
      const want = [o.data, lse.data, ...[0, 1, 2].map((i) => grads.data.subarray(i * n, (i + 1) * n))];
      want.forEach((w, i) => {
        const bad = Array.from(w).findIndex((x, e) => !(Math.abs(got[i][e] - x) <= 1e-4 * (1 + Math.abs(x))));
        expect(`${shape} output ${i} at ${bad}`).toBe(`${shape} output ${i} at -1`);
      });
      expect(variantsOf(engine, { outputs: { go } })).toEqual([variantKey(variant)]);
    }
  });
});

describe('tuning when a plan first needs a class', () => {
  it('measures the class once and runs the pick; a later engine finds it in memory', async () => {
    const engine = await engineWith();
    const spec = smallPlan();
    (await engine.compile(spec)).dispose();
    expect(picks(engine).map((r) => [r.sizeClass, r.source])).toEqual([['small', 'measured']]);
    const [r] = picks(engine);
    expectMeasured(r, engine.gpu.adapter.isSoftware);
    expect(engine.tuning['attention.small']).toBe(r.pick);
    expect(variantsOf(engine, spec)).toEqual([variantKey(r.pick)]);
    expect(await engine.tuneForPlan(spec)).toEqual([]);

    const other = await engineWith();
    (await other.compile(smallPlan())).dispose();
    expect(picks(other).map((x) => [x.source, x.pick, x.fwdMs])).toEqual([['memory', r.pick, r.fwdMs]]);
  });

  it('with tune: false, writes the default variant for every class and never measures', async () => {
    const engine = await engineWith({ tune: false });
    const fallback = engine.gpu.adapter.isSoftware ? 'thread' : 'workgroup';
    for (const c of ATTENTION_SIZE_CLASSES) expect(engine.tuning[`attention.${c}`]).toBe(fallback);
    const spec = smallPlan();
    (await engine.compile(spec)).dispose();
    expect(picks(engine)).toEqual([]);
    expect(variantsOf(engine, spec)).toEqual([variantKey(fallback)]);
  });

  it('a variant fixed in tuning.attention (or for the class) is used, not measured', async () => {
    const fixed: Record<string, string>[] = [{ attention: 'workgroup-16x32' }, { 'attention.small': 'workgroup-16x32' }];
    for (const tuning of fixed) {
      const engine = await engineWith({ tuning });
      const spec = smallPlan();
      (await engine.compile(spec)).dispose();
      expect(picks(engine)).toEqual([]);
      expect(variantsOf(engine, spec)).toEqual(['workgroup 16']);
    }
  });
});

describe('the tuning cache file (Node)', () => {
  it('uses a pick found in the file without measuring; matmul entries stay', async () => {
    const path = join(await tempDir(), 'tuning.json');
    const engine = await testEngine();
    const [first] = await tuneAttention(engine, { classes: ['small'], cache: path });
    expect(first.source).toBe('measured');
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, unknown>>;
    const [key] = Object.keys(saved);
    expect(key).toMatch(/^attention\/v\d+\/.*\/small$/);
    clearTuningMemory('attention');
    expect(await tuneAttention(engine, { classes: ['small'], cache: path })).toEqual([{ ...first, source: 'file' }]);

    // Figures no measurement would give: the pick and the figures come from the file.
    const other = attentionCandidates(engine.gpu.adapter.isSoftware).find((x) => x !== first.pick)!;
    const fwdMs = Object.fromEntries(Object.keys(first.fwdMs).map((x) => [x, x === other ? 1 : 1000]));
    await writeFile(path, JSON.stringify({ [key]: { ...saved[key], pick: other, fwdMs, bwdMs: fwdMs }, 'matmul/v5/x/small': { pick: 'register' } }));
    clearTuningMemory('attention');
    const fresh = await engineWith({ tuningCache: path });
    await fresh.loadCachedTuning();
    expect(picks(fresh).map((r) => [r.sizeClass, r.source, r.pick, r.speedup])).toEqual([['small', 'file', other, 1000]]);
    expect(fresh.tuning['attention.small']).toBe(other);
    (await fresh.compile(smallPlan())).dispose();
    expect(picks(fresh)).toHaveLength(1);
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object)).toContain('matmul/v5/x/small');
  });

  it('measures over a corrupt file or entry, and rewrites it', async () => {
    const path = join(await tempDir(), 'tuning.json');
    const engine = await testEngine();
    for (const junk of ['{"attention/v', '[1, 2]', 'null']) {
      await writeFile(path, junk);
      clearTuningMemory('attention');
      const [r] = await tuneAttention(engine, { classes: ['small'], cache: path });
      expect(r.source).toBe('measured');
      const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, { pick: string }>;
      expect(Object.values(saved).map((e) => e.pick)).toEqual([r.pick]);
    }
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, unknown>>;
    const [key] = Object.keys(saved);
    const broken = [
      { ...saved[key], pick: 'banana' },
      { ...saved[key], fwdMs: { thread: -1, 'thread-16': 2, workgroup: 3 } },
      { ...saved[key], bwdMs: {} },
    ];
    for (const entry of broken) {
      await writeFile(path, JSON.stringify({ [key]: entry, 'attention/v0/old': 'thread' }));
      clearTuningMemory('attention');
      expect((await tuneAttention(engine, { classes: ['small'], cache: path }))[0].source).toBe('measured');
      // The old version's entry is dropped with the rewrite.
      expect(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object)).toEqual([key]);
    }
  });
});
