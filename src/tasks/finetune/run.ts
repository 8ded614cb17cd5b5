// One fine-tuning run: the user's text checked and tokenized with the base's tokenizer, split into
// a part to train on and a held-out tail, the prompts every sample starts from; the model built
// from the base's config with the strategy applied (frozen weights get no gradient and no
// optimizer state), its trainer created before the base's weights are streamed in (the
// optimizer places the trained weights first), the held-out perplexity and the samples of the
// pretrained model measured before any step; then the measurements the loop repeats the same
// way, the checkpoint's contents (only the trained tensors and their optimizer state, with the
// base's identity) and a checkpoint read back into a freshly built run.
// Not here: the loop and events (session.ts), checking the base files (base.ts), the model and
// strategies (models/gpt.ts, models/gpt-finetune.ts).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { BatchSampler, evalBatches, splitTrainVal, type Batch, type Split } from '../../data/batches.js';
import { validateUserText } from '../../data/corpus.js';
import type { Engine } from '../../engine.js';
import { CheckpointError, ConfigError, DataError } from '../../errors.js';
import { checkFinetuneFits, prepareFinetune, type Finetune } from '../../models/gpt-finetune.js';
import { createGptDecoder, type GptDecoder } from '../../models/gpt-decode.js';
import { compileGptEval, createGpt, createGptTrainer, type GptEvaluator, type GptTrainer } from '../../models/gpt.js';
import { cosineDecay, linearWarmup, type Schedule } from '../../optim/schedules.js';
import { sampleTokensCached } from '../../sample.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import { checkSameBase, type BaseIdentity, type HeldBase } from './base.js';
import { finetuneConfig, finetuneDefaults, SAVED_KEYS, type FinetuneConfig, type Sample } from './protocol.js';

/** The longest window a run takes by default (block 0), whatever the model's context. */
const DEFAULT_BLOCK = 128;

/** The batch order's seed, apart from the adapters' initialisation that the config's seed also draws. */
const samplerSeed = (seed: number) => (seed ^ 0x5bd1e995) | 0;

/** The text side of a run, made on the host before any GPU work. */
export interface FinetuneData {
  split: Split;
  /** The held-out windows every measurement averages (the same ones before and after). */
  evalSet: Batch[];
  prompts: { text: string; ids: Int32Array }[];
  block: number;
}

export interface FinetuneRun extends FinetuneData {
  config: FinetuneConfig;
  /** The base it was built from (its identity goes into checkpoints). */
  base: HeldBase;
  finetune: Finetune;
  gpt: GptTrainer;
  evaluator: GptEvaluator;
  /** The key/value-cache decoder samples run through: one position's work per token. */
  decoder: GptDecoder;
  /** The learning-rate schedule the optimizer reads at every step (0-based); setHyper replaces it. */
  live: { schedule: Schedule };
  sampler: BatchSampler;
  /** Batches drawn: with the seed, the sampler's position. */
  drawn: number;
  /** The pretrained model's figures, measured before any step. */
  before: { perplexity: number; samples: Sample[] };
  /** The latest held-out perplexity. */
  perplexity: number;
  /** Training losses since the latest measurement. */
  lossSum: number;
  lossCount: number;
}

/** The learning-rate schedule of a config (0-based steps). */
export function scheduleOf(c: FinetuneConfig): Schedule {
  return c.schedule === 'cosine'
    ? cosineDecay({ lr: c.lr, minLr: c.lr * c.minLrRatio, warmupSteps: c.warmup, totalSteps: c.totalSteps })
    : linearWarmup({ lr: c.lr, warmupSteps: c.warmup });
}

/** The text of `config`, checked and tokenized by the base's tokenizer; DataError for a text that cannot train, ConfigError for a block past the context. */
export function prepareData(config: FinetuneConfig, base: HeldBase): FinetuneData {
  const context = base.checkpoint.config.blockSize;
  const block = config.block || Math.min(DEFAULT_BLOCK, context);
  if (block > context) {
    throw new ConfigError(`finetune config: block ${block} is longer than the model's context of ${context} tokens; use at most ${context}.`);
  }
  const text = validateUserText(config.text); // DataError: empty, binary, not UTF-8, too large
  const { tokenizer } = base;
  const split = splitTrainVal(tokenizer.encode(text), config.valFraction);
  if (split.train.length <= block || split.val.length <= block) {
    const all = split.train.length + split.val.length;
    const least = Math.ceil((block + 1) / Math.min(config.valFraction, 1 - config.valFraction)) + 1;
    const val = Math.round(config.valFraction * 100);
    throw new DataError(
      `The text is ${all} token${all === 1 ? '' : 's'} long (${text.length} characters); with windows of ${block} tokens it needs about ${least}: ` +
        `a window plus the next token both in the first ${100 - val}% (to train on) and in the last ${val}% (to measure perplexity on). ` +
        'Use a longer text, or a shorter block.',
      'too-short',
    );
  }
  const evalSet = evalBatches(split.val, config.batch, block).slice(0, config.evalBatches);
  const prompts = (config.prompts.length ? config.prompts : defaultPrompts(tokenizer.decode(split.val))).map((p) => ({ text: p, ids: tokenizer.encode(p) }));
  return { split, evalSet, prompts, block };
}

/**
 * Two prompts from the held-out text, so that samples start where the text's own lines do: the
 * first words of its first two whole lines (the tail starts mid-line), or of its start.
 */
function defaultPrompts(heldOut: string): string[] {
  const lines = heldOut.split('\n').slice(1).map((l) => l.trim()).filter((l) => l.split(/\s+/).length >= 2);
  const picked = (lines.length ? lines : [heldOut.trim()]).slice(0, 2);
  return picked.map((l) => l.split(/\s+/).slice(0, 4).join(' ')).filter((p) => p.length > 0);
}

/**
 * The model of `base` with `config`'s strategy, its trainer, evaluation and sampling plans, the
 * base's weights streamed in (progress events), and the pretrained model's perplexity and
 * samples. DeviceLimitError, before anything is allocated, for a strategy this device cannot hold.
 */
export async function buildRun(engine: Engine, base: HeldBase, config: FinetuneConfig, data: FinetuneData): Promise<FinetuneRun> {
  const modelConfig = base.checkpoint.config;
  checkFinetuneFits(engine.gpu.limits, modelConfig, config.strategy, engine.memoryBudget);
  const model = createGpt({ ...modelConfig, seed: config.seed });
  const finetune = prepareFinetune(model, config.strategy);
  const live = { schedule: scheduleOf(config) };
  // The fused optimizer numbers the update it is about to make step + 1; the schedule wants 0 first.
  const lr = (step: number) => live.schedule(step - 1);
  const { batch } = config;
  const { block } = data;
  const gpt = await createGptTrainer(engine, model, { batch, block, trainable: finetune.trainable, optimizer: { lr, weightDecay: config.weightDecay } });
  const made: { dispose(): void }[] = [gpt];
  try {
    const evaluator = await compileGptEval(engine, model, batch, block);
    made.push(evaluator);
    const decoder = await createGptDecoder(engine, model); // after the trainer: the optimizer places the trained weights first
    made.push(decoder);
    await base.checkpoint.load(engine, model);
    const sampler = new BatchSampler(data.split.train, { batch, block, seed: samplerSeed(config.seed) });
    const run: FinetuneRun = {
      ...data, config, base, finetune, gpt, evaluator, decoder, live, sampler, drawn: 0,
      before: { perplexity: NaN, samples: [] }, perplexity: NaN, lossSum: 0, lossCount: 0,
    };
    const perplexity = await measure(run);
    run.before = { perplexity, samples: await samplesOf(run) };
    return run;
  } catch (e) {
    for (const m of made) m.dispose();
    freeWeights(engine, finetune);
    throw e;
  }
}

function freeWeights(engine: Engine, f: Finetune): void {
  for (const p of new Set([...f.model.params, ...f.trainable])) engine.freeParameter(p);
}

/** Frees every GPU buffer of a run: plans, optimizer state, weights and adapters. */
export function freeRun(engine: Engine, r: FinetuneRun): void {
  r.gpt.dispose();
  r.evaluator.dispose();
  r.decoder.dispose();
  freeWeights(engine, r.finetune);
}

/** Held-out perplexity: exp of the mean loss over the same held-out windows, without dropout. */
export async function measure(r: FinetuneRun): Promise<number> {
  const perplexity = Math.exp(await r.evaluator.loss(r.evalSet));
  r.perplexity = perplexity;
  return perplexity;
}

/** A sample from each fixed prompt, with the config's seed: the same draws before and after training. */
export async function samplesOf(r: FinetuneRun): Promise<Sample[]> {
  const { sampleLength: maxNewTokens, temperature, seed } = r.config;
  if (maxNewTokens === 0) return [];
  const out: Sample[] = [];
  for (const [i, p] of r.prompts.entries()) {
    // The decoder is reset and prefilled each time: its cache belongs to the weights it was computed with.
    const ids = await sampleTokensCached(r.decoder, p.ids, { maxNewTokens, temperature, topK: 40, seed: seed + i });
    out.push({ prompt: p.text, text: r.base.tokenizer.decode(ids) });
  }
  return out;
}

/** The next batch of the run's order. */
export function nextBatch(r: FinetuneRun): Batch {
  r.drawn++;
  return r.sampler.next();
}

// ---------------------------------------------------------------------------------------------
// checkpoints
//
// Only what training changed: the trained tensors under their names (an adapter's
// 'transformer.h.0.attn.c_attn.lora_a'), AdamW's moments of those, the step and the batch
// order's position, the config (without the text, which an autosave keeps beside it) and the
// base's identity. Resuming needs the same base files: loading refuses another base by shape,
// name and fingerprint.

/** What the metadata 'config' of a fine-tuning checkpoint holds. */
interface SavedFinetune {
  finetune: Omit<FinetuneConfig, 'text'>;
  base: BaseIdentity;
}

const trainedDict = (r: FinetuneRun) => Object.fromEntries(r.finetune.trainable.map((p) => [p.label, p]));

export async function checkpointContents(r: FinetuneRun): Promise<CheckpointContents> {
  const { text: _text, ...finetune } = r.config;
  const config: SavedFinetune = { finetune, base: r.base.identity };
  return {
    params: trainedDict(r),
    state: await r.gpt.optimizer.readState(),
    step: r.gpt.steps,
    rng: { samplerSeed: samplerSeed(r.config.seed), drawn: r.drawn },
    config,
  };
}

/**
 * The config to build for a checkpoint: refused unless `base` (held now) is the one it was
 * fine-tuned from; its strategy and training over `current` (or, with none, over its own
 * cadences); the text from `attachment` (an autosave's) or the current run's.
 */
export function savedConfig(meta: Record<string, string>, base: HeldBase | null, current: FinetuneConfig | null, attachment: Uint8Array | null): FinetuneConfig {
  let identity: BaseIdentity | undefined;
  try {
    identity = (JSON.parse(meta.config ?? '{}') as Partial<SavedFinetune>).base;
  } catch {
    // savedSection says the metadata is not JSON
  }
  const theirs = savedSection<FinetuneConfig>(meta, 'finetune', current ?? {});
  checkSameBase(identity, base);
  const text = attachment ?? current?.text;
  if (!text?.length) {
    const name = theirs?.textName ? ` (${theirs.textName})` : '';
    throw new CheckpointError(`This model was fine-tuned on your own text${name}, which the checkpoint does not hold: start a run on that text first, then load the checkpoint.`, 'metadata');
  }
  // With no run in force (a resumed autosave), the saved run's cadences too: they are its own.
  const kept = current ?? pickSaved(theirs, Object.keys(finetuneDefaults) as (keyof FinetuneConfig)[]);
  return usableConfig(() => finetuneConfig({ ...kept, ...pickSaved(theirs, SAVED_KEYS), text }));
}

/** Trained tensors and optimizer state into a freshly built run (every entry checked before the first is written). */
export async function loadInto(engine: Engine, r: FinetuneRun, bytes: Uint8Array): Promise<void> {
  const params = trainedDict(r);
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  for (const [name, p] of Object.entries(params)) for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${name}`] = new Float32Array(p.size);
  const loaded = await loadCheckpoint(engine, bytes, { params, state });
  await r.gpt.optimizer.writeState(state);
  const step = loaded.step ?? 0;
  r.gpt.steps = step;
  r.gpt.optimizer.step = step;
  const drawn = loaded.rng?.samplerSeed === samplerSeed(r.config.seed) ? loaded.rng.drawn : step;
  r.sampler = new BatchSampler(r.split.train, { batch: r.config.batch, block: r.block, seed: samplerSeed(r.config.seed) });
  for (let i = 0; i < drawn; i++) r.sampler.next();
  r.drawn = drawn;
  r.lossSum = 0;
  r.lossCount = 0;
}
