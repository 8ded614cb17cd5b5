// The VAE page's form: reads dataset (and the side uploads are shrunk to), architecture, latent
// size, likelihood, beta, warm-up steps and learning rate into the worker's session config, and
// tells the changes that need a new model (dataset, architecture, latent size, likelihood, upload
// size) from those that apply at the next step (beta, warm-up, learning rate: setHyper). The
// query string may preset any numeric or named field of the config (?hidden=64&trainSize=512
// &pictureEvery=5&gridSide=6...): sizes for a slow adapter or a quick test, too fine for the
// form. 'Your images' can always be chosen: choosing it shows the upload box that takes them
// (hidden for the digits).
// Not here: talking to the worker or drawing (main.ts and the panels), the upload box itself,
// whose size field this form reads (demos/shared/upload.ts).

import { vaeSessionDefaults, type VaeHyper, type VaeSessionConfig } from '../../src/tasks/vae/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, inputsOf, intOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled, type Field } from '../shared/form.js';
import type { ImageUpload } from '../shared/upload.js';

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step changed. */
  onHyperChange: (h: Partial<VaeHyper>) => void;
}

const ABOUT: Record<string, string> = {
  glyphs16: '16 × 16 images of the ten digits, drawn from a stroke font with random pose and stroke width; the held-out digits come from a seed of their own.',
  glyphs28: 'The same digits at 28 × 28 pixels, as MNIST: about three times the work per step.',
  upload: 'Your own images, in grayscale, cropped to a square and shrunk. They are too few to hold some out, so the reconstructions shown are of training images. Choose them below: the model is built once they are taken.',
};

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('dataset', 'arch', 'likelihood');
  private readonly num = inputsOf('latent', 'beta', 'warmupSteps', 'lr');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<VaeSessionConfig>;

  /** `upload`: the box that takes the user's images, shown while they are the dataset chosen; its size field is the config's uploadSize. */
  constructor(
    events: ControlEvents,
    private readonly upload: ImageUpload,
  ) {
    const query = fromQuery<VaeSessionConfig>(kindsOf(vaeSessionDefaults));
    const inForm = this.fields();
    fill(inForm, { ...vaeSessionDefaults, ...query });
    for (const k of Object.keys(inForm)) delete query[k as keyof VaeSessionConfig];
    this.extra = query;
    this.describe();

    this.choice.dataset.addEventListener('change', () => this.describe());
    onValidChange([this.choice.dataset, this.choice.arch, this.choice.likelihood, this.num.latent], () => events.onModelChange());
    // The upload size needs a new model only while the model learns the upload.
    this.upload.size.addEventListener('change', () => {
      if (this.choice.dataset.value === 'upload') events.onModelChange();
    });
    onValidChange([this.num.beta, this.num.warmupSteps, this.num.lr], () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<VaeSessionConfig> {
    return {
      ...this.extra,
      dataset: this.choice.dataset.value as VaeSessionConfig['dataset'],
      arch: this.choice.arch.value as VaeSessionConfig['arch'],
      likelihood: this.choice.likelihood.value as VaeSessionConfig['likelihood'],
      latent: Math.min(64, Math.max(1, intOf(this.num.latent, vaeSessionDefaults.latent))),
      uploadSize: Number(this.upload.size.value),
      ...this.hyper(),
    };
  }

  /** Beta, the warm-up and the learning rate, which setHyper accepts while training. */
  hyper(): Pick<VaeHyper, 'beta' | 'warmupSteps' | 'lr'> {
    return {
      beta: Math.max(0, numOf(this.num.beta, vaeSessionDefaults.beta)),
      warmupSteps: Math.max(0, intOf(this.num.warmupSteps, vaeSessionDefaults.warmupSteps)),
      lr: Math.max(0, numOf(this.num.lr, vaeSessionDefaults.lr)),
    };
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: VaeSessionConfig): void {
    fill(this.fields(), c);
    this.describe();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.choice.dataset, this.choice.arch, this.choice.likelihood, this.num.latent, this.upload.size], locked);
  }

  /** The config's fields the form shows, by their keys. */
  private fields(): Partial<Record<keyof VaeSessionConfig, Field>> {
    return { ...this.choice, ...this.num, uploadSize: this.upload.size };
  }

  /** Says what the dataset chosen is, and shows the upload box only for the user's images. */
  private describe(): void {
    $('dataset-about').textContent = ABOUT[this.choice.dataset.value] ?? '';
    this.upload.showFor(this.choice.dataset.value);
  }
}
