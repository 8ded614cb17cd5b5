// The trainer's state and its plumbing, under the public API: the engine, the autosave store,
// the session built from one config (built, freed, loaded from a checkpoint, rebuilt from an
// autosave) and the event listeners. Step and evaluation records go out batched, at most one
// metrics event per metricsIntervalMs, through the outbox the other workers use; in mixed
// precision each event carries the loss scaler's state. Trainer (trainer.ts) extends it.
// Not here: the public methods, the loop and status (trainer.ts), what a session is made of and
// what is done to it on the GPU (trainer-session.ts).

import type { Engine } from '../engine.js';
import { InputError } from '../errors.js';
import { TrainingMetrics, type StepRecord } from '../metrics.js';
import type { Schedule } from '../optim/schedules.js';
import { openAutosave, type AutosaveRecord, type AutosaveStore } from './autosave.js';
import { MetricsOutbox } from './metrics-outbox.js';
import { prepareData, scheduleOf, trainerConfig, type SessionData } from './trainer-config.js';
import { autosavedConfig } from './trainer-checks.js';
import { buildSession, disposeSession, loadInto, scalerOf, type Session } from './trainer-session.js';
import { Listeners, type AutosaveBackend, type EvalRecord, type TrainerConfig, type TrainerEvent } from './protocol.js';

export interface TrainerOptions {
  /** The engine to train on; default: one created (createEngine) on the first create(). */
  engine?: Engine;
  /** Where autosaves go; default: openAutosave() (OPFS or IndexedDB in a browser, none in Node). */
  autosave?: AutosaveStore;
  /** Steps submitted ahead of the oldest one whose loss is not yet back. */
  inFlight?: number;
}

const now = () => performance.now();

export abstract class TrainerCore {
  protected engine: Engine | null;
  protected store: Promise<AutosaveStore>;
  protected backend: AutosaveBackend = 'unavailable';
  /** The engine it trains on now: a new one after a device loss (for accounting, such as the soak bench's). */
  get currentEngine(): Engine | null { return this.engine; }
  protected s: Session | null = null;
  protected schedule: Schedule = () => 0;
  protected listeners = new Listeners<TrainerEvent>();
  /** Step and evaluation records on their way out, and when the last batch of them went. */
  private outbox = new MetricsOutbox<StepRecord | EvalRecord>((records) => this.sendMetrics(records), () => this.s?.config.metricsIntervalMs ?? 0);
  private lastSent = -Infinity;
  private unsent = 0;

  constructor(opts: TrainerOptions) {
    this.engine = opts.engine ?? null;
    this.store = opts.autosave ? Promise.resolve(opts.autosave) : openAutosave();
    this.store.then((st) => (this.backend = st.backend)).catch(() => {});
  }

  // ----------------------------------------------------------------------------------------
  // the session

  /** Model, optimizer, plans, sampler and metrics for `data`, parameters fresh from the seed. */
  protected async build(data: SessionData): Promise<void> {
    this.schedule = scheduleOf(data.config);
    // The fused optimizer sees step + 1 for the update it is about to make; the schedule wants 0 first.
    this.s = await buildSession(this.engine!, data, (s) => this.schedule(s - 1), (blockSize) => this.newMetrics(data.config, blockSize));
  }

  /** A metrics collector whose records feed the batched metrics events and the eval's train loss. */
  protected newMetrics(config: TrainerConfig, blockSize: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: config.batch * blockSize });
    metrics.subscribe((r) => {
      const s = this.s;
      if (!s || s.metrics !== metrics) return;
      s.lossSum += r.loss;
      s.lossCount++;
      this.queueMetrics(r);
    });
    return metrics;
  }

  /** Frees every GPU buffer the session holds (plans, optimizer state, parameters). */
  protected teardown(): void {
    const s = this.s;
    if (!s) return;
    this.s = null;
    disposeSession(this.engine!, s);
    this.outbox.clear();
    this.unsent = 0;
  }

  /** Parameters, optimizer state, step and data position from a checkpoint; its metrics start over. */
  protected async load(bytes: Uint8Array): Promise<void> {
    const s = this.need();
    await loadInto(this.engine!, s, bytes);
    s.metrics = this.newMetrics(s.config, s.gpt.model.config.blockSize);
  }

  /** The session an autosave describes: data and model from its config, then its checkpoint. */
  protected async restore(record: AutosaveRecord): Promise<void> {
    const prepared = prepareData(trainerConfig(autosavedConfig(record)));
    this.teardown();
    await this.build(prepared);
    await this.load(record.checkpoint);
  }

  protected need(): Session {
    if (!this.s) throw new InputError('The trainer has no model; call create(config) first.');
    return this.s;
  }

  // ----------------------------------------------------------------------------------------
  // events

  protected emit(e: TrainerEvent): void {
    this.listeners.emit(e);
  }

  /** Queues a record: sent at once, or with the next batch when the interval allows it. */
  protected queueMetrics(r: StepRecord | EvalRecord): void {
    this.unsent++;
    this.outbox.push(r);
  }

  private sendMetrics(records: (StepRecord | EvalRecord)[]): void {
    this.lastSent = now();
    this.unsent = 0;
    const scaler = this.s ? scalerOf(this.s) : null;
    this.emit({
      type: 'metrics',
      steps: records.filter((r): r is StepRecord => !('valLoss' in r)),
      evals: records.filter((r): r is EvalRecord => 'valLoss' in r),
      ...(scaler ? { scaler } : {}),
    });
  }

  /** Delivers every waiting record, still keeping to the interval. */
  protected async flushMetrics(): Promise<void> {
    const wait = this.lastSent + (this.s?.config.metricsIntervalMs ?? 0) - now();
    if (wait > 0 && this.unsent > 0) await new Promise((r) => setTimeout(r, wait));
    this.outbox.flush();
  }
}
