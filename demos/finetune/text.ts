// Words of the fine-tuning page: the facts line under the title, the samples before and after
// side by side, and failures explained for the banner (what went wrong and, where the error
// says, what to do).
// Not here: anything that talks to the worker (main.ts), the words every page shares
// (demos/shared/words.ts).

import type { FinetuneInfo, FinetuneStrategy, Sample, SamplesEvent } from '../../src/tasks/finetune/protocol.js';
import { $, make } from '../shared/dom.js';
import { adapterFact, escapeHtml, fmtCount, fmtNum } from '../shared/ui.js';
import { checkpointRefused, deviceLost, explainer } from '../shared/words.js';

/** A strategy in a few words. */
export function strategyWords(s: FinetuneStrategy): string {
  if (s.kind === 'full') return 'every weight';
  if (s.kind === 'partial') return `the last ${s.lastBlocks} block${s.lastBlocks === 1 ? '' : 's'}${s.head ? ' and the head' : ''}`;
  return `LoRA rank ${s.rank}, alpha ${s.alpha} on ${s.targets.join(', ')}`;
}

/** The line under the title: what runs where, and what learns. */
export function describe(i: FinetuneInfo): string {
  const parts = [adapterFact(i.adapter || 'not known yet', i.isSoftware)];
  if (i.base) parts.push(`base: <b>${escapeHtml(i.base.names.weights)}</b>, ${fmtCount(i.base.parameters)} parameters`);
  if (i.state !== 'empty' && i.config) {
    parts.push(
      `training ${escapeHtml(strategyWords(i.config.strategy))}: <b>${fmtCount(i.trainableParameters)}</b> of ${fmtCount(i.parameters)} values`,
      `${escapeHtml(i.config.textName)}: ${i.trainTokens.toLocaleString('en-US')} tokens to train on, ${i.valTokens.toLocaleString('en-US')} held out, windows of ${i.block}`,
      `step <b>${i.step}</b>`,
    );
    if (!i.sameBase) parts.push('built from other base files than the ones chosen now');
  }
  return parts.join(' · ');
}

/** The held-out perplexity before and now, in words. */
export function perplexityWords(before: number, now: number, step: number): string {
  if (!Number.isFinite(before)) return '';
  return step > 0 && Number.isFinite(now) ? `Before: ${fmtNum(before, 4)}; at step ${step}: ${fmtNum(now, 4)}.` : `Before fine-tuning: ${fmtNum(before, 4)}.`;
}

/** The two columns of samples: the pretrained model's, and the latest. */
export class SamplesPanel {
  /** Samples shown on the right since the last clear, and the step of the latest (the browser test reads them). */
  shown = 0;
  step = -1;

  showBefore(samples: Sample[]): void {
    $('samples-before').replaceChildren(...samples.map(sampleEl));
  }

  showAfter(e: SamplesEvent): void {
    if (e.step === 0) return this.showBefore(e.samples);
    $('samples-after').replaceChildren(...e.samples.map(sampleEl));
    $('samples-after-title').textContent = `After ${e.step} step${e.step === 1 ? '' : 's'}`;
    this.shown++;
    this.step = e.step;
  }

  clear(): void {
    $('samples-before').replaceChildren();
    $('samples-after').replaceChildren();
    $('samples-after-title').textContent = 'After';
    this.shown = 0;
    this.step = -1;
  }
}

const sampleEl = (s: Sample) => make('div', { className: 'sample' }, make('span', { className: 'prompt' }, s.prompt), s.text);

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('the fine-tuning of this base'),
  DeviceLimitError: (m) => `this device cannot hold that strategy. ${m}`,
  DeviceLostError: (m) => deviceLost(m, 'Reload the page and give the files again; an autosave may let you resume.'),
  NonFiniteError: (m) => `training diverged. ${m}`,
});
