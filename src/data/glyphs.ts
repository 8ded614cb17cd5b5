// Generated digit images (no downloads): the ten digits 0-9 drawn from a small stroke font of
// our own (polylines and elliptic arcs), each image with its own random affine pose (scale,
// aspect, shear, rotation, shift), a gentle smooth warp and a random stroke width, rasterised
// with anti-aliasing (coverage from the distance of each pixel centre to the nearest segment).
// A stand-in for MNIST that a diffusion model or a GAN can train on in a page, deterministic for
// a seed. Not here: batching (the caller slices `images`) or any quality metric (src/eval/).
//
// Convention: NCHW float32 in [-1, 1], background -1, full ink +1 (what generative models with
// a tanh output or unit-variance noise expect). For [0, 1] use (v + 1) / 2.

import { ConfigError } from '../errors.js';
import { mulberry32 } from './random.js';

export interface GlyphOptions {
  /** Image side in pixels (16 or 28 are the intended sizes; any integer in [8, 256] works). */
  size?: number;
  /** Seed of the generator: same seed, same images. */
  seed?: number;
  /** Digits to draw (labels keep the digit value); all ten when omitted. */
  classes?: readonly number[];
}

export const glyphDefaults = { size: 28, seed: 1 } as const;

/** Images (n, 1, size, size) in [-1, 1] and their digit labels (n,). */
export interface GlyphSet {
  images: Float32Array;
  labels: Int32Array;
  /** Number of label values (always 10: labels are digit values even for a subset). */
  classes: 10;
  size: number;
}

// ---------------------------------------------------------------------------------------------
// The stroke font. Coordinates in a unit box, x to the right, y downwards; glyphs span
// y ∈ [0.1, 0.9] and x ∈ [0.2, 0.8]. Each digit is a list of strokes; a stroke is a polyline
// [x0, y0, x1, y1, ...]. Angles of arcs in degrees, 90° pointing down (y grows downwards).

function arc(cx: number, cy: number, rx: number, ry: number, a0: number, a1: number): number[] {
  const steps = Math.max(2, Math.ceil(Math.abs(a1 - a0) / 15));
  const pts: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const a = ((a0 + ((a1 - a0) * s) / steps) * Math.PI) / 180;
    pts.push(cx + rx * Math.cos(a), cy + ry * Math.sin(a));
  }
  return pts;
}

const FONT: readonly (readonly number[][])[] = [
  /* 0 */ [arc(0.5, 0.5, 0.28, 0.4, 0, 360)],
  /* 1 */ [[0.33, 0.27, 0.52, 0.1, 0.52, 0.9]],
  /* 2 */ [[...arc(0.5, 0.33, 0.25, 0.22, 180, 400), 0.22, 0.9, 0.8, 0.9]],
  /* 3 */ [[...arc(0.5, 0.3, 0.24, 0.2, 200, 450), ...arc(0.5, 0.7, 0.27, 0.2, 270, 520)]],
  /* 4 */ [[0.64, 0.9, 0.64, 0.1, 0.2, 0.64, 0.82, 0.64]],
  /* 5 */ [[0.74, 0.1, 0.32, 0.1, 0.29, 0.45, ...arc(0.5, 0.66, 0.26, 0.24, 235, 510)]],
  /* 6 */ [[...arc(0.72, 0.66, 0.47, 0.54, 270, 180), ...arc(0.5, 0.68, 0.25, 0.22, 180, 540)]],
  /* 7 */ [[0.22, 0.1, 0.78, 0.1, 0.42, 0.9]],
  /* 8 */ [arc(0.5, 0.3, 0.2, 0.2, 0, 360), arc(0.5, 0.7, 0.26, 0.2, 0, 360)],
  /* 9 */ [[...arc(0.5, 0.32, 0.24, 0.22, 0, 360), 0.7, 0.9]],
];

// ---------------------------------------------------------------------------------------------
// Rasteriser.

/** Ranges of the per-image random pose; sizes are fractions of the image side. */
const POSE = {
  scale: [0.72, 0.92], // glyph box side relative to the image
  aspect: [0.85, 1.15], // extra horizontal scale
  shear: 0.2, // ± horizontal shear
  rotate: (12 * Math.PI) / 180, // ± rotation
  shift: 0.06, // ± translation per axis
  warp: 0.035, // ± amplitude of the smooth warp, in font units
  width: [0.07, 0.12], // stroke width
} as const;

/**
 * Draws one digit into `out` (size*size coverage values in [0, 1], already zeroed). Each segment
 * only visits the pixels of its own bounding box, widened by the stroke radius: the cost is the
 * inked area, not pixels × segments. Coverage max(0, min(1, r + 0.5 - d)) with r the half width
 * and d the distance from the pixel centre gives a one-pixel anti-aliased edge; the max over
 * segments is the coverage of the nearest one, so joints need no special care.
 */
function drawDigit(digit: number, size: number, rand: () => number, out: Float32Array): void {
  const u = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const s = u(POSE.scale[0], POSE.scale[1]) * size;
  const sx = s * u(POSE.aspect[0], POSE.aspect[1]);
  const shear = u(-POSE.shear, POSE.shear);
  const rot = u(-POSE.rotate, POSE.rotate);
  const cx = size * (0.5 + u(-POSE.shift, POSE.shift));
  const cy = size * (0.5 + u(-POSE.shift, POSE.shift));
  const wx = u(-POSE.warp, POSE.warp);
  const wy = u(-POSE.warp, POSE.warp);
  const phx = u(0, 2 * Math.PI);
  const phy = u(0, 2 * Math.PI);
  const r = (u(POSE.width[0], POSE.width[1]) * size) / 2 + 0.5;
  const cos = Math.cos(rot);
  const sin = Math.sin(rot);
  // Font unit box -> pixels: warp, centre, shear, scale, rotate, place.
  const place = (fx: number, fy: number, p: Float64Array, o: number) => {
    const x0 = fx + wx * Math.sin(Math.PI * fy * 2 + phx) - 0.5;
    const y0 = fy + wy * Math.sin(Math.PI * fx * 2 + phy) - 0.5;
    const x1 = (x0 + shear * y0) * sx;
    const y1 = y0 * s;
    p[o] = cx + cos * x1 - sin * y1;
    p[o + 1] = cy + sin * x1 + cos * y1;
  };
  const seg = new Float64Array(4);
  for (const stroke of FONT[digit]) {
    place(stroke[0], stroke[1], seg, 2);
    for (let v = 2; v < stroke.length; v += 2) {
      seg[0] = seg[2];
      seg[1] = seg[3];
      place(stroke[v], stroke[v + 1], seg, 2);
      const [ax, ay, bx, by] = seg;
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const i0 = Math.max(0, Math.floor(Math.min(ax, bx) - r));
      const i1 = Math.min(size - 1, Math.ceil(Math.max(ax, bx) + r));
      const j0 = Math.max(0, Math.floor(Math.min(ay, by) - r));
      const j1 = Math.min(size - 1, Math.ceil(Math.max(ay, by) + r));
      for (let j = j0; j <= j1; j++) {
        const py = j + 0.5 - ay;
        for (let i = i0; i <= i1; i++) {
          const px = i + 0.5 - ax;
          // Nearest point of the segment: projection clamped to [0, 1].
          const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
          const ex = px - t * dx;
          const ey = py - t * dy;
          const cov = r - Math.sqrt(ex * ex + ey * ey);
          const k = j * size + i;
          if (cov > out[k]) out[k] = cov > 1 ? 1 : cov;
        }
      }
    }
  }
}

/**
 * n digit images (n, 1, size, size), NCHW float32 in [-1, 1] (background -1), with labels drawn
 * uniformly from `classes`. Deterministic for a seed; 10000 images of 28×28 take well under a
 * second in Node.
 */
export function glyphs(n: number, options: GlyphOptions = {}): GlyphSet {
  const size = options.size ?? glyphDefaults.size;
  const seed = options.seed ?? glyphDefaults.seed;
  const classes = options.classes ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`glyphs: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(size) || size < 8 || size > 256) {
    throw new ConfigError(`glyphs: size must be an integer in [8, 256] (16 or 28 are usual), got ${size}`);
  }
  if (classes.length === 0 || classes.some((c) => !Number.isInteger(c) || c < 0 || c > 9)) {
    throw new ConfigError(`glyphs: classes must be a non-empty list of digits 0-9, got [${classes.join(', ')}]`);
  }
  const rand = mulberry32(seed);
  const px = size * size;
  const images = new Float32Array(n * px);
  const labels = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const digit = classes[Math.min(classes.length - 1, Math.floor(rand() * classes.length))];
    labels[b] = digit;
    const img = images.subarray(b * px, (b + 1) * px);
    drawDigit(digit, size, rand, img); // coverage in [0, 1] ...
    for (let k = 0; k < px; k++) img[k] = 2 * img[k] - 1; // ... to [-1, 1]
  }
  return { images, labels, classes: 10, size };
}
