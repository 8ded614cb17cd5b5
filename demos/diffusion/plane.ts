// The diffusion page's 2D canvases: a square view of the plane that draws held-out data (grey),
// samples (one colour, or a colour per point), and the denoising field as arrows from grid points
// x to the model's estimates x̂0; and the player that steps a view (such a plane, or a grid of
// images, see images.ts) through the frames of a sample denoising from noise to data. Drawn with the canvas 2D API at the device's pixel ratio,
// redrawn on resize; points outside the view are clipped.
// Not here: where the points come from (main.ts asks the worker) or the charts (charts.ts).

import type { DenoiseFrames } from '../../src/tasks/diffusion/protocol.js';

export const COLORS = { data: '#a1a1aa', samples: '#2563eb', field: '#ea580c', grid: '#f1f1f4', axis: '#dcdce0', label: '#71717a' };

export interface Field {
  /** (n, 2) grid points. */
  grid: Float32Array;
  /** (n, 2) estimates of x0 at each grid point. */
  x0: Float32Array;
}

export class PlaneView {
  private data: Float32Array | null = null;
  private points: Float32Array | null = null;
  private colors: string[] | null = null;
  private field: Field | null = null;
  private frame = 0;
  /** How the field is drawn (see arrows()). */
  fieldStyle: 'reach' | 'arrows' = 'arrows';

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
  setField(field: Field | null): void {
    this.field = field;
    this.draw();
  }

  /** Redraws on the next animation frame (many updates in one frame draw once). */
  draw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  private paint(): void {
    const c = this.canvas;
    const css = c.clientWidth;
    if (css === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const px = Math.round(css * dpr);
    if (c.width !== px || c.height !== px) {
      c.width = px;
      c.height = px;
    }
    const g = c.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, css, css);
    const e = this.extent;
    const sx = (x: number) => ((x + e) / (2 * e)) * css;
    const sy = (y: number) => ((e - y) / (2 * e)) * css;

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
  private arrows(g: CanvasRenderingContext2D, f: Field, sx: (x: number) => number, sy: (y: number) => number): void {
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

/** What a player draws frames on. */
export interface FrameView {
  /** New frames arrived (a view may prepare something from them, e.g. colours from the last). */
  load(f: DenoiseFrames): void;
  show(f: DenoiseFrames, i: number): void;
  clear(): void;
}

/** Frames of points on a plane, each point in the colour of where it ends. */
export function planeFrames(view: PlaneView): FrameView {
  let colors: string[] | null = null;
  return {
    load: (f) => (colors = colorsByEnd(f.frames[f.frames.length - 1])),
    show: (f, i) => view.setPoints(f.frames[i], colors),
    clear: () => view.setPoints(null),
  };
}

/** Plays denoising frames on a view, with a slider to scrub through them. */
export class DenoisePlayer {
  private frames: DenoiseFrames | null = null;
  private timer = 0;
  private readonly view: FrameView;

  constructor(
    view: PlaneView | FrameView,
    private readonly slider: HTMLInputElement,
    private readonly readout: HTMLElement,
    /** Called with true when playing starts and false when it stops. */
    private readonly onPlaying: (playing: boolean) => void,
  ) {
    this.view = view instanceof PlaneView ? planeFrames(view) : view;
    slider.addEventListener('input', () => {
      this.stop();
      this.show(slider.valueAsNumber);
    });
  }

  get playing(): boolean {
    return this.timer !== 0;
  }

  get loaded(): DenoiseFrames | null {
    return this.frames;
  }

  /** New frames; shows the last one (the finished sample). */
  set(f: DenoiseFrames): void {
    this.stop();
    this.frames = f;
    this.view.load(f);
    this.slider.max = String(f.frames.length - 1);
    this.slider.disabled = false;
    this.show(f.frames.length - 1);
  }

  /** Forgets the frames (a new model): the view shows no points until the next set. */
  clear(message: string): void {
    this.stop();
    this.frames = null;
    this.slider.value = '0';
    this.slider.max = '0';
    this.slider.disabled = true;
    this.view.clear();
    this.readout.textContent = message;
  }

  /** Plays from the noise to the end in about three seconds (at most 60 ms per frame). */
  play(): void {
    const f = this.frames;
    if (!f) return;
    this.stop();
    const perFrame = Math.min(60, 3000 / f.frames.length);
    const start = performance.now();
    // A short pause on the noise, then one frame per perFrame ms, ending on the sample.
    const tick = () => {
      const i = Math.min(f.frames.length - 1, Math.max(0, Math.floor((performance.now() - start - 400) / perFrame)));
      this.show(i);
      if (i < f.frames.length - 1) this.timer = requestAnimationFrame(tick);
      else this.stop();
    };
    this.timer = requestAnimationFrame(tick);
    this.onPlaying(true);
  }

  stop(): void {
    if (!this.timer) return;
    cancelAnimationFrame(this.timer);
    this.timer = 0;
    this.onPlaying(false);
  }

  private show(i: number): void {
    const f = this.frames!;
    this.slider.value = String(i);
    this.view.show(f, i);
    const n = f.frames.length - 1;
    const where = i === 0 ? 'pure noise' : i === n ? 'the finished sample' : `after step ${i} of ${n}`;
    this.readout.textContent = `t = ${f.ts[i]}: ${where} · ${f.sampler.toUpperCase()}, ${n} steps, model at step ${f.step}`;
  }
}
