// The transformer page's live charts, drawn by the shared uPlot charts: the loss (training every
// step, validation at each evaluation), the learning rate, the gradient norm and the speed
// (tokens per second, and the time per step on a second axis).
// Not here: where the numbers come from (the worker's metric events, main.ts) or the drawing
// (demos/shared/live-chart.ts).

import type { MetricsEvent } from '../../src/tasks/gpt/protocol.js';
import { $ } from '../shared/dom.js';
import { LiveChart } from '../shared/live-chart.js';

export class TrainingCharts {
  private readonly loss = new LiveChart({
    host: $('chart-loss'),
    yLabel: 'loss (nats)',
    series: [
      { label: 'train', color: '#2563eb' },
      { label: 'validation', color: '#dc2626', points: true },
    ],
  });
  private readonly lr = new LiveChart({ host: $('chart-lr'), yLabel: 'learning rate', series: [{ label: 'lr', color: '#059669' }] });
  private readonly grad = new LiveChart({ host: $('chart-grad'), yLabel: 'norm', series: [{ label: 'gradient norm', color: '#7c3aed' }] });
  private readonly speed = new LiveChart({
    host: $('chart-speed'),
    yLabel: 'tokens / s',
    rightLabel: 'ms / step',
    series: [
      { label: 'tokens/s', color: '#0891b2' },
      { label: 'step time', color: '#ea580c', scale: 'right' },
    ],
  });

  /** Plots the steps and evaluations of a metrics event. */
  plot(e: MetricsEvent): void {
    for (const r of e.steps) {
      this.loss.push(r.step, [r.loss, null]);
      this.lr.push(r.step, [r.lr]);
      this.grad.push(r.step, [r.gradNorm]);
      this.speed.push(r.step, [r.throughput, r.stepMs]);
    }
    for (const v of e.evals) this.loss.push(v.step, [null, v.valLoss]);
  }

  /** Forgets every point (a new model). */
  clear(): void {
    for (const c of [this.loss, this.lr, this.grad, this.speed]) c.clear();
  }
}
