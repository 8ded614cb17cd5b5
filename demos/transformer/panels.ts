// The transformer page's text panels: the list of samples (newest first, with the share of
// correct sums when the text has arithmetic lines) and its Sample now button, the facts line
// under the title (adapter, precision, parameters, tokens, state), the loss scaler's line in
// mixed precision and the loss chart's baseline note.
// Not here: the charts (charts.ts), the attention panel (attention.ts), the worker (main.ts).

import type { LossScaleState, SampleEvent, TrainerInfo } from '../../src/tasks/gpt/protocol.js';
import { $, make } from '../shared/dom.js';
import { numOf } from '../shared/form.js';
import { adapterFact, escapeHtml, fmtBytes, fmtCount, fmtNum } from '../shared/ui.js';

/** Samples kept on screen; older ones scroll away. */
const KEEP = 12;

export class SamplePanel {
  private readonly list = $('samples');
  private readonly score = $('arith');
  private readonly button = $<HTMLButtonElement>('sample-now');
  private shown = 0;

  /** `ask`: a sample of the prompt at the temperature, on demand (the page adds it when it comes). */
  constructor(ask: (prompt: string, temperature: number) => void) {
    this.button.addEventListener('click', () => ask($<HTMLInputElement>('sample-prompt').value, numOf($<HTMLInputElement>('temperature'), 0.8)));
  }

  /** Sample now is usable with a model ready. */
  enable(ready: boolean): void {
    this.button.disabled = !ready;
  }

  /** Adds a sample at the top; `label` says where it came from (a step, or 'on demand'). */
  add(s: Pick<SampleEvent, 'prompt' | 'text' | 'arithmetic'>, label: string): void {
    const a = s.arithmetic;
    const meta = a.lines > 0 ? `${label} · sums right: ${a.correct} of ${a.lines}` : label;
    this.list.prepend(
      make('div', { className: 'sample' }, make('span', { className: 'meta' }, meta), make('span', { className: 'prompt' }, s.prompt), s.text),
    );
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
  if (info.state === 'empty') return `Adapter: ${escapeHtml(info.adapter || 'not known yet')}.`;
  const parts = [
    adapterFact(info.adapter, info.isSoftware),
    precisionFact(info),
    `parameters: <b>${fmtCount(info.parameterCount)}</b> (${info.parameterCount.toLocaleString()})`,
    `step memory: <b>${fmtBytes(info.stepBytes)}</b> of activations and gradients`,
    `vocabulary: <b>${info.vocabSize}</b> characters`,
    `context: <b>${info.blockSize}</b>`,
    `text: <b>${fmtCount(info.trainTokens)}</b> train / <b>${fmtCount(info.valTokens)}</b> validation characters`,
    `step <b>${info.step}</b>`,
  ];
  return parts.join(' · ');
}

/** Which precision the model trains in, and whether the adapter has shader-f16 (which mixed precision does not need). */
function precisionFact(info: TrainerInfo): string {
  const has = info.features.includes('shader-f16');
  if (info.config?.precision !== 'mixed') return `precision: <b>f32</b> (shader-f16: ${has ? 'yes' : 'no'})`;
  return (
    'precision: <b>mixed</b> (f16 matmul operands and activations, stored two per 32-bit word, every sum in f32: it runs with or without ' +
    `shader-f16, which this adapter ${has ? 'has' : 'lacks'})`
  );
}

/** The loss scaler's line: its scale (a power of two, as the scaler keeps it) and the steps it skipped. */
export function scalerNote(sc: LossScaleState): string {
  const k = Math.log2(sc.lossScale);
  const scale = Number.isInteger(k) ? `2^${k}` : fmtNum(sc.lossScale, 4);
  const skipped = sc.overflowSteps === 1 ? '1 step' : `${sc.overflowSteps} steps`;
  return `Loss scale ${scale}; ${skipped} skipped because f16 overflowed (each one halves the scale).`;
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

