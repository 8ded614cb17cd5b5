// The diffusion page's charts of 2D data, drawn by the shared uPlot charts: the loss every step
// with its smoothed line, and the sample quality and modes covered at each sample (image mode
// has its own score charts, images.ts).
// Not here: where the numbers come from (main.ts routes the worker's events), the drawing
// (demos/shared/live-chart.ts).

import type { DiffusionMetricsEvent, QualityEvent } from '../../src/tasks/diffusion/protocol.js';
import { $ } from '../shared/dom.js';
import { modesChart, qualityChart, SmoothedLosses } from '../shared/quality-charts.js';

export class DiffusionCharts {
  private readonly loss = new SmoothedLosses($('chart-loss'), 'loss (MSE)', [{ label: 'loss', light: '#93c5fd', dark: '#1d4ed8' }]);
  private readonly quality = qualityChart($('chart-quality'));
  private readonly modes = modesChart($('chart-modes'));

  plotLoss(steps: DiffusionMetricsEvent['steps']): void {
    for (const r of steps) this.loss.push(r.step, [r.loss]);
  }

  plotQuality(e: QualityEvent): void {
    this.quality.push(e.step, [e.mmd, e.slicedWasserstein]);
    if (e.modes) this.modes.push(e.step, [e.modes.covered, 100 * e.modes.nearMode]);
  }

  /** Forgets every point (a new model). */
  clear(): void {
    for (const c of [this.loss, this.quality, this.modes]) c.clear();
  }
}
