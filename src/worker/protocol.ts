// The contract between the transformer page and the training worker: the trainer's config, the
// events it pushes (status, metrics, samples, autosaves, errors), the API the worker exposes
// through comlink, and the wire form of typed errors (comlink alone keeps only an Error's name
// and message, not fields such as DataError.reason or CheckpointError.tensor).
// Everything here is plain data that survives structured cloning, except the few helpers at the
// end that every worker of this folder shares (the diffusion page's too): carrying typed errors
// across, keeping listeners, and yielding to the event loop between training steps.
// Not here: the trainer itself (trainer.ts), the comlink glue (worker.ts, client.ts).

import {
  CheckpointError,
  ConfigError,
  DataError,
  DeviceLimitError,
  DeviceLostError,
  DTypeError,
  EngineError,
  InputError,
  NonFiniteError,
  ShapeError,
  WebGPUUnavailableError,
} from '../errors.js';
import type { OptionalFeature } from '../gpu/device.js';
import type { GptPrecision, GptPresetName } from '../models/gpt.js';
import type { StepRecord } from '../metrics.js';

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
  /** Fraction of the tokens held out for validation (the tail of the text). */
  valFraction: number;
  /** Validation loss every this many steps (0: never). */
  evalEvery: number;
  /** Most validation batches per evaluation (bounds its cost on a large text). */
  evalBatches: number;
  /** A text sample every this many steps (0: never). */
  sampleEvery: number;
  /** Characters per periodic sample. */
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
  valFraction: 0.1,
  evalEvery: 250,
  evalBatches: 8,
  sampleEvery: 500,
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
  autosaveEvery: number;
  metricsIntervalMs: number;
  nonFinite: 'stop' | 'skip';
}

/** 'empty': no model yet; 'paused': a model, not training; 'running': the loop is on. */
export type TrainerState = 'empty' | 'paused' | 'running';

/**
 * Where autosaves go: the Origin Private File System, IndexedDB, process memory (Node scripts and
 * tests: gone when the process ends), or nowhere (no storage in this environment).
 */
export type AutosaveBackend = 'opfs' | 'indexeddb' | 'memory' | 'unavailable';

export interface TrainerInfo {
  state: TrainerState;
  /** Steps completed (optimizer updates applied). */
  step: number;
  /** The config in force (hyperparameters as last set). Null while 'empty'. */
  config: TrainerConfig | null;
  /** Model parameters (tied head counted once). */
  parameterCount: number;
  vocabSize: number;
  blockSize: number;
  /** Tokens in the training and validation parts of the text. */
  trainTokens: number;
  valTokens: number;
  /** Loss of a unigram model on the validation text: the bar a language model must beat. */
  unigramLoss: number;
  /** The adapter, e.g. 'SwiftShader (software)' or a GPU's description. */
  adapter: string;
  /** True on a CPU-emulated adapter: expect ~50x slower steps. */
  isSoftware: boolean;
  /** The optional features the device has and the engine may use ('shader-f16', 'subgroups', ...). */
  features: OptionalFeature[];
  autosave: AutosaveBackend;
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

export interface StatusEvent {
  type: 'status';
  info: TrainerInfo;
}

/** Records since the previous metrics event, in step order (at most one event per metricsIntervalMs). */
export interface MetricsEvent {
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

export interface AutosaveEvent {
  type: 'autosave';
  step: number;
  bytes: number;
  backend: AutosaveBackend;
}

/** A failure inside the running loop (the loop stops; state becomes 'paused'). */
export interface ErrorEvent {
  type: 'error';
  error: WireError;
}

/** The device was lost mid-run and the run came back from the latest autosave on a new one. */
export interface RecoveredEvent {
  type: 'recovered';
  /** What the device said when it was lost. */
  reason: string;
  /** The step the run had reached, and the autosave's step it continues from. */
  lostAt: number;
  resumedAt: number;
}

export type TrainerEvent = StatusEvent | MetricsEvent | SampleEvent | AutosaveEvent | RecoveredEvent | ErrorEvent;

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

export interface AutosaveInfo {
  step: number;
  /** When it was written (ms since the epoch). */
  savedAt: number;
  preset: GptPresetName;
  /** Absent in autosaves from before the setting (they are f32). */
  precision?: GptPrecision;
  backend: AutosaveBackend;
}

export interface StepSummary {
  step: number;
  /** Loss of the last step run. */
  loss: number;
}

/**
 * What the worker exposes. Every method may reject with a typed error (re-created by the client
 * from a WireError): ConfigError, DataError, CheckpointError, InputError, WebGPUUnavailableError...
 */
export interface TrainerApi {
  /** Builds corpus, tokenizer, model, optimizer and plans (replacing any previous model); state 'paused'. */
  create(config: Partial<TrainerConfig>): Promise<TrainerInfo>;
  /** Starts the loop and resolves at once; progress arrives as events. */
  start(): Promise<void>;
  /** Stops the loop; resolves once the steps in flight are done and their metrics delivered. */
  pause(): Promise<TrainerInfo>;
  /** Runs n steps while paused; resolves with the last step's loss. */
  step(n: number): Promise<StepSummary>;
  /** New parameters from the seed, optimizer state zeroed, step 0; pauses first. */
  reset(): Promise<TrainerInfo>;
  /** Takes effect at the next step. */
  setHyper(hyper: Partial<Hyper>): Promise<TrainerInfo>;
  sample(prompt: string, opts?: SampleOptions): Promise<string>;
  attentionMap(prompt: string, layer: number, head: number): Promise<AttentionMap>;
  /** A safetensors checkpoint: parameters, optimizer state, tokenizer, config, step, sampler position. */
  exportCheckpoint(): Promise<Uint8Array>;
  /**
   * Destroys the GPU device on purpose, as a driver reset would: a running loop comes back from
   * the latest autosave on a new device ('recovered' event). For demonstrations and tests.
   */
  loseDevice(): Promise<void>;
  /** Validates everything first: on any mismatch it rejects and the model in memory is untouched. */
  importCheckpoint(bytes: Uint8Array): Promise<TrainerInfo>;
  hasAutosave(): Promise<AutosaveInfo | null>;
  /** Restores the autosave (as importCheckpoint, building the model it needs); state 'paused'. */
  resumeAutosave(): Promise<TrainerInfo>;
  info(): Promise<TrainerInfo>;
  /** Calls listener with every event (pass it through comlink.proxy across the worker boundary). */
  subscribe(listener: (event: TrainerEvent) => void): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /** Frees every GPU buffer; state 'empty'. */
  dispose(): Promise<void>;
}

/** Every TrainerApi method, in the order the worker serves them. */
export const TRAINER_METHODS = [
  'create', 'start', 'pause', 'step', 'reset', 'setHyper', 'sample', 'attentionMap', 'exportCheckpoint',
  'importCheckpoint', 'loseDevice', 'hasAutosave', 'resumeAutosave', 'info', 'subscribe', 'unsubscribe', 'dispose',
] as const satisfies readonly (keyof TrainerApi)[];

/** A typed error as it crosses the worker boundary. */
export interface WireError {
  name: string;
  message: string;
  /** DataError / CheckpointError reason. */
  reason?: string;
  /** CheckpointError: the entry at fault. */
  tensor?: string | null;
  /** NonFiniteError: the op that first produced a non-finite value. */
  op?: string;
}

/** Thrown across comlink as a plain object, so the extra fields survive; the client re-creates the class. */
export interface WireThrow {
  wireError: WireError;
}

export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const w: WireError = { name: e.name, message: e.message };
  if (e instanceof DataError || e instanceof CheckpointError) w.reason = e.reason;
  if (e instanceof CheckpointError) w.tensor = e.tensor;
  if (e instanceof NonFiniteError) w.op = e.op;
  return w;
}

/** The typed error a WireError describes (a plain Error with the same name for unknown classes). */
export function fromWireError(w: WireError): Error {
  const plain: Record<string, new (m: string) => EngineError> = {
    EngineError,
    WebGPUUnavailableError,
    ShapeError,
    DTypeError,
    DeviceLimitError,
    InputError,
    ConfigError,
    DeviceLostError,
  };
  if (w.name === 'DataError') return new DataError(w.message, w.reason as DataError['reason']);
  if (w.name === 'CheckpointError') return new CheckpointError(w.message, w.reason as CheckpointError['reason'], w.tensor ?? null);
  if (w.name === 'NonFiniteError') return new NonFiniteError(w.message, w.op ?? '');
  const Cls = plain[w.name];
  if (Cls) return new Cls(w.message);
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Whether a rejection from a worker is a WireThrow (a typed error in transit). */
export function isWireThrow(e: unknown): e is WireThrow {
  return typeof e === 'object' && e !== null && 'wireError' in e && typeof (e as WireThrow).wireError?.name === 'string';
}

/** Worker side: runs a method; a failure leaves as a WireThrow, so its typed fields survive comlink. */
export async function throwWire<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw { wireError: toWireError(e) } satisfies WireThrow;
  }
}

/** Page side: awaits a call into a worker; a WireThrow becomes its typed error again. */
export async function catchWire<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw isWireThrow(e) ? fromWireError(e.wireError) : e;
  }
}

/**
 * A worker's event listeners by id. A listener that throws, or (across comlink) whose call
 * rejects because its page is gone, is dropped.
 */
export class Listeners<E> {
  private byId = new Map<number, (e: E) => void>();
  private next = 1;

  add(listener: (e: E) => void): number {
    const id = this.next++;
    this.byId.set(id, listener);
    return id;
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  emit(e: E): void {
    for (const [id, l] of this.byId) {
      try {
        const r = l(e) as unknown;
        if (r instanceof Promise) r.catch(() => this.byId.delete(id));
      } catch {
        this.byId.delete(id);
      }
    }
  }
}

// A message to ourselves: a macrotask, so the page's messages get through between steps, without
// the 4 ms that browsers add to chained setTimeout(0) calls (a whole step on a fast GPU).
let channel: MessageChannel | null = null;
const waiting: (() => void)[] = [];

/** Resolves on the next turn of the event loop. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel!.port2.postMessage(null);
  });
}
