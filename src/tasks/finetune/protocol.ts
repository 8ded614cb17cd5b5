// The contract between the fine-tuning page and its worker: the pretrained files the user brings
// (weights, config.json, and vocab.json + merges.txt or tokenizer.json) and the summary the worker
// answers once they are checked (the model, its tokenizer, and the memory of each strategy with
// whether it fits this device); the session's config (a strategy, the user's text, the training
// and the cadences, checked field by field); the events it pushes (per-step records, held-out
// perplexity, samples from fixed prompts) and the API, the calls every session has plus base()
// and samples(). Plain data that survives structured cloning (a File or Blob crosses as it is).
// Not here: the session (session.ts), checking the files (base.ts), what a config builds (run.ts).

import type { FileContents } from '../../data/bpe-files.js';
import type { StepRecord } from '../../metrics.js';
import type { FinetuneMemory, FinetuneStrategy } from '../../models/gpt-finetune.js';
import { LORA_TARGETS } from '../../models/gpt-finetune.js';
import type { Gpt2Layout } from '../../models/gpt2-import.js';
import { ConfigError } from '../../errors.js';
import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';

export type { FinetuneMemory, FinetuneStrategy };

/** The pretrained model's files, as the user gives them; each name is only for messages. */
export interface BaseFiles {
  /** model.safetensors: a File or Blob (read a slice at a time, never whole) or its bytes. */
  weights: Blob | Uint8Array;
  weightsName?: string;
  /** config.json, as text or bytes. */
  config: FileContents;
  /** vocab.json with merges.txt, or tokenizer.json alone. */
  vocab?: FileContents;
  merges?: FileContents;
  tokenizer?: FileContents;
}

/** One strategy the summary offers, with what it holds on the device and whether this device can. */
export interface StrategyFit {
  /** In words: 'full fine-tuning', 'LoRA rank 8 on c_attn'. */
  name: string;
  strategy: FinetuneStrategy;
  memory: FinetuneMemory;
  fits: boolean;
  /** Why it does not fit, and what would (checkFinetuneFits's words); '' when it fits. */
  why: string;
}

/** What base() answers: the model the files hold, checked. */
export interface BaseSummary {
  /** The files' names as given. */
  names: { weights: string; tokenizer: string };
  parameters: number;
  fileBytes: number;
  layout: Gpt2Layout;
  dtypes: string[];
  vocabSize: number;
  /** The model's context (n_positions). */
  context: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  bias: boolean;
  /** The tokenizer's special tokens. */
  specials: string[];
  /** Full, partial and LoRA strategies, each with its memory and whether it fits this device. */
  strategies: StrategyFit[];
}

export interface FinetuneConfig {
  /** Which weights learn: 'full', the last blocks (and the head), or LoRA adapters. */
  strategy: FinetuneStrategy;
  /** The user's text, as bytes (checked as the transformer page checks an upload). */
  text: Uint8Array;
  /** Its name, for messages and the page. */
  textName: string;
  /** Peak AdamW learning rate. May change between steps. */
  lr: number;
  /** AdamW weight decay on the trained weights. */
  weightDecay: number;
  /** Linear warm-up steps from 0 to lr. May change between steps. */
  warmup: number;
  /** After warm-up: 'cosine' decays to minLrRatio lr at totalSteps, 'constant' stays. May change between steps. */
  schedule: 'cosine' | 'constant';
  minLrRatio: number;
  /** Windows per step. */
  batch: number;
  /** Tokens per window, at most the model's context (0: the context, up to 128). */
  block: number;
  /** Fraction of the text held out (its tail) for perplexity. */
  valFraction: number;
  /** Most held-out batches per measurement (bounds its cost on a long text). */
  evalBatches: number;
  /** Held-out perplexity every this many steps (0: only before training). May change between steps. */
  evalEvery: number;
  /** Samples from the fixed prompts every this many steps (0: only before training). May change between steps. */
  sampleEvery: number;
  /** Tokens per sample (0: no samples). */
  sampleLength: number;
  /** Softmax temperature of the samples (0: greedy). */
  temperature: number;
  /** The prompts every sample starts from; empty: the first words of two lines of the held-out text. */
  prompts: string[];
  /** Seed of the adapters' initialisation, the batch order, dropout and the samples' draws. */
  seed: number;
  /** Steps after which the loop stops by itself (0: never); also the end of the cosine decay. */
  totalSteps: number;
  metricsIntervalMs: number;
  autosaveEvery: number;
}

export const finetuneDefaults: FinetuneConfig = {
  strategy: { kind: 'lora', targets: ['attn.c_attn'], rank: 8, alpha: 16, dropout: 0 },
  text: new Uint8Array(0),
  textName: 'your text',
  lr: 1e-3,
  weightDecay: 0,
  warmup: 20,
  schedule: 'cosine',
  minLrRatio: 0.1,
  batch: 8,
  block: 0,
  valFraction: 0.1,
  evalBatches: 4,
  evalEvery: 50,
  sampleEvery: 100,
  sampleLength: 32,
  temperature: 0.8,
  prompts: [],
  seed: 1,
  totalSteps: 1000,
  metricsIntervalMs: 250,
  autosaveEvery: 200,
};

/** Fields setHyper may change between steps. */
export type FinetuneHyper = Pick<FinetuneConfig, 'lr' | 'warmup' | 'schedule' | 'minLrRatio' | 'evalEvery' | 'sampleEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'>;
export const HYPER_KEYS: readonly (keyof FinetuneHyper)[] = ['lr', 'warmup', 'schedule', 'minLrRatio', 'evalEvery', 'sampleEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery'];

/** Fields a checkpoint brings with it (what decides its tensors and its training); the cadences stay the page's. */
export const SAVED_KEYS = [
  'strategy', 'textName', 'lr', 'weightDecay', 'warmup', 'schedule', 'minLrRatio', 'batch', 'block', 'valFraction', 'evalBatches', 'sampleLength', 'temperature', 'prompts', 'seed', 'totalSteps',
] as const satisfies readonly (keyof FinetuneConfig)[];

const checkStrategy = (s: unknown): void => {
  const st = s as Partial<FinetuneStrategy> | null;
  const fail = (want: string): never => {
    throw new ConfigError(`finetune config: strategy must be ${want}, got ${JSON.stringify(s)}.`);
  };
  if (!st || typeof st !== 'object') fail("{ kind: 'full' | 'partial' | 'lora', ... }");
  if (st!.kind === 'full') return;
  if (st!.kind === 'partial') {
    const p = st as { lastBlocks?: unknown; head?: unknown };
    if (!(Number.isInteger(p.lastBlocks) && (p.lastBlocks as number) >= 1)) fail("{ kind: 'partial', lastBlocks: an integer >= 1, head: true or false }");
    if (typeof p.head !== 'boolean') fail("{ kind: 'partial', lastBlocks, head: true or false }");
    return;
  }
  if (st!.kind === 'lora') {
    const l = st as { targets?: unknown };
    if (!Array.isArray(l.targets) || l.targets.some((t) => !LORA_TARGETS.includes(t))) {
      fail(`{ kind: 'lora', targets: some of ${LORA_TARGETS.join(', ')}, rank, alpha, dropout }`);
    }
    return; // rank, alpha and dropout: prepareFinetune's own checks
  }
  fail("{ kind: 'full' | 'partial' | 'lora', ... }");
};

/** A full config from the defaults and the overrides; every field checked, before any GPU work (not yet against a model). */
export function finetuneConfig(overrides: Partial<FinetuneConfig> = {}): FinetuneConfig {
  refuseUnknown('finetune', overrides, finetuneDefaults);
  const c: FinetuneConfig = { ...finetuneDefaults, ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('finetune', c);
  checkStrategy(c.strategy);
  if (!(c.text instanceof Uint8Array)) fail('text', 'the text as a Uint8Array of UTF-8 bytes');
  if (typeof c.textName !== 'string') fail('textName', 'a string');
  integers([
    ['batch', 1, 1024], ['block', 0, 1 << 16], ['evalBatches', 1, 1024], ['warmup', 0, Number.MAX_SAFE_INTEGER], ['evalEvery', 0, Number.MAX_SAFE_INTEGER],
    ['sampleEvery', 0, Number.MAX_SAFE_INTEGER], ['sampleLength', 0, 4096], ['totalSteps', 0, Number.MAX_SAFE_INTEGER], ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
  ]);
  for (const k of ['lr', 'weightDecay', 'temperature', 'metricsIntervalMs'] as const) nonNegative(k);
  if (!(c.schedule === 'cosine' || c.schedule === 'constant')) fail('schedule', "'cosine' or 'constant'");
  if (!(c.minLrRatio >= 0 && c.minLrRatio <= 1)) fail('minLrRatio', 'in [0, 1]');
  if (!(c.valFraction > 0 && c.valFraction < 1)) fail('valFraction', 'in (0, 1)');
  if (!(Array.isArray(c.prompts) && c.prompts.length <= 8 && c.prompts.every((p) => typeof p === 'string' && p.length > 0))) {
    fail('prompts', 'a list of at most 8 non-empty strings');
  }
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  if (c.schedule === 'cosine' && !(c.totalSteps > c.warmup)) {
    throw new ConfigError(`finetune config: a cosine schedule needs totalSteps (${c.totalSteps}) above warmup (${c.warmup}); raise totalSteps or use schedule 'constant'.`);
  }
  return c;
}

export interface FinetuneInfo extends BaseInfo<FinetuneConfig> {
  /** The pretrained model held (kept across runs), or null before base(). */
  base: BaseSummary | null;
  /** Values the optimizer updates, and every value of the model (adapters included). */
  trainableParameters: number;
  parameters: number;
  /** Tokens of the text to train on and held out. */
  trainTokens: number;
  valTokens: number;
  /** Tokens per window the run trains on. */
  block: number;
  /** Held-out perplexity of the pretrained model before any step, and the latest (NaN before a run). */
  perplexityBefore: number;
  perplexity: number;
  /** The samples of the pretrained model, from the same prompts and seed as every later one. */
  samplesBefore: Sample[];
  /** False when the run was built from other base files than the ones held now (it trains on, its exports are its own). */
  sameBase: boolean;
}

/** A held-out measurement: the same windows every time, so before and after compare. */
export interface EvalRecord {
  step: number;
  valLoss: number;
  perplexity: number;
  /** Mean training loss of the steps since the previous measurement. */
  trainLoss: number;
}

export interface FinetuneMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: StepRecord[];
  evals: EvalRecord[];
}

export interface Sample {
  prompt: string;
  /** The text generated after the prompt. */
  text: string;
}

/** Samples from the fixed prompts with the fixed seed (step 0: the pretrained model's). */
export interface SamplesEvent {
  type: 'samples';
  step: number;
  samples: Sample[];
}

export type FinetuneEvent = CoreEvent<FinetuneInfo> | FinetuneMetricsEvent | SamplesEvent;

/** Files a page offers to save. */
export interface ExportedFiles {
  /** model.safetensors (merged) or adapter_model.safetensors (adapters). */
  weights: Uint8Array;
  /** config.json or adapter_config.json. */
  config: string;
}

export interface FinetuneApi extends SessionApi<FinetuneConfig, FinetuneHyper, FinetuneInfo, FinetuneEvent, { step: number; loss: number }> {
  /**
   * Takes the pretrained model's files and holds them: the header, config.json and the tokenizer
   * are checked at once (a typed error naming the file; the files held before stay), and the
   * answer says what they hold and what each strategy needs of this device.
   */
  base(files: BaseFiles): Promise<BaseSummary>;
  /** Samples of the model as it is now, from the fixed prompts (emitted as an event too). */
  samples(): Promise<SamplesEvent>;
  /** The weights with every adapter folded in, GPT-2's layout, with config.json: loadable with no adapter code. */
  exportMerged(): Promise<ExportedFiles>;
  /** A LoRA run's adapters alone, in PEFT's layout, with adapter_config.json. */
  exportAdapters(): Promise<ExportedFiles>;
}

export const FINETUNE_METHODS = [...SESSION_METHODS, 'base', 'samples', 'exportMerged', 'exportAdapters'] as const satisfies readonly (keyof FinetuneApi)[];
