// What the bench page and its worker (bench-worker.ts) say to each other: the suites on offer,
// the adapter's facts, a run request, and the events of a run (log lines, progress, each suite's
// result with its table). Served through the comlink glue of src/worker/rpc.ts, as the demos'
// workers are.
// Not here: running anything (bench-worker.ts) or drawing it (main.ts, charts.ts).

import type { AdapterSummary } from '../../src/gpu/device.js';
import type { BenchResult } from '../../bench/registry.js';

/** One suite of bench/registry.ts as the page offers it. */
export interface SuiteChoice {
  name: string;
  /** The registry's one-line title. */
  title: string;
  /** The suite measures TensorFlow.js on the same shapes after the engine. */
  hasPeer: boolean;
}

/** The limits worth seeing before reading a figure (the engine's device, not the defaults). */
export const KEY_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** What the worker learns from a device of its own before any suite runs. */
export interface BenchInfo {
  suites: SuiteChoice[];
  adapter: AdapterSummary;
  /** The optional features the engine found and uses (engine.gpu.features). */
  features: string[];
  limits: Record<(typeof KEY_LIMITS)[number], number>;
  /** Kernel loops are timed by GPU timestamps when the adapter has them, else by the wall clock. */
  timestamps: boolean;
  /** navigator.userAgent in the worker: the results' environment. */
  environment: string;
}

export interface RunRequest {
  suites: string[];
  /** Each suite's smallest sizes and fewest repetitions. */
  quick: boolean;
  /** Measure TensorFlow.js after the engine, for suites that have a peer. */
  peer: boolean;
}

export type BenchEvent =
  | { type: 'log'; line: string }
  /** Suite `index` of `count` is running item `item` of `total` (total 0: a step outside the count). */
  | { type: 'progress'; suite: string; index: number; count: number; item: number; total: number; label: string }
  /** A suite finished: its result (as bench/save.ts would write it) and its table. */
  | { type: 'result'; result: BenchResult; table: string }
  /** A suite failed; the run goes on with the next one. */
  | { type: 'failed'; suite: string; error: string };

export interface BenchApi {
  subscribe(listener: (e: BenchEvent) => void): Promise<void>;
  info(): Promise<BenchInfo>;
  /** Runs the suites in turn; resolves when the last one is done (or failed). */
  run(req: RunRequest): Promise<void>;
}

export const BENCH_METHODS = ['subscribe', 'info', 'run'] as const satisfies readonly (keyof BenchApi)[];
