// The diffusion page's form: reads dataset, noise schedule, prediction, seed, batch, U-Net width,
// upload size, learning rate, sampler and guidance into the worker's session config, and tells
// which changes need a new model (dataset, schedule, prediction, seed, batch, width, upload size)
// from those that apply at the next step or sample (learning rate, sampler, sampler steps,
// guidance). Switching between points and images puts batch, learning rate and sampler steps at
// the new kind's defaults. The query string may preset any numeric or named field of the config
// (?dataset=ring&sampleCount=200&sampleSteps=10&sampleEvery=20&fieldGrid=9&heldOut=200
// &metricsIntervalMs=200, or ?dataset=glyphs16&base=8&gridColumns=2&scorerSteps=50...): sizes for
// a slow adapter or a quick test, too fine for the form. Fields in the form start at its value.
// The upload box shows beside the image datasets, not beside the 2D ones.
// Not here: talking to the worker or drawing (main.ts, points.ts, images.ts, charts.ts), the
// upload box itself, whose size field this form reads (demos/shared/upload.ts).

import { samplers2D } from '../../src/data/toy2d.js';
import {
  defaultsFor, diffusionSessionDefaults, imageDatasets, isImageDataset, type DataKind, type DiffusionHyper, type DiffusionSessionConfig,
} from '../../src/tasks/diffusion/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, intOf, inputsOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled, type Field } from '../shared/form.js';
import type { ImageUpload } from '../shared/upload.js';

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step or sample changed. */
  onHyperChange: (h: Partial<DiffusionHyper>) => void;
}

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('dataset', 'schedule', 'prediction', 'sampler');
  private readonly num = inputsOf('seed', 'batch', 'lr', 'sampleSteps', 'base', 'guidance');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<DiffusionSessionConfig>;
  /** The kind of the dataset last chosen: switching kind resets the kind-dependent fields. */
  private kind: DataKind;

  /** `upload`: the box that takes the user's images, shown beside the image datasets only; its size field is the config's uploadSize. */
  constructor(
    events: ControlEvents,
    private readonly upload: ImageUpload,
  ) {
    const query = fromQuery<DiffusionSessionConfig>(kindsOf(diffusionSessionDefaults));
    // Fields the query does not set start at the defaults of its dataset's kind.
    const start = defaultsFor(String(query.dataset ?? this.choice.dataset.value));
    const inForm = this.fields();
    fill(inForm, { ...start, ...query });
    for (const k of Object.keys(inForm)) delete query[k as keyof DiffusionSessionConfig];
    this.extra = query;
    this.num.sampleSteps.max = String(query.timesteps ?? start.timesteps);
    this.kind = this.mode();
    this.describeDataset();

    // First, so that a switch of kind has reset the form before the model change reads it.
    this.choice.dataset.addEventListener('change', () => this.describeDataset());
    onValidChange([this.choice.dataset, this.choice.schedule, this.choice.prediction, this.num.seed, this.num.batch, this.num.base], () => events.onModelChange());
    // The upload size needs a new model only while the model learns the upload.
    this.upload.size.addEventListener('change', () => {
      if (this.choice.dataset.value === 'upload') events.onModelChange();
    });
    onValidChange([this.num.lr, this.choice.sampler, this.num.sampleSteps, this.num.guidance], () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<DiffusionSessionConfig> {
    return {
      ...this.extra,
      dataset: this.choice.dataset.value as DiffusionSessionConfig['dataset'],
      schedule: this.choice.schedule.value as DiffusionSessionConfig['schedule'],
      prediction: this.choice.prediction.value as DiffusionSessionConfig['prediction'],
      seed: Math.max(0, intOf(this.num.seed, 1)),
      batch: Math.max(1, intOf(this.num.batch, diffusionSessionDefaults.batch)),
      base: Math.max(1, intOf(this.num.base, diffusionSessionDefaults.base)),
      uploadSize: Number(this.upload.size.value),
      ...this.hyper(),
    };
  }

  /** The settings setHyper accepts from the form. */
  hyper(): Pick<DiffusionHyper, 'lr' | 'sampler' | 'sampleSteps' | 'guidance'> {
    return {
      lr: Math.max(0, numOf(this.num.lr, diffusionSessionDefaults.lr)),
      sampler: this.choice.sampler.value as DiffusionHyper['sampler'],
      sampleSteps: Math.min(intOf(this.num.sampleSteps, 50), Number(this.num.sampleSteps.max) || Infinity),
      guidance: Math.min(20, Math.max(0, numOf(this.num.guidance, diffusionSessionDefaults.guidance))),
    };
  }

  /** Points or images, by the dataset chosen. */
  mode(): DataKind {
    return isImageDataset(this.choice.dataset.value) ? 'images' : 'points';
  }

  /** Offers 'Your images' once an upload is held, and chooses it (without telling: the caller builds). */
  useUpload(): void {
    const option = this.choice.dataset.querySelector<HTMLOptionElement>('option[value=upload]')!;
    option.disabled = false;
    this.choice.dataset.value = 'upload';
    this.describeDataset();
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: DiffusionSessionConfig): void {
    fill(this.fields(), c);
    this.num.sampleSteps.max = String(c.timesteps);
    this.kind = this.mode();
    this.describeDataset();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.choice.dataset, this.choice.schedule, this.choice.prediction, this.num.seed, this.num.batch, this.num.base, this.upload.size], locked);
  }

  /** The config's fields the form shows, by their keys. */
  private fields(): Partial<Record<keyof DiffusionSessionConfig, Field>> {
    return { ...this.choice, ...this.num, uploadSize: this.upload.size };
  }

  /** Describes the dataset; on a switch between points and images, puts the kind's defaults in the form. */
  private describeDataset(): void {
    const name = this.choice.dataset.value;
    $('dataset-about').textContent = [...samplers2D, ...imageDatasets].find((s) => s.name === name)?.description ?? '';
    const kind = this.mode();
    // The user's images are an image dataset: the box that takes them shows beside the digits too, never beside points.
    this.upload.show(kind === 'images');
    if (kind === this.kind) return;
    this.kind = kind;
    const d = defaultsFor(name);
    const T = this.extra.timesteps ?? d.timesteps;
    this.num.batch.value = String(d.batch);
    this.num.lr.value = String(d.lr);
    this.num.sampleSteps.value = String(Math.min(d.sampleSteps, T));
    this.num.sampleSteps.max = String(T);
  }
}
