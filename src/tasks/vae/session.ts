// The VAE trainer behind the VAE page, a task of the session core (worker/session.ts): one run
// (digits or the user's images, the encoder and decoder and their optimizer, see run.ts) whose
// steps the core's loop submits without waiting for the previous one's figures, serving pause,
// pictures, decode and export calls in between.
// Every `pictureEvery` steps it draws the pictures: held-out images beside their reconstructions
// with the held-out ELBO and the mean-image baseline, samples from fixed prior z, and for a 2D
// latent the encoded means by class and a grid decoded over the plane. Step records (the two
// terms of the ELBO, the KL weight of the warm-up) go out batched, at most one metrics event per
// metricsIntervalMs. The user's images are held across models (data/image-upload.ts), decoded in
// the worker. It runs as is in Node and in the Web Worker (worker.ts).
//
// A loaded run continues exactly as the saved one would have: same weights, Adam moments, batch
// order and per-step noise seeds.
// Not here: what every task shares (the swap, the lock, the loop, autosave, recovery from a lost
// device, the events: worker/session.ts), building, pictures and checkpoint contents (run.ts),
// the contract (protocol.ts), the comlink glue (worker.ts, client.ts).

import { HeldUpload, type UploadSource, type UploadSummary } from '../../data/image-upload.js';
import { DataError, InputError, NonFiniteError } from '../../errors.js';
import type { VaeStepResult } from '../../models/vae.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import {
  HYPER_KEYS, vaeSessionConfig, type VaeApi, type VaeEvent, type VaeInfo, type VaeMetricsEvent, type VaePicturesEvent,
  type VaeSessionConfig, type VaeStepRecord,
} from './protocol.js';
import { buildRun, checkpointContents, freeRun, loadInto, nextBatch, pictures, runData, savedConfig, type VaeRun } from './run.js';

export type VaeSessionOptions = SessionOptions;

export class VaeSession extends Session<VaeRun, VaeSessionConfig, VaeInfo, VaeEvent, VaeStepRecord, VaeStepResult> implements VaeApi {
  protected readonly hyperKeys = HYPER_KEYS;
  /** The user's images, kept across models. */
  private readonly held = new HeldUpload();
  /** Records are made in submission order, as results arrive. */
  private recording: Promise<void> = Promise.resolve();
  /** When the previous step's result arrived (or the run started): its successor's time counts from here. */
  private lastDone = 0;

  constructor(opts: VaeSessionOptions = {}) {
    super('vae', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<VaeSessionConfig>): VaeSessionConfig {
    return vaeSessionConfig(overrides);
  }

  protected checkData(config: VaeSessionConfig): void {
    if (config.dataset === 'upload' && !this.held.held) {
      throw new DataError('image upload: there are no images yet; choose image files or a folder of images first.', 'empty');
    }
  }

  protected async build(config: VaeSessionConfig): Promise<VaeRun> {
    const upload = config.dataset === 'upload' ? await this.held.at(config.uploadSize) : null;
    return buildRun(this.engine!, config, upload);
  }

  protected free(r: VaeRun): void {
    freeRun(this.engine!, r);
  }

  async upload(source: UploadSource, size: number): Promise<UploadSummary> {
    const summary = await this.held.take(source, size); // DataError naming the file: the images held before stay
    const attached = await this.exclusive(async () => {
      const r = this.current;
      if (!r || r.config.dataset !== 'upload' || r.train || r.config.uploadSize !== size) return false;
      Object.assign(r, runData(r.config, await this.held.at(size)));
      return true;
    });
    this.status();
    return { ...summary, attached };
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<{ step: number; recon: number; kl: number; elbo: number }> {
    const { recon, kl } = await this.runSteps(n);
    return { step: this.need().vae.steps, recon, kl, elbo: -(recon + kl) };
  }

  protected startClock(): void {
    this.lastDone = performance.now();
  }

  protected stepsOf(r: VaeRun): number {
    return r.vae.steps;
  }

  protected trainable(r: VaeRun): VaeRun {
    if (!r.train) nextBatch(r); // throws the DataError that says what to do
    return r;
  }

  protected submit(r: VaeRun): Promise<VaeStepResult> {
    const lr = r.vae.optimizer.lr;
    // Vae.step submits before its first await, so the batch buffer can be refilled at once.
    const result = r.vae.step(nextBatch(r), true) as Promise<VaeStepResult>;
    this.record(r, r.vae.steps, lr, result);
    return result;
  }

  /** Turns a step's result into a record, in submission order; a failed one records NaN figures. */
  private record(r: VaeRun, step: number, lr: number, result: Promise<VaeStepResult>): void {
    this.recording = this.recording.then(async () => {
      const x = await result.catch(() => ({ recon: NaN, kl: NaN, loss: NaN, beta: NaN, gradNorm: NaN }));
      const now = performance.now();
      const ms = now - this.lastDone;
      this.lastDone = now;
      if (this.current !== r) return;
      this.outbox.push({ step, recon: x.recon, kl: x.kl, elbo: -(x.recon + x.kl), beta: x.beta, loss: x.loss, gradNorm: x.gradNorm, lr, ms });
    });
  }

  protected recorded(): Promise<void> {
    return this.recording;
  }

  /** A diverged run stops with a NonFiniteError rather than drawing NaNs. */
  protected check(r: VaeRun, x: VaeStepResult): void {
    if (!(Number.isFinite(x.recon) && Number.isFinite(x.kl))) {
      throw new NonFiniteError(
        `The ELBO's terms became reconstruction ${x.recon}, KL ${x.kl} by step ${r.vae.steps}: the learning rate is too high for this model. Lower it and reset.`,
        'loss',
      );
    }
  }

  protected async periodic(r: VaeRun, step: number): Promise<void> {
    const every = r.config.pictureEvery;
    if (every > 0 && step % every === 0) {
      await this.drain();
      await this.draw(r);
    }
  }

  protected metricsEvent(steps: VaeStepRecord[]): VaeMetricsEvent {
    return { type: 'metrics', steps };
  }

  protected applyHyper(r: VaeRun, next: VaeSessionConfig): void {
    r.config = next;
    r.vae.setHyper({ lr: next.lr, beta: next.beta, warmupSteps: next.warmupSteps });
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model

  async pictures(): Promise<VaePicturesEvent> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return (await this.draw(this.need()))!;
    });
  }

  async decode(z: Float32Array): Promise<Float32Array> {
    if (!(z instanceof Float32Array)) throw new InputError('decode: give z as a Float32Array of (n, latent) values.');
    this.need();
    return this.exclusive(() => this.need().vae.decode(z));
  }

  protected async refresh(r: VaeRun): Promise<void> {
    await this.draw(r);
  }

  /** Draws and sends the pictures of `r` while it is the current run. */
  private async draw(r: VaeRun): Promise<VaePicturesEvent | null> {
    if (r !== this.current) return null;
    const e = await pictures(r);
    this.emit(e);
    return e;
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(r: VaeRun) {
    return checkpointContents(r);
  }

  protected savedConfig(metadata: Record<string, string>, current: VaeSessionConfig | null): VaeSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(r: VaeRun, bytes: Uint8Array): Promise<void> {
    return loadInto(this.engine!, r, bytes);
  }

  protected describe(r: VaeRun): string {
    return `${r.config.dataset}, ${r.config.arch}, latent ${r.config.latent}`;
  }

  protected details(r: VaeRun | null) {
    return {
      parameterCount: (r?.vae.params ?? []).reduce((a, p) => a + p.size, 0),
      size: r?.vae.config.size ?? 0,
      channels: r?.vae.config.channels ?? 0,
      trainImages: r?.train?.count ?? 0,
      heldOutIsTrain: r?.config.dataset === 'upload',
      upload: this.held.summary(),
      canTrain: r !== null && r.train !== null,
    };
  }
}
