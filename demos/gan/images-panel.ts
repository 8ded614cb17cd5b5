// The GAN page's section of images (digits, or the user's own): the generator's samples from
// fixed noise, each framed by the discriminator's verdict (orange "real", violet "generated",
// stronger when surer), real images beside them, and readouts of the verdict and of the
// snapshot's quality figures.
// Not here: the image grid itself (demos/shared/image-grid.ts), the charts (charts.ts), where
// snapshots come from (main.ts routes the worker's events).

import type { GanLoss } from '../../src/models/gan.js';
import { imageSide, type GanImagesEvent, type GanInfo, type GanQualityEvent } from '../../src/tasks/gan/protocol.js';
import { $ } from '../shared/dom.js';
import { ImageGrid, type GridImages } from '../shared/image-grid.js';
import { fmtNum } from '../shared/ui.js';
import { GAME_COLORS, heat } from './plane.js';

/** What the browser test reads about the images (numbers only). */
export interface ImagesView {
  images: number;
  imagesStep: number;
}

export class ImagesPanel {
  // Digits are ink on paper: +1 dark.
  private readonly samples = new ImageGrid($<HTMLCanvasElement>('samples'), { polarity: 'ink', gap: 4 });
  private readonly reals = new ImageGrid($<HTMLCanvasElement>('reals'), { polarity: 'ink', gap: 4, maxHeight: 240 });
  private readonly readout = $('images-readout');
  private readonly quality = $('images-quality');
  /** How D's logits read (see heat). */
  private loss: GanLoss = 'nonsaturating';

  constructor(private readonly view: ImagesView) {}

  onImages(e: GanImagesEvent): void {
    Object.assign(this.view, { images: this.view.images + 1, imagesStep: e.step });
    const verdicts = heat(e.logits, this.loss);
    this.samples.set(framed(e, verdicts));
    this.readout.textContent = `step ${e.step}: ${e.count} samples; mean D verdict ${fmtNum(mean(verdicts), 3)} (−1 generated … +1 real)`;
  }

  onQuality(e: GanQualityEvent): void {
    if (e.kind === 'pixels') {
      this.quality.textContent = `step ${e.step}: MMD² ${fmtNum(e.mmd, 3)}, sliced Wasserstein ${fmtNum(e.slicedWasserstein, 3)} per pixel, ${e.samples} samples against ${e.samples} of your images`;
    } else if (e.kind === 'images') {
      const top = e.classes.predicted.map((n, d) => [n, d]).sort((a, b) => b[0] - a[0]).slice(0, 3);
      this.quality.textContent =
        `step ${e.step}: ${e.classes.covered} of ${e.classes.of} digits covered (most drawn: ${top.map(([n, d]) => `${d} × ${n}`).join(', ')}); Fréchet ${fmtNum(e.frechet, 3)}`;
    }
  }

  /** Shown for images; D's verdicts as the model's loss reads them. */
  show(info: GanInfo): void {
    if (!info.config) return;
    $('images-section').hidden = info.kind !== 'images';
    this.loss = info.config.loss;
  }

  /** A new model: no samples yet. */
  startOver(): void {
    Object.assign(this.view, { images: 0, imagesStep: -1 });
    this.readout.textContent = '';
    this.quality.textContent = '';
    this.samples.set(null);
  }

  /** The first 16 of the model's real images beside the samples (null for none). */
  setReals(info: GanInfo, reals: Float32Array | null): void {
    const size = info.config ? imageSide(info.config) : 0;
    const per = size * size;
    this.reals.set(reals?.length && per ? { images: reals.subarray(0, Math.min(16, reals.length / per) * per), size, cols: 4 } : null);
  }
}

/** The samples, each framed by D's verdict: orange "real", violet "generated", stronger when surer. */
function framed(e: GanImagesEvent, verdicts: Float32Array): GridImages {
  const frames = Array.from(verdicts, (v) => {
    const [r, g, b] = v >= 0 ? GAME_COLORS.real : GAME_COLORS.fake;
    return Number.isFinite(v) ? `rgba(${r}, ${g}, ${b}, ${(0.25 + 0.75 * Math.min(1, Math.abs(v))).toFixed(2)})` : null;
  });
  return { images: e.images, size: e.size, channels: 1, frames };
}

function mean(v: Float32Array): number {
  return v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
}
