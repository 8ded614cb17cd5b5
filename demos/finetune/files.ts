// The fine-tuning page's box for the pretrained model's files: three pickers and a drop zone that
// take the files in any order and sort them by name (the .safetensors weights, config.json,
// vocab.json + merges.txt or tokenizer.json), the list of what is chosen and what is still
// missing, and, once a whole set is there, the set as the worker's base() takes it: the weights
// as the File itself (the worker reads slices of it), the small text files as their bytes. And
// the summary the worker answers: the model in a line, and each strategy's memory in a table with
// whether this device holds it.
// Not here: checking the files (the worker does: src/tasks/finetune/base.ts), the form (controls.ts).

import type { BaseFiles, BaseSummary } from '../../src/tasks/finetune/protocol.js';
import { $, make } from '../shared/dom.js';
import { escapeHtml, fmtBytes, fmtCount } from '../shared/ui.js';

type Slot = 'weights' | 'config' | 'vocab' | 'merges' | 'tokenizer';

/** Which slot a file goes to, by its name; null for a file the model's folder has but this page does not read. */
export function slotOf(name: string): Slot | null {
  const n = name.toLowerCase();
  if (n.endsWith('.safetensors')) return 'weights';
  if (n === 'merges.txt' || n.endsWith('merges.txt')) return 'merges';
  if (n.endsWith('.json')) {
    if (n.includes('tokenizer') && !n.includes('config')) return 'tokenizer';
    if (n.includes('vocab')) return 'vocab';
    if (n.includes('config') && !n.includes('tokenizer') && !n.includes('generation')) return 'config';
  }
  return null;
}

export class BaseFilesBox {
  private readonly chosen = new Map<Slot, File>();
  private readonly skipped: string[] = [];
  private readonly list = $('base-files');
  private locked = false;

  /** `onComplete` gets every whole set of files chosen (again after each change to it). */
  constructor(private readonly onComplete: (files: BaseFiles) => void) {
    for (const id of ['base-weights', 'base-config', 'base-tokenizer']) {
      const input = $<HTMLInputElement>(id);
      input.addEventListener('change', () => {
        const files = Array.from(input.files ?? []);
        input.value = ''; // choosing the same file again still fires change
        void this.take(files);
      });
    }
    const zone = $('base-drop');
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      if (!this.locked) zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('dragging');
      if (!this.locked) void this.take(Array.from(e.dataTransfer?.files ?? []));
    });
    this.render();
  }

  /** Locks the pickers and the zone while a request replaces the model or the loop runs. */
  lock(locked: boolean): void {
    this.locked = locked;
    for (const id of ['base-weights', 'base-config', 'base-tokenizer']) $<HTMLInputElement>(id).disabled = locked;
  }

  private async take(files: File[]): Promise<void> {
    if (!files.length) return;
    this.skipped.length = 0;
    for (const f of files) {
      const slot = slotOf(f.name);
      if (!slot) this.skipped.push(f.name);
      else {
        this.chosen.set(slot, f);
        // One tokenizer or the other: the newer choice replaces the other kind.
        const others: Slot[] = slot === 'tokenizer' ? ['vocab', 'merges'] : slot === 'vocab' || slot === 'merges' ? ['tokenizer'] : [];
        for (const o of others) this.chosen.delete(o);
      }
    }
    this.render();
    const set = await this.set();
    if (set) this.onComplete(set);
  }

  /** The files as base() takes them, or null while one is missing. */
  private async set(): Promise<BaseFiles | null> {
    const c = this.chosen;
    const weights = c.get('weights'), config = c.get('config');
    const tokenizer = c.get('tokenizer') ?? (c.has('vocab') && c.has('merges') ? null : undefined);
    if (!weights || !config || tokenizer === undefined) return null;
    const bytes = async (f: File | undefined) => (f ? new Uint8Array(await f.arrayBuffer()) : undefined);
    return {
      weights, weightsName: weights.name, config: (await bytes(config))!,
      ...(tokenizer ? { tokenizer: await bytes(tokenizer) } : { vocab: await bytes(c.get('vocab')), merges: await bytes(c.get('merges')) }),
    };
  }

  private render(): void {
    const c = this.chosen;
    const line = (slot: Slot, label: string) => {
      const f = c.get(slot);
      return make('li', { className: f ? '' : 'missing' }, `${label}: ${f ? `${f.name} (${fmtBytes(f.size)})` : 'missing'}`);
    };
    const items = [line('weights', 'weights'), line('config', 'config')];
    if (c.has('tokenizer')) items.push(line('tokenizer', 'tokenizer'));
    else items.push(line('vocab', 'vocab'), line('merges', 'merges'));
    if (this.skipped.length) items.push(make('li', {}, `not used: ${this.skipped.join(', ')}`));
    this.list.replaceChildren(...items);
  }
}

/** The summary section: the model in a line, and the memory table (one row per strategy). */
export function showSummary(s: BaseSummary | null): void {
  $('summary-section').hidden = !s;
  if (!s) return;
  $('summary').innerHTML =
    `<b>${escapeHtml(s.names.weights)}</b>: ${fmtCount(s.parameters)} parameters, ${s.nLayer} layers, ${s.nHead} heads, width ${s.nEmbd}, ` +
    `a context of <b>${s.context}</b> tokens; ${s.layout === 'linear' ? "nanoGPT's" : "Hugging Face's"} layout in ${s.dtypes.join(', ')} (${fmtBytes(s.fileBytes)}); ` +
    `tokenizer ${escapeHtml(s.names.tokenizer)}: <b>${s.vocabSize.toLocaleString('en-US')}</b> tokens${s.specials.length ? ` with ${s.specials.map(escapeHtml).join(', ')}` : ''}.`;
  const rows = s.strategies.map((x) => {
    const m = x.memory;
    const cells = [x.name, `${fmtCount(m.trainableParameters)} (${((100 * m.trainableParameters) / m.parameters).toFixed(1)}%)`,
      fmtBytes(m.weights + m.adapters), fmtBytes(m.gradients), fmtBytes(m.optimizerState), fmtBytes(m.total), x.fits ? 'fits' : 'does not fit'];
    const row = make('tr', { className: x.fits ? 'yes' : 'no', title: x.why }, ...cells.map((c) => make('td', {}, c)));
    return x.fits ? [row] : [row, make('tr', { className: 'no' }, make('td', { className: 'why', colSpan: 7 }, x.why))];
  });
  $('memory-table').replaceChildren(...rows.flat());
}
