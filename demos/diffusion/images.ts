// The diffusion page when the model learns images: the sample grid (a row per digit, or the
// upload's samples), the animation of that grid denoising from noise, the training images beside
// them, the scorer's progress and the two score charts (Fréchet distance, class agreement; none
// for an upload, which has no labels and no classifier). main.ts routes events and the model's
// lifecycle here.
// Not here: the form (controls.ts), points (points.ts), the player (player.ts), taking files
// (demos/shared/upload.ts), the worker (src/tasks/diffusion).

import type { DiffusionApi, DiffusionEvent, DiffusionInfo, ImageGridData, ScorerStatus } from '../../src/tasks/diffusion/protocol.js';
import { $, make } from '../shared/dom.js';
import { ImageGrid, type GridImages } from '../shared/image-grid.js';
import { LiveChart } from '../shared/live-chart.js';
import { frechetChart } from '../shared/quality-charts.js';
import type { Attempt } from '../shared/session-page.js';
import { fingerprint } from '../shared/ui.js';
import { DenoisePlayer } from './player.js';

/** What the browser test reads about image mode (numbers and short strings only). */
export interface ImageModeView {
  grids: number;
  gridStep: number;
  gridKey: string;
  /** The latest grid's values, for comparisons that allow rounding. */
  gridValues: number[];
  quality: { classAgreement: number | null; frechet: number; step: number } | null;
  scorer: ScorerStatus | null;
  dataGrids: number;
  frames: number;
}

export class ImagePanels {
  private readonly samples = new ImageGrid($<HTMLCanvasElement>('img-samples'));
  private readonly anim = new ImageGrid($<HTMLCanvasElement>('img-anim'));
  private readonly data = new ImageGrid($<HTMLCanvasElement>('img-data'));
  private readonly player: DenoisePlayer;
  private readonly sampleBtn = $<HTMLButtonElement>('img-sample-now');
  private readonly frechet = frechetChart($('chart-frechet'), 'Fréchet distance', 1e-2);
  private readonly agreement = new LiveChart({
    host: $('chart-agreement'),
    measured: true,
    yLabel: '% of samples',
    yRange: [0, 105],
    series: [
      { label: 'class agreement', color: '#059669', format: (v) => `${v.toFixed(0)}%` },
      { label: "scorer's accuracy on real digits", color: '#a1a1aa', format: (v) => `${v.toFixed(1)}%` },
    ],
  });
  private info: DiffusionInfo | null = null;
  readonly view: ImageModeView = { grids: 0, gridStep: -1, gridKey: '', gridValues: [], quality: null, scorer: null, dataGrids: 0, frames: 0 };

  constructor(
    private readonly api: DiffusionApi,
    private readonly attempt: Attempt,
  ) {
    const anim = this.anim;
    this.player = new DenoisePlayer(
      {
        load: () => {},
        show: (f, i) => anim.set(gridOf({ ...f.grid!, images: f.frames[i] })),
        clear: () => anim.set(null),
      },
      { play: $('img-play'), slider: $('img-frame'), readout: $('img-anim-readout') },
      { frames: () => attempt(() => api.frames(), 'Could not draw the frames'), info: () => this.info, took: () => this.view.frames++ },
    );
    this.sampleBtn.addEventListener('click', () => void attempt(() => api.sample(), 'Could not sample'));
  }

  /** Takes the events of image mode; false for any other. */
  onEvent(e: DiffusionEvent): boolean {
    switch (e.type) {
      case 'images': {
        this.samples.set(gridOf(e));
        Object.assign(this.view, { grids: this.view.grids + 1, gridStep: e.step, gridKey: fingerprint(e.images), gridValues: Array.from(e.images) });
        const how = `${e.sampler.toUpperCase()}, ${e.steps} steps${e.guidance === null ? '' : `, guidance ${e.guidance}`}`;
        $('img-samples-readout').textContent = `samples at step ${e.step} (${how})`;
        return true;
      }
      case 'imageQuality': {
        this.frechet.push(e.step, [e.frechet]);
        const acc = this.info?.scorer?.heldOutAccuracy;
        this.agreement.push(e.step, [e.classAgreement === null ? NaN : 100 * e.classAgreement, acc == null ? NaN : 100 * acc]);
        this.view.quality = { classAgreement: e.classAgreement, frechet: e.frechet, step: e.step };
        return true;
      }
      case 'scorer':
        this.view.scorer = e.scorer;
        if (this.info) this.info = { ...this.info, scorer: e.scorer };
        this.showScorer(e.scorer);
        return true;
      default:
        return false;
    }
  }

  /** A new image model: grids and charts start over, with its training images. */
  async startOver(info: DiffusionInfo): Promise<void> {
    this.frechet.clear();
    this.agreement.clear();
    Object.assign(this.view, { grids: 0, gridStep: -1, gridKey: '', gridValues: [], quality: null });
    this.samples.set(null);
    this.player.clear('Press Play to draw the grid and watch it form, step by step.');
    this.show(info, true);
    const data = await this.attempt(() => this.api.dataGrid(), 'Could not fetch the training images');
    this.data.set(data && data.images.length ? gridOf(data) : null);
    const up = info.kind === 'images' && info.config?.dataset === 'upload';
    $('img-data-readout').textContent = !info.images?.canTrain
      ? 'The images this model was trained on are not here: upload them again to continue training.'
      : up ? `the first of your ${info.images.trainImages.toLocaleString('en-US')} images, at ${info.images.size} × ${info.images.size}`
      : `${info.images.trainImages.toLocaleString('en-US')} training images, ${info.images.size} × ${info.images.size}`;
    if (data) this.view.dataGrids++;
  }

  /** Buttons, drawing style and texts for the model in force. */
  show(info: DiffusionInfo, ready: boolean): void {
    this.info = info;
    const labelled = (info.images?.classes ?? 0) > 0;
    for (const g of [this.samples, this.anim, this.data]) g.setOptions({ polarity: labelled ? 'ink' : 'light' });
    this.sampleBtn.disabled = !ready;
    this.player.enable(ready);
    document.querySelectorAll<HTMLElement>('.scores').forEach((el) => (el.hidden = !labelled));
    document.querySelectorAll<HTMLElement>('.no-scores').forEach((el) => (el.hidden = labelled));
    $('guidance-row').hidden = !labelled;
    $('guidance-about').hidden = !labelled;
    $('img-samples-explain').textContent = labelled
      ? 'A grid drawn from the model as it learns, always from the same starting noise: one row per digit, each asked for with classifier-free guidance at the scale set under Sampling. At first every cell is a grey blur; as the model learns, each row becomes its digit.'
      : 'Samples drawn from the model as it learns, always from the same starting noise: at first grey blurs, then the broad shapes and tones of your images, then their detail.';
    $('img-data-explain').textContent = labelled
      ? 'What the model learns from, laid out as the samples are: a row per digit. Each digit is drawn with its own slant, size, stroke width and a gentle warp.'
      : 'What the model learns from: your images as it sees them, in grayscale, cropped to a square and shrunk.';
    if (info.scorer) this.showScorer(info.scorer);
  }

  private showScorer(s: ScorerStatus): void {
    const el = $('scorer-state');
    const held = s.heldOut.toLocaleString('en-US');
    if (s.state === 'training') {
      const images = (this.info?.config?.scorerImages ?? 0).toLocaleString('en-US');
      el.replaceChildren(
        `Training the scorer, a small classifier of ${s.size} × ${s.size} digits, on ${images} fresh glyphs (once per size; training goes on meanwhile): `,
        make('progress', { max: s.steps, value: s.done }),
        ` ${s.done} of ${s.steps} steps. Scores start once it is ready.`,
      );
    } else if (s.state === 'ready') {
      el.textContent = `The scorer reads ${(100 * (s.heldOutAccuracy ?? 0)).toFixed(1)}% of ${held} held-out real ${s.size} × ${s.size} digits right: class agreement cannot go much above that.`;
    } else {
      el.textContent = `The scorer could not be trained, so there are no scores: ${s.message ?? 'no reason given'}.`;
    }
  }
}

/** A grid of the worker's for the canvas: digits label their rows. */
function gridOf(g: ImageGridData): GridImages {
  return { images: g.images, size: g.size, rows: g.rows, cols: g.cols, rowLabels: g.labels ? Array.from({ length: g.rows }, (_, r) => String(g.labels![r * g.cols])) : undefined };
}

