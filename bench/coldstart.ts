// --suite=coldstart: how long a first-time user waits, nothing cached. From createEngine() with no
// tuning cache (and the picks held in memory forgotten) to the first finished step of the tiny
// GPT (batch 16, its full context, AdamW, the trainer every page and the gpt suite use), once per
// tuning mode (EngineOptions.tune):
//   deferred  the default: the first step runs on the adapter's defaults; the second waits for
//             the measurement; a plan whose picks differ is rebuilt in the background;
//   upfront   measured before the compile (what every engine did before deferral);
//   off       tune: false, the defaults and nothing measured: the floor of the first two.
// Each row: the ms from the call to createEngine to the engine, to the compiled trainer, to the
// first step's loss and to the second's, and to `settled` (the plan on the kernels it keeps);
// then the median of the steps after that, and the ms each progress phase took (tuning a
// family, compiling a plan, rebuilding it on the picks) with its count of kernels or classes.
// Wall clock, one cold start per mode (a cold start happens once; repeat the suite for a spread).
// Each mode has an engine and a device of its own. In Node nothing outlives a device; a browser
// may keep compiled shaders between devices of one page, so the modes run in the order above:
// a cache could then only speed up the ones after deferred, the baselines.
// Quick mode: the same, with one step timed after settling.
// Not here: the steady step itself (the gpt suite), launching anything, or writing files.

import { createEngine, type Engine, type TuneMode } from '../src/engine.js';
import { clearTuningMemory } from '../src/ops/tune-cache.js';
import { createGpt, createGptTrainer } from '../src/models/gpt.js';
import type { Progress } from '../src/progress.js';
import { GPT_BENCH_SHAPE, randomGptBatch } from './gpt.js';
import { measuredOn, median, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

export type ColdStartMode = TuneMode | 'off';
export const COLD_START_MODES: readonly ColdStartMode[] = ['deferred', 'upfront', 'off'];
/** The model: the transformer page's default. */
export const COLD_START_PRESET = 'tiny' as const;
export const COLD_START_TIMING = 'wall clock from the call to createEngine, one cold start per mode, no tuning cache';

/** One progress phase of a cold start: what, how many units, and how long from its first report to its last. */
export interface ColdStartPhase {
  phase: string;
  unit: string;
  total: number;
  /** When it began, from the call to createEngine. */
  startMs: number;
  ms: number;
}

export interface ColdStartMeasurement {
  mode: ColdStartMode;
  /** From the call to createEngine to: the engine, the compiled trainer, each of the first two losses read, the plan settled. */
  engineMs: number;
  compiledMs: number;
  firstStepMs: number;
  secondStepMs: number;
  settledMs: number;
  /** Median ms of the steps after settling (each awaited, its loss read). */
  steadyStepMs: number;
  steadySteps: number;
  phases: ColdStartPhase[];
  /** The first loss (every mode starts from the same seed and batch). */
  loss: number;
}

export interface ColdStartSuiteResult extends ResultHeader<'coldstart'> {
  preset: typeof COLD_START_PRESET;
  batch: number;
  block: number;
  timing: string;
  results: ColdStartMeasurement[];
}

export type ColdStartSuiteOptions = SuiteOptionsBase;

/** Each phase's first report and last, from the reports an engine gave in order. */
function phasesOf(reports: (Progress & { at: number })[]): ColdStartPhase[] {
  const out = new Map<string, ColdStartPhase>();
  for (const p of reports) {
    const seen = out.get(p.phase);
    if (!seen) out.set(p.phase, { phase: p.phase, unit: p.unit, total: p.total, startMs: p.at - p.elapsedMs, ms: p.elapsedMs });
    else seen.ms = Math.max(seen.ms, p.elapsedMs);
  }
  return [...out.values()];
}

/** A cold start in `mode`, on a device made as the runner's was (`like`: its robustness). */
async function coldStart(mode: ColdStartMode, steady: number, like: Engine): Promise<ColdStartMeasurement> {
  clearTuningMemory();
  const { batch, vocabSize } = GPT_BENCH_SHAPE;
  const reports: (Progress & { at: number })[] = [];
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  const engine = await createEngine({
    powerPreference: 'high-performance',
    robustness: like.options.robustness,
    tuningCache: false,
    tune: mode === 'off' ? false : mode,
    progress: (p) => reports.push({ ...p, at: at() }),
  });
  const engineMs = at();
  try {
    const model = createGpt({ preset: COLD_START_PRESET, vocabSize });
    const trainer = await createGptTrainer(engine, model, { batch });
    const compiledMs = at();
    const data = randomGptBatch(batch, model.config.blockSize, vocabSize);
    const first = await trainer.step(data, true);
    const firstStepMs = at();
    await trainer.step(data, true);
    const secondStepMs = at();
    await trainer.plan.settled();
    const settledMs = at();
    const times: number[] = [];
    for (let i = 0; i < steady; i++) {
      const s = performance.now();
      await trainer.step(data, true);
      times.push(performance.now() - s);
    }
    trainer.dispose();
    return {
      mode, engineMs, compiledMs, firstStepMs, secondStepMs, settledMs,
      steadyStepMs: median(times), steadySteps: steady, phases: phasesOf(reports), loss: first!.loss,
    };
  } finally {
    engine.destroy();
  }
}

export async function runColdStartSuite(engine: Engine, opts: ColdStartSuiteOptions): Promise<ColdStartSuiteResult> {
  const { log, progress } = reporters(opts);
  const steady = opts.quick ? 1 : 5;
  const results: ColdStartMeasurement[] = [];
  for (const [i, mode] of COLD_START_MODES.entries()) {
    progress(i + 1, COLD_START_MODES.length, `cold start, tune: ${mode}`);
    const r = await coldStart(mode, steady, engine);
    results.push(r);
    log(`${mode.padEnd(8)} first step ${(r.firstStepMs / 1000).toFixed(2)} s, second ${(r.secondStepMs / 1000).toFixed(2)} s, settled ${(r.settledMs / 1000).toFixed(2)} s`);
  }
  const model = createGpt({ preset: COLD_START_PRESET, vocabSize: GPT_BENCH_SHAPE.vocabSize });
  return {
    ...resultHeader('coldstart', engine, opts),
    preset: COLD_START_PRESET,
    batch: GPT_BENCH_SHAPE.batch,
    block: model.config.blockSize,
    timing: COLD_START_TIMING,
    results,
  };
}

export function formatColdStartSuite(r: ColdStartSuiteResult): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    `# cold start: the ${r.preset} GPT (batch ${r.batch}, context ${r.block}) from createEngine() with nothing cached; ${measuredOn(r)}; ${r.timing}`,
    ['tune', 'engine s', 'compiled s', 'first step s', 'second step s', 'settled s', 'steady step ms'].join('\t'),
    ...r.results.map((m) => [m.mode, s(m.engineMs), s(m.compiledMs), s(m.firstStepMs), s(m.secondStepMs), s(m.settledMs), m.steadyStepMs.toFixed(1)].join('\t')),
    '',
    '# where the time went: each phase of the engine\'s progress, from its first report to its last',
    ['tune', 'phase', 'units', 'began at s', 'took s'].join('\t'),
    ...r.results.flatMap((m) => m.phases.map((p) => [m.mode, p.phase, `${p.total} ${p.unit}`, s(p.startMs), s(p.ms)].join('\t'))),
  ];
  return lines.join('\n');
}
