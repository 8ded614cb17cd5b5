// The matmul benchmark suite, shared by the Node runner (bench/node.ts, Dawn) and the browser
// page (bench/page.ts, run headless by bench/browser.ts): GFLOP/s of square products for
// each tiling and for the autotuner's pick, on whatever adapter the engine has. The tuner
// runs first, always measuring (its caches neither read nor written): its pick per size class
// and how much the pick won over the other tiling at the class's representative product.
// Each figure is the median of several timed submits after a warm-up, each submit a loop of
// back-to-back dispatches (GPU timestamps when the adapter has them, else the wall clock); the
// pick's figure is also given as a share of the adapter's arithmetic peak (bench/peak.ts).
// Quick mode (--quick): size 128 only, three short submits per tiling, and the tuner on the
// small and medium classes (the large one's 1024^3 takes seconds on SwiftShader): every figure
// of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: launching anything, or writing files (the runners do).

import type { Engine } from '../src/engine.js';
import type { PeerMeasurement } from './peer-tfjs.js';
import { calibratePeak, shareOfPeak } from './peak.js';
import type { ProgressFn } from './progress.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import {
  MATMUL_SIZE_CLASSES,
  MATMUL_TILINGS,
  matmulSizeClass,
  matmulTiling,
  type MatmulSizeClass,
  type MatmulTiling,
} from '../src/ops/matmul.js';
import { measureMatmul, tuneMatmul, type MatmulMeasurement, type TimingSource } from '../src/ops/matmul-tune.js';

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
  tuner: TunerSummary;
  /** One row per size and tiling (`size` is M = N = K). */
  results: (MatmulMeasurement & { size: number })[];
  /** GFLOP/s of the picked tiling by size. */
  pick: Record<string, number>;
  /** The adapter's arithmetic peak (bench/peak.ts), and the pick's share of it by size. */
  peakGflops: number;
  shareOfPeak: Record<string, number>;
  /** TensorFlow.js on the same machine and shapes, when the runner measured it (browser only). */
  peer?: PeerMeasurement[];
}

/** The autotuner as the suite ran it: per size class, the pick and by how much it won. */
export interface TunerSummary {
  /** The picks in words: one tiling when every class took it, else 'small register, medium shared'. */
  pick: string;
  /** Time the tuner took over every class it measured. */
  ms: number;
  /** Time each class took (both tilings, warm-ups and pipeline builds included). */
  classMs: Partial<Record<MatmulSizeClass, number>>;
  /** The tiling picked for each class measured. */
  picks: Partial<Record<MatmulSizeClass, MatmulTiling>>;
  /** The representative product measured for each class, 'MxNxK'. */
  shapes: Partial<Record<MatmulSizeClass, string>>;
  /** GFLOP/s of each tiling at each class's product: gflops[tiling][class]. */
  gflops: Partial<Record<MatmulTiling, Partial<Record<MatmulSizeClass, number>>>>;
  /** Each class's pick over the slowest tiling there (GFLOP/s over GFLOP/s): by how much it won. */
  speedup: Partial<Record<MatmulSizeClass, number>>;
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

/** The tuner, measuring each class anew; quick mode leaves out the large class unless a size needs it. */
async function runTuner(engine: Engine, classes: MatmulSizeClass[], step: (c: MatmulSizeClass) => void): Promise<TunerSummary> {
  const t: TunerSummary = { pick: '', ms: 0, classMs: {}, picks: {}, shapes: {}, gflops: {}, speedup: {} };
  for (const c of classes) {
    step(c);
    const t0 = performance.now();
    const [r] = await tuneMatmul(engine, { classes: [c], force: true, cache: false });
    t.classMs[c] = performance.now() - t0;
    t.ms += t.classMs[c]!;
    t.picks[c] = r.pick;
    t.shapes[c] = r.shape.join('x');
    t.speedup[c] = r.speedup;
    for (const tiling of MATMUL_TILINGS) (t.gflops[tiling] ??= {})[c] = r.gflops[tiling];
  }
  const picked = classes.map((c) => t.picks[c]!);
  t.pick = new Set(picked).size === 1 ? picked[0] : classes.map((c, i) => `${c} ${picked[i]}`).join(', ');
  return t;
}

export async function runMatmulSuite(engine: Engine, opts: SuiteOptions): Promise<SuiteResult> {
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const sizes = opts.sizes ?? (opts.quick ? QUICK_SIZES : SIZES);
  const timing = opts.quick ? TIMING.quick : TIMING.full;
  const classOf = (s: number) => matmulSizeClass(s, s, s);
  const classes = MATMUL_SIZE_CLASSES.filter((c) => !opts.quick || c !== 'large' || sizes.some((s) => classOf(s) === c));
  const total = classes.length + sizes.length * MATMUL_TILINGS.length;
  let item = 0;
  const tuner = await runTuner(engine, classes, (c) => progress(++item, total, `autotuner: ${c}`));
  for (const c of classes) {
    const others = MATMUL_TILINGS.filter((x) => x !== tuner.picks[c]).join(', ');
    log(`tuner: ${c.padEnd(6)} (${tuner.shapes[c]}) picked '${tuner.picks[c]}', ${tuner.speedup[c]!.toFixed(2)}x the GFLOP/s of ${others} (${(tuner.classMs[c]! / 1000).toFixed(1)} s)`);
  }
  const results: SuiteResult['results'] = [];
  for (const size of sizes) {
    for (const tiling of MATMUL_TILINGS) {
      progress(++item, total, `${tiling} ${size}`);
      // Submits of ~200 ms amortise their overhead; a long warm-up means a slow tiling on a
      // slow adapter, where three submits of one dispatch are enough.
      const r = await measureMatmul(engine, tiling, [size, size, size], timing);
      results.push({ ...r, size });
      log(`${tiling.padEnd(8)} ${String(size).padStart(5)}  ${r.gflops.toFixed(2).padStart(8)} GFLOP/s  (${r.reps} x ${r.perRep} dispatches, ${r.timing})`);
    }
  }
  // The pick at each size is its class's (the engine's choice for a class the tuner left out).
  const pickAt = (s: number) => tuner.picks[classOf(s)] ?? matmulTiling(engine.env, classOf(s));
  const pick: Record<string, number> = {};
  for (const r of results) if (r.tiling === pickAt(r.size)) pick[String(r.size)] = r.gflops;
  const peak = await calibratePeak(engine, { quick: opts.quick });
  const shares = Object.fromEntries(Object.entries(pick).map(([size, g]) => [size, shareOfPeak(g, peak.gflops)]));
  return {
    suite: 'matmul',
    runner: opts.runner,
    environment: opts.environment,
    adapter: engine.gpu.adapter,
    date: new Date().toISOString(),
    timing: results[0].timing,
    tuner,
    results,
    pick,
    peakGflops: peak.gflops,
    shareOfPeak: shares,
  };
}

/**
 * A plain-text table of a result: the tuner's line per size class (each tiling's GFLOP/s at the
 * class's product, the pick and by how much it won), then one row per size, one column per
 * tiling, the pick, and, when the peer ran, TensorFlow.js per backend and the pick's ratio to each.
 */
export function formatSuite(r: SuiteResult): string {
  const sizes = [...new Set(r.results.map((x) => x.size))];
  const a = r.adapter;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const peerAt = (b: string, s: number) => r.peer?.find((p) => p.backend === b && p.size === s)?.gflops;
  const lines = [
    `matmul GFLOP/s, ${r.runner} (${r.environment}), adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unnamed'}` +
      `${a.isSoftware ? ' (software)' : ''}, timing: ${r.timing}, ${r.date}`,
    `tuner: ${r.tuner.pick} (${(r.tuner.ms / 1000).toFixed(1)} s, measured anew)`,
    ['class', 'product', ...MATMUL_TILINGS, 'pick', 'won by'].join('\t'),
    ...(Object.keys(r.tuner.picks) as MatmulSizeClass[]).map((c) =>
      [
        c,
        r.tuner.shapes[c] ?? '-',
        ...MATMUL_TILINGS.map((t) => r.tuner.gflops[t]?.[c]?.toFixed(2) ?? '-'),
        r.tuner.picks[c],
        `${r.tuner.speedup[c]?.toFixed(2) ?? '-'}x`,
      ].join('\t'),
    ),
    '',
    `arithmetic peak: ${r.peakGflops.toFixed(2)} GFLOP/s`,
    ['size', ...MATMUL_TILINGS, 'pick', 'of peak', ...backends.flatMap((b) => [`tfjs-${b}`, `pick/tfjs-${b}`])].join('\t'),
  ];
  for (const s of sizes) {
    const cell = (t: MatmulTiling) => r.results.find((x) => x.size === s && x.tiling === t)?.gflops.toFixed(2) ?? '-';
    const pick = r.pick[String(s)];
    const peers = backends.flatMap((b) => {
      const g = peerAt(b, s);
      return [g?.toFixed(2) ?? '-', g && pick ? `${(pick / g).toFixed(2)}x` : '-'];
    });
    const share = r.shareOfPeak[String(s)];
    lines.push([String(s), ...MATMUL_TILINGS.map(cell), pick?.toFixed(2) ?? '-', share === undefined ? '-' : `${(100 * share).toFixed(1)}%`, ...peers].join('\t'));
  }
  return lines.join('\n');
}
