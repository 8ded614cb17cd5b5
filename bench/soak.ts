// The soak benchmark suite, shared by the Node runner (bench/node.ts) and the browser page
// (bench/page.ts), chosen with --suite=soak: a long reliability run of the GPT trainer
// (src/tasks/gpt/session.ts) on the tiny preset and the built-in generated corpus, twice:
//   uninterrupted  one trainer runs every step;
//   interrupted    every `checkpointEvery` steps the run is exported (exportCheckpoint) and
//                  imported into a fresh trainer (create + importCheckpoint: the path a user
//                  takes with a saved file), and in one or more stretches the GPU device is lost
//                  on purpose (loseDevice) a few steps after an autosave: the trainer gets a new
//                  device and resumes from that autosave by itself ('recovered' event).
// It reports whether the interrupted loss curve equals the uninterrupted one bit for bit (the
// last record of each step counts: a step run again after a loss replaces its first record),
// the steps run again after each loss (lostAt - resumedAt of the 'recovered' event), the time
// per step of both runs, a reload's and a recovery's time, and the GPU pool's bytes in use and
// allocated every `memoryEvery` steps (from whichever engine the trainer holds at the time),
// with their peak, final value and growth after warm-up (the first `checkpointEvery` steps).
// Both runs go through the trainer's own loop (start, stopped at the end of each stretch by
// totalSteps under a constant schedule, so the bound never changes a learning rate).
// Both runs train on an engine of the suite's own, made by createEngine() with its defaults as
// the trainer makes one after a loss, so that every device of the comparison has the same
// kernel choices (the runner's engine may have others, and destroying it would end every suite
// after this one); the runner's engine only names the adapter and picks the plan. On SwiftShader
// most of the time goes to compiling the kernels twice: on that engine and on the one after a loss.
// Quick mode (--quick): 24 steps of batch 2, a reload every 8, autosaves every 4, one device
// loss: every figure in under a minute on SwiftShader (two device compiles), for CI, not numbers.
// Not here: evaluation, samples and dropout (off), the Web Worker and the page (the trainer
// runs in this thread), launching anything or writing files (the runners do).

import { createEngine, type Engine } from '../src/engine.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import { memoryAutosave } from '../src/worker/autosave.js';
import type { TrainerConfig, TrainerEvent } from '../src/tasks/gpt/protocol.js';
import { Trainer } from '../src/tasks/gpt/session.js';
import type { ProgressFn } from './progress.js';

/** Run lengths and the spacing of reloads, autosaves, losses and memory samples. */
export interface SoakPlan {
  /** Training steps of each run. */
  steps: number;
  /** Steps between two reloads into a fresh trainer (the interrupted run); also the warm-up. */
  checkpointEvery: number;
  /** Steps between two autosaves (both runs, so both pay for them). */
  autosaveEvery: number;
  /** Device losses in the interrupted run, spread over its stretches (never the first). */
  losses: number;
  /** Steps between two samples of the pool's accounting. */
  memoryEvery: number;
  /** Sequences per batch. */
  batch: number;
}

export const SOAK_PLANS = {
  gpu: { steps: 2000, checkpointEvery: 100, autosaveEvery: 25, losses: 3, memoryEvery: 10, batch: 16 },
  software: { steps: 300, checkpointEvery: 50, autosaveEvery: 25, losses: 2, memoryEvery: 5, batch: 4 },
  quick: { steps: 24, checkpointEvery: 8, autosaveEvery: 4, losses: 1, memoryEvery: 2, batch: 2 },
} as const satisfies Record<string, SoakPlan>;

/** The pool's accounting at one step. */
export interface MemorySample {
  step: number;
  /** Bytes held by plans, parameters and optimizer state (BufferPool.bytesInUse). */
  inUseBytes: number;
  /** Bytes of every buffer the pool owns, held or free (BufferPool.bytesAllocated). */
  allocatedBytes: number;
}

export interface SoakRun {
  name: 'uninterrupted' | 'interrupted';
  /** Steps the run reached. */
  steps: number;
  /** Steps executed: `steps` and those run again after a loss (stepsLost). */
  stepsRun: number;
  /** Wall clock from the first step to the last, reloads and recoveries included. */
  ms: number;
  msPerStep: number;
  memory: MemorySample[];
  /** The largest and the last sample's bytes in use (samples are taken mid-run, not mid-reload). */
  peakInUseBytes: number;
  finalInUseBytes: number;
  /** Last sample minus the first after warm-up (0 when nothing leaks; may be negative). */
  inUseGrowthBytes: number;
  allocatedGrowthBytes: number;
}

/** One device loss as the 'recovered' event told it. */
export interface SoakLoss {
  /** The step the run had reached when it noticed the loss. */
  lostAt: number;
  /** The autosave's step it continued from. */
  resumedAt: number;
  /** From loseDevice to the 'recovered' event: a new device, the model rebuilt, the autosave loaded. */
  recoveryMs: number;
}

export interface SoakSuiteResult {
  suite: 'soak';
  runner: 'node' | 'browser';
  environment: string;
  adapter: AdapterSummary;
  date: string;
  timing: 'wall clock';
  preset: 'tiny';
  plan: SoakPlan;
  runs: SoakRun[];
  /** Reloads into a fresh trainer, and their mean time (export, dispose, create, import). */
  reloads: number;
  reloadMs: number;
  recoveries: number;
  losses: SoakLoss[];
  /** Steps run again after the losses, all of them together. */
  stepsLost: number;
  /** Mean of the losses' recoveryMs. */
  recoveryMs: number;
  /** Every step's loss of the interrupted run equals the uninterrupted run's, bit for bit. */
  matches: boolean;
  /** The largest |difference| of the losses of a step both runs recorded. */
  maxAbsDiff: number;
  /** The first step whose losses differ or that one run lacks; null when they match. */
  firstDiffStep: number | null;
}

export interface SoakSuiteOptions {
  runner: SoakSuiteResult['runner'];
  environment: string;
  /** Smallest run that still gives every figure (default false). */
  quick?: boolean;
  /** Overrides of the plan (default SOAK_PLANS by adapter kind, or SOAK_PLANS.quick). */
  plan?: Partial<SoakPlan>;
  log?: (line: string) => void;
  /** Called as each stretch of `checkpointEvery` steps of either run starts. */
  progress?: ProgressFn;
}

/** The trainer's config: no periodic work but autosaves, records as they come, a bound-free schedule. */
function trainerConfig(plan: SoakPlan): Partial<TrainerConfig> {
  return {
    preset: 'tiny',
    batch: plan.batch,
    lr: 1e-3,
    warmup: Math.min(100, plan.checkpointEvery),
    schedule: 'constant',
    totalSteps: 0,
    data: { kind: 'builtin' },
    evalEvery: 0,
    sampleEvery: 0,
    autosaveEvery: plan.autosaveEvery,
    metricsIntervalMs: 0,
  };
}

/**
 * The engine a trainer trains on now. After a device loss it is one the trainer created itself,
 * which TrainerApi does not expose: read from its private field (the one seam this suite needs).
 */

/** The stretches of `plan.checkpointEvery` steps, and the step at which each loss is caused (0: none). */
function stretches(plan: SoakPlan): { from: number; to: number; loseAt: number }[] {
  const n = plan.steps / plan.checkpointEvery;
  const lossy = new Set(Array.from({ length: plan.losses }, (_, i) => Math.max(1, Math.floor(((i + 1) * n) / (plan.losses + 1)))));
  return Array.from({ length: n }, (_, i) => {
    const from = i * plan.checkpointEvery;
    const to = from + plan.checkpointEvery;
    // One step past the stretch's first autosave: the loss always has steps to lose, and the
    // records (a few steps behind the submits) reach it well before the stretch's end.
    return { from, to, loseAt: lossy.has(i) ? from + plan.autosaveEvery + 1 : 0 };
  });
}

function checkPlan(plan: SoakPlan): void {
  const ok = [plan.steps, plan.checkpointEvery, plan.autosaveEvery, plan.memoryEvery, plan.batch].every((v) => Number.isInteger(v) && v >= 1) &&
    Number.isInteger(plan.losses) && plan.losses >= 0 && plan.autosaveEvery + 1 < plan.checkpointEvery &&
    plan.steps % plan.checkpointEvery === 0 && plan.checkpointEvery % plan.autosaveEvery === 0 && plan.losses < plan.steps / plan.checkpointEvery;
  if (!ok) {
    throw new Error(`soak: unusable plan ${JSON.stringify(plan)}: stretches must divide the steps and autosaves the stretches, ` +
      'with room for a loss after a stretch\'s first autosave, and each loss needs a stretch of its own after the first.');
  }
}

/** Stops the running loop at step `to` (refused only mid-recovery; the 'recovered' event bounds it then). */
const bound = (t: Trainer, to: number) => void t.setHyper({ totalSteps: to }).catch(() => {});

/** What one run saw through its trainers' events. */
class Watch {
  /** The last loss recorded for each step. */
  readonly losses = new Map<number, number>();
  readonly memory = new Map<number, MemorySample>();
  readonly recovered: SoakLoss[] = [];
  error: string | null = null;
  /** Set when a stretch is to lose its device: the step whose record triggers it, and the stretch's end. */
  loss: { at: number; to: number; since: number } | null = null;
  private done: (() => void) | null = null;

  constructor(private readonly plan: SoakPlan, private readonly log: (line: string) => void) {}

  attach(t: Trainer): Promise<number> {
    return t.subscribe((e) => this.on(t, e));
  }

  /** Resolves when the loop started next stops. */
  stopped(): Promise<void> {
    return new Promise((resolve) => (this.done = resolve));
  }

  private on(t: Trainer, e: TrainerEvent): void {
    if (e.type === 'metrics') {
      for (const r of e.steps) {
        this.losses.set(r.step, r.loss);
        const pool = t.currentEngine?.pool;
        if (pool && r.step % this.plan.memoryEvery === 0) {
          this.memory.set(r.step, { step: r.step, inUseBytes: pool.bytesInUse, allocatedBytes: pool.bytesAllocated });
        }
        this.maybeLose(t, r.step);
      }
    } else if (e.type === 'recovered') {
      const since = this.loss?.since ?? NaN;
      this.recovered.push({ lostAt: e.lostAt, resumedAt: e.resumedAt, recoveryMs: performance.now() - since });
      this.log(`device lost at step ${e.lostAt}, resumed from the autosave of step ${e.resumedAt} (${(performance.now() - since).toFixed(0)} ms)`);
      // Bound the loop at the stretch's end again, now that the run is back.
      if (this.loss) bound(t, this.loss.to);
      this.loss = null;
    } else if (e.type === 'error') {
      this.error = `${e.error.name}: ${e.error.message}`;
    } else if (e.type === 'status' && e.info.state !== 'running' && this.done) {
      this.done();
      this.done = null;
    }
  }

  /** Destroys the device at the record of step `loss.at`; bounds the loop if the run outruns its stretch. */
  private maybeLose(t: Trainer, step: number): void {
    const loss = this.loss;
    if (!loss) return;
    if (!loss.since && step >= loss.at) {
      loss.since = performance.now();
      void t.loseDevice();
    } else if (step >= loss.to) {
      // No recovery by the stretch's end: stop there, and let the stretch report it.
      bound(t, loss.to);
    }
  }
}

/** Runs the loop from where the trainer is to `to` (a loss, when asked, in between). */
async function runStretch(t: Trainer, watch: Watch, to: number, loseAt: number): Promise<void> {
  // A stretch that loses its device runs unbounded until the run is back (the 'recovered'
  // event bounds it): a loss noticed after the loop had stopped would never be recovered.
  watch.loss = loseAt ? { at: loseAt, to, since: 0 } : null;
  await t.setHyper({ totalSteps: loseAt ? 0 : to });
  const stopped = watch.stopped();
  await t.start();
  await stopped;
  if (watch.error) throw new Error(`soak: the run stopped with ${watch.error}`);
  const { step } = await t.info();
  if (watch.loss || step !== to) throw new Error(`soak: the stretch to step ${to} ended at step ${step}${watch.loss ? ' without recovering from the device loss' : ''}.`);
}

function memoryFigures(samples: MemorySample[], warmup: number) {
  const after = samples.filter((s) => s.step > warmup);
  const first = after[0] ?? samples[0];
  const last = samples[samples.length - 1];
  return {
    memory: samples,
    peakInUseBytes: Math.max(...samples.map((s) => s.inUseBytes)),
    finalInUseBytes: last.inUseBytes,
    inUseGrowthBytes: last.inUseBytes - first.inUseBytes,
    allocatedGrowthBytes: last.allocatedBytes - first.allocatedBytes,
  };
}

interface RunOutcome {
  run: SoakRun;
  watch: Watch;
  reloadTimes: number[];
}

/**
 * One run of every stretch; `interrupted` reloads into a fresh trainer between stretches and
 * loses the device where the plan says. `item` is the progress count before this run.
 */
async function soakRun(engine: Engine, plan: SoakPlan, interrupted: boolean, item: number, opts: SoakSuiteOptions): Promise<RunOutcome> {
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const name = interrupted ? 'interrupted' : 'uninterrupted';
  const parts = stretches(plan);
  const config = trainerConfig(plan);
  const store = memoryAutosave();
  const watch = new Watch(plan, log);
  const reloadTimes: number[] = [];
  let t = new Trainer({ engine, autosave: store });
  await t.create(config);
  await watch.attach(t);
  const t0 = performance.now();
  try {
    for (const [i, { from, to, loseAt }] of parts.entries()) {
      const lose = interrupted ? loseAt : 0;
      progress(item + i + 1, 2 * parts.length, `${name} steps ${from + 1}-${to}${lose ? `, device lost at ~${lose}` : ''}`);
      if (interrupted && i > 0) {
        const r0 = performance.now();
        const bytes = await t.exportCheckpoint();
        await t.dispose();
        t = new Trainer({ engine: t.currentEngine!, autosave: store });
        await t.create(config);
        await t.importCheckpoint(bytes);
        await watch.attach(t);
        reloadTimes.push(performance.now() - r0);
      }
      await runStretch(t, watch, to, lose);
      log(`${name}: step ${to}, loss ${watch.losses.get(to)?.toFixed(4)}, ${((performance.now() - t0) / to).toFixed(1)} ms per step so far`);
    }
  } finally {
    const last = t.currentEngine;
    await t.dispose();
    // An engine the trainer made after a loss goes with the run.
    if (last !== engine) last?.destroy();
  }
  const ms = performance.now() - t0;
  const samples = [...watch.memory.values()].sort((a, b) => a.step - b.step);
  const stepsRun = plan.steps + watch.recovered.reduce((a, l) => a + l.lostAt - l.resumedAt, 0);
  return {
    run: { name, steps: plan.steps, stepsRun, ms, msPerStep: ms / plan.steps, ...memoryFigures(samples, plan.checkpointEvery) },
    watch,
    reloadTimes,
  };
}

/** Whether the losses match bit for bit, the largest difference, and the first step that differs. */
function compareLosses(want: Map<number, number>, got: Map<number, number>, steps: number) {
  let maxAbsDiff = 0;
  let firstDiffStep: number | null = null;
  for (let step = 1; step <= steps; step++) {
    const a = want.get(step);
    const b = got.get(step);
    if (a !== undefined && b !== undefined && Number.isFinite(a - b)) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
    if (firstDiffStep === null && (a === undefined || b === undefined || !Object.is(a, b))) firstDiffStep = step;
  }
  return { matches: firstDiffStep === null, maxAbsDiff, firstDiffStep };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function runSoakSuite(engine: Engine, opts: SoakSuiteOptions): Promise<SoakSuiteResult> {
  const log = opts.log ?? (() => {});
  const plan: SoakPlan = { ...(opts.quick ? SOAK_PLANS.quick : engine.gpu.adapter.isSoftware ? SOAK_PLANS.software : SOAK_PLANS.gpu), ...opts.plan };
  checkPlan(plan);
  log(`soak: ${plan.steps} steps of tiny, batch ${plan.batch}; reload every ${plan.checkpointEvery}, autosave every ${plan.autosaveEvery}, ${plan.losses} device loss(es)`);
  const items = stretches(plan).length;
  const own = await createEngine();
  let ref: RunOutcome, cut: RunOutcome;
  try {
    ref = await soakRun(own, plan, false, 0, opts);
    cut = await soakRun(own, plan, true, items, opts);
  } finally {
    own.destroy(); // already, by the first loss, when there was one
  }
  const losses = cut.watch.recovered;
  return {
    suite: 'soak',
    runner: opts.runner,
    environment: opts.environment,
    adapter: engine.gpu.adapter,
    date: new Date().toISOString(),
    timing: 'wall clock',
    preset: 'tiny',
    plan,
    runs: [ref.run, cut.run],
    reloads: cut.reloadTimes.length,
    reloadMs: cut.reloadTimes.length ? mean(cut.reloadTimes) : NaN,
    recoveries: losses.length,
    losses,
    stepsLost: losses.reduce((a, l) => a + l.lostAt - l.resumedAt, 0),
    recoveryMs: losses.length ? mean(losses.map((l) => l.recoveryMs)) : NaN,
    ...compareLosses(ref.watch.losses, cut.watch.losses, plan.steps),
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(3);

/** A plain-text table: one row per run, the interrupted run's reloads and losses, and the verdict. */
export function formatSoakSuite(r: SoakSuiteResult): string {
  const a = r.adapter;
  const p = r.plan;
  const lines = [
    `soak: ${p.steps} steps of GPT ${r.preset}, batch ${p.batch}, reload every ${p.checkpointEvery}, autosave every ${p.autosaveEvery}, ` +
      `${r.runner} (${r.environment}), adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unnamed'}` +
      `${a.isSoftware ? ' (software)' : ''}, timing: ${r.timing}, ${r.date}`,
    ['run', 'steps', 'steps run', 'ms/step', 'peak MiB in use', 'final MiB in use', 'growth in use B', 'growth allocated B'].join('\t'),
  ];
  for (const run of r.runs) {
    lines.push([run.name, run.steps, run.stepsRun, run.msPerStep.toFixed(1), mib(run.peakInUseBytes), mib(run.finalInUseBytes), run.inUseGrowthBytes, run.allocatedGrowthBytes].join('\t'));
  }
  const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '-');
  lines.push(`reloads: ${r.reloads} (${ms(r.reloadMs)} each); device losses: ${r.recoveries} recovered (${ms(r.recoveryMs)} each), ${r.stepsLost} steps run again` +
    (r.losses.length ? ` (${r.losses.map((l) => `lost at ${l.lostAt}, resumed at ${l.resumedAt}`).join('; ')})` : ''));
  lines.push(r.matches
    ? 'verdict: loss curve matches the uninterrupted run bit for bit'
    : `verdict: loss curve diverges from the uninterrupted run at step ${r.firstDiffStep} (max |diff| ${r.maxAbsDiff.toExponential(3)})`);
  return lines.join('\n');
}
