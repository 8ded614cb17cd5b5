// Charts of sparse measurements (one point per sample, every few hundred steps), for the
// generative demos: sample quality on log scales, since MMD² and the sliced Wasserstein distance
// fall by orders of magnitude as a model learns, and mode coverage on linear ones. Drawn by
// uPlot, as the per-step charts are.
// Not here: the per-step charts (live-chart.ts) or any page's canvases.

/// <reference types="vite/client" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SparseSeries {
  label: string;
  color: string;
  /** 'right' puts it on a second y axis on the right. */
  scale?: 'right';
  /** How the legend shows a value. */
  format?: (v: number) => string;
}

export interface SparseChartSpec {
  host: HTMLElement;
  yLabel: string;
  rightLabel?: string;
  series: SparseSeries[];
  /** Logarithmic y scales; values at or below `floor` are drawn at it. */
  log?: { floor: number };
  /** Fixed ranges, e.g. [0, 8] for modes covered. */
  yRange?: [number, number];
  rightRange?: [number, number];
}

const HEIGHT = 180;

export class SparseChart {
  private readonly plot: uPlot;
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[][];
  private readonly floor: number;

  constructor(spec: SparseChartSpec) {
    this.ys = spec.series.map(() => []);
    this.floor = spec.log?.floor ?? -Infinity;
    const distr = spec.log ? 3 : 1;
    const hasRight = spec.series.some((s) => s.scale === 'right');
    const fixed = (r?: [number, number]) => (r ? { range: r as uPlot.Range.MinMax } : {});
    const opts: uPlot.Options = {
      width: Math.max(200, spec.host.clientWidth),
      height: HEIGHT,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: { distr, ...fixed(spec.yRange) },
        ...(hasRight ? { right: { distr, ...fixed(spec.rightRange) } } : {}),
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
          points: { show: true, size: 5, fill: s.color },
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : (s.format ?? tick)(v)),
        })),
      ],
    };
    this.plot = new uPlot(opts, [[], ...this.ys] as uPlot.AlignedData, spec.host);
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(200, spec.host.clientWidth), height: HEIGHT })).observe(spec.host);
  }

  /** Adds the values measured at step x (a repeated step replaces its values: a sample on request). */
  push(x: number, values: number[]): void {
    const clean = values.map((v) => (Number.isFinite(v) ? Math.max(v, this.floor) : null));
    const n = this.xs.length;
    if (n > 0 && x < this.xs[n - 1]) return; // from before a reset, arrived late
    if (n > 0 && this.xs[n - 1] === x) clean.forEach((v, i) => (this.ys[i][n - 1] = v));
    else {
      this.xs.push(x);
      clean.forEach((v, i) => this.ys[i].push(v));
    }
    this.plot.setData([this.xs, ...this.ys] as uPlot.AlignedData);
  }

  clear(): void {
    this.xs.length = 0;
    for (const y of this.ys) y.length = 0;
    this.plot.setData([this.xs, ...this.ys] as uPlot.AlignedData);
  }
}

function tick(v: number | null): string {
  if (v == null) return ''; // uPlot passes null for ticks it leaves unlabelled on a log scale
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}
