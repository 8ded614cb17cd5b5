// The trainer's configuration and data: checking a TrainerConfig field by field, turning it
// into a learning-rate schedule, and building the text, tokenizer, train/validation split and
// evaluation batches it names. All of it runs on the host before any GPU work, so a bad config or
// an unusable upload is refused while the model in memory stays as it was.
// Not here: the model and the training loop (trainer.ts), the contract types (protocol.ts).

import { evalBatches, splitTrainVal, unigramLoss, type Batch, type Split } from '../../data/batches.js';
import { generateCorpus, validateUserText } from '../../data/corpus.js';
import { CharTokenizer } from '../../data/tokenizer.js';
import type { AnyTokenizer } from '../../data/bpe.js';
import { trainBpe } from '../../data/bpe-train.js';
import { ConfigError } from '../../errors.js';
import { fieldChecks } from '../../worker/config-check.js';
import { gptPresets } from '../../models/gpt.js';
import { cosineDecay, linearWarmup, type Schedule } from '../../optim/schedules.js';
import { checkTextLength } from './checks.js';
import { trainerDefaults, type Hyper, type TrainerConfig } from './protocol.js';

/** The data side of a session: checked and tokenized before any GPU work. */
export interface SessionData {
  config: TrainerConfig;
  /** The uploaded bytes (kept for autosave), or null for the generated corpus. */
  upload: Uint8Array | null;
  tokenizer: AnyTokenizer;
  split: Split;
  unigram: number;
  evalSet: Batch[];
}

/** The fields setHyper may change. */
export const HYPER_KEYS: (keyof Hyper)[] = [
  'lr', 'warmup', 'schedule', 'totalSteps', 'minLrRatio', 'dropout', 'evalEvery', 'sampleEvery', 'sampleSeconds', 'autosaveEvery', 'metricsIntervalMs',
  'nonFinite',
];

/** The sampler's seed: derived from the model's, so weights and batch order do not share a stream. */
export const samplerSeed = (seed: number) => (seed ^ 0x5bd1e995) | 0;

/** The learning-rate schedule of a config (0-based steps). */
export function scheduleOf(c: TrainerConfig): Schedule {
  return c.schedule === 'cosine'
    ? cosineDecay({ lr: c.lr, minLr: c.lr * c.minLrRatio, warmupSteps: c.warmup, totalSteps: c.totalSteps })
    : linearWarmup({ lr: c.lr, warmupSteps: c.warmup });
}

/** A full config from defaults and overrides; every field checked (ConfigError names it). */
export function trainerConfig(overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  const c: TrainerConfig = { ...trainerDefaults, ...overrides };
  const { fail, nonNegative } = fieldChecks('trainer', c);
  if (!(c.preset in gptPresets)) fail('preset', `one of ${Object.keys(gptPresets).join(', ')}`);
  if (!(c.precision === 'f32' || c.precision === 'mixed')) fail('precision', "'f32' or 'mixed'");
  if (!(c.schedule === 'cosine' || c.schedule === 'constant')) fail('schedule', "'cosine' or 'constant'");
  if (!(c.nonFinite === 'stop' || c.nonFinite === 'skip')) fail('nonFinite', "'stop' or 'skip'");
  if (!(c.tokenizer === 'char' || c.tokenizer === 'bpe')) fail('tokenizer', "'char' or 'bpe'");
  if (!(Number.isInteger(c.bpeVocab) && c.bpeVocab >= 257 && c.bpeVocab <= 65536)) fail('bpeVocab', 'an integer from 257 to 65536');
  for (const k of ['batch', 'evalBatches', 'sampleLength'] as const) if (!(Number.isInteger(c[k]) && c[k] >= 1)) fail(k, 'an integer >= 1');
  for (const k of ['warmup', 'totalSteps', 'evalEvery', 'sampleEvery', 'autosaveEvery'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 0)) fail(k, 'an integer >= 0');
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) fail('dropout', 'in [0, 1)');
  if (!(c.valFraction > 0 && c.valFraction < 1)) fail('valFraction', 'in (0, 1)');
  if (!(c.minLrRatio >= 0 && c.minLrRatio <= 1)) fail('minLrRatio', 'in [0, 1]');
  nonNegative('metricsIntervalMs');
  nonNegative('sampleSeconds');
  if (!Number.isInteger(c.seed)) fail('seed', 'an integer');
  if (c.schedule === 'cosine' && !(c.totalSteps > c.warmup)) {
    throw new ConfigError(
      `trainer config: a cosine schedule needs totalSteps (${c.totalSteps}) above warmup (${c.warmup}); raise totalSteps or use schedule 'constant'.`,
    );
  }
  const d = c.data as { kind?: unknown; bytes?: unknown };
  if (!(d?.kind === 'builtin' || (d?.kind === 'text' && d.bytes instanceof Uint8Array))) {
    fail('data', "{ kind: 'builtin' } or { kind: 'text', bytes: Uint8Array }");
  }
  scheduleOf(c); // the schedule's own checks (lr >= 0, finite)
  return c;
}

/** The text, tokenizer, split and evaluation batches of a config; DataError for unusable text. */
export function prepareData(config: TrainerConfig): SessionData {
  const d = config.data;
  const upload = d.kind === 'text' ? d.bytes : null;
  const text = d.kind === 'text'
    ? validateUserText(d.bytes)
    : generateCorpus({ ...(d.lines !== undefined ? { lines: d.lines } : {}), ...(d.seed !== undefined ? { seed: d.seed } : {}) });
  const tokenizer = config.tokenizer === 'bpe' ? trainBpe(text, { vocabSize: config.bpeVocab }) : CharTokenizer.fromText(text);
  const split = splitTrainVal(tokenizer.encode(text), config.valFraction);
  checkTextLength(split.train.length + split.val.length, config);
  const { blockSize } = gptPresets[config.preset];
  const evalSet = evalBatches(split.val, config.batch, blockSize).slice(0, config.evalBatches);
  return { config, upload, tokenizer, split, unigram: unigramLoss(split.train, split.val, tokenizer.vocabSize), evalSet };
}
