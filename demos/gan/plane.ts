// The GAN page's view of the 2D game, as layers stacked in one square: the discriminator's
// decision surface as a heatmap at the bottom, the generator's image of a regular latent lattice
// (a deformed grid) above it, and on top the shared PlaneView with the real points in grey and
// the generated points in colour. Each layer can be hidden; each is redrawn only when a new
// snapshot arrives (every few dozen iterations), on an animation frame.
// Not here: the section's controls and readouts (game-panel.ts), where the snapshots come from
// (main.ts routes the worker's events), the axes and point drawing (PlaneView, demos/shared/plane.ts).

import type { GanLoss } from '../../src/models/gan.js';
import type { GanPlaneEvent } from '../../src/tasks/gan/protocol.js';
import { frameDrawer, squareContext } from '../shared/canvas.js';
import { colorsByEnd, PlaneView, planeToPixels } from '../shared/plane.js';

/** The heatmap's two sides (and the image frames'): where D says "real" and where it says "generated"; and the lattice's ink. */
export const GAME_COLORS = { real: [234, 88, 12], fake: [124, 58, 237], lattice: '#0f172a' } as const;

export interface Layers {
  real: boolean;
  generated: boolean;
  surface: boolean;
  lattice: boolean;
  /** Generated points in one colour, or each coloured by its latent (hue by angle, lighter near 0). */
  byLatent: boolean;
}

export class GamePlane {
  readonly points: PlaneView;
  private data: Float32Array | null = null;
  private snap: GanPlaneEvent | null = null;
  private zColors: { z: Float32Array; colors: string[] } | null = null;
  /** How logits read: the non-saturating loss's D is a probability; hinge and WGAN scores are not. */
  loss: GanLoss = 'nonsaturating';
  layers: Layers = { real: true, generated: true, surface: true, lattice: true, byLatent: false };
  /** Redraws every layer on the next animation frame. */
  readonly draw = frameDrawer(() => this.paint());

  constructor(
    private readonly surface: HTMLCanvasElement,
    private readonly lattice: HTMLCanvasElement,
    top: HTMLCanvasElement,
    private readonly extent: number,
  ) {
    this.points = new PlaneView(top, extent);
    new ResizeObserver(() => this.draw()).observe(surface);
  }

  /** Real points, drawn in grey. */
  setData(points: Float32Array | null): void {
    this.data = points;
    this.draw();
  }

  setSnapshot(s: GanPlaneEvent | null): void {
    this.snap = s;
    this.draw();
  }

  setLayers(l: Partial<Layers>): void {
    this.layers = { ...this.layers, ...l };
    this.draw();
  }

  /** How the heatmap's colours read, for the legend. */
  describeScale(): string {
    if (this.loss === 'nonsaturating') return 'D(x) = σ(logit): orange → 1 (real), violet → 0 (generated), white at ½';
    if (this.loss === 'hinge') return 'D(x), whose sign is the verdict: orange > 0 (real), violet < 0 (generated); full colour at the hinge margins ±1, or at D\'s typical size while its scores are smaller';
    return 'critic score f(x) relative to its median over the plane (only differences matter): orange higher, violet lower';
  }


  private paint(): void {
    const s = this.snap;
    const { layers } = this;
    this.points.setData(layers.real ? this.data : null);
    let colors: string[] | null = null;
    if (s && layers.byLatent) {
      if (this.zColors?.z !== s.z) this.zColors = { z: s.z, colors: colorsByEnd(s.z) };
      colors = this.zColors.colors;
    }
    this.points.setPoints(s && layers.generated ? s.points : null, colors);
    const g = squareContext(this.surface);
    if (g && s && layers.surface) this.paintSurface(g, s);
    const l = squareContext(this.lattice);
    if (l && s && layers.lattice) this.paintLattice(l, s);
  }

  /** The logits as colours on a side x side image, stretched over the plane with smoothing. */
  private paintSurface(g: CanvasRenderingContext2D, s: GanPlaneEvent): void {
    const { side, logits } = s.surface;
    const v = heat(logits, this.loss);
    const img = new ImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      const x = v[i];
      const c = x >= 0 ? GAME_COLORS.real : GAME_COLORS.fake;
      const a = Number.isFinite(x) ? Math.min(1, Math.abs(x)) * 0.45 : 0;
      img.data.set([255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a, 255], 4 * i);
    }
    const small = new OffscreenCanvas(side, side);
    small.getContext('2d')!.putImageData(img, 0, 0);
    // Grid points sit on the plane's edges: each pixel is a cell centred on its point.
    const css = this.surface.clientWidth;
    const cell = css / (side - 1);
    g.imageSmoothingEnabled = true;
    g.drawImage(small, -cell / 2, -cell / 2, css + cell, css + cell);
  }

  /** Every `every`-th row and column of the mapped lattice as a polyline. */
  private paintLattice(g: CanvasRenderingContext2D, s: GanPlaneEvent): void {
    const { side, every, points } = s.lattice;
    const { sx, sy } = planeToPixels(this.extent, this.lattice.clientWidth);
    g.strokeStyle = GAME_COLORS.lattice;
    g.globalAlpha = 0.45;
    g.lineWidth = 1;
    g.beginPath();
    const line = (at: (k: number) => number) => {
      let pen = false;
      for (let k = 0; k < side; k++) {
        const i = at(k);
        const x = sx(points[2 * i]), y = sy(points[2 * i + 1]);
        if (!(Number.isFinite(x) && Number.isFinite(y))) {
          pen = false;
          continue;
        }
        if (pen) g.lineTo(x, y);
        else g.moveTo(x, y);
        pen = true;
      }
    };
    for (let r = 0; r < side; r += every) line((k) => r * side + k); // z2 fixed: a row
    for (let c = 0; c < side; c += every) line((k) => k * side + c); // z1 fixed: a column
    g.stroke();
    g.globalAlpha = 1;
  }
}

/** Logits to [-1, 1]: positive where D leans "real". */
export function heat(logits: Float32Array, loss: GanLoss): Float32Array {
  const out = new Float32Array(logits.length);
  if (loss === 'nonsaturating') {
    for (let i = 0; i < logits.length; i++) out[i] = 2 / (1 + Math.exp(-logits[i])) - 1; // 2σ - 1
  } else if (loss === 'hinge') {
    // Zero is the verdict's boundary; full colour at the margins, or sooner while D's scores are all small.
    const scale = Math.min(1, spread(logits, 0));
    for (let i = 0; i < logits.length; i++) out[i] = Math.max(-1, Math.min(1, logits[i] / scale));
  } else {
    // A critic is defined up to a constant, and its scale drifts: centre on the median, scale by the spread.
    const sorted = Float32Array.from(logits).filter(Number.isFinite).sort();
    const mid = sorted.length ? sorted[sorted.length >> 1] : 0;
    const scale = spread(logits, mid);
    for (let i = 0; i < logits.length; i++) out[i] = Math.max(-1, Math.min(1, (logits[i] - mid) / scale));
  }
  return out;
}

/** The 90th percentile of |v - centre|: a scale that a few extreme values do not set. */
function spread(v: Float32Array, centre: number): number {
  const dev = Float32Array.from(v, (x) => Math.abs(x - centre)).filter(Number.isFinite).sort();
  return Math.max(1e-6, dev.length ? dev[Math.floor(dev.length * 0.9)] : 1);
}
