// The GAN page's form: reads dataset (and the side uploads are shrunk to), loss, spectral
// normalisation, discriminator steps per generator step, seed, batch and the two learning rates
// into the worker's session config, and tells which changes need a new model (all but the
// learning rates) from those that apply at the next step (the learning rates). Choosing a
// dataset puts its default learning rates and batch in the form (the DCGAN for images wants
// smaller ones). The query string may preset any numeric or named field of the config
// (?dataset=ring&sampleCount=200&surfaceGrid=24&snapshotEvery=5...): sizes for a slow adapter or
// a quick test, too fine for the form. 'Your images' can always be chosen: choosing it shows the
// upload box that takes them (hidden for every other dataset).
// Not here: talking to the worker or drawing (main.ts and the panels), the upload box itself, whose
// size field this form reads (demos/shared/upload.ts).

import { samplers2D } from '../../src/data/toy2d.js';
import {
  datasetDefaults, ganSessionDefaults, type GanDataset, type GanHyper, type GanSessionConfig,
} from '../../src/tasks/gan/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, inputsOf, intOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled, type Field } from '../shared/form.js';
import type { ImageUpload } from '../shared/upload.js';

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step changed. */
  onHyperChange: (h: Partial<GanHyper>) => void;
}

const ABOUT: Record<string, string> = {
  ...Object.fromEntries(samplers2D.map((s) => [s.name, s.description])),
  glyphs16: '16 × 16 images of the ten digits, drawn from a stroke font with random pose and stroke width; a DCGAN pair of convolutional players.',
  glyphs28: 'The same digits at 28 × 28 pixels, as MNIST: about three times the work per step.',
  upload: 'Your own images, in grayscale, cropped to a square and shrunk. No classifier knows them, so quality is measured as distances in pixel space. Choose them below: the model is built once they are taken.',
};

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('dataset', 'loss');
  private readonly num = inputsOf('spectralNorm', 'dSteps', 'seed', 'batch', 'lrG', 'lrD');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<GanSessionConfig>;

  /** `upload`: the box that takes the user's images, shown while they are the dataset chosen; its size field is the config's uploadSize. */
  constructor(
    events: ControlEvents,
    private readonly upload: ImageUpload,
  ) {
    const query = fromQuery<GanSessionConfig>(kindsOf(ganSessionDefaults));
    this.fillDefaults(datasetDefaults(query.dataset ?? ganSessionDefaults.dataset));
    const inForm = this.fields();
    fill(inForm, query);
    for (const k of Object.keys(inForm)) delete query[k as keyof GanSessionConfig];
    this.extra = query;
    this.describe();

    this.choice.dataset.addEventListener('change', () => {
      this.fillDefaults(datasetDefaults(this.choice.dataset.value as GanDataset));
      this.describe();
    });
    onValidChange([this.choice.dataset, this.choice.loss, this.num.spectralNorm, this.num.dSteps, this.num.seed, this.num.batch], () => events.onModelChange());
    // The upload size needs a new model only while the model learns the upload.
    this.upload.size.addEventListener('change', () => {
      if (this.choice.dataset.value === 'upload') events.onModelChange();
    });
    onValidChange([this.num.lrG, this.num.lrD], () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<GanSessionConfig> {
    const d = datasetDefaults(this.choice.dataset.value as GanDataset);
    return {
      ...this.extra,
      dataset: this.choice.dataset.value as GanDataset,
      loss: this.choice.loss.value as GanSessionConfig['loss'],
      spectralNorm: this.num.spectralNorm.checked,
      dSteps: Math.min(20, Math.max(1, intOf(this.num.dSteps, 1))),
      seed: Math.max(0, intOf(this.num.seed, 1)),
      batch: Math.max(1, intOf(this.num.batch, d.batch)),
      uploadSize: Number(this.upload.size.value),
      ...this.hyper(),
    };
  }

  /** The learning rates, which setHyper accepts while training. */
  hyper(): Pick<GanHyper, 'lrG' | 'lrD'> {
    const d = datasetDefaults(this.choice.dataset.value as GanDataset);
    return { lrG: Math.max(0, numOf(this.num.lrG, d.lrG)), lrD: Math.max(0, numOf(this.num.lrD, d.lrD)) };
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: GanSessionConfig): void {
    fill(this.fields(), c);
    this.describe();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.choice.dataset, this.choice.loss, this.num.spectralNorm, this.num.dSteps, this.num.seed, this.num.batch, this.upload.size], locked);
  }

  /** The config's fields the form shows, by their keys. */
  private fields(): Partial<Record<keyof GanSessionConfig, Field>> {
    return { ...this.choice, ...this.num, uploadSize: this.upload.size };
  }

  /** A dataset's learning rates and batch. */
  private fillDefaults(d: GanSessionConfig): void {
    const { lrG, lrD, batch } = this.num;
    fill({ lrG, lrD, batch }, d);
  }

  /** Says what the dataset chosen is, and shows the upload box only for the user's images. */
  private describe(): void {
    $('dataset-about').textContent = ABOUT[this.choice.dataset.value] ?? '';
    this.upload.showFor(this.choice.dataset.value);
  }
}
