// Words of the diffusion page: the name of what a model learns, the facts line under the title,
// and failures explained for the banner (what went wrong and, where the error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts, images.ts, plane.ts).

import type { DiffusionInfo } from '../../src/tasks/diffusion/protocol.js';
import { adapterFact, escapeHtml, fmtCount } from '../shared/ui.js';

export function datasetName(i: DiffusionInfo): string {
  const names: Record<string, string> = {
    swissroll: 'swiss roll', moons: 'two moons', ring: 'ring of Gaussians', spirals: 'two spirals',
    glyphs16: 'digits 16 × 16', glyphs28: 'digits 28 × 28', upload: 'your images',
  };
  return i.config ? names[i.config.dataset] ?? i.config.dataset : 'the model';
}

/** The line under the title: what runs where, and how big it is. */
export function describe(i: DiffusionInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const img = i.images;
  const net = img
    ? `U-Net, ${c.levels} level${c.levels === 1 ? '' : 's'} from ${c.base} channels${img.classes ? `, conditioned on ${img.classes} classes` : ''}`
    : `MLP, ${c.layers} × ${c.hidden}`;
  const data = img
    ? `${datasetName(i)}, <b>${img.trainImages.toLocaleString('en-US')}</b> training images${img.classes ? '' : ` at ${img.size} × ${img.size}`}`
    : `${datasetName(i)}, <b>${c.trainPoints.toLocaleString('en-US')}</b> training points`;
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
export function explain(e: unknown, context: string): string {
  const err = e as { name?: string; message?: string; reason?: string };
  const message = err?.message ?? String(e);
  const lead = context ? `${context}: ` : '';
  switch (err?.name) {
    case 'WebGPUUnavailableError':
      return `${lead}WebGPU is not available in the training worker. ${message}`;
    case 'CheckpointError':
      return ['missing', 'unexpected', 'shape', 'name', 'metadata'].includes(err.reason ?? '')
        ? `${lead}the checkpoint does not fit a diffusion model of this page. ${message}`
        : `${lead}the file is not a valid checkpoint (a .safetensors file saved by this page). ${message}`;
    case 'DeviceLostError':
      return `${lead}the GPU was lost (a driver reset, or the tab was in the background too long). Reload the page. ${message}`;
    case 'DataError':
      return `${lead}${message.replace(/^image upload: /, '')} The model in memory is unchanged.`;
    default:
      return `${lead}${message}`;
  }
}

