// The RL page's charts, drawn by the shared uPlot charts, one point per update: the mean return
// by update and by environment steps (the sample efficiency RL methods are compared by), the
// loss terms (policy loss and entropy, the value loss on its own axis, since returns make it
// hundreds of times larger), PPO's approximate KL and clip fraction, and the gradient norm
// against the norm it is clipped to.
// Not here: where the numbers come from (main.ts routes the worker's events), or the drawing
// (demos/shared/live-chart.ts).

import type { RlStepRecord } from '../../src/tasks/rl/protocol.js';
import { $ } from '../shared/dom.js';
import { LiveChart } from '../shared/live-chart.js';

const RETURN = { label: 'mean return', color: '#2563eb', format: (v: number) => v.toFixed(1) };

export class RlCharts {
  private readonly byUpdate = new LiveChart({ host: $('chart-return'), xLabel: 'update', yLabel: 'return', series: [RETURN] });
  private readonly bySteps = new LiveChart({ host: $('chart-return-steps'), xLabel: 'environment steps', yLabel: 'return', series: [RETURN] });
  private readonly loss = new LiveChart({
    host: $('chart-loss'),
    xLabel: 'update',
    yLabel: 'policy loss, entropy',
    rightLabel: 'value loss',
    series: [
      { label: 'policy loss', color: '#2563eb' },
      { label: 'entropy', color: '#059669' },
      { label: 'value loss', color: '#ea580c', scale: 'right' },
    ],
  });
  private readonly kl = new LiveChart({
    host: $('chart-kl'),
    xLabel: 'update',
    yLabel: 'approx. KL',
    rightLabel: '% clipped',
    rightRange: [0, 100],
    series: [
      { label: 'approx. KL', color: '#7c3aed' },
      { label: 'clipped', color: '#d97706', scale: 'right', format: (v) => `${v.toFixed(1)}%` },
    ],
  });
  private readonly grad = new LiveChart({
    host: $('chart-grad'),
    xLabel: 'update',
    yLabel: 'gradient norm',
    log: { floor: 1e-4 },
    series: [
      { label: 'before clipping', color: '#0891b2' },
      { label: 'clipped to', color: '#71717a' },
    ],
  });
  /** Return points charted that are finite (none before the first episode ends), for the browser test. */
  returns = 0;

  /** The records of one metrics event; `maxGradNorm` is the clip in force (0: none). */
  plot(steps: RlStepRecord[], maxGradNorm: number): void {
    for (const r of steps) {
      this.byUpdate.push(r.step, [r.meanReturn]);
      this.bySteps.push(r.envSteps, [r.meanReturn]);
      if (Number.isFinite(r.meanReturn)) this.returns++;
      this.loss.push(r.step, [r.policyLoss, r.entropy, r.valueLoss]);
      this.kl.push(r.step, [r.approxKl, 100 * r.clipFraction]);
      this.grad.push(r.step, [r.gradNorm, maxGradNorm > 0 ? maxGradNorm : null]);
    }
  }

  /** Forgets every point (a new policy). */
  clear(): void {
    for (const c of [this.byUpdate, this.bySteps, this.loss, this.kl, this.grad]) c.clear();
    this.returns = 0;
  }
}
