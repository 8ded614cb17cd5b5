// The benchmark suites by name: how each one runs on an engine, prints its table and, in a page,
// measures its TensorFlow.js peer. The Node runner, the headless page and the bench demo page all
// go through this table, so a suite is added by one entry here and its name in bench/args.ts.
// Also the suites' shared parameters, read the same way from a command line or a query string.
// Not here: measuring (each suite's module) or launching and saving (the runners).

import type { Engine } from '../src/engine.js';
import type { ProgressFn } from './progress.js';
import type { SuiteName } from './args.js';
import { formatSuite, QUICK_SIZES, runMatmulSuite, SIZES, type SuiteResult } from './suite.js';
import { formatAttentionSuite, runAttentionSuite } from './attention.js';
import { formatGptSuite, GPT_DEFAULT_PRESETS, GPT_QUICK_PRESETS, parseGptPresets, runGptSuite } from './gpt.js';
import { formatDiffusionSuite, parseDiffusionModels, runDiffusionSuite, type DiffusionBenchModel } from './diffusion.js';
import { formatGanSuite, runGanSuite } from './gan.js';
import { formatRlSuite, runRlSuite } from './rl.js';
import { formatVaeSuite, runVaeSuite } from './vae.js';
import { formatContrastiveSuite, runContrastiveSuite } from './contrastive.js';
import { formatFinetuneSuite, runFinetuneSuite } from './finetune.js';
import { formatConvSuite, runConvSuite } from './conv.js';
import { formatPeakSuite, runPeakSuite } from './peak.js';
import { formatSoakSuite, runSoakSuite } from './soak.js';
import { formatColdStartSuite, runColdStartSuite } from './coldstart.js';
import { formatKernelsSuite, runKernelsSuite, type KernelsSuiteResult } from './kernels.js';
import { formatOptimizerSuite, runOptimizerSuite } from './optimizer.js';
import type { GptPresetName } from '../src/models/gpt.js';

/** What every result has; the rest is the suite's own. */
export interface BenchResult {
  suite: string;
  runner: 'node' | 'browser';
  environment: string;
  date: string;
}

/** Everything a suite may be told, from `--name=value` options or a page's query string. */
export interface SuiteParams {
  runner: 'node' | 'browser';
  environment: string;
  /** Smallest sizes and fewest repetitions that still give every figure. */
  quick: boolean;
  /** Sizes for the suites measured by size (matmul, attention). */
  sizes?: number[];
  /** The gpt suite's presets. */
  presets?: GptPresetName[];
  /** The diffusion suite's model rows. */
  models?: DiffusionBenchModel[];
  /** The diffusion and gan suites add a per-kernel profile of a step (given timestamps). */
  profile: boolean;
  log: (line: string) => void;
  progress: ProgressFn;
}

/** Reads the shared parameters through `get` (a command-line option or a query-string value by name). */
export function readParams(
  get: (name: string) => string | null | undefined,
  base: Pick<SuiteParams, 'runner' | 'environment' | 'log' | 'progress'>,
): SuiteParams {
  const on = (name: string) => ['1', 'true', ''].includes(get(name) ?? 'no');
  return {
    ...base,
    quick: on('quick'),
    profile: on('profile'),
    sizes: get('sizes')?.split(',').map(Number),
    presets: parseGptPresets(get('presets')),
    models: parseDiffusionModels(get('models')),
  };
}

interface SuiteEntry<R extends BenchResult> {
  /** One line on what the suite measures (the bench page's labels). */
  title: string;
  run: (engine: Engine, p: SuiteParams) => Promise<R>;
  format: (r: R) => string;
  /** TensorFlow.js on the same shapes (browser only: its backends need a page). */
  peer?: (r: R, p: SuiteParams) => Promise<R>;
}

/** Erases an entry's own result type so the table can hold every suite. */
const entry = <R extends BenchResult>(e: SuiteEntry<R>) => e as unknown as SuiteEntry<BenchResult>;

const matmulSizes = (p: SuiteParams) => p.sizes ?? (p.quick ? QUICK_SIZES : SIZES);
const gptPresets = (p: SuiteParams) => p.presets ?? (p.quick ? GPT_QUICK_PRESETS : GPT_DEFAULT_PRESETS);

export const SUITE_TABLE: Record<SuiteName, SuiteEntry<BenchResult>> = {
  peak: entry({
    title: "the adapter's measured peak: the best GFLOP/s of independent FMA chains by chain count and workgroup size, the best GB/s of a copy by size (what 'share of peak' divides by)",
    run: runPeakSuite,
    format: formatPeakSuite,
  }),
  matmul: entry({
    title: 'matrix products: GFLOP/s of each tiling and the autotuned pick',
    run: (engine, p) => runMatmulSuite(engine, { ...p, sizes: matmulSizes(p) }),
    format: formatSuite,
    peer: async (r: SuiteResult, p) => {
      const { runTfjsPeer } = await import('./peer-tfjs.js');
      return { ...r, peer: await runTfjsPeer(matmulSizes(p), p.log, p.quick) };
    },
  }),
  kernels: entry({
    title: 'row kernels (softmax, layerNorm, cross-entropy), forward and forward + backward: GB/s and share of the copy peak',
    run: runKernelsSuite,
    format: formatKernelsSuite,
    peer: async (r: KernelsSuiteResult, p) => {
      const { runTfjsKernelsPeer } = await import('./peer-tfjs-kernels.js');
      return { ...r, peer: await runTfjsKernelsPeer(r.shapes, { log: p.log, quick: p.quick }) };
    },
  }),
  attention: entry({
    title: 'fused against unfused causal attention, forward and backward, by sequence length',
    run: runAttentionSuite,
    format: formatAttentionSuite,
  }),
  optimizer: entry({
    title: 'the fused AdamW and SGD updates: GB/s by parameter count, and share of the copy peak',
    run: runOptimizerSuite,
    format: formatOptimizerSuite,
  }),
  gpt: entry({
    title: 'one GPT training step per preset',
    run: (engine, p) => runGptSuite(engine, { ...p, presets: gptPresets(p) }),
    format: formatGptSuite,
    peer: async (r, p) => {
      const { runTfjsGptPeer } = await import('./peer-tfjs-gpt.js');
      return { ...r, peer: await runTfjsGptPeer(gptPresets(p), { log: p.log, quick: p.quick }) };
    },
  }),
  diffusion: entry({
    title: "the 2D denoiser's and the image U-Net's diffusion training steps, and sampling",
    run: runDiffusionSuite,
    format: formatDiffusionSuite,
    peer: async (r, p) => {
      const { runTfjsDiffusionPeer } = await import('./peer-tfjs-diffusion.js');
      return { ...r, peer: await runTfjsDiffusionPeer({ log: p.log, quick: p.quick }) };
    },
  }),
  gan: entry({
    title: "one 2D GAN iteration (a discriminator and a generator step) per loss",
    run: runGanSuite,
    format: formatGanSuite,
    peer: async (r, p) => {
      const { runTfjsGanPeer } = await import('./peer-tfjs-gan.js');
      return { ...r, peer: await runTfjsGanPeer({ log: p.log, quick: p.quick }) };
    },
  }),
  rl: entry({
    title: "the RL task's rollout (CartPole on the CPU, the policy on the GPU) in env steps/s, and one PPO and one REINFORCE gradient step",
    run: runRlSuite,
    format: formatRlSuite,
    peer: async (r, p) => {
      const { runTfjsRlPeer } = await import('./peer-tfjs-rl.js');
      return { ...r, peer: await runTfjsRlPeer({ log: p.log, quick: p.quick }) };
    },
  }),
  vae: entry({
    title: "one VAE training step per variant (MLP and convolutional, 16x16 digits): ms and images/s",
    run: runVaeSuite,
    format: formatVaeSuite,
    peer: async (r, p) => {
      const { runTfjsVaePeer } = await import('./peer-tfjs-vae.js');
      return { ...r, peer: await runTfjsVaePeer({ log: p.log, quick: p.quick }) };
    },
  }),
  contrastive: entry({
    title: 'one contrastive training step per loss (two augmented views of 64 digits, MLP encoder and head, NT-Xent or triplet, AdamW): ms and images/s',
    run: runContrastiveSuite,
    format: formatContrastiveSuite,
    peer: async (r, p) => {
      const { runTfjsContrastivePeer } = await import('./peer-tfjs-contrastive.js');
      return { ...r, peer: await runTfjsContrastivePeer({ log: p.log, quick: p.quick }) };
    },
  }),
  finetune: entry({
    title: 'one fine-tuning step of a GPT-2-shaped model per strategy (full, last block, LoRA on c_attn, LoRA on every projection): ms, tokens/s, values trained, bytes counted and held at peak',
    run: runFinetuneSuite,
    format: formatFinetuneSuite,
  }),
  conv: entry({
    title: 'convolution kernels (forward, input and weight gradients) next to a matmul of the same arithmetic',
    run: runConvSuite,
    format: formatConvSuite,
  }),
  coldstart: entry({
    title: 'the first wait, nothing cached: from createEngine() to the first, the second and the settled step of the tiny GPT, per tuning mode (deferred, upfront, off), with the time of each phase',
    run: runColdStartSuite,
    format: formatColdStartSuite,
  }),
  soak: entry({
    title: 'a long training run with checkpoints, reloads and forced device losses: steps lost, bytes in use over time, and whether the losses match an uninterrupted run',
    run: runSoakSuite,
    format: formatSoakSuite,
  }),
};

/** The result with its TensorFlow.js peer measured, for suites that have one (call it in a page, after the engine is gone). */
export async function withPeer(r: BenchResult, p: SuiteParams): Promise<BenchResult> {
  const peer = SUITE_TABLE[r.suite as SuiteName].peer;
  return peer ? peer(r, p) : r;
}

/** The suite's table for a result. */
export const formatResult = (r: BenchResult): string => SUITE_TABLE[r.suite as SuiteName].format(r);
