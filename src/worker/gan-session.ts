// The GAN trainer behind the GAN page: one run (data, the two players, their optimizers, see
// gan-model.ts) and a loop that keeps the GPU busy: an iteration (dSteps discriminator steps and
// one generator step) is submitted without waiting for the previous one's losses, and the loop
// yields between iterations so that pause, snapshot and export calls are served in between.
// Every `snapshotEvery` iterations it draws the game (points, decision surface, mapped latent
// lattice; or an image grid), every `qualityEvery` it scores the samples (MMD², sliced
// Wasserstein, ring modes; or a Fréchet distance and the digits seen by a classifier trained once
// per session and kept across models; or, for the user's images, distances in pixel space). The
// user's images are held across models (image-upload.ts), decoded in the worker. Iteration records go out batched, at most one metrics
// event per metricsIntervalMs. It runs as is in Node and in the Web Worker (gan-worker.ts).
//
// Building (create, reset, import) makes the new run beside the current one and swaps only once
// it is complete, so a refused config or a bad checkpoint leaves the session as it was. A loaded
// run continues exactly as the saved one would have: same weights, spectral vectors, Adam
// moments, batch order and per-step noise seeds.
// Not here: building, snapshots and checkpoint contents (gan-model.ts), the contract
// (gan-protocol.ts), the comlink glue (gan-worker.ts, gan-client.ts).

import { parseSafetensors } from '../checkpoint/safetensors.js';
import { ringCentres } from '../data/toy2d.js';
import { createEngine, type Engine } from '../engine.js';
import { ConfigError, DataError, InputError, NonFiniteError } from '../errors.js';
import { ImageScorer } from '../eval/image-scores.js';
import type { GanStepResult } from '../models/gan.js';
import { Listeners, toWireError, yieldToEventLoop } from './protocol.js';
import {
  ganSessionConfig, HYPER_KEYS, imageSide, type GanApi, type GanEvent, type GanHyper, type GanInfo, type GanSessionConfig,
  type GanStepRecord,
} from './gan-protocol.js';
import {
  buildRun, checkpointBytes, freeRun, generateFixed, imagesSnapshot, loadInto, nextReals, planeSnapshot, quality, savedConfig,
  type GanRun,
} from './gan-model.js';
import { HeldUpload, type UploadSource, type UploadSummary } from './image-upload.js';
import { MetricsOutbox } from './metrics-outbox.js';

export interface GanSessionOptions {
  /** The engine to train on; default: one created on the first create(). */
  engine?: Engine;
  /** Iterations submitted ahead of the oldest one whose losses are not yet back. */
  inFlight?: number;
}

export class GanSession implements GanApi {
  private engine: Engine | null;
  private readonly inFlight: number;
  private r: GanRun | null = null;
  /** The image scorer, trained on the first images run and kept: its figures stay comparable between runs. */
  private scorer: { key: string; scorer: ImageScorer } | null = null;
  /** The user's images, kept across models. */
  private readonly held = new HeldUpload();
  private listeners = new Listeners<GanEvent>();
  /** GPU work runs one piece at a time: an iteration, a snapshot, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Results of submitted iterations not yet read, oldest first. */
  private pending: Promise<GanStepResult>[] = [];
  /** Records are made in submission order, as results arrive. */
  private recording: Promise<void> = Promise.resolve();
  /** When the previous iteration's result arrived (or the run started): its successor's time counts from here. */
  private lastDone = 0;
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  private outbox = new MetricsOutbox<GanStepRecord>((steps) => this.emit({ type: 'metrics', steps }), () => this.r?.config.metricsIntervalMs ?? 0);

  constructor(opts: GanSessionOptions = {}) {
    this.engine = opts.engine ?? null;
    this.inFlight = opts.inFlight ?? 2;
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  async create(overrides: Partial<GanSessionConfig>): Promise<GanInfo> {
    const config = ganSessionConfig(overrides); // ConfigError before any GPU work
    if (config.dataset === 'upload' && !this.held.held) {
      throw new DataError('image upload: there are no images yet; choose image files or a folder of images first.', 'empty');
    }
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine(); // WebGPUUnavailableError leaves the old session in place
      this.swap(await this.build(config));
      return this.status();
    });
  }

  async reset(): Promise<GanInfo> {
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
      if (this.r) freeRun(this.engine!, this.r);
      this.r = null;
      this.scorer?.scorer.dispose();
      this.scorer = null;
    });
    this.emit({ type: 'status', info: this.info_() });
  }

  /** A new run for `config` (the current one is untouched until swap); trains the scorer first if digits need one. */
  private async build(config: GanSessionConfig): Promise<GanRun> {
    let scorer: ImageScorer | null = null;
    if (config.dataset === 'glyphs16' || config.dataset === 'glyphs28') {
      const size = imageSide(config);
      const key = `${size}:${config.scorerSteps}`;
      if (this.scorer?.key !== key) {
        this.scorer?.scorer.dispose();
        this.scorer = null;
        this.scorer = { key, scorer: await ImageScorer.train(this.engine!, { size, steps: config.scorerSteps }) };
      }
      scorer = this.scorer.scorer;
    }
    const upload = config.dataset === 'upload' ? await this.held.at(config.uploadSize) : null;
    return buildRun(this.engine!, config, scorer, upload);
  }

  async upload(source: UploadSource, size: number): Promise<UploadSummary> {
    const summary = await this.held.take(source, size); // DataError naming the file: the images held before stay
    const attached = await this.exclusive(async () => {
      const r = this.r;
      if (!r || r.config.dataset !== 'upload' || r.train || r.config.uploadSize !== size) return false;
      r.train = (await this.held.at(size))!.images;
      return true;
    });
    this.status();
    return { ...summary, attached };
  }

  /** Makes `next` the run (freeing the old one) and queues its first snapshot and quality figures. */
  private swap(next: GanRun): void {
    if (this.r) freeRun(this.engine!, this.r);
    this.r = next;
    this.outbox.clear();
    void this.exclusive(() => this.refresh(true, true)).catch((e) => this.emit({ type: 'error', error: toWireError(e) }));
  }

  // ----------------------------------------------------------------------------------------
  // running

  async start(): Promise<void> {
    this.need();
    if (this.loop) return;
    this.stopRequested = false;
    this.lastDone = performance.now();
    this.loop = this.runLoop();
    this.emit({ type: 'status', info: this.info_() });
  }

  async pause(): Promise<GanInfo> {
    if (this.loop) {
      this.stopRequested = true;
      await this.loop;
    }
    return this.info_();
  }

  async step(n: number): Promise<{ step: number; dLoss: number; gLoss: number }> {
    if (!(Number.isInteger(n) && n >= 1)) throw new InputError(`step: n must be an integer >= 1, got ${n}.`);
    if (this.loop) throw new InputError('step: the session is running; pause it first.');
    this.need();
    this.lastDone = performance.now();
    let last: { result: Promise<GanStepResult> } | null = null;
    try {
      for (let i = 0; i < n; i++) {
        last = await this.exclusive(() => this.iterate());
        await yieldToEventLoop();
      }
      const { dLoss, gLoss } = await last!.result;
      await this.exclusive(() => this.drain());
      this.outbox.flush();
      return { step: this.need().gan.steps, dLoss, gLoss };
    } catch (e) {
      await this.settle();
      throw e;
    }
  }

  private async runLoop(): Promise<void> {
    try {
      while (!this.stopRequested) {
        const { config, gan } = this.need();
        if (config.totalSteps > 0 && gan.steps >= config.totalSteps) break;
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
   * Submits one iteration, waits only while more than `inFlight` are unread, then draws and
   * scores when due. The result is wrapped so that awaiting this does not await it.
   */
  private async iterate(): Promise<{ result: Promise<GanStepResult> }> {
    const r = this.need();
    const { snapshotEvery, qualityEvery } = r.config;
    const lr = { lrG: r.gan.gOptimizer.lr, lrD: r.gan.dOptimizer.lr };
    // Gan.step submits every step before its first await (Plan.run writes the feeds and submits
    // synchronously), so the real batches can be refilled at once for the next iteration.
    const result = r.gan.step(nextReals(r), true) as Promise<GanStepResult>;
    const step = r.gan.steps;
    result.catch(() => {}); // failures surface from `pending`, to the loop or step()
    this.pending.push(result);
    this.record(r, step, lr, result);
    while (this.pending.length > this.inFlight) checkLosses(await this.pending.shift()!, step);
    const snap = snapshotEvery > 0 && step % snapshotEvery === 0;
    const qual = qualityEvery > 0 && step % qualityEvery === 0;
    if (snap || qual) {
      await this.drain();
      await this.refresh(snap, qual);
    }
    return { result };
  }

  /** Turns an iteration's result into a record, in submission order; a failed one records NaN losses. */
  private record(r: GanRun, step: number, lr: { lrG: number; lrD: number }, result: Promise<GanStepResult>): void {
    this.recording = this.recording.then(async () => {
      const { dLoss, gLoss } = await result.catch(() => ({ dLoss: NaN, gLoss: NaN }));
      const now = performance.now();
      const ms = now - this.lastDone;
      this.lastDone = now;
      if (this.r !== r) return;
      this.outbox.push({ step, dLoss, gLoss, ms, ...lr });
    });
  }

  /** Waits for every submitted iteration and its record. */
  private async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    const results = await Promise.all(all);
    await this.recording;
    for (const x of results) checkLosses(x, this.r?.gan.steps ?? 0);
  }

  /** After a failure: waits for the iterations still in flight, whatever their outcome. */
  private async settle(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    await Promise.allSettled(all);
    await this.recording;
    this.outbox.flush();
  }

  async setHyper(hyper: Partial<GanHyper>): Promise<GanInfo> {
    const r = this.need();
    for (const k of Object.keys(hyper)) {
      if (!HYPER_KEYS.includes(k as keyof GanHyper)) throw new ConfigError(`setHyper: '${k}' cannot change during a run; create the session again.`);
    }
    r.config = ganSessionConfig({ ...r.config, ...hyper });
    r.gan.setLearningRates(r.config.lrG, r.config.lrD);
    return this.status();
  }

  // ----------------------------------------------------------------------------------------
  // looking at the game

  async snapshot(): Promise<void> {
    this.need();
    await this.exclusive(async () => {
      await this.drain();
      await this.refresh(true, true);
    });
  }

  async reference(): Promise<Float32Array> {
    const r = this.need();
    if (r.heldOut) return r.heldOut;
    return r.train?.slice(0, r.config.imageCount * r.gan.sampleSize) ?? new Float32Array(0);
  }

  /** One generate call from the fixed latents, feeding the snapshot and the quality figures. */
  private async refresh(snap: boolean, qual: boolean): Promise<void> {
    const r = this.r;
    if (!r) return;
    const generated = await generateFixed(r);
    if (snap) this.emit(r.kind === 'points' ? await planeSnapshot(r, generated) : await imagesSnapshot(r, generated));
    const q = qual ? await quality(r, generated) : null;
    if (q) this.emit(q);
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

  async importCheckpoint(bytes: Uint8Array): Promise<GanInfo> {
    if (!(bytes instanceof Uint8Array)) throw new InputError('importCheckpoint: give the file as a Uint8Array.');
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine();
      await this.drain();
      const file = parseSafetensors(bytes); // CheckpointError for anything that is not safetensors
      const next = await this.build(savedConfig(file.metadata, this.r?.config ?? null));
      try {
        await loadInto(this.engine, next, bytes);
      } catch (e) {
        freeRun(this.engine, next);
        throw e;
      }
      this.swap(next);
      return this.status();
    });
  }

  // ----------------------------------------------------------------------------------------
  // events

  async info(): Promise<GanInfo> {
    return this.info_();
  }

  async subscribe(listener: (event: GanEvent) => void): Promise<number> {
    return this.listeners.add(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
  }

  private emit(e: GanEvent): void {
    this.listeners.emit(e);
  }

  private status(): GanInfo {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  private info_(): GanInfo {
    const r = this.r;
    const adapter = this.engine?.gpu.adapter;
    const count = (ps: { size: number }[] | undefined) => (ps ?? []).reduce((a, p) => a + p.size, 0);
    return {
      state: !r ? 'empty' : this.loop ? 'running' : 'paused',
      step: r?.gan.steps ?? 0,
      config: r ? { ...r.config } : null,
      kind: r?.kind ?? null,
      generatorParams: count(r?.gan.generator.params),
      discriminatorParams: count(r?.gan.discriminator.params),
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
      modes: r?.config.dataset === 'ring' ? ringCentres().length / 2 : r?.scorer ? 10 : 0,
      scorerAccuracy: r?.scorer?.heldOutAccuracy ?? null,
      upload: this.held.summary(),
      canTrain: r !== null && r.train !== null,
    };
  }

  private need(): GanRun {
    if (!this.r) throw new InputError('The GAN session has no model; call create(config) first.');
    return this.r;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}

/** A diverged run stops with a NonFiniteError rather than drawing NaNs. */
function checkLosses(x: GanStepResult, step: number): void {
  if (!(Number.isFinite(x.dLoss) && Number.isFinite(x.gLoss))) {
    throw new NonFiniteError(
      `The losses became D ${x.dLoss}, G ${x.gLoss} by step ${step}: the learning rates are too high for this model. Lower them and reset.`,
      'loss',
    );
  }
}
