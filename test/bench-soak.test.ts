// The soak suite (bench/soak.ts) in quick mode: 24 steps of the tiny GPT trained twice, once
// straight through and once reloaded into a fresh trainer every 8 steps with one device loss
// after an autosave; the interrupted loss curve equals the uninterrupted one bit for bit, the
// loss is recovered from the autosave it should be, every figure is produced and finite, the
// table prints without holes and progress counts up. How fast anything runs is not checked.
// Not here: the trainer's own reload and recovery tests (trainer.test.ts).

import { describe, expect, it } from 'vitest';
import { formatSoakSuite, runSoakSuite, SOAK_PLANS } from '../bench/soak.js';
import { expectFigures, expectTable, recorder } from './support/bench.js';
import { testEngine } from './support/engine.js';

describe('soak suite in quick mode', () => {
  it('reloads and recovers from a lost device with the same loss curve, and reports every figure', async () => {
    const engine = await testEngine();
    const p = recorder();
    const r = await runSoakSuite(engine, { runner: 'node', environment: 'vitest', quick: true, progress: p.progress });
    const plan = SOAK_PLANS.quick;
    expect(r.plan).toEqual(plan);
    expect([r.matches, r.maxAbsDiff, r.firstDiffStep]).toEqual([true, 0, null]);
    expect(r.reloads).toBe(plan.steps / plan.checkpointEvery - 1);
    expect(r.recoveries).toBe(1);
    // Lost in the second stretch (steps 9-16) at the record of step 13 or after: resumed from
    // the autosave of step 12 or a later one, never past the stretch.
    const [loss] = r.losses;
    expect(loss.lostAt).toBeGreaterThanOrEqual(13);
    expect(loss.resumedAt % plan.autosaveEvery).toBe(0);
    expect(loss.resumedAt).toBeGreaterThanOrEqual(12);
    expect(loss.resumedAt).toBeLessThanOrEqual(Math.min(loss.lostAt, 16));
    expect(r.stepsLost).toBe(loss.lostAt - loss.resumedAt);
    expect(r.runs.map((x) => [x.name, x.steps, x.stepsRun])).toEqual([
      ['uninterrupted', plan.steps, plan.steps],
      ['interrupted', plan.steps, plan.steps + r.stepsLost],
    ]);
    for (const run of r.runs) {
      const steps = run.memory.map((m) => m.step);
      expect(steps).toEqual(Array.from({ length: plan.steps / plan.memoryEvery }, (_, i) => (i + 1) * plan.memoryEvery));
      expect(run.peakInUseBytes).toBeGreaterThanOrEqual(run.finalInUseBytes);
    }
    // Growth is 0 where nothing leaks (and may be negative): a figure that need not be > 0.
    expect(expectFigures(r, /GrowthBytes$/)).toBeGreaterThan(0);
    const table = formatSoakSuite(r);
    expectTable(table);
    expect(table).toMatch(/verdict: loss curve matches the uninterrupted run bit for bit/);
    expect(table).toMatch(/^uninterrupted\t24\t24\t/m);
    p.expectCounted();
  });
});
