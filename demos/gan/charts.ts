// The GAN page's charts, drawn by the shared uPlot charts: both players' losses every iteration
// (raw and smoothed), and the figures of each snapshot: MMD² and sliced Wasserstein for points
// and the user's images, a Fréchet distance for digits, and the modes (ring) or digits covered,
// where mode collapse shows. It shows the charts that fit the data in force.
// Not here: where the numbers come from (main.ts routes the worker's events), or the drawing
// (demos/shared/live-chart.ts).

import type { GanInfo, GanQualityEvent, GanStepRecord } from '../../src/tasks/gan/protocol.js';
import { $ } from '../shared/dom.js';
import { LiveChart } from '../shared/live-chart.js';
import { frechetChart, modesChart, qualityChart, SmoothedLosses } from '../shared/quality-charts.js';
import { qualityAbout } from './text.js';

export class GanCharts {
  private readonly loss = new SmoothedLosses($('chart-loss'), 'loss', [
    { label: 'D', light: '#fdba74', dark: '#c2410c' },
    { label: 'G', light: '#93c5fd', dark: '#1d4ed8' },
  ]);
  private readonly quality = qualityChart($('chart-quality'));
  private readonly frechet = frechetChart($('chart-frechet'), 'Fréchet (scorer features)', 1e-3);
  private readonly modes = modesChart($('chart-modes'));
  private readonly classes = new LiveChart({
    host: $('chart-classes'),
    measured: true,
    yLabel: 'digits covered',
    yRange: [0, 10.5],
    series: [{ label: 'digits covered', color: '#059669', format: (v) => `${v} of 10` }],
  });

  plotLosses(steps: GanStepRecord[]): void {
    for (const r of steps) this.loss.push(r.step, [r.dLoss, r.gLoss]);
  }

  plotQuality(e: GanQualityEvent): void {
    if (e.kind === 'images') {
      this.frechet.push(e.step, [e.frechet]);
      this.classes.push(e.step, [e.classes.covered]);
      return;
    }
    this.quality.push(e.step, [e.mmd, e.slicedWasserstein]);
    if (e.kind === 'points' && e.modes) this.modes.push(e.step, [e.modes.covered, 100 * e.modes.nearMode]);
  }

  /** Shows the charts that fit the model's data: digits get a Fréchet distance and their classes, the ring its modes. */
  show(info: GanInfo): void {
    if (!info.config) return;
    const images = info.kind === 'images';
    const digits = images && info.config.dataset !== 'upload';
    $('chart-quality').hidden = digits;
    $('chart-frechet').hidden = !digits;
    $('modes-section').hidden = info.config.dataset !== 'ring';
    $('classes-section').hidden = !digits;
    $('quality-about').textContent = qualityAbout(digits ? 'digits' : images ? 'upload' : 'points');
  }

  /** Forgets every point (a new model). */
  clear(): void {
    for (const c of [this.loss, this.quality, this.frechet, this.modes, this.classes]) c.clear();
  }
}
