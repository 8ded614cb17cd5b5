// The live line charts of the demo pages, drawn by uPlot (loss, learning rate, gradient norm,
// speed, ...): one x axis of steps, any number of series. Points arrive in
// batches from the worker's metric events; a chart redraws at most a few times per second, on
// an animation frame, however fast they come, so the page stays responsive.
// Not here: where the numbers come from (the workers) or the rest of each page.

/// <reference types="vite/client" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line of a chart. */
export interface SeriesSpec {
  label: string;
  color: string;
  /** Which y scale it uses; a second scale gets its own axis on the right. */
  scale?: string;
  /** Draw only dots (for sparse series such as validation loss). */
  points?: boolean;
}

export interface ChartSpec {
  /** The element the chart lives in; its width sets the chart's. */
  host: HTMLElement;
  /** Unit or name of the left axis. */
  yLabel: string;
  /** Unit or name of the right axis, when a series uses scale 'right'. */
  rightLabel?: string;
  series: SeriesSpec[];
}

// Past this many points a chart halves its resolution (keeps every other point), so drawing
// stays fast over a long run.
const MAX_POINTS = 4000;
// The shortest time between two redraws of one chart.
const REDRAW_MS = 250;

const HEIGHT = 180;

export class LiveChart {
  private readonly plot: uPlot;
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[][];
  private dirty = false;
  private lastDraw = 0;
  private frame = 0;

  constructor(spec: ChartSpec) {
    this.ys = spec.series.map(() => []);
    const hasRight = spec.series.some((s) => s.scale === 'right');
    const opts: uPlot.Options = {
      width: Math.max(200, spec.host.clientWidth),
      height: HEIGHT,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: {},
        ...(hasRight ? { right: {} } : {}),
      },
      axes: [
        { label: 'step', labelSize: 18, size: 32 },
        { label: spec.yLabel, labelSize: 18, size: 56, values: (_u, v) => v.map(tick) },
        ...(hasRight
          ? [{ scale: 'right', side: 1, label: spec.rightLabel, labelSize: 18, size: 56, grid: { show: false }, values: (_u: uPlot, v: number[]) => v.map(tick) }]
          : []),
      ],
      series: [
        { label: 'step' },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          scale: s.scale === 'right' ? 'right' : 'y',
          spanGaps: true,
          points: s.points ? { show: true, size: 6, fill: s.color } : { show: false },
          ...(s.points ? { paths: () => null } : {}),
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : tick(v)),
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...this.ys] as uPlot.AlignedData, spec.host);
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(200, spec.host.clientWidth), height: HEIGHT })).observe(spec.host);
  }

  /**
   * Adds points at step x, one value per series (null where a series has none at this step).
   * A step equal to the last one merges into it, so a validation point can follow its step.
   */
  push(x: number, values: (number | null)[]): void {
    const n = this.xs.length;
    if (n > 0 && this.xs[n - 1] === x) {
      values.forEach((v, i) => {
        if (v !== null) this.ys[i][n - 1] = v;
      });
    } else if (n > 0 && x < this.xs[n - 1]) {
      return; // a step from before a reset that arrived late: not part of this run's curve
    } else {
      this.xs.push(x);
      values.forEach((v, i) => this.ys[i].push(v !== null && Number.isFinite(v) ? v : null));
      if (this.xs.length > MAX_POINTS) this.halve();
    }
    this.schedule();
  }

  /** Forgets every point (a new run). */
  clear(): void {
    this.xs.length = 0;
    for (const y of this.ys) y.length = 0;
    this.schedule();
  }

  /** The most recent value of series i, for a caption. */
  last(i: number): number | null {
    const y = this.ys[i];
    for (let k = y.length - 1; k >= 0; k--) if (y[k] !== null) return y[k];
    return null;
  }

  private halve(): void {
    const keep = (_: unknown, k: number): boolean => k % 2 === 0 || k === this.xs.length - 1;
    const xs = this.xs.filter(keep);
    // A sparse series (validation) would lose its points to plain decimation; keep any value by
    // moving it onto the kept neighbour.
    const ys = this.ys.map((y) => {
      const out: (number | null)[] = [];
      for (let k = 0; k < y.length; k++) {
        if (keep(null, k)) out.push(y[k]);
        else if (y[k] !== null && out.length > 0 && out[out.length - 1] === null) out[out.length - 1] = y[k];
      }
      return out;
    });
    this.xs.splice(0, this.xs.length, ...xs);
    ys.forEach((y, i) => this.ys[i].splice(0, this.ys[i].length, ...y));
  }

  private schedule(): void {
    this.dirty = true;
    if (this.frame) return;
    const wait = Math.max(0, REDRAW_MS - (performance.now() - this.lastDraw));
    this.frame = window.setTimeout(() => {
      requestAnimationFrame(() => {
        this.frame = 0;
        if (!this.dirty) return;
        this.dirty = false;
        this.lastDraw = performance.now();
        this.plot.setData([this.xs, ...this.ys] as uPlot.AlignedData);
      });
    }, wait);
  }
}

function tick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}
