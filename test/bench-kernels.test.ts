// The row-kernel suite (bench/kernels.ts) in quick mode, in Node on the test engine: every op
// and pass has its row, every figure is produced and finite, the table prints without holes,
// progress counts up, and the byte model is what its comments say. How fast anything runs is
// not checked: on SwiftShader in CI the numbers mean little.
// Not here: the TensorFlow.js peer (browser only: `npm run bench -- --quick --suite=kernels`).

import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { testEngine } from './support/engine.js';
import { expectFigures, expectTable, recorder } from './support/bench.js';
import { formatKernelsSuite, KERNEL_PASSES, KERNEL_QUICK_SHAPES, KERNEL_SHAPES, minBytes, runKernelsSuite } from '../bench/kernels.js';

const common = { runner: 'node', environment: 'vitest', quick: true } as const;

describe('kernels bench suite', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });

  it('quick mode: each op forward and forward + backward, checked, with GB/s and share of peak', async () => {
    const p = recorder();
    const r = await runKernelsSuite(engine, { ...common, progress: p.progress });
    expect(r.results.map((x) => [x.op, x.pass, x.shape])).toEqual(
      KERNEL_QUICK_SHAPES.flatMap((s) => KERNEL_PASSES.map((pass) => [s.op, pass, `${s.rows}x${s.cols}`])),
    );
    for (const x of r.results) {
      expect(x.gbPerSecond).toBeCloseTo(x.minBytes / (x.ms * 1e6), 6);
      expect(x.shareOfPeak).toBeCloseTo(x.gbPerSecond / r.peak.gbPerSecond, 6);
      expect(x.checkError).toBeLessThanOrEqual(1e-4);
    }
    // The forward + backward row adds the backward's dispatches to the forward's.
    for (let i = 0; i < r.results.length; i += 2) expect(r.results[i + 1].dispatches).toBeGreaterThan(r.results[i].dispatches);
    // ms, minBytes and gbPerSecond per row, and the two peaks.
    expect(expectFigures(r)).toBe(3 * r.results.length + 2);
    const table = formatKernelsSuite(r);
    expectTable(table);
    expect(table.split('\n')).toHaveLength(3 + r.results.length);
    p.expectCounted();
  });

  it('counts each op of a pass once, inputs read and outputs written', () => {
    const [R, C] = [10, 7];
    expect(minBytes('softmax', 'forward', R, C)).toBe(4 * 2 * R * C);
    expect(minBytes('softmax', 'forward+backward', R, C)).toBe(4 * 5 * R * C);
    expect(minBytes('layerNorm', 'forward', R, C)).toBe(4 * (2 * R * C + 2 * C + 2 * R));
    expect(minBytes('layerNorm', 'forward+backward', R, C)).toBe(4 * (5 * R * C + 5 * C + 4 * R));
    expect(minBytes('crossEntropy', 'forward', R, C)).toBe(4 * (R * C + R + 1));
    expect(minBytes('crossEntropy', 'forward+backward', R, C)).toBe(4 * (3 * R * C + 2 * R + 2));
  });

  it('measures every op on the default shapes of both adapter kinds, the sweep included', () => {
    for (const list of [KERNEL_SHAPES.gpu, KERNEL_SHAPES.software]) {
      expect(new Set(list.map((s) => s.op))).toEqual(new Set(['softmax', 'layerNorm', 'crossEntropy']));
      expect(list.filter((s) => s.label === 'sweep').every((s) => s.rows === 4096)).toBe(true);
      // No problem twice: rows are keyed by op and shape.
      expect(new Set(list.map((s) => `${s.op} ${s.rows}x${s.cols}`)).size).toBe(list.length);
    }
    expect(KERNEL_SHAPES.gpu.filter((s) => s.label === 'sweep').map((s) => s.cols)).toEqual([128, 512, 2048, 128, 512, 2048, 128, 512, 2048]);
  });
});
