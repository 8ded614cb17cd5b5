// Grids of small images on a canvas, for the generative demos (a diffusion model's samples and
// their denoising, a GAN's samples, the training images beside them): NCHW float images (1 or 3
// channels) in a value range, [-1, 1] by default, drawn as tiles row by row with nearest-neighbour
// scaling so pixels stay crisp, a gap between tiles, an optional label left of each row and an
// optional coloured frame per tile. The canvas takes its container's width and as much height as
// the grid needs (at most maxHeight), at the device's pixel ratio, and redraws on resize.
// Values outside the range are clamped; NaNs show red, so a diverged model is seen as one.
// Not here: where the images come from, or any chart. tileRgba is pure (no DOM): it can be
// tested in Node.

import { frameDrawer, sizedContext } from './canvas.js';

export interface GridImages {
  /** (n, C, H, W) values, NCHW. */
  images: Float32Array;
  /** Side of square images; or give height and width. */
  size?: number;
  height?: number;
  width?: number;
  /** 1 (grayscale, the default) or 3 (RGB). */
  channels?: 1 | 3;
  /** Tiles per row; by default as square a layout as the count allows. */
  cols?: number;
  /** Rows laid out; by default as many as the images fill (a short grid leaves blanks). */
  rows?: number;
  /** A label left of each row, e.g. its class. */
  rowLabels?: string[];
  /** A frame colour per tile (null: none), e.g. a critic's verdict. */
  frames?: (string | null)[];
}

export interface ImageGridOptions {
  /** Values drawn black and white (for 'light'): [-1, 1] by default. */
  range: [number, number];
  /** 'light': high values light, as photographs; 'ink': high values dark, as ink on paper (glyphs: ink +1). */
  polarity: 'light' | 'ink';
  /** CSS pixels between tiles. */
  gap: number;
  /** The tallest the grid may be, in CSS pixels: tiles shrink to fit. */
  maxHeight: number;
  /** The largest a tile may be, in CSS pixels. */
  maxTile: number;
  /** Colour of the gaps and of blank cells. */
  background: string;
}

const defaults: ImageGridOptions = { range: [-1, 1], polarity: 'light', gap: 2, maxHeight: 420, maxTile: 96, background: '#ffffff' };

/** The shape of a grid: images n, channels C, image H × W, and the layout rows × cols. */
export function gridLayout(g: GridImages): { n: number; C: number; H: number; W: number; rows: number; cols: number } {
  const C = g.channels ?? 1;
  const H = g.height ?? g.size ?? 0, W = g.width ?? g.size ?? 0;
  if (!(H >= 1 && W >= 1)) throw new Error('image grid: give size, or height and width, of the images.');
  const per = C * H * W;
  if (g.images.length % per !== 0) throw new Error(`image grid: ${g.images.length} values are not a whole number of ${C} × ${H} × ${W} images.`);
  const n = g.images.length / per;
  const cols = Math.max(1, g.cols ?? Math.ceil(Math.sqrt(n)));
  const rows = Math.max(1, g.rows ?? Math.ceil(n / cols));
  return { n, C, H, W, rows, cols };
}

/** Image i of the grid as RGBA bytes (H × W × 4), mapped through the range and polarity. */
export function tileRgba(g: GridImages, i: number, opts: Pick<ImageGridOptions, 'range' | 'polarity'> = defaults): Uint8ClampedArray {
  const { C, H, W } = gridLayout(g);
  const [lo, hi] = opts.range;
  const scale = 255 / (hi - lo);
  const out = new Uint8ClampedArray(H * W * 4);
  const plane = H * W, base = i * C * plane;
  for (let p = 0; p < plane; p++) {
    let nan = false;
    for (let c = 0; c < 3; c++) {
      const v = g.images[base + (C === 3 ? c : 0) * plane + p];
      if (Number.isNaN(v)) nan = true;
      const level = (v - lo) * scale; // Uint8ClampedArray clamps and rounds
      out[4 * p + c] = opts.polarity === 'ink' ? 255 - level : level;
    }
    if (nan) out.set([220, 38, 38], 4 * p);
    out[4 * p + 3] = 255;
  }
  return out;
}

export class ImageGrid {
  private grid: GridImages | null = null;
  private opts: ImageGridOptions;
  /** Redraws on the next animation frame (many updates in one frame draw once). */
  readonly draw = frameDrawer(() => this.paint());

  constructor(
    readonly canvas: HTMLCanvasElement,
    opts: Partial<ImageGridOptions> = {},
  ) {
    this.opts = { ...defaults, ...opts };
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement ?? canvas);
  }

  /** The grid shown, or null. */
  get shown(): GridImages | null {
    return this.grid;
  }

  /** Shows `grid` (null: an empty canvas). */
  set(grid: GridImages | null): void {
    this.grid = grid;
    this.draw();
  }

  /** Changes how values are drawn (a dataset of the other polarity, say) and redraws. */
  setOptions(opts: Partial<ImageGridOptions>): void {
    this.opts = { ...this.opts, ...opts };
    this.draw();
  }

  private paint(): void {
    const c = this.canvas;
    const g = this.grid;
    // The container's content width: the canvas never sets it (a canvas as wide as its container
    // plus padding would widen a grid cell, and so itself, on every resize).
    const box = c.parentElement ?? c;
    const cs = getComputedStyle(box);
    const avail = box.clientWidth - parseFloat(cs.paddingLeft || '0') - parseFloat(cs.paddingRight || '0');
    if (!(avail > 0)) return;
    if (!g) {
      sizedContext(c, 0, 0);
      return;
    }
    const { n, H, W, rows, cols } = gridLayout(g);
    const { gap, maxHeight, maxTile, background } = this.opts;
    const label = g.rowLabels ? 16 : 0;
    // Tiles as large as the width allows, the height allows and maxTile allows; square pixels.
    const across = (avail - label - gap * (cols - 1)) / (cols * W);
    const down = (maxHeight - gap * (rows - 1)) / (rows * H);
    const px = Math.max(0.25, Math.min(across, down, maxTile / Math.max(H, W)));
    const tw = W * px, th = H * px;
    const cssW = label + cols * tw + gap * (cols - 1), cssH = rows * th + gap * (rows - 1);
    const ctx = sizedContext(c, cssW, cssH);
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, cssW, cssH);

    // Every tile goes onto one strip at one pixel per image pixel, then is scaled from there.
    const count = Math.min(n, rows * cols);
    const strip = document.createElement('canvas');
    strip.width = Math.max(1, W * count);
    strip.height = H;
    const sctx = strip.getContext('2d')!;
    for (let i = 0; i < count; i++) sctx.putImageData(new ImageData(tileRgba(g, i, this.opts) as Uint8ClampedArray<ArrayBuffer>, W, H), i * W, 0);
    ctx.imageSmoothingEnabled = false;
    for (let i = 0; i < count; i++) {
      const x = label + (i % cols) * (tw + gap), y = Math.floor(i / cols) * (th + gap);
      ctx.drawImage(strip, i * W, 0, W, H, x, y, tw, th);
      const f = g.frames?.[i];
      if (f) {
        ctx.strokeStyle = f;
        ctx.lineWidth = Math.min(2, gap);
        ctx.strokeRect(x - ctx.lineWidth / 2, y - ctx.lineWidth / 2, tw + ctx.lineWidth, th + ctx.lineWidth);
      }
    }
    if (g.rowLabels) {
      ctx.fillStyle = '#71717a';
      ctx.font = `${Math.min(12, Math.max(9, th * 0.6))}px system-ui, sans-serif`;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'middle';
      g.rowLabels.slice(0, rows).forEach((t, r) => ctx.fillText(t, 2, r * (th + gap) + th / 2));
    }
  }
}
