// The GAN page's section of the game on the plane (2D data): the stacked layers of GamePlane,
// the checkboxes that hide and show them, the colouring of the generated points, the colour
// scale's legend, a readout of the discriminator's verdict on the plane, and the count of modes
// covered on the ring.
// Not here: drawing the layers (plane.ts), the charts (charts.ts), where snapshots come from
// (main.ts routes the worker's events).

import { PLANE_EXTENT, type GanInfo, type GanPlaneEvent, type GanQualityEvent } from '../../src/tasks/gan/protocol.js';
import { $ } from '../shared/dom.js';
import { fingerprint, fmtNum } from '../shared/ui.js';
import { GamePlane, type Layers } from './plane.js';

/** What the browser test reads about the plane (numbers and short strings only). */
export interface GameView {
  planes: number;
  planeStep: number;
  planeKey: string;
}

/** The key's swatch for generated points: one colour, or the hues of their latents. */
const GENERATED_SWATCH = { one: '#2563eb', latent: 'conic-gradient(#ef4444, #eab308, #22c55e, #06b6d4, #6366f1, #ef4444)' };

export class GamePanel {
  private readonly plane = new GamePlane($<HTMLCanvasElement>('surface'), $<HTMLCanvasElement>('lattice'), $<HTMLCanvasElement>('plane'), PLANE_EXTENT);
  private readonly readout = $('plane-readout');
  private readonly modesNow = $('modes-now');

  constructor(private readonly view: GameView) {
    const layers: [string, keyof Layers][] = [['show-real', 'real'], ['show-generated', 'generated'], ['show-surface', 'surface'], ['show-lattice', 'lattice']];
    for (const [id, key] of layers) {
      const box = $<HTMLInputElement>(id);
      box.addEventListener('change', () => this.plane.setLayers({ [key]: box.checked }));
    }
    const colour = $<HTMLSelectElement>('point-colour');
    colour.addEventListener('change', () => {
      const byLatent = colour.value === 'latent';
      this.plane.setLayers({ byLatent });
      $('key-generated').style.setProperty('--c', byLatent ? GENERATED_SWATCH.latent : GENERATED_SWATCH.one);
    });
  }

  onPlane(e: GanPlaneEvent): void {
    this.plane.setSnapshot(e);
    Object.assign(this.view, { planes: this.view.planes + 1, planeStep: e.step, planeKey: fingerprint(e.points, 2) });
    const l = e.surface.logits;
    // A critic's sign means nothing (only differences do): give its range instead of a share.
    const verdict = this.plane.loss === 'wgan-gp'
      ? `the critic's scores over the plane run from ${fmtNum(l.reduce((a, b) => Math.min(a, b)), 3)} to ${fmtNum(l.reduce((a, b) => Math.max(a, b)), 3)}`
      : `D calls ${(100 * l.filter((x) => x > 0).length / l.length).toFixed(0)}% of the plane real`;
    this.readout.textContent = `step ${e.step}: ${verdict}`;
  }

  onQuality(e: GanQualityEvent): void {
    if (e.kind === 'points' && e.modes) this.modesNow.textContent = `${e.modes.covered} of ${e.modes.of} modes covered`;
  }

  /** Shown for 2D data; the colour scale as the model's loss reads it. */
  show(info: GanInfo): void {
    const c = info.config;
    if (!c) return;
    $('plane-section').hidden = info.kind === 'images';
    this.modesNow.hidden = c.dataset !== 'ring';
    if (this.plane.loss !== c.loss) {
      this.plane.loss = c.loss;
      this.plane.draw();
    }
    $('surface-scale').textContent = `Colour scale: ${this.plane.describeScale()}.`;
  }

  /** A new model: no snapshot yet. */
  startOver(): void {
    this.plane.setSnapshot(null);
    Object.assign(this.view, { planes: 0, planeStep: -1, planeKey: '' });
    this.readout.textContent = '';
    this.modesNow.textContent = '';
  }

  /** The real points drawn underneath (null for none). */
  setReals(points: Float32Array | null): void {
    this.plane.setData(points);
  }
}
