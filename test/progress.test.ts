// The progress of the engine's long waits: a phase reports its count from none to all with the
// time; a first compile with autotuning reports tuning by size class and compiling by kernel, in
// the plan's words; a session passes both on to its page as progress events; and the stderr
// listener stays quiet for a quick wait and speaks for a long one, a phase at a time.
// Not here: what a page draws of it (the page tests read its words).

import { describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine.js';
import { input, matmul, parameter } from '../src/index.js';
import { describeProgress, stderrProgress, type Progress } from '../src/progress.js';
import { Trainer } from '../src/tasks/gpt/session.js';
import { memoryAutosave } from '../src/worker/autosave.js';

/** Each phase's counts in the order they came. */
function byPhase(reports: Progress[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const p of reports) m.set(p.phase, [...(m.get(p.phase) ?? []), p.done]);
  return m;
}

describe('progress of long waits', () => {
  it("with tune: 'upfront', a first compile reports tuning by size class and compiling by kernel, each from none to all", async () => {
    const engine = await createEngine({ tuningCache: false, progress: false, tune: 'upfront' });
    const reports: Progress[] = [];
    const stop = engine.onProgress((p) => reports.push(p));
    const x = input('x', [5, 7]);
    const w = parameter('w', new Float32Array(7 * 3).fill(0.5), [7, 3]);
    const plan = await engine.compile({ outputs: { y: matmul(x, w) }, label: 'a product' });
    stop();
    const phases = byPhase(reports);
    expect([...phases.keys()]).toEqual(['tuning matmul', 'compiling a product']);
    for (const [phase, counts] of phases) {
      const total = reports.find((p) => p.phase === phase)!.total;
      expect(total).toBeGreaterThan(0);
      expect(counts).toEqual(Array.from({ length: total + 1 }, (_, i) => i)); // 0, 1, ..., total
    }
    expect(reports.every((p) => p.elapsedMs >= 0 && Number.isFinite(p.elapsedMs))).toBe(true);
    expect(describeProgress(reports.at(-1)!)).toMatch(/^compiling a product: (\d+) of \1 kernels \(\d+ s\)$/);
    // The picks are in memory now: a second plan of the same size tunes nothing.
    const again: Progress[] = [];
    engine.onProgress((p) => again.push(p));
    await engine.compile({ outputs: { y: matmul(x, w) }, label: 'the same product' });
    expect([...byPhase(again).keys()]).toEqual(['compiling the same product']);
    plan.dispose();
    engine.destroy();
  });

  it('a session passes its engine\'s progress on as events, each phase ending with all done', async () => {
    const engine = await createEngine({ tuningCache: false, progress: false });
    const t = new Trainer({ engine, autosave: memoryAutosave() });
    const events: Progress[] = [];
    await t.subscribe((e) => {
      if (e.type === 'progress') events.push(e);
    });
    await t.create({ preset: 'tiny', batch: 2, evalEvery: 0, sampleEvery: 0, autosaveEvery: 0, data: { kind: 'builtin', lines: 200 } });
    const phases = byPhase(events);
    expect([...phases.keys()]).toEqual(expect.arrayContaining(['compiling the training step', 'compiling the evaluation', 'compiling sampling']));
    for (const [phase, counts] of phases) {
      const total = events.find((p) => p.phase === phase)!.total;
      expect([phase, counts[0], counts.at(-1)]).toEqual([phase, 0, total]);
      expect(counts.every((c, i) => i === 0 || c > counts[i - 1])).toBe(true);
    }
    await t.dispose();
    engine.destroy();
  });

  it('on stderr: nothing for a wait under a second, then a line at most every two seconds and at the end', () => {
    const lines: string[] = [];
    const listen = stderrProgress({ write: (l) => lines.push(l) });
    const at = (phase: string, done: number, total: number, elapsedMs: number) => listen({ phase, unit: 'kernels', done, total, elapsedMs });
    at('compiling a', 0, 3, 0);
    at('compiling a', 3, 3, 900); // quick: silent
    at('compiling b', 0, 4, 0);
    at('compiling b', 1, 4, 1200);
    at('compiling b', 2, 4, 2000);
    at('compiling b', 3, 4, 3300);
    at('compiling b', 4, 4, 3400);
    expect(lines).toEqual([
      'webgpu-train: compiling b: 1 of 4 kernels (1 s, about 4 s left)',
      'webgpu-train: compiling b: 3 of 4 kernels (3 s, about 1 s left)',
      'webgpu-train: compiling b: 4 of 4 kernels (3 s)',
    ]);
  });
});
