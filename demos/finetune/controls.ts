// The fine-tuning page's form: the strategy (LoRA with its projections, rank, alpha and dropout;
// the last blocks, with or without the head; every weight), the user's text (a file, a drop or a
// paste) and the training settings, read into the worker's config; the learning rate, warm-up,
// steps and the two cadences go to setHyper while a run exists. The query string may preset any
// numeric field of the config (?batch=2&block=16&evalEvery=5...): sizes for a slow adapter or a
// quick test, too fine for the form.
// Not here: the base files (files.ts), talking to the worker (main.ts).

import { uploadDefaults } from '../../src/data/corpus.js';
import { finetuneDefaults, type FinetuneConfig, type FinetuneHyper, type FinetuneStrategy } from '../../src/tasks/finetune/protocol.js';
import type { LoraTarget } from '../../src/models/gpt-finetune.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, inputsOf, intOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled } from '../shared/form.js';
import { acceptFiles, acceptPaste, fmtBytes, type UserBytes } from '../shared/ui.js';

export interface ControlEvents {
  /** A setting that applies from the next step changed. */
  onHyperChange: (h: Partial<FinetuneHyper>) => void;
  /** The text or the strategy changed: what the Prepare button would build. */
  onChange: () => void;
  /** A text refused before it went to the worker (too large). */
  onTextError: (message: string) => void;
}

const ABOUT: Record<FinetuneStrategy['kind'], string> = {
  lora: 'Every weight frozen; low-rank adapters A (C_in × r) and B (r × C_out) learn beside the chosen projections, B starting at zero so the model starts as the pretrained one. Alpha / rank scales their update.',
  partial: 'The early blocks frozen, the last ones (and the final LayerNorm, and the tied embedding if the head is on) trained.',
  full: 'Every weight trained: the most memory (gradients and two AdamW moments per weight) and the most capacity to forget what was pretrained.',
};

export class Controls {
  private readonly choice = selectsOf('kind');
  private readonly num = inputsOf('lastBlocks', 'rank', 'alpha', 'loraDropout', 'lr', 'warmup', 'totalSteps', 'batch', 'block', 'evalEvery', 'sampleEvery', 'seed');
  private readonly head = $<HTMLInputElement>('head');
  private readonly textName = $('text-name');
  private text: UserBytes | null = null;
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<FinetuneConfig>;

  constructor(private readonly events: ControlEvents) {
    const query = fromQuery<FinetuneConfig>(kindsOf(finetuneDefaults));
    fill(this.num, { ...finetuneDefaults, ...query });
    for (const k of Object.keys(this.num)) delete query[k as keyof FinetuneConfig];
    this.extra = query;
    this.choice.kind.addEventListener('change', () => {
      this.describe();
      events.onChange();
    });
    this.describe();
    onValidChange([this.num.lr, this.num.warmup, this.num.totalSteps, this.num.evalEvery, this.num.sampleEvery], () => events.onHyperChange(this.hyper()));
    acceptFiles({
      zone: $('text-drop'),
      picker: $<HTMLInputElement>('text-file'),
      precheck: (f) => (f.size > uploadDefaults.maxBytes ? `${f.name} is ${fmtBytes(f.size)}; the limit is ${fmtBytes(uploadDefaults.maxBytes)}. Use a shorter excerpt.` : null),
      onBytes: (b) => this.takeText(b),
      onError: (m) => events.onTextError(m),
    });
    acceptPaste($<HTMLTextAreaElement>('paste'), $<HTMLButtonElement>('use-paste'), (b) => this.takeText(b));
  }

  /** Whether the user's text is given. */
  get hasText(): boolean {
    return this.text !== null;
  }

  /** The strategy the form describes. */
  strategy(): FinetuneStrategy {
    const kind = this.choice.kind.value as FinetuneStrategy['kind'];
    if (kind === 'full') return { kind };
    if (kind === 'partial') return { kind, lastBlocks: Math.max(1, intOf(this.num.lastBlocks, 1)), head: this.head.checked };
    const targets = [...document.querySelectorAll<HTMLInputElement>('input[name=target]:checked')].map((t) => t.value as LoraTarget);
    return {
      kind, targets, rank: Math.max(1, intOf(this.num.rank, 8)), alpha: Math.max(0, numOf(this.num.alpha, 16)), dropout: Math.min(0.9, Math.max(0, numOf(this.num.loraDropout, 0))),
    };
  }

  /** The whole config for create(). */
  config(): Partial<FinetuneConfig> {
    return {
      ...this.extra,
      strategy: this.strategy(),
      text: this.text?.bytes ?? new Uint8Array(0),
      textName: this.text?.name ?? 'your text',
      batch: Math.max(1, intOf(this.num.batch, finetuneDefaults.batch)),
      block: Math.max(0, intOf(this.num.block, 0)),
      seed: Math.max(0, intOf(this.num.seed, 1)),
      ...this.hyper(),
    };
  }

  /** The settings setHyper accepts. */
  hyper(): Pick<FinetuneHyper, 'lr' | 'warmup' | 'totalSteps' | 'evalEvery' | 'sampleEvery'> {
    const warmup = Math.max(0, intOf(this.num.warmup, finetuneDefaults.warmup));
    return {
      lr: Math.max(0, numOf(this.num.lr, finetuneDefaults.lr)),
      warmup,
      totalSteps: Math.max(warmup + 1, intOf(this.num.totalSteps, finetuneDefaults.totalSteps)),
      evalEvery: Math.max(0, intOf(this.num.evalEvery, finetuneDefaults.evalEvery)),
      sampleEvery: Math.max(0, intOf(this.num.sampleEvery, finetuneDefaults.sampleEvery)),
    };
  }

  /** The bounds a model sets: its blocks, and its context for the block. */
  fitTo(nLayer: number, context: number): void {
    this.num.lastBlocks.max = String(nLayer);
    this.num.block.max = String(context);
  }

  /** Puts the form in line with a config the worker reports (a resumed or loaded run). */
  show(c: FinetuneConfig): void {
    fill(this.num, c);
    const s = c.strategy;
    this.choice.kind.value = s.kind;
    if (s.kind === 'partial') {
      this.num.lastBlocks.value = String(s.lastBlocks);
      this.head.checked = s.head;
    }
    if (s.kind === 'lora') {
      fill(this.num, { rank: s.rank, alpha: s.alpha, loraDropout: s.dropout });
      for (const t of document.querySelectorAll<HTMLInputElement>('input[name=target]')) t.checked = s.targets.includes(t.value as LoraTarget);
    }
    if (c.text.length) {
      this.text = { name: c.textName, bytes: c.text };
      this.textName.textContent = `Using ${c.textName} (${fmtBytes(c.text.length)}).`;
    }
    this.describe();
  }

  /** Locks what a run is built with (not while training or while a request replaces the run). */
  lock(locked: boolean): void {
    const fields = [this.choice.kind, this.num.lastBlocks, this.head, this.num.rank, this.num.alpha, this.num.loraDropout, this.num.batch, this.num.block, this.num.seed,
      ...document.querySelectorAll<HTMLInputElement>('input[name=target]')];
    setDisabled(fields, locked);
  }

  private describe(): void {
    const kind = this.choice.kind.value as FinetuneStrategy['kind'];
    $('partial-fields').hidden = kind !== 'partial';
    $('lora-fields').hidden = kind !== 'lora';
    $('strategy-about').textContent = ABOUT[kind];
  }

  private takeText(b: UserBytes): void {
    // Only the size is checked here; emptiness, binary content and length are the worker's checks (validateUserText).
    if (b.bytes.length > uploadDefaults.maxBytes) {
      this.events.onTextError(`${b.name} is ${fmtBytes(b.bytes.length)}; the limit is ${fmtBytes(uploadDefaults.maxBytes)}. Use a shorter excerpt.`);
      return;
    }
    this.text = b;
    this.textName.textContent = `Using ${b.name} (${fmtBytes(b.bytes.length)}).`;
    this.events.onChange();
  }
}
