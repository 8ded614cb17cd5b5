// The GAN trainer behind the GAN page, a task of the session core (worker/session.ts): one run
// (data, the two players, their optimizers, see run.ts) whose iterations (dSteps discriminator
// steps and one generator step) the core's loop submits without waiting for the previous one's
// losses, serving pause, snapshot and export calls in between.
// Every `snapshotEvery` iterations it draws the game (points, decision surface, mapped latent
// lattice; or an image grid), every `qualityEvery` it scores the samples (MMD², sliced
// Wasserstein, ring modes; or a Fréchet distance and the digits seen by a classifier trained once
// per session and kept across models; or, for the user's images, distances in pixel space). The
// user's images are held across models (data/image-upload.ts), decoded in the worker. Iteration
// records go out batched, at most one metrics event per metricsIntervalMs. It runs as is in Node
// and in the Web Worker (worker.ts).
//
// Building (create, reset, import) makes the new run beside the current one and swaps only once
// it is complete, so a refused config or a bad checkpoint leaves the session as it was. A loaded
// run continues exactly as the saved one would have: same weights, spectral vectors, Adam
// moments, batch order and per-step noise seeds.
// Not here: what every task shares (the swap, the lock, the loop, autosave, recovery from a lost
// device, the events: worker/session.ts), building, snapshots and checkpoint contents (run.ts),
// the contract (protocol.ts), the comlink glue (worker.ts, client.ts).

import { ringCentres } from '../../data/toy2d.js';
import { HeldUpload, type UploadSource, type UploadSummary } from '../../data/image-upload.js';
import { DataError, NonFiniteError } from '../../errors.js';
import { ImageScorer } from '../../eval/image-scores.js';
import type { GanStepResult } from '../../models/gan.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import {
  ganSessionConfig, HYPER_KEYS, imageSide, type GanApi, type GanEvent, type GanInfo, type GanMetricsEvent, type GanSessionConfig,
  type GanStepRecord,
} from './protocol.js';
import {
  buildRun, checkpointContents, freeRun, generateFixed, imagesSnapshot, loadInto, nextReals, planeSnapshot, quality, savedConfig,
  type GanRun,
} from './run.js';

export type GanSessionOptions = SessionOptions;

export class GanSession extends Session<GanRun, GanSessionConfig, GanInfo, GanEvent, GanStepRecord, GanStepResult> implements GanApi {
  protected readonly hyperKeys = HYPER_KEYS;
  /** The image scorer, trained on the first images run and kept: its figures stay comparable between runs. */
  private scorer: { key: string; scorer: ImageScorer } | null = null;
  /** The user's images, kept across models. */
  private readonly held = new HeldUpload();
  /** Records are made in submission order, as results arrive. */
  private recording: Promise<void> = Promise.resolve();
  /** When the previous iteration's result arrived (or the run started): its successor's time counts from here. */
  private lastDone = 0;

  constructor(opts: GanSessionOptions = {}) {
    super('gan', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<GanSessionConfig>): GanSessionConfig {
    return ganSessionConfig(overrides);
  }

  protected checkData(config: GanSessionConfig): void {
    if (config.dataset === 'upload' && !this.held.held) {
      throw new DataError('image upload: there are no images yet; choose image files or a folder of images first.', 'empty');
    }
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

  protected forgetKept(): void {
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

  protected submit(r: GanRun): Promise<GanStepResult> {
    const lr = { lrG: r.gan.gOptimizer.lr, lrD: r.gan.dOptimizer.lr };
    // Gan.step submits every step before its first await (Plan.run writes the feeds and submits
    // synchronously), so the real batches can be refilled at once for the next iteration.
    const result = r.gan.step(nextReals(r), true) as Promise<GanStepResult>;
    this.record(r, r.gan.steps, lr, result);
    return result;
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
  protected check(r: GanRun, x: GanStepResult): void {
    if (!(Number.isFinite(x.dLoss) && Number.isFinite(x.gLoss))) {
      throw new NonFiniteError(
        `The losses became D ${x.dLoss}, G ${x.gLoss} by step ${r.gan.steps}: the learning rates are too high for this model. Lower them and reset.`,
        'loss',
      );
    }
  }

  /** Snapshots and quality figures when due. */
  protected async periodic(r: GanRun, step: number): Promise<void> {
    const { snapshotEvery, qualityEvery } = r.config;
    const snap = snapshotEvery > 0 && step % snapshotEvery === 0;
    const qual = qualityEvery > 0 && step % qualityEvery === 0;
    if (snap || qual) {
      await this.drain();
      await this.draw(r, snap, qual);
    }
  }

  protected metricsEvent(steps: GanStepRecord[]): GanMetricsEvent {
    return { type: 'metrics', steps };
  }

  protected applyHyper(r: GanRun, next: GanSessionConfig): void {
    r.config = next;
    r.gan.setLearningRates(next.lrG, next.lrD);
  }

  // ----------------------------------------------------------------------------------------
  // looking at the game

  async snapshot(): Promise<void> {
    this.need();
    await this.exclusive(async () => {
      await this.drain();
      await this.draw(this.need(), true, true);
    });
  }

  async reference(): Promise<Float32Array> {
    const r = this.need();
    if (r.heldOut) return r.heldOut;
    return r.train?.slice(0, r.config.imageCount * r.gan.sampleSize) ?? new Float32Array(0);
  }

  protected refresh(r: GanRun): Promise<void> {
    return this.draw(r, true, true);
  }

  /** One generate call from the fixed latents, feeding the snapshot and the quality figures. */
  private async draw(r: GanRun, snap: boolean, qual: boolean): Promise<void> {
    if (r !== this.current) return;
    const generated = await generateFixed(r);
    if (snap) this.emit(r.kind === 'points' ? await planeSnapshot(r, generated) : await imagesSnapshot(r, generated));
    const q = qual ? await quality(r, generated) : null;
    if (q) this.emit(q);
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(r: GanRun) {
    return checkpointContents(r);
  }

  protected savedConfig(metadata: Record<string, string>, current: GanSessionConfig | null): GanSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(r: GanRun, bytes: Uint8Array): Promise<void> {
    return loadInto(this.engine!, r, bytes);
  }

  protected describe(r: GanRun): string {
    return `${r.config.dataset}, ${r.config.loss}`;
  }

  protected details(r: GanRun | null) {
    const count = (ps: { size: number }[] | undefined) => (ps ?? []).reduce((a, p) => a + p.size, 0);
    return {
      kind: r?.kind ?? null,
      generatorParams: count(r?.gan.generator.params),
      discriminatorParams: count(r?.gan.discriminator.params),
      modes: r?.config.dataset === 'ring' ? ringCentres().length / 2 : r?.scorer ? 10 : 0,
      scorerAccuracy: r?.scorer?.heldOutAccuracy ?? null,
      upload: this.held.summary(),
      canTrain: r !== null && r.train !== null,
    };
  }
}
