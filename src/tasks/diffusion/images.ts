// The image side of the diffusion session: building a U-Net session from a config (generated
// glyphs with their labels, trained class-conditionally with label dropout for classifier-free
// guidance; or the user's upload, unconditionally), its batches, the sample grid (a row per
// class, from one fixed noise seed so successive grids show the same noise becoming digits) and
// its frames for the animation, and a grid of the training images. Also what outlives a session:
// the image scorers (one per image size, trained once in the worker, their progress reported;
// they score each grid of glyphs: class agreement and a Fréchet distance) and the upload the
// user gave (kept as files, shrunk to whichever size a model asks for).
// Not here: the loop, events and API (session.ts), the shared seeds and checkpoints (points.ts),
// decoding and holding files (data/image-upload.ts), the models (models/).

import { glyphs } from '../../data/glyphs.js';
import type { UserImageSet } from '../../data/user-images.js';
import type { Engine } from '../../engine.js';
import { DataError } from '../../errors.js';
import { ImageScorer } from '../../eval/image-scores.js';
import type { TrainingMetrics } from '../../metrics.js';
import { DiffusionSampler } from '../../models/diffusion-sampler.js';
import { createUnet } from '../../models/unet.js';
import { SeededRandom } from '../../data/random.js';
import { batchSeed, createDiffusion, freeModel, sampleSeed, trainSeed, withFrames, type SessionBase } from './points.js';
import {
  classesOf, gridShape, imageSizeOf, type DenoiseFrames, type DiffusionEvent, type DiffusionInfo, type DiffusionSessionConfig, type ImageGridData,
  type ImageQualityEvent, type ImagesEvent, type ScorerStatus, type UploadSource, type UploadSummary,
} from './protocol.js';
import { HeldUpload } from '../../data/image-upload.js';
import { yieldToEventLoop } from '../../worker/events.js';

/** Everything built from one config of images. */
export interface ImageSession extends SessionBase {
  kind: 'images';
  /** Image side S, label classes (0: unconditional), and the grid's shape. */
  size: number;
  classes: number;
  rows: number;
  cols: number;
  /** Training images (n, 1, S, S) and their labels; null for an upload's checkpoint loaded without the upload. */
  train: { images: Float32Array; labels: Int32Array | null; count: number } | null;
  /** Draws the rows × cols grid. */
  sampler: DiffusionSampler;
  /** The class each grid cell asks for (row r: class r); null when unconditional. */
  gridLabels: Int32Array | null;
  /** The batch being filled, and its labels. */
  x0: Float32Array;
  labels: Int32Array | null;
}

/** U-Net, diffusion model and grid sampler for `config`; `upload` is the user's set at the config's size, when held. */
export async function buildImageSession(engine: Engine, config: DiffusionSessionConfig, metrics: TrainingMetrics, upload: UserImageSet | null): Promise<ImageSession> {
  const size = imageSizeOf(config), classes = classesOf(config.dataset);
  let train: ImageSession['train'] = null;
  if (config.dataset !== 'upload') {
    const g = glyphs(config.trainPoints, { size, seed: trainSeed(config.seed) });
    train = { images: g.images, labels: g.labels, count: config.trainPoints };
  } else if (upload) {
    train = { images: upload.images, labels: null, count: upload.count };
  }
  const live = { lr: config.lr };
  const { base, levels } = config;
  const unet = createUnet({
    size, channels: 1, classes, base, blocks: 1, timesteps: config.timesteps, seed: config.seed,
    mults: Array.from({ length: levels }, (_, l) => (l === 0 ? 1 : 2)),
    groups: gcd(base, 8), // GroupNorm of 8 groups where the width allows it
    embDim: 2 * base,
  });
  const { rows, cols } = gridShape(config);
  const made: { dispose(): void }[] = [];
  try {
    const diffusion = await createDiffusion(engine, unet, config, live, classes > 0 ? config.labelDrop : 0);
    made.push({ dispose: () => freeModel(engine, diffusion) });
    const sampler = await DiffusionSampler.create(engine, diffusion, rows * cols);
    return {
      kind: 'images', config, live, diffusion, batches: new SeededRandom(batchSeed(config.seed)), metrics,
      size, classes, rows, cols, train, sampler,
      gridLabels: classes > 0 ? Int32Array.from({ length: rows * cols }, (_, i) => Math.floor(i / cols)) : null,
      x0: new Float32Array(config.batch * size * size),
      labels: classes > 0 ? new Int32Array(config.batch) : null,
    };
  } catch (e) {
    for (const m of made.reverse()) m.dispose();
    throw e;
  }
}

export function freeImageSession(engine: Engine, s: ImageSession): void {
  s.sampler.dispose();
  freeModel(engine, s.diffusion);
}

/** The next batch of training images (and labels) in the session's batch order. */
export function nextImageBatch(s: ImageSession): { x0: Float32Array; labels?: Int32Array } {
  const t = s.train;
  if (!t) throw new DataError('This model was trained on images you uploaded: upload them again (at the same size) to continue training. It can still draw samples.', 'empty');
  const P = s.size * s.size;
  for (let i = 0; i < s.config.batch; i++) {
    const k = Math.min(t.count - 1, Math.floor(s.batches.next() * t.count));
    s.x0.set(t.images.subarray(k * P, (k + 1) * P), i * P);
    if (s.labels) s.labels[i] = t.labels![k];
  }
  return { x0: s.x0, labels: s.labels ?? undefined };
}

/** The sample grid, drawn with the moving-average weights; `onStep` sees every intermediate grid. */
export async function drawGrid(s: ImageSession, onStep?: (x: Float32Array, t: number) => void): Promise<ImagesEvent> {
  const { sampler, sampleSteps: steps, seed, guidance } = s.config;
  const images = await s.sampler.sample({
    sampler, steps, seed: sampleSeed(seed), labels: s.gridLabels ?? undefined, guidance, onStep: onStep && ((x, _i, t) => onStep(x, t)),
  });
  return {
    type: 'images', step: s.diffusion.steps, images, labels: s.gridLabels, size: s.size, rows: s.rows, cols: s.cols,
    sampler, steps, guidance: s.classes > 0 ? guidance : null,
  };
}

/** The grid again, with every step from the noise on. */
export async function imageFrames(s: ImageSession): Promise<DenoiseFrames> {
  const { drawn: e, frames, ts } = await withFrames((onStep) => drawGrid(s, onStep));
  return { step: e.step, sampler: e.sampler, frames, ts, grid: { labels: e.labels, size: e.size, rows: e.rows, cols: e.cols } };
}

/** Training images laid out as the sample grid: row r holds the first images of class r (or the first images). */
export function dataGrid(s: ImageSession): ImageGridData {
  const { size, rows, cols, train } = s;
  const P = size * size;
  const images = new Float32Array(train ? rows * cols * P : 0).fill(-1);
  const labels = s.gridLabels;
  if (train) {
    const filled = new Array(rows).fill(0);
    for (let k = 0, placed = 0; k < train.count && placed < rows * cols; k++) {
      const r = train.labels ? train.labels[k] : Math.floor(placed / cols);
      if (r >= rows || filled[r] >= cols) continue;
      images.set(train.images.subarray(k * P, (k + 1) * P), (r * cols + filled[r]++) * P);
      placed++;
    }
  }
  return { images, labels, size, rows, cols };
}

/** What DiffusionInfo says about an image session. */
export function imageInfo(s: ImageSession) {
  return { size: s.size, classes: s.classes, trainImages: s.train?.count ?? 0, rows: s.rows, cols: s.cols, canTrain: s.train !== null };
}

// ---------------------------------------------------------------------------------------------
// what outlives a session: scorers and the upload

/** The image scorers, one per image size (and scorer settings), trained in the background. */
export class ScorerPool {
  private entries = new Map<string, { status: ScorerStatus; scorer: ImageScorer | null }>();

  /** `onChange` hears every status change (progress at most every 250 ms) with the scorer's key. */
  constructor(private readonly onChange: (status: ScorerStatus, key: string) => void) {}

  static key(c: DiffusionSessionConfig): string {
    return `${imageSizeOf(c)}:${c.scorerSteps}:${c.scorerImages}:${c.heldOut}`;
  }

  /** The scorer's status for a config of labelled images (null otherwise, or before ensure). */
  status(c: DiffusionSessionConfig): ScorerStatus | null {
    if (classesOf(c.dataset) === 0) return null;
    const e = this.entries.get(ScorerPool.key(c));
    return e ? { ...e.status } : null;
  }

  /** Starts training the scorer a config of labelled images needs, unless it is trained or training. */
  ensure(engine: Engine, c: DiffusionSessionConfig): void {
    if (classesOf(c.dataset) === 0) return;
    const key = ScorerPool.key(c);
    if (this.entries.get(key)?.status.state === 'training' || this.entries.get(key)?.scorer) return;
    const status: ScorerStatus = {
      size: imageSizeOf(c), state: 'training', done: 0, steps: c.scorerSteps, heldOutAccuracy: null, heldOut: c.heldOut, message: null,
    };
    const entry = { status, scorer: null as ImageScorer | null };
    this.entries.set(key, entry);
    this.onChange({ ...status }, key);
    let told = performance.now();
    // Training submits its steps back to back without reading anything, so on a slow adapter a
    // minute of scorer work would sit in the queue ahead of every model step: every few steps it
    // waits until the GPU has caught up and yields, so model steps and scorer steps take turns.
    const onStep = async (done: number) => {
      status.done = Math.min(status.steps, done);
      if (done % 4 === 0) {
        await engine.gpu.device.queue.onSubmittedWorkDone();
        await yieldToEventLoop();
      }
      if (performance.now() - told < 250) return;
      told = performance.now();
      this.onChange({ ...status }, key);
    };
    const settings = { size: status.size, steps: c.scorerSteps, trainImages: c.scorerImages, heldOut: c.heldOut };
    void ImageScorer.train(engine, settings, onStep).then(
      (scorer) => {
        entry.scorer = scorer;
        Object.assign(status, { state: 'ready', done: status.steps, heldOutAccuracy: scorer.heldOutAccuracy });
        this.onChange({ ...status }, key);
      },
      (e: unknown) => {
        Object.assign(status, { state: 'failed', message: e instanceof Error ? e.message : String(e) });
        this.onChange({ ...status }, key);
      },
    );
  }

  /** Scores a grid of labelled samples when its scorer is ready; null otherwise. */
  async score(c: DiffusionSessionConfig, grid: ImagesEvent): Promise<ImageQualityEvent | null> {
    const scorer = this.entries.get(ScorerPool.key(c))?.scorer;
    if (!scorer || !grid.labels) return null;
    const r = await scorer.score(grid.images, grid.labels);
    return { type: 'imageQuality', step: grid.step, classAgreement: r.classAgreement, frechet: r.frechet, predicted: r.predicted, samples: grid.labels.length };
  }

  dispose(): void {
    for (const e of this.entries.values()) e.scorer?.dispose();
    this.entries.clear();
  }

  /** Drops every scorer without freeing it: after a device loss their buffers are gone already. */
  forget(): void {
    this.entries.clear();
  }
}

/** The image side as the session uses it: scorers, the upload, and scoring a grid once its scorer is ready. */
export class ImageSide {
  readonly scorers: ScorerPool;
  readonly upload = new HeldUpload();
  /** The latest grid of a session, scored as soon as its scorer becomes ready. */
  private last: { session: ImageSession; grid: ImagesEvent } | null = null;

  constructor(
    private readonly emit: (e: DiffusionEvent) => void,
    /** The session in force: a late score is sent only while its grid's session still is. */
    private readonly current: () => SessionBase | null,
  ) {
    this.scorers = new ScorerPool((scorer, key) => {
      emit({ type: 'scorer', scorer });
      if (scorer.state === 'ready') void this.scoreLate(key);
    });
  }

  /** Refuses to build on an upload before the user gave any images. */
  checkData(config: DiffusionSessionConfig): void {
    if (config.dataset === 'upload' && !this.upload.held) {
      throw new DataError('image upload: there are no images yet; choose image files or a folder of images first.', 'empty');
    }
  }

  /** The image fields of DiffusionInfo for session `s` (of either kind, or none). */
  info(s: SessionBase & { kind: 'points' | 'images' } | null): Pick<DiffusionInfo, 'kind' | 'images' | 'scorer' | 'upload'> {
    return {
      kind: s?.kind ?? 'points',
      images: s?.kind === 'images' ? imageInfo(s as ImageSession) : null,
      scorer: s ? this.scorers.status(s.config) : null,
      upload: this.upload.summary(),
    };
  }

  /**
   * Takes the user's images; a session of an upload that has none (a loaded checkpoint) at their
   * size gets them to train on.
   */
  async take(source: UploadSource, size: number, s: SessionBase & { kind: 'points' | 'images' } | null): Promise<UploadSummary> {
    const summary = await this.upload.take(source, size); // DataError: the held upload stays
    const img = s?.kind === 'images' ? (s as ImageSession) : null;
    if (!img || img.config.dataset !== 'upload' || img.train || img.size !== size) return summary;
    const set = (await this.upload.at(size))!;
    img.train = { images: set.images, labels: null, count: set.count };
    return { ...summary, attached: true };
  }

  async build(engine: Engine, config: DiffusionSessionConfig, metrics: TrainingMetrics): Promise<ImageSession> {
    const upload = config.dataset === 'upload' ? await this.upload.at(config.uploadSize) : null;
    const s = await buildImageSession(engine, config, metrics, upload);
    this.scorers.ensure(engine, config);
    return s;
  }

  /** Draws the grid, sends it, and its scores when the scorer is ready. */
  async refresh(s: ImageSession): Promise<ImagesEvent> {
    const grid = await drawGrid(s);
    this.last = { session: s, grid };
    this.emit(grid);
    const q = await this.scorers.score(s.config, grid);
    if (q) this.emit(q);
    return grid;
  }

  private async scoreLate(key: string): Promise<void> {
    const last = this.last;
    if (!last || this.current() !== last.session || ScorerPool.key(last.session.config) !== key) return;
    const q = await this.scorers.score(last.session.config, last.grid).catch(() => null);
    if (q && this.current() === last.session) this.emit(q);
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
