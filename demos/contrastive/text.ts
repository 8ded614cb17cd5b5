// Words of the contrastive page: the facts line under the title and failures explained for the
// banner (what went wrong and, where the error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts and the panels), the words every
// page shares (demos/shared/words.ts).

import type { ContrastiveInfo } from '../../src/tasks/contrastive/protocol.js';
import { adapterFact, escapeHtml, fmtCount } from '../shared/ui.js';
import { checkpointRefused, explainer } from '../shared/words.js';

/** The loss in force in words. */
export function lossName(c: { loss: string; temperature: number; margin: number }): string {
  return c.loss === 'ntxent' ? `NT-Xent, τ = ${c.temperature}` : `triplet, margin ${c.margin}`;
}

/** The line under the title: what runs where, and how big it is. */
export function describe(i: ContrastiveInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const D = i.size * i.size;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `encoder and head: <b>${fmtCount(i.parameterCount)}</b> parameters (MLP ${D} → ${c.hidden} → <b>${i.featureCount}</b> features, head → ${c.projHidden} → ${c.projection})`,
    `${lossName(c)}, batch ${c.batch} (${2 * c.batch} views)`,
    `data: <b>${c.trainSize.toLocaleString('en-US')}</b> unlabelled digits at ${i.size} × ${i.size}; the probe: ${10 * c.probePerClass} labelled, ${c.heldOut} held out`,
    `step <b>${i.step}</b>`,
  ].join(' · ');
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('a contrastive encoder of this page'),
  NonFiniteError: (m) => `training diverged. ${m}`,
});
