// The square view of the 2D plane that the generative pages draw on: a unit grid with labelled
// axes, data in grey underneath, points on top (one colour, or a colour per point), and for the
// diffusion page a field of arrows from grid points x to the model's estimates x̂0. Drawn with
// the canvas 2D API at the device's pixel ratio, redrawn on resize; points outside the view are
// clipped. Also the colour of a point by where it ends, for following points through a change.
// Not here: where the points come from (each page asks its worker), the GAN's layers under the
// points (demos/gan/plane.ts) or playing frames (demos/diffusion/player.ts).

import { frameDrawer, squareContext } from './canvas.js';

const COLORS = { data: '#a1a1aa', samples: '#2563eb', field: '#ea580c', grid: '#f1f1f4', axis: '#dcdce0', label: '#71717a' };

export interface DenoisingField {
  /** (n, 2) grid points. */
  grid: Float32Array;
  /** (n, 2) estimates of x0 at each grid point. */
  x0: Float32Array;
}

/** Plane coordinates to CSS pixels on a square of side `css` showing [-extent, extent] on both axes. */
export function planeToPixels(extent: number, css: number): { sx: (x: number) => number; sy: (y: number) => number } {
  return { sx: (x) => ((x + extent) / (2 * extent)) * css, sy: (y) => ((extent - y) / (2 * extent)) * css };
}

export class PlaneView {
  private data: Float32Array | null = null;
  private points: Float32Array | null = null;
  private colors: string[] | null = null;
  private field: DenoisingField | null = null;
  /** How the field is drawn (see arrows()). */
  fieldStyle: 'reach' | 'arrows' = 'arrows';
  /** Redraws on the next animation frame (many updates in one frame draw once). */
  readonly draw = frameDrawer(() => this.paint());

  /** `extent`: the view spans [-extent, extent] on both axes. */
  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly extent: number,
  ) {
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** The data drawn in grey underneath everything. */
  setData(points: Float32Array | null): void {
    this.data = points;
    this.draw();
  }

  /** Points drawn on top: in the samples' colour, or colors[i] for point i. */
  setPoints(points: Float32Array | null, colors: string[] | null = null): void {
    this.points = points;
    this.colors = colors;
    this.draw();
  }

  /** Arrows x → x̂0, or none. */
  setField(field: DenoisingField | null): void {
    this.field = field;
    this.draw();
  }

  private paint(): void {
    const g = squareContext(this.canvas);
    if (!g) return;
    const css = this.canvas.clientWidth;
    const e = this.extent;
    const { sx, sy } = planeToPixels(e, css);

    // Unit grid and axes, with a tick label at each integer on the axes' ends.
    g.lineWidth = 1;
    for (let v = Math.ceil(-e); v <= Math.floor(e); v++) {
      g.strokeStyle = v === 0 ? COLORS.axis : COLORS.grid;
      g.beginPath();
      g.moveTo(Math.round(sx(v)) + 0.5, 0);
      g.lineTo(Math.round(sx(v)) + 0.5, css);
      g.moveTo(0, Math.round(sy(v)) + 0.5);
      g.lineTo(css, Math.round(sy(v)) + 0.5);
      g.stroke();
    }
    g.fillStyle = COLORS.label;
    g.font = '10px system-ui, sans-serif';
    for (let v = Math.ceil(-e); v <= Math.floor(e); v++) {
      if (v === 0) continue;
      g.fillText(String(v), sx(v) + 3, css - 4);
      g.fillText(String(v), 3, sy(v) - 3);
    }

    const r = Math.max(1.3, css / 320);
    if (this.data) dots(g, this.data, sx, sy, r, COLORS.data, 0.55);
    if (this.field) this.arrows(g, this.field, sx, sy);
    if (this.points) dots(g, this.points, sx, sy, r * 1.1, this.colors ?? COLORS.samples, 0.8);
  }

  /**
   * The field: 'reach' draws each grid point's line all the way to its estimate, faint, with the
   * estimate as a dot (where the denoiser sends it); 'arrows' draws arrows pointing the same way,
   * as long as a grid cell for the longest and by the square root of their length below it, so
   * that the short ones near the data still show (a quiver plot).
   */
  private arrows(g: CanvasRenderingContext2D, f: DenoisingField, sx: (x: number) => number, sy: (y: number) => number): void {
    g.strokeStyle = COLORS.field;
    g.fillStyle = COLORS.field;
    g.lineWidth = 1;
    const n = f.grid.length / 2;
    const cell = (this.canvas.clientWidth / Math.max(1, Math.sqrt(n) - 1)) * 0.9;
    let longest = 0;
    for (let i = 0; i < f.grid.length; i += 2) {
      const d = Math.hypot(sx(f.x0[i]) - sx(f.grid[i]), sy(f.x0[i + 1]) - sy(f.grid[i + 1]));
      if (Number.isFinite(d)) longest = Math.max(longest, d);
    }
    g.globalAlpha = this.fieldStyle === 'reach' ? 0.22 : 0.75;
    g.beginPath();
    const head = 3.5;
    for (let i = 0; i < f.grid.length; i += 2) {
      const x0 = sx(f.grid[i]), y0 = sy(f.grid[i + 1]);
      let dx = sx(f.x0[i]) - x0, dy = sy(f.x0[i + 1]) - y0;
      const full = Math.hypot(dx, dy);
      if (this.fieldStyle === 'arrows' && full > 0) {
        const k = (cell * Math.sqrt(full / longest)) / full;
        dx *= k;
        dy *= k;
      }
      const len = Math.hypot(dx, dy);
      if (!Number.isFinite(len) || len < 1) continue;
      const x1 = x0 + dx, y1 = y0 + dy;
      g.moveTo(x0, y0);
      g.lineTo(x1, y1);
      if (this.fieldStyle === 'arrows' && len > 2 * head) {
        const ux = dx / len, uy = dy / len;
        g.moveTo(x1 - head * ux - head * 0.6 * uy, y1 - head * uy + head * 0.6 * ux);
        g.lineTo(x1, y1);
        g.lineTo(x1 - head * ux + head * 0.6 * uy, y1 - head * uy - head * 0.6 * ux);
      }
    }
    g.stroke();
    if (this.fieldStyle === 'reach') {
      g.globalAlpha = 0.8;
      for (let i = 0; i < f.x0.length; i += 2) {
        g.beginPath();
        g.arc(sx(f.x0[i]), sy(f.x0[i + 1]), 1.6, 0, 2 * Math.PI);
        g.fill();
      }
    }
    g.globalAlpha = 1;
  }
}

function dots(
  g: CanvasRenderingContext2D, p: Float32Array, sx: (x: number) => number, sy: (y: number) => number,
  r: number, color: string | string[], alpha: number,
): void {
  g.globalAlpha = alpha;
  const one = typeof color === 'string';
  if (one) g.fillStyle = color;
  for (let i = 0; i < p.length; i += 2) {
    const x = sx(p[i]), y = sy(p[i + 1]);
    if (!(Number.isFinite(x) && Number.isFinite(y))) continue;
    if (!one) g.fillStyle = color[i / 2];
    g.beginPath();
    g.arc(x, y, r, 0, 2 * Math.PI);
    g.fill();
  }
  g.globalAlpha = 1;
}

/** A colour per point from where it ends: the hue of its angle around the origin, paler near the centre. */
export function colorsByEnd(end: Float32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < end.length; i += 2) {
    const hue = ((Math.atan2(end[i + 1], end[i]) * 180) / Math.PI + 360) % 360;
    const light = 62 - 14 * Math.min(1, Math.hypot(end[i], end[i + 1]) / 1.5);
    out.push(`hsl(${hue.toFixed(0)} 75% ${light.toFixed(0)}%)`);
  }
  return out;
}

