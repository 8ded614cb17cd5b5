// The attention map of one head as a heatmap on a canvas: row i is the query at position i,
// column j the key at position j, the colour the weight softmax gave j when computing i (each
// row sums to 1; causal masking leaves everything right of the diagonal at 0). Tokens label
// both axes; hovering a cell reports its weight.
// Not here: computing the weights (the worker's attentionMap) or the controls that pick layer,
// head and prompt (attention.ts).

import { sizedContext } from '../shared/canvas.js';

/** Largest side of the drawn square in CSS pixels. */
const MAX_SIDE = 420;
/** Room for the token labels on the left and on top. */
const MARGIN = 28;

export class AttentionHeatmap {
  private tokens: string[] = [];
  private weights = new Float32Array(0);
  private cell = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly readout: HTMLElement,
  ) {
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => (this.readout.textContent = ''));
  }

  /** Draws T x T weights (row-major, row = query) for the T tokens given. */
  draw(tokens: string[], weights: Float32Array | number[]): void {
    const T = tokens.length;
    this.tokens = tokens;
    this.weights = Float32Array.from(weights);
    this.cell = Math.max(4, Math.min(24, Math.floor(MAX_SIDE / Math.max(1, T))));
    const side = MARGIN + this.cell * T;
    const g = sizedContext(this.canvas, side, side);
    const dpr = window.devicePixelRatio || 1;

    // Every pixel written directly (putImageData ignores the transform, so in device pixels):
    // one call instead of T*T fillRect calls, so even T = 256 draws in a few milliseconds, and
    // no scaling step that a browser might smooth across cell borders.
    const px = Math.max(1, Math.round(this.cell * dpr));
    const img = new ImageData(Math.max(1, px * T), Math.max(1, px * T));
    const rgba = new Uint32Array(img.data.buffer);
    const colours = new Uint32Array(T * T);
    for (let k = 0; k < T * T; k++) colours[k] = packed(this.weights[k] ?? 0);
    for (let y = 0; y < px * T; y++) {
      const row = Math.floor(y / px) * T;
      for (let x = 0; x < px * T; x++) rgba[y * px * T + x] = colours[row + Math.floor(x / px)];
    }
    g.putImageData(img, Math.round(MARGIN * dpr), Math.round(MARGIN * dpr));

    if (this.cell >= 8) {
      g.fillStyle = '#3f3f46';
      g.font = `${Math.min(13, this.cell - 1)}px ui-monospace, monospace`;
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      for (let i = 0; i < T; i++) {
        const label = show(tokens[i]);
        const mid = MARGIN + (i + 0.5) * this.cell;
        g.fillText(label, MARGIN / 2, mid); // rows: queries
        g.fillText(label, mid, MARGIN / 2); // columns: keys
      }
    }
  }

  private hover(e: MouseEvent): void {
    const T = this.tokens.length;
    if (!T || !this.cell) return;
    const rect = this.canvas.getBoundingClientRect();
    const j = Math.floor((e.clientX - rect.left - MARGIN) / this.cell);
    const i = Math.floor((e.clientY - rect.top - MARGIN) / this.cell);
    if (i < 0 || j < 0 || i >= T || j >= T) {
      this.readout.textContent = '';
      return;
    }
    const w = this.weights[i * T + j];
    this.readout.textContent =
      `query ${i} '${show(this.tokens[i])}' → key ${j} '${show(this.tokens[j])}': weight ${w.toFixed(3)}`;
  }
}

/** Visible stand-ins for whitespace, so a newline or a space has a label. */
function show(ch: string): string {
  if (ch === '\n') return '⏎';
  if (ch === ' ') return '␣';
  if (ch === '\t') return '⇥';
  return ch;
}

/**
 * White (0) to deep blue (1), with a square root so small weights still show; packed as one
 * RGBA word in the byte order of ImageData on a little-endian machine (every browser's).
 */
function packed(w: number): number {
  const t = Math.sqrt(Math.min(1, Math.max(0, w)));
  const r = Math.round(255 - 225 * t);
  const g = Math.round(255 - 175 * t);
  const b = Math.round(255 - 75 * t);
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}
