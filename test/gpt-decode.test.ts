// Decoding with a key/value cache: the decoder's logits at every position equal the full
// forward's at that position, after a reset, past blockSize (each re-prefill against the full
// forward of the window it keeps) and with LoRA adapters; a mixed-precision model decodes in
// f32 within f16 rounding of its forward; the cached and uncached samplers draw the same tokens
// for a seed; top-p keeps exactly the nucleus computed by hand, ties broken towards the lower
// id; a stop token ends generation; bad ids, prompts and settings are refused with typed
// errors and change nothing.
// Not here: the model's own forward and training (gpt.test.ts), LoRA's training (finetune.test.ts).

import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../src/data/random.js';
import type { Engine } from '../src/engine.js';
import { ConfigError, InputError } from '../src/errors.js';
import type { Plan } from '../src/executor.js';
import { compileGptLogits, createGpt, type Gpt } from '../src/models/gpt.js';
import { createGptDecoder, type GptDecoder } from '../src/models/gpt-decode.js';
import { prepareFinetune } from '../src/models/gpt-finetune.js';
import { pickToken, sampleTokens, sampleTokensCached, tokenWeights, type SampleConfig } from '../src/sample.js';
import type { Tensor } from '../src/tensor.js';
import { testEngine } from './support/engine.js';

const V = 11;
const T = 8;
const small = { vocabSize: V, blockSize: T, nLayer: 2, nHead: 2, nEmbd: 16, seed: 3 };

/** Every parameter of `params` set to seeded values in +-scale (biases and norms too, so every path counts). */
async function randomize(engine: Engine, params: readonly Tensor[], seed: number, scale = 0.3): Promise<void> {
  const rand = mulberry32(seed);
  for (const p of params) await engine.writeParameter(p, Float32Array.from({ length: p.size }, () => (rand() * 2 - 1) * scale));
}

/** The full forward's logits (V) at the last of `tokens` (at most T), from the window plan. */
async function fullLogits(plan: Plan, tokens: ArrayLike<number>): Promise<Float32Array> {
  const window = new Int32Array(T);
  window.set(tokens);
  const all = (await plan.run({ idx: window }, ['logits']))['logits'] as Float32Array; // (1, T, V)
  return all.slice((tokens.length - 1) * V, tokens.length * V);
}

/** Largest |a - b| over the largest |b|: float32 agreement. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 1e-30;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

const TOL = 1e-5;

/** Feeds `tokens` one at a time; after each, the decoder's logits against the full forward of what it holds. */
async function expectMatchesFull(decoder: GptDecoder, plan: Plan, tokens: number[]): Promise<number> {
  let worst = 0;
  for (const t of tokens) {
    const got = await decoder.feed(t);
    const held = decoder.tokens;
    expect(held[held.length - 1]).toBe(t);
    const err = relErr(got, await fullLogits(plan, held));
    expect(err, `after ${held.length} tokens held`).toBeLessThan(TOL);
    worst = Math.max(worst, err);
  }
  return worst;
}

const seq = (n: number, seed: number) => {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * V));
};

describe('KV-cache decoding', () => {
  let engine: Engine;
  let model: Gpt;
  let full: Plan;
  let decoder: GptDecoder;
  beforeAll(async () => {
    engine = await testEngine();
    model = createGpt(small);
    await randomize(engine, model.params, 7);
    full = await compileGptLogits(engine, model);
    decoder = await createGptDecoder(engine, model);
  });

  it('gives the full forward logits at every position, after a reset, and past blockSize', async () => {
    expect(decoder.keep).toBe(T / 2);
    const worst = [await expectMatchesFull(decoder, full, seq(T, 1))];
    expect(decoder.position).toBe(T);
    // After a reset, other text from position 0: nothing of the first text leaks in.
    await decoder.reset();
    expect(decoder.position).toBe(0);
    worst.push(await expectMatchesFull(decoder, full, seq(5, 2)));
    // Prefill reads back only the last logits, and they are the same.
    await decoder.reset();
    const prompt = seq(6, 3);
    expect(relErr(await decoder.prefill(prompt), await fullLogits(full, prompt))).toBeLessThan(TOL);
    // Past blockSize: the 9th token re-prefills the last keep = 4, and so on every 4 tokens.
    await decoder.reset();
    const before = decoder.refills;
    const long = seq(2 * T + 5, 4);
    worst.push(await expectMatchesFull(decoder, full, long));
    expect(decoder.refills - before).toBe(4); // at tokens 9, 13, 17, 21
    expect(Array.from(decoder.tokens)).toEqual(long.slice(-5)); // the 4 kept at the 21st and the 21st
    console.log(`KV-cache decoding vs full forward: worst relative error ${Math.max(...worst).toExponential(2)}`);
  });

  it('samples the same tokens as full recomputation for a seed: greedy, temperature, top-k, top-p', async () => {
    const prompt = seq(2, 5);
    const configs: SampleConfig[] = [
      { maxNewTokens: T - 2, temperature: 0 },
      { maxNewTokens: T - 2, temperature: 1.3, seed: 11 },
      { maxNewTokens: T - 2, temperature: 0.9, topK: 4, seed: 12 },
      { maxNewTokens: T - 2, temperature: 1.1, topP: 0.8, seed: 13 },
      { maxNewTokens: T - 2, temperature: 1, topK: 6, topP: 0.9, seed: 14 },
    ];
    for (const c of configs) {
      const uncached = await sampleTokens(full, T, prompt, c);
      const cached = await sampleTokensCached(decoder, prompt, c);
      expect(Array.from(cached), JSON.stringify(c)).toEqual(Array.from(uncached));
      expect(cached.length).toBe(T - 2);
    }
    // Different seeds draw different text (the draws are not all the mode).
    const draws = new Set<string>();
    for (const seed of [1, 2, 3, 4]) draws.add((await sampleTokensCached(decoder, prompt, { maxNewTokens: 6, temperature: 2, seed })).join());
    expect(draws.size).toBeGreaterThan(1);
  });

  it('keeps the sliding window of full recomputation past blockSize with keep = blockSize - 1', async () => {
    const sliding = await createGptDecoder(engine, model, { keep: T - 1 });
    try {
      const prompt = seq(3, 6);
      for (const c of [{ maxNewTokens: 2 * T, temperature: 0 }, { maxNewTokens: 2 * T, temperature: 1, topP: 0.9, seed: 5 }]) {
        expect(Array.from(await sampleTokensCached(sliding, prompt, c))).toEqual(Array.from(await sampleTokens(full, T, prompt, c)));
      }
      // A prompt longer than the window is cropped to its last T tokens by both.
      const long = seq(T + 3, 7);
      const c = { maxNewTokens: 3, temperature: 0 };
      expect(Array.from(await sampleTokensCached(sliding, long, c))).toEqual(Array.from(await sampleTokens(full, T, long, c)));
    } finally {
      sliding.dispose();
    }
  });

  it('ends generation at a stop token, which is not returned', async () => {
    const prompt = seq(2, 8);
    const greedy = Array.from(await sampleTokens(full, T, prompt, { maxNewTokens: 5, temperature: 0 }));
    const unseen = Array.from({ length: V }, (_, i) => i).filter((i) => !greedy.includes(i));
    const runs = [
      (c: SampleConfig) => sampleTokens(full, T, prompt, c),
      (c: SampleConfig) => sampleTokensCached(decoder, prompt, c),
    ];
    for (const run of runs) {
      const greedyWith = async (stop: SampleConfig['stop']) => Array.from(await run({ maxNewTokens: 5, temperature: 0, stop }));
      // The third token drawn stops generation where it first appears.
      expect(await greedyWith(greedy[2])).toEqual(greedy.slice(0, greedy.indexOf(greedy[2])));
      // Any token of a set stops it: here the first one drawn.
      expect(await greedyWith([unseen[0], greedy[0]])).toEqual([]);
      // Stop tokens never drawn: the full length.
      expect(await greedyWith(unseen)).toEqual(greedy);
    }
  });

  it('refuses bad token ids, empty prompts and bad settings with typed errors, changing nothing', async () => {
    await decoder.reset();
    await decoder.prefill([1, 2, 3]);
    for (const bad of [V, -1, 2.5, NaN]) {
      await expect(decoder.feed(bad)).rejects.toThrow(InputError);
    }
    await expect(decoder.feed(V)).rejects.toThrow(/token id 11 is not in the vocabulary 0\.\.10/);
    await expect(decoder.prefill([1, V + 4])).rejects.toThrow(/token id 15 at index 1/);
    await expect(decoder.prefill([])).rejects.toThrow(InputError);
    expect(Array.from(decoder.tokens)).toEqual([1, 2, 3]);
    await expect(sampleTokensCached(decoder, [], { maxNewTokens: 2 })).rejects.toThrow(/prompt is empty/);
    await expect(sampleTokens(full, T, [], { maxNewTokens: 2 })).rejects.toThrow(InputError);
    await expect(sampleTokensCached(decoder, [0, V], { maxNewTokens: 2 })).rejects.toThrow(/prompt token 1 is 11, not a token id \(0\.\.10\)/);
    await expect(sampleTokens(full, T, [0, V], { maxNewTokens: 2 })).rejects.toThrow(/prompt token 1 is 11/);
    for (const topP of [0, -0.5, 1.5, NaN]) {
      await expect(sampleTokensCached(decoder, [1], { maxNewTokens: 2, topP })).rejects.toThrow(ConfigError);
      await expect(sampleTokens(full, T, [1], { maxNewTokens: 2, topP })).rejects.toThrow(/topP must be in \(0, 1\]/);
    }
    await expect(sampleTokensCached(decoder, [1], { maxNewTokens: 2, topK: 1.5 })).rejects.toThrow(/topK/);
    await expect(sampleTokensCached(decoder, [1], { maxNewTokens: 2, temperature: NaN })).rejects.toThrow(/temperature/);
    await expect(sampleTokensCached(decoder, [1], { maxNewTokens: 2, stop: [-2] })).rejects.toThrow(/stop token ids/);
    await expect(sampleTokensCached(decoder, [1], { maxNewTokens: -1 })).rejects.toThrow(InputError);
    // The refused calls did not reset or feed the decoder.
    expect(Array.from(decoder.tokens)).toEqual([1, 2, 3]);
    await expect(createGptDecoder(engine, model, { keep: T })).rejects.toThrow(ConfigError);
    await expect(createGptDecoder(engine, model, { keep: -1 })).rejects.toThrow(/keep must be an integer from 0 to blockSize - 1 = 7/);
  });
});

describe('KV-cache decoding with LoRA adapters', () => {
  it('decodes an adapted model as its full forward computes it', async () => {
    const engine = await testEngine();
    const model = createGpt({ ...small, seed: 4 });
    const f = prepareFinetune(model, { kind: 'lora', targets: ['attn.c_attn', 'mlp.c_fc'], rank: 2, alpha: 4, dropout: 0 });
    await randomize(engine, model.params, 9);
    // The B factors start at zero (the adapter adds nothing): make them count.
    const bs = f.trainable.filter((p) => p.label.endsWith('lora_b'));
    expect(bs.length).toBe(2 * small.nLayer);
    await randomize(engine, bs, 10, 0.5);
    const full = await compileGptLogits(engine, model);
    const decoder = await createGptDecoder(engine, model);
    try {
      await expectMatchesFull(decoder, full, seq(T + 3, 11));
      // The adapters change the logits: the check above is not one of the base model.
      const base = createGpt({ ...small, seed: 4 });
      for (let i = 0; i < base.params.length; i++) await engine.writeParameter(base.params[i], await engine.readParameter(model.params[i]));
      const basePlan = await compileGptLogits(engine, base);
      const tokens = seq(4, 12);
      expect(relErr(await fullLogits(basePlan, tokens), await fullLogits(full, tokens))).toBeGreaterThan(1e-3);
      basePlan.dispose();
      for (const p of base.params) engine.freeParameter(p);
    } finally {
      decoder.dispose();
      full.dispose();
    }
  });
});

describe('KV-cache decoding of a mixed-precision model', () => {
  it('decodes in f32, within f16 rounding of the mixed forward', async () => {
    const engine = await testEngine();
    const model = createGpt({ ...small, seed: 5, precision: 'mixed' });
    await randomize(engine, model.params, 13);
    const full = await compileGptLogits(engine, model);
    const decoder = await createGptDecoder(engine, model);
    try {
      let worst = 0;
      for (const t of seq(T, 14)) {
        const got = await decoder.feed(t);
        worst = Math.max(worst, relErr(got, await fullLogits(full, decoder.tokens)));
      }
      expect(worst).toBeLessThan(2e-2);
    } finally {
      decoder.dispose();
      full.dispose();
    }
  });
});

describe('top-p (nucleus) sampling', () => {
  const ln = (ps: number[]) => Float32Array.from(ps, Math.log);
  const kept = (w: Float64Array) => Array.from(w.keys()).filter((i) => w[i] > 0);
  const drawn = (logits: Float32Array, temperature: number, topK: number, topP: number) => {
    const rand = mulberry32(1);
    const seen = new Set<number>();
    for (let i = 0; i < 3000; i++) seen.add(pickToken(logits, temperature, topK, rand, topP));
    return [...seen].sort((a, b) => a - b);
  };

  it('keeps the smallest set of most likely tokens whose probability reaches p', () => {
    // Probabilities by id: 0.1, 0.5, 0.05, 0.2, 0.15. By rank: 1 (0.5), 3 (0.2), 4 (0.15), 0 (0.1), 2 (0.05).
    const logits = ln([0.1, 0.5, 0.05, 0.2, 0.15]);
    const cases: [number, number[]][] = [
      [0.3, [1]], // 0.5 alone reaches 0.3
      [0.5, [1]], // reached exactly
      [0.6, [1, 3]], // 0.5 + 0.2
      [0.7, [1, 3]], // reached exactly, rounding allowed for
      [0.71, [1, 3, 4]], // 0.85
      [0.9, [0, 1, 3, 4]], // 0.95
      [0.99, [0, 1, 2, 3, 4]],
      [1, [0, 1, 2, 3, 4]],
    ];
    for (const [p, set] of cases) {
      expect(kept(tokenWeights(logits, 1, 0, p)), `topP ${p}`).toEqual(set);
      expect(drawn(logits, 1, 0, p), `topP ${p}, drawn`).toEqual(set);
    }
    // Draws inside the nucleus follow the renormalised probabilities: 0.5 / 0.7 and 0.2 / 0.7.
    const rand = mulberry32(2);
    let ones = 0;
    for (let i = 0; i < 20000; i++) if (pickToken(logits, 1, 0, rand, 0.7) === 1) ones++;
    expect(Math.abs(ones / 20000 - 0.5 / 0.7)).toBeLessThan(0.015);
  });

  it('applies after temperature and top-k, and breaks ties towards the lower id', () => {
    // Ties: 0.3, 0.3, 0.2, 0.2. p = 0.5 needs two of the 0.3s; p = 0.7 one of the 0.2s: the lower ids.
    const ties = ln([0.2, 0.3, 0.2, 0.3]);
    expect(kept(tokenWeights(ties, 1, 0, 0.5))).toEqual([1, 3]);
    expect(kept(tokenWeights(ties, 1, 0, 0.3))).toEqual([1]);
    expect(kept(tokenWeights(ties, 1, 0, 0.7))).toEqual([0, 1, 3]);
    expect(drawn(ties, 1, 0, 0.7)).toEqual([0, 1, 3]);
    // Temperature 0.5 squares the probabilities: 0.25, 0.04, 0.01 of 0.30 -> 0.833, 0.133, 0.033.
    const three = ln([0.5, 0.2, 0.1]);
    // At temperature 1: 0.625, 0.25, 0.125.
    expect(kept(tokenWeights(three, 1, 0, 0.8))).toEqual([0, 1]);
    expect(kept(tokenWeights(three, 1, 0, 0.9))).toEqual([0, 1, 2]);
    expect(kept(tokenWeights(three, 0.5, 0, 0.8))).toEqual([0]);
    expect(kept(tokenWeights(three, 0.5, 0, 0.9))).toEqual([0, 1]);
    // Top-k 2 first: 0.5 and 0.2 renormalised to 0.714 and 0.286; p 0.7 then keeps one.
    expect(kept(tokenWeights(three, 1, 2, 0.7))).toEqual([0]);
    expect(kept(tokenWeights(three, 1, 2, 0.75))).toEqual([0, 1]);
    // Greedy ignores top-p; a tiny p keeps the mode.
    expect(pickToken(three, 0, 0, () => 0.99, 0.1)).toBe(0);
    expect(drawn(three, 1, 0, 1e-6)).toEqual([0]);
  });
});
