// Every benchmark suite in quick mode, in Node on the test engine: each figure a suite reports
// is produced and finite (times, rates, ratios and byte counts > 0), every expected row is
// there, the table prints without holes, and bench:compare can read the result. How fast
// anything runs is not checked: on SwiftShader in CI the numbers mean little.
// Also the runners' plumbing that needs no GPU: the progress line and where --out writes.
// Not here: the TensorFlow.js peers (browser only) or the comparison's logic (bench-compare.test.ts).

import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { MATMUL_TILINGS, matmulTilingsFor } from '../src/ops/matmul.js';
import { matmulCandidates } from '../src/ops/matmul-tune.js';
import { testEngine } from './support/engine.js';
import { formatSuite, GPT_MATMUL_QUICK_PRODUCTS, QUICK_SIZES, QUICK_TRANSPOSE_SIZE, runMatmulSuite } from '../bench/suite.js';
import { figures } from '../bench/compare.js';
import { ATTENTION_QUICK_SIZES, formatAttentionSuite, runAttentionSuite } from '../bench/attention.js';
import { formatGptSuite, GPT_PRECISIONS, GPT_QUICK_PRESETS, runGptSuite } from '../bench/gpt.js';
import { formatDiffusionSuite, runDiffusionSuite, UNET_QUICK_SHAPE } from '../bench/diffusion.js';
import { formatGanSuite, GAN_BENCH_LOSSES, runGanSuite } from '../bench/gan.js';
import { formatRlSuite, RL_BENCH_ALGORITHMS, runRlSuite } from '../bench/rl.js';
import { formatVaeSuite, runVaeSuite, VAE_BENCH_ARCHS } from '../bench/vae.js';
import { FINETUNE_BENCH_STRATEGIES, formatFinetuneSuite, runFinetuneSuite } from '../bench/finetune.js';
import { CONTRASTIVE_BENCH_LOSSES, formatContrastiveSuite, runContrastiveSuite } from '../bench/contrastive.js';
import { CONV_OPS, CONV_QUICK_SHAPES, formatConvSuite, runConvSuite } from '../bench/conv.js';
import { ADAPTERS } from '../demos/bench/charts.js';
import { COLD_START_MODES, formatColdStartSuite, runColdStartSuite, type ColdStartMeasurement } from '../bench/coldstart.js';
import { expectFigures, expectTable, recorder } from './support/bench.js';
import { createProgress } from '../bench/progress.js';
import { outPath, parseSuites, SUITES } from '../bench/args.js';

const common = { runner: 'node', environment: 'vitest', quick: true } as const;

describe('bench suites in quick mode', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });

  it('matmul: each tiling at the quick size, the transformer products and the transpositions, the tuner and the pick', async () => {
    const p = recorder();
    const r = await runMatmulSuite(engine, { ...common, progress: p.progress });
    const benched = matmulTilingsFor(engine.gpu.features);
    expect(r.results.map((x) => [x.tiling, x.M])).toEqual(QUICK_SIZES.flatMap((s) => benched.map((t) => [t, s])));
    expect(Object.keys(r.pick)).toEqual(QUICK_SIZES.map(String));
    for (const t of matmulCandidates(engine.gpu.adapter.isSoftware, engine.gpu.features)) {
      expect(Object.keys(r.tuner.gflops[t] ?? {}).length).toBeGreaterThan(0);
    }
    // The tuner's pick per size class the quick mode measures, and by how much it won.
    for (const c of ['small', 'medium'] as const) {
      expect(MATMUL_TILINGS).toContain(r.tuner.picks[c]);
      expect(r.tuner.speedup[c]).toBeGreaterThanOrEqual(1);
    }
    expect(Object.keys(r.shareOfPeak)).toEqual(QUICK_SIZES.map(String));
    for (const share of Object.values(r.shareOfPeak)) expect(share).toBeGreaterThan(0);
    // The transformer's products in quick mode: the tiny preset's two, each with every tiling.
    expect(r.gpt.preset).toBe('tiny');
    const what = (name: string) => name.split(' (')[0];
    expect(r.shapes.map((x) => [what(x.name), x.tiling])).toEqual(
      GPT_MATMUL_QUICK_PRODUCTS.flatMap((w) => benched.map((t) => [`gpt-tiny ${w}`, t])),
    );
    // A weight gradient reads its activations transposed, the tied LM head its embedding.
    expect(Object.fromEntries(r.shapes.map((x) => [what(x.name), [x.transA, x.transB]]))).toEqual({
      'gpt-tiny fc up dW': [true, false],
      'gpt-tiny lm head fwd': [false, true],
    });
    // The transpositions at the quick size: A.B first, then each variant, with every tiling.
    expect(r.transposeSize).toBe(QUICK_TRANSPOSE_SIZE);
    const variants = [[false, false], [true, false], [false, true], [true, true]];
    expect(r.transpositions.map((x) => [x.transA, x.transB, x.tiling, x.M, x.N, x.K])).toEqual(
      variants.flatMap(([ta, tb]) => benched.map((t) => [ta, tb, t, ...Array(3).fill(QUICK_TRANSPOSE_SIZE)])),
    );
    for (const x of r.transpositions.slice(0, benched.length)) expect(x.ratio).toBe(1);
    for (const x of [...r.shapes, ...r.transpositions]) {
      expect(MATMUL_TILINGS, x.name).toContain(x.pick);
      expect(x.shareOfPeak, x.name).toBeGreaterThan(0);
    }
    // Each product's row per tiling is a figure bench:compare matches by name and tiling.
    const keys = new Set(figures(r).keys());
    for (const [table, rows] of [['shapes', r.shapes], ['transpositions', r.transpositions]] as const) {
      for (const x of rows) expect(keys, x.name).toContain(`${table}[name=${x.name},tiling=${x.tiling}].gflops`);
    }
    expect(expectFigures(r)).toBeGreaterThanOrEqual(1 + 2 * benched.length + 2 * r.shapes.length + 3 * r.transpositions.length);
    const table = formatSuite(r);
    expectTable(table);
    for (const x of [...r.shapes, ...r.transpositions]) expect(table).toContain(`${x.name}\t${x.sizeClass}\t`);
    p.expectCounted();
  });

  it('attention: fused and unfused at the quick T', async () => {
    const p = recorder();
    const r = await runAttentionSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.impl, x.T])).toEqual(ATTENTION_QUICK_SIZES.flatMap((T) => [['fused', T], ['unfused', T]]));
    expect(expectFigures(r)).toBe(4 * r.results.length);
    expectTable(formatAttentionSuite(r));
    p.expectCounted();
  });

  it('gpt: the tiny preset in f32 and mixed precision, two timed steps each', async () => {
    const p = recorder();
    const r = await runGptSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.preset, x.precision])).toEqual(GPT_QUICK_PRESETS.flatMap((s) => GPT_PRECISIONS.map((q) => [s, q])));
    expect(r.results.map((x) => x.steps)).toEqual(r.results.map(() => 2));
    // Each mixed row has its time and peak bytes over the f32 row's; f32 rows have none.
    for (const x of r.results) expect(x.ratio === undefined, x.label ?? x.preset).toBe(x.precision === 'f32');
    // bench:compare tells the two rows of a preset apart; the f32 row keeps its key of old.
    const keys = new Set(figures(r).keys());
    for (const s of GPT_QUICK_PRESETS) {
      expect(keys).toContain(`results[preset=${s}].msPerStep`);
      expect(keys).toContain(`results[preset=${s},label=${s} mixed].msPerStep`);
      expect(keys).toContain(`results[preset=${s},label=${s} mixed].ratio.msPerStep`);
    }
    // Generation per preset, without and with the KV cache, keyed apart from the training rows.
    expect(r.generation.map((g) => [g.preset, g.tokens])).toEqual(GPT_QUICK_PRESETS.map((s) => [s, 4]));
    for (const s of GPT_QUICK_PRESETS) {
      expect(keys).toContain(`generation[preset=${s},label=${s} generation].uncached.tokensPerSecond`);
      expect(keys).toContain(`generation[preset=${s},label=${s} generation].cached.tokensPerSecond`);
    }
    // Six figures a row (time, rate, four byte counts), the two ratios of a mixed row, and five a
    // generation row (time and rate each way, their ratio).
    const mixed = r.results.filter((x) => x.precision === 'mixed').length;
    expect(expectFigures(r)).toBe(6 * r.results.length + 2 * mixed + 5 * r.generation.length);
    const table = formatGptSuite(r);
    expectTable(table);
    for (const x of r.results) expect(table).toMatch(new RegExp(`^${x.preset}\\t${x.precision}\\t`, 'm'));
    for (const g of r.generation) expect(table).toMatch(new RegExp(`^${g.preset}\\t\\d+/\\d+/\\d+/${g.block}\\t`, 'm'));
    p.expectCounted();
  });

  it('diffusion: the MLP with its sampling figure and the tiny U-Net', async () => {
    const p = recorder();
    const r = await runDiffusionSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.model, x.steps])).toEqual([['mlp', 2], ['unet', 2]]);
    expect(r.unet?.config).toMatchObject({ size: UNET_QUICK_SHAPE.size, ...UNET_QUICK_SHAPE.overrides });
    expect(r.shape.sampleSteps).toBeLessThan(50);
    // The U-Net row has no sampling figure (NaN by design); the MLP's must be there.
    expect(expectFigures(r, /^results\[1\]\.msPerSample/)).toBe(5 + 3);
    expectTable(formatDiffusionSuite(r));
    p.expectCounted();
  });

  it('gan: both losses, two timed iterations each', async () => {
    const p = recorder();
    const r = await runGanSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.loss, x.iterations])).toEqual(GAN_BENCH_LOSSES.map((l) => [l, 2]));
    expect(expectFigures(r)).toBe(4 * r.results.length);
    expectTable(formatGanSuite(r));
    p.expectCounted();
  });

  it('rl: a rollout and a gradient step of each algorithm, two timed of each', async () => {
    const p = recorder();
    const r = await runRlSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.name, x.rollouts, x.updateSteps])).toEqual(RL_BENCH_ALGORITHMS.map((a) => [a, 2, 2]));
    // PPO's rollout is its whole horizon of every environment; REINFORCE's at least a step of each.
    const [ppo, reinforce] = r.results;
    expect(ppo.envStepsPerRollout).toBe(ppo.envs * ppo.horizon);
    expect(reinforce.envStepsPerRollout).toBeGreaterThanOrEqual(reinforce.envs);
    // Rollout rate and time, step time and rate, per row.
    expect(expectFigures(r)).toBe(4 * r.results.length);
    const keys = new Set(figures(r).keys());
    for (const a of RL_BENCH_ALGORITHMS) expect(keys).toContain(`results[name=${a}].msPerUpdateStep`);
    const table = formatRlSuite(r);
    expectTable(table);
    for (const a of RL_BENCH_ALGORITHMS) expect(table).toMatch(new RegExp(`^${a}\\t`, 'm'));
    p.expectCounted();
  });

  it('finetune: every strategy, two timed steps each; frozen weights hold less at peak', async () => {
    const p = recorder();
    const r = await runFinetuneSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.name, x.steps])).toEqual(FINETUNE_BENCH_STRATEGIES.map((s) => [s.name, 2]));
    expect(expectFigures(r)).toBe(4 * r.results.length); // time, rate, bytes counted and at peak
    const [full, last, loraAttn] = r.results;
    expect(last.trainableParameters).toBeLessThan(full.trainableParameters);
    expect(loraAttn.trainableParameters).toBeLessThan(last.trainableParameters);
    for (const m of r.results) expect(m.peakBytes).toBeGreaterThanOrEqual(m.countedBytes);
    expect(loraAttn.peakBytes).toBeLessThan(full.peakBytes);
    const table = formatFinetuneSuite(r);
    expectTable(table);
    for (const s of FINETUNE_BENCH_STRATEGIES) expect(table).toMatch(new RegExp(`^gpt2-shaped\\t${s.name}\\t`, 'm'));
    expect(r.skipped).toEqual(['gpt2-small: not in quick mode']);
    p.expectCounted();
  });

  it('vae: the MLP and the conv variant, two timed steps each', async () => {
    const p = recorder();
    const r = await runVaeSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.model, x.steps])).toEqual(VAE_BENCH_ARCHS.map((m) => [m, 2]));
    expect(expectFigures(r)).toBe(2 * r.results.length);
    const keys = new Set(figures(r).keys());
    for (const m of VAE_BENCH_ARCHS) expect(keys).toContain(`results[model=${m}].imagesPerSecond`);
    expectTable(formatVaeSuite(r));
    p.expectCounted();
  });

  it('contrastive: the NT-Xent and the triplet step, two timed steps each', async () => {
    const p = recorder();
    const r = await runContrastiveSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.loss, x.steps])).toEqual(CONTRASTIVE_BENCH_LOSSES.map((l) => [l, 2]));
    expect(expectFigures(r)).toBe(2 * r.results.length);
    for (const m of r.results) expect(m.accuracy).toBeLessThanOrEqual(1);
    const keys = new Set(figures(r).keys());
    for (const l of CONTRASTIVE_BENCH_LOSSES) expect(keys).toContain(`results[loss=${l}].msPerStep`);
    expectTable(formatContrastiveSuite(r));
    p.expectCounted();
  });

  it('coldstart: every tuning mode from a new engine, measuring where each mode says', async () => {
    const p = recorder();
    const r = await runColdStartSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => x.mode)).toEqual(COLD_START_MODES);
    expectFigures(r);
    const [deferred, upfront, off] = r.results;
    const began = (m: ColdStartMeasurement, phase: string) => m.phases.find((x) => x.phase === phase)?.startMs;
    // Deferred measures after the first step, upfront before the compile, off never.
    expect(began(deferred, 'tuning matmul')).toBeGreaterThan(deferred.firstStepMs);
    expect(began(upfront, 'tuning matmul')).toBeLessThan(upfront.compiledMs);
    expect(off.phases.map((x) => x.phase)).toEqual(['compiling the training step']);
    for (const m of r.results) {
      const marks = [m.engineMs, m.compiledMs, m.firstStepMs, m.secondStepMs, m.settledMs];
      expect(marks).toEqual([...marks].sort((a, b) => a - b));
    }
    // Every mode's first step ran from the same seed and batch (deferred on the first choices,
    // off on the defaults, upfront on the picks: the same sums, in other orders).
    expect(deferred.loss).toBeCloseTo(off.loss, 4);
    expect(upfront.loss).toBeCloseTo(off.loss, 4);
    expectTable(formatColdStartSuite(r));
    // The bench page's chart: one group of bars per mode, in seconds.
    const [chart] = ADAPTERS.coldstart(r);
    expect(chart.categories).toEqual([...COLD_START_MODES]);
    expect(chart.series.map((x) => x.label)).toEqual(['first step', 'second step', 'settled']);
    expect(chart.series[0].values).toEqual(r.results.map((m) => m.firstStepMs / 1000));
    p.expectCounted();
  });

  it('conv: every op on the quick shape in both lowerings, each next to its matmul', async () => {
    const p = recorder();
    const r = await runConvSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.shape, x.op])).toEqual(CONV_QUICK_SHAPES.flatMap((g) => CONV_OPS.map((op) => [g.name, op])));
    // ms and GFLOP/s of the pick and of each lowering, the matmul's two and the ratio; and the arithmetic peak.
    expect(expectFigures(r)).toBe(9 * r.results.length + 1);
    for (const m of r.results) {
      expect(m.ms).toBe(m.lowerings[m.lowering].ms);
      expect(m.lowerings.gemm.dispatches).toBeGreaterThan(1);
    }
    for (const m of r.results) expect(m.shareOfPeak).toBeGreaterThan(0);
    expectTable(formatConvSuite(r));
    p.expectCounted();
  });
});

describe('bench runners', () => {
  it('rewrites one status line on a terminal and prints only log lines elsewhere', () => {
    const written: string[] = [];
    const tty = createProgress('gan', { isTTY: true, columns: 40, write: (t: string) => written.push(t) });
    tty.update(1, 2, 'loss nonsaturating');
    tty.log('a line');
    tty.done();
    const text = written.join('');
    expect(text).toMatch(/^\r\x1b\[Kgan {2}1\/2 {2}loss nonsaturating {2}\d+\.\d s/);
    expect(text).toContain('\r\x1b[Ka line\n');
    expect(written.every((w) => w.replace(/^\r\x1b\[K/, '').split('\n')[0].length < 40)).toBe(true);
    expect(written.at(-1)).toBe('\r\x1b[K');

    const plain: string[] = [];
    const pipe = createProgress('gan', { isTTY: false, write: (t: string) => plain.push(t) });
    pipe.update(1, 2, 'loss nonsaturating');
    pipe.log('a line');
    pipe.done();
    expect(plain).toEqual(['a line\n']);
  });

  it('names the suites --suite takes and where --out puts each', () => {
    expect(parseSuites(undefined)).toEqual(['matmul']);
    expect(parseSuites('all')).toEqual(SUITES.filter((s) => s !== 'soak'));
    expect(parseSuites('soak')).toEqual(['soak']);
    expect(parseSuites('gan,conv')).toEqual(['gan', 'conv']);
    expect(() => parseSuites('convs')).toThrow(/unknown suite 'convs'.*conv.*all/);
    expect(() => parseSuites('gan,convs')).toThrow(/unknown suite 'convs'/);
    expect(outPath(undefined, 'gan', true)).toBeUndefined();
    expect(outPath('/tmp/q.json', 'gan', false)).toBe('/tmp/q.json');
    expect(outPath('/tmp/q.json', 'gan', true)).toBe('/tmp/q-gan.json');
    expect(outPath('/tmp/v1.0/q', 'gan', true)).toBe('/tmp/v1.0/q-gan.json');
  });
});
