// Draws the bench page's charts (charts.ts specs) with uPlot: categories along x at 0, 1, 2, ...
// (sizes, presets, shapes), so one size or many, powers of two or names, all space evenly; lines
// through points for a quantity against size, grouped bars (uPlot's bars path builder, each
// series shifted within its category) for side-by-side comparisons. A line chart of a single
// category (quick mode's one size) is drawn as bars: a line through one point is a dot, and the
// series' dots would hide one another. A bar carries its value above it where the figure fits
// its width. Long category names wrap onto lines as wide as a category. The y axis turns
// logarithmic (whole decades) when the values span more than 30x, as an engine against TF.js's
// CPU backend often does.
// Not here: what a chart shows (charts.ts) or the demos' per-step charts (demos/shared).

/// <reference types="vite/client" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtNum } from '../shared/ui.js';
import { ENGINE, type ChartSpec } from './charts.js';

const HEIGHT = 240;
/** Share of a category's width its group of bars takes. */
const GROUP = 0.8;
/** Share of a series' slot within the group its bar takes (the rest parts it from the next bar). */
const BAR = 0.9;

/** Fixed colours for the things compared across suites; others take the palette in turn. */
const NAMED: Record<string, string> = {
  [ENGINE]: '#2563eb',
  'TF.js webgpu': '#ea580c',
  'TF.js webgl': '#7c3aed',
  'TF.js cpu': '#71717a',
};
const PALETTE = ['#2563eb', '#059669', '#d97706', '#db2777', '#0891b2', '#65a30d', '#9333ea', '#dc2626'];

function colours(labels: string[]): string[] {
  let next = 0;
  return labels.map((l) => NAMED[l] ?? (l.startsWith('autotuned') ? '#0f172a' : PALETTE[next++ % PALETTE.length]));
}

/** Logarithmic when every value is positive and they span more than 30x. */
function wantsLog(spec: ChartSpec): boolean {
  const vs = spec.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  return vs.length > 1 && vs.every((v) => v > 0) && Math.max(...vs) / Math.min(...vs) > 30;
}

/** Width of a character of a tick label, roughly, in CSS pixels. */
const CHAR_PX = 7;

/** `text` broken at spaces into lines of at most `max` characters (a longer word keeps its own line). */
function wrap(text: string, max: number): string {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= max) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines.join('\n');
}

/** A tick label: short, whatever the magnitude. */
const tick = (v: number | null) => (v == null ? '' : fmtNum(v, 3));

/** Writes each bar's value above it (inside the plot's top edge) where the figure fits the bar's width; `slot` is a series' share of a category. */
function labelBars(u: uPlot, spec: ChartSpec, slot: number): void {
  const px = devicePixelRatio;
  const ctx = u.ctx;
  ctx.save();
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  ctx.fillStyle = '#52525b';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  spec.series.forEach((s, k) => s.values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const left = u.valToPos(i - GROUP / 2 + k * slot, 'x', true);
    const right = u.valToPos(i - GROUP / 2 + (k + BAR) * slot, 'x', true);
    const text = tick(v);
    if (ctx.measureText(text).width > right - left) return;
    ctx.fillText(text, (left + right) / 2, Math.max(u.valToPos(v, 'y', true) - 2 * px, u.bbox.top + 12 * px));
  }));
  ctx.restore();
}

/** Draws `spec` into `host` (whose width sets the chart's) and returns the plot. */
export function drawChart(host: HTMLElement, spec: ChartSpec): uPlot {
  const n = spec.categories.length;
  const kind = n > 1 ? spec.kind : 'bars';
  const xs = spec.categories.map((_, i) => i);
  const log = wantsLog(spec);
  const colour = colours(spec.series.map((s) => s.label));
  // Long names (a conv shape and op, a kernel and its shape) wrap onto lines as wide as a category.
  const ticks = spec.categories.map((c) => wrap(c, Math.max(8, Math.floor(Math.max(240, host.clientWidth) / n / CHAR_PX))));
  const width = GROUP / spec.series.length;
  const bars = (k: number): Partial<uPlot.Series> => ({
    fill: colour[k],
    points: { show: false },
    paths: uPlot.paths.bars!({
      disp: {
        // Left edges in x units: series k's bar sits k-th within its category's group.
        x0: { unit: 1 as uPlot.Series.BarsPathBuilderFacetUnit, values: (u) => Array.from(u.data[0], (i) => i - GROUP / 2 + k * width) },
        size: { unit: 1 as uPlot.Series.BarsPathBuilderFacetUnit, values: () => [width * BAR] },
      },
    }),
  });
  const lines = (k: number): Partial<uPlot.Series> => ({ width: 2, spanGaps: true, points: { show: true, size: 7, fill: colour[k] } });
  const opts: uPlot.Options = {
    width: Math.max(240, host.clientWidth),
    height: HEIGHT,
    legend: { live: true },
    // A bar is not at its category's centre, so the cursor's dots would float beside it.
    cursor: { points: { show: kind === 'lines' }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: [-0.5, n - 0.5] },
      // Whole decades on a log scale, so the smallest bar still stands a decade tall; from 0
      // otherwise, with room above the tallest bar for its value.
      y: log
        ? { distr: 3, range: (_u, min, max) => [10 ** Math.floor(Math.log10(min) - 1e-9), 10 ** Math.ceil(Math.log10(max))] }
        : { range: (_u, _min, max) => [0, max > 0 ? max * (kind === 'bars' ? 1.15 : 1.08) : 1] },
    },
    axes: [
      {
        label: spec.xLabel,
        labelSize: 18,
        splits: () => xs,
        values: (_u, splits) => splits.map((i) => ticks[i] ?? ''),
        size: 12 + 18 * Math.max(1, ...ticks.map((t) => t.split('\n').length)),
        grid: { show: kind === 'lines' },
      },
      { label: spec.yLabel, labelSize: 18, size: 56, values: (_u, v) => v.map(tick) },
    ],
    series: [
      { label: spec.xLabel, value: (_u, i) => (i == null ? '–' : spec.categories[i] ?? '') },
      ...spec.series.map((s, k) => ({
        label: s.label,
        stroke: colour[k],
        value: (_u: uPlot, v: number | null) => (v == null ? '–' : tick(v)),
        ...(kind === 'bars' ? bars(k) : lines(k)),
      })),
    ],
    hooks: kind === 'bars' ? { draw: [(u) => labelBars(u, spec, width)] } : {},
  };
  const data = [xs, ...spec.series.map((s) => s.values.map((v) => (v !== null && Number.isFinite(v) ? v : null)))] as uPlot.AlignedData;
  const plot = new uPlot(opts, data, host);
  new ResizeObserver(() => plot.setSize({ width: Math.max(240, host.clientWidth), height: HEIGHT })).observe(host);
  return plot;
}
