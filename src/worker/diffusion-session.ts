// The diffusion trainer behind the diffusion page: one session (2D points: a training set and a
// held-out set, the MLP denoiser, the diffusion model and its samplers, see diffusion-model.ts;
// or images: glyphs or the user's upload and a U-Net, see diffusion-images.ts) and a loop that
// keeps the GPU busy: a step is submitted without waiting for the previous one's loss, and the
// loop yields between steps so that pause, field, frames and export calls are served in between.
// Every `sampleEvery` steps it draws samples with the moving-average weights from one fixed noise
// seed (so successive samples show the same noise becoming data) and scores them: points against
// the held-out set (MMD², sliced Wasserstein, ring modes) with the denoising field recomputed;
// glyphs by the image scorer (class agreement, Fréchet distance), which trains in the background
// the first time a size is chosen. Step records go out batched, at most one metrics event per
// metricsIntervalMs. It runs as is in Node and inside the Web Worker (diffusion-worker.ts).
//
// Building (create, reset, import) makes the new session beside the current one and swaps only
// once it is complete, so a refused config or a bad checkpoint leaves the session as it was. A
// loaded run continues from the same weights, average, optimizer state and batch order, but on
// other timesteps and noise (Diffusion keeps that generator private): close, not bit for bit.
// Not here: building, sampling and checkpoint contents (diffusion-model.ts), the contract
// (diffusion-protocol.ts), the comlink glue (diffusion-worker.ts, diffusion-client.ts).

import { parseSafetensors } from '../checkpoint/safetensors.js';
import { ringCentres } from '../data/toy2d.js';
import { createEngine, type Engine } from '../engine.js';
import { ConfigError, InputError } from '../errors.js';
import { TrainingMetrics } from '../metrics.js';
import { Listeners, toWireError, yieldToEventLoop } from './protocol.js';
import {
  diffusionSessionConfig, HYPER_KEYS, isImageDataset, type DenoiseFrames, type DiffusionApi, type DiffusionEvent, type DiffusionHyper,
  type DiffusionInfo, type DiffusionSessionConfig, type FieldEvent, type ImageGridData, type ImagesEvent, type SamplesEvent,
  type UploadSource, type UploadSummary,
} from './diffusion-protocol.js';
import {
  buildSession, checkLoss, checkpointBytes, denoiseFrames, denoisingField, drawSamples, freeSession, loadInto, nextBatch, quality,
  savedConfig, type PointSession,
} from './diffusion-model.js';
import { MetricsOutbox } from './metrics-outbox.js';
import type { StepRecord } from '../metrics.js';
import { dataGrid, freeImageSession, imageFrames, ImageSide, nextImageBatch, type ImageSession } from './diffusion-images.js';

type Session = PointSession | ImageSession;

export interface DiffusionSessionOptions {
  /** The engine to train on; default: one created on the first create(). */
  engine?: Engine;
  /** Steps submitted ahead of the oldest one whose loss is not yet back. */
  inFlight?: number;
}

export class DiffusionSession implements DiffusionApi {
  private engine: Engine | null;
  private readonly inFlight: number;
  private s: Session | null = null;
  private listeners = new Listeners<DiffusionEvent>();
  /** GPU work runs one piece at a time: a loop step, a sample, a field, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Losses of submitted steps not yet read, oldest first. */
  private pending: Promise<number>[] = [];
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  private outbox = new MetricsOutbox<StepRecord>((steps) => this.emit({ type: 'metrics', steps }), () => this.s?.config.metricsIntervalMs ?? 0);
  /** Scorers and the upload: what outlives one image session. */
  private readonly images = new ImageSide((e) => this.emit(e), () => this.s);

  constructor(opts: DiffusionSessionOptions = {}) {
    this.engine = opts.engine ?? null;
    this.inFlight = opts.inFlight ?? 2;
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  async create(overrides: Partial<DiffusionSessionConfig>): Promise<DiffusionInfo> {
    const config = diffusionSessionConfig(overrides); // ConfigError before any GPU work
    this.images.checkData(config); // DataError for an upload before any images
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine(); // WebGPUUnavailableError leaves the old session in place
      this.swap(await this.build(config));
      return this.status();
    });
  }

  async reset(): Promise<DiffusionInfo> {
    const { config } = this.need();
    await this.pause();
    return this.exclusive(async () => {
      this.swap(await this.build(config));
      return this.status();
    });
  }

  async dispose(): Promise<void> {
    await this.pause();
    await this.exclusive(async () => {
      if (this.s) this.free(this.s);
      this.s = null;
      this.images.scorers.dispose();
    });
    this.emit({ type: 'status', info: this.info_() });
  }

  /** A new session for `config` (the current one is untouched until swap). */
  private build(config: DiffusionSessionConfig): Promise<Session> {
    const metrics = this.newMetrics(config.batch);
    return isImageDataset(config.dataset) ? this.images.build(this.engine!, config, metrics) : buildSession(this.engine!, config, metrics);
  }

  /** Step records that feed the batched metrics events while they belong to the current session. */
  private newMetrics(batch: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: batch });
    metrics.subscribe((r) => {
      if (this.s?.metrics === metrics) this.outbox.push(r);
    });
    return metrics;
  }

  /** Makes `next` the session (freeing the old one) and queues its first sample and field. */
  private swap(next: Session): void {
    if (this.s) this.free(this.s);
    this.s = next;
    this.outbox.clear();
    void this.exclusive(() => this.refresh()).catch((e) => this.emit({ type: 'error', error: toWireError(e) }));
  }

  private free(s: Session): void {
    if (s.kind === 'points') freeSession(this.engine!, s);
    else freeImageSession(this.engine!, s);
  }

  // ----------------------------------------------------------------------------------------
  // running

  async start(): Promise<void> {
    this.trainable();
    if (this.loop) return;
    this.stopRequested = false;
    this.loop = this.runLoop();
    this.emit({ type: 'status', info: this.info_() });
  }

  async pause(): Promise<DiffusionInfo> {
    if (this.loop) {
      this.stopRequested = true;
      await this.loop;
    }
    return this.info_();
  }

  async step(n: number): Promise<{ step: number; loss: number }> {
    if (!(Number.isInteger(n) && n >= 1)) throw new InputError(`step: n must be an integer >= 1, got ${n}.`);
    if (this.loop) throw new InputError('step: the session is running; pause it first.');
    this.trainable();
    let last: { loss: Promise<number> } | null = null;
    try {
      for (let i = 0; i < n; i++) {
        last = await this.exclusive(() => this.iterate());
        await yieldToEventLoop();
      }
      const loss = await last!.loss;
      await this.exclusive(() => this.drain());
      this.outbox.flush();
      return { step: this.need().diffusion.steps, loss };
    } catch (e) {
      await this.settle();
      throw e;
    }
  }

  private async runLoop(): Promise<void> {
    try {
      while (!this.stopRequested) {
        const { config, diffusion } = this.need();
        if (config.totalSteps > 0 && diffusion.steps >= config.totalSteps) break;
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

  /**
   * Submits one step, waits only while more than `inFlight` are unread, then samples when due.
   * The loss is wrapped so that awaiting this does not await it.
   */
  private async iterate(): Promise<{ loss: Promise<number> }> {
    const s = this.need();
    const { emaEvery, sampleEvery } = s.config;
    const lr = s.live.lr;
    // The step is submitted before step() first awaits, so the batch buffer can be refilled right away.
    const { x0, labels } = s.kind === 'points' ? { x0: nextBatch(s), labels: undefined } : nextImageBatch(s);
    const loss = s.diffusion.step(x0, labels, true) as Promise<number>;
    const step = s.diffusion.steps;
    // Failures surface from `pending` (to the loop or step()); the metrics record a failed step as NaN.
    loss.catch(() => {});
    this.pending.push(loss);
    s.metrics.record(step, lr, loss.then((l) => ({ loss: Float32Array.of(l) }), () => ({ loss: Float32Array.of(NaN) })));
    if (step % emaEvery === 0) await s.diffusion.updateEma(emaEvery);
    while (this.pending.length > this.inFlight) checkLoss(await this.pending.shift()!, step);
    if (sampleEvery > 0 && step % sampleEvery === 0) {
      await this.drain();
      await this.refresh();
    }
    return { loss };
  }

  /** Waits for every submitted step and its metrics record. */
  private async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    const losses = await Promise.all(all);
    await this.s?.metrics.flush();
    for (const l of losses) checkLoss(l, this.s?.diffusion.steps ?? 0);
  }

  /** After a failure: waits for the steps still in flight, whatever their outcome. */
  private async settle(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    await Promise.allSettled(all);
    await this.s?.metrics.flush();
    this.outbox.flush();
  }

  async setHyper(hyper: Partial<DiffusionHyper>): Promise<DiffusionInfo> {
    const s = this.need();
    for (const k of Object.keys(hyper)) {
      if (!HYPER_KEYS.includes(k as keyof DiffusionHyper)) throw new ConfigError(`setHyper: '${k}' cannot change during a run; create the session again.`);
    }
    s.config = diffusionSessionConfig({ ...s.config, ...hyper });
    s.live.lr = s.config.lr;
    return this.status();
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model

  async sample(): Promise<SamplesEvent | ImagesEvent> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      const s = this.need();
      if (s.kind === 'images') return this.images.refresh(s);
      const e = await drawSamples(s);
      this.emit(e);
      this.emit(quality(s, e));
      return e;
    });
  }

  async field(t: number): Promise<FieldEvent> {
    const s = this.points('field');
    const T = s.config.timesteps;
    if (!(Number.isInteger(t) && t >= 0 && t < T)) throw new InputError(`field: t must be an integer in [0, ${T - 1}], got ${t}.`);
    s.fieldT = t;
    return this.exclusive(() => denoisingField(this.points('field')));
  }

  async frames(): Promise<DenoiseFrames> {
    this.need();
    return this.exclusive(() => {
      const s = this.need();
      return s.kind === 'points' ? denoiseFrames(s) : imageFrames(s);
    });
  }

  async heldOutPoints(): Promise<Float32Array> {
    return this.points('heldOutPoints').heldOut;
  }

  async dataGrid(): Promise<ImageGridData> {
    const s = this.need();
    if (s.kind !== 'images') throw new InputError('dataGrid: the model learns 2D points; ask for heldOutPoints() instead.');
    return dataGrid(s);
  }

  async upload(source: UploadSource, size: number): Promise<UploadSummary> {
    const summary = await this.images.take(source, size, this.s); // DataError: the held upload stays
    this.emit({ type: 'status', info: this.info_() });
    return summary;
  }

  /** Samples with their quality, then the field: what the page redraws as the model learns. */
  private async refresh(): Promise<void> {
    const s = this.s;
    if (!s) return;
    if (s.kind === 'images') {
      await this.images.refresh(s);
      return;
    }
    const e = await drawSamples(s);
    this.emit(e);
    this.emit(quality(s, e));
    this.emit(await denoisingField(s));
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints

  exportCheckpoint(): Promise<Uint8Array> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return checkpointBytes(this.engine!, this.need());
    });
  }

  async importCheckpoint(bytes: Uint8Array): Promise<DiffusionInfo> {
    if (!(bytes instanceof Uint8Array)) throw new InputError('importCheckpoint: give the file as a Uint8Array.');
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine();
      await this.drain();
      const file = parseSafetensors(bytes); // CheckpointError for anything that is not safetensors
      const next = await this.build(savedConfig(file.metadata, this.s?.config ?? null));
      try {
        await loadInto(this.engine, next, bytes, file.tensors.keys());
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

  async info(): Promise<DiffusionInfo> {
    return this.info_();
  }

  async subscribe(listener: (event: DiffusionEvent) => void): Promise<number> {
    return this.listeners.add(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
  }

  private emit(e: DiffusionEvent): void {
    this.listeners.emit(e);
  }

  private status(): DiffusionInfo {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  private info_(): DiffusionInfo {
    const s = this.s;
    const adapter = this.engine?.gpu.adapter;
    return {
      state: !s ? 'empty' : this.loop ? 'running' : 'paused',
      step: s?.diffusion.steps ?? 0,
      config: s ? { ...s.config } : null,
      parameterCount: s ? Object.values(s.diffusion.denoiser.weights).reduce((a, p) => a + p.size, 0) : 0,
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
      modes: s?.config.dataset === 'ring' ? ringCentres().length / 2 : 0,
      ...this.images.info(s),
    };
  }

  /** The session, when it learns points; InputError naming `method` for images. */
  private points(method: string): PointSession {
    const s = this.need();
    if (s.kind !== 'points') throw new InputError(`${method}: the model learns images; this is for 2D points only.`);
    return s;
  }

  /** The session, when it has data to train on (an upload's checkpoint loaded without the upload has not). */
  private trainable(): Session {
    const s = this.need();
    if (s.kind === 'images' && !s.train) nextImageBatch(s); // throws the DataError that says what to do
    return s;
  }

  private need(): Session {
    if (!this.s) throw new InputError('The diffusion session has no model; call create(config) first.');
    return this.s;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}
