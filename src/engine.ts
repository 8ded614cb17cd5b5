// The Engine: one GPU device with its buffer pool, pipeline cache and tuned kernel choices,
// the home of parameter and constant storage, and the two ways to run a graph: eagerly
// (`read`/`run`, for tests and exploration) or compiled into a replayable Plan (`compile`).
// Not here: how a plan is built or replayed (executor.ts), or any kernel (ops/).

import { acquireDevice, type DeviceOptions, type GpuContext } from './gpu/device.js';
import { BufferPool } from './gpu/buffers.js';
import { KernelCache } from './gpu/kernels.js';
import { compilePlan, type CompileSpec, type Feeds, type Place, Plan } from './executor.js';
import { estimatePlan, type MemoryEstimate } from './layout.js';
import { ConfigError, InputError, fmtShape } from './errors.js';
import type { KernelEnv } from './ops/types.js';
import { TUNABLES } from './ops/tunables.js';
import type { Tunable, TuneResult } from './ops/tunable.js';
import type { TuneOptions } from './ops/tune-cache.js';
import { storageBytes, topoOrder, type HostArray, type Tensor } from './tensor.js';
import { packHalves } from './half.js';
import { inNode, ProgressReporter, stderrProgress, type ProgressListener } from './progress.js';

export interface EngineOptions extends DeviceOptions {
  /**
   * Kernel choices to use instead of measuring them, per tuned family (ops/tunables.ts):
   * { matmul: 'register' } fixes the matmul tiling for every size, { 'matmul.large': 'shared' }
   * for one size class (see matmul.ts); { attention: 'thread' } or { 'attention.small':
   * 'workgroup-16x32' } the fused attention kernels' variant (ATTENTION_VARIANTS in attention.ts).
   */
  tuning?: Record<string, string>;
  /**
   * When a tuned family's variants (matmul tilings, attention variants) are measured for a size
   * class a compiled plan needs and no choice or cache gives:
   * - 'deferred' (the default; true means it too): the plan lowers such classes on each family's
   *   first choice (KernelChoices.firstChoice: quick to build), so its first run comes without
   *   waiting for measurements, and soon; its second run waits for the measurement, and where a
   *   pick differs from the first choice the plan is rebuilt in the background and swapped in at
   *   a later run (Plan.settled), the runs in between keeping the first choices;
   * - 'upfront': measured before the plan is compiled, so every run uses the picks (benchmarks);
   * - false: the adapter's defaults, never measured.
   */
  tune?: boolean | TuneMode;
  /**
   * Where measured picks persist: a JSON file in Node (default <cache dir>/webgpu-train/tuning.json,
   * see defaultTuningCachePath), localStorage in a page whatever the path; false: memory only.
   */
  tuningCache?: string | false;
  /** Bytes the pool may hold; compiling a plan that would pass it throws (default: no budget). */
  memoryBudget?: number;
  /**
   * Told the progress of long waits (autotuning, compiling a plan's pipelines); more listeners
   * with onProgress. Default: in Node, a line on stderr for a wait past a second
   * (stderrProgress); elsewhere none. false: none.
   */
  progress?: ProgressListener | false;
}

/** When an engine measures a class with no pick (EngineOptions.tune). */
export type TuneMode = 'deferred' | 'upfront';

export class Engine {
  readonly pool: BufferPool;
  readonly kernels: KernelCache;
  readonly tuning: Record<string, string>;
  /**
   * The kernel picks this engine took, every tuned family's (r.family says which; tuneResultsOf
   * gives one family's with its figures), per size class, as it took them (measured or cached).
   */
  readonly tuneResults: TuneResult[] = [];
  /** When classes with no pick are measured; false: never. */
  readonly tuneMode: TuneMode | false;
  private readonly tuningCache: string | false | undefined;
  /** Bytes the pool may hold, checked before a plan acquires anything (undefined: no budget). */
  memoryBudget: number | undefined;
  /** The phases of long waits report here (onProgress listens). */
  readonly progress = new ProgressReporter();
  private params = new Map<Tensor, Place>();
  private pendingParams = new Map<Tensor, Promise<Place>>();
  /** Buffers holding several parameters, with how many of them are still alive. */
  private arenas = new Map<GPUBuffer, number>();
  private constants = new WeakMap<Tensor, GPUBuffer>();
  // Constants are owned by their tensor: when it is collected, its buffer goes back to the pool.
  private constantsGone = new FinalizationRegistry<GPUBuffer>((b) => this.pool.release(b));

  constructor(
    readonly gpu: GpuContext,
    /** The options it was made with: an engine replacing it after a device loss is made with the same. */
    readonly options: EngineOptions = {},
  ) {
    this.pool = new BufferPool(gpu.device, gpu.limits);
    this.kernels = new KernelCache(gpu.device, gpu.features);
    this.tuning = { ...options.tuning };
    const { tune = true } = options;
    if (tune !== true && tune !== false && tune !== 'deferred' && tune !== 'upfront') {
      throw new ConfigError(`tune must be true, false, 'deferred' or 'upfront'; got ${JSON.stringify(tune)}.`);
    }
    this.tuneMode = tune === true ? 'deferred' : tune;
    this.tuningCache = options.tuningCache;
    if (!this.tuneMode) {
      // Written out, so that an engine created with a copy of this one's tuning runs the same kernels.
      for (const t of TUNABLES) {
        for (const c of t.classes) if (!t.chosen(this.tuning, c)) this.tuning[t.key(c)] = t.defaultChoice(gpu.adapter.isSoftware);
      }
    }
    if (options.memoryBudget !== undefined && !(options.memoryBudget > 0)) {
      throw new ConfigError(`memoryBudget must be a positive number of bytes; got ${options.memoryBudget}.`);
    }
    this.memoryBudget = options.memoryBudget;
    const listener = options.progress ?? (inNode() ? stderrProgress() : false);
    if (listener) this.progress.listen(listener);
  }

  /** Calls `listener` with the progress of every long wait (tuning, compiling) until the returned function is called. */
  onProgress(listener: ProgressListener): () => void {
    return this.progress.listen(listener);
  }

  /** What kernels may know about this device when they choose a variant. */
  get env(): KernelEnv {
    return { features: this.gpu.features, limits: this.gpu.limits, isSoftware: this.gpu.adapter.isSoftware, quadsInOrder: this.gpu.quadsInOrder, tuning: this.tuning };
  }

  /** Compiles forward, backward and updates into a plan to replay every step. */
  compile(spec: CompileSpec): Promise<Plan> {
    return compilePlan(this, spec);
  }

  /**
   * Picks a kernel variant for each size class of `spec`'s tuned ops (ops/tunables.ts: matmul
   * tilings, attention variants) that has none yet: cached, or measured now (compilePlan calls
   * this before laying a plan out with tune: 'upfront', a plan's second run with 'deferred';
   * eager plans never wait). Returns the picks taken, by family.
   */
  async tuneForPlan(spec: CompileSpec): Promise<TuneResult[]> {
    if (!this.tuneMode) return [];
    const taken: TuneResult[] = [];
    for (const [t, classes] of this.openClasses(spec)) taken.push(...(await this.takePicks(t, { classes })));
    return taken;
  }

  /** Whether compiling `spec` leaves measuring to after the plan's first run (tune: 'deferred', and a class of its ops has no pick). */
  defersTuning(spec: CompileSpec): boolean {
    return this.tuneMode === 'deferred' && this.openClasses(spec).length > 0;
  }

  /**
   * What kernels may know when they lower `spec` now: this.env, except that while the plan's
   * measurement is deferred (a compiled plan, tune: 'deferred'), a class with no pick lowers to
   * its family's first choice, the quick one to build, since the first run waits for it.
   */
  lowering(spec: CompileSpec): KernelEnv {
    const env = this.env;
    const open = spec.eager || this.tuneMode !== 'deferred' ? [] : this.openClasses(spec);
    if (!open.length) return env;
    const first: Record<string, string> = {};
    for (const [t, classes] of open) for (const c of classes) first[t.key(c)] = t.firstChoice(env.isSoftware);
    return { ...env, tuning: { ...first, ...this.tuning } };
  }

  /** The kernel choice each tuned class of `spec`'s ops lowers to now, as one string: a plan compares it before and after tuning. */
  loweredChoices(spec: CompileSpec): string {
    const order = planOrder(spec);
    const env = this.lowering(spec);
    return TUNABLES.flatMap((t) => t.classesOf(order).map((c) => `${t.key(c)}=${t.choose(env, c)}`)).join(' ');
  }

  /** The tuned families with the classes of `spec`'s ops that have no pick yet. */
  private openClasses(spec: CompileSpec): [Tunable, string[]][] {
    const open = TUNABLES.filter((t) => t.classes.some((c) => !t.chosen(this.tuning, c)));
    if (!open.length) return [];
    const order = planOrder(spec);
    return open.map((t): [Tunable, string[]] => [t, t.classesOf(order).filter((c) => !t.chosen(this.tuning, c))]).filter(([, cs]) => cs.length > 0);
  }

  /** Takes the cached picks of every class not chosen yet, measuring nothing (createEngine). */
  async loadCachedTuning(): Promise<TuneResult[]> {
    if (!this.tuneMode) return [];
    const taken: TuneResult[] = [];
    for (const t of TUNABLES) {
      const classes = t.classes.filter((c) => !t.chosen(this.tuning, c));
      if (classes.length) taken.push(...(await this.takePicks(t, { classes, measure: false })));
    }
    return taken;
  }

  /** The picks this engine took for one tuned family, with that family's figures. */
  tuneResultsOf<R extends TuneResult>(family: Tunable<string, string, R>): R[] {
    return this.tuneResults.filter((r) => r.family === family.name) as R[];
  }

  /** Runs `t`'s tuner (unless the device is lost) and uses its picks for the classes that still have none. */
  private async takePicks(t: Tunable, opts: TuneOptions<string>): Promise<TuneResult[]> {
    const classes = opts.classes ?? t.classes;
    // Only measuring takes long enough to report; cached picks come at once.
    const phase = opts.measure === false ? null : this.progress.phase(`tuning ${t.name}`, 'size classes', classes.length);
    const results = await this.measuring(() => t.tune(this, { ...opts, cache: this.tuningCache, onClass: phase ? () => phase.advance() : undefined }));
    // A choice made meanwhile (by the user, or by a compile that ran alongside) stands.
    const taken = results.filter((r) => !t.chosen(this.tuning, r.sizeClass));
    for (const r of taken) this.tuning[t.key(r.sizeClass)] = r.pick;
    this.tuneResults.push(...taken);
    return taken;
  }

  /** Runs `tune` unless the device is lost; a loss while measuring gives no picks (it surfaces from run). */
  private async measuring<R>(tune: () => Promise<R[]>): Promise<R[]> {
    try {
      return this.gpu.isLost() ? [] : await tune();
    } catch (e) {
      // Lost while measuring: lower with the defaults, and let the loss surface where it always
      // does (a DeviceLostError from run), not as a failed measurement.
      if (this.gpu.isLost()) return [];
      throw e;
    }
  }

  /** What compiling `spec` would add to the pool, by kind, in bytes; builds and acquires nothing. */
  estimate(spec: CompileSpec): MemoryEstimate {
    return estimatePlan(this, spec);
  }

  /** Whether a parameter or constant already has GPU storage (or is getting it). */
  hasStorage(t: Tensor): boolean {
    return this.params.has(t) || this.pendingParams.has(t) || this.constants.has(t);
  }

  /** Eager mode: runs the graph behind `targets` one op at a time and returns their values. */
  async run(targets: Tensor[], feeds: Feeds = {}, opts: { checkFinite?: boolean } = {}): Promise<HostArray[]> {
    const outputs = Object.fromEntries(targets.map((t, i) => [String(i), t]));
    const plan = await compilePlan(this, { outputs, eager: true, checkFinite: opts.checkFinite });
    try {
      const r = await plan.run(feeds);
      return targets.map((_, i) => r[String(i)]);
    } finally {
      plan.dispose();
    }
  }

  /** Eager mode for one tensor. */
  async read(t: Tensor, feeds: Feeds = {}): Promise<HostArray> {
    return (await this.run([t], feeds))[0];
  }

  /** The buffer of a constant tensor, uploaded on first use. */
  constantBuffer(t: Tensor): GPUBuffer {
    if (t.source.kind !== 'constant') throw new InputError(`${t} is not a constant.`);
    let b = this.constants.get(t);
    if (!b) {
      b = this.pool.acquire(storageBytes(t), `constant ${fmtShape(t.shape)}`);
      this.pool.write(b, t.dtype === 'f16' ? packHalves(t.source.data) : t.source.data);
      this.constants.set(t, b);
      this.constantsGone.register(t, b, t);
    }
    return b;
  }

  /** Drops a constant's uploaded copy, if any. */
  private evictConstant(t: Tensor): void {
    const b = this.constants.get(t);
    if (!b) return;
    this.constants.delete(t);
    this.constantsGone.unregister(t);
    this.pool.release(b);
  }

  /** Where a parameter lives, created and initialised on first use. */
  parameterPlace(p: Tensor): Promise<Place> {
    const ready = this.params.get(p);
    if (ready) return Promise.resolve(ready);
    let pending = this.pendingParams.get(p);
    if (!pending) {
      const name = p.source.kind === 'parameter' ? p.source.name : String(p);
      pending = this.initParameter(p, { buffer: this.pool.acquire(p.size * 4, `parameter '${name}' ${fmtShape(p.shape)}`), offset: 0 });
      this.track(p, pending);
    }
    return pending;
  }

  /**
   * Places parameters side by side in one buffer at the given byte offsets (a fused optimizer
   * updates them all in one dispatch) and initialises them. Call it before anything reads them.
   */
  async placeParameters(params: Tensor[], offsets: number[], bytes: number): Promise<GPUBuffer> {
    for (const p of params) {
      if (this.params.has(p) || this.pendingParams.has(p)) {
        throw new InputError(`${p} already has storage; create the optimizer before running anything that uses its parameters.`);
      }
    }
    const buffer = this.pool.acquire(bytes, 'parameter arena');
    this.arenas.set(buffer, params.length);
    await Promise.all(
      params.map((p, i) => this.track(p, this.initParameter(p, { buffer, offset: offsets[i] }))),
    );
    return buffer;
  }

  private async initParameter(p: Tensor, place: Place): Promise<Place> {
    const s = p.source;
    if (s.kind !== 'parameter') throw new InputError(`${p} is not a parameter.`);
    if (s.init instanceof Float32Array) {
      this.pool.write(place.buffer, s.init, place.offset);
    } else {
      // Initialise on the GPU: an eager plan that assigns the init graph to this place.
      this.params.set(p, place);
      const plan = await compilePlan(this, { updates: [[p, s.init as Tensor]], eager: true });
      try {
        await plan.run();
      } finally {
        plan.dispose();
        // The init graph's constants (seeds, scales) are not needed again: their host copies
        // stay with the tensors, so a later use would upload them anew.
        for (const t of topoOrder([s.init as Tensor])) this.evictConstant(t);
      }
    }
    this.params.set(p, place);
    return place;
  }

  /** Marks `p` as being initialised until `init` settles (it may settle at once). */
  private track(p: Tensor, init: Promise<Place>): Promise<Place> {
    const pending = init.finally(() => this.pendingParams.delete(p));
    this.pendingParams.set(p, pending);
    return pending;
  }

  /** Reads a parameter's current values. */
  async readParameter(p: Tensor): Promise<Float32Array> {
    return (await this.read(p)) as Float32Array;
  }

  /** Overwrites a parameter's values (for example from a checkpoint); checks the length first. */
  async writeParameter(p: Tensor, data: Float32Array): Promise<void> {
    if (data.length !== p.size) {
      throw new InputError(`${p} has ${p.size} values; ${data.length} were given.`);
    }
    const place = await this.parameterPlace(p);
    this.pool.write(place.buffer, data, place.offset);
  }

  /** Releases a parameter's storage (an arena once its last parameter is freed). */
  freeParameter(p: Tensor): void {
    const place = this.params.get(p);
    if (!place) return;
    this.params.delete(p);
    const left = this.arenas.get(place.buffer);
    if (left === undefined || left === 1) {
      this.arenas.delete(place.buffer);
      this.pool.release(place.buffer);
    } else this.arenas.set(place.buffer, left - 1);
  }

  /** Destroys the device; the engine cannot be used afterwards. */
  destroy(): void {
    this.gpu.device.destroy();
  }
}

/** Acquires a device (page, worker or Node) and returns an engine on it. */
/** Every tensor a plan of `spec` computes, producers first. */
function planOrder(spec: CompileSpec): Tensor[] {
  return topoOrder([...Object.values(spec.outputs ?? {}), ...(spec.updates ?? []).map(([, v]) => v), ...(spec.optimizer?.grads ?? [])]);
}

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const engine = new Engine(await acquireDevice(opts), opts);
  // Picks already measured on this adapter are used from the start (eager mode too); classes
  // not measured yet are measured when a compiled plan first needs them, not here.
  await engine.loadCachedTuning();
  return engine;
}
