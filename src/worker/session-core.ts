// The plumbing the diffusion and GAN sessions share (diffusion-session.ts, gan-session.ts), under
// their public APIs, as TrainerCore (trainer-core.ts) is for the transformer's trainer: the engine;
// the current run and the swap that replaces it (create, reset, import build the new run beside
// the current one and swap only once it is complete, so a refused config or a bad checkpoint
// leaves the session as it was); the lock that runs GPU work one piece at a time; the loop that
// submits steps ahead of their results (start, pause, step, drain, settle); the batched metrics
// outbox; the listeners and the status events. A session extends it and says what its run is:
// how one is built, freed, stepped, checked, drawn, saved, loaded and described.
// Not here: anything about a model, its steps or its pictures (the sessions and their *-model.ts),
// the public methods whose shape differs between the pages (step, setHyper, sample, upload...),
// the transformer's trainer (trainer.ts: its loop also evaluates and autosaves).

import { parseSafetensors, type SafetensorsFile } from '../checkpoint/safetensors.js';
import { createEngine, type Engine } from '../engine.js';
import { InputError } from '../errors.js';
import { MetricsOutbox } from './metrics-outbox.js';
import { Listeners, toWireError, yieldToEventLoop, type WireError } from './protocol.js';

/** The events SessionCore sends itself; each session's event union includes them. */
export type CoreEvent<Info, Rec> =
  | { type: 'status'; info: Info }
  | { type: 'metrics'; steps: Rec[] }
  | { type: 'error'; error: WireError };

/** What SessionCore reads of a run's config. */
export interface CoreConfig {
  /** Steps after which the loop stops by itself (0: never). */
  totalSteps: number;
  /** The shortest time between two metrics events. */
  metricsIntervalMs: number;
}

/**
 * Run: one model with its data and optimizer state; Config: what builds it; Info: what info()
 * says; Event: the session's events; Rec: a metrics record; Result: what one step's promise holds.
 */
export abstract class SessionCore<Run extends { config: Config }, Config extends CoreConfig, Info, Event, Rec, Result> {
  protected engine: Engine | null;
  private readonly inFlight: number;
  /** The run trained and drawn now; null before create and after dispose. */
  protected current: Run | null = null;
  private readonly listeners = new Listeners<Event | CoreEvent<Info, Rec>>();
  /** GPU work runs one piece at a time: a step, a picture, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Results of submitted steps not yet read, oldest first. */
  private pending: Promise<Result>[] = [];
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  protected readonly outbox = new MetricsOutbox<Rec>((steps) => this.emit({ type: 'metrics', steps }), () => this.current?.config.metricsIntervalMs ?? 0);

  constructor(
    /** Names the session in messages, e.g. 'GAN session'. */
    private readonly label: string,
    opts: { engine?: Engine; inFlight?: number },
  ) {
    this.engine = opts.engine ?? null;
    this.inFlight = opts.inFlight ?? 2;
  }

  // ----------------------------------------------------------------------------------------
  // what a session says about its run

  /** The full config for create(): ConfigError (or DataError) before any GPU work. */
  protected abstract configOf(overrides: Partial<Config>): Config;
  /** A new run for `config`; the current one is untouched. */
  protected abstract build(config: Config): Promise<Run>;
  /** Frees the GPU buffers of `run`. */
  protected abstract free(run: Run): void;
  /** Frees what outlives one run (scorers), on dispose(). */
  protected abstract freeKept(): void;
  /** Steps `run` has completed. */
  protected abstract stepsOf(run: Run): number;
  /**
   * Submits one step (track() its result), waits while too many are in flight (waitInFlight()),
   * then draws when due. The result is wrapped so that awaiting this does not await it.
   */
  protected abstract iterate(): Promise<{ result: Promise<Result> }>;
  /** Waits until every submitted step's metrics record is made. */
  protected abstract recorded(): Promise<void>;
  /** Throws the NonFiniteError that stops a diverged run. */
  protected abstract check(result: Result, step: number): void;
  /** Draws what the page shows of the current run (after a swap, and when due). */
  protected abstract refresh(): Promise<void>;
  protected abstract save(run: Run): Promise<Uint8Array>;
  /** The config a checkpoint was saved with (`current` fills what it does not say). */
  protected abstract savedConfig(metadata: Record<string, string>, current: Config | null): Config;
  /** Weights and optimizer state of `file` into `run`. */
  protected abstract load(run: Run, bytes: Uint8Array, file: SafetensorsFile): Promise<void>;
  protected abstract info_(): Info;

  /** The run, when it can be stepped; the default: any run. */
  protected trainable(): Run {
    return this.need();
  }

  /** Called as steps begin (start, step). */
  protected startClock(): void {}

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  async create(overrides: Partial<Config>): Promise<Info> {
    const config = this.configOf(overrides);
    await this.pause();
    return this.rebuild(config);
  }

  async reset(): Promise<Info> {
    const { config } = this.need();
    await this.pause();
    return this.rebuild(config);
  }

  /** Builds a run for `config` beside the current one, then swaps it in. */
  private rebuild(config: Config): Promise<Info> {
    return this.exclusive(async () => {
      this.engine ??= await createEngine(); // WebGPUUnavailableError leaves the old session in place
      this.swap(await this.build(config));
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
    void this.exclusive(() => this.refresh()).catch((e) => this.emit({ type: 'error', error: toWireError(e) }));
  }

  // ----------------------------------------------------------------------------------------
  // running

  async start(): Promise<void> {
    this.trainable();
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

  /** `n` steps while paused, then the last one's result once every record is out. */
  protected async runSteps(n: number): Promise<Result> {
    if (!(Number.isInteger(n) && n >= 1)) throw new InputError(`step: n must be an integer >= 1, got ${n}.`);
    if (this.loop) throw new InputError('step: the session is running; pause it first.');
    this.trainable();
    this.startClock();
    let last: { result: Promise<Result> } | null = null;
    try {
      for (let i = 0; i < n; i++) {
        last = await this.exclusive(() => this.iterate());
        await yieldToEventLoop();
      }
      const result = await last!.result;
      await this.exclusive(() => this.drain());
      this.outbox.flush();
      return result;
    } catch (e) {
      await this.settle();
      throw e;
    }
  }

  private async runLoop(): Promise<void> {
    try {
      while (!this.stopRequested) {
        const run = this.need();
        if (run.config.totalSteps > 0 && this.stepsOf(run) >= run.config.totalSteps) break;
        await this.exclusive(() => this.iterate());
        await yieldToEventLoop();
      }
      await this.exclusive(() => this.drain());
      this.outbox.flush();
    } catch (e) {
      await this.settle();
      this.emit({ type: 'error', error: toWireError(e) });
    }
    this.loop = null;
    this.emit({ type: 'status', info: this.info_() });
  }

  /** Queues a submitted step's result; failures surface from the queue (to the loop or step()). */
  protected track(result: Promise<Result>): void {
    result.catch(() => {});
    this.pending.push(result);
  }

  /** Waits only while more than `inFlight` submitted steps are unread. */
  protected async waitInFlight(step: number): Promise<void> {
    while (this.pending.length > this.inFlight) this.check(await this.pending.shift()!, step);
  }

  /** Waits for every submitted step and its record. */
  protected async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    const results = await Promise.all(all);
    await this.recorded();
    for (const x of results) this.check(x, this.current ? this.stepsOf(this.current) : 0);
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
  // checkpoints

  exportCheckpoint(): Promise<Uint8Array> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return this.save(this.need());
    });
  }

  async importCheckpoint(bytes: Uint8Array): Promise<Info> {
    if (!(bytes instanceof Uint8Array)) throw new InputError('importCheckpoint: give the file as a Uint8Array.');
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine();
      await this.drain();
      const file = parseSafetensors(bytes); // CheckpointError for anything that is not safetensors
      const next = await this.build(this.savedConfig(file.metadata, this.current?.config ?? null));
      try {
        await this.load(next, bytes, file);
      } catch (e) {
        this.free(next);
        throw e;
      }
      this.swap(next);
      return this.status();
    });
  }

  // ----------------------------------------------------------------------------------------
  // events

  async info(): Promise<Info> {
    return this.info_();
  }

  async subscribe(listener: (event: Event | CoreEvent<Info, Rec>) => void): Promise<number> {
    return this.listeners.add(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
  }

  protected emit(e: Event | CoreEvent<Info, Rec>): void {
    this.listeners.emit(e);
  }

  /** Sends a status event and returns its info. */
  protected status(): Info {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  /** The fields of info() every session has: its state and the adapter it trains on. */
  protected state(): 'empty' | 'paused' | 'running' {
    return !this.current ? 'empty' : this.loop ? 'running' : 'paused';
  }

  protected adapterInfo(): { adapter: string; isSoftware: boolean } {
    const adapter = this.engine?.gpu.adapter;
    return {
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
    };
  }

  protected need(): Run {
    if (!this.current) throw new InputError(`The ${this.label} has no model; call create(config) first.`);
    return this.current;
  }

  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}
