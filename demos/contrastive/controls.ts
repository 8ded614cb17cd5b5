// The contrastive page's form: reads the augmentations of each view (shift, rotation, cut-out,
// noise), the loss with its temperature or margin, the batch and the learning rate into the
// worker's session config, and tells the changes that need a new model (all but the learning
// rate) from the one that applies at the next step (the learning rate: setHyper). The query
// string may preset any numeric or named field of the config (?hidden=64&trainSize=512
// &probeSteps=50&probeEvery=20...): sizes for a slow adapter or a quick test, too fine for the form.
// Not here: talking to the worker or drawing (main.ts and the panels).

import { contrastiveSessionDefaults, type ContrastiveHyper, type ContrastiveSessionConfig } from '../../src/tasks/contrastive/protocol.js';
import { fill, fromQuery, inputsOf, intOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled, type Field } from '../shared/form.js';

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step changed. */
  onHyperChange: (h: Partial<ContrastiveHyper>) => void;
}

const d = contrastiveSessionDefaults;

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('loss');
  private readonly model = inputsOf('shift', 'rotate', 'cutout', 'noise', 'temperature', 'margin', 'batch');
  private readonly num = inputsOf('lr');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<ContrastiveSessionConfig>;

  constructor(events: ControlEvents) {
    const query = fromQuery<ContrastiveSessionConfig>(kindsOf(contrastiveSessionDefaults));
    const inForm = this.fields();
    fill(inForm, { ...contrastiveSessionDefaults, ...query });
    for (const k of Object.keys(inForm)) delete query[k as keyof ContrastiveSessionConfig];
    this.extra = query;
    this.showLossFields();
    this.choice.loss.addEventListener('change', () => this.showLossFields());
    onValidChange([this.choice.loss, ...Object.values(this.model)], () => events.onModelChange());
    onValidChange([this.num.lr], () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<ContrastiveSessionConfig> {
    const m = this.model;
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    return {
      ...this.extra,
      loss: this.choice.loss.value as ContrastiveSessionConfig['loss'],
      shift: clamp(intOf(m.shift, d.shift), 0, 8),
      rotate: clamp(numOf(m.rotate, d.rotate), 0, 180),
      cutout: clamp(intOf(m.cutout, d.cutout), 0, 16),
      noise: Math.max(0, numOf(m.noise, d.noise)),
      temperature: clamp(numOf(m.temperature, d.temperature), 0.01, 10),
      margin: clamp(numOf(m.margin, d.margin), 0, 4),
      batch: clamp(intOf(m.batch, d.batch), 2, 1024),
      ...this.hyper(),
    };
  }

  /** The learning rate, which setHyper accepts while training. */
  hyper(): Pick<ContrastiveHyper, 'lr'> {
    return { lr: Math.max(0, numOf(this.num.lr, d.lr)) };
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: ContrastiveSessionConfig): void {
    fill(this.fields(), c);
    this.showLossFields();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.choice.loss, ...Object.values(this.model)], locked);
  }

  private fields(): Partial<Record<keyof ContrastiveSessionConfig, Field>> {
    return { ...this.choice, ...this.model, ...this.num };
  }

  /** The temperature belongs to NT-Xent, the margin to the triplet loss: only the loss chosen shows its own. */
  private showLossFields(): void {
    const ntxent = this.choice.loss.value === 'ntxent';
    this.model.temperature.closest('label')!.hidden = !ntxent;
    this.model.margin.closest('label')!.hidden = ntxent;
  }
}
