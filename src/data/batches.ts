// Token streams into training batches, in the nanoGPT manner: a deterministic train/validation
// split (the head for training, the tail for validation, so no window straddles both), and a
// seeded sampler that draws B random windows of T + 1 tokens, giving inputs (B, T) and the
// targets shifted by one, both as Int32Array ready to feed. Also the unigram baseline: the loss
// of a model that ignores context, which a language model must beat.
// Not here: tokenizing (tokenizer.ts) or the text itself (corpus.ts).

import { ConfigError, DataError } from '../errors.js';
import { mulberry32 } from './random.js';

export interface Split {
  train: Int32Array;
  val: Int32Array;
}

/** The first (1 - valFraction) of the tokens for training, the rest for validation. */
export function splitTrainVal(tokens: Int32Array, valFraction = 0.1): Split {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new ConfigError(`splitTrainVal: valFraction must be in (0, 1), got ${valFraction}.`);
  }
  const n = Math.round(tokens.length * (1 - valFraction));
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

export interface BatchConfig {
  /** Windows per batch (B). */
  batch: number;
  /** Tokens per window (T), the model's context or less. */
  block: number;
  /** Seed of the window starts: the same seed gives the same batches. */
  seed?: number;
}

export interface Batch {
  /** Inputs (B, T), row-major. */
  x: Int32Array;
  /** Targets (B, T): y[b, t] = x[b, t + 1] in the stream. */
  y: Int32Array;
}

/** Draws batches of random windows from one token stream. */
export class BatchSampler {
  private readonly rand: () => number;
  readonly batch: number;
  readonly block: number;

  constructor(
    readonly tokens: Int32Array,
    config: BatchConfig,
  ) {
    const { batch, block, seed = 0 } = config;
    for (const [k, v] of [['batch', batch], ['block', block]] as const) {
      if (!(Number.isInteger(v) && v >= 1)) throw new ConfigError(`BatchSampler: ${k} must be a positive integer, got ${v}.`);
    }
    if (tokens.length < block + 1) {
      throw new DataError(
        `BatchSampler: ${tokens.length} tokens cannot fill a window of ${block} + 1; use more text or a shorter context.`,
        'too-short',
      );
    }
    this.batch = batch;
    this.block = block;
    this.rand = mulberry32(seed);
  }

  /** The next batch of B windows at uniformly drawn starts. */
  next(): Batch {
    const { batch: B, block: T, tokens } = this;
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    const starts = tokens.length - T; // valid starts: 0 .. len - T - 1
    for (let b = 0; b < B; b++) {
      const s = Math.floor(this.rand() * starts);
      x.set(tokens.subarray(s, s + T), b * T);
      y.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    return { x, y };
  }
}

/**
 * Every window of T + 1 tokens that tiles the stream without overlap, grouped B at a time (the
 * last group repeats the first windows to fill B): an evaluation pass that sees every token
 * once, the same on every call.
 */
export function evalBatches(tokens: Int32Array, batch: number, block: number): Batch[] {
  const windows = Math.floor((tokens.length - 1) / block);
  if (windows < 1) {
    throw new DataError(
      `evalBatches: ${tokens.length} tokens cannot fill a window of ${block} + 1; use more text or a shorter context.`,
      'too-short',
    );
  }
  const out: Batch[] = [];
  for (let w0 = 0; w0 < windows; w0 += batch) {
    const x = new Int32Array(batch * block);
    const y = new Int32Array(batch * block);
    for (let b = 0; b < batch; b++) {
      const s = ((w0 + b) % windows) * block;
      x.set(tokens.subarray(s, s + block), b * block);
      y.set(tokens.subarray(s + 1, s + block + 1), b * block);
    }
    out.push({ x, y });
  }
  return out;
}

/**
 * Cross-entropy in nats of `eval` under the unigram distribution of `fit` (add-one smoothed over
 * `vocabSize`, so an unseen token costs a finite amount). With fit = eval it is the entropy of
 * the symbol frequencies: the loss of the best model that ignores context.
 */
export function unigramLoss(fit: Int32Array, evalTokens: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const t of fit) counts[t]++;
  const total = fit.length + vocabSize;
  let nll = 0;
  for (const t of evalTokens) nll -= Math.log(counts[t] / total);
  return nll / evalTokens.length;
}
