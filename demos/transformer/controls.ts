// The transformer page's form: reads the model and optimisation settings into the worker's
// TrainerConfig, tells which changes need a new model (preset, precision, tokens, seed, batch,
// training text) and which apply between steps (learning rate, warmup, dropout), and holds the user's own
// text once it is within the upload size limit. The page's query string may set the trainer's cadences
// (?evalEvery=20&sampleEvery=20&autosaveEvery=0&sampleLength=80&totalSteps=2000&evalBatches=4
// &metricsIntervalMs=250): settings for a slow adapter or a quick look, too fine for the form.
// Not here: talking to the worker or drawing (main.ts, charts.ts, panels.ts).

import { uploadDefaults } from '../../src/data/corpus.js';
import type { GptPrecision, GptPresetName } from '../../src/models/gpt.js';
import type { DataSource, Hyper, TrainerConfig } from '../../src/tasks/gpt/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, inputsOf, intOf, numOf, onValidChange, selectsOf, setDisabled } from '../shared/form.js';
import { acceptFiles, acceptPaste, fmtBytes, type UserBytes } from '../shared/ui.js';

/** The trainer's cadences the query string may set: whole numbers 0 or more. */
const QUERY_KINDS = {
  evalEvery: 'count', evalBatches: 'count', sampleEvery: 'count', sampleLength: 'count', autosaveEvery: 'count', totalSteps: 'count',
  metricsIntervalMs: 'count',
} as const;

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step changed. */
  onHyperChange: (h: Partial<Hyper>) => void;
  /** An upload was refused: empty, binary, badly encoded or too large. */
  onDataError: (message: string) => void;
}

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('preset', 'precision', 'tokenizer');
  private readonly num = inputsOf('seed', 'batch', 'bpeVocab', 'lr', 'warmup', 'dropout');
  private readonly dataName = $<HTMLElement>('data-name');
  private userText: UserBytes | null = null;

  constructor(private readonly events: ControlEvents) {
    for (const el of this.modelFields()) el.addEventListener('change', () => events.onModelChange());
    onValidChange([this.num.lr, this.num.warmup, this.num.dropout], () => events.onHyperChange(this.hyper()));
    for (const radio of this.dataRadios()) radio.addEventListener('change', () => events.onModelChange());

    acceptFiles({
      zone: $('drop'),
      picker: $<HTMLInputElement>('file'),
      // A file over the limit is refused before it is read into memory.
      precheck: (f) =>
        f.size > uploadDefaults.maxBytes
          ? `${f.name} is ${fmtBytes(f.size)}; the limit is ${fmtBytes(uploadDefaults.maxBytes)}. Upload a shorter excerpt.`
          : null,
      onBytes: (b) => this.takeText(b),
      onError: (m) => events.onDataError(m),
    });
    acceptPaste($<HTMLTextAreaElement>('paste'), $<HTMLButtonElement>('use-paste'), (b) => this.takeText(b));
  }

  /** The whole config for create(), from the form. */
  config(): Partial<TrainerConfig> {
    return {
      preset: this.choice.preset.value as GptPresetName,
      precision: this.choice.precision.value as GptPrecision,
      tokenizer: this.choice.tokenizer.value as TrainerConfig['tokenizer'],
      bpeVocab: Math.min(65536, Math.max(257, intOf(this.num.bpeVocab, 512))),
      seed: intOf(this.num.seed, 1),
      batch: Math.max(1, intOf(this.num.batch, 16)),
      data: this.dataSource(),
      ...this.hyper(),
      ...fromQuery<TrainerConfig>(QUERY_KINDS),
    };
  }

  /** The settings that setHyper accepts. */
  hyper(): Pick<Hyper, 'lr' | 'warmup' | 'dropout'> {
    return {
      lr: numOf(this.num.lr, 1e-3),
      warmup: Math.max(0, intOf(this.num.warmup, 0)),
      dropout: Math.min(0.9, Math.max(0, numOf(this.num.dropout, 0))),
    };
  }

  /** True when 'your own text' is chosen but none has been given yet. */
  missingText(): boolean {
    return this.dataKind() === 'text' && this.userText === null;
  }

  /** Puts the form in line with a config the worker reports (after a resume or a load). */
  show(c: TrainerConfig): void {
    fill({ ...this.choice, ...this.num }, c);
    for (const r of this.dataRadios()) r.checked = r.value === c.data.kind;
    if (c.data.kind === 'text') this.dataName.textContent = c.data.name ? `Using ${c.data.name}.` : 'Using your text.';
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([...this.modelFields(), ...this.dataRadios()], locked);
  }

  /** The settings besides the text that a model is built for. */
  private modelFields(): (HTMLSelectElement | HTMLInputElement)[] {
    return [this.choice.preset, this.choice.precision, this.choice.tokenizer, this.num.bpeVocab, this.num.seed, this.num.batch];
  }

  /** Forgets the user's text after the worker refused it; the built-in corpus is chosen again. */
  dropText(): void {
    this.userText = null;
    this.dataName.textContent = '';
    for (const r of this.dataRadios()) r.checked = r.value === 'builtin';
  }

  private takeText(b: UserBytes): void {
    // Only the size is checked here. Emptiness, binary content and encoding are checked by the
    // worker when it builds the model (validateUserText): scanning megabytes here would block
    // the page for longer than a frame.
    if (b.bytes.length > uploadDefaults.maxBytes) {
      this.events.onDataError(`${b.name} is ${fmtBytes(b.bytes.length)}; the limit is ${fmtBytes(uploadDefaults.maxBytes)}. Use a shorter excerpt.`);
      return;
    }
    this.userText = b;
    this.dataName.textContent = `Using ${b.name} (${fmtBytes(b.bytes.length)}).`;
    const radio = this.dataRadios().find((r) => r.value === 'text')!;
    radio.checked = true;
    this.events.onModelChange();
  }

  private dataSource(): DataSource {
    if (this.dataKind() === 'text' && this.userText) {
      return { kind: 'text', bytes: this.userText.bytes, name: this.userText.name };
    }
    return { kind: 'builtin' };
  }

  private dataKind(): 'builtin' | 'text' {
    return (this.dataRadios().find((r) => r.checked)?.value ?? 'builtin') as 'builtin' | 'text';
  }

  private dataRadios(): HTMLInputElement[] {
    return [...document.querySelectorAll<HTMLInputElement>('input[name=data]')];
  }
}
