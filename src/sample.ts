// Autoregressive sampling from a language model, two ways with the same draws:
//   uncached  the model's logits plan (one window of (1, blockSize) token ids) is replayed once
//             per new token; the context is the last blockSize tokens, padded on the right
//             (causal attention keeps padding from reaching earlier positions);
//   cached    a TokenDecoder (models/gpt-decode.ts) keeps every position's keys and values and
//             computes one position per token; the prompt is fed through it first (prefill).
// The next token is drawn on the host from the logits of the last real position, with
// temperature, top-k and top-p (nucleus), from a seeded generator: the same seed gives the same
// text, cached or not, while the text fits the context (past it the cached decoder restarts
// from a shorter window, see GptDecoderOptions.keep). Generation ends after maxNewTokens or
// when a stop token is drawn.
// Not here: the model (models/gpt.ts), the decoder (models/gpt-decode.ts), batched or on-GPU
// sampling, beam search.

import { ConfigError, InputError } from './errors.js';
import type { Plan } from './executor.js';
import { mulberry32 } from './data/random.js';

export interface SampleConfig {
  /** Tokens to generate after the prompt (fewer when a stop token is drawn). */
  maxNewTokens: number;
  /** Softmax temperature: below 1 sharper, above 1 flatter; 0 (or below) always picks the most likely token. */
  temperature?: number;
  /** Draw only from the k most likely tokens (0: from all). */
  topK?: number;
  /**
   * Nucleus sampling: draw only from the smallest set of most likely tokens whose probability
   * (after temperature and top-k) reaches topP, in (0, 1]; 1: from all.
   */
  topP?: number;
  /** Token id(s) that end generation when drawn; the stop token is not part of the result. */
  stop?: number | readonly number[];
  /** Seed of the draws. */
  seed?: number;
}

export const sampleDefaults = { temperature: 1, topK: 0, topP: 1, seed: 0 };

/** A model that takes tokens one at a time and keeps what it has seen (GptDecoder). */
export interface TokenDecoder {
  readonly vocabSize: number;
  /** The longest context it attends over. */
  readonly blockSize: number;
  /** Forgets every token fed so far. */
  reset(): Promise<void>;
  /** Feeds tokens in order; resolves to the logits (V) after the last. */
  prefill(tokens: ArrayLike<number>): Promise<Float32Array>;
  /** Feeds one token; resolves to the logits (V) after it. */
  feed(token: number): Promise<Float32Array>;
}

/** Text to token ids and back (CharTokenizer, BpeTokenizer). */
export interface TextCodec {
  encode(text: string): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
}

/**
 * Relative slack on reaching topP: logits are float32, so probabilities that reach p exactly in
 * decimal (0.5 + 0.2 = 0.7) can fall short of it by a few float32 roundings; that must not add a token.
 */
const TOP_P_SLACK = 1e-6;

/**
 * Unnormalised probabilities (V) that pickToken draws from: exp((logit - max) / temperature)
 * for the tokens kept, 0 for the rest. Top-k keeps the tokens at or above the k-th largest
 * logit (ties at the threshold are kept). Top-p then keeps the most likely tokens, in order of
 * probability and on equal probability the lower id first, until their sum reaches topP of the
 * total: the smallest such set, the same one every time. Temperature must be > 0.
 */
export function tokenWeights(logits: ArrayLike<number>, temperature: number, topK: number, topP = 1): Float64Array {
  const V = logits.length;
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
  let floor = -Infinity;
  if (topK > 0 && topK < V) floor = Array.from(logits).sort((a, b) => b - a)[topK - 1];
  const top = logits[best];
  const w = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    w[i] = logits[i] >= floor ? Math.exp((logits[i] - top) / temperature) : 0;
    total += w[i];
  }
  if (topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i)
      .filter((i) => w[i] > 0)
      .sort((a, b) => w[b] - w[a] || a - b);
    const need = topP * total * (1 - TOP_P_SLACK);
    let sum = 0;
    let n = 0;
    while (n < order.length && sum < need) sum += w[order[n++]];
    for (const i of order.slice(Math.max(n, 1))) w[i] = 0;
  }
  return w;
}

/**
 * The next token from one row of logits (V): argmax at temperature 0 (the lowest id on ties),
 * else one draw from tokenWeights (softmax(logits / temperature) restricted by topK and topP).
 */
export function pickToken(logits: ArrayLike<number>, temperature: number, topK: number, rand: () => number, topP = 1): number {
  const V = logits.length;
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  const w = tokenWeights(logits, temperature, topK, topP);
  let total = 0;
  for (let i = 0; i < V; i++) total += w[i];
  let u = rand() * total;
  for (let i = 0; i < V; i++) {
    u -= w[i];
    if (u < 0 && w[i] > 0) return i;
  }
  return best; // rounding left u >= 0 after the last token: the mode is a safe answer
}

/** A sampling config with its defaults, checked; `who` names the caller in messages. */
function resolve(config: SampleConfig, who: string) {
  const c = { ...sampleDefaults, ...config };
  const { maxNewTokens, temperature, topK, topP, seed } = c;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) {
    throw new InputError(`${who}: maxNewTokens must be an integer >= 0, got ${maxNewTokens}.`);
  }
  // At or below 0 the most likely token is picked, as pickToken always has.
  if (Number.isNaN(temperature)) throw new ConfigError(`${who}: temperature must be a number (0: always the most likely token), got NaN.`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new ConfigError(`${who}: topK must be an integer >= 0 (0: no limit), got ${topK}.`);
  if (!(topP > 0 && topP <= 1)) {
    throw new ConfigError(`${who}: topP must be in (0, 1] (the probability the kept tokens reach; 1: all tokens), got ${topP}.`);
  }
  const stops = config.stop === undefined ? [] : typeof config.stop === 'number' ? [config.stop] : Array.from(config.stop);
  for (const s of stops) {
    if (!(Number.isInteger(s) && s >= 0)) throw new ConfigError(`${who}: stop token ids must be integers >= 0, got ${s}.`);
  }
  return { maxNewTokens, temperature, topK, topP, seed, stop: new Set(stops) };
}

/** Refuses an empty prompt and ids that are not token ids (below `vocabSize`, when known). */
function checkPrompt(prompt: ArrayLike<number>, who: string, vocabSize = Infinity): void {
  if (prompt.length === 0) throw new InputError(`${who}: the prompt is empty; give at least one token (a newline is a good start).`);
  for (let i = 0; i < prompt.length; i++) {
    const t = prompt[i];
    if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) {
      const range = Number.isFinite(vocabSize) ? `0..${vocabSize - 1}` : 'integers >= 0';
      throw new InputError(`${who}: prompt token ${i} is ${t}, not a token id (${range}); encode text with the model's tokenizer.`);
    }
  }
}

/** Where logits come from: after the prompt, then after each token drawn. */
interface LogitsSource {
  start(prompt: number[]): Promise<ArrayLike<number>>;
  next(token: number): Promise<ArrayLike<number>>;
}

/** The loop both samplers share: one pick per new token, in the same order, from one generator. */
async function generate(source: LogitsSource, prompt: ArrayLike<number>, s: ReturnType<typeof resolve>): Promise<Int32Array> {
  const out: number[] = [];
  if (s.maxNewTokens === 0) return new Int32Array(0);
  const rand = mulberry32(s.seed);
  let logits = await source.start(Array.from(prompt));
  for (let n = 0; n < s.maxNewTokens; n++) {
    const token = pickToken(logits, s.temperature, s.topK, rand, s.topP);
    if (s.stop.has(token)) break;
    out.push(token);
    if (n + 1 < s.maxNewTokens) logits = await source.next(token);
  }
  return Int32Array.from(out);
}

/**
 * Generates up to `maxNewTokens` tokens after `prompt` (at least one token) with a logits plan
 * built by compileGptLogits (input 'idx' (1, blockSize) i32, output 'logits' (1, blockSize, V)).
 * Returns the new tokens only.
 */
export async function sampleTokens(plan: Plan, blockSize: number, prompt: ArrayLike<number>, config: SampleConfig): Promise<Int32Array> {
  const who = 'sampleTokens';
  const s = resolve(config, who);
  checkPrompt(prompt, who);
  const tokens: number[] = [];
  const window = new Int32Array(blockSize);
  const run = async () => {
    const ctx = tokens.slice(-blockSize);
    window.fill(0);
    window.set(ctx);
    const logits = (await plan.run({ idx: window }, ['logits']))['logits'] as Float32Array; // (1, T, V)
    const V = logits.length / blockSize;
    // The vocabulary is known once the plan has run; it holds no state a bad id could spoil.
    if (tokens.length === prompt.length) checkPrompt(prompt, who, V);
    return logits.subarray((ctx.length - 1) * V, ctx.length * V); // (V)
  };
  return generate(
    {
      start: (p) => (tokens.push(...p), run()),
      next: (t) => (tokens.push(t), run()),
    },
    prompt,
    s,
  );
}

/**
 * sampleTokens through a TokenDecoder: the decoder is reset, fed the last blockSize tokens of
 * the prompt, then one token per draw. The same seed gives the same tokens as sampleTokens
 * while prompt and output fit in blockSize.
 */
export async function sampleTokensCached(decoder: TokenDecoder, prompt: ArrayLike<number>, config: SampleConfig): Promise<Int32Array> {
  const who = 'sampleTokensCached';
  const s = resolve(config, who);
  checkPrompt(prompt, who, decoder.vocabSize);
  return generate(
    {
      start: async (p) => {
        await decoder.reset();
        return decoder.prefill(p.slice(-decoder.blockSize));
      },
      next: (t) => decoder.feed(t),
    },
    prompt,
    s,
  );
}

/** Text after `prompt`, through a tokenizer (see sampleTokens). */
export async function sampleText(plan: Plan, blockSize: number, tokenizer: TextCodec, prompt: string, config: SampleConfig): Promise<string> {
  return tokenizer.decode(await sampleTokens(plan, blockSize, tokenizer.encode(prompt), config));
}

/** Text after `prompt` through a TokenDecoder (see sampleTokensCached). */
export async function sampleTextCached(decoder: TokenDecoder, tokenizer: TextCodec, prompt: string, config: SampleConfig): Promise<string> {
  return tokenizer.decode(await sampleTokensCached(decoder, tokenizer.encode(prompt), config));
}
