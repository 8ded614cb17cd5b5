// One run of the trainer: what a TrainerConfig builds on the GPU (the GPT, its fused AdamW, the
// training and evaluation plans, the key/value-cache decoder samples come from, the batch
// sampler) and what is done to it outside the loop's timing: how a step ended (applied, skipped
// for f16 overflow, or not finite), compiling the step again for a new dropout, the contents of
// a checkpoint of it and a checkpoint loaded into it, freeing it, and the TrainerInfo fields that
// describe it. A step's loss scaler state (skip flag and scale) comes back in the same read-back
// as its loss (GptTrainer.step), at no extra wait.
// Not here: the trainer's hooks into the session core (session.ts), the config and data
// (config.ts), the model itself (models/gpt.ts).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { BatchSampler } from '../../data/batches.js';
import type { Engine } from '../../engine.js';
import type { TrainingMetrics } from '../../metrics.js';
import type { Schedule } from '../../optim/schedules.js';
import {
  compileGptEval, createGpt, createGptTrainer, gptConfig, gptForward, gptParameterCount,
  gptStateDict, GptTrainer, type GptEvaluator, type StepResult,
} from '../../models/gpt.js';
import { createGptDecoder, type GptDecoder } from '../../models/gpt-decode.js';
import { input } from '../../tensor.js';
import { samplerSeed, type SessionData } from './config.js';
import { checkFits, type SavedConfig } from './checks.js';
import type { BaseInfo } from '../../worker/protocol.js';
import type { LossScaleState, TrainerConfig, TrainerInfo } from './protocol.js';

/** Everything built from one config: the data, the model and its plans. */
export interface Session extends SessionData {
  /** The learning-rate schedule the optimizer reads at every step (0-based): setHyper replaces it. */
  live: { schedule: Schedule };
  sampler: BatchSampler;
  /** Batches drawn from the sampler: with the seed, its position. */
  drawn: number;
  gpt: GptTrainer;
  evaluator: GptEvaluator;
  /** Samples decode with a key/value cache: one position's work per token. */
  decoder: GptDecoder;
  metrics: TrainingMetrics;
  /** Training losses since the last evaluation, for its trainLoss. */
  lossSum: number;
  lossCount: number;
  /** Updates skipped for a non-finite loss or gradient norm (the nonFinite policy's cases). */
  skipped: number;
  /** Mixed precision: updates the loss scaler skipped because f16 overflowed (the scale was lowered). */
  overflowSteps: number;
  /** The loss scale after the latest step read back (1 in f32). */
  lossScale: number;
}

/** Model, optimizer, plans and sampler for `data`, parameters fresh from the seed. */
export async function buildSession(
  engine: Engine,
  data: SessionData,
  schedule: Schedule,
  metrics: (blockSize: number) => TrainingMetrics,
): Promise<Session> {
  const { config } = data;
  const live = { schedule };
  // The fused optimizer numbers the update it is about to make step + 1; the schedule wants 0 first.
  const lr = (step: number) => live.schedule(step - 1);
  const model = createGpt({
    preset: config.preset, vocabSize: data.tokenizer.vocabSize, dropout: config.dropout, seed: config.seed, precision: config.precision,
  });
  const gpt = await createGptTrainer(engine, model, { batch: config.batch, optimizer: { lr } });
  const evaluator = await compileGptEval(engine, model, config.batch);
  const decoder = await createGptDecoder(engine, model);
  const { blockSize } = model.config;
  const sampler = new BatchSampler(data.split.train, { batch: config.batch, block: blockSize, seed: samplerSeed(config.seed) });
  // The scale createGptTrainer starts from, read once here so the first status can show it.
  const lossScale = config.precision === 'mixed' ? (await engine.readParameter(gpt.optimizer.lossScale))[0] : 1;
  return {
    ...data, live, gpt, evaluator, decoder, sampler, drawn: 0, metrics: metrics(blockSize), lossSum: 0, lossCount: 0, skipped: 0, overflowSteps: 0, lossScale,
  };
}

/** Frees every GPU buffer the session holds (plans, optimizer state, parameters). */
export function disposeSession(engine: Engine, s: Session): void {
  s.gpt.dispose();
  s.evaluator.dispose();
  s.decoder.dispose();
  for (const p of s.gpt.model.params) engine.freeParameter(p);
}

/** A fresh sampler at the config's seed, advanced by `drawn` batches (a resumed run's position). */
export function restartSampler(s: Session, drawn: number): void {
  s.sampler = new BatchSampler(s.split.train, { batch: s.config.batch, block: s.gpt.model.config.blockSize, seed: samplerSeed(s.config.seed) });
  for (let i = 0; i < drawn; i++) s.sampler.next();
  s.drawn = drawn;
}

/**
 * How a step ended: its update applied; skipped by the loss scaler because f16 overflowed (mixed
 * precision, the scale already lowered: routine); or not finite, the nonFinite policy's case: a
 * non-finite loss, a non-finite gradient without loss scaling, or an overflow at a scale that
 * has fallen below 1, where f16 overflows on gradients no longer scaled up (divergence).
 */
export function stepOutcome(r: StepResult, scaled: boolean): 'applied' | 'overflow' | 'non-finite' {
  if (!Number.isFinite(r.loss)) return 'non-finite';
  if (!r.skipped && Number.isFinite(r.gradNorm)) return 'applied';
  return scaled && r.lossScale >= 1 ? 'overflow' : 'non-finite';
}

/**
 * The training step compiled again for a new dropout probability, on the same parameters and
 * optimizer: the new plan is built before the old one is released, so a failure changes nothing.
 */
export async function recompileStep(engine: Engine, s: Session, dropout: number): Promise<void> {
  const old = s.gpt;
  const model = { ...old.model, config: gptConfig({ ...old.model.config, dropout }) };
  const { batch } = s.config;
  const T = model.config.blockSize;
  const idx = input('idx', [batch, T], 'i32');
  const targets = input('targets', [batch, T], 'i32');
  const dropoutSeed = dropout > 0 ? input('dropoutSeed', [], 'i32') : undefined;
  const { loss } = gptForward(model, idx, { targets, dropoutSeed });
  const plan = await engine.compile({ outputs: { loss: loss! }, optimizer: old.optimizer.minimize(loss!), label: 'the training step' });
  old.plan.dispose();
  s.gpt = new GptTrainer(model, plan, old.optimizer);
  s.gpt.steps = old.steps;
}

/**
 * The session's checkpoint: parameters, AdamW state, step, sampler position, tokenizer and
 * config. An uploaded text is not in it (an autosave keeps it beside the checkpoint).
 */
export async function checkpointContents(s: Session): Promise<CheckpointContents> {
  const { gpt } = s;
  const trainer = { ...s.config, data: s.config.data.kind === 'text' ? { kind: 'text' as const, bytes: new Uint8Array(0), name: s.config.data.name } : s.config.data };
  const config: SavedConfig = { trainer, tokenizer: s.tokenizer.toJSON(), gpt: gpt.model.config };
  return {
    params: gptStateDict(gpt.model),
    state: await gpt.optimizer.readState(),
    step: gpt.steps,
    rng: { samplerSeed: samplerSeed(s.config.seed), drawn: s.drawn },
    config,
  };
}

/**
 * Parameters, optimizer state, step and data position from a checkpoint into the session (the
 * caller starts its metrics over). Every entry is checked before any is written.
 *
 * A checkpoint of the other precision loads: weights and AdamW moments are f32 in both (mixed
 * precision rounds copies of them, never the weights), so the tensors match and mean the same.
 * Only the loss scaler's state does not carry over, and it stays this session's own: an f32
 * optimizer still divides gradients by its scale, which must stay 1, and a mixed one goes on
 * from its own scale rather than an f32 run's 1, which would let small f16 gradients vanish.
 */
export async function loadInto(engine: Engine, s: Session, bytes: Uint8Array): Promise<void> {
  checkFits(bytes, s.gpt.model.config, s.tokenizer);
  const { gpt } = s;
  // Host arrays of the right lengths: loadCheckpoint checks every entry before it writes one.
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  const params = gptStateDict(gpt.model);
  for (const [name, p] of Object.entries(params)) {
    for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${name}`] = new Float32Array(p.size);
  }
  const loaded = await loadCheckpoint(engine, bytes, { params, state });
  const saved = loaded.config as Partial<SavedConfig> | null;
  // Checkpoints from before the precision setting were f32.
  const theirs = saved?.gpt?.precision ?? saved?.trainer?.precision ?? 'f32';
  if (theirs !== gpt.model.config.precision) {
    // counters: [updates applied, good steps since the scale changed, loss scale]
    state.counters.set((await gpt.optimizer.readState()).counters.subarray(1), 1);
  }
  await gpt.optimizer.writeState(state);
  const step = loaded.step ?? 0;
  gpt.steps = step;
  gpt.optimizer.step = step;
  const drawn = loaded.rng && loaded.rng.samplerSeed === samplerSeed(s.config.seed) ? loaded.rng.drawn : step;
  restartSampler(s, drawn);
  s.lossScale = state.counters[2];
  s.lossSum = 0;
  s.lossCount = 0;
}

/** The loss scaler's state in mixed precision; null in f32. */
export function scalerOf(s: Session): LossScaleState | null {
  return s.gpt.model.config.precision === 'mixed' ? { lossScale: s.lossScale, overflowSteps: s.overflowSteps } : null;
}

/** The fields of TrainerInfo that describe a session (or its absence) beyond every session's. */
export function sessionInfo(s: Session | null): Omit<TrainerInfo, keyof BaseInfo<TrainerConfig>> {
  return {
    parameterCount: s ? gptParameterCount(s.gpt.model.config) : 0,
    vocabSize: s?.tokenizer.vocabSize ?? 0,
    blockSize: s?.gpt.model.config.blockSize ?? 0,
    trainTokens: s?.split.train.length ?? 0,
    valTokens: s?.split.val.length ?? 0,
    unigramLoss: s?.unigram ?? NaN,
    skippedSteps: s?.skipped ?? 0,
    scaler: s ? scalerOf(s) : null,
    stepBytes: s?.gpt.plan.stats.peakBytes ?? 0,
  };
}
