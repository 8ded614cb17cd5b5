// The peak calibration (bench/peak.ts) and the fused optimizer suite (bench/optimizer.ts) in
// quick mode on the test engine: every figure produced and finite, rows as expected, tables
// without holes, progress counted, calibration memoized per engine. Also the calibration
// kernels themselves against the CPU: the copy copies, and the FMA chain computes what its
// reference says for the iteration count it was given (so a figure is not a kernel that
// skipped its work). How fast anything runs is not checked.

import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { dispatchTimer } from '../src/gpu/profiler.js';
import {
  arithmeticDispatch, bandwidthDispatch, calibratePeak, fmaPeakReference, formatPeakSuite, runPeakSuite,
} from '../bench/peak.js';
import { countLabel, formatOptimizerSuite, OPTIMIZER_KINDS, OPTIMIZER_QUICK_SIZES, runOptimizerSuite } from '../bench/optimizer.js';
import { expectFigures, expectTable, recorder } from './support/bench.js';
import { testEngine } from './support/engine.js';

const common = { runner: 'node', environment: 'vitest', quick: true } as const;

describe('peak calibration and the optimizer suite in quick mode', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });

  it('peak: both figures, measured once per engine, and the suite table', async () => {
    const c = await calibratePeak(engine, { quick: true });
    for (const v of [c.gflops, c.gbPerSecond, c.arithmetic.ms, c.bandwidth.ms]) expect(Number.isFinite(v) && v > 0).toBe(true);
    const t0 = performance.now();
    expect(await calibratePeak(engine, { quick: true })).toBe(c);
    expect(performance.now() - t0).toBeLessThan(50);
    const p = recorder();
    const r = await runPeakSuite(engine, { ...common, progress: p.progress });
    expect(r.gbPerSecond).toBe(c.gbPerSecond);
    // gflops, gbPerSecond, the two ms and movedBytes.
    expect(expectFigures(r)).toBe(5);
    expectTable(formatPeakSuite(r));
    p.expectCounted();
  });

  it('peak kernels: the copy copies and the FMA chain matches its f32 recomputation', async () => {
    const { pool } = engine;
    // Sizes that are not multiples of the workgroup: the guards and the stride are exercised.
    const [per, vec4s, invocations, iterations] = [4, 4 * 300, 1000, 16];
    const src = Float32Array.from({ length: vec4s * 4 }, (_, i) => i * 0.5 - 7);
    const a = pool.acquire(src.byteLength), b = pool.acquire(src.byteLength), out = pool.acquire(invocations * 4);
    try {
      pool.write(a, src);
      pool.write(b, new Float32Array(src.length).fill(-1));
      const copy = await dispatchTimer(engine.gpu, engine.kernels, bandwidthDispatch(vec4s, per), [{ buffer: a, size: src.byteLength }], [{ buffer: b, size: src.byteLength }]);
      await copy.run(1);
      copy.destroy();
      expect(Array.from(await pool.read(b, src.byteLength))).toEqual(Array.from(src));

      const fma = await dispatchTimer(engine.gpu, engine.kernels, arithmeticDispatch(invocations, iterations), [], [{ buffer: out, size: invocations * 4 }]);
      await fma.run(1);
      fma.destroy();
      const got = await pool.read(out, invocations * 4);
      const close = (x: number, y: number) => Math.abs(x - y) <= 1e-5 * Math.abs(y);
      for (let i = 0; i < invocations; i++) {
        const want = fmaPeakReference(i, iterations);
        if (!close(got[i], want)) throw new Error(`fma_peak invocation ${i}: ${got[i]}, the reference says ${want}`);
      }
      // The check can tell one iteration from another.
      for (const i of [0, 999]) expect(close(fmaPeakReference(i, iterations - 1), fmaPeakReference(i, iterations))).toBe(false);
    } finally {
      for (const buf of [a, b, out]) pool.release(buf);
    }
  });

  it('optimizer: AdamW and SGD at the quick size, with their share of the copy peak', async () => {
    const p = recorder();
    const r = await runOptimizerSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => x.name)).toEqual(OPTIMIZER_QUICK_SIZES.flatMap((n) => OPTIMIZER_KINDS.map((k) => `${k} ${countLabel(n)}`)));
    expect(r.results.every((x) => x.skipped === undefined && x.shareOfPeak > 0 && x.params > 0.9 * OPTIMIZER_QUICK_SIZES[0])).toBe(true);
    expect(r.peakGbPerSecond).toBe((await calibratePeak(engine, { quick: true })).gbPerSecond);
    // peakGbPerSecond, then ms, touchedBytes and gbPerSecond per row.
    expect(expectFigures(r)).toBe(1 + 3 * r.results.length);
    expectTable(formatOptimizerSuite(r));
    p.expectCounted();
  });
});
