// The fine-tuning page's charts, drawn by the shared uPlot charts: the training loss every step
// (light) with its smoothed line (dark), and the held-out perplexity at each measurement, its
// first point the pretrained model's before any step, on a log scale (it falls by orders of
// magnitude when the base knows nothing of the text), beside the training loss's own perplexity
// over the same stretch.
// Not here: where the numbers come from (main.ts routes the worker's events), the drawing
// (demos/shared/live-chart.ts).

import type { EvalRecord } from '../../src/tasks/finetune/protocol.js';
import type { StepRecord } from '../../src/metrics.js';
import { $ } from '../shared/dom.js';
import { LiveChart } from '../shared/live-chart.js';
import { SmoothedLosses } from '../shared/quality-charts.js';

export class FinetuneCharts {
  private readonly loss = new SmoothedLosses($('chart-loss'), 'loss (nats)', [{ label: 'loss', light: '#93c5fd', dark: '#1d4ed8' }]);
  private readonly perplexity = new LiveChart({
    host: $('chart-perplexity'),
    yLabel: 'perplexity',
    measured: true,
    log: { floor: 1 },
    series: [
      { label: 'held-out', color: '#15803d', format: (v) => v.toFixed(2) },
      { label: 'training batches', color: '#a1a1aa', format: (v) => v.toFixed(2) },
    ],
  });

  plot(steps: StepRecord[], evals: EvalRecord[]): void {
    for (const r of steps) this.loss.push(r.step, [r.loss]);
    for (const e of evals) this.perplexity.push(e.step, [e.perplexity, Number.isFinite(e.trainLoss) ? Math.exp(e.trainLoss) : null]);
  }

  /** Forgets every point (a new run). */
  clear(): void {
    this.loss.clear();
    this.perplexity.clear();
  }
}
