// What the benchmark suites share around their own measurements: the options a runner passes
// every suite (who runs it and where, quick or full, where its log and progress go), the fields
// that open every result and the way a table's first line says where it was measured, and the
// timing helpers more than one suite uses: a prepared dispatch timed after a compiling run, a
// median, and the median window of a training step's wall-clock timings. Browser-safe: the
// TensorFlow.js peers use it in the page.
// Not here: the table of suites (registry.ts), or a suite's own loop sizes and figures.

import type { Engine } from '../src/engine.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import { timeLoop, type DispatchTimer, type MeasureOptions, type TimingSource } from '../src/gpu/profiler.js';
import type { ProgressFn } from './progress.js';

/** The options every suite takes from its runner; each suite adds its own. */
export interface SuiteOptionsBase {
  runner: 'node' | 'browser';
  /** Browser name and version, or Node's version. */
  environment: string;
  /** Smallest sizes and fewest repetitions that still give every figure (default false). */
  quick?: boolean;
  log?: (line: string) => void;
  /** Called as each item starts (what an item is, each suite says at its options). */
  progress?: ProgressFn;
}

/** The fields that open every suite's result. */
export interface ResultHeader<S extends string> {
  suite: S;
  runner: 'node' | 'browser';
  /** Browser name and version, or Node's version. */
  environment: string;
  adapter: AdapterSummary;
  /** When it ran, ISO 8601. */
  date: string;
}

/** The opening fields of suite `suite`'s result, run on `engine` with `opts`. */
export const resultHeader = <S extends string>(suite: S, engine: Engine, opts: SuiteOptionsBase): ResultHeader<S> => ({
  suite,
  runner: opts.runner,
  environment: opts.environment,
  adapter: engine.gpu.adapter,
  date: new Date().toISOString(),
});

/** A suite's log and progress callbacks, silent where the options have none. */
export const reporters = (opts: SuiteOptionsBase) => ({ log: opts.log ?? (() => {}), progress: opts.progress ?? (() => {}) });

/** "Google / swiftshader (software)": the adapter as every table names it. */
export function adapterName(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unnamed';
  return `${name}${a.isSoftware ? ' (software)' : ''}`;
}

/** "node (v22), adapter: Google / swiftshader (software)": where a result was measured, as each table's first line says. */
export function measuredOn({ runner, environment, adapter }: Pick<ResultHeader<string>, 'runner' | 'environment' | 'adapter'>): string {
  return `${runner} (${environment}), adapter: ${adapterName(adapter)}`;
}

/**
 * Median ms per dispatch of `timer` by timeLoop: the first run pays for compilation, and
 * timeLoop's own warm-up (clocks up by then) sizes the loops. Destroys the timer.
 */
export async function timeWarmed(timer: Pick<DispatchTimer, 'timing' | 'run' | 'destroy'>, loops: MeasureOptions): Promise<{ ms: number; timing: TimingSource }> {
  try {
    await timer.run(1);
    return { ms: (await timeLoop(timer, loops)).ms, timing: timer.timing };
  } finally {
    timer.destroy();
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Windows a training-step figure is the median of (one in quick mode). */
export const WINDOWS = 3;

/**
 * The median of WINDOWS windows of training steps (or iterations), `run(n)` timing n of them
 * and giving ms per step. Each window is sized from `stepMs` (one warmed-up step) to take about
 * targetMs / WINDOWS, 2 to maxSteps steps; quick mode times one window of two. The median, as
 * the other processes sharing a small machine come and go. Returns it with the steps timed.
 */
export async function medianWindow<R extends { ms: number }>(
  run: (n: number) => Promise<R>,
  stepMs: number,
  { targetMs, quick, maxSteps = 200 }: { targetMs: number; quick: boolean; maxSteps?: number },
): Promise<R & { steps: number }> {
  const count = quick ? 1 : WINDOWS;
  const n = quick ? 2 : Math.max(2, Math.min(maxSteps, Math.round(targetMs / WINDOWS / Math.max(stepMs, 1e-3))));
  const windows: R[] = [];
  for (let w = 0; w < count; w++) windows.push(await run(n));
  return { ...windows.sort((a, b) => a.ms - b.ms)[count >> 1], steps: n * count };
}
