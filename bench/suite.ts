// The matmul benchmark suite, shared by the Node runner (bench/node.ts, Dawn) and the browser
// page (bench/page.ts, run headless by bench/browser.ts): GFLOP/s of square products for
// each tiling and for the pick of the autotuner, on whatever adapter the engine has.
// Each figure is the median of several timed submits after a warm-up, each submit a loop of
// back-to-back dispatches (GPU timestamps when the adapter has them, else the wall clock).
// Quick mode (--quick): size 128 only, three short submits per tiling (the tuner still runs,
// at its own sizes): every figure of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: launching anything, or writing files (the runners do).

import type { Engine } from '../src/engine.js';
import type { PeerMeasurement } from './peer-tfjs.js';
import type { ProgressFn } from './progress.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import { MATMUL_TILINGS, type MatmulTiling } from '../src/ops/matmul.js';
import {
  measureMatmul,
  tuneMatmul,
  type MatmulMeasurement,
  type MatmulTuneResult,
  type TimingSource,
} from '../src/ops/matmul-tune.js';

export const SIZES = [256, 512, 1024] as const;
/** Quick mode's size: big enough that both tilings run full tiles. */
export const QUICK_SIZES = [128] as const;

/** Timing loop sizes: submits of ~200 ms; quick mode's are short and few. */
const TIMING = {
  full: { reps: 7, targetMs: 200, maxPerRep: 1024, maxMs: 10_000 },
  quick: { reps: 3, targetMs: 20, maxPerRep: 64, maxMs: 1000 },
} as const;

export interface SuiteResult {
  suite: 'matmul';
  runner: 'node' | 'browser';
  /** Browser name and version, or Node's version. */
  environment: string;
  adapter: AdapterSummary;
  date: string;
  timing: TimingSource;
  tuner: { pick: MatmulTiling; ms: number; gflops: MatmulTuneResult['gflops'] };
  results: MatmulMeasurement[];
  /** GFLOP/s of the picked tiling by size. */
  pick: Record<string, number>;
  /** TensorFlow.js on the same machine and shapes, when the runner measured it (browser only). */
  peer?: PeerMeasurement[];
}

export interface SuiteOptions {
  runner: SuiteResult['runner'];
  environment: string;
  /** Sizes (default SIZES, or QUICK_SIZES in quick mode). */
  sizes?: readonly number[];
  /** Smallest sizes and fewest repetitions that still give every figure (default false). */
  quick?: boolean;
  /** Called with a line of progress now and then. */
  log?: (line: string) => void;
  /** Called as each item (the tuner, then each size and tiling) starts. */
  progress?: ProgressFn;
}

export async function runMatmulSuite(engine: Engine, opts: SuiteOptions): Promise<SuiteResult> {
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const sizes = opts.sizes ?? (opts.quick ? QUICK_SIZES : SIZES);
  const timing = opts.quick ? TIMING.quick : TIMING.full;
  const total = 1 + sizes.length * MATMUL_TILINGS.length;
  progress(1, total, 'autotuner');
  const t0 = performance.now();
  const tuned = await tuneMatmul(engine, { force: true, persist: false });
  const tunerMs = performance.now() - t0;
  log(`tuner picked '${tuned.pick}' in ${(tunerMs / 1000).toFixed(1)} s`);
  const results: MatmulMeasurement[] = [];
  for (const size of sizes) {
    for (const tiling of MATMUL_TILINGS) {
      progress(results.length + 2, total, `${tiling} ${size}`);
      // Submits of ~200 ms amortise their overhead; a long warm-up means a slow tiling on a
      // slow adapter, where three submits of one dispatch are enough.
      const r = await measureMatmul(engine, tiling, [size, size, size], timing);
      results.push(r);
      log(`${tiling.padEnd(8)} ${String(size).padStart(5)}  ${r.gflops.toFixed(2).padStart(8)} GFLOP/s  (${r.reps} x ${r.perRep} dispatches, ${r.timing})`);
    }
  }
  const pick: Record<string, number> = {};
  for (const r of results) if (r.tiling === tuned.pick) pick[String(r.M)] = r.gflops;
  return {
    suite: 'matmul',
    runner: opts.runner,
    environment: opts.environment,
    adapter: engine.gpu.adapter,
    date: new Date().toISOString(),
    timing: results[0].timing,
    tuner: { pick: tuned.pick, ms: tunerMs, gflops: tuned.gflops },
    results,
    pick,
  };
}

/**
 * A plain-text table of a result: one row per size, one column per tiling, the pick, and, when
 * the peer ran, TensorFlow.js per backend and the pick's ratio to each.
 */
export function formatSuite(r: SuiteResult): string {
  const sizes = [...new Set(r.results.map((x) => x.M))];
  const a = r.adapter;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const peerAt = (b: string, s: number) => r.peer?.find((p) => p.backend === b && p.size === s)?.gflops;
  const lines = [
    `matmul GFLOP/s, ${r.runner} (${r.environment}), adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unnamed'}` +
      `${a.isSoftware ? ' (software)' : ''}, timing: ${r.timing}, ${r.date}`,
    `tuner pick: ${r.tuner.pick} (${(r.tuner.ms / 1000).toFixed(1)} s)`,
    ['size', ...MATMUL_TILINGS, 'pick', ...backends.flatMap((b) => [`tfjs-${b}`, `pick/tfjs-${b}`])].join('\t'),
  ];
  for (const s of sizes) {
    const cell = (t: MatmulTiling) => r.results.find((x) => x.M === s && x.tiling === t)?.gflops.toFixed(2) ?? '-';
    const pick = r.pick[String(s)];
    const peers = backends.flatMap((b) => {
      const g = peerAt(b, s);
      return [g?.toFixed(2) ?? '-', g && pick ? `${(pick / g).toFixed(2)}x` : '-'];
    });
    lines.push([String(s), ...MATMUL_TILINGS.map(cell), pick?.toFixed(2) ?? '-', ...peers].join('\t'));
  }
  return lines.join('\n');
}
