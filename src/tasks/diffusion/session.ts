// The diffusion trainer behind the diffusion page, a task of the session core (worker/session.ts):
// one run (2D points: a training set and a held-out set, the MLP denoiser, the diffusion model and
// its samplers, see points.ts; or images: glyphs or the user's upload and a U-Net, see images.ts)
// whose steps the core's loop submits without waiting for the previous one's loss, serving pause,
// field, frames and export calls in between.
// Every `sampleEvery` steps it draws samples with the moving-average weights from one fixed noise
// seed (so successive samples show the same noise becoming data) and scores them: points against
// the held-out set (MMD², sliced Wasserstein, ring modes) with the denoising field recomputed;
// glyphs by the image scorer (class agreement, Fréchet distance), which trains in the background
// the first time a size is chosen. Step records go out batched, at most one metrics event per
// metricsIntervalMs. It runs as is in Node and inside the Web Worker (worker.ts).
//
// Building (create, reset, import) makes the new session beside the current one and swaps only
// once it is complete, so a refused config or a bad checkpoint leaves the session as it was. A
// loaded run continues exactly as the saved one would have: the same weights, average, optimizer
// state, batch order, and the state of the generator of timesteps and noise.
// Not here: what every task shares (the swap, the lock, the loop, autosave, recovery from a lost
// device, the events: worker/session.ts), building, sampling and checkpoint contents of points
// (points.ts) and images (images.ts), the contract (protocol.ts), the comlink glue (worker.ts,
// client.ts).

import type { SafetensorsFile } from '../../checkpoint/safetensors.js';
import { ringCentres } from '../../data/toy2d.js';
import { InputError } from '../../errors.js';
import { TrainingMetrics, type StepRecord } from '../../metrics.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import {
  diffusionSessionConfig, HYPER_KEYS, isImageDataset, type DenoiseFrames, type DiffusionApi, type DiffusionEvent, type DiffusionInfo,
  type DiffusionMetricsEvent, type DiffusionSessionConfig, type FieldEvent, type ImageGridData, type ImagesEvent, type SamplesEvent,
  type UploadSource, type UploadSummary,
} from './protocol.js';
import {
  buildSession, checkLoss, checkpointContents, denoiseFrames, denoisingField, drawSamples, freeSession, loadInto, nextBatch, quality,
  savedConfig, type PointSession,
} from './points.js';
import { dataGrid, freeImageSession, imageFrames, ImageSide, nextImageBatch, type ImageSession } from './images.js';

type Run = PointSession | ImageSession;

export type DiffusionSessionOptions = SessionOptions;

export class DiffusionSession
  extends Session<Run, DiffusionSessionConfig, DiffusionInfo, DiffusionEvent, StepRecord, number>
  implements DiffusionApi
{
  protected readonly hyperKeys = HYPER_KEYS;
  /** Scorers and the upload: what outlives one image session. */
  private readonly images = new ImageSide((e) => this.emit(e), () => this.current);

  constructor(opts: DiffusionSessionOptions = {}) {
    super('diffusion', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<DiffusionSessionConfig>): DiffusionSessionConfig {
    return diffusionSessionConfig(overrides);
  }

  protected checkData(config: DiffusionSessionConfig): void {
    this.images.checkData(config); // DataError for an upload before any images
  }

  protected build(config: DiffusionSessionConfig): Promise<Run> {
    const metrics = this.newMetrics(config.batch);
    return isImageDataset(config.dataset) ? this.images.build(this.engine!, config, metrics) : buildSession(this.engine!, config, metrics);
  }

  /** Step records that feed the batched metrics events while they belong to the current session. */
  private newMetrics(batch: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: batch });
    metrics.subscribe((r) => {
      if (this.current?.metrics === metrics) this.outbox.push(r);
    });
    return metrics;
  }

  protected free(s: Run): void {
    if (s.kind === 'points') freeSession(this.engine!, s);
    else freeImageSession(this.engine!, s);
  }

  protected freeKept(): void {
    this.images.scorers.dispose();
  }

  protected forgetKept(): void {
    this.images.scorers.forget();
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<{ step: number; loss: number }> {
    const loss = await this.runSteps(n);
    return { step: this.need().diffusion.steps, loss };
  }

  protected stepsOf(s: Run): number {
    return s.diffusion.steps;
  }

  protected submit(s: Run): Promise<number> {
    const lr = s.live.lr;
    // The step is submitted before step() first awaits, so the batch buffer can be refilled right away.
    const { x0, labels } = s.kind === 'points' ? { x0: nextBatch(s), labels: undefined } : nextImageBatch(s);
    const loss = s.diffusion.step(x0, labels, true) as Promise<number>;
    // The metrics record a failed step as NaN.
    s.metrics.record(s.diffusion.steps, lr, loss.then((l) => ({ loss: Float32Array.of(l) }), () => ({ loss: Float32Array.of(NaN) })));
    return loss;
  }

  protected async recorded(): Promise<void> {
    await this.current?.metrics.flush();
  }

  protected check(s: Run, loss: number): void {
    checkLoss(loss, s.diffusion.steps);
  }

  /** The moving average when due, then samples when due. */
  protected async periodic(s: Run, step: number): Promise<void> {
    const { emaEvery, sampleEvery } = s.config;
    if (step % emaEvery === 0) await s.diffusion.updateEma(emaEvery);
    if (sampleEvery > 0 && step % sampleEvery === 0) {
      await this.drain();
      await this.refresh(s);
    }
  }

  protected metricsEvent(steps: StepRecord[]): DiffusionMetricsEvent {
    return { type: 'metrics', steps };
  }

  protected applyHyper(s: Run, next: DiffusionSessionConfig): void {
    s.config = next;
    s.live.lr = next.lr;
  }

  /** The session, when it has data to train on (an upload's checkpoint loaded without the upload has not). */
  protected trainable(s: Run): Run {
    if (s.kind === 'images' && !s.train) nextImageBatch(s); // throws the DataError that says what to do
    return s;
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
    const summary = await this.images.take(source, size, this.current); // DataError: the held upload stays
    this.status();
    return summary;
  }

  /** Samples with their quality, then the field: what the page redraws as the model learns. */
  protected async refresh(s: Run): Promise<void> {
    if (s !== this.current) return;
    if (s.kind === 'images') {
      await this.images.refresh(s);
      return;
    }
    const e = await drawSamples(s);
    this.emit(e);
    this.emit(quality(s, e));
    this.emit(await denoisingField(s));
  }

  /** The session, when it learns points; InputError naming `method` for images. */
  private points(method: string): PointSession {
    const s = this.need();
    if (s.kind !== 'points') throw new InputError(`${method}: the model learns images; this is for 2D points only.`);
    return s;
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(s: Run) {
    return checkpointContents(s);
  }

  protected savedConfig(metadata: Record<string, string>, current: DiffusionSessionConfig | null): DiffusionSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(s: Run, bytes: Uint8Array, file: SafetensorsFile): Promise<void> {
    return loadInto(this.engine!, s, bytes, file.tensors.keys());
  }

  protected describe(s: Run): string {
    return `${s.config.dataset} (${s.config.prediction}-prediction)`;
  }

  protected details(s: Run | null) {
    return {
      parameterCount: s ? Object.values(s.diffusion.denoiser.weights).reduce((a, p) => a + p.size, 0) : 0,
      modes: s?.config.dataset === 'ring' ? ringCentres().length / 2 : 0,
      ...this.images.info(s),
    };
  }
}
