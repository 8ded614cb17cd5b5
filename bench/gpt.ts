// The GPT training benchmark suite, shared by the Node runner (bench/node.ts) and the browser
// page (bench/page.ts), chosen with --suite=gpt: for each preset of src/models/gpt.ts and each
// precision, the compiled training step (forward, backward and the fused AdamW update, as
// createGptTrainer builds it) at batch 16 and the preset's full context. Reports ms per step,
// tokens per second and the GPU bytes the step holds: the plan's intermediates
// (Plan.stats.peakBytes) plus the parameter arena and AdamW's two moment arenas.
// Mixed precision (GptConfig.precision 'mixed'): every Linear and the LM head store f16 copies of
// their operands, two to a 32-bit word, and multiply them summing in f32; weights, optimizer state
// and every other op stay f32, and the trainer scales the loss dynamically. A mixed row also
// gives its time and peak bytes over the same preset's f32 row. On SwiftShader expect mixed to be
// slower: its conversion passes are extra work (105 dispatches a step against 79 at tiny), and an
// emulated adapter is not bound by the memory traffic that halving operands saves. Measured in
// Node at tiny and mini: about 1.8x the f32 time, and no fewer peak bytes (1.02x, 1.00x: the f16
// copies add to the step's f32 intermediates rather than replacing them there).
// Timing runs the way the trainer does: after a warm-up, N - 1 steps queued back to back with
// no read-back, then one that reads the loss; the wall clock around the N steps is divided by N.
// Of three such windows the median is reported.
// Generation (one row per preset, f32, batch 1, greedy): tokens per second without the cache (the
// full-window logits plan replayed per token, as sampleTokens does) and with it (GptDecoder, one
// position per token, as sampleTokensCached does). Each token is one awaited plan run with its
// logits read back; the wall clock around it is taken per token, after a warm-up of a few tokens,
// and the median per token is reported, for a prompt of one token and tokens that stay inside
// the window (a re-prefill, which the median leaves out, costs keep more runs without read-back).
// Quick mode (--quick): preset tiny only, in both precisions, one warm-up step, then one window of
// two timed steps, and four generated tokens each way: every figure of the suite, for CI, not for
// numbers. The steps take seconds on SwiftShader; compiling (and autotuning) each precision's
// kernels the first time takes longer.
// Not here: the TensorFlow.js peer (bench/peer-tfjs-gpt.ts; f32 only, compared with the f32
// rows), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import {
  compileGptLogits, createGpt, createGptTrainer, gptParameterCount, gptPresets, type GptPrecision, type GptPresetName, type GptTrainer,
} from '../src/models/gpt.js';
import { createGptDecoder } from '../src/models/gpt-decode.js';
import { pickToken } from '../src/sample.js';
import type { Batch } from '../src/data/batches.js';
import { mulberry32 } from '../src/data/random.js';
import type { GptPeerMeasurement } from './peer-tfjs-gpt.js';
import { measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** Presets measured by default: the two that train in reasonable time on SwiftShader. */
export const GPT_DEFAULT_PRESETS: readonly GptPresetName[] = ['tiny', 'mini'];
/** Quick mode's presets. */
export const GPT_QUICK_PRESETS: readonly GptPresetName[] = ['tiny'];
/** Precisions measured per preset, in this order (a mixed row's ratios need the f32 row first). */
export const GPT_PRECISIONS: readonly GptPrecision[] = ['f32', 'mixed'];

/** The fixed part of the problem: windows per step and the vocabulary (a character set). */
export const GPT_BENCH_SHAPE = { batch: 16, vocabSize: 65 } as const;

export interface GptMeasurement {
  preset: GptPresetName;
  precision: GptPrecision;
  /**
   * Mixed rows only, 'tiny mixed': bench:compare keys rows by preset and label, so a mixed row
   * does not collide with its f32 row, and f32 rows keep the key results saved before had.
   */
  label?: string;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Tokens per window (T): the preset's blockSize. */
  block: number;
  batch: number;
  parameters: number;
  /** Milliseconds per training step. */
  msPerStep: number;
  tokensPerSecond: number;
  /** Steps timed after the warm-up, in WINDOWS windows (one in quick mode; the median window's ms/step is reported). */
  steps: number;
  /** Intermediates of the compiled step after liveness reuse (Plan.stats.peakBytes). */
  planBytes: number;
  /** The parameter arena (each tensor aligned for binding on its own). */
  paramBytes: number;
  /** AdamW's first and second moments. */
  optimizerBytes: number;
  /** planBytes + paramBytes + optimizerBytes. */
  peakBytes: number;
  /** Dispatches per step. */
  dispatches: number;
  /** Loss read back at the end of the median window (a sanity check: below ln 65 = 4.17 once it trains). */
  loss: number;
  /** Mixed rows with an f32 row of their preset: this row's figure over the f32 row's (below 1: mixed is faster, smaller). */
  ratio?: { msPerStep: number; peakBytes: number };
}

/** How a generation row is timed, in its own words. */
export const GPT_GENERATION_TIMING = 'median wall clock of one awaited plan run per token, logits read back, after a warm-up';

/** Generated tokens timed per way (quick mode: 4); a preset with a shorter window times blockSize - 4. */
export const GPT_GENERATION_TOKENS = 48;

export interface GptGenerationMeasurement {
  preset: GptPresetName;
  /** 'tiny generation': keeps bench:compare from matching the row with the training row of its preset. */
  label: string;
  timing: typeof GPT_GENERATION_TIMING;
  block: number;
  parameters: number;
  /** Tokens timed each way. */
  tokens: number;
  /** The logits plan over the whole window per token (sampleTokens). */
  uncached: { msPerToken: number; tokensPerSecond: number; dispatches: number };
  /** The KV-cache decoder, one position per token (sampleTokensCached). */
  cached: { msPerToken: number; tokensPerSecond: number; dispatches: number };
  /** Cached tokens/s over uncached: what the cache buys. */
  ratio: number;
}

export interface GptSuiteResult extends ResultHeader<'gpt'> {
  timing: 'wall clock';
  shape: typeof GPT_BENCH_SHAPE;
  results: GptMeasurement[];
  /** Generation with and without the KV cache, one row per preset. */
  generation: GptGenerationMeasurement[];
  /** TensorFlow.js on the same model, shapes and machine, when the runner measured it (browser only). */
  peer?: GptPeerMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one preset in one precision. */
export interface GptSuiteOptions extends SuiteOptionsBase {
  /** Presets to measure (default GPT_DEFAULT_PRESETS, or GPT_QUICK_PRESETS in quick mode). */
  presets?: readonly GptPresetName[];
  /** Precisions to measure each preset in, in this order (default GPT_PRECISIONS, in quick mode too). */
  precisions?: readonly GptPrecision[];
  /** Wall-clock time all timed steps should take per preset, roughly (default 6000 ms). */
  targetMs?: number;
  /** One warm-up step and one window of two timed steps per row, tiny preset by default (default false). */
  quick?: boolean;
}

/** Checks preset names given on a command line or in a query string. */
export function parseGptPresets(list: string | null | undefined): GptPresetName[] | undefined {
  if (!list) return undefined;
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(n in gptPresets)) throw new Error(`unknown GPT preset '${n}'; use some of ${Object.keys(gptPresets).join(', ')}.`);
  }
  return names as GptPresetName[];
}

/** A fixed batch of uniformly random token ids: timing does not depend on the text. */
export function randomGptBatch(batch: number, block: number, vocabSize: number, seed = 1): Batch {
  const rand = mulberry32(seed);
  const draw = () => Int32Array.from({ length: batch * block }, () => Math.floor(rand() * vocabSize));
  return { x: draw(), y: draw() };
}

/** Bytes of the parameter arena: each tensor rounded up to the binding alignment, as the optimizer lays it out. */
function arenaBytes(engine: Engine, trainer: GptTrainer): number {
  const align = engine.gpu.limits.minStorageBufferOffsetAlignment;
  return trainer.model.params.reduce((a, p) => a + Math.ceil((p.size * 4) / align) * align, 0);
}

/** Runs `n` steps with no read-back, then one that reads; returns ms per step and the loss. */
async function timeSteps(trainer: GptTrainer, batch: Batch, n: number): Promise<{ ms: number; loss: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(trainer.step(batch, false));
  const last = await trainer.step(batch, true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1), loss: last!.loss };
}

async function measure(
  engine: Engine, preset: GptPresetName, precision: GptPrecision, targetMs: number, quick: boolean,
): Promise<GptMeasurement> {
  const { batch, vocabSize } = GPT_BENCH_SHAPE;
  const model = createGpt({ preset, vocabSize, precision });
  const c = model.config;
  const trainer = await createGptTrainer(engine, model, { batch });
  const data = randomGptBatch(batch, c.blockSize, vocabSize);
  try {
    // Warm-up: pipelines, first-use uploads and the pool's buffers.
    const first = await timeSteps(trainer, data, 0);
    if (!quick) await timeSteps(trainer, data, 1);
    const timed = await medianWindow((n) => timeSteps(trainer, data, n - 1), first.ms, { targetMs, quick, maxSteps: 100 });
    const paramBytes = arenaBytes(engine, trainer);
    const optimizerBytes = 2 * paramBytes;
    const planBytes = trainer.plan.stats.peakBytes;
    return {
      preset,
      precision,
      ...(precision === 'f32' ? {} : { label: `${preset} ${precision}` }),
      nLayer: c.nLayer,
      nHead: c.nHead,
      nEmbd: c.nEmbd,
      block: c.blockSize,
      batch,
      parameters: gptParameterCount(c),
      msPerStep: timed.ms,
      tokensPerSecond: (batch * c.blockSize * 1000) / timed.ms,
      steps: timed.steps,
      planBytes,
      paramBytes,
      optimizerBytes,
      peakBytes: planBytes + paramBytes + optimizerBytes,
      dispatches: trainer.plan.stats.dispatches,
      loss: timed.loss,
    };
  } finally {
    // The optimizer's dispose frees its loss scale too.
    trainer.dispose();
    for (const p of model.params) engine.freeParameter(p);
  }
}

/** The median of the per-token times of `n` awaited calls of `next`. */
async function medianTokenMs(n: number, next: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await next();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[n >> 1];
}

/** Greedy generation from one token, per token without and with the KV cache. */
async function measureGeneration(engine: Engine, preset: GptPresetName, quick: boolean): Promise<GptGenerationMeasurement> {
  const { vocabSize } = GPT_BENCH_SHAPE;
  const model = createGpt({ preset, vocabSize });
  const T = model.config.blockSize;
  const warm = quick ? 1 : 3;
  const tokens = quick ? 4 : Math.min(GPT_GENERATION_TOKENS, T - 1 - warm);
  const logitsPlan = await compileGptLogits(engine, model);
  const decoder = await createGptDecoder(engine, model);
  try {
    // Without the cache: the window holds the text so far, padded; the last real row is read.
    const text = [0];
    const window = new Int32Array(T);
    const uncachedToken = async () => {
      window.set(text);
      const all = (await logitsPlan.run({ idx: window }, ['logits']))['logits'] as Float32Array; // (1, T, V)
      text.push(pickToken(all.subarray((text.length - 1) * vocabSize, text.length * vocabSize), 0, 0, () => 0));
    };
    await medianTokenMs(warm, uncachedToken);
    const uncachedMs = await medianTokenMs(tokens, uncachedToken);
    // With it: the same text, one token per run.
    await decoder.reset();
    let last = await decoder.feed(0);
    const cachedToken = async () => {
      last = await decoder.feed(pickToken(last, 0, 0, () => 0));
    };
    await medianTokenMs(warm, cachedToken);
    const cachedMs = await medianTokenMs(tokens, cachedToken);
    return {
      preset,
      label: `${preset} generation`,
      timing: GPT_GENERATION_TIMING,
      block: T,
      parameters: gptParameterCount(model.config),
      tokens,
      uncached: { msPerToken: uncachedMs, tokensPerSecond: 1000 / uncachedMs, dispatches: logitsPlan.stats.dispatches },
      cached: { msPerToken: cachedMs, tokensPerSecond: 1000 / cachedMs, dispatches: decoder.plan.stats.dispatches },
      ratio: uncachedMs / cachedMs,
    };
  } finally {
    logitsPlan.dispose();
    decoder.dispose();
    for (const p of model.params) engine.freeParameter(p);
  }
}

export async function runGptSuite(engine: Engine, opts: GptSuiteOptions): Promise<GptSuiteResult> {
  const { log, progress } = reporters(opts);
  const presets = opts.presets ?? (opts.quick ? GPT_QUICK_PRESETS : GPT_DEFAULT_PRESETS);
  const precisions = opts.precisions ?? GPT_PRECISIONS;
  const total = presets.length * (precisions.length + 1);
  const results: GptMeasurement[] = [];
  const generation: GptGenerationMeasurement[] = [];
  let item = 0;
  for (const preset of presets) {
    for (const precision of precisions) {
      progress(++item, total, `preset ${preset} ${precision}`);
      const r = await measure(engine, preset, precision, opts.targetMs ?? 6000, opts.quick ?? false);
      const base = results.find((x) => x.preset === preset && x.precision === 'f32');
      if (precision !== 'f32' && base) r.ratio = { msPerStep: r.msPerStep / base.msPerStep, peakBytes: r.peakBytes / base.peakBytes };
      results.push(r);
      log(
        `${preset.padEnd(6)} ${precision.padEnd(5)} ${fmtParams(r.parameters)} params  ${r.msPerStep.toFixed(1).padStart(8)} ms/step  ` +
          `${Math.round(r.tokensPerSecond).toString().padStart(8)} tok/s  peak ${mib(r.peakBytes)} MiB` +
          `${r.ratio ? `  (${fmtRatio(r.ratio.msPerStep)} time, ${fmtRatio(r.ratio.peakBytes)} peak of f32)` : ''}` +
          `  (${r.steps} steps, loss ${r.loss.toFixed(3)})`,
      );
    }
    progress(++item, total, `preset ${preset} generation`);
    const g = await measureGeneration(engine, preset, opts.quick ?? false);
    generation.push(g);
    log(
      `${preset.padEnd(6)} generate ${g.uncached.tokensPerSecond.toFixed(1).padStart(8)} tok/s uncached  ` +
        `${g.cached.tokensPerSecond.toFixed(1).padStart(8)} tok/s cached  (${fmtRatio(g.ratio)}; ${g.tokens} tokens each, ${g.timing})`,
    );
  }
  return {
    ...resultHeader('gpt', engine, opts),
    timing: 'wall clock',
    shape: GPT_BENCH_SHAPE,
    results,
    generation,
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const fmtParams = (n: number) => `${(n / 1e6).toFixed(2)}M`;
const fmtRatio = (x: number) => `${x.toFixed(2)}x`;

/**
 * A plain-text table: one row per preset and precision with ms/step, tokens/s and peak MiB, a
 * mixed row's time and peak over its f32 row's, and, when the peer ran, TensorFlow.js's ms/step
 * per backend and our speed-up over each (f32 rows only: the peer trains in f32).
 */
export function formatGptSuite(r: GptSuiteResult): string {
  const backends = [...new Set((r.peer ?? []).map((p) => p.backend))];
  const lines = [
    `GPT training step (batch ${r.shape.batch}, vocab ${r.shape.vocabSize}, AdamW), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    [
      'preset', 'precision', 'L/H/C/T', 'params', 'ms/step', 'tokens/s', 'peak MiB', 'plan MiB', 'dispatches',
      'time vs f32', 'peak vs f32',
      ...backends.flatMap((b) => [`tfjs-${b} ms/step`, `speed-up`]),
    ].join('\t'),
  ];
  for (const m of r.results) {
    const peers = backends.flatMap((b) => {
      const p = m.precision === 'f32' ? r.peer?.find((x) => x.backend === b && x.preset === m.preset) : undefined;
      return p ? [p.msPerStep.toFixed(1), `${(p.msPerStep / m.msPerStep).toFixed(2)}x`] : ['-', '-'];
    });
    lines.push(
      [
        m.preset, m.precision, `${m.nLayer}/${m.nHead}/${m.nEmbd}/${m.block}`, fmtParams(m.parameters), m.msPerStep.toFixed(1),
        Math.round(m.tokensPerSecond), mib(m.peakBytes), mib(m.planBytes), m.dispatches,
        m.ratio ? fmtRatio(m.ratio.msPerStep) : '-', m.ratio ? fmtRatio(m.ratio.peakBytes) : '-', ...peers,
      ].join('\t'),
    );
  }
  if (r.generation?.length) {
    lines.push('', `GPT generation (batch 1, greedy, f32, from one token), timing: ${r.generation[0].timing}`);
    lines.push(['preset', 'L/H/C/T', 'params', 'tokens', 'uncached ms/token', 'uncached tokens/s', 'cached ms/token', 'cached tokens/s', 'speed-up'].join('\t'));
    for (const g of r.generation) {
      const shape = gptPresets[g.preset];
      lines.push(
        [
          g.preset, `${shape.nLayer}/${shape.nHead}/${shape.nEmbd}/${g.block}`, fmtParams(g.parameters), g.tokens,
          g.uncached.msPerToken.toFixed(2), g.uncached.tokensPerSecond.toFixed(1), g.cached.msPerToken.toFixed(2),
          g.cached.tokensPerSecond.toFixed(1), fmtRatio(g.ratio),
        ].join('\t'),
      );
    }
  }
  return lines.join('\n');
}
