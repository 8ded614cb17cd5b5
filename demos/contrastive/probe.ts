// The contrastive page's linear probe in words: the latest held-out accuracies of logistic
// regression on the learned features, on the encoder as initialised and on the raw pixels, with
// how many labelled images it learnt from and how many held-out digits it was scored on, and a
// button that asks for a probe now (its answer comes back as the event periodic probes send).
// Not here: the probe itself (src/models/contrastive-eval.ts, run by the worker), its chart (charts.ts).

import type { ContrastiveProbeEvent } from '../../src/tasks/contrastive/protocol.js';
import { $ } from '../shared/dom.js';
import type { Attempt } from '../shared/session-page.js';

/** What the browser test reads about the probes. */
export interface ProbeView {
  probes: number;
  probeStep: number;
  /** Held-out accuracies of the latest probe, in [0, 1]. */
  learned: number;
  randomEncoder: number;
  rawPixels: number;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export class ProbePanel {
  private readonly readout = $('probe-readout');
  private readonly button = $<HTMLButtonElement>('probe-now');

  constructor(
    api: { probe(): Promise<unknown> },
    attempt: Attempt,
    private readonly view: ProbeView,
  ) {
    this.button.addEventListener('click', () => void attempt(() => api.probe(), 'Could not run a probe'));
  }

  onProbe(e: ContrastiveProbeEvent): void {
    Object.assign(this.view, {
      probes: this.view.probes + 1, probeStep: e.step,
      learned: e.learned.testAccuracy, randomEncoder: e.randomEncoder.testAccuracy, rawPixels: e.rawPixels.testAccuracy,
    });
    const gain = e.learned.testAccuracy - e.randomEncoder.testAccuracy;
    this.readout.textContent =
      `step ${e.step}: learned encoder ${pct(e.learned.testAccuracy)}, encoder at initialisation ${pct(e.randomEncoder.testAccuracy)}, ` +
      `raw pixels ${pct(e.rawPixels.testAccuracy)} on ${e.heldOut} held-out digits, from ${e.labelled} labelled ones; ` +
      `training ${gain >= 0 ? 'added' : 'lost'} ${(100 * Math.abs(gain)).toFixed(1)} points`;
  }

  /** Says how probes are made, for the config in force. */
  describe(c: { probePerClass: number; heldOut: number; probeEvery: number; probeSteps: number }): void {
    $('probe-explain').textContent =
      `Logistic regression trained by the engine (${c.probeSteps} full-batch steps) on frozen features of ${c.probePerClass} labelled ` +
      `digits per class, scored on ${c.heldOut} held-out ones: on the learned encoder's features, on the same encoder at its random ` +
      `initialisation, and on the raw pixels. ${c.probeEvery ? `A probe every ${c.probeEvery} steps` : 'Probes on request'} and one when a model is built. ` +
      'The labels are used here only: the encoder never saw one.';
  }

  enable(ready: boolean): void {
    this.button.disabled = !ready;
  }

  startOver(): void {
    this.readout.textContent = '';
    Object.assign(this.view, { probes: 0, probeStep: -1, learned: NaN, randomEncoder: NaN, rawPixels: NaN });
  }
}
