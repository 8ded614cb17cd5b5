// The worker's trainer core, run directly in Node on the tiny preset: create/step/start/pause,
// metrics order and throttling, periodic evaluation, samples and autosaves, hyperparameters
// taking effect at the next step, checkpoints that continue a run bit for bit and refuse a model
// they do not fit, recovery from a lost device through the latest autosave with the same losses,
// the non-finite policy (stop naming the op, or skip and count), mixed precision (losses close to
// f32's, the loss scaler in status and metrics, its config through checkpoints and autosaves, a
// checkpoint of the other precision loaded with the loader's own loss scale, f16 overflow told
// apart from divergence),
// GPU memory returned on reset and dispose, typed errors for unusable text, the
// comlink API over a MessagePort (typed errors, proxied listeners), and the attention map (rows
// of a softmax, causal, equal to a host computation from the parameters).
// Not here: the real Web Worker in a browser (test/transformer-demo.test.ts drives it).

import { describe, expect, it, vi } from 'vitest';
import {
  CheckpointError, ConfigError, DataError, InputError, createEngine, decodeTensor, parseSafetensors, writeSafetensors, type Engine,
} from '../src/index.js';
import { Trainer } from '../src/tasks/gpt/session.js';
import { stepOutcome } from '../src/tasks/gpt/run.js';
import { memoryAutosave } from '../src/worker/autosave.js';
import { createTrainerClient } from '../src/tasks/gpt/client.js';
import { exposeTrainer } from '../src/tasks/gpt/worker.js';
import type { Endpoint } from 'comlink';
import { fromWireError, toWireError } from '../src/worker/wire.js';
import type { MetricsEvent, TrainerConfig, TrainerEvent } from '../src/tasks/gpt/protocol.js';
import type { StepRecord } from '../src/metrics.js';
import { testEngine } from './support/engine.js';
import { collectGarbage, STRAY_BYTES } from './support/memory.js';
import { expectResumedFromLastAutosave, steppedPastRecovery } from './support/recovery.js';

/** Small and fast on SwiftShader: no periodic work unless a test asks for it. */
const base: Partial<TrainerConfig> = {
  preset: 'tiny',
  batch: 2,
  lr: 3e-3,
  warmup: 0,
  schedule: 'constant',
  data: { kind: 'builtin', lines: 400 },
  evalEvery: 0,
  sampleEvery: 0,
  autosaveEvery: 0,
  metricsIntervalMs: 0,
};

async function trainer(engine: Engine, config: Partial<TrainerConfig> = {}): Promise<Trainer> {
  const t = new Trainer({ engine, autosave: memoryAutosave() });
  await t.create({ ...base, ...config });
  return t;
}

/** Every step record a trainer publishes, and the metrics events themselves with their times. */
async function recorder(t: Trainer) {
  const steps: StepRecord[] = [];
  const events: { at: number; e: MetricsEvent }[] = [];
  const all: TrainerEvent[] = [];
  await t.subscribe((e) => {
    all.push(e);
    if (e.type !== 'metrics') return;
    events.push({ at: performance.now(), e });
    steps.push(...e.steps);
  });
  return { steps, events, all };
}

/** The parameters in a checkpoint, by name. */
function paramsOf(bytes: Uint8Array): Map<string, Float32Array> {
  const file = parseSafetensors(bytes);
  const out = new Map<string, Float32Array>();
  for (const name of file.tensors.keys()) if (!name.startsWith('optimizer.')) out.set(name, decodeTensor(file, name) as Float32Array);
  return out;
}

const until = async (cond: () => boolean, ms = 180_000) => {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};


describe('trainer: running', () => {
  it('creates, steps, starts and pauses', async () => {
    const engine = await testEngine();
    const t = await trainer(engine);
    const info = await t.info();
    expect(info.state).toBe('paused');
    expect(info.step).toBe(0);
    expect(info.vocabSize).toBeGreaterThan(20);
    expect(info.blockSize).toBe(32);
    const r = await t.step(2);
    expect(r.step).toBe(2);
    expect(Math.abs(r.loss - Math.log(info.vocabSize))).toBeLessThan(0.5); // near ln V at the start

    const { all } = await recorder(t);
    await t.start();
    expect((await t.info()).state).toBe('running');
    await expect(t.step(1)).rejects.toThrow(InputError);
    await until(() => all.some((e) => e.type === 'metrics' && e.steps.some((s) => s.step >= 5)));
    const paused = await t.pause();
    expect(paused.state).toBe('paused');
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.info()).step).toBe(paused.step); // nothing runs after pause resolves
    expect(all.filter((e) => e.type === 'status').map((e) => (e.type === 'status' ? e.info.state : ''))).toEqual(['running', 'paused']);
    await t.dispose();
  });

  it('delivers every step record in order, batched at most one event per interval', async () => {
    const engine = await testEngine();
    // Longer than the steps take here: the first record goes out at once, the rest wait for the interval.
    const t = await trainer(engine, { metricsIntervalMs: 4000 });
    const { steps, events } = await recorder(t);
    await t.step(4);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(steps.every((s) => Number.isFinite(s.loss) && Number.isFinite(s.gradNorm) && s.lr === 3e-3)).toBe(true);
    for (let i = 1; i < events.length; i++) expect(events[i].at - events[i - 1].at).toBeGreaterThanOrEqual(3995);
    expect(events[0].e.steps.map((s) => s.step)).toEqual([1]);
    expect(steps.length).toBe(4);
    expect(events.length).toBeLessThan(steps.length); // records were batched
    await t.dispose();
  });

  it('evaluates, samples and autosaves when due', async () => {
    const engine = await testEngine();
    const store = memoryAutosave();
    const t = new Trainer({ engine, autosave: store });
    await t.create({ ...base, evalEvery: 2, evalBatches: 2, sampleEvery: 2, sampleSeconds: 0, sampleLength: 8, autosaveEvery: 2 });
    const { all } = await recorder(t);
    await t.step(2);
    const evals = all.flatMap((e) => (e.type === 'metrics' ? e.evals : []));
    expect(evals.length).toBe(1);
    expect(evals[0].step).toBe(2);
    expect(Number.isFinite(evals[0].valLoss) && Number.isFinite(evals[0].trainLoss)).toBe(true);
    const samples = all.filter((e) => e.type === 'sample');
    expect(samples.length).toBe(1);
    expect(samples[0].type === 'sample' && [samples[0].step, Array.from(samples[0].text).length]).toEqual([2, 8]);
    expect(all.filter((e) => e.type === 'autosave').map((e) => e.type === 'autosave' && e.step)).toEqual([2]);
    expect((await store.info())?.step).toBe(2);
    expect((await t.info()).autosave).toBe('memory');
    await t.dispose();
  });

  it('takes new hyperparameters at the next step, dropout included, without losing the parameters', async () => {
    const engine = await testEngine();
    const t = await trainer(engine);
    const { steps } = await recorder(t);
    await t.step(1);
    await t.setHyper({ lr: 5e-3 });
    await t.step(1);
    expect(steps.map((s) => s.lr)).toEqual([3e-3, 5e-3]);
    // lr 0: AdamW's update and its decoupled decay both scale with lr, so nothing may move.
    await t.setHyper({ lr: 0 });
    const before = paramsOf(await t.exportCheckpoint());
    await t.step(1);
    const after = paramsOf(await t.exportCheckpoint());
    for (const [name, v] of before) expect(after.get(name), name).toEqual(v);
    // Dropout recompiles the step; parameters and step count carry over.
    await t.setHyper({ dropout: 0.2, lr: 3e-3, schedule: 'cosine', warmup: 2, totalSteps: 50 });
    for (const [name, v] of paramsOf(await t.exportCheckpoint())) expect(v, name).toEqual(before.get(name));
    const r = await t.step(2);
    expect(r.step).toBe(5);
    expect(Number.isFinite(r.loss)).toBe(true);
    // Warmup over steps 0 and 1, then cosine from 3e-3 to 0.1 of it (minLrRatio) at step 50.
    const cosine = (s: number) => 3e-4 + ((3e-3 - 3e-4) * (1 + Math.cos((Math.PI * (s - 2)) / 48))) / 2;
    steps.slice(3).forEach((r, i) => expect(r.lr).toBeCloseTo(cosine(3 + i), 12));
    await expect(t.setHyper({ dropout: 1 })).rejects.toThrow(ConfigError);
    await expect(t.setHyper({ batch: 3 } as never)).rejects.toThrow(/cannot change during a run/);
    await t.dispose();
  });
});

describe('trainer: checkpoints', () => {
  it('continues a run bit for bit after export and import into a fresh trainer, and resumes an autosave', async () => {
    const engine = await testEngine();
    const config = { dropout: 0.1, autosaveEvery: 3 };
    const store = memoryAutosave();
    const a = new Trainer({ engine, autosave: store });
    await a.create({ ...base, ...config });
    await a.step(3);
    const bytes = await a.exportCheckpoint();
    const ra = await recorder(a);
    await a.step(3);
    await a.dispose();

    const b = await trainer(engine, config);
    const info = await b.importCheckpoint(bytes);
    expect(info.step).toBe(3);
    const rb = await recorder(b);
    await b.step(3);
    expect(rb.steps.map((s) => s.loss)).toEqual(ra.steps.map((s) => s.loss));
    expect(rb.steps.map((s) => s.gradNorm)).toEqual(ra.steps.map((s) => s.gradNorm));
    await b.dispose();

    // The autosave of step 6 (the last multiple of 3), resumed by a trainer with no model yet.
    expect((await store.info())?.step).toBe(6);
    const c = new Trainer({ engine, autosave: store });
    expect((await c.hasAutosave())?.step).toBe(6);
    expect((await c.resumeAutosave()).step).toBe(6);
    await c.dispose();
  });

  it('comes back from a lost device by itself: a new device, the latest autosave, the same losses', async () => {
    const config = { autosaveEvery: 4 };
    // The reference: the same run, never interrupted.
    const ref = await trainer(await testEngine(), config);
    const rr = await recorder(ref);
    await ref.step(12);
    await ref.dispose();
    const want = new Map(rr.steps.map((s) => [s.step, s.loss]));

    // A trainer on an engine of its own, whose device is destroyed mid-run.
    const doomed = await createEngine();
    const t = new Trainer({ engine: doomed, autosave: memoryAutosave() });
    await t.create({ ...base, ...config });
    const r = await recorder(t);
    // Step `n` recorded (after the recovery, if `afterRecovery`), or an error.
    const reached = (n: number, afterRecovery = false) => new Promise<void>((resolve) => {
      const id = setInterval(() => {
        const past = afterRecovery ? steppedPastRecovery(r.all, n) : r.steps.some((s) => s.step >= n);
        if (past || r.all.some((e) => e.type === 'error')) {
          clearInterval(id);
          resolve();
        }
      }, 5);
    });
    await t.start();
    await reached(6);
    doomed.destroy();
    await reached(14, true);
    await t.pause();
    expect(r.all.filter((e) => e.type === 'error')).toEqual([]);
    // Step 4 or 8: how far the loop ran past step 6 before the destroy landed depends on the load.
    expectResumedFromLastAutosave(r.all, 4, 6);
    // The last record of each step: the ones after recovery for steps run twice.
    const got = new Map(r.steps.map((s) => [s.step, s.loss]));
    for (let step = 1; step <= 12; step++) expect(got.get(step)).toBe(want.get(step));
    await t.dispose();
  });

  it('stops at a non-finite step naming the op, with the weights as they were; or skips and counts', async () => {
    const engine = await testEngine();
    // A learning rate that overflows the weights at the first update: step 2 is NaN.
    const t = await trainer(engine, { lr: 1e30 });
    const r = await recorder(t);
    await t.start();
    await until(() => r.all.some((e) => e.type === 'error'));
    await t.pause();
    const error = r.all.find((e) => e.type === 'error') as { error: { name: string; message: string; op?: string } };
    expect(error.error.name).toBe('NonFiniteError');
    expect(error.error.op).toBe('matmul');
    expect(error.error.message).toMatch(/Step 2 gave loss NaN.*first appeared in the output of matmul.*Lower the learning rate/);
    expect((await t.info()).state).toBe('paused');
    // Every skipped update left the weights finite.
    const weights = paramsOf(await t.exportCheckpoint());
    for (const [name, w] of weights) expect(w.every(Number.isFinite), name).toBe(true);
    await t.dispose();

    const k = await trainer(engine, { lr: 1e30, nonFinite: 'skip' });
    await k.step(4);
    expect((await k.info()).skippedSteps).toBe(3);
    await k.dispose();
  });

  it('refuses a checkpoint of another vocabulary or preset, saying what differs in one line, and leaves the model as it was', async () => {
    const engine = await testEngine();
    const t = await trainer(engine);
    await t.step(1);
    const mine = await t.exportCheckpoint();

    const text = (s: string) => ({ kind: 'text' as const, bytes: new TextEncoder().encode(s.repeat(40)) });
    const abc = await trainer(engine, { data: text('abcab cabba ') });
    const otherBytes = await abc.exportCheckpoint();
    await abc.dispose();
    // Same vocabulary size, other characters: the shapes fit, the tokenizer in the metadata does not.
    const abd = await trainer(engine, { data: text('abdab dabba ') });
    const abdBefore = await abd.exportCheckpoint();
    const vocabErr = await abd.importCheckpoint(otherBytes).catch((e) => e);
    expect(vocabErr).toBeInstanceOf(CheckpointError);
    expect([vocabErr.reason, vocabErr.message]).toEqual(['metadata', expect.stringMatching(/vocabulary differs.*" abc" vs " abd"/)]);
    expect(await abd.exportCheckpoint()).toEqual(abdBefore);
    await abd.dispose();

    const err = await t.importCheckpoint(otherBytes).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.reason).toBe('shape');
    expect(err.message).toMatch(/^This transformer checkpoint was trained on another text: its vocabulary has 4 characters, this model's \d+\. Build the model on that text first/);

    const mini = await trainer(engine, { preset: 'mini' });
    const miniBytes = await mini.exportCheckpoint();
    await mini.dispose();
    const shape = await t.importCheckpoint(miniBytes).catch((e) => e);
    expect([shape.reason, shape.message]).toEqual(['shape',
      'This transformer checkpoint is of another shape: a width of 128 and a context of 64, where this model has a width of 64 and a context of 32. ' +
        'Choose the preset it was trained with (mini) first, then load the checkpoint again.']);
    // Written elsewhere (no config to compare): the tensors say it, one line counting them, every name in details.
    const foreign = writeSafetensors([{ name: 'unet.down.0.weight', shape: [2], data: new Float32Array(2) }]);
    const alien = await t.importCheckpoint(foreign).catch((e) => e);
    expect(alien.reason).toBe('missing');
    const [, count] = /^The checkpoint has none of the model's (\d+) tensors \(such as 'transformer\.[^']+'\): it was saved from another model\.$/.exec(alien.message) ?? [];
    expect(alien.details).toHaveLength(Number(count));
    expect(alien.details).toContain('transformer.h.1.attn.c_attn.weight');

    await expect(t.importCheckpoint(new Uint8Array([1, 2, 3]))).rejects.toThrow(CheckpointError);
    const after = await t.exportCheckpoint();
    expect(after).toEqual(mine);
    expect((await t.info()).step).toBe(1);
    await t.dispose();
  });
});

describe('trainer: a byte-level BPE of the text', () => {
  it('trains on tokens of a BPE learned from the text, samples text through it, and keeps it through checkpoints', async () => {
    const engine = await testEngine();
    const words = 'the cat sat on the mat and the dog sat on the log; ';
    const data = { kind: 'text' as const, bytes: new TextEncoder().encode(words.repeat(60)) };
    const t = await trainer(engine, { tokenizer: 'bpe', bpeVocab: 300, data, batch: 8 });
    const info = await t.info();
    expect(info.vocabSize).toBeGreaterThan(256);
    expect(info.vocabSize).toBeLessThanOrEqual(300);
    const first = (await t.step(1)).loss;
    const { loss } = await t.step(59);
    expect(loss).toBeLessThan(first / 4);
    const sample = await t.sample('the ', { length: 12, temperature: 0 });
    // Every token of an ASCII text's BPE is ASCII: the sample decodes to whole characters of it.
    expect(sample.text).toMatch(/^[\x20-\x7e]+$/);
    const map = await t.attentionMap('the cat sat', 0, 0);
    expect(map.tokens.join('')).toBe('the cat sat');
    expect(map.tokens.length).toBeLessThan('the cat sat'.length);

    // Another trainer on the same text and settings learns the same tokenizer: the checkpoint fits
    // it and continues the same.
    const bytes = await t.exportCheckpoint();
    const next = (await t.step(2)).loss;
    const u = await trainer(engine, { tokenizer: 'bpe', bpeVocab: 300, data, batch: 8 });
    expect((await u.importCheckpoint(bytes)).step).toBe(60);
    expect((await u.info()).vocabSize).toBe(info.vocabSize);
    expect((await u.step(2)).loss).toBe(next);

    // A character model of the same text is another model: refused in one line, saying why.
    const chars = await trainer(engine, { data, batch: 8 });
    const err = await chars.importCheckpoint(bytes).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toBe("The checkpoint's model reads byte-level BPE tokens; this model reads characters. Choose the tokenizer it was trained with, then load the checkpoint again.");
    await Promise.all([t.dispose(), u.dispose(), chars.dispose()]);
  });
});

describe('trainer: mixed precision', () => {
  /** The optimizer counters in a checkpoint: updates applied, good steps since the scale changed, loss scale. */
  const counters = (bytes: Uint8Array) => Array.from(decodeTensor(parseSafetensors(bytes), 'optimizer.counters') as Float32Array);

  it('trains close to f32, reports the loss scaler, and keeps its precision through checkpoints and autosaves', async () => {
    const engine = await testEngine();
    const f32 = await trainer(engine);
    expect((await f32.info()).scaler).toBeNull();
    const rf = await recorder(f32);
    await f32.step(4);
    await f32.dispose();

    const store = memoryAutosave();
    const mixed = new Trainer({ engine, autosave: store });
    const created = await mixed.create({ ...base, precision: 'mixed', autosaveEvery: 4 });
    expect(created.config!.precision).toBe('mixed');
    expect(created.scaler).toEqual({ lossScale: 2 ** 15, overflowSteps: 0 });
    const rm = await recorder(mixed);
    await mixed.step(4);
    const [a, b] = [rf.steps.map((s) => s.loss), rm.steps.map((s) => s.loss)];
    console.log(`trainer, tiny, 4 steps: f32 ${a.map((l) => l.toFixed(4)).join(' ')}; mixed ${b.map((l) => l.toFixed(4)).join(' ')}`);
    expect(b.length).toBe(4);
    expect(b.every(Number.isFinite)).toBe(true);
    // The first loss differs only by the f16 rounding of the forward's matmul operands.
    expect(Math.abs(b[0] - a[0])).toBeLessThan(5e-3);
    b.forEach((l, i) => expect(Math.abs(l - a[i])).toBeLessThan(0.05));
    // No overflow at the initial scale here: every metrics event carries it unchanged.
    expect(rm.events.length).toBeGreaterThan(0);
    for (const { e } of rm.events) expect(e.scaler).toEqual({ lossScale: 2 ** 15, overflowSteps: 0 });
    expect((await mixed.info()).scaler).toEqual({ lossScale: 2 ** 15, overflowSteps: 0 });

    // The checkpoint names the precision; a fresh mixed trainer continues bit for bit.
    const bytes = await mixed.exportCheckpoint();
    const saved = JSON.parse(parseSafetensors(bytes).metadata.config);
    expect([saved.trainer.precision, saved.gpt.precision]).toEqual(['mixed', 'mixed']);
    expect(counters(bytes)).toEqual([4, 4, 2 ** 15]);
    await mixed.step(2);
    const next = rm.steps.slice(4).map((s) => s.loss);
    const again = await trainer(engine, { precision: 'mixed' });
    await again.importCheckpoint(bytes);
    const ra = await recorder(again);
    await again.step(2);
    expect(ra.steps.map((s) => s.loss)).toEqual(next);
    await again.dispose();
    await mixed.dispose();

    // The autosave of step 4 comes back as a mixed model.
    const resumed = await new Trainer({ engine, autosave: store }).resumeAutosave();
    expect([resumed.step, resumed.config!.precision, resumed.scaler?.lossScale]).toEqual([4, 'mixed', 2 ** 15]);
  });

  it('loads a checkpoint of the other precision, keeping its own loss scale', async () => {
    const engine = await testEngine();
    const mixed = await trainer(engine, { precision: 'mixed' });
    await mixed.step(2);
    const mixedBytes = await mixed.exportCheckpoint();
    const rm = await recorder(mixed);
    await mixed.step(1);

    // Into f32: the same weights and moments; the scale stays 1, or every gradient would be divided by 2^15.
    const f32 = await trainer(engine);
    const info = await f32.importCheckpoint(mixedBytes);
    expect([info.step, info.config!.precision, info.scaler]).toEqual([2, 'f32', null]);
    expect(counters(await f32.exportCheckpoint())).toEqual([2, 0, 1]);
    const rf = await recorder(f32);
    await f32.step(1);
    const [m, f] = [rm.steps[0], rf.steps[0]];
    expect(Math.abs(f.loss - m.loss)).toBeLessThan(5e-3);
    expect(Math.abs(f.gradNorm - m.gradNorm)).toBeLessThan(0.05 * m.gradNorm);
    const f32Bytes = await f32.exportCheckpoint();
    await f32.dispose();

    // Into mixed: its own scale, not the f32 run's 1 (small f16 gradients would vanish).
    const info2 = await mixed.importCheckpoint(f32Bytes);
    expect([info2.step, info2.config!.precision, info2.scaler]).toEqual([3, 'mixed', { lossScale: 2 ** 15, overflowSteps: 0 }]);
    expect(Number.isFinite((await mixed.step(1)).loss)).toBe(true);
    await mixed.dispose();

    await expect(trainer(engine, { precision: 'f16' as never })).rejects.toThrow(/precision must be 'f32' or 'mixed', got "f16"/);
  });

  it('tells an f16 overflow the loss scaler handles from a step that diverged', () => {
    const step = { loss: 3.2, gradNorm: Infinity, skipped: 1, lossScale: 2 ** 14 };
    expect(stepOutcome({ ...step, gradNorm: 0.8, skipped: 0 }, true)).toBe('applied');
    expect(stepOutcome(step, true)).toBe('overflow');
    expect(stepOutcome(step, false)).toBe('non-finite'); // no loss scaling: nothing to lower
    expect(stepOutcome({ ...step, lossScale: 0.5 }, true)).toBe('non-finite'); // overflowing unscaled gradients
    expect(stepOutcome({ ...step, loss: NaN }, true)).toBe('non-finite');
  });
});

describe('trainer: memory', () => {
  it('frees and rebuilds on reset, and returns every byte on dispose', async () => {
    const engine = await testEngine();
    await collectGarbage();
    const baseline = engine.pool.bytesInUse;
    const t = await trainer(engine);
    const fresh = await t.exportCheckpoint();
    await collectGarbage();
    const held = engine.pool.bytesInUse;
    expect(held).toBeGreaterThan(baseline);
    await t.step(2);
    const info = await t.reset();
    expect(info.step).toBe(0);
    expect(await t.exportCheckpoint()).toEqual(fresh); // parameters from the seed, optimizer state zero
    await collectGarbage();
    expect(held - baseline).toBeGreaterThan(3_000_000);
    expect(engine.pool.bytesInUse - held).toBeGreaterThanOrEqual(0);
    expect(engine.pool.bytesInUse - held).toBeLessThan(STRAY_BYTES);
    await t.dispose();
    expect((await t.info()).state).toBe('empty');
    await collectGarbage();
    expect(engine.pool.bytesInUse - baseline).toBeLessThan(STRAY_BYTES);
  });
});

describe('trainer: user input', () => {
  it('refuses unusable text and unknown characters with typed errors, keeping the model', async () => {
    const engine = await testEngine();
    const t = await trainer(engine);
    await t.step(1);
    const bytes = (s: string | number[]) => (typeof s === 'string' ? new TextEncoder().encode(s) : Uint8Array.from(s));
    const reasons: [Uint8Array, DataError['reason']][] = [
      [bytes(''), 'empty'],
      [bytes('   \n  '), 'empty'],
      [bytes([104, 105, 0, 1, 2]), 'binary'],
      [bytes([0xc3, 0x28, 0x41]), 'encoding'],
      [bytes('short text'), 'too-short'],
    ];
    for (const [data, reason] of reasons) {
      const e = await t.create({ ...base, data: { kind: 'text', bytes: data } }).catch((x) => x);
      expect(e, reason).toBeInstanceOf(DataError);
      expect(e.reason).toBe(reason);
      // The user's words: no class or function name leads, and a paste is not called a file.
      expect(e.message, reason).not.toMatch(/^\w+(\.\w+)?: |Sampler|evalBatches|Tokenizer/);
    }
    const said = async (text: string, preset: TrainerConfig['preset'] = 'tiny') =>
      (await t.create({ ...base, preset, data: { kind: 'text', bytes: bytes(text) } }).catch((x) => x)).message;
    expect(await said('')).toBe('The text is empty; choose a file with some text in it, or paste some.');
    expect(await said('abc')).toBe(
      'The text has 3 characters; training needs at least 326: the context of 32 plus the next character, both in the first 90% ' +
        '(to train on) and in the last 10% (to validate on). Use a longer text.');
    expect(await said('abc'.repeat(200), 'mini')).toMatch(
      /^The text has 600 characters; training needs at least 646: .* Use a longer text, or choose a preset with a shorter context: tiny \(a context of 32\)\.$/);
    await expect(t.create({ ...base, batch: 0 })).rejects.toThrow(/batch must be an integer >= 1/);
    await expect(t.create({ ...base, schedule: 'cosine', warmup: 10, totalSteps: 5 })).rejects.toThrow(ConfigError);
    const e = await t.sample('snow ☃', { length: 2 }).catch((x) => x);
    expect(e).toBeInstanceOf(DataError);
    expect(e.reason).toBe('vocabulary');
    expect(e.message).toMatch(/^The character "☃" at position 6 is not in the model's vocabulary of \d+ characters/);
    await expect(t.sample('')).rejects.toThrow(InputError);
    expect((await t.info()).step).toBe(1); // the model survived every refusal
    expect(Array.from((await t.sample('1+1=', { length: 4 })).text).length).toBe(4);
    // The shortest text it asks for does train.
    await t.create({ ...base, data: { kind: 'text', bytes: bytes('abcdefghij'.repeat(33).slice(0, 326)) } });
    await t.step(1);
    await t.dispose();
    await expect(t.step(1)).rejects.toThrow(/call create/);
  });

  it('samples at the first step after Start, then every sampleEvery steps or sampleSeconds seconds', async () => {
    const t = await trainer(await testEngine(), { sampleEvery: 1000, sampleSeconds: 0, sampleLength: 4 });
    const { all } = await recorder(t);
    const sampled = () => all.flatMap((e) => (e.type === 'sample' ? [e.step] : []));
    await t.step(2);
    expect(sampled()).toEqual([]); // steps taken one by one: by the schedule only
    await t.start();
    await vi.waitUntil(() => sampled().length > 0, { timeout: 120_000, interval: 20 });
    await t.pause();
    expect(sampled()[0]).toBe(3); // the loop's first step
    // The clock: a sample whenever sampleSeconds have passed, here at every step.
    await t.setHyper({ sampleSeconds: 1e-6 });
    const before = sampled().length;
    await t.step(2);
    expect(sampled().slice(before)).toEqual([(await t.info()).step - 1, (await t.info()).step]);
    // An on-demand sample says at which step the model was.
    expect((await t.sample('1', { length: 2 })).step).toBe((await t.info()).step);
    await t.dispose();
  });

  it('keeps class, message and fields of typed errors across the wire form', () => {
    const d = fromWireError(toWireError(new DataError('too big', 'too-large')));
    expect(d).toBeInstanceOf(DataError);
    expect((d as DataError).reason).toBe('too-large');
    const c = fromWireError(toWireError(new CheckpointError('bad shape', 'shape', 'transformer.wte.weight')));
    expect(c).toBeInstanceOf(CheckpointError);
    expect([(c as CheckpointError).reason, (c as CheckpointError).tensor, c.message]).toEqual(['shape', 'transformer.wte.weight', 'bad shape']);
    // The list behind a one-line message survives as plain data, for the page's toggle.
    const listed = fromWireError(structuredClone(toWireError(new CheckpointError('lacks 2', 'missing', 'a', ['a', 'b']))));
    expect((listed as CheckpointError).details).toEqual(['a', 'b']);
    expect((fromWireError(toWireError(new DataError('skipped 2', 'format', ['x.png', 'y.png']))) as DataError).details).toEqual(['x.png', 'y.png']);
    expect((fromWireError(toWireError(new DataError('none', 'empty'))) as DataError).details).toEqual([]);
    expect(fromWireError(toWireError(new ConfigError('x')))).toBeInstanceOf(ConfigError);
    const plain = fromWireError(toWireError(new TypeError('y')));
    expect([plain.name, plain.message]).toEqual(['TypeError', 'y']);
  });
});

describe('trainer: through comlink', () => {
  it('serves the API over a message port with typed errors, proxied listeners and checkpoint bytes', async () => {
    const engine = await testEngine();
    const { port1, port2 } = new MessageChannel();
    exposeTrainer(new Trainer({ engine, autosave: memoryAutosave() }), port1 as unknown as Endpoint);
    const client = createTrainerClient(port2 as unknown as Endpoint);
    const bad = await client.create({ ...base, data: { kind: 'text', bytes: Uint8Array.of(104, 0, 105) } }).catch((x) => x);
    expect(bad).toBeInstanceOf(DataError);
    expect([bad.reason, bad.message]).toEqual(['binary', expect.stringMatching(/byte 1 is NUL/)]);
    const events: TrainerEvent[] = [];
    await client.subscribe((e) => void events.push(e));
    expect((await client.create(base)).state).toBe('paused');
    expect((await client.step(2)).step).toBe(2);
    await until(() => events.some((e) => e.type === 'metrics' && e.steps.some((r) => r.step === 2)));
    const bytes = await client.exportCheckpoint();
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(parseSafetensors(bytes).metadata.step).toBe('2');
    const err = await client.importCheckpoint(bytes.slice(0, 20)).catch((x) => x);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(typeof err.reason).toBe('string');
    await expect(client.step(0)).rejects.toThrow(InputError);
    await client.dispose();
    client.terminate();
    port1.close();
  });
});

describe('trainer: attention map', () => {
  it('gives causal rows that sum to 1 and match a host computation of layer 0 from the parameters', async () => {
    const engine = await testEngine();
    const t = await trainer(engine);
    await t.step(2);
    const prompt = '12+34=46\nAda';
    for (const [layer, head] of [[0, 1], [1, 3]]) {
      const { tokens, weights } = await t.attentionMap(prompt, layer, head);
      expect(tokens.join('')).toBe(prompt);
      const T = tokens.length;
      expect(weights.length).toBe(T);
      weights.forEach((row, i) => {
        expect(row.length).toBe(T);
        expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
        for (let j = i + 1; j < T; j++) expect(row[j]).toBe(0);
      });
      expect(weights[0][0]).toBeCloseTo(1, 6);
    }
    await expect(t.attentionMap(prompt, 2, 0)).rejects.toThrow(/layer 2 is outside \[0, 2\)/);
    await expect(t.attentionMap(prompt, 0, 4)).rejects.toThrow(/head 4 is outside \[0, 4\)/);

    // Layer 0 on the host: embeddings, LayerNorm, the q/k projections of head 1, softmax.
    const p = paramsOf(await t.exportCheckpoint());
    const tok = (await t.info()).vocabSize;
    const vocab = JSON.parse(parseSafetensors(await t.exportCheckpoint()).metadata.config).tokenizer.vocab as string[];
    expect(vocab.length).toBe(tok);
    const ids = Array.from(prompt).map((ch) => vocab.indexOf(ch));
    const C = 64;
    const hs = 16;
    const head = 1;
    const [wte, wpe, g, b, W, bias] = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.ln_1.weight',
      'transformer.h.0.ln_1.bias', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_attn.bias'].map((n) => p.get(n)!);
    const q: number[][] = [];
    const k: number[][] = [];
    ids.forEach((id, t0) => {
      const x = Array.from({ length: C }, (_, c) => wte[id * C + c] + wpe[t0 * C + c]);
      const mu = x.reduce((a, v) => a + v, 0) / C;
      const varr = x.reduce((a, v) => a + (v - mu) ** 2, 0) / C;
      const h = x.map((v, c) => ((v - mu) / Math.sqrt(varr + 1e-5)) * g[c] + b[c]);
      const proj = (col: number) => h.reduce((a, v, c) => a + v * W[c * 3 * C + col], bias[col]);
      q.push(Array.from({ length: hs }, (_, d) => proj(head * hs + d)));
      k.push(Array.from({ length: hs }, (_, d) => proj(C + head * hs + d)));
    });
    const { weights } = await t.attentionMap(prompt, 0, head);
    q.forEach((qi, i) => {
      const s = k.slice(0, i + 1).map((kj) => qi.reduce((a, v, d) => a + v * kj[d], 0) / Math.sqrt(hs));
      const m = Math.max(...s);
      const e = s.map((v) => Math.exp(v - m));
      const z = e.reduce((a, v) => a + v, 0);
      e.forEach((v, j) => expect(Math.abs(weights[i][j] - v / z)).toBeLessThan(1e-4));
    });
    await t.dispose();
  });
});
