// The contrastive-learning trainer, a task of the session core (worker/session.ts): one run
// (generated digits, the encoder and projection head and their optimizer, see run.ts) whose
// steps the core's loop submits without waiting for the previous one's figures, serving pause,
// probe, embedding, views and export calls in between.
// Every `probeEvery` steps it trains a linear probe on the frozen features and sends its
// held-out accuracy beside the raw-pixel and initial-encoder baselines; every `embeddingEvery`
// steps the held-out digits' features in 2D by PCA. Step records (loss, positive and negative
// similarities, top-1 accuracy of the positive) go out batched, at most one metrics event per
// metricsIntervalMs. A new run shows views of training images and its embedding by itself.
// It runs as is in Node and in the Web Worker (worker.ts).
//
// A loaded run continues exactly as the saved one would have: same weights, Adam moments, batch
// order and augmentation seeds.
// Not here: what every task shares (the swap, the lock, the loop, autosave, recovery from a lost
// device, the events: worker/session.ts), building, evaluations and checkpoint contents (run.ts),
// the contract (protocol.ts), the comlink glue (worker.ts, client.ts).

import { NonFiniteError } from '../../errors.js';
import type { ContrastiveStepResult } from '../../models/contrastive.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import {
  contrastiveSessionConfig, HYPER_KEYS, type ContrastiveApi, type ContrastiveEmbeddingEvent, type ContrastiveEvent, type ContrastiveInfo,
  type ContrastiveMetricsEvent, type ContrastiveProbeEvent, type ContrastiveSessionConfig, type ContrastiveStepRecord, type ContrastiveStepSummary,
  type ContrastiveViewsEvent,
} from './protocol.js';
import { buildRun, checkpointContents, embedding, freeRun, IMAGE_SIDE, loadInto, nextBatch, probe, savedConfig, views, type ContrastiveRun } from './run.js';

export type ContrastiveSessionOptions = SessionOptions;

const FAILED: ContrastiveStepResult = { loss: NaN, posSim: NaN, negSim: NaN, accuracy: NaN, gradNorm: NaN };

export class ContrastiveSession
  extends Session<ContrastiveRun, ContrastiveSessionConfig, ContrastiveInfo, ContrastiveEvent, ContrastiveStepRecord, ContrastiveStepResult>
  implements ContrastiveApi {
  protected readonly hyperKeys = HYPER_KEYS;
  /** Records are made in submission order, as results arrive. */
  private recording: Promise<void> = Promise.resolve();
  /** When the previous step's result arrived (or the run started): its successor's time counts from here. */
  private lastDone = 0;

  constructor(opts: ContrastiveSessionOptions = {}) {
    super('contrastive', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<ContrastiveSessionConfig>): ContrastiveSessionConfig {
    return contrastiveSessionConfig(overrides);
  }

  protected build(config: ContrastiveSessionConfig): Promise<ContrastiveRun> {
    return buildRun(this.engine!, config);
  }

  protected free(r: ContrastiveRun): void {
    freeRun(this.engine!, r);
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<ContrastiveStepSummary> {
    const { loss, accuracy } = await this.runSteps(n);
    return { step: this.need().model.steps, loss, accuracy };
  }

  protected startClock(): void {
    this.lastDone = performance.now();
  }

  protected stepsOf(r: ContrastiveRun): number {
    return r.model.steps;
  }

  protected submit(r: ContrastiveRun): Promise<ContrastiveStepResult> {
    const lr = r.model.optimizer.lr;
    // Contrastive.step submits before its first await, so the batch buffer can be refilled at once.
    const result = r.model.step(nextBatch(r), true) as Promise<ContrastiveStepResult>;
    this.record(r, r.model.steps, lr, result);
    return result;
  }

  /** Turns a step's result into a record, in submission order; a failed one records NaN figures. */
  private record(r: ContrastiveRun, step: number, lr: number, result: Promise<ContrastiveStepResult>): void {
    this.recording = this.recording.then(async () => {
      const x = await result.catch(() => FAILED);
      const now = performance.now();
      const ms = now - this.lastDone;
      this.lastDone = now;
      if (this.current !== r) return;
      this.outbox.push({ step, loss: x.loss, posSim: x.posSim, negSim: x.negSim, accuracy: x.accuracy, gradNorm: x.gradNorm, lr, ms });
    });
  }

  protected recorded(): Promise<void> {
    return this.recording;
  }

  /** A diverged run stops with a NonFiniteError rather than probing NaNs. */
  protected check(r: ContrastiveRun, x: ContrastiveStepResult): void {
    if (!Number.isFinite(x.loss)) {
      throw new NonFiniteError(`The loss became ${x.loss} by step ${r.model.steps}: the learning rate is too high for this model. Lower it and reset.`, 'loss');
    }
  }

  protected async periodic(r: ContrastiveRun, step: number): Promise<void> {
    const due = (every: number) => every > 0 && step % every === 0;
    if (!due(r.config.probeEvery) && !due(r.config.embeddingEvery)) return;
    await this.drain();
    if (due(r.config.embeddingEvery)) await this.show(r, embedding);
    if (due(r.config.probeEvery)) await this.show(r, probe);
  }

  protected metricsEvent(steps: ContrastiveStepRecord[]): ContrastiveMetricsEvent {
    return { type: 'metrics', steps };
  }

  protected applyHyper(r: ContrastiveRun, next: ContrastiveSessionConfig): void {
    r.config = next;
    r.model.setLr(next.lr);
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model

  async probe(): Promise<ContrastiveProbeEvent> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return (await this.show(this.need(), probe))!;
    });
  }

  async views(): Promise<ContrastiveViewsEvent> {
    this.need();
    return this.exclusive(async () => (await this.show(this.need(), views))!);
  }

  async embedding(): Promise<ContrastiveEmbeddingEvent> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return (await this.show(this.need(), embedding))!;
    });
  }

  protected async refresh(r: ContrastiveRun): Promise<void> {
    await this.show(r, views);
    await this.show(r, embedding);
  }

  /** Computes and sends one evaluation of `r` while it is the current run. */
  private async show<E extends ContrastiveProbeEvent | ContrastiveEmbeddingEvent | ContrastiveViewsEvent>(r: ContrastiveRun, what: (r: ContrastiveRun) => Promise<E>): Promise<E | null> {
    if (r !== this.current) return null;
    const e = await what(r);
    this.emit(e);
    return e;
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(r: ContrastiveRun) {
    return checkpointContents(r);
  }

  protected savedConfig(metadata: Record<string, string>, current: ContrastiveSessionConfig | null): ContrastiveSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(r: ContrastiveRun, bytes: Uint8Array): Promise<void> {
    return loadInto(this.engine!, r, bytes);
  }

  protected describe(r: ContrastiveRun): string {
    return `${r.config.loss}, ${r.config.features} features, batch ${r.config.batch}`;
  }

  protected details(r: ContrastiveRun | null) {
    return {
      parameterCount: (r?.model.params ?? []).reduce((a, p) => a + p.size, 0),
      size: IMAGE_SIDE,
      featureCount: r?.model.config.features ?? 0,
    };
  }
}
