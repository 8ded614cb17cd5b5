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
// Not here: the plumbing shared with the diffusion session (the swap, the lock, the loop, the
// events: session-core.ts), building, snapshots and checkpoint contents (gan-model.ts), the
// contract (gan-protocol.ts), the comlink glue (gan-worker.ts, gan-client.ts).

import { ringCentres } from '../data/toy2d.js';
import type { Engine } from '../engine.js';
import { ConfigError, DataError, NonFiniteError } from '../errors.js';
import { ImageScorer } from '../eval/image-scores.js';
import type { GanStepResult } from '../models/gan.js';
import {
  ganSessionConfig, HYPER_KEYS, imageSide, type GanApi, type GanEvent, type GanHyper, type GanInfo, type GanSessionConfig,
  type GanStepRecord,
} from './gan-protocol.js';
import {
  buildRun, checkpointBytes, freeRun, generateFixed, imagesSnapshot, loadInto, nextReals, planeSnapshot, quality, savedConfig,
  type GanRun,
} from './gan-model.js';
import { HeldUpload, type UploadSource, type UploadSummary } from './image-upload.js';
import { SessionCore } from './session-core.js';

export interface GanSessionOptions {
  /** The engine to train on; default: one created on the first create(). */
  engine?: Engine;
  /** Iterations submitted ahead of the oldest one whose losses are not yet back. */
  inFlight?: number;
}

export class GanSession extends SessionCore<GanRun, GanSessionConfig, GanInfo, GanEvent, GanStepRecord, GanStepResult> implements GanApi {
  /** The image scorer, trained on the first images run and kept: its figures stay comparable between runs. */
  private scorer: { key: string; scorer: ImageScorer } | null = null;
  /** The user's images, kept across models. */
  private readonly held = new HeldUpload();
  /** Records are made in submission order, as results arrive. */
  private recording: Promise<void> = Promise.resolve();
  /** When the previous iteration's result arrived (or the run started): its successor's time counts from here. */
  private lastDone = 0;

  constructor(opts: GanSessionOptions = {}) {
    super('GAN session', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<GanSessionConfig>): GanSessionConfig {
    const config = ganSessionConfig(overrides); // ConfigError before any GPU work
    if (config.dataset === 'upload' && !this.held.held) {
      throw new DataError('image upload: there are no images yet; choose image files or a folder of images first.', 'empty');
    }
    return config;
  }

  /** A new run for `config` (the current one is untouched until swap); trains the scorer first if digits need one. */
  protected async build(config: GanSessionConfig): Promise<GanRun> {
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

  protected free(r: GanRun): void {
    freeRun(this.engine!, r);
  }

  protected freeKept(): void {
    this.scorer?.scorer.dispose();
    this.scorer = null;
  }

  async upload(source: UploadSource, size: number): Promise<UploadSummary> {
    const summary = await this.held.take(source, size); // DataError naming the file: the images held before stay
    const attached = await this.exclusive(async () => {
      const r = this.current;
      if (!r || r.config.dataset !== 'upload' || r.train || r.config.uploadSize !== size) return false;
      r.train = (await this.held.at(size))!.images;
      return true;
    });
    this.status();
    return { ...summary, attached };
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<{ step: number; dLoss: number; gLoss: number }> {
    const { dLoss, gLoss } = await this.runSteps(n);
    return { step: this.need().gan.steps, dLoss, gLoss };
  }

  protected startClock(): void {
    this.lastDone = performance.now();
  }

  protected stepsOf(r: GanRun): number {
    return r.gan.steps;
  }

  /**
   * Submits one iteration, waits only while more than `inFlight` are unread, then draws and
   * scores when due. The result is wrapped so that awaiting this does not await it.
   */
  protected async iterate(): Promise<{ result: Promise<GanStepResult> }> {
    const r = this.need();
    const { snapshotEvery, qualityEvery } = r.config;
    const lr = { lrG: r.gan.gOptimizer.lr, lrD: r.gan.dOptimizer.lr };
    // Gan.step submits every step before its first await (Plan.run writes the feeds and submits
    // synchronously), so the real batches can be refilled at once for the next iteration.
    const result = r.gan.step(nextReals(r), true) as Promise<GanStepResult>;
    const step = r.gan.steps;
    this.track(result);
    this.record(r, step, lr, result);
    await this.waitInFlight(step);
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
      if (this.current !== r) return;
      this.outbox.push({ step, dLoss, gLoss, ms, ...lr });
    });
  }

  protected recorded(): Promise<void> {
    return this.recording;
  }

  /** A diverged run stops with a NonFiniteError rather than drawing NaNs. */
  protected check(x: GanStepResult, step: number): void {
    if (!(Number.isFinite(x.dLoss) && Number.isFinite(x.gLoss))) {
      throw new NonFiniteError(
        `The losses became D ${x.dLoss}, G ${x.gLoss} by step ${step}: the learning rates are too high for this model. Lower them and reset.`,
        'loss',
      );
    }
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

  /** One generate call from the fixed latents, feeding the snapshot and the quality figures (both after a swap). */
  protected async refresh(snap = true, qual = true): Promise<void> {
    const r = this.current;
    if (!r) return;
    const generated = await generateFixed(r);
    if (snap) this.emit(r.kind === 'points' ? await planeSnapshot(r, generated) : await imagesSnapshot(r, generated));
    const q = qual ? await quality(r, generated) : null;
    if (q) this.emit(q);
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints

  protected save(r: GanRun): Promise<Uint8Array> {
    return checkpointBytes(this.engine!, r);
  }

  protected savedConfig(metadata: Record<string, string>, current: GanSessionConfig | null): GanSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(r: GanRun, bytes: Uint8Array): Promise<void> {
    return loadInto(this.engine!, r, bytes);
  }

  // ----------------------------------------------------------------------------------------
  // info

  protected info_(): GanInfo {
    const r = this.current;
    const count = (ps: { size: number }[] | undefined) => (ps ?? []).reduce((a, p) => a + p.size, 0);
    return {
      state: this.state(),
      step: r?.gan.steps ?? 0,
      config: r ? { ...r.config } : null,
      kind: r?.kind ?? null,
      generatorParams: count(r?.gan.generator.params),
      discriminatorParams: count(r?.gan.discriminator.params),
      ...this.adapterInfo(),
      modes: r?.config.dataset === 'ring' ? ringCentres().length / 2 : r?.scorer ? 10 : 0,
      scorerAccuracy: r?.scorer?.heldOutAccuracy ?? null,
      upload: this.held.summary(),
      canTrain: r !== null && r.train !== null,
    };
  }
}
