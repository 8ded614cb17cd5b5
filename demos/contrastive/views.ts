// The contrastive page's pairs of views: training images in the top row and, below each, the two
// views a training step would draw of it (rows x, v₁, v₂), as the worker's engine augmented them;
// a button draws new ones from the views' own seeds, which never touch training.
// Not here: the image grid itself (demos/shared/image-grid.ts), the augmentations (the engine's
// ops, src/ops/augment.ts), where the views come from (main.ts routes the worker's events).

import type { ContrastiveViewsEvent } from '../../src/tasks/contrastive/protocol.js';
import { $ } from '../shared/dom.js';
import { ImageGrid } from '../shared/image-grid.js';
import type { Attempt } from '../shared/session-page.js';
import { fingerprint } from '../shared/ui.js';

/** What the browser test reads about the views (numbers and short strings only). */
export interface ViewsView {
  views: number;
  /** Fingerprints of the latest images and of their first views. */
  viewsImagesKey: string;
  viewsKey: string;
}

export class ViewsPanel {
  // Pixels in [0, 1], ink on paper; noise past either end is clamped.
  private readonly grid = new ImageGrid($<HTMLCanvasElement>('views'), { range: [0, 1], polarity: 'ink', gap: 3, maxTile: 72 });
  private readonly readout = $('views-readout');
  private readonly button = $<HTMLButtonElement>('new-views');

  constructor(
    api: { views(): Promise<unknown> },
    attempt: Attempt,
    private readonly view: ViewsView,
  ) {
    // The new views come back as an event, like the ones a new model sends by itself.
    this.button.addEventListener('click', () => void attempt(() => api.views(), 'Could not draw new views'));
  }

  onViews(e: ContrastiveViewsEvent): void {
    const per = e.size * e.size;
    const n = e.images.length / per;
    const images = new Float32Array(3 * n * per);
    images.set(e.images, 0);
    images.set(e.first, n * per);
    images.set(e.second, 2 * n * per);
    this.grid.set({ images, size: e.size, cols: n, rows: 3, rowLabels: ['x', 'v₁', 'v₂'] });
    this.readout.textContent = `${n} training images, each with the two views one step would compare`;
    Object.assign(this.view, { views: this.view.views + 1, viewsImagesKey: fingerprint(e.images), viewsKey: fingerprint(e.first) });
  }

  /** New views can be drawn whenever there is a model. */
  enable(ready: boolean): void {
    this.button.disabled = !ready;
  }

  /** A new model: no views yet (it sends its own). */
  startOver(): void {
    this.grid.set(null);
    this.readout.textContent = '';
    Object.assign(this.view, { views: 0, viewsImagesKey: '', viewsKey: '' });
  }
}
