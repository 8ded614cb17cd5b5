// The peak calibration (bench/peak.ts) and the fused optimizer suite (bench/optimizer.ts) in
// quick mode on the test engine: the sweeps cover every configuration (every workgroup size the
// device allows by every chain count, every copy size), each peak is the best of its sweep,
// every figure produced and finite, tables without holes, progress counted, calibration memoized
// per engine. Also the calibration kernels themselves against the CPU: the copy copies, and
// every chain count of the FMA kernel computes exactly the chains and steps its flops are
// counted from (so a figure is not a kernel that skipped its work). How fast anything runs is
// not checked.

import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { dispatchTimer } from '../src/gpu/profiler.js';
import {
  arithmeticDispatch, bandwidthDispatch, calibratePeak, FMA_CHAIN_COUNTS, FMA_UNROLL, FMA_WORKGROUP_SIZES, fmaReference, formatPeakSuite,
  peakSizes, runPeakSuite,
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

  it('peak: every configuration swept, each peak the best of its sweep, measured once per engine, and the suite table', async () => {
    const p = recorder();
    const r = await runPeakSuite(engine, { ...common, progress: p.progress });
    p.expectCounted();
    const l = engine.gpu.limits;
    const wgs = FMA_WORKGROUP_SIZES.filter((wg) => wg <= l.maxComputeInvocationsPerWorkgroup && wg <= l.maxComputeWorkgroupSizeX);
    expect(wgs.length).toBeGreaterThan(0);
    expect(r.fmaSweep.map((f) => [f.wg, f.chains])).toEqual(wgs.flatMap((wg) => FMA_CHAIN_COUNTS.map((chains) => [wg, chains])));
    const { fmas, invocations, copyMb } = peakSizes(engine, true);
    for (const f of r.fmaSweep) {
      // The same counted work in every configuration: only how it is split into chains differs.
      expect(f.iterations * FMA_UNROLL * f.chains).toBe(fmas);
      expect(f.flopsPerInvocation).toBe(fmas * 8);
      expect(f.invocations).toBe(invocations);
      // The rate is the fastest submit's.
      expect(f.gflops).toBeCloseTo((f.invocations * f.flopsPerInvocation) / (f.ms * 1e6), 9);
      expect(f.ms).toBeLessThanOrEqual(f.medianMs);
    }
    expect(r.copySweep.map((b) => b.copiedBytes / 2 ** 20)).toEqual(copyMb);
    for (const b of r.copySweep) {
      expect(b.movedBytes).toBe(2 * b.copiedBytes);
      expect(b.gbPerSecond).toBeCloseTo(b.movedBytes / (b.ms * 1e6), 9);
      expect(b.ms).toBeLessThanOrEqual(b.medianMs);
    }
    expect(r.gflops).toBe(Math.max(...r.fmaSweep.map((f) => f.gflops)));
    expect(r.arithmetic).toBe(r.fmaSweep.find((f) => f.gflops === r.gflops));
    expect(r.gbPerSecond).toBe(Math.max(...r.copySweep.map((b) => b.gbPerSecond)));
    expect(r.bandwidth).toBe(r.copySweep.find((b) => b.gbPerSecond === r.gbPerSecond));
    expect(['timestamp', 'wall-clock']).toContain(r.timing);

    // Measured once: the suite's calibration is the one every other suite divides by.
    // Not measured again: the call hears no sweep item and gives back the very sweeps of the first.
    let measuredAgain = 0;
    const c = await calibratePeak(engine, { quick: true, progress: () => measuredAgain++ });
    expect(measuredAgain).toBe(0);
    expect(c.fmaSweep).toBe(r.fmaSweep);
    expect(c.copySweep).toBe(r.copySweep);
    expect(c.gflops).toBe(r.gflops);
    expect(c.gbPerSecond).toBe(r.gbPerSecond);
    // A second suite in the run counts the calibration it found as one item.
    const again = recorder();
    expect((await runPeakSuite(engine, { ...common, progress: again.progress })).fmaSweep).toBe(r.fmaSweep);
    again.expectCounted();

    // The peaks, then ms, medianMs and gflops per FMA row, then copiedBytes, movedBytes, ms, medianMs and gbPerSecond per copy row.
    expect(expectFigures(r)).toBe(2 + 3 * (1 + r.fmaSweep.length) + 5 * (1 + r.copySweep.length));
    const table = formatPeakSuite(r);
    expectTable(table);
    for (const row of [...r.fmaSweep, ...r.copySweep]) expect(table).toContain(`${row.name}\t`);
  });

  it('peak kernels: the copy copies, and every chain count computes its f32 recomputation step for step', async () => {
    const { pool } = engine;
    // Sizes that are not multiples of the workgroup: the guards and the stride are exercised.
    const [per, vec4s, invocations, iterations] = [4, 4 * 300, 1000, 2];
    const src = Float32Array.from({ length: vec4s * 4 }, (_, i) => i * 0.5 - 7);
    const a = pool.acquire(src.byteLength), b = pool.acquire(src.byteLength), out = pool.acquire(invocations * 16);
    try {
      pool.write(a, src);
      pool.write(b, new Float32Array(src.length).fill(-1));
      const copy = await dispatchTimer(engine.gpu, engine.kernels, bandwidthDispatch(vec4s, per), [{ buffer: a, size: src.byteLength }], [{ buffer: b, size: src.byteLength }]);
      await copy.run(1);
      copy.destroy();
      expect(Array.from(await pool.read(b, src.byteLength))).toEqual(Array.from(src));

      const steps = iterations * FMA_UNROLL;
      const close = (x: number, y: number) => Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(y));
      for (const [n, chains] of FMA_CHAIN_COUNTS.entries()) {
        // Every workgroup size too, one per chain count.
        const wg = FMA_WORKGROUP_SIZES[n % FMA_WORKGROUP_SIZES.length];
        pool.write(out, new Float32Array(invocations * 4).fill(NaN));
        const fma = await dispatchTimer(engine.gpu, engine.kernels, arithmeticDispatch(invocations, { wg, chains, iterations }), [], [{ buffer: out, size: invocations * 16 }]);
        await fma.run(1);
        fma.destroy();
        const got = await pool.read(out, invocations * 16);
        for (let i = 0; i < invocations; i++) {
          const want = fmaReference(i, chains, steps);
          // The check can tell the counted steps from one fewer, and these chains from one fewer.
          const short = fmaReference(i, chains, steps - 1), fewer = chains > 1 ? fmaReference(i, chains - 1, steps) : null;
          for (let j = 0; j < 4; j++) {
            const v = got[4 * i + j];
            if (!close(v, want[j])) throw new Error(`fma_chains (${chains} chains, wg ${wg}) invocation ${i} lane ${j}: ${v}, the reference says ${want[j]}`);
            expect(close(short[j], want[j]) || (fewer !== null && close(fewer[j], want[j]))).toBe(false);
          }
        }
      }
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
