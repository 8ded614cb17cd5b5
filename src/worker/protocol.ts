// What every session says to its page, whatever the task: the calls every worker API answers
// (SessionApi), the fields every info has, the events every session sends (status, metrics,
// autosave, recovered, error, progress) and the autosave's description. A task's protocol.ts
// extends these with its config, its own events and its own calls. Plain data that survives
// structured cloning.
// Not here: the session core (session.ts), the wire form of errors (wire.ts), any task.

import type { OptionalFeature } from '../gpu/device.js';
import type { Progress } from '../progress.js';
import type { WireError } from './wire.js';

/** 'empty': no model yet; 'paused': a model, not training; 'running': the loop is on. */
export type SessionState = 'empty' | 'paused' | 'running';

/**
 * Where autosaves go: the Origin Private File System, IndexedDB, process memory (Node scripts and
 * tests: gone when the process ends), or nowhere (no storage in this environment).
 */
export type AutosaveBackend = 'opfs' | 'indexeddb' | 'memory' | 'unavailable';

/** What the session core reads of every task's config. */
export interface CoreConfig {
  /** Steps after which the loop stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many steps (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
}

/** The fields of every session's info. */
export interface BaseInfo<Config> {
  state: SessionState;
  /** Steps completed (optimizer updates applied; for a GAN, generator steps). */
  step: number;
  /** The config in force (hyperparameters as last set); null while 'empty'. */
  config: Config | null;
  /** The adapter, e.g. 'SwiftShader (software)' or a GPU's description. */
  adapter: string;
  /** True on a CPU-emulated adapter: expect steps tens of times slower. */
  isSoftware: boolean;
  /** The optional features the device has and the engine may use ('shader-f16', 'subgroups', ...). */
  features: OptionalFeature[];
  autosave: AutosaveBackend;
}

export interface AutosaveInfo {
  /** The task that wrote it (absent in autosaves from before the field: those are the transformer's). */
  task?: string;
  step: number;
  /** When it was written (ms since the epoch). */
  savedAt: number;
  /** The model in a few words, as the page offers it: 'tiny mixed-precision', 'ring, hinge'. */
  model: string;
  backend: AutosaveBackend;
}

export interface StatusEvent<Info> {
  type: 'status';
  info: Info;
}

export interface AutosaveEvent {
  type: 'autosave';
  step: number;
  bytes: number;
  backend: AutosaveBackend;
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

/** Where a long wait of the engine stands (tuning kernels, compiling a plan): see progress.ts. */
export type ProgressEvent = { type: 'progress' } & Progress;

/** A failure inside the running loop (the loop stops; state becomes 'paused'). */
export interface ErrorEvent {
  type: 'error';
  error: WireError;
}

/** What every task's metrics event holds at least: the records of the steps since the last one, oldest first. */
export interface MetricsEventBase {
  type: 'metrics';
  steps: { step: number }[];
}

/** The events of every session; a task's event union adds its metrics event (a MetricsEventBase) and its own. */
export type CoreEvent<Info> = StatusEvent<Info> | AutosaveEvent | RecoveredEvent | ErrorEvent | ProgressEvent;

/**
 * The calls every session answers. Every method may reject with a typed error (re-created by the
 * client from a WireError): ConfigError, DataError, CheckpointError, InputError, WebGPUUnavailableError...
 */
export interface SessionApi<Config, Hyper, Info, Event, StepSummary> {
  /** Builds the model, its data and its compiled steps beside the current one, then replaces it; state 'paused'. */
  create(config: Partial<Config>): Promise<Info>;
  /** Starts the loop and resolves at once; progress arrives as events. */
  start(): Promise<void>;
  /** Stops the loop; resolves once the steps in flight are done and their metrics delivered. */
  pause(): Promise<Info>;
  /** Runs n steps while paused; resolves with the last one's result. */
  step(n: number): Promise<StepSummary>;
  /** New weights from the seed, optimizer state fresh, step 0; pauses first. */
  reset(): Promise<Info>;
  /** Takes effect at the next step. */
  setHyper(hyper: Partial<Hyper>): Promise<Info>;
  /** A safetensors checkpoint: weights, optimizer state, step, generator states, config, task. */
  exportCheckpoint(): Promise<Uint8Array>;
  /** Builds the model the file describes and loads it; a file that does not load leaves the session as it was. */
  importCheckpoint(bytes: Uint8Array): Promise<Info>;
  /**
   * Destroys the GPU device on purpose, as a driver reset would: a running loop comes back from
   * the latest autosave on a new device ('recovered' event). For demonstrations and tests.
   */
  loseDevice(): Promise<void>;
  /** The latest autosave of this task in this environment, or null. */
  hasAutosave(): Promise<AutosaveInfo | null>;
  /** Builds the model of the latest autosave and loads it; state 'paused'. */
  resumeAutosave(): Promise<Info>;
  info(): Promise<Info>;
  /** Calls listener with every event (pass it through comlink.proxy across the worker boundary). */
  subscribe(listener: (event: Event) => void): Promise<number>;
  unsubscribe(id: number): Promise<void>;
  /** Frees every GPU buffer; state 'empty'. */
  dispose(): Promise<void>;
}

/** Every SessionApi method, in the order a worker serves them; a task's list adds its own. */
export const SESSION_METHODS = [
  'create', 'start', 'pause', 'step', 'reset', 'setHyper', 'exportCheckpoint', 'importCheckpoint', 'loseDevice',
  'hasAutosave', 'resumeAutosave', 'info', 'subscribe', 'unsubscribe', 'dispose',
] as const satisfies readonly (keyof SessionApi<unknown, unknown, unknown, unknown, unknown>)[];
