// The contract between the transformer page and its worker: the trainer's config, its info, the
// events it pushes besides the ones every session sends (metrics with evaluations and the loss
// scaler, samples), and its API: the calls every session answers plus samples and attention maps.
// Plain data that survives structured cloning.
// Not here: the trainer itself (session.ts), what every session shares (worker/protocol.ts).

import type { GptPrecision, GptPresetName } from '../../models/gpt.js';
import type { StepRecord } from '../../metrics.js';
import type { BaseInfo, CoreEvent, MetricsEventBase, SessionApi, StatusEvent as CoreStatusEvent } from '../../worker/protocol.js';
import { SESSION_METHODS } from '../../worker/protocol.js';

export type { AutosaveBackend, AutosaveEvent, AutosaveInfo, ErrorEvent, RecoveredEvent } from '../../worker/protocol.js';

/** Where the training text comes from. */
export type DataSource =
  /** The generated corpus (arithmetic lines and short stories), see data/corpus.ts. */
  | { kind: 'builtin'; lines?: number; seed?: number }
  /** A user's upload as raw bytes; checked by validateUserText (DataError on empty/binary/huge). */
  | { kind: 'text'; bytes: Uint8Array; name?: string };

export interface TrainerConfig {
  /** Model size: 'tiny' | 'mini' | 'base' | 'small' (see gptPresets). */
  preset: GptPresetName;
  /**
   * 'mixed': every Linear and the head multiply f16 copies of their operands and the
   * activations between two products are kept f16 (stored two per 32-bit word, summed in f32,
   * so any adapter runs it, shader-f16 or not), with dynamic loss scaling; weights, optimizer
   * state and gradients stay f32. 'f32': f32 throughout. A model setting: it takes a new model
   * (create), like the preset.
   */
  precision: GptPrecision;
  /** Peak learning rate of AdamW. */
  lr: number;
  /** Linear warmup steps from 0 to lr. */
  warmup: number;
  /** After warmup: 'cosine' decays to minLr over totalSteps, 'constant' stays at lr. */
  schedule: 'cosine' | 'constant';
  /** Last step of the cosine decay; also where a run started with start() stops by itself (0: never). */
  totalSteps: number;
  /** Floor of the cosine decay, as a fraction of lr. */
  minLrRatio: number;
  /** Windows per step (B); each window is the preset's blockSize tokens. */
  batch: number;
  /** Dropout probability while training, in [0, 1). */
  dropout: number;
  /** Seed of the weights, the batch sampler and the dropout masks. */
  seed: number;
  /** The training text. */
  data: DataSource;
  /**
   * How the text becomes tokens: 'char', one token per distinct character of the text; 'bpe', a
   * byte-level BPE trained on the text (data/bpe-train.ts) of at most bpeVocab tokens, so a
   * token is often a whole word and a context holds more text. A model setting, like the preset.
   */
  tokenizer: 'char' | 'bpe';
  /** Tokens of the BPE vocabulary (256 bytes plus merges), when tokenizer is 'bpe'. */
  bpeVocab: number;
  /** Fraction of the tokens held out for validation (the tail of the text). */
  valFraction: number;
  /** Validation loss every this many steps (0: never). */
  evalEvery: number;
  /** Most validation batches per evaluation (bounds its cost on a large text). */
  evalBatches: number;
  /** A text sample every this many steps, and at the first step after Start (0: never). */
  sampleEvery: number;
  /** Also a sample once this many seconds passed since the last one, whatever the step (0: by steps only). */
  sampleSeconds: number;
  /** Tokens per periodic sample (characters with the 'char' tokenizer). */
  sampleLength: number;
  /** Autosave every this many steps (0: never). */
  autosaveEvery: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /**
   * When a step's loss or gradient norm is not finite (its update is skipped on the GPU either
   * way, so the weights stay as they were): 'stop' pauses and names the first op that produced
   * the value (the step re-run op by op); 'skip' carries on and counts it.
   */
  nonFinite: 'stop' | 'skip';
}

export const trainerDefaults: TrainerConfig = {
  preset: 'tiny',
  precision: 'f32',
  lr: 1e-3,
  warmup: 100,
  schedule: 'cosine',
  totalSteps: 5000,
  minLrRatio: 0.1,
  batch: 16,
  dropout: 0,
  seed: 1,
  data: { kind: 'builtin' },
  tokenizer: 'char',
  bpeVocab: 512,
  valFraction: 0.1,
  evalEvery: 250,
  evalBatches: 8,
  sampleEvery: 500,
  sampleSeconds: 20,
  sampleLength: 200,
  autosaveEvery: 500,
  metricsIntervalMs: 250,
  nonFinite: 'stop',
};

/** Hyperparameters that may change between steps (setHyper). */
export interface Hyper {
  lr: number;
  warmup: number;
  schedule: 'cosine' | 'constant';
  totalSteps: number;
  minLrRatio: number;
  /** Changing it recompiles the training step (parameters and optimizer state are kept). */
  dropout: number;
  evalEvery: number;
  sampleEvery: number;
  sampleSeconds: number;
  autosaveEvery: number;
  metricsIntervalMs: number;
  nonFinite: 'stop' | 'skip';
}

export interface TrainerInfo extends BaseInfo<TrainerConfig> {
  /** Model parameters (tied head counted once). */
  parameterCount: number;
  vocabSize: number;
  blockSize: number;
  /** Tokens in the training and validation parts of the text. */
  trainTokens: number;
  valTokens: number;
  /** Loss of a unigram model on the validation text: the bar a language model must beat. */
  unigramLoss: number;
  /** Steps whose update was skipped because the loss or gradient norm was not finite (nonFinite policy). */
  skippedSteps: number;
  /** Mixed precision: the loss scaler as of the latest step read back; null in f32. */
  scaler: LossScaleState | null;
  /**
   * GPU bytes the compiled training step keeps for its intermediates (activations, their
   * gradients, scratch) after buffer reuse; weights and AdamW state are not included. Mixed
   * precision stores the activations that feed a product in half the bytes.
   */
  stepBytes: number;
}

/** The dynamic loss scaler of a mixed-precision run. */
export interface LossScaleState {
  /** The scale the next step's backward pass starts from. */
  lossScale: number;
  /**
   * Updates skipped because f16 overflowed, since the model was built or loaded: each one
   * halved the scale. Routine at the start and now and then; not counted in skippedSteps.
   */
  overflowSteps: number;
}

/** A validation measurement. */
export interface EvalRecord {
  step: number;
  valLoss: number;
  /** Mean training loss over the steps since the previous evaluation. */
  trainLoss: number;
}

export type StatusEvent = CoreStatusEvent<TrainerInfo>;

/** Records since the previous metrics event, in step order (at most one event per metricsIntervalMs). */
export interface MetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: StepRecord[];
  evals: EvalRecord[];
  /** Mixed precision: the loss scaler as of the event (read back with the steps' losses). */
  scaler?: LossScaleState;
}

export interface SampleEvent {
  type: 'sample';
  step: number;
  prompt: string;
  text: string;
  /** Arithmetic lines in the text and how many are right (see scoreArithmetic). */
  arithmetic: { lines: number; correct: number; fraction: number };
}

export type TrainerEvent = CoreEvent<TrainerInfo> | MetricsEvent | SampleEvent;

export interface SampleOptions {
  /** Characters to generate. */
  length?: number;
  /** Softmax temperature (0: greedy). */
  temperature?: number;
  /** Draw from the k most likely characters only (0: all). */
  topK?: number;
  /** Seed of the draws. */
  seed?: number;
}

export interface AttentionMap {
  /** The prompt's characters, one per position (cropped to the last blockSize). */
  tokens: string[];
  /** weights[i][j]: attention of query position i on key position j (T x T, rows sum to 1, 0 above the diagonal). */
  weights: number[][];
}

export interface StepSummary {
  step: number;
  /** Loss of the last step run. */
  loss: number;
}

/** What the transformer's worker exposes: every session's calls, samples and attention maps. */
export interface TrainerApi extends SessionApi<TrainerConfig, Hyper, TrainerInfo, TrainerEvent, StepSummary> {
  /** A sample of the model as it is now (between two steps while training): the same as the periodic ones. */
  sample(prompt: string, opts?: SampleOptions): Promise<SampleEvent>;
  attentionMap(prompt: string, layer: number, head: number): Promise<AttentionMap>;
}

/** Every TrainerApi method, in the order the worker serves them. */
export const TRAINER_METHODS = [...SESSION_METHODS, 'sample', 'attentionMap'] as const satisfies readonly (keyof TrainerApi)[];
