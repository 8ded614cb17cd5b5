// The contrastive page's charts, drawn by the shared uPlot charts: the loss every step with its
// smoothed line and, for NT-Xent, log(2N − 1), what it is when the positive is no more similar
// than any other view; the similarities of each view with its positive and with the other
// images' views beside the share of views whose nearest other view is their positive; and the
// linear probes' held-out accuracy over the steps, the learned encoder's beside its two
// baselines (the encoder as initialised, the raw pixels), so the gain of training reads at once.
// Not here: where the numbers come from (main.ts routes the worker's events), the probe's words
// (probe.ts), the drawing (demos/shared/live-chart.ts).

import type { ContrastiveProbeEvent, ContrastiveSessionConfig, ContrastiveStepRecord } from '../../src/tasks/contrastive/protocol.js';
import { $ } from '../shared/dom.js';
import { Ema } from '../shared/ema.js';
import { LiveChart } from '../shared/live-chart.js';

const percent = (v: number) => `${v.toFixed(1)}%`;
const fixed = (digits: number) => (v: number) => v.toFixed(digits);

/** Line colours of the probe's three rows, shared with its readout. */
export const PROBE_COLORS = { learned: '#2563eb', randomEncoder: '#d97706', rawPixels: '#71717a' };

export class ContrastiveCharts {
  private readonly loss = new LiveChart({
    host: $('chart-loss'),
    yLabel: 'loss',
    series: [
      { label: 'loss', color: '#93c5fd', format: fixed(4) },
      { label: 'smoothed', color: '#1d4ed8', format: fixed(4) },
      { label: 'log(2N − 1)', color: '#a1a1aa', format: fixed(3) },
    ],
  });
  private readonly pairs = new LiveChart({
    host: $('chart-pairs'),
    yLabel: 'cosine similarity',
    rightLabel: 'positive found',
    yRange: [-1, 1],
    rightRange: [0, 100],
    series: [
      { label: 'with its positive', color: '#15803d', format: fixed(3) },
      { label: 'with other images', color: '#dc2626', format: fixed(3) },
      { label: 'positive found', color: '#7c3aed', scale: 'right', format: percent },
    ],
  });
  private readonly probe = new LiveChart({
    host: $('chart-probe'),
    yLabel: 'held-out accuracy (%)',
    yRange: [0, 100],
    measured: true,
    series: [
      { label: 'learned encoder', color: PROBE_COLORS.learned, format: percent },
      { label: 'encoder at initialisation', color: PROBE_COLORS.randomEncoder, format: percent },
      { label: 'raw pixels', color: PROBE_COLORS.rawPixels, format: percent },
    ],
  });
  private readonly smooth = new Ema(0.97);
  /** log(2N − 1) for NT-Xent, null for the triplet loss. */
  private chance: number | null = null;

  /** The loss in force: what the loss chart is about. */
  setModel(c: Pick<ContrastiveSessionConfig, 'loss' | 'batch'>): void {
    this.chance = c.loss === 'ntxent' ? Math.log(2 * c.batch - 1) : null;
  }

  plot(steps: ContrastiveStepRecord[]): void {
    for (const r of steps) {
      this.smooth.push(r.loss);
      this.loss.push(r.step, [r.loss, this.smooth.value, this.chance]);
      this.pairs.push(r.step, [r.posSim, r.negSim, 100 * r.accuracy]);
    }
  }

  plotProbe(e: ContrastiveProbeEvent): void {
    this.probe.push(e.step, [100 * e.learned.testAccuracy, 100 * e.randomEncoder.testAccuracy, 100 * e.rawPixels.testAccuracy]);
  }

  /** Forgets every point (a new model). */
  clear(): void {
    for (const c of [this.loss, this.pairs, this.probe]) c.clear();
    this.smooth.clear();
  }
}
