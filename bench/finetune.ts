// The fine-tuning benchmark suite, shared by the Node runner and the browser page, chosen with
// --suite=finetune: one fine-tuning step of a GPT-2-shaped model (GPT-2's layout and GELU, tied
// head, biases; 2 blocks 128 wide, 4 heads, context 64, a vocabulary of 1024: small enough for
// SwiftShader) per strategy of src/models/gpt-finetune.ts, with what each holds on the device:
//   full            every weight trained;
//   last-block      the last block and ln_f trained, the rest frozen;
//   lora-attn       LoRA rank 8 (alpha 16) on c_attn only, every weight frozen;
//   lora-all        LoRA rank 8 on c_attn, attn.c_proj, mlp.c_fc and mlp.c_proj.
// Each row: ms per step (batch 8 windows of 64 tokens, AdamW), tokens/s, the values trained, the
// bytes counted by finetuneMemory (weights, gradients, optimizer state: no activations), and the
// bytes the engine's pool held at its peak while the strategy's trainer stepped (activations
// included), measured. On a hardware adapter, in full mode, GPT-2 small itself (124M
// parameters, context 1024, batch 4 windows of 512 tokens) gets the same rows, for each strategy
// this device can hold (checkFinetuneFits); on a CPU emulation it is left out, and the table
// says so.
// Timing runs the way a trainer does: after a warm-up, N - 1 steps queued back to back with no
// read-back, then one that reads the loss; the wall clock around the N steps is divided by N; of
// three such windows the median. Quick mode: one warm-up step and one window of two.
// Not here: importing files (the weights are drawn at random: a step costs the same), a peer
// (TensorFlow.js has no LoRA; its full fine-tuning step is the gpt suite's GPT step).

import type { Engine } from '../src/engine.js';
import { createGpt, createGptTrainer, type GptConfig, type GptTrainer } from '../src/models/gpt.js';
import { checkFinetuneFits, finetuneMemory, prepareFinetune, type FinetuneStrategy } from '../src/models/gpt-finetune.js';
import { measuredOn, medianWindow, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

export const FINETUNE_BENCH_SHAPE = { vocabSize: 1024, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 128, batch: 8, lr: 1e-4 } as const;

/** The models the rows step: the small GPT-2-shaped one everywhere, GPT-2 small on a GPU (full mode). */
export const FINETUNE_BENCH_MODELS = {
  'gpt2-shaped': { ...FINETUNE_BENCH_SHAPE, block: FINETUNE_BENCH_SHAPE.blockSize, gpuOnly: false },
  'gpt2-small': { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, batch: 4, block: 512, lr: 1e-4, gpuOnly: true },
} as const;
export type FinetuneBenchModel = keyof typeof FINETUNE_BENCH_MODELS;

export const FINETUNE_BENCH_STRATEGIES: readonly { name: string; strategy: FinetuneStrategy }[] = [
  { name: 'full', strategy: { kind: 'full' } },
  { name: 'last-block', strategy: { kind: 'partial', lastBlocks: 1, head: false } },
  { name: 'lora-attn', strategy: { kind: 'lora', targets: ['attn.c_attn'], rank: 8, alpha: 16, dropout: 0 } },
  { name: 'lora-all', strategy: { kind: 'lora', targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rank: 8, alpha: 16, dropout: 0 } },
];

export interface FinetuneMeasurement {
  /** The strategy's row name and the model's (together its key in bench:compare). */
  name: string;
  model: FinetuneBenchModel;
  trainableParameters: number;
  parameters: number;
  msPerStep: number;
  tokensPerSecond: number;
  steps: number;
  /** Weights, gradients and optimizer state as finetuneMemory counts them. */
  countedBytes: number;
  /** The pool's most bytes in use while this strategy's trainer was built and stepped. */
  peakBytes: number;
}

export interface FinetuneSuiteResult extends ResultHeader<'finetune'> {
  timing: 'wall clock';
  shape: typeof FINETUNE_BENCH_SHAPE;
  results: FinetuneMeasurement[];
  /** Rows not measured, each with the reason ('GPT-2 small: a CPU emulation cannot hold it in reasonable time'). */
  skipped: string[];
}

export interface FinetuneSuiteOptions extends SuiteOptionsBase {
  /** Wall-clock time all timed steps of one strategy should take, roughly (default 6000 ms). */
  targetMs?: number;
}

function config(model: FinetuneBenchModel): GptConfig {
  const { vocabSize, blockSize, nLayer, nHead, nEmbd } = FINETUNE_BENCH_MODELS[model];
  return createGpt({ vocabSize, blockSize, nLayer, nHead, nEmbd, seed: 1 }).config;
}

async function timeSteps(t: GptTrainer, batch: { x: Int32Array; y: Int32Array }, n: number): Promise<{ ms: number }> {
  const t0 = performance.now();
  const queued: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) queued.push(t.step(batch, false));
  await t.step(batch, true);
  await Promise.all(queued);
  return { ms: (performance.now() - t0) / (n + 1) };
}

async function measure(engine: Engine, which: FinetuneBenchModel, name: string, strategy: FinetuneStrategy, opts: FinetuneSuiteOptions): Promise<FinetuneMeasurement> {
  const { batch: B, block: T, vocabSize: V, lr } = FINETUNE_BENCH_MODELS[which];
  const model = createGpt(config(which));
  const ft = prepareFinetune(model, strategy);
  const pool = engine.pool;
  pool.trim();
  const base = pool.bytesInUse;
  pool.peakBytesInUse = base;
  const trainer = await createGptTrainer(engine, model, { batch: B, block: T, trainable: ft.trainable, optimizer: { lr, weightDecay: 0 } });
  const x = Int32Array.from({ length: B * T }, (_, i) => (i * 131 + 7) % V);
  const batch = { x, y: x.map((v) => (v + 1) % V) };
  try {
    const quick = opts.quick ?? false;
    const first = await timeSteps(trainer, batch, 0);
    if (!quick) await timeSteps(trainer, batch, 1);
    const timed = await medianWindow((n) => timeSteps(trainer, batch, n - 1), first.ms, { targetMs: opts.targetMs ?? 6000, quick });
    const m = finetuneMemory(model.config, strategy);
    return {
      name,
      model: which,
      trainableParameters: m.trainableParameters,
      parameters: m.parameters,
      msPerStep: timed.ms,
      tokensPerSecond: (B * T * 1000) / timed.ms,
      steps: timed.steps,
      countedBytes: m.total,
      peakBytes: pool.peakBytesInUse - base,
    };
  } finally {
    trainer.dispose();
    for (const p of [...ft.frozen, ...ft.trainable]) engine.freeParameter(p);
  }
}

export async function runFinetuneSuite(engine: Engine, opts: FinetuneSuiteOptions): Promise<FinetuneSuiteResult> {
  const { log, progress } = reporters(opts);
  const results: FinetuneMeasurement[] = [];
  const skipped: string[] = [];
  const rows: [FinetuneBenchModel, string, FinetuneStrategy][] = [];
  for (const which of Object.keys(FINETUNE_BENCH_MODELS) as FinetuneBenchModel[]) {
    if (FINETUNE_BENCH_MODELS[which].gpuOnly && (engine.gpu.adapter.isSoftware || opts.quick)) {
      skipped.push(`${which}: ${opts.quick ? 'not in quick mode' : 'left out on a CPU emulation (124M parameters)'}`);
      continue;
    }
    for (const { name, strategy } of FINETUNE_BENCH_STRATEGIES) {
      try {
        checkFinetuneFits(engine.gpu.limits, config(which), strategy);
        rows.push([which, name, strategy]);
      } catch (e) {
        skipped.push(`${which} ${name}: ${(e as Error).message}`);
      }
    }
  }
  for (const [which, name, strategy] of rows) {
    progress(results.length + 1, rows.length, `${which} ${name}`);
    const r = await measure(engine, which, name, strategy, opts);
    results.push(r);
    log(
      `${which} ${name.padEnd(10)} ${r.msPerStep.toFixed(2).padStart(8)} ms/step  ${Math.round(r.tokensPerSecond).toString().padStart(7)} tokens/s  ` +
        `${r.trainableParameters} of ${r.parameters} values trained, ${mib(r.countedBytes)} counted, ${mib(r.peakBytes)} at peak (${r.steps} steps)`,
    );
  }
  for (const s of skipped) log(`skipped ${s}`);
  return { ...resultHeader('finetune', engine, opts), timing: 'wall clock', shape: FINETUNE_BENCH_SHAPE, results, skipped };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** A plain-text table: one row per strategy, then each strategy's step time and peak memory against full fine-tuning's. */
export function formatFinetuneSuite(r: FinetuneSuiteResult): string {
  const s = r.shape;
  const lines = [
    `Fine-tuning step per strategy: gpt2-shaped (${s.nLayer} blocks, width ${s.nEmbd}, ${s.nHead} heads, context ${s.blockSize}, vocabulary ${s.vocabSize}; ` +
      `batch ${s.batch}) and, on a GPU, gpt2-small (124M, batch 4 x 512 tokens); AdamW lr ${s.lr}, ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    ['model', 'strategy', 'trained', 'of', 'ms/step', 'tokens/s', 'counted MiB', 'peak MiB'].join('\t'),
  ];
  for (const m of r.results) {
    lines.push([m.model, m.name, m.trainableParameters, m.parameters, m.msPerStep.toFixed(2), Math.round(m.tokensPerSecond), (m.countedBytes / 2 ** 20).toFixed(2), (m.peakBytes / 2 ** 20).toFixed(2)].join('\t'));
  }
  for (const m of r.results) {
    const full = r.results.find((x) => x.name === 'full' && x.model === m.model);
    if (!full || m === full) continue;
    lines.push(`summary (${m.model} ${m.name}): ${(full.msPerStep / m.msPerStep).toFixed(2)}x the speed of full fine-tuning, ${(m.peakBytes / full.peakBytes * 100).toFixed(0)} % of its peak memory`);
  }
  for (const x of r.skipped) lines.push(`skipped: ${x}`);
  return lines.join('\n');
}
