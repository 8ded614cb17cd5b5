// The fine-tuning session in Node, on a tiny random GPT-2 whose byte-level BPE was trained on a
// short repetitive text (test/support/finetune-base.ts): the user's files are taken and
// summarised (the model, the tokenizer, each strategy's memory and whether it fits; GPT-2's own
// tokenizer.json too); every bad file is refused in its own words while the files held before
// stay; the text is checked as the transformer page checks one; a LoRA run lowers the held-out
// perplexity measured before training, leaves every pretrained weight as it was loaded, and
// samples from the same prompts before and after; its merged export (through openGpt2) and its
// adapters (through loadAdapters) load back to the same logits; its checkpoint loads back over
// the same base and is refused over another one; a partial run trains only its last block; a
// strategy past the device's memory is refused with what fits.
// Not here: the core's recovery and autosave cases (sessions.test.ts), the strategies and exports
// at the model level (finetune.test.ts), the page (finetune-demo.test.ts).

import { afterAll, describe, expect, it } from 'vitest';
import { parseSafetensors, writeSafetensors, decodeTensor } from '../src/checkpoint/safetensors.js';
import { bytesSource } from '../src/checkpoint/source.js';
import type { Engine } from '../src/engine.js';
import type { DataError } from '../src/errors.js';
import { createGpt, gptForward, type Gpt } from '../src/models/gpt.js';
import { loadAdapters, prepareFinetune, type FinetuneStrategy } from '../src/models/gpt-finetune.js';
import { openGpt2 } from '../src/models/gpt2-import.js';
import type { FinetuneRun } from '../src/tasks/finetune/run.js';
import type { BaseFiles, FinetuneEvent } from '../src/tasks/finetune/protocol.js';
import { FinetuneSession } from '../src/tasks/finetune/session.js';
import { memoryAutosave } from '../src/worker/autosave.js';
import { input } from '../src/tensor.js';
import { testEngine } from './support/engine.js';
import { finetuneBase } from './support/finetune-base.js';
import { gpt2Files } from './support/gpt2-checkpoint.js';
import { gpt2Files as gpt2Tokenizer } from './support/gpt2-files.js';

const base = finetuneBase();
const files: BaseFiles = { weights: base.weights, weightsName: 'model.safetensors', config: base.config, vocab: base.vocab, merges: base.merges };
const lora: FinetuneStrategy = { kind: 'lora', targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rank: 4, alpha: 8, dropout: 0 };
const run = {
  text: base.text, textName: 'cats.txt', strategy: lora, lr: 1e-2, batch: 4, block: 16, warmup: 2, totalSteps: 80, evalEvery: 20, sampleEvery: 40,
  sampleLength: 12, evalBatches: 2, autosaveEvery: 0, metricsIntervalMs: 0,
};
/** The tensors a GPT-2 of the test's shape has, which the load reports one by one. */
const tensorCount = () => createGpt({ vocabSize: base.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 }).params.length;
const ids = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % base.vocabSize);

const sessions: FinetuneSession[] = [];
async function session(engine?: Engine): Promise<FinetuneSession> {
  const s = new FinetuneSession({ engine: engine ?? (await testEngine()), autosave: memoryAutosave() });
  sessions.push(s);
  return s;
}
afterAll(() => Promise.all(sessions.map((s) => s.dispose())));

/** The current run, which the session keeps to itself: the tests look at its weights. */
const runOf = (s: FinetuneSession) => (s as unknown as { current: FinetuneRun }).current;

async function logitsOf(engine: Engine, model: Gpt): Promise<Float32Array> {
  const idx = input('idx', [1, ids.length], 'i32');
  const [out] = await engine.run([gptForward(model, idx).logits], { idx: Int32Array.from(ids) });
  return out as Float32Array;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** What `p` rejects with: its class name, message and reason. */
async function refusal(p: Promise<unknown>): Promise<{ name: string; message: string; reason?: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).constructor.name, message: (e as Error).message, reason: (e as DataError).reason };
  }
  throw new Error('expected a rejection');
}

describe('the base model', () => {
  it('takes the files at once, summarises them, and refuses every bad file in its own words, keeping the files it holds', async () => {
    const s = await session();
    expect(await refusal(s.create(run))).toMatchObject({ name: 'InputError', message: expect.stringMatching(/no pretrained model yet: choose its model\.safetensors/) });
    const summary = await s.base(files);
    console.log(`base: ${summary.parameters} parameters, vocabulary ${summary.vocabSize}; ${summary.strategies.map((x) => `${x.name} ${x.memory.total} B`).join(', ')}`);
    expect(summary).toMatchObject({
      layout: 'conv1d', dtypes: ['F32'], vocabSize: base.vocabSize, context: 32, nLayer: 2, nHead: 2, nEmbd: 32, bias: true,
      specials: ['<|endoftext|>'], names: { weights: 'model.safetensors', tokenizer: 'vocab.json and merges.txt' }, fileBytes: base.weights.length,
    });
    expect(summary.parameters).toBe(createGpt({ vocabSize: base.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 }).params.reduce((a, p) => a + p.size, 0));
    const names = summary.strategies.map((x) => x.name);
    expect(names).toEqual(['full fine-tuning', 'the last block and ln_f', 'LoRA rank 8 on c_attn', 'LoRA rank 8 on every projection']);
    expect(summary.strategies.every((x) => x.fits && x.why === '')).toBe(true);
    const [full, last, lo] = summary.strategies.map((x) => x.memory);
    expect(lo.total).toBeLessThan(last.total);
    expect(last.total).toBeLessThan(full.total);
    expect((await s.info()).base).toEqual(summary);

    // GPT-2's own tokenizer.json, beside a model of its vocabulary (only the header is read).
    const gpt2 = gpt2Files({ vocabSize: 50257, nPositions: 64, nLayer: 1, nHead: 1, nEmbd: 8 }, { prefix: 'transformer.', dtype: 'F16' });
    const t = await session();
    const real = await t.base({ weights: new Blob([gpt2.weights as Uint8Array<ArrayBuffer>]), config: JSON.stringify(gpt2.config), tokenizer: gpt2Tokenizer().tokenizerJson });
    expect(real).toMatchObject({ vocabSize: 50257, context: 64, dtypes: ['F16'], specials: ['<|endoftext|>'], names: { weights: 'model.safetensors', tokenizer: 'tokenizer.json' } });

    const other = gpt2Files({ ...base.shape, nEmbd: 16 }, { seed: 3 });
    const bad: [string, Partial<BaseFiles>, string, RegExp][] = [
      ['empty weights', { weights: new Uint8Array(0) }, 'DataError', /^model\.safetensors is empty; choose the model\.safetensors from the model's folder\.$/],
      ['another model\'s weights', { weights: other.weights }, 'CheckpointError', /^These weights do not fit the config\.json given with them: 'wte\.weight' has shape \[300, 16\]; the config says \[300, 32\]/],
      ['a config.json that is not JSON', { config: '{ "n_layer": 2,' }, 'DataError', /^config\.json is not JSON \(.*\); choose the config\.json that came with the weights\.$/],
      ['a vocabulary of another size', { vocab: finetuneBase({ vocab: 280 }).vocab, merges: finetuneBase({ vocab: 280 }).merges }, 'DataError', /^The tokenizer \(vocab\.json and merges\.txt\) has \d+ tokens, but the model reads 300 \(vocab_size in config\.json/],
      ['merges.txt without its vocab.json', { vocab: undefined }, 'InputError', /merges\.txt needs its vocab\.json/],
      ['a vocab.json that is a tokenizer.json', { vocab: '{"model": {"vocab": {}}, "added_tokens": []}' }, 'DataError', /looks like a tokenizer\.json/],
    ];
    for (const [what, edit, name, words] of bad) {
      const r = await refusal(s.base({ ...files, ...edit }));
      expect(r.name, what).toBe(name);
      expect(r.message, what).toMatch(words);
      expect(r.message, what).not.toMatch(/\n|Error|Session|undefined/);
      expect((await s.info()).base, what).toEqual(summary); // the files held before stay
    }
  });

  it('checks the text and the window against the model before any GPU work', async () => {
    const s = await session();
    await s.base(files);
    const text = (t: string) => new TextEncoder().encode(t);
    const cases: [string, object, string, RegExp][] = [
      ['empty', { text: new Uint8Array(0) }, 'DataError', /^The text is empty/],
      ['binary', { text: Uint8Array.of(80, 75, 3, 4, 0, 0, 1) }, 'DataError', /binary file/],
      ['too short', { text: text('the cat sat on the mat.\n'.repeat(3)) }, 'DataError', /^The text is \d+ tokens long .* with windows of 16 tokens it needs about \d+.*Use a longer text, or a shorter block\.$/],
      ['a block past the context', { block: 64 }, 'ConfigError', /block 64 is longer than the model's context of 32 tokens/],
      ['a strategy that is not one', { strategy: { kind: 'half' } }, 'ConfigError', /strategy must be/],
    ];
    for (const [what, edit, name, words] of cases) {
      const r = await refusal(s.create({ ...run, ...edit }));
      expect(r.name, what).toBe(name);
      expect(r.message, what).toMatch(words);
    }
    expect((await s.info()).state).toBe('empty');
  });
});

describe('a LoRA run', () => {
  it('lowers the held-out perplexity, keeps every pretrained weight, samples the same prompts before and after, and exports what loads back', async () => {
    const engine = await testEngine();
    const s = await session(engine);
    await s.base(files);
    const events: FinetuneEvent[] = [];
    await s.subscribe((e) => events.push(e));
    const info = await s.create(run);
    expect(info).toMatchObject({ state: 'paused', step: 0, block: 16, sameBase: true });
    // The weights were streamed in tensor by tensor, and said so.
    const loading = events.filter((e) => e.type === 'progress' && e.phase === 'loading the model');
    expect(loading.at(-1)).toMatchObject({ done: tensorCount(), total: tensorCount() });
    expect(info.trainableParameters).toBe(2 * 4 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32)));
    expect(info.valTokens).toBeGreaterThan(16);
    const before = info.perplexityBefore;
    expect(before).toBeGreaterThan(1);
    expect(info.samplesBefore.map((x) => x.prompt)).toEqual(['the cat looked at', 'the dog looked at']);
    expect(info.samplesBefore.every((x) => x.text.length > 0)).toBe(true);

    await s.step(80);
    const after = await s.info();
    const evals = events.flatMap((e) => (e.type === 'metrics' ? e.evals : []));
    console.log(`held-out perplexity ${before.toFixed(1)} before, ${after.perplexity.toFixed(2)} after 80 steps; by step: ${evals.map((e) => `${e.step}: ${e.perplexity.toFixed(1)}`).join(', ')}`);
    expect(evals.map((e) => e.step)).toEqual([0, 20, 40, 60, 80]);
    expect(evals[0].perplexity).toBe(before);
    expect(after.perplexity).toBe(evals.at(-1)!.perplexity);
    expect(after.perplexity).toBeLessThan(before / 4);
    const losses = events.flatMap((e) => (e.type === 'metrics' ? e.steps.map((r) => r.loss) : []));
    expect(losses).toHaveLength(80);

    // Every pretrained weight is as the file has it, bit for bit.
    const r = runOf(s);
    for (const p of r.finetune.model.params) {
      const want = Float32Array.from(base.canonical.get(p.label.slice('transformer.'.length))!.data);
      expect(await engine.readParameter(p), p.label).toEqual(want);
    }

    // The same prompts and seed before and after: the text changed, not the draws.
    const samples = events.filter((e) => e.type === 'samples');
    expect(samples.map((e) => e.step)).toEqual([0, 40, 80]);
    const now = await s.samples();
    expect(now.samples.map((x) => x.prompt)).toEqual(info.samplesBefore.map((x) => x.prompt));
    expect(now.samples.map((x) => x.text)).toEqual(samples.at(-1)!.samples.map((x) => x.text)); // the same seed, the same model: the same text
    expect(now.samples.map((x) => x.text)).not.toEqual(info.samplesBefore.map((x) => x.text));
    console.log(`samples before: ${JSON.stringify(info.samplesBefore)}\nsamples after: ${JSON.stringify(now.samples)}`);

    const tuned = await logitsOf(engine, r.finetune.model);
    const merged = await s.exportMerged();
    const ckpt = await openGpt2(bytesSource(merged.weights), JSON.parse(merged.config));
    const plain = createGpt(ckpt.config);
    await ckpt.load(engine, plain);
    expect(maxDiff(await logitsOf(engine, plain), tuned)).toBeLessThan(2e-5 * Math.max(1, maxDiff(tuned, new Float32Array(tuned.length))));

    const adapters = await s.exportAdapters();
    expect(JSON.parse(adapters.config)).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: lora.kind === 'lora' ? [...lora.targets] : [] });
    const fresh = await openGpt2(bytesSource(base.weights), JSON.parse(base.config));
    const again = createGpt(fresh.config);
    await fresh.load(engine, again);
    await loadAdapters(engine, prepareFinetune(again, lora), adapters.weights);
    expect(await logitsOf(engine, again)).toEqual(tuned);

    // Its checkpoint holds only the adapters and their state, and loads back over the same base.
    const file = await s.exportCheckpoint();
    const saved = parseSafetensors(file);
    expect(saved.metadata.task).toBe('finetune');
    expect([...saved.tensors.keys()].filter((n) => !n.startsWith('optimizer.')).every((n) => /\.lora_[ab]$/.test(n))).toBe(true);
    const b = await session(engine);
    expect(await refusal(b.importCheckpoint(file))).toMatchObject({ name: 'CheckpointError', message: expect.stringMatching(/^This checkpoint holds only what fine-tuning changed over 'model\.safetensors' \(0\.\d MB\): choose that model's files first/) });
    await b.base(files);
    expect(await refusal(b.importCheckpoint(file))).toMatchObject({ message: expect.stringMatching(/fine-tuned on your own text \(cats\.txt\), which the checkpoint does not hold/) });

    // Over a base of the same shape with other weights, or of another shape: refused by name and shape.
    const otherWeights = finetuneBase({ seed: 8 });
    await b.base({ ...files, weights: otherWeights.weights });
    expect(await refusal(b.importCheckpoint(file))).toMatchObject({ reason: 'name', message: expect.stringMatching(/same shape but other weights/) });
    const wider = finetuneBase({ width: 16 });
    await b.base({ ...files, weights: wider.weights, config: wider.config });
    expect(await refusal(b.importCheckpoint(file))).toMatchObject({ reason: 'shape', message: expect.stringMatching(/a model with a width of 32; the base held now, 'model\.safetensors', has a width of 16/) });
    // Another task's checkpoint: refused by the core with its page.
    const vae = writeSafetensors([...saved.tensors.keys()].map((n) => ({ name: n, shape: saved.tensors.get(n)!.shape, data: decodeTensor(saved, n) })), { ...saved.metadata, task: 'vae' });
    expect(await refusal(s.importCheckpoint(vae))).toMatchObject({ message: 'This is a VAE checkpoint, and this page trains a pretrained GPT-2 on your text: load it on the VAE page.' });
    expect((await s.info()).step).toBe(80);

    // Over the same base, with the text: the same step and the same logits.
    await b.base(files);
    await b.create({ ...run, strategy: { kind: 'partial', lastBlocks: 1, head: false }, sampleLength: 0 });
    const loaded = await b.importCheckpoint(file);
    expect(loaded).toMatchObject({ step: 80, config: { strategy: lora } });
    expect(await logitsOf(engine, runOf(b).finetune.model)).toEqual(tuned);
    await b.dispose();
  });

  it('trains only the last block and ln_f under a partial strategy: every other weight keeps its pretrained value bit for bit', async () => {
    const engine = await testEngine();
    const s = await session(engine);
    await s.base(files);
    const info = await s.create({ ...run, strategy: { kind: 'partial', lastBlocks: 1, head: false }, evalEvery: 0, sampleEvery: 0, sampleLength: 0 });
    await s.step(10);
    const r = runOf(s);
    const trained = new Set(r.finetune.trainable);
    expect([...trained].every((p) => /^transformer\.(h\.1\.|ln_f\.)/.test(p.label))).toBe(true);
    expect(info.trainableParameters).toBe([...trained].reduce((a, p) => a + p.size, 0));
    for (const p of r.finetune.model.params) {
      const want = Float32Array.from(base.canonical.get(p.label.slice('transformer.'.length))!.data);
      const got = await engine.readParameter(p);
      if (trained.has(p)) expect(maxDiff(got, want), p.label).toBeGreaterThan(0);
      else expect(got, p.label).toEqual(want);
    }
    expect(await refusal(s.exportAdapters())).toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/Only a LoRA fine-tune has adapters/) });
  });

  it("refuses a strategy past the device's memory, saying which would fit", async () => {
    const engine = await testEngine();
    const s = await session(engine);
    const full = (await s.base(files)).strategies[0].memory;
    engine.memoryBudget = full.total - 1;
    try {
      const summary = await s.base(files);
      expect(summary.strategies.map((x) => x.fits)).toEqual([false, true, true, true]);
      expect(summary.strategies[0].why).toMatch(/needs 0\.\d MB of weights, gradients and optimizer state; the memory budget is 0\.\d MB\. the last block and ln_f or LoRA rank 8 on c_attn would fit\./);
      const r = await refusal(s.create({ ...run, strategy: { kind: 'full' } }));
      expect(r.name).toBe('DeviceLimitError');
      expect(r.message).toMatch(/LoRA rank 8 on c_attn would fit/);
      expect((await s.info()).state).toBe('empty');
    } finally {
      engine.memoryBudget = undefined;
    }
  });
});
