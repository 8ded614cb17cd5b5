// The VAE page's pictures of what the model makes of images: held-out images with their
// reconstructions below them (pairs of rows, x over x̂), samples decoded from one fixed set of
// prior draws z ~ N(0, I) (so successive pictures show the same z sharpening), and the held-out
// figures under them: the ELBO and its two terms per image, and how far the reconstructions are
// from their images against the mean training image as a prediction.
// Not here: the image grid itself (demos/shared/image-grid.ts), the latent plane (latent.ts),
// where the pictures come from (main.ts routes the worker's events).

import type { VaeInfo, VaePicturesEvent } from '../../src/tasks/vae/protocol.js';
import { $ } from '../shared/dom.js';
import { ImageGrid } from '../shared/image-grid.js';
import { fingerprint, fmtNum } from '../shared/ui.js';

/** What the browser test reads about the pictures (numbers and short strings only). */
export interface PicturesView {
  pictures: number;
  picturesStep: number;
  /** Fingerprints of the latest reconstructions and samples. */
  reconKey: string;
  samplesKey: string;
}

/** Tiles per row of the reconstruction pairs. */
const COLS = 8;

export class PicturesPanel {
  // Pixels are in [0, 1]; digits are ink on paper, the user's images as they were given.
  private readonly pairs = new ImageGrid($<HTMLCanvasElement>('reconstructions'), { range: [0, 1], polarity: 'ink', gap: 3 });
  private readonly samples = new ImageGrid($<HTMLCanvasElement>('samples'), { range: [0, 1], polarity: 'ink', gap: 3 });
  private readonly readout = $('heldout-readout');
  private readonly samplesReadout = $('samples-readout');

  constructor(private readonly view: PicturesView) {}

  onPictures(e: VaePicturesEvent): void {
    Object.assign(this.view, {
      pictures: this.view.pictures + 1, picturesStep: e.step, reconKey: fingerprint(e.reconstructions), samplesKey: fingerprint(e.samples),
    });
    const per = e.channels * e.size * e.size;
    const cols = Math.min(COLS, e.inputs.length / per);
    this.pairs.set(cols ? { ...interleave(e.inputs, e.reconstructions, per, cols), size: e.size, cols } : null);
    const n = e.samples.length / per;
    this.samples.set({ images: e.samples, size: e.size, cols: Math.min(n, COLS) });
    this.samplesReadout.textContent = `step ${e.step}: ${n} samples decoded from the same z ~ N(0, I) each time`;
    const h = e.heldOut;
    this.readout.textContent = h
      ? `step ${e.step}: ELBO ${fmtNum(h.elbo, 4)} nats per image (reconstruction ${fmtNum(h.recon, 4)}, KL ${fmtNum(h.kl, 3)}) over ${h.count} images; ` +
        `pixel error ${fmtNum(h.pixelError, 3)} against the mean image's ${fmtNum(h.meanImageError, 3)}`
      : `step ${e.step}: the images this model learnt from are not here, so there is nothing to reconstruct.`;
  }

  /** The images' look and the section's words for the model in force. */
  show(info: VaeInfo): void {
    const polarity = info.config?.dataset === 'upload' ? 'light' : 'ink';
    for (const g of [this.pairs, this.samples]) g.setOptions({ polarity });
    $('reconstructions-title').textContent = info.heldOutIsTrain ? 'Your images and their reconstructions' : 'Held-out digits and their reconstructions';
    const pairs = "Each row of images x is followed by its reconstruction x̂: the decoder's picture of the encoder's mean code for it.";
    $('reconstructions-explain').textContent = info.heldOutIsTrain
      ? `${pairs} Your images are too few to hold some out, so these are images the model trains on.`
      : `${pairs} The digits are held out: the model never trained on them.`;
  }

  /** A new model: no pictures yet. */
  startOver(): void {
    Object.assign(this.view, { pictures: 0, picturesStep: -1, reconKey: '', samplesKey: '' });
    this.pairs.set(null);
    this.samples.set(null);
    this.readout.textContent = '';
    this.samplesReadout.textContent = '';
  }
}

/** Rows of `cols` inputs, each followed by the row of their reconstructions; row labels x and x̂. */
function interleave(inputs: Float32Array, recons: Float32Array, per: number, cols: number): { images: Float32Array; rowLabels: string[] } {
  const rows = Math.ceil(inputs.length / per / cols);
  const images = new Float32Array(2 * rows * cols * per); // a short last row leaves blank (0) tiles
  for (let r = 0; r < rows; r++) {
    const from = r * cols * per, to = Math.min(inputs.length, from + cols * per);
    images.set(inputs.subarray(from, to), 2 * r * cols * per);
    images.set(recons.subarray(from, to), (2 * r + 1) * cols * per);
  }
  return { images, rowLabels: Array.from({ length: 2 * rows }, (_, i) => (i % 2 ? 'x̂' : 'x')) };
}
