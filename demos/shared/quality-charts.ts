// The charts both generative pages (diffusion, GAN) draw: losses every step, each beside its
// smoothed line; the distance from the samples to held-out data (MMD² and the sliced Wasserstein
// distance, on log scales, since both fall by orders of magnitude as a model learns); on digits,
// the Fréchet distance of a scorer's features; and, on the ring of 8 Gaussians, how many modes
// the samples cover and the share of samples near one.
// Not here: each page's other charts (its charts.ts), or the drawing (live-chart.ts).

import { Ema } from './ema.js';
import { LiveChart } from './live-chart.js';

/** A loss drawn every step (its light colour) with its smoothed line (its dark one). */
export interface LossLine {
  label: string;
  light: string;
  dark: string;
}

/** Losses every step, all raw lines first, then each one's exponential moving average. */
export class SmoothedLosses {
  private readonly chart: LiveChart;
  private readonly smooth: Ema[];

  constructor(host: HTMLElement, yLabel: string, lines: LossLine[]) {
    this.chart = new LiveChart({
      host,
      yLabel,
      series: [
        ...lines.map((l) => ({ label: l.label, color: l.light })),
        ...lines.map((l) => ({ label: lines.length > 1 ? `${l.label} smoothed` : 'smoothed', color: l.dark })),
      ],
    });
    this.smooth = lines.map(() => new Ema(0.97));
  }

  /** The losses of one step, in the order of the lines. */
  push(step: number, losses: number[]): void {
    losses.forEach((x, i) => this.smooth[i].push(x));
    this.chart.push(step, [...losses, ...this.smooth.map((e) => e.value)]);
  }

  clear(): void {
    this.chart.clear();
    for (const e of this.smooth) e.clear();
  }
}

/** The Fréchet distance of the scorer's features at each measurement, on a log scale down to `floor`. */
export function frechetChart(host: HTMLElement, label: string, floor: number): LiveChart {
  return new LiveChart({ host, measured: true, yLabel: 'Fréchet distance', log: { floor }, series: [{ label, color: '#7c3aed' }] });
}

/** MMD² (left) and the sliced Wasserstein distance (right) of each measurement. */
export function qualityChart(host: HTMLElement): LiveChart {
  return new LiveChart({
    host,
    measured: true,
    yLabel: 'MMD²',
    rightLabel: 'sliced W₂',
    log: { floor: 1e-5 },
    series: [
      { label: 'MMD²', color: '#7c3aed' },
      { label: 'sliced Wasserstein', color: '#0891b2', scale: 'right' },
    ],
  });
}

/** Modes covered of the ring's 8 (left) and the percentage of samples near a mode (right). */
export function modesChart(host: HTMLElement): LiveChart {
  return new LiveChart({
    host,
    measured: true,
    yLabel: 'modes covered',
    rightLabel: '% near a mode',
    yRange: [0, 8.5],
    rightRange: [0, 105],
    series: [
      { label: 'modes covered', color: '#059669', format: (v) => `${v} of 8` },
      { label: 'near a mode', color: '#d97706', scale: 'right', format: (v) => `${v.toFixed(1)}%` },
    ],
  });
}
