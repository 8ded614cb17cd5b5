// Words of the VAE page: the facts line under the title and failures explained for the banner
// (what went wrong and, where the error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts and the panels), the words every
// page shares (demos/shared/words.ts).

import type { VaeInfo } from '../../src/tasks/vae/protocol.js';
import { adapterFact, escapeHtml, fmtCount } from '../shared/ui.js';
import { checkpointRefused, datasetName, explainer, imagesRefused } from '../shared/words.js';

/** The line under the title: what runs where, and how big it is. */
export function describe(i: VaeInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const net = c.arch === 'mlp' ? `MLP, ${c.layers} × ${c.hidden}` : `conv, width ${c.width}`;
  const likelihood = c.likelihood === 'bernoulli' ? 'Bernoulli' : `Gaussian σ = ${c.sigma}`;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `encoder and decoder: <b>${fmtCount(i.parameterCount)}</b> parameters (${net}, z in <b>${c.latent}D</b>)`,
    `${likelihood} likelihood, β = ${c.beta}${c.warmupSteps ? ` after ${c.warmupSteps} warm-up steps` : ''}`,
    `data: ${datasetName(c)}, <b>${i.trainImages.toLocaleString('en-US')}</b> training images at ${i.size} × ${i.size}`,
    `step <b>${i.step}</b>`,
  ].join(' · ');
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('a VAE of this page'),
  NonFiniteError: (m) => `training diverged. ${m}`,
  DataError: imagesRefused,
});
