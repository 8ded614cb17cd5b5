// Words the demo pages share: failures explained for the banner (what went wrong and, where the
// error says, what to do, in one line; a list the error carries, such as the names of missing
// tensors, beside it for a toggle), built from the words every page uses and each page's own for
// the failures only it has; and the names of the datasets the generative pages train on.
// Not here: showing the banner (ui.ts) or any page's facts line (each page's text).

import type { Said } from './ui.js';

/** A failure in words for the banner, `context` leading ('' for none). */
export type Explain = (e: unknown, context: string) => Said;

/** What a page says, after the lead, for errors of one name: given the error's message and its reason ('' when it has none). */
export type FailureWords = Record<string, (message: string, reason: string) => string>;

/** The reasons of a CheckpointError that mean a valid file of another model. */
const MISFIT = ['missing', 'unexpected', 'shape', 'name', 'metadata'];

/** A lost device: what happened, and what to do (`then`). */
export const deviceLost = (message: string, then = 'Reload the page.'): string =>
  `the GPU was lost (a driver reset, or the tab was in the background too long). ${then} ${message}`;

/**
 * What a refused checkpoint means: one of another page's task (the message names the page), a
 * file of another model (one `model` does not fit), or no checkpoint at all.
 */
export const checkpointRefused = (model: string) => (message: string, reason: string): string =>
  reason === 'task' ? `the checkpoint is not for this page. ${message}`
    : MISFIT.includes(reason) ? `the checkpoint does not fit ${model}. ${message}`
    : `the file is not a valid checkpoint (a .safetensors file saved by this page). ${message}`;

/** Images the worker would not take: its reason, and that nothing was lost. */
export const imagesRefused = (message: string): string => `${message.replace(/^image upload: /, '')} The model in memory is unchanged.`;

const COMMON: FailureWords = {
  WebGPUUnavailableError: (m) => `WebGPU is not available in the training worker. ${m}`,
  DeviceLostError: (m) => deviceLost(m),
};

/** An Explain that says the common words, and the page's own (by error name) where it has them; the error's details go along. */
export function explainer(own: FailureWords): Explain {
  const words: FailureWords = { ...COMMON, ...own };
  return (e, context) => {
    // An error re-created from the worker, or a plain WireError in a status event: the same fields.
    const err = e as { name?: string; message?: string; reason?: string; details?: readonly string[] } | null;
    const message = err?.message ?? String(e);
    const say = words[err?.name ?? ''];
    const text = `${context ? `${context}: ` : ''}${say ? say(message, err?.reason ?? '') : message}`;
    return { text, details: Array.isArray(err?.details) ? err.details : [] };
  };
}

const DATASETS: Record<string, string> = {
  swissroll: 'swiss roll', moons: 'two moons', ring: 'ring of Gaussians', spirals: 'two spirals',
  glyphs16: 'digits 16 × 16', glyphs28: 'digits 28 × 28', upload: 'your images',
};

/** What a generative model learns, in words ('the model' before there is one). */
export function datasetName(config: { dataset: string } | null): string {
  return config ? DATASETS[config.dataset] ?? config.dataset : 'the model';
}
