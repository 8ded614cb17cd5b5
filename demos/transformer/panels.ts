// The transformer page's text panels: the list of samples (newest first, with the share of
// correct sums when the text has arithmetic lines) and the facts line under the title (adapter,
// parameters, tokens, state).
// Not here: the charts (charts.ts), the attention heatmap (heatmap.ts), the worker (main.ts).

import type { SampleEvent, TrainerInfo } from '../../src/worker/protocol.js';
import { fmtCount, fmtNum } from '../shared/ui.js';

/** Samples kept on screen; older ones scroll away. */
const KEEP = 12;

export class SamplePanel {
  private shown = 0;

  constructor(
    private readonly list: HTMLElement,
    private readonly score: HTMLElement,
  ) {}

  /** Adds a sample at the top; `label` says where it came from (a step, or 'on demand'). */
  add(s: Pick<SampleEvent, 'prompt' | 'text' | 'arithmetic'>, label: string): void {
    const item = document.createElement('div');
    item.className = 'sample';
    const meta = document.createElement('span');
    meta.className = 'meta';
    const a = s.arithmetic;
    meta.textContent = a.lines > 0 ? `${label} · sums right: ${a.correct} of ${a.lines}` : label;
    const prompt = document.createElement('span');
    prompt.className = 'prompt';
    prompt.textContent = s.prompt;
    item.append(meta, prompt, document.createTextNode(s.text));
    this.list.prepend(item);
    while (this.list.children.length > KEEP) this.list.lastElementChild!.remove();
    this.shown++;
    if (a.lines > 0) {
      this.score.textContent =
        `Latest sample: ${Math.round(a.fraction * 100)}% of its ${a.lines} sums are right ` +
        '(a sum counts when the whole line a+b=c is correct).';
    }
  }

  /** How many samples have been shown since the last clear (the browser test reads it). */
  get count(): number {
    return this.shown;
  }

  clear(): void {
    this.list.replaceChildren();
    this.score.textContent = '';
    this.shown = 0;
  }
}

/** The line under the title: what runs where, and how big it is. */
export function describe(info: TrainerInfo): string {
  if (info.state === 'empty') return `Adapter: ${info.adapter || 'not known yet'}.`;
  const parts = [
    `Adapter: <b>${escape(info.adapter)}</b>${info.isSoftware ? ' (emulated on the CPU: expect slow steps)' : ''}`,
    `parameters: <b>${fmtCount(info.parameterCount)}</b> (${info.parameterCount.toLocaleString()})`,
    `vocabulary: <b>${info.vocabSize}</b> characters`,
    `context: <b>${info.blockSize}</b>`,
    `text: <b>${fmtCount(info.trainTokens)}</b> train / <b>${fmtCount(info.valTokens)}</b> validation characters`,
    `step <b>${info.step}</b>`,
  ];
  return parts.join(' · ');
}

/** What the loss chart's baseline note says: the loss of guessing from character counts alone. */
export function baselineNote(info: TrainerInfo): string {
  if (!Number.isFinite(info.unigramLoss)) return '';
  return (
    `For scale: ln(${info.vocabSize}) = ${fmtNum(Math.log(info.vocabSize), 3)} is a uniform guess, ` +
    `and ${fmtNum(info.unigramLoss, 3)} is what character frequencies alone achieve on this text; ` +
    'below that, the model uses context.'
  );
}

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
