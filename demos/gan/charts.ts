// The GAN page's charts, drawn by the shared uPlot charts: both players' losses every iteration
// (raw and smoothed), and the sparse figures of each snapshot: MMD² and sliced Wasserstein for
// points, a Fréchet distance for images, and the modes (ring) or digits (images) covered, where
// mode collapse shows. The page shows the ones that fit the dataset.
// Not here: where the numbers come from (main.ts) or the chart drawing (demos/shared).

import { LiveChart } from '../shared/live-chart.js';
import { SparseChart } from '../shared/sparse-chart.js';

const $ = (id: string): HTMLElement => document.getElementById(id)!;

/** Every chart of the page, on its host element. */
export function makeCharts() {
  return {
    loss: new LiveChart({
      host: $('chart-loss'),
      yLabel: 'loss',
      series: [
        { label: 'D', color: '#fdba74' },
        { label: 'G', color: '#93c5fd' },
        { label: 'D smoothed', color: '#c2410c' },
        { label: 'G smoothed', color: '#1d4ed8' },
      ],
    }),
    quality: new SparseChart({
      host: $('chart-quality'),
      yLabel: 'MMD²',
      rightLabel: 'sliced W₂',
      log: { floor: 1e-5 },
      series: [
        { label: 'MMD²', color: '#7c3aed' },
        { label: 'sliced Wasserstein', color: '#0891b2', scale: 'right' },
      ],
    }),
    frechet: new SparseChart({
      host: $('chart-frechet'),
      yLabel: 'Fréchet distance',
      log: { floor: 1e-3 },
      series: [{ label: 'Fréchet (scorer features)', color: '#7c3aed' }],
    }),
    modes: new SparseChart({
      host: $('chart-modes'),
      yLabel: 'modes covered',
      rightLabel: '% near a mode',
      yRange: [0, 8.5],
      rightRange: [0, 105],
      series: [
        { label: 'modes covered', color: '#059669', format: (v) => `${v} of 8` },
        { label: 'near a mode', color: '#d97706', scale: 'right', format: (v) => `${v.toFixed(1)}%` },
      ],
    }),
    classes: new SparseChart({
      host: $('chart-classes'),
      yLabel: 'digits covered',
      yRange: [0, 10.5],
      series: [{ label: 'digits covered', color: '#059669', format: (v) => `${v} of 10` }],
    }),
  };
}
