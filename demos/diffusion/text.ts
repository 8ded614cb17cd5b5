// Words of the diffusion page: the facts line under the title, the model's line in the form, and
// failures explained for the banner (what went wrong and, where the error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts, points.ts, images.ts), the
// words every page shares (demos/shared/words.ts).

import type { DiffusionInfo } from '../../src/tasks/diffusion/protocol.js';
import { adapterFact, escapeHtml, fmtCount } from '../shared/ui.js';
import { checkpointRefused, datasetName, explainer, imagesRefused } from '../shared/words.js';

/** The line under the title: what runs where, and how big it is. */
export function describe(i: DiffusionInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const img = i.images;
  const net = img
    ? `U-Net, ${c.levels} level${c.levels === 1 ? '' : 's'} from ${c.base} channels${img.classes ? `, conditioned on ${img.classes} classes` : ''}`
    : `MLP, ${c.layers} × ${c.hidden}`;
  const data = img
    ? `${datasetName(i.config)}, <b>${img.trainImages.toLocaleString('en-US')}</b> training images${img.classes ? '' : ` at ${img.size} × ${img.size}`}`
    : `${datasetName(i.config)}, <b>${c.trainPoints.toLocaleString('en-US')}</b> training points`;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `denoiser: <b>${fmtCount(i.parameterCount)}</b> parameters (${net})`,
    `<b>T = ${c.timesteps}</b>, ${c.schedule} schedule, predicts ${c.prediction === 'eps' ? 'ε' : 'v'}`,
    `data: ${data}`,
    `step <b>${i.step}</b>`,
  ].join(' · ');
}

/** The model's line in the form: what the current settings build. */
export function modelAbout(i: DiffusionInfo): string {
  const c = i.config;
  if (!c) return '';
  if (!i.images) return `An MLP of ${c.layers} hidden layers, ${c.hidden} wide, over ${c.timesteps} diffusion steps.`;
  const widths = Array.from({ length: c.levels }, (_, l) => c.base * (l === 0 ? 1 : 2)).join(' → ');
  const cond = i.images.classes ? `, told the digit (hidden one step in ${Math.round(1 / c.labelDrop)}, for guidance)` : ', unconditional';
  return `A U-Net of ${widths} channels at ${i.images.size} × ${i.images.size}${cond}, over ${c.timesteps} diffusion steps.`;
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('a diffusion model of this page'),
  DataError: imagesRefused,
});
