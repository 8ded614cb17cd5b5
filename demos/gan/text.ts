// Words of the GAN page: the facts line under the title, what the sample-quality chart measures
// for the data in force, and failures explained for the banner (what went wrong and, where the
// error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts and the panels), the words every
// page shares (demos/shared/words.ts).

import type { GanInfo } from '../../src/tasks/gan/protocol.js';
import { adapterFact, escapeHtml, fmtCount } from '../shared/ui.js';
import { checkpointRefused, datasetName, explainer, imagesRefused } from '../shared/words.js';

/** The line under the title: what runs where, and how big it is. */
export function describe(i: GanInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const players = i.kind === 'images' ? `DCGAN, width ${c.width}, z in ${c.imageLatent}D` : `MLPs ${c.layers} × ${c.hidden}, z in 2D`;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `G <b>${fmtCount(i.generatorParams)}</b>, D <b>${fmtCount(i.discriminatorParams)}</b> parameters (${players})`,
    `<b>${c.loss}</b> loss${c.spectralNorm ? ', spectral norm' : ''}, ${c.dSteps} D step${c.dSteps > 1 ? 's' : ''} per G step`,
    `data: ${datasetName(c)}`,
    ...(i.scorerAccuracy !== null ? [`scorer: ${(100 * i.scorerAccuracy).toFixed(1)}% on held-out digits`] : []),
    `step <b>${i.step}</b>`,
  ].join(' · ');
}

/** What the sample-quality chart measures: for digits, for the user's images, for points. */
export function qualityAbout(kind: 'digits' | 'upload' | 'points'): string {
  if (kind === 'digits') {
    return 'Fréchet distance between Gaussian fits of a small digit classifier\'s features on the samples and on held-out real digits (log scale; lower is better). FID-like, but from a classifier trained here, so compare figures from this page only.';
  }
  if (kind === 'upload') {
    return 'Distance from the samples to your images in pixel space (log scales; lower is better): MMD² with kernels scaled to the image size, 0 for matching distributions, and the sliced Wasserstein distance per pixel. No classifier knows your images, so these see pixels, not content: a blurry average can score well; look at the samples too.';
  }
  return 'Distance from the generated points to held-out data (log scales; lower is better): MMD², a kernel two-sample statistic that is 0 for matching distributions, and the sliced Wasserstein distance, the average cost in data units of moving one set onto the other.';
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('a GAN of this page'),
  NonFiniteError: (m) => `the game diverged. ${m}`,
  DataError: imagesRefused,
});
