// The VAE page's latent plane, for a 2D latent: the decoder's images of a regular grid of z laid
// under the plane they were decoded from (the map the decoder has learnt, faded so the points
// show), the encoder's means of the held-out images on top as dots coloured by their digit, and
// the image decoded at the point under the pointer, asked of the worker as the pointer moves
// (one request at a time, the latest point winning, so the page never queues a backlog).
// Not here: the axes and dots (PlaneView, demos/shared/plane.ts), tiles as pixels
// (demos/shared/image-grid.ts), where the pictures come from (main.ts routes the worker's events).

import type { VaeApi, VaeInfo, VaePicturesEvent } from '../../src/tasks/vae/protocol.js';
import { LATENT_EXTENT } from '../../src/tasks/vae/protocol.js';
import { frameDrawer, squareContext } from '../shared/canvas.js';
import { $, make } from '../shared/dom.js';
import { ImageGrid, tileRgba, type ImageGridOptions } from '../shared/image-grid.js';
import { PlaneView } from '../shared/plane.js';
import type { Attempt } from '../shared/session-page.js';
import { fingerprint } from '../shared/ui.js';

/** What the browser test reads about the plane (numbers and short strings only). */
export interface LatentView {
  latentMaps: number;
  /** The point last decoded under the pointer, how many were, and the latest image's fingerprint. */
  hovers: number;
  hoverZ: [number, number] | null;
  hoverKey: string;
}

/** One colour per digit, distinct side by side (Tableau's ten). */
const CLASS_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const ONE_COLOR = '#2563eb';

export class LatentPanel {
  private readonly under = $<HTMLCanvasElement>('latent-grid');
  private readonly top = $<HTMLCanvasElement>('latent-plane');
  private readonly points = new PlaneView(this.top, LATENT_EXTENT);
  private readonly hovered = new ImageGrid($<HTMLCanvasElement>('latent-hover'), { range: [0, 1], polarity: 'ink', maxTile: 140, maxHeight: 140 });
  private readonly readout = $('latent-hover-readout');
  private grid: VaePicturesEvent['latent'] = null;
  private size = 0;
  private polarity: ImageGridOptions['polarity'] = 'ink';
  /** Decoding under the pointer: only while a model with a 2D latent is ready. */
  private enabled = false;
  private inFlight = false;
  private wanted: [number, number] | null = null;
  private readonly drawGrid = frameDrawer(() => this.paintGrid());

  constructor(
    private readonly api: Pick<VaeApi, 'decode'>,
    private readonly attempt: Attempt,
    private readonly view: LatentView,
  ) {
    new ResizeObserver(() => this.drawGrid()).observe(this.under);
    this.top.addEventListener('pointermove', (e) => {
      const css = this.top.clientWidth;
      if (!css) return;
      const e2 = 2 * LATENT_EXTENT;
      this.hover([(e.offsetX / css) * e2 - LATENT_EXTENT, LATENT_EXTENT - (e.offsetY / css) * e2]);
    });
    const key = $('latent-key');
    key.replaceChildren(...CLASS_COLORS.map((c, d) => {
      const swatch = make('span', {}, String(d));
      swatch.style.setProperty('--c', c);
      return swatch;
    }));
  }

  onPictures(e: VaePicturesEvent): void {
    this.grid = e.latent;
    this.size = e.size;
    this.drawGrid();
    if (!e.latent) return this.points.setPoints(null); // no images to encode (an upload's model loaded without them)
    const { mu, labels } = e.latent;
    this.points.setPoints(mu, labels ? Array.from(labels, (k) => CLASS_COLORS[k % CLASS_COLORS.length]) : Array.from({ length: mu.length / 2 }, () => ONE_COLOR));
    this.view.latentMaps++;
  }

  /** Shown for a 2D latent only; decoding under the pointer while `ready`. */
  show(info: VaeInfo, ready: boolean): void {
    const c = info.config;
    if (!c) return;
    const plane = c.latent === 2;
    $('latent-section').hidden = !plane;
    $('latent-key').hidden = c.dataset === 'upload';
    $('latent-dots-explain').innerHTML = c.dataset === 'upload'
      ? "<b>Dots:</b> the encoder's mean code μ(x) of each of your images: similar images land near each other."
      : "<b>Dots:</b> the encoder's mean code μ(x) of each held-out image, coloured by its digit. Without labels the encoder sorts digits into regions of their own: unsupervised learning.";
    this.enabled = plane && ready;
    const polarity = c.dataset === 'upload' ? 'light' : 'ink';
    if (polarity !== this.polarity) {
      this.polarity = polarity;
      this.hovered.setOptions({ polarity });
      this.drawGrid();
    }
  }

  /** A new model: no plane yet. */
  startOver(): void {
    this.grid = null;
    this.points.setPoints(null);
    this.hovered.set(null);
    this.drawGrid();
    Object.assign(this.view, { latentMaps: 0, hovers: 0, hoverZ: null, hoverKey: '' });
    this.readout.textContent = 'Move the pointer over the plane to decode the point under it.';
  }

  /** Decodes z, or remembers it for when the request in flight is answered. */
  private hover(z: [number, number]): void {
    if (!this.enabled) return;
    this.wanted = z;
    if (this.inFlight) return;
    void this.decodeWanted();
  }

  private async decodeWanted(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.wanted && this.enabled) {
        const z = this.wanted;
        this.wanted = null;
        const images = await this.attempt(() => this.api.decode(Float32Array.from(z)), 'Could not decode the point');
        if (!images) return;
        this.hovered.set({ images, size: Math.round(Math.sqrt(images.length)) }); // one grayscale image
        this.readout.textContent = `decode(z) at z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
        Object.assign(this.view, { hovers: this.view.hovers + 1, hoverZ: z, hoverKey: fingerprint(images) });
      }
    } finally {
      this.inFlight = false;
    }
  }

  /** The decoded grid as one image, each tile a cell centred on its z, stretched over the plane. */
  private paintGrid(): void {
    const g = squareContext(this.under);
    const l = this.grid;
    if (!g || !l) return;
    const { side, images } = l.grid;
    const S = this.size;
    const all = { images, size: S };
    const img = new ImageData(side * S, side * S);
    for (let i = 0; i < side * side; i++) {
      const tile = tileRgba(all, i, { range: [0, 1], polarity: this.polarity });
      const x0 = (i % side) * S, y0 = Math.floor(i / side) * S;
      for (let y = 0; y < S; y++) img.data.set(tile.subarray(y * S * 4, (y + 1) * S * 4), ((y0 + y) * side * S + x0) * 4);
    }
    const small = new OffscreenCanvas(side * S, side * S);
    small.getContext('2d')!.putImageData(img, 0, 0);
    const css = this.under.clientWidth;
    const cell = css / (side - 1);
    g.imageSmoothingEnabled = false;
    g.globalAlpha = 0.6;
    g.drawImage(small, -cell / 2, -cell / 2, css + cell, css + cell);
    g.globalAlpha = 1;
  }
}
