// The charts of sample quality that both generative pages (diffusion, GAN) draw for 2D data:
// the distance from the samples to held-out data (MMD² and the sliced Wasserstein distance, on
// log scales, since both fall by orders of magnitude as a model learns) and, on the ring of 8
// Gaussians, how many modes the samples cover and the share of samples near one.
// Not here: each page's other charts (its charts.ts), or the drawing (live-chart.ts).

import { LiveChart } from './live-chart.js';

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
