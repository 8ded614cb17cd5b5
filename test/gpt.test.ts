// The character GPT: parameter counts and names, forward shapes and the loss at initialisation,
// the compiled training step's gradients against the float64 CPU graph and finite differences,
// learning on the generated corpus (beating the unigram baseline), and sampling.

import { describe, expect, it } from 'vitest';
import {
  BatchSampler, CharTokenizer, compileGptEval, compileGptLogits, createGpt, createGptTrainer, dropoutSeedFor,
  evalBatches, generateCorpus, gptConfig, gptForward, gptParameterCount, gptPresets, input, pickToken, sampleText,
  scoreArithmetic, splitTrainVal, unigramLoss, gptStateDict, saveCheckpoint, loadCheckpoint, parseSafetensors,
  type GptConfig, type Tensor,
} from '../src/index.js';
import { gradients } from '../src/autograd.js';
import { mulberry32 } from '../src/data/random.js';
import { evalCpu } from './support/cpugraph.js';
import { testEngine } from './support/engine.js';

describe('GPT configuration', () => {
  it('counts parameters as documented for every preset, and as the built model holds them', () => {
    const documented = { tiny: 106_304, mini: 413_312, base: 3_208_960, small: 10_770_816 };
    for (const [name, count] of Object.entries(documented)) {
      const config = gptConfig({ preset: name as keyof typeof gptPresets, vocabSize: 65 });
      expect(gptParameterCount(config)).toBe(count);
    }
    // nanoGPT's shakespeare_char model (no biases) reports 10.65M without position embeddings.
    const noBias = gptConfig({ preset: 'small', vocabSize: 65, bias: false });
    expect(gptParameterCount(noBias) - 256 * 384).toBe(10_646_784);
    for (const c of [gptConfig({ preset: 'mini' }), gptConfig({ vocabSize: 11, nLayer: 3, bias: false })]) {
      const model = createGpt(c);
      expect(model.params.reduce((n, p) => n + p.size, 0)).toBe(gptParameterCount(c));
    }
  });

  it('names parameters as GPT-2 does, each once', () => {
    const model = createGpt({ vocabSize: 13, nLayer: 2, nEmbd: 16, nHead: 2, blockSize: 8 });
    const names = model.params.map((p) => p.label);
    expect(new Set(names).size).toBe(names.length);
    const shapes = new Map(model.params.map((p) => [p.label, p.shape]));
    expect(shapes.get('transformer.wte.weight')).toEqual([13, 16]);
    expect(shapes.get('transformer.wpe.weight')).toEqual([8, 16]);
    expect(shapes.get('transformer.h.0.ln_1.weight')).toEqual([16]);
    expect(shapes.get('transformer.h.1.attn.c_attn.weight')).toEqual([16, 48]);
    expect(shapes.get('transformer.h.1.attn.c_proj.bias')).toEqual([16]);
    expect(shapes.get('transformer.h.0.mlp.c_fc.weight')).toEqual([16, 64]);
    expect(shapes.get('transformer.h.0.mlp.c_proj.weight')).toEqual([64, 16]);
    expect(shapes.get('transformer.ln_f.bias')).toEqual([16]);
    expect(names.some((n) => n.includes('lm_head'))).toBe(false); // tied to wte
  });

  it('refuses inconsistent configs and over-long contexts', () => {
    expect(() => gptConfig({ nEmbd: 30, nHead: 4 })).toThrow(/multiple of nHead/);
    expect(() => gptConfig({ nEmbd: 256, nHead: 2 })).toThrow(/head size/);
    expect(() => gptConfig({ dropout: 1 })).toThrow(/dropout/);
    expect(() => gptConfig({ nEmbd: 36, nHead: 4, precision: 'mixed' })).toThrow(/mixed precision needs an even head size.*nHead or use 'f32'/);
    const model = createGpt({ blockSize: 8 });
    expect(() => gptForward(model, input('idx', [1, 9], 'i32'))).toThrow(/blockSize 8/);
  });
});

describe('GPT forward and training step', () => {
  it('gives (B, T, V) logits and a loss near ln V at initialisation', async () => {
    const engine = await testEngine();
    const model = createGpt({ vocabSize: 65, seed: 7 });
    const B = 2, T = model.config.blockSize;
    const idx = input('idx', [B, T], 'i32');
    const targets = input('targets', [B, T], 'i32');
    const { logits, loss } = gptForward(model, idx, { targets });
    expect(logits.shape).toEqual([B, T, 65]);
    expect(loss!.shape).toEqual([]);
    const rand = mulberry32(1);
    const ids = () => Int32Array.from({ length: B * T }, () => Math.floor(rand() * 65));
    const [l] = await engine.run([loss!], { idx: ids(), targets: ids() });
    console.log(`loss at init ${l[0].toFixed(4)}, ln 65 = ${Math.log(65).toFixed(4)}`);
    expect(Math.abs(l[0] - Math.log(65))).toBeLessThan(0.05);
  });

  it('computes the gradients of the float64 graph, which match finite differences, dropout included', async () => {
    const engine = await testEngine();
    const model = createGpt({ vocabSize: 7, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0.2, seed: 3 });
    const B = 2, T = 5;
    const lr = 1e-3, wd = 0.1;
    const trainer = await createGptTrainer(engine, model, { batch: B, block: T, optimizer: { lr, weightDecay: wd, maxGradNorm: 0 } });
    const params = model.params;
    const before = new Map<Tensor, Float64Array>();
    for (const p of params) before.set(p, Float64Array.from(await engine.readParameter(p)));

    // The same graph the trainer compiled, evaluated by the ops' CPU references in float64.
    const idx = input('idx', [B, T], 'i32');
    const targets = input('targets', [B, T], 'i32');
    const dropoutSeed = input('dropoutSeed', [], 'i32');
    const loss = gptForward(model, idx, { targets, dropoutSeed }).loss!;
    const grads = gradients([loss], params);
    const rand = mulberry32(9);
    const batch = {
      x: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 7)),
      y: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 7)),
    };
    const feeds = { idx: batch.x, targets: batch.y, dropoutSeed: [dropoutSeedFor(3, 0)] };
    const [cpuLoss, ...cpuGrads] = evalCpu([loss, ...grads], feeds, before);

    // Central differences of the CPU loss, at a few coordinates of every parameter.
    const lossAt = (p: Tensor, i: number, v: number) => {
      const vals = new Map(before);
      const d = before.get(p)!.slice();
      d[i] = v;
      vals.set(p, d);
      return evalCpu([loss], feeds, vals)[0].data[0];
    };
    const h = 1e-5;
    let worst = 0;
    params.forEach((p, k) => {
      for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
        const x0 = before.get(p)![i];
        const fd = (lossAt(p, i, x0 + h) - lossAt(p, i, x0 - h)) / (2 * h);
        const g = cpuGrads[k].data[i];
        worst = Math.max(worst, Math.abs(fd - g) / (1e-4 + Math.abs(g)));
        expect(Math.abs(fd - g), `${p.label}[${i}]`).toBeLessThan(1e-6 + 1e-4 * Math.abs(g));
      }
    });

    // The compiled step on the GPU: same loss, same global gradient norm, and an AdamW update
    // that, at step 1, moves each weight by lr * (sign(g) + decay * w).
    const r = (await trainer.step(batch))!;
    let sq = 0;
    for (const g of cpuGrads) for (const v of g.data) sq += v * v;
    const norm = Math.sqrt(sq);
    console.log(`loss gpu ${r.loss} cpu ${cpuLoss.data[0]}; grad norm gpu ${r.gradNorm} cpu ${norm}; worst fd rel ${worst.toExponential(2)}`);
    expect(Math.abs(r.loss - cpuLoss.data[0])).toBeLessThan(1e-5);
    expect(Math.abs(r.gradNorm - norm)).toBeLessThan(1e-4 * norm);
    let checked = 0;
    for (let k = 0; k < params.length; k++) {
      const p = params[k];
      const after = await engine.readParameter(p);
      const w0 = before.get(p)!;
      const decay = p.rank >= 2 ? wd : 0;
      for (let i = 0; i < p.size; i++) {
        const g = cpuGrads[k].data[i];
        if (Math.abs(g) < 1e-4) continue; // Adam's eps makes tiny gradients' steps smaller
        const want = w0[i] - lr * (Math.sign(g) + decay * w0[i]);
        expect(Math.abs(after[i] - want), `${p.label}[${i}]`).toBeLessThan(2e-5 * lr + 1e-7);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(params.reduce((n, p) => n + p.size, 0) / 2);
    trainer.dispose();
  });

  it('drops differently at every step and not at all when evaluating', async () => {
    const engine = await testEngine();
    const model = createGpt({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0.3, seed: 5 });
    const trainer = await createGptTrainer(engine, model, { batch: 2, optimizer: { lr: 0, weightDecay: 0 } });
    const evaluator = await compileGptEval(engine, model, 2);
    const rand = mulberry32(2);
    const ids = () => Int32Array.from({ length: 16 }, () => Math.floor(rand() * 11));
    const batch = { x: ids(), y: ids() };
    const losses = [];
    for (let s = 0; s < 3; s++) losses.push((await trainer.step(batch))!.loss);
    const e1 = await evaluator.loss([batch]);
    const e2 = await evaluator.loss([batch]);
    expect(new Set(losses).size).toBe(3);
    expect(e1).toBe(e2);
    trainer.dispose();
    evaluator.dispose();
  });
});

describe('GPT on the generated corpus', () => {
  it('the tiny preset beats the unigram baseline by 0.5 nats within 60 steps, and samples', async () => {
    const engine = await testEngine();
    const text = generateCorpus({ seed: 1, lines: 3000 });
    const tok = CharTokenizer.fromText(text);
    const { train, val } = splitTrainVal(tok.encode(text), 0.1);
    const baseline = unigramLoss(val, val, tok.vocabSize);
    const model = createGpt({ preset: 'tiny', vocabSize: tok.vocabSize, seed: 1 });
    const T = model.config.blockSize;
    const B = 8;
    const trainer = await createGptTrainer(engine, model, { batch: B, optimizer: { lr: 5e-3, weightDecay: 0.01 } });
    const evaluator = await compileGptEval(engine, model, B);
    const valBatches = evalBatches(val, B, T).slice(0, 2); // 512 validation tokens
    const sampler = new BatchSampler(train, { batch: B, block: T, seed: 1 });
    const t0 = performance.now();
    const initLoss = await evaluator.loss(valBatches);
    let valLoss = initLoss;
    let steps = 0;
    const limit = 60;
    while (steps < limit && !(valLoss < baseline - 0.5)) {
      for (let s = 0; s < 10; s++, steps++) await trainer.step(sampler.next(), false);
      valLoss = await evaluator.loss(valBatches);
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `tiny preset (${model.params.reduce((n, p) => n + p.size, 0)} params, vocab ${tok.vocabSize}): val loss ` +
        `${initLoss.toFixed(3)} -> ${valLoss.toFixed(3)} after ${steps} steps (B ${B}, T ${T}) in ${seconds.toFixed(1)} s; ` +
        `unigram ${baseline.toFixed(3)}`,
    );
    expect(valLoss).toBeLessThan(baseline - 0.5);

    // Sampling: the right length, vocabulary characters only, deterministic near temperature 0.
    const logits = await compileGptLogits(engine, model);
    const sample = await sampleText(logits, T, tok, '\n', { maxNewTokens: 40, temperature: 0.8, topK: 10, seed: 1 });
    console.log(`sample: ${JSON.stringify(sample)}; arithmetic ${JSON.stringify(scoreArithmetic(sample))}`);
    expect(Array.from(sample).length).toBe(40);
    expect(tok.covers(sample)).toBe(true);
    const cold = (seed: number) => sampleText(logits, T, tok, 'Ada had', { maxNewTokens: 12, temperature: 1e-4, seed });
    expect(await cold(1)).toBe(await cold(2));
    // A prompt longer than the context is cropped to its last T characters.
    const long = text.slice(0, T + 9);
    const greedy = (prompt: string) => sampleText(logits, T, tok, prompt, { maxNewTokens: 3, temperature: 0 });
    expect(await greedy(long)).toBe(await greedy(long.slice(-T)));
    logits.dispose();
    trainer.dispose();
    evaluator.dispose();
  });
});

describe('GPT checkpoints', () => {
  it('saves parameters under GPT-2 names with the config and tokenizer, and restores them into a new model', async () => {
    const engine = await testEngine();
    const tok = CharTokenizer.fromText(generateCorpus({ seed: 2, lines: 50 }));
    const a = createGpt({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, seed: 1 });
    const bytes = await saveCheckpoint(engine, { params: gptStateDict(a), config: { gpt: a.config, tokenizer: tok.toJSON() } });
    const saved = parseSafetensors(bytes);
    expect(saved.tensors.get('transformer.h.0.attn.c_attn.weight')?.shape).toEqual([16, 48]);

    const meta = JSON.parse(saved.metadata['config']) as { gpt: GptConfig; tokenizer: unknown };
    const tok2 = CharTokenizer.fromJSON(meta.tokenizer);
    const b = createGpt({ ...meta.gpt, seed: 2 });
    await loadCheckpoint(engine, bytes, { params: gptStateDict(b) });
    expect(tok2.vocab).toEqual(tok.vocab);
    for (let i = 0; i < a.params.length; i++) {
      expect(Array.from(await engine.readParameter(b.params[i]))).toEqual(Array.from(await engine.readParameter(a.params[i])));
    }
    const batch = { x: tok.encode('Ada had '), y: tok.encode('da had a') };
    const [ea, eb] = [await compileGptEval(engine, a, 1), await compileGptEval(engine, b, 1)];
    expect(await eb.loss([batch])).toBe(await ea.loss([batch]));
    ea.dispose();
    eb.dispose();
  });
});

describe('token choice', () => {
  it('is the argmax at temperature 0 or top-k 1, and stays within the top k', () => {
    const logits = Float32Array.from([0.1, 2, -1, 1.9, 0.5]);
    const rand = mulberry32(4);
    expect(pickToken(logits, 0, 0, rand)).toBe(1);
    for (let i = 0; i < 20; i++) expect(pickToken(logits, 5, 1, rand)).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(pickToken(logits, 10, 2, rand));
    expect([...seen].sort()).toEqual([1, 3]);
    // Without top-k at a high temperature every token turns up; frequencies follow the softmax.
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 20000; i++) counts[pickToken(logits, 1, 0, rand)]++;
    const z = Array.from(logits).reduce((s, v) => s + Math.exp(v), 0);
    counts.forEach((c, i) => expect(Math.abs(c / 20000 - Math.exp(logits[i]) / z)).toBeLessThan(0.015));
  });
});
