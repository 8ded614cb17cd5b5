// The GAN training benchmark suite, shared by the Node runner (bench/node.ts) and the browser
// page (bench/page.ts), chosen with --suite=gan: the 2D GAN of src/models/gan.ts at its defaults
// (generator latent 2 -> 128 -> 128 -> 2 with ReLU, discriminator 2 -> 128 -> 128 -> 1 with leaky
// ReLU 0.2, Adam betas (0.5, 0.99) at lr 1e-3 for both players, batch 256) on the ring of
// Gaussians. One iteration is Gan.step: one discriminator step (real and detached fake samples
// as one batch of 512) and one generator step, two compiled plans run back to back. Timed per
// loss: 'nonsaturating' (the default) and 'wgan-gp' (whose gradient penalty differentiates the
// discriminator's input gradient: a double backward inside the step).
// Timing runs the way a trainer does: after a warm-up, N - 1 iterations queued back to back with
// no read-back, then one that reads both losses; the wall clock around the N iterations is
// divided by N. Of three such windows the median is reported. On request, a per-kernel profile
// of one iteration from GPU timestamps (where the adapter has them).
// Quick mode (--quick): both losses, one warm-up iteration and one window of two timed ones:
// every figure of the suite in seconds on SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-gan.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import type { Plan } from '../src/executor.js';
import { Gan, ganDefaults, type GanLoss } from '../src/models/gan.js';
import { sample2D } from '../src/data/toy2d.js';
import type { GanPeerMeasurement } from './peer-tfjs-gan.js';
import { measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** The problem: the model's defaults, spelled out so that the peer builds the same pair. */
export const GAN_BENCH_SHAPE = {
  batch: ganDefaults.batch,
  dims: ganDefaults.dims,
  latent: ganDefaults.latent,
  hidden: ganDefaults.hidden,
  layers: ganDefaults.layers,
  slope: 0.2,
  lr: ganDefaults.lrD,
  beta1: ganDefaults.beta1,
  beta2: ganDefaults.beta2,
  gpWeight: ganDefaults.gpWeight,
  data: 'ring',
} as const;

/** The losses timed, one row each. */
export const GAN_BENCH_LOSSES: readonly GanLoss[] = ['nonsaturating', 'wgan-gp'];

export interface GanKernelTime {
  /** Which plan ran it: the discriminator's step or the generator's. */
  step: 'D' | 'G';
  /** The dispatch label's first word: the op (or kernel) name. */
  kernel: string;
  /** Dispatches with that name in that step. */
  count: number;
  /** Their summed GPU time in one iteration. */
  ms: number;
}

export interface GanMeasurement {
  loss: GanLoss;
  parameters: number;
  /** Milliseconds per iteration (one D step + one G step). */
  msPerIteration: number;
  /** Real samples consumed per second (batch per iteration). */
  samplesPerSecond: number;
  /** Iterations timed after the warm-up, in WINDOWS windows (one in quick mode; the median window's figure is reported). */
  iterations: number;
  /** Dispatches of the two plans (forward and backward; the optimizers' few come on top). */
  dispatches: { d: number; g: number };
  /** Intermediates of the two compiled steps after liveness reuse (Plan.stats.peakBytes). */
  planBytes: { d: number; g: number };
  /** Losses read back at the end of the median window. */
  dLoss: number;
  gLoss: number;
  /** GPU time per kernel of one iteration, by step, largest first, when profiled on an adapter with timestamps. */
  profile?: GanKernelTime[];
}

export interface GanSuiteResult extends ResultHeader<'gan'> {
  timing: 'wall clock';
  shape: typeof GAN_BENCH_SHAPE;
  results: GanMeasurement[];
  /** TensorFlow.js on the same pair, iteration and machine, when the runner measured it (browser only). */
  peer?: GanPeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one loss. */
export interface GanSuiteOptions extends SuiteOptionsBase {
  /** Losses to time (default GAN_BENCH_LOSSES). */
  losses?: readonly GanLoss[];
  /** Wall-clock time all timed iterations of one loss should take, roughly (default 6000 ms). */
  targetMs?: number;
  /** Also profile one iteration per kernel with GPU timestamps, where the adapter has them (default false). */
  profile?: boolean;
  /** One warm-up iteration and one window of two timed ones per loss (default false). */
  quick?: boolean;
}

/** Parameters of both players: G latent -> H ... -> dims, D dims -> H ... -> 1, weights and biases. */
export function ganParameterCount(s: typeof GAN_BENCH_SHAPE = GAN_BENCH_SHAPE): number {
  const mlp = (sizes: number[]) => sizes.slice(1).reduce((n, out, i) => n + sizes[i] * out + out, 0);
  const hidden = Array<number>(s.layers).fill(s.hidden);
  return mlp([s.latent, ...hidden, s.dims]) + mlp([s.dims, ...hidden, 1]);
}

/** A fixed real batch of ring points: timing does not depend on the data. */
export function ganBatch(seed = 1): Float32Array {
  return sample2D(GAN_BENCH_SHAPE.data, GAN_BENCH_SHAPE.batch, seed);
}

/**
 * The two compiled steps. Gan keeps them private (a trainer has no use for them); the benchmark
 * reads their statistics and profiles them, so it reaches past the type.
 */
function plansOf(gan: Gan): { dPlan: Plan; gPlan: Plan } {
  return gan as unknown as { dPlan: Plan; gPlan: Plan };
}

/** Runs `n` iterations with no read-back, then one that reads; returns ms per iteration and the losses. */
async function timeIterations(gan: Gan, real: Float32Array, n: number): Promise<{ ms: number; dLoss: number; gLoss: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(gan.step([real], false));
  const last = await gan.step([real], true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1), dLoss: last!.dLoss, gLoss: last!.gLoss };
}

/** One iteration's dispatches timed one by one, summed by step and kernel name (the optimizers' are not in the plans' lists). */
async function profileIteration(gan: Gan, real: Float32Array): Promise<GanKernelTime[]> {
  const { dPlan, gPlan } = plansOf(gan);
  const out: GanKernelTime[] = [];
  for (const [step, plan, feeds] of [['D', dPlan, { real, seed: 3 }], ['G', gPlan, { seed: 4 }]] as const) {
    // The first profile compiles nothing new but warms the timestamp path; the second is kept.
    await plan.profile(feeds);
    const byKernel = new Map<string, GanKernelTime>();
    for (const { label, ms } of await plan.profile(feeds)) {
      const kernel = label.split(' ')[0];
      const k = byKernel.get(kernel) ?? { step, kernel, count: 0, ms: 0 };
      k.count++;
      k.ms += ms;
      byKernel.set(kernel, k);
    }
    out.push(...byKernel.values());
  }
  return out.sort((a, b) => b.ms - a.ms);
}

async function measure(engine: Engine, loss: GanLoss, opts: GanSuiteOptions): Promise<GanMeasurement> {
  const gan = await Gan.create(engine, { loss });
  const real = ganBatch();
  try {
    // Warm-up: pipelines, first-use uploads and the pool's buffers.
    const quick = opts.quick ?? false;
    const first = await timeIterations(gan, real, 0);
    if (!quick) await timeIterations(gan, real, 1);
    const timed = await medianWindow((n) => timeIterations(gan, real, n - 1), first.ms, { targetMs: opts.targetMs ?? 6000, quick });
    const { dPlan, gPlan } = plansOf(gan);
    const profile = opts.profile && engine.gpu.features.has('timestamp-query') ? await profileIteration(gan, real) : undefined;
    return {
      loss,
      parameters: ganParameterCount(),
      msPerIteration: timed.ms,
      samplesPerSecond: (GAN_BENCH_SHAPE.batch * 1000) / timed.ms,
      iterations: timed.steps,
      dispatches: { d: dPlan.stats.dispatches, g: gPlan.stats.dispatches },
      planBytes: { d: dPlan.stats.peakBytes, g: gPlan.stats.peakBytes },
      dLoss: timed.dLoss,
      gLoss: timed.gLoss,
      profile,
    };
  } finally {
    gan.dispose();
    for (const p of Object.values(gan.stateDict())) engine.freeParameter(p);
  }
}

export async function runGanSuite(engine: Engine, opts: GanSuiteOptions): Promise<GanSuiteResult> {
  const { log, progress } = reporters(opts);
  const s = GAN_BENCH_SHAPE;
  const losses = opts.losses ?? GAN_BENCH_LOSSES;
  const results: GanMeasurement[] = [];
  for (const loss of losses) {
    progress(results.length + 1, losses.length, `loss ${loss}`);
    const r = await measure(engine, loss, opts);
    results.push(r);
    log(
      `${loss.padEnd(13)} batch ${s.batch}  ${r.msPerIteration.toFixed(2).padStart(8)} ms/iteration  ` +
        `${Math.round(r.samplesPerSecond).toString().padStart(7)} samples/s  (${r.iterations} iterations, ` +
        `${r.dispatches.d} + ${r.dispatches.g} dispatches, D loss ${r.dLoss.toFixed(3)}, G loss ${r.gLoss.toFixed(3)})`,
    );
    if (r.profile) log(formatGanProfile(r));
  }
  return {
    ...resultHeader('gan', engine, opts),
    timing: 'wall clock',
    shape: s,
    results,
  };
}

/** The per-kernel profile of one iteration as lines: total, then one line per (step, kernel). */
export function formatGanProfile(r: GanMeasurement): string {
  const p = r.profile ?? [];
  const total = (step: 'D' | 'G') => p.filter((k) => k.step === step).reduce((a, k) => a + k.ms, 0);
  return [
    `profile of one ${r.loss} iteration (GPU timestamps, one dispatch per pass, optimizers not included): ` +
      `D ${total('D').toFixed(2)} ms + G ${total('G').toFixed(2)} ms in kernels`,
    ...p.map((k) => `  ${k.step} ${k.kernel.padEnd(28)} x${String(k.count).padEnd(3)} ${k.ms.toFixed(3).padStart(9)} ms`),
  ].join('\n');
}

/** TF.js's fastest backend against ours for one loss: its backend, ms/iteration and ms / ours, or null without a peer. */
export function ganSpeedup(r: GanSuiteResult, loss: GanLoss = 'nonsaturating'): { backend: string; msPerIteration: number; ratio: number } | null {
  const ours = r.results.find((m) => m.loss === loss);
  const best = [...(r.peer ?? [])].filter((p) => p.loss === loss).sort((a, b) => a.msPerIteration - b.msPerIteration)[0];
  return ours && best ? { backend: best.backend, msPerIteration: best.msPerIteration, ratio: best.msPerIteration / ours.msPerIteration } : null;
}

/**
 * A plain-text table: one row per loss with ms/iteration, samples/s, dispatches and plan bytes,
 * TensorFlow.js's ms/iteration per backend and our speed-up over each when the peer ran, then
 * a summary line per loss against the fastest backend (the target: at least 2x).
 */
export function formatGanSuite(r: GanSuiteResult): string {
  const s = r.shape;
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `GAN training iteration (2D, G ${s.latent}->${s.hidden}x${s.layers}->${s.dims} ReLU, D ${s.dims}->${s.hidden}x${s.layers}->1 leaky ReLU ${s.slope}, ` +
      `batch ${s.batch}, D on ${2 * s.batch} rows, Adam (${s.beta1}, ${s.beta2}) lr ${s.lr}), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    [
      'loss', 'params', 'ms/iter', 'samples/s', 'dispatches D+G', 'plan KiB D+G',
      ...backends.flatMap((b) => [`tfjs-${b} ms/iter`, 'speed-up']),
    ].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = r.peer?.find((x) => x.backend === b && x.loss === m.loss);
      return p ? [p.msPerIteration.toFixed(2), `${(p.msPerIteration / m.msPerIteration).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push(
      [
        m.loss, m.parameters, m.msPerIteration.toFixed(2), Math.round(m.samplesPerSecond), `${m.dispatches.d}+${m.dispatches.g}`,
        `${(m.planBytes.d / 1024).toFixed(1)}+${(m.planBytes.g / 1024).toFixed(1)}`, ...peers,
      ].join('\t'),
    );
  }
  for (const m of r.results) {
    const best = ganSpeedup(r, m.loss);
    if (!best) continue;
    lines.push(
      `summary (${m.loss}): TF.js fastest backend (${best.backend}) ${best.msPerIteration.toFixed(2)} ms/iteration / ours ` +
        `${m.msPerIteration.toFixed(2)} ms/iteration = ${best.ratio.toFixed(2)}x (target: at least 2x) ${best.ratio >= 2 ? 'MET' : 'NOT MET'}`,
    );
  }
  return lines.join('\n');
}
