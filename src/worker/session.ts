// The session core every task plugs into (the transformer, diffusion and GAN sessions in tasks/).
// It owns what is the same for every task: the engine; the current run and the swap that
// replaces it (create, reset, import and resume build the new run beside the current one and swap
// only once it is complete, so a refused config or a bad checkpoint leaves the session as it
// was); the lock that runs GPU work one piece at a time; the loop that submits steps ahead of
// their results and yields between them so the page's calls are served (start, pause, step);
// the batched metrics; hyperparameters that change between steps; autosave every few steps and
// resume on reopening; recovery from a lost device (a new device, the latest autosave, the loop
// goes on by itself); checkpoints with a `task` field, so a file of another task is refused with
// the page it belongs to; the listeners, the status events and the engine's progress.
// A task extends it and says what is its own: its config, how a run is built and freed, what one
// step submits, how a result is checked, what is due after a step, what its info and checkpoint
// hold. Its extra calls (samples, pictures, uploads) are methods of its subclass.
// Not here: any model, step or picture (tasks/), the worker glue (rpc.ts), the storage (autosave.ts).

import { saveCheckpoint, type CheckpointContents } from '../checkpoint/checkpoint.js';
import { parseSafetensors, type SafetensorsFile } from '../checkpoint/safetensors.js';
import { createEngine, type Engine } from '../engine.js';
import { CheckpointError, ConfigError, InputError, type DeviceLostError } from '../errors.js';
import { TASKS, taskOfCheckpoint, type TaskEntry, type TaskName } from '../tasks/registry.js';
import { openAutosave, type AutosaveRecord, type AutosaveStore } from './autosave.js';
import { Listeners, MetricsOutbox, yieldToEventLoop } from './events.js';
import type { AutosaveBackend, AutosaveInfo, BaseInfo, CoreConfig, CoreEvent } from './protocol.js';
import { toWireError } from './wire.js';

/** At most one progress event per this many ms within a phase (its first and last always go). */
const PROGRESS_INTERVAL_MS = 100;

export interface SessionOptions {
  /** The engine to train on; default: one created (createEngine) on the first create(). */
  engine?: Engine;
  /** Where autosaves go; default: openAutosave(task) (OPFS or IndexedDB in a browser, none in Node). */
  autosave?: AutosaveStore;
  /** Steps submitted ahead of the oldest one whose result is not yet back. */
  inFlight?: number;
}

/**
 * Run: one model with its data, optimizer state and compiled steps; Config: what builds it;
 * Info: what info() says; Event: the task's events; Rec: a metrics record; Result: what one
 * submitted step's promise holds.
 */
export abstract class Session<
  Run extends { config: Config },
  Config extends CoreConfig,
  Info extends BaseInfo<Config>,
  Event extends { type: string },
  Rec,
  Result,
> {
  protected engine: Engine | null;
  /** The run trained and drawn now; null before create, after dispose and while a lost device is replaced. */
  protected current: Run | null = null;
  private readonly store: Promise<AutosaveStore>;
  private backend: AutosaveBackend = 'unavailable';
  private readonly inFlight: number;
  private readonly listeners = new Listeners<Event | CoreEvent<Info>>();
  /** GPU work runs one piece at a time: a step, a picture, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Results of submitted steps not yet checked, oldest first. */
  private pending: Promise<Result>[] = [];
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  /** Metrics records on their way out, at most one event per the run's metricsIntervalMs. */
  protected readonly outbox = new MetricsOutbox<Rec>((records) => this.emit(this.metricsEvent(records)), () => this.current?.config.metricsIntervalMs ?? 0);

  constructor(
    /** The task's name in the registry: its checkpoints' `task` field and its autosave slot. */
    readonly task: TaskName,
    opts: SessionOptions,
  ) {
    this.engine = opts.engine ? this.follow(opts.engine) : null;
    this.inFlight = opts.inFlight ?? 2;
    this.store = opts.autosave ? Promise.resolve(opts.autosave) : openAutosave(task);
    this.store.then((s) => (this.backend = s.backend)).catch(() => {});
  }

  /**
   * Passes `engine`'s progress (tuning, compiling) on as progress events: each phase's first and
   * last report, and at most one in between per PROGRESS_INTERVAL_MS.
   */
  private follow(engine: Engine): Engine {
    let phase = '';
    let sentAt = -Infinity;
    engine.onProgress((p) => {
      const now = performance.now();
      if (p.phase === phase && p.done > 0 && p.done < p.total && now - sentAt < PROGRESS_INTERVAL_MS) return;
      phase = p.phase;
      sentAt = now;
      this.emit({ type: 'progress', ...p });
    });
    return engine;
  }

  /**
   * The engine, created (and followed for progress) on first need: a task that looks at the
   * device before its first run (its limits, to say what fits) asks here.
   */
  protected async device(): Promise<Engine> {
    this.engine ??= this.follow(await createEngine());
    return this.engine;
  }

  /** The engine it trains on now: a new one after a device loss (for accounting, such as the soak bench's). */
  get currentEngine(): Engine | null {
    return this.engine;
  }

  // ----------------------------------------------------------------------------------------
  // what a task says about its runs

  /** The full config from defaults and `overrides`, every field checked (ConfigError), on the host. */
  protected abstract configOf(overrides: Partial<Config>): Config;
  /** Fields setHyper may change between steps. */
  protected abstract readonly hyperKeys: readonly (keyof Config)[];
  /** Refuses, before any GPU work, a config whose data is not usable (an upload not given yet). */
  protected checkData(_config: Config): void {}
  /** A new run for `config`; the current one is untouched. */
  protected abstract build(config: Config): Promise<Run>;
  /** Frees the GPU buffers of `run`. */
  protected abstract free(run: Run): void;
  /** Frees what outlives one run (scorers), on dispose(). */
  protected freeKept(): void {}
  /** Forgets what outlives one run after the device was lost: it died with the device and cannot be freed. */
  protected forgetKept(): void {}
  /** Steps `run` has completed. */
  protected abstract stepsOf(run: Run): number;
  /** Submits one step of `run` and starts its metrics record; the result is not awaited. */
  protected abstract submit(run: Run): Promise<Result>;
  /** Waits until every submitted step's metrics record is made. */
  protected abstract recorded(): Promise<void>;
  /** Looks at a step's result, in step order; throws (a NonFiniteError) to stop the run. */
  protected abstract check(run: Run, result: Result): void | Promise<void>;
  /** What is due after step `step` was submitted (evaluation, samples, pictures). */
  protected periodic(_run: Run, _step: number): Promise<void> {
    return Promise.resolve();
  }
  /** Draws what the page shows of a run that was just swapped in. */
  protected refresh(_run: Run): Promise<void> {
    return Promise.resolve();
  }
  /**
   * Applies a checked config of changed hyperparameters to `run` (a learning rate, a recompiled
   * step), between two steps; steps may be in flight (drain() waits for them).
   */
  protected applyHyper(run: Run, next: Config): void | Promise<void> {
    run.config = next;
  }
  /** What a checkpoint of `run` holds (the core adds the task and writes the file). */
  protected abstract contents(run: Run): Promise<CheckpointContents>;
  /** Bytes an autosave keeps beside the checkpoint to rebuild the data (an uploaded text). */
  protected attachment(_run: Run): Uint8Array | null {
    return null;
  }
  /**
   * The config to build for a checkpoint of this task: what it says over `current` (the config
   * in force, or null); `attachment` is an autosave's. CheckpointError when it cannot be used.
   */
  protected abstract savedConfig(metadata: Record<string, string>, current: Config | null, attachment: Uint8Array | null): Config;
  /** Weights and optimizer state of `file` into a freshly built `run`, every entry checked first. */
  protected abstract load(run: Run, bytes: Uint8Array, file: SafetensorsFile): Promise<void>;
  /** The model in a few words, for the autosave's offer. */
  protected abstract describe(run: Run): string;
  /** The fields of info() that are the task's own. */
  protected abstract details(run: Run | null): Omit<Info, keyof BaseInfo<Config>>;
  /** The metrics event for a batch of records. */
  protected abstract metricsEvent(records: Rec[]): Event;
  /** The run, when it can be stepped (an upload's checkpoint loaded without its images cannot). */
  protected trainable(run: Run): Run {
    return run;
  }
  /** Called as steps begin (start, step). */
  protected startClock(): void {}

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  async create(overrides: Partial<Config>): Promise<Info> {
    const config = this.configOf(overrides);
    this.checkData(config);
    await this.pause();
    return this.rebuild(() => this.build(config));
  }

  async reset(): Promise<Info> {
    const { config } = this.need();
    await this.pause();
    return this.rebuild(() => this.build(config));
  }

  /** Makes a run with `make` beside the current one, then swaps it in. */
  private rebuild(make: () => Promise<Run>): Promise<Info> {
    return this.exclusive(async () => {
      await this.device(); // WebGPUUnavailableError leaves the old session in place
      await this.drain();
      this.swap(await make());
      return this.status();
    });
  }

  async dispose(): Promise<void> {
    await this.pause();
    await this.exclusive(async () => {
      if (this.current) this.free(this.current);
      this.current = null;
      this.freeKept();
    });
    this.emit({ type: 'status', info: this.info_() });
  }

  /** Makes `next` the run (freeing the old one) and queues its first pictures. */
  private swap(next: Run): void {
    if (this.current) this.free(this.current);
    this.current = next;
    this.outbox.clear();
    void this.exclusive(() => this.refresh(next)).catch((e) => this.emit({ type: 'error', error: toWireError(e) }));
  }

  // ----------------------------------------------------------------------------------------
  // running

  async start(): Promise<void> {
    this.trainable(this.need());
    if (this.loop) return;
    this.stopRequested = false;
    this.startClock();
    this.loop = this.runLoop();
    this.emit({ type: 'status', info: this.info_() });
  }

  async pause(): Promise<Info> {
    if (this.loop) {
      this.stopRequested = true;
      await this.loop;
    }
    return this.info_();
  }

  /** `n` steps while paused; the last one's result once it is checked and every record is out. */
  protected async runSteps(n: number): Promise<Result> {
    if (!(Number.isInteger(n) && n >= 1)) throw new InputError(`step: n must be an integer >= 1, got ${n}.`);
    if (this.loop) throw new InputError(`step: the ${TASKS[this.task].title} session is running; pause it first.`);
    this.trainable(this.need());
    this.startClock();
    let last: { result: Promise<Result> } | null = null;
    try {
      for (let i = 0; i < n; i++) {
        last = await this.exclusive(() => this.iterate());
        await yieldToEventLoop();
      }
      const result = await last!.result;
      await this.exclusive(() => this.drain());
      await this.outbox.deliver();
      return result;
    } catch (e) {
      await this.settle();
      throw e;
    }
  }

  private async runLoop(): Promise<void> {
    for (;;) {
      try {
        while (!this.stopRequested) {
          const run = this.need();
          if (run.config.totalSteps > 0 && this.stepsOf(run) >= run.config.totalSteps) break;
          await this.exclusive(() => this.iterate());
          await yieldToEventLoop();
        }
        await this.exclusive(() => this.drain());
        await this.outbox.deliver();
      } catch (e) {
        // A lost device shows up as whatever the call in progress failed with (an aborted
        // read-back, a DeviceLostError), sometimes before the device reports the loss itself.
        const lost = await lostDevice(this.engine);
        let failure: unknown = lost ?? e;
        if (lost && !this.stopRequested) {
          try {
            if (await this.exclusive(() => this.recover(lost))) continue;
          } catch (again) {
            failure = again; // no new device, or the autosave would not load: the loop stops with that
          }
        }
        await this.settle();
        this.emit({ type: 'error', error: toWireError(failure) });
      }
      break;
    }
    this.loop = null;
    this.emit({ type: 'status', info: this.info_() });
  }

  /**
   * One step: submits it, checks results while more than `inFlight` are unread, then runs what is
   * due (the task's periodic work, the autosave). The result is wrapped so that awaiting this
   * does not await it.
   */
  private async iterate(): Promise<{ result: Promise<Result> }> {
    const run = this.need();
    const result = this.submit(run);
    result.catch(() => {}); // failures surface from the queue (to the loop or step())
    this.pending.push(result);
    while (this.pending.length > this.inFlight) await this.check(run, await this.pending.shift()!);
    const step = this.stepsOf(run);
    await this.periodic(run, step);
    const every = run.config.autosaveEvery;
    if (every > 0 && step % every === 0) await this.autosave(run);
    return { result };
  }

  /** Waits for every submitted step and its record, and checks them. */
  protected async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    const results = await Promise.all(all);
    await this.recorded();
    const run = this.current;
    if (run) for (const r of results) await this.check(run, r);
  }

  /** After a failure: waits for the steps still in flight, whatever their outcome. */
  private async settle(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    await Promise.allSettled(all);
    await this.recorded();
    this.outbox.flush();
  }

  // ----------------------------------------------------------------------------------------
  // hyperparameters

  async setHyper(hyper: Partial<Config>): Promise<Info> {
    const run = this.need();
    for (const k of Object.keys(hyper)) {
      if (!this.hyperKeys.includes(k as keyof Config)) {
        throw new ConfigError(`setHyper: '${k}' cannot change during a run; create the model again.`);
      }
    }
    const next = this.configOf({ ...run.config, ...hyper });
    await this.exclusive(async () => this.applyHyper(run, next)); // between two steps
    return this.status();
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints, autosave, recovery

  exportCheckpoint(): Promise<Uint8Array> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return this.checkpoint(this.need());
    });
  }

  async importCheckpoint(bytes: Uint8Array): Promise<Info> {
    if (!(bytes instanceof Uint8Array)) throw new InputError('importCheckpoint: give the file as a Uint8Array.');
    await this.pause();
    return this.rebuild(() => this.loaded(bytes, this.current?.config ?? null, null));
  }

  async hasAutosave(): Promise<AutosaveInfo | null> {
    return (await this.store).info();
  }

  async resumeAutosave(): Promise<Info> {
    const record = await (await this.store).load();
    if (!record) throw new InputError('resumeAutosave: there is no autosave to resume; start a new run.');
    await this.pause();
    return this.rebuild(() => this.loaded(record.checkpoint, null, record.attachment));
  }

  async loseDevice(): Promise<void> {
    this.engine?.destroy();
  }

  /** The checkpoint of `run`, with this task's name in it. */
  private async checkpoint(run: Run): Promise<Uint8Array> {
    return saveCheckpoint(this.engine!, { ...(await this.contents(run)), task: this.task });
  }

  /** A new run built for a checkpoint (of this task: CheckpointError otherwise) and loaded from it. */
  private async loaded(bytes: Uint8Array, current: Config | null, attachment: Uint8Array | null): Promise<Run> {
    const file = parseSafetensors(bytes); // CheckpointError for anything that is not safetensors
    const theirs = taskOfCheckpoint(file.metadata);
    if (theirs !== null && theirs !== this.task) {
      const entry = (TASKS as Record<string, TaskEntry>)[theirs];
      const ours = `this page trains ${TASKS[this.task].model}`;
      throw new CheckpointError(
        entry
          ? `This is a ${entry.title} checkpoint, and ${ours}: load it on ${entry.page}.`
          : `This checkpoint is of a task called '${theirs}', which this version does not have, and ${ours}: load it where it was made.`,
        'task',
      );
    }
    const next = await this.build(this.savedConfig(file.metadata, current, attachment));
    try {
      await this.load(next, bytes, file);
    } catch (e) {
      this.free(next);
      throw e;
    }
    return next;
  }

  private async autosave(run: Run): Promise<void> {
    const store = await this.store;
    if (store.backend === 'unavailable') return;
    const checkpoint = await this.checkpoint(run);
    const info: AutosaveInfo = { task: this.task, step: this.stepsOf(run), savedAt: Date.now(), model: this.describe(run), backend: store.backend };
    await store.save({ info, checkpoint, attachment: this.attachment(run) });
    this.emit({ type: 'autosave', step: info.step, bytes: checkpoint.length, backend: store.backend });
  }

  /**
   * After the device is lost mid-run: a new device, the run rebuilt from the latest autosave
   * (weights, optimizer state, step, data position) with the config in force, and the loop
   * carries on from there; the steps since that autosave run again. False when there is no
   * autosave to come back to.
   */
  private async recover(e: DeviceLostError): Promise<boolean> {
    const record: AutosaveRecord | null = await (await this.store).load();
    const run = this.current;
    if (!record || !run) return false;
    // Everything the session held died with the device; nothing of it can be freed or read.
    this.current = null;
    this.pending = [];
    this.forgetKept();
    const lost = this.engine;
    this.engine = null;
    // The same options and kernel picks: the run goes on with the same kernels, so the same numbers.
    this.engine = this.follow(await createEngine(lost ? { ...lost.options, tuning: { ...lost.tuning } } : {}));
    const next = await this.loaded(record.checkpoint, run.config, record.attachment);
    this.swap(next);
    this.emit({ type: 'recovered', reason: e.message, lostAt: this.stepsOf(run), resumedAt: this.stepsOf(next) });
    return true;
  }

  // ----------------------------------------------------------------------------------------
  // events

  async info(): Promise<Info> {
    return this.info_();
  }

  async subscribe(listener: (event: Event | CoreEvent<Info>) => void): Promise<number> {
    return this.listeners.add(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
  }

  protected emit(e: Event | CoreEvent<Info>): void {
    this.listeners.emit(e);
  }

  /** Sends a status event and returns its info. */
  protected status(): Info {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  protected info_(): Info {
    const run = this.current;
    const gpu = this.engine?.gpu;
    const adapter = gpu?.adapter;
    const base: BaseInfo<Config> = {
      state: !run ? 'empty' : this.loop ? 'running' : 'paused',
      step: run ? this.stepsOf(run) : 0,
      config: run ? { ...run.config } : null,
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
      features: gpu ? [...gpu.features] : [],
      autosave: this.backend,
    };
    return { ...base, ...this.details(run) } as Info;
  }

  protected need(): Run {
    if (!this.current) throw new InputError(`The ${TASKS[this.task].title} session has no model; call create(config) first.`);
    return this.current;
  }

  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}

/** The engine's device loss, if it is lost or reports a loss within half a second (else null). */
function lostDevice(engine: Engine | null): Promise<DeviceLostError | null> {
  if (!engine) return Promise.resolve(null);
  return Promise.race([engine.gpu.lost, new Promise<null>((resolve) => setTimeout(() => resolve(null), 500))]);
}
