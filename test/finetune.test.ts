// Pretrained GPT-2 weights in, fine-tuned weights out: importing the layouts and dtypes that
// pretrained files come in (checked against a plain float64 GPT-2), every bad file refused
// before anything is written, the strategies' trained and frozen weights and their memory, LoRA
// starting as the identity, its gradients against finite differences, and its two exports (merged
// into GPT-2's own layout; adapters alone in PEFT's) loading back to the same logits.

import { describe, expect, it } from 'vitest';
import { bytesSource } from '../src/checkpoint/source.js';
import { mulberry32 } from '../src/data/random.js';
import type { Engine } from '../src/engine.js';
import { CheckpointError, ConfigError, DeviceLimitError } from '../src/errors.js';
import { createGpt, createGptTrainer, gptForward, type Gpt } from '../src/models/gpt.js';
import {
  checkFinetuneFits, exportAdapters, exportMerged, finetuneMemory, loadAdapters, prepareFinetune, type FinetuneStrategy,
} from '../src/models/gpt-finetune.js';
import { openGpt2 } from '../src/models/gpt2-import.js';
import { gradients } from '../src/autograd.js';
import { input, type Tensor } from '../src/tensor.js';
import { evalCpu } from './support/cpugraph.js';
import { testEngine } from './support/engine.js';
import { gpt2Files, gpt2Reference, writeTensors, type Gpt2FileOptions, type Gpt2Shape } from './support/gpt2-checkpoint.js';

const shape: Gpt2Shape = { vocabSize: 37, nPositions: 16, nLayer: 2, nHead: 2, nEmbd: 16 };
const ids = Array.from({ length: 11 }, (_, i) => (i * 7 + 3) % shape.vocabSize);

async function logitsOf(engine: Engine, model: Gpt, tokens = ids): Promise<Float32Array> {
  const idx = input('idx', [1, tokens.length], 'i32');
  const [out] = await engine.run([gptForward(model, idx).logits], { idx: Int32Array.from(tokens) });
  return out as Float32Array;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** A model built from a checkpoint's config, its weights loaded. */
async function imported(engine: Engine, weights: Uint8Array, config: unknown): Promise<Gpt> {
  const ckpt = await openGpt2(bytesSource(weights), config);
  const model = createGpt(ckpt.config);
  await ckpt.load(engine, model);
  return model;
}

/** The message and reason of what `p` rejects with. */
async function refusal(p: Promise<unknown>): Promise<{ message: string; reason?: string; name: string }> {
  try {
    await p;
  } catch (e) {
    return { message: (e as Error).message, reason: (e as CheckpointError).reason, name: (e as Error).constructor.name };
  }
  throw new Error('expected a rejection');
}

describe('importing GPT-2 weights', () => {
  const cases = [
    { what: "Hugging Face's layout, F32, mask buffers, no prefix", o: {} },
    { what: 'the "transformer." prefix, F16, a tied lm_head', o: { prefix: 'transformer.', dtype: 'F16', lmHead: 'tied' } },
    { what: 'BF16', o: { dtype: 'BF16' } },
    { what: "nanoGPT's layout (nn.Linear weights), without biases", o: { layout: 'linear', bias: false, prefix: 'transformer.' } },
  ] as const;
  for (const { what, o } of cases as readonly { what: string; o: Gpt2FileOptions }[]) {
    it(`reads ${what}, and computes GPT-2's logits`, async () => {
      const engine = await testEngine();
      const files = gpt2Files(shape, { seed: 5, ...o });
      const ckpt = await openGpt2(bytesSource(files.weights), files.config);
      expect(ckpt.layout).toBe(o.layout ?? 'conv1d');
      expect(ckpt.dtypes).toEqual([o.dtype ?? 'F32']);
      expect(ckpt.config.bias).toBe(o.bias ?? true);
      const model = createGpt(ckpt.config);
      await ckpt.load(engine, model);
      const want = gpt2Reference(shape, files.canonical, ids);
      const got = await logitsOf(engine, model);
      const scale = maxDiff(want, new Float64Array(want.length));
      console.log(`${what}: max |logit - reference| ${maxDiff(got, want).toExponential(2)} (logits up to ${scale.toFixed(2)})`);
      expect(maxDiff(got, want)).toBeLessThan(1e-5 * Math.max(1, scale));
    });
  }

  it('refuses every bad file with the tensor, the shape found and the shape expected, before writing anything', async () => {
    const good = gpt2Files(shape);
    const open = (weights: Uint8Array, config: unknown = good.config) => openGpt2(bytesSource(weights), config);
    const entries = (edit: (name: string, shape: number[]) => number[] | null) => {
      const out: { name: string; shape: number[]; data: Float64Array }[] = [];
      for (const [name, t] of good.canonical) {
        const s = edit(name, t.shape);
        if (s) out.push({ name, shape: s, data: new Float64Array(s.reduce((a, b) => a * b, 1)) });
      }
      return out;
    };

    let r = await refusal(open(writeTensors(entries((n, s) => (n === 'h.1.mlp.c_fc.weight' ? null : s)), 'F32')));
    expect(r.message).toMatch(/'h\.1\.mlp\.c_fc\.weight' is missing \(expected shape \[16, 64\]\)/);
    expect(r.reason).toBe('missing');

    r = await refusal(open(writeTensors(entries((n, s) => (n === 'h.0.attn.c_proj.weight' ? [16, 17] : s)), 'F32')));
    expect(r.message).toMatch(/'h\.0\.attn\.c_proj\.weight' has shape \[16, 17\]; the config says \[16, 16\]/);

    r = await refusal(open(good.weights, { ...good.config, n_head: 3 }));
    expect(r.name).toBe('ConfigError');
    expect(r.message).toMatch(/nEmbd 16 is not a multiple of nHead 3/);

    r = await refusal(open(good.weights, { ...good.config, n_embd: 32 }));
    expect(r.message).toMatch(/'wte\.weight' has shape \[37, 16\]; the config says \[37, 32\]/);

    r = await refusal(open(writeTensors([{ name: 'encoder.weight', shape: [2], data: [1, 2] }], 'F32')));
    expect(r.message).toMatch(/not a GPT-2 checkpoint/);

    r = await refusal(open(writeTensors([...entries((_, s) => s), { name: 'score.weight', shape: [2, 16], data: new Float64Array(32) }], 'F32')));
    expect(r.message).toMatch(/'score\.weight' is not a weight of a GPT-2 language model/);
    expect(r.reason).toBe('unexpected');

    r = await refusal(open(writeTensors(entries((_, s) => s), 'I32')));
    expect(r.message).toMatch(/is I32; weights must be one of F32, F16, BF16/);

    r = await refusal(open(good.weights.subarray(0, good.weights.length - 10)));
    expect(r.name).toBe('CheckpointError');

    r = await refusal(open(good.weights, { ...good.config, model_type: 'llama' }));
    expect(r.message).toMatch(/describes a 'llama' model; only GPT-2-family models/);

    r = await refusal(open(good.weights, { ...good.config, activation_function: 'relu' }));
    expect(r.message).toMatch(/activation_function 'relu' is not computed here/);

    // nanoGPT's own keys, with no activation: its exact GELU is not GPT-2's, and the message says so.
    const { n_positions: _, n_ctx: __, activation_function: ___, ...rest } = good.config as Record<string, unknown>;
    r = await refusal(open(good.weights, { ...rest, block_size: 16 }));
    expect(r.message).toMatch(/nanoGPT model's MLP uses the exact \(erf\) GELU/);
    await expect(open(good.weights, { ...rest, block_size: 16, activation_function: 'gelu_new' })).resolves.toMatchObject({ layout: 'conv1d' });

    r = await refusal(open(good.weights, 'not an object'));
    expect(r.message).toMatch(/config\.json must be a JSON object/);

    // An untied head is found before the first weight is written: the model keeps its values.
    const engine = await testEngine();
    const untied = gpt2Files(shape, { lmHead: 'untied' });
    const ckpt = await open(untied.weights, untied.config);
    const model = createGpt(ckpt.config);
    const before = await engine.readParameter(model.wte);
    r = await refusal(ckpt.load(engine, model));
    expect(r.message).toMatch(/'lm_head\.weight' differs from the token embedding/);
    expect(await engine.readParameter(model.wte)).toEqual(before);
  });
});

/** A pretrained-looking model and its data: a fixed random text of the small vocabulary. */
async function pretrained(engine: Engine, strategy: FinetuneStrategy, of = shape) {
  const files = gpt2Files(of, { seed: 11 });
  const ckpt = await openGpt2(bytesSource(files.weights), files.config);
  const model = createGpt({ ...ckpt.config, seed: 4 });
  const ft = prepareFinetune(model, strategy);
  // The optimizer places the trained weights first; the checkpoint's values are written after.
  const trainer = await createGptTrainer(engine, model, { batch: 2, block: 8, trainable: ft.trainable, optimizer: { lr: 1e-2, weightDecay: 0 } });
  await ckpt.load(engine, model);
  const rand = mulberry32(3);
  const batch = () => {
    const x = Int32Array.from({ length: 16 }, () => Math.floor(rand() * 8));
    return { x, y: x.map((v) => (v + 1) % 8) };
  };
  return { files, model, ft, trainer, batch };
}

const lora: FinetuneStrategy = { kind: 'lora', targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rank: 4, alpha: 8, dropout: 0 };

describe('fine-tuning strategies', () => {
  it('trains only what a strategy names: the rest keeps its loaded values bit for bit', async () => {
    for (const strategy of [{ kind: 'partial', lastBlocks: 1, head: false }, lora] as FinetuneStrategy[]) {
      const engine = await testEngine();
      const { ft, trainer, batch } = await pretrained(engine, strategy);
      const frozen = await Promise.all(ft.frozen.map((p) => engine.readParameter(p)));
      const trained = await Promise.all(ft.trainable.map((p) => engine.readParameter(p)));
      const first = (await trainer.step(batch()))!.loss;
      let last = first;
      for (let i = 0; i < 15; i++) last = (await trainer.step(batch()))!.loss;
      console.log(`${strategy.kind}: ${ft.trainable.length} tensors trained, ${ft.frozen.length} frozen; loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
      expect(last).toBeLessThan(first);
      for (const [i, p] of ft.frozen.entries()) expect(await engine.readParameter(p), p.label).toEqual(frozen[i]);
      const moved = await Promise.all(ft.trainable.map(async (p, i) => maxDiff(await engine.readParameter(p), trained[i]) > 0));
      expect(moved.every(Boolean)).toBe(true);
      if (strategy.kind === 'partial') expect(ft.trainable.map((p) => p.label).every((n) => /h\.1\.|ln_f/.test(n))).toBe(true);
      trainer.dispose();
    }
  });

  it("counts each strategy's memory, and the device holds what it counts: frozen weights get no gradient or optimizer state", async () => {
    // Wide enough that the weights, not a step's activations, are most of the memory.
    const wide: Gpt2Shape = { ...shape, nEmbd: 64 };
    const config = createGpt({ vocabSize: 37, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 64 }).config;
    const strategies: FinetuneStrategy[] = [{ kind: 'full' }, { kind: 'partial', lastBlocks: 1, head: false }, lora];
    const counted = strategies.map((s) => finetuneMemory(config, s));
    for (const m of counted) {
      expect(m.gradients).toBe(4 * m.trainableParameters);
      expect(m.optimizerState).toBe(8 * m.trainableParameters);
    }
    const [full, part, lo] = counted;
    expect(full.weights).toBe(part.weights);
    expect(lo.trainableParameters).toBe(2 * 4 * ((64 + 192) + (64 + 64) + (64 + 256) + (256 + 64)));
    expect(lo.total).toBeLessThan(part.total);
    expect(part.total).toBeLessThan(full.total);

    // Measured: what the pool holds once the trainer is made and the weights loaded.
    const measured: number[] = [];
    for (const s of strategies) {
      const engine = await testEngine();
      const before = engine.pool.bytesInUse;
      const { trainer } = await pretrained(engine, s, wide);
      measured.push(engine.pool.bytesInUse - before);
      trainer.dispose();
    }
    console.log(`bytes on the device: full ${measured[0]}, last block ${measured[1]}, LoRA ${measured[2]}; counted without activations ${full.total}, ${part.total}, ${lo.total}`);
    measured.forEach((m, i) => expect(m).toBeGreaterThanOrEqual(counted[i].total));
    expect(measured[1]).toBeLessThan(measured[0]);
    expect(measured[2]).toBeLessThan(measured[1]);
  });

  it('refuses a strategy the device cannot hold, and names what would fit', () => {
    const config = createGpt({ vocabSize: 37, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 }).config;
    const full = finetuneMemory(config, { kind: 'full' });
    const limits = { maxStorageBufferBindingSize: full.largestBuffer - 4, maxBufferSize: 2 ** 30 };
    expect(() => checkFinetuneFits(limits, config, { kind: 'full' })).toThrow(DeviceLimitError);
    expect(() => checkFinetuneFits(limits, config, { kind: 'full' })).toThrow(/this device's largest is .* the last block and ln_f or LoRA rank 8 on c_attn would fit/);
    expect(checkFinetuneFits(limits, config, lora).total).toBe(finetuneMemory(config, lora).total);
    expect(() => checkFinetuneFits({ maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 }, config, { kind: 'full' }, full.total - 1)).toThrow(/the memory budget is/);
    expect(() => prepareFinetune(createGpt(config), { ...lora, rank: 0 } as FinetuneStrategy)).toThrow(ConfigError);
  });
});

describe('LoRA', () => {
  it('starts as the identity: the adapted model computes the base model\'s logits exactly', async () => {
    const engine = await testEngine();
    const files = gpt2Files(shape, { seed: 2 });
    const base = await imported(engine, files.weights, files.config);
    const adapted = await imported(engine, files.weights, files.config);
    prepareFinetune(adapted, lora);
    expect(await logitsOf(engine, adapted)).toEqual(await logitsOf(engine, base));
  });

  it('has gradients for A and B that match finite differences', () => {
    const model = createGpt({ vocabSize: 7, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 8, seed: 3 });
    const ft = prepareFinetune(model, { ...lora, rank: 2, alpha: 3 });
    const rand = mulberry32(21);
    const values = new Map<Tensor, Float64Array>();
    // Every weight random, B included (at B = 0 the gradient of A is zero and checks nothing).
    for (const p of [...model.params, ...ft.trainable]) values.set(p, Float64Array.from({ length: p.size }, () => (rand() - 0.5) * 0.6));
    const B = 2, T = 5;
    const idx = input('idx', [B, T], 'i32');
    const targets = input('targets', [B, T], 'i32');
    const loss = gptForward(model, idx, { targets }).loss!;
    const grads = gradients([loss], ft.trainable);
    const feeds = { idx: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 7)), targets: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 7)) };
    const [, ...g] = evalCpu([loss, ...grads], feeds, values);
    const lossAt = (p: Tensor, i: number, v: number) => {
      const vals = new Map(values);
      const d = values.get(p)!.slice();
      d[i] = v;
      vals.set(p, d);
      return evalCpu([loss], feeds, vals)[0].data[0];
    };
    const h = 1e-5;
    ft.trainable.forEach((p, k) => {
      for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
        const x0 = values.get(p)![i];
        const fd = (lossAt(p, i, x0 + h) - lossAt(p, i, x0 - h)) / (2 * h);
        expect(Math.abs(fd - g[k].data[i]), `${p.label}[${i}]`).toBeLessThan(1e-6 + 1e-4 * Math.abs(g[k].data[i]));
      }
    });
  });

  it('exports merged weights that load into the base architecture, and adapters that load back onto their base, with the same logits', async () => {
    const engine = await testEngine();
    const { files, model, ft, trainer, batch } = await pretrained(engine, lora);
    for (let i = 0; i < 10; i++) await trainer.step(batch(), false);
    const adaptedLogits = await logitsOf(engine, model);
    expect(maxDiff(adaptedLogits, gpt2Reference(shape, files.canonical, ids))).toBeGreaterThan(1e-3); // it learned something

    // Merged: GPT-2's own names and layout, with its config.json; no adapter code needed.
    const merged = await exportMerged(engine, model);
    const plain = await imported(engine, merged.weights, JSON.parse(merged.config));
    expect(maxDiff(await logitsOf(engine, plain), adaptedLogits)).toBeLessThan(2e-5 * Math.max(1, maxDiff(adaptedLogits, new Float32Array(adaptedLogits.length))));

    // Adapters only: PEFT's names, small, onto a fresh copy of the base.
    const adapters = await exportAdapters(engine, ft);
    const config = JSON.parse(adapters.config);
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], fan_in_fan_out: true });
    expect(adapters.weights.length).toBeLessThan(files.weights.length / 2);
    const again = await imported(engine, files.weights, files.config);
    const ft2 = prepareFinetune(again, lora);
    await loadAdapters(engine, ft2, adapters.weights);
    expect(await logitsOf(engine, again)).toEqual(adaptedLogits);

    // Adapters of another rank are refused before anything is written.
    const other = await imported(engine, files.weights, files.config);
    const ft3 = prepareFinetune(other, { ...lora, rank: 2 });
    const r = await refusal(loadAdapters(engine, ft3, adapters.weights));
    expect(r.message).toMatch(/lora_A\.weight' has shape \[4, 16\]; this model's adapter is \[2, 16\]/);
    expect(maxDiff(await logitsOf(engine, other), gpt2Reference(shape, files.canonical, ids))).toBeLessThan(2e-3); // still the base
    trainer.dispose();
  });
});
