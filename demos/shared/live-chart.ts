// The line charts of the demo pages, drawn by uPlot: one x axis of steps and any number of
// series on one or two y axes. Per-step figures (loss, learning rate, speed) arrive in batches
// from the worker's metric events; measurements (sample quality, modes covered) come every few
// hundred steps and are drawn as dots joined by lines, on logarithmic scales where they fall by
// orders of magnitude. The legend reads the point under the cursor, and each series' latest value
// while the cursor is elsewhere. A chart redraws at most a few times per second, on an animation
// frame, however fast points come, so the page stays responsive.
// Not here: where the numbers come from (the workers), which charts a page has (each page's
// charts.ts), or the bench page's category charts (demos/bench/plot.ts).

/// <reference types="vite/client" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line of a chart. */
export interface SeriesSpec {
  label: string;
  color: string;
  /** 'right' puts it on a second y axis on the right. */
  scale?: 'right';
  /** Dots only, no line (a sparse series among per-step ones, such as validation loss). */
  points?: boolean;
  /** How the legend shows a value (by default as the axes do). */
  format?: (v: number) => string;
}

export interface ChartSpec {
  /** The element the chart lives in; its width sets the chart's. */
  host: HTMLElement;
  /** What the x axis counts: 'step' unless said ('update', 'environment steps'). */
  xLabel?: string;
  /** Unit or name of the left axis. */
  yLabel: string;
  /** Unit or name of the right axis, when a series uses scale 'right'. */
  rightLabel?: string;
  series: SeriesSpec[];
  /** Measurements taken now and then rather than every step: each value gets a dot on its line. */
  measured?: boolean;
  /** Logarithmic y scales; values at or below `floor` are drawn at it. */
  log?: { floor: number };
  /** Fixed ranges, e.g. [0, 8.5] for modes covered. */
  yRange?: [number, number];
  rightRange?: [number, number];
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
  private readonly floor: number;
  private dirty = false;
  private lastDraw = 0;
  private frame = 0;

  constructor(spec: ChartSpec) {
    this.ys = spec.series.map(() => []);
    this.floor = spec.log?.floor ?? -Infinity;
    const width = () => Math.max(200, spec.host.clientWidth);
    this.plot = new uPlot({ ...options(spec), width: width(), height: HEIGHT }, [[], ...this.ys] as uPlot.AlignedData, spec.host);
    new ResizeObserver(() => this.plot.setSize({ width: width(), height: HEIGHT })).observe(spec.host);
  }

  /**
   * Adds points at step x, one value per series (null where a series has none at this step).
   * A step equal to the last one merges into it, so a validation point can follow its step and a
   * measurement taken on request replaces the one of its step.
   */
  push(x: number, values: (number | null)[]): void {
    const clean = values.map((v) => (v !== null && Number.isFinite(v) ? Math.max(v, this.floor) : null));
    const n = this.xs.length;
    if (n > 0 && x < this.xs[n - 1]) return; // a step from before a reset that arrived late: not part of this run's curve
    if (n > 0 && this.xs[n - 1] === x) {
      clean.forEach((v, i) => {
        if (v !== null) this.ys[i][n - 1] = v;
      });
    } else {
      this.xs.push(x);
      clean.forEach((v, i) => this.ys[i].push(v));
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

/** uPlot's options for a spec, but for its size. */
function options(spec: ChartSpec): Omit<uPlot.Options, 'width' | 'height'> {
  const hasRight = spec.series.some((s) => s.scale === 'right');
  const scale = (range?: [number, number]): uPlot.Scale => ({ distr: spec.log ? 3 : 1, ...(range ? { range: range as uPlot.Range.MinMax } : {}) });
  const axis = (label?: string): uPlot.Axis => ({ label, labelSize: 18, size: 56, values: (_u, v) => v.map(tick) });
  return {
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: false }, y: scale(spec.yRange), ...(hasRight ? { right: scale(spec.rightRange) } : {}) },
    axes: [
      { label: spec.xLabel ?? 'step', labelSize: 18, size: 32 },
      axis(spec.yLabel),
      ...(hasRight ? [{ ...axis(spec.rightLabel), scale: 'right', side: 1, grid: { show: false } }] : []),
    ],
    series: [
      { label: spec.xLabel ?? 'step', value: legendValue((v) => v.toLocaleString()) },
      ...spec.series.map((s): uPlot.Series => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        scale: s.scale ?? 'y',
        spanGaps: true,
        points: s.points || spec.measured ? { show: true, size: s.points ? 6 : 5, fill: s.color } : { show: false },
        ...(s.points ? { paths: () => null } : {}),
        value: legendValue(s.format ?? tick),
      })),
    ],
  };
}

/**
 * A series' legend value: the point's under the cursor; with the cursor off the chart (uPlot asks
 * for index null), the series' latest, so that a legend left alone reads as the current figures
 * rather than a row of dashes. A sparse series shows its latest measurement.
 */
function legendValue(format: (v: number) => string): uPlot.Series.Value {
  return (u, v, seriesIdx, idx) => {
    const shown = idx == null ? latest(u.data[seriesIdx]) : v;
    return shown == null ? '–' : format(shown);
  };
}

/** The last value that is not null (uPlot's data has null where a series has no point). */
function latest(values: ArrayLike<number | null | undefined>): number | null {
  for (let k = values.length - 1; k >= 0; k--) {
    const v = values[k];
    if (v != null) return v;
  }
  return null;
}

/** An axis label: three significant figures, in exponent form when very small or large. */
function tick(v: number | null): string {
  if (v == null) return ''; // uPlot passes null for ticks it leaves unlabelled on a log scale
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return Number(v.toPrecision(2)).toExponential();
  return String(Number(v.toPrecision(3)));
}
