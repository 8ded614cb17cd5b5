// Autoregressive sampling from a language model: the model's logits plan (one window of
// (1, blockSize) token ids) is replayed once per new token; the context is the last blockSize
// tokens, padded on the right (causal attention keeps padding from reaching earlier positions),
// and the next token is drawn on the host from the read-back logits of the last real position,
// with temperature and top-k, from a seeded generator: the same seed gives the same text.
// Not here: the model (models/gpt.ts), batched or on-GPU sampling, beam search.

import { InputError } from './errors.js';
import type { Plan } from './executor.js';
import type { CharTokenizer } from './data/tokenizer.js';
import { mulberry32 } from './data/random.js';

export interface SampleConfig {
  /** Tokens to generate after the prompt. */
  maxNewTokens: number;
  /** Softmax temperature: below 1 sharper, above 1 flatter; 0 always picks the most likely token. */
  temperature?: number;
  /** Draw only from the k most likely tokens (0: from all). */
  topK?: number;
  /** Seed of the draws. */
  seed?: number;
}

export const sampleDefaults = { temperature: 1, topK: 0, seed: 0 };

/**
 * The next token from one row of logits (V): argmax at temperature 0 (the lowest id on ties),
 * else a draw from softmax(logits / temperature) restricted to the topK largest.
 */
export function pickToken(logits: ArrayLike<number>, temperature: number, topK: number, rand: () => number): number {
  const V = logits.length;
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  // Tokens below the k-th largest logit get no mass; ties at the threshold are kept.
  let floor = -Infinity;
  if (topK > 0 && topK < V) floor = Array.from(logits).sort((a, b) => b - a)[topK - 1];
  const top = logits[best];
  const w = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    w[i] = logits[i] >= floor ? Math.exp((logits[i] - top) / temperature) : 0;
    total += w[i];
  }
  let u = rand() * total;
  for (let i = 0; i < V; i++) {
    u -= w[i];
    if (u < 0 && w[i] > 0) return i;
  }
  return best; // rounding left u >= 0 after the last token: the mode is a safe answer
}

/**
 * Generates `maxNewTokens` tokens after `prompt` (at least one token) with a logits plan built by
 * compileGptLogits (input 'idx' (1, blockSize) i32, output 'logits' (1, blockSize, V)).
 * Returns the new tokens only.
 */
export async function sampleTokens(plan: Plan, blockSize: number, prompt: ArrayLike<number>, config: SampleConfig): Promise<Int32Array> {
  const { maxNewTokens, temperature, topK, seed } = { ...sampleDefaults, ...config };
  if (prompt.length === 0) throw new InputError('sampleTokens: the prompt is empty; give at least one token (a newline is a good start).');
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) {
    throw new InputError(`sampleTokens: maxNewTokens must be an integer >= 0, got ${maxNewTokens}.`);
  }
  const rand = mulberry32(seed);
  const tokens = Array.from(prompt);
  const window = new Int32Array(blockSize);
  for (let n = 0; n < maxNewTokens; n++) {
    const ctx = tokens.slice(-blockSize);
    window.fill(0);
    window.set(ctx);
    const logits = (await plan.run({ idx: window }, ['logits']))['logits'] as Float32Array; // (1, T, V)
    const V = logits.length / blockSize;
    const last = logits.subarray((ctx.length - 1) * V, ctx.length * V);
    tokens.push(pickToken(last, temperature, topK, rand));
  }
  return Int32Array.from(tokens.slice(prompt.length));
}

/** Text after `prompt`, through a character tokenizer (see sampleTokens). */
export async function sampleText(
  plan: Plan,
  blockSize: number,
  tokenizer: CharTokenizer,
  prompt: string,
  config: SampleConfig,
): Promise<string> {
  return tokenizer.decode(await sampleTokens(plan, blockSize, tokenizer.encode(prompt), config));
}
