// The contrastive page's 2D view of the features: the held-out digits' encoder features
// projected by the worker on their top two principal components, drawn as dots coloured by the
// digit's true class, in units of the first component's standard deviation (so the plane's axes
// mean the same at every step, whatever the features' scale); and the digit nearest the pointer,
// with its class and coordinates, drawn beside the plane from the images the event carries.
// Not here: the axes and dots (PlaneView, demos/shared/plane.ts), tiles as pixels
// (demos/shared/image-grid.ts), PCA (src/models/contrastive-eval.ts, in the worker).

import type { ContrastiveEmbeddingEvent } from '../../src/tasks/contrastive/protocol.js';
import { $, make } from '../shared/dom.js';
import { ImageGrid } from '../shared/image-grid.js';
import { PlaneView } from '../shared/plane.js';
import { fingerprint } from '../shared/ui.js';

/** What the browser test reads about the plane (numbers and short strings only). */
export interface EmbeddingView {
  embeddings: number;
  embeddingStep: number;
  embeddingKey: string;
  /** The held-out digit last shown under the pointer (its index and class), and how many were. */
  hovers: number;
  hoverIndex: number;
  hoverLabel: number;
}

/** One colour per digit, distinct side by side (Tableau's ten, as the VAE page's latent plane). */
const CLASS_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
/** The plane spans this many standard deviations of the first component each way. */
const EXTENT = 3;
/** The farthest, in CSS pixels, the pointer may be from a dot for it to count as under it. */
const REACH = 14;

export class EmbeddingPanel {
  private readonly canvas = $<HTMLCanvasElement>('embedding-plane');
  private readonly plane = new PlaneView(this.canvas, EXTENT);
  private readonly hovered = new ImageGrid($<HTMLCanvasElement>('embedding-hover'), { range: [0, 1], polarity: 'ink', maxTile: 140, maxHeight: 140 });
  private readonly readout = $('embedding-readout');
  private readonly hoverReadout = $('embedding-hover-readout');
  /** The latest event and its points in plane units. */
  private shown: { e: ContrastiveEmbeddingEvent; points: Float32Array; size: number } | null = null;

  constructor(private readonly view: EmbeddingView) {
    this.canvas.addEventListener('pointermove', (ev) => this.hover(ev.offsetX, ev.offsetY));
    $('embedding-key').replaceChildren(...CLASS_COLORS.map((c, k) => {
      const swatch = make('span', {}, String(k));
      swatch.style.setProperty('--c', c);
      return swatch;
    }));
  }

  onEmbedding(e: ContrastiveEmbeddingEvent): void {
    const n = e.labels.length;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += e.points[2 * i] ** 2;
    const sd = Math.sqrt(ss / Math.max(1, n - 1)) || 1; // the points are centred
    const points = e.points.map((v) => v / sd);
    this.shown = { e, points, size: Math.round(Math.sqrt(e.images.length / n)) };
    this.plane.setPoints(points, Array.from(e.labels, (k) => CLASS_COLORS[k % CLASS_COLORS.length]));
    const [a, b] = e.explained;
    this.readout.textContent = `step ${e.step}: ${n} held-out digits; the two components hold ${(100 * a).toFixed(1)}% and ${(100 * b).toFixed(1)}% of the features' variance`;
    Object.assign(this.view, { embeddings: this.view.embeddings + 1, embeddingStep: e.step, embeddingKey: fingerprint(e.points, 2) });
  }

  /** A new model: no plane yet (it sends its own). */
  startOver(): void {
    this.shown = null;
    this.plane.setPoints(null);
    this.hovered.set(null);
    this.readout.textContent = '';
    this.hoverReadout.textContent = 'Move the pointer over the dots to see the digit under it.';
    Object.assign(this.view, { embeddings: 0, embeddingStep: -1, embeddingKey: '', hovers: 0, hoverIndex: -1, hoverLabel: -1 });
  }

  /** Shows the digit of the dot nearest the pointer at (x, y) CSS pixels, if one is within reach. */
  private hover(x: number, y: number): void {
    const css = this.canvas.clientWidth;
    if (!this.shown || !css) return;
    const { e, points, size } = this.shown;
    const toPx = css / (2 * EXTENT);
    let best = -1, bestD = REACH * REACH;
    for (let i = 0; i < e.labels.length; i++) {
      const dx = (points[2 * i] + EXTENT) * toPx - x, dy = (EXTENT - points[2 * i + 1]) * toPx - y;
      const d = dx * dx + dy * dy;
      if (d < bestD) (best = i), (bestD = d);
    }
    if (best < 0 || best === this.view.hoverIndex) return;
    const per = size * size;
    this.hovered.set({ images: e.images.slice(best * per, (best + 1) * per), size });
    const label = e.labels[best];
    this.hoverReadout.textContent = `held-out digit ${best}, a ${label}, at (${points[2 * best].toFixed(2)}, ${points[2 * best + 1].toFixed(2)})`;
    Object.assign(this.view, { hovers: this.view.hovers + 1, hoverIndex: best, hoverLabel: label });
  }
}
