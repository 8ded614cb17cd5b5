// The VAE page's charts, drawn by the shared uPlot charts: the two terms of the negative ELBO
// every step, apart (the reconstruction term on the left axis, the KL term on the right, both in
// nats per image: they differ by an order of magnitude), and the ELBO itself with its smoothed
// line beside the KL weight the step trained with (beta, ramping up during the warm-up), so a
// change of the bound can be read against a change of the weight.
// Not here: where the numbers come from (main.ts routes the worker's events), the held-out
// figures (pictures.ts says them under the reconstructions), the drawing (demos/shared/live-chart.ts).

import type { VaeStepRecord } from '../../src/tasks/vae/protocol.js';
import { $ } from '../shared/dom.js';
import { Ema } from '../shared/ema.js';
import { LiveChart } from '../shared/live-chart.js';

const nats = (v: number) => `${v.toFixed(2)} nats`;

export class VaeCharts {
  private readonly terms = new LiveChart({
    host: $('chart-terms'),
    yLabel: 'reconstruction (nats)',
    rightLabel: 'KL (nats)',
    series: [
      { label: 'reconstruction −E[log p(x|z)]', color: '#2563eb', format: nats },
      { label: 'KL(q(z|x) ‖ p(z))', color: '#d97706', scale: 'right', format: nats },
    ],
  });
  private readonly elbo = new LiveChart({
    host: $('chart-elbo'),
    yLabel: 'ELBO (nats)',
    rightLabel: 'KL weight β',
    series: [
      { label: 'ELBO', color: '#86efac', format: nats },
      { label: 'ELBO smoothed', color: '#15803d', format: nats },
      { label: 'β', color: '#7c3aed', scale: 'right', format: (v) => v.toFixed(3) },
    ],
  });
  private readonly smooth = new Ema(0.97);

  plot(steps: VaeStepRecord[]): void {
    for (const r of steps) {
      this.terms.push(r.step, [r.recon, r.kl]);
      this.smooth.push(r.elbo);
      this.elbo.push(r.step, [r.elbo, this.smooth.value, r.beta]);
    }
  }

  /** Forgets every point (a new model). */
  clear(): void {
    this.terms.clear();
    this.elbo.clear();
    this.smooth.clear();
  }
}
