// The diffusion page's form: reads dataset, noise schedule, prediction, seed, batch, U-Net width,
// upload size, learning rate, sampler and guidance into the worker's session config, and tells
// which changes need a new model (dataset, schedule, prediction, seed, batch, width, upload size)
// from those that apply at the next step or sample (learning rate, sampler, sampler steps,
// guidance). Switching between points and images puts batch, learning rate and sampler steps at
// the new kind's defaults. The query string may preset any numeric or named field of the config
// (?dataset=ring&sampleCount=200&sampleSteps=10&sampleEvery=20&fieldGrid=9&heldOut=200
// &metricsIntervalMs=200, or ?dataset=glyphs16&base=8&gridColumns=2&scorerSteps=50...): sizes for
// a slow adapter or a quick test, too fine for the form. Fields in the form start at its value.
// Not here: talking to the worker or drawing (main.ts, points.ts, images.ts, charts.ts), the
// upload box whose size field this form reads (demos/shared/upload.ts).

import { samplers2D } from '../../src/data/toy2d.js';
import {
  defaultsFor, diffusionSessionDefaults, imageDatasets, isImageDataset, type DataKind, type DiffusionHyper, type DiffusionSessionConfig,
} from '../../src/tasks/diffusion/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, intOf, kindsOf, numOf, onValidChange, setDisabled, type Field } from '../shared/form.js';

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step or sample changed. */
  onHyperChange: (h: Partial<DiffusionHyper>) => void;
}

export class Controls {
  private readonly dataset = $<HTMLSelectElement>('dataset');
  private readonly schedule = $<HTMLSelectElement>('schedule');
  private readonly prediction = $<HTMLSelectElement>('prediction');
  private readonly seed = $<HTMLInputElement>('seed');
  private readonly batch = $<HTMLInputElement>('batch');
  private readonly lr = $<HTMLInputElement>('lr');
  private readonly sampler = $<HTMLSelectElement>('sampler');
  private readonly steps = $<HTMLInputElement>('sample-steps');
  private readonly base = $<HTMLInputElement>('base');
  private readonly guidance = $<HTMLInputElement>('guidance');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<DiffusionSessionConfig>;
  /** The kind of the dataset last chosen: switching kind resets the kind-dependent fields. */
  private kind: DataKind;

  /** `uploadSize`: the upload box's field for the side images are shrunk to. */
  constructor(
    events: ControlEvents,
    private readonly uploadSize: HTMLSelectElement,
  ) {
    const query = fromQuery<DiffusionSessionConfig>(kindsOf(diffusionSessionDefaults));
    // Fields the query does not set start at the defaults of its dataset's kind.
    const start = defaultsFor(String(query.dataset ?? this.dataset.value));
    const inForm = this.fields();
    fill(inForm, { ...start, ...query });
    for (const k of Object.keys(inForm)) delete query[k as keyof DiffusionSessionConfig];
    this.extra = query;
    this.steps.max = String(query.timesteps ?? start.timesteps);
    this.kind = this.mode();
    this.describeDataset();

    // First, so that a switch of kind has reset the form before the model change reads it.
    this.dataset.addEventListener('change', () => this.describeDataset());
    onValidChange([this.dataset, this.schedule, this.prediction, this.seed, this.batch, this.base], () => events.onModelChange());
    // The upload size needs a new model only while the model learns the upload.
    this.uploadSize.addEventListener('change', () => {
      if (this.dataset.value === 'upload') events.onModelChange();
    });
    onValidChange([this.lr, this.sampler, this.steps, this.guidance], () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<DiffusionSessionConfig> {
    return {
      ...this.extra,
      dataset: this.dataset.value as DiffusionSessionConfig['dataset'],
      schedule: this.schedule.value as DiffusionSessionConfig['schedule'],
      prediction: this.prediction.value as DiffusionSessionConfig['prediction'],
      seed: Math.max(0, intOf(this.seed, 1)),
      batch: Math.max(1, intOf(this.batch, diffusionSessionDefaults.batch)),
      base: Math.max(1, intOf(this.base, diffusionSessionDefaults.base)),
      uploadSize: Number(this.uploadSize.value),
      ...this.hyper(),
    };
  }

  /** The settings setHyper accepts from the form. */
  hyper(): Pick<DiffusionHyper, 'lr' | 'sampler' | 'sampleSteps' | 'guidance'> {
    return {
      lr: Math.max(0, numOf(this.lr, diffusionSessionDefaults.lr)),
      sampler: this.sampler.value as DiffusionHyper['sampler'],
      sampleSteps: Math.min(intOf(this.steps, 50), Number(this.steps.max) || Infinity),
      guidance: Math.min(20, Math.max(0, numOf(this.guidance, diffusionSessionDefaults.guidance))),
    };
  }

  /** Points or images, by the dataset chosen. */
  mode(): DataKind {
    return isImageDataset(this.dataset.value) ? 'images' : 'points';
  }

  /** Offers 'Your images' once an upload is held, and chooses it (without telling: the caller builds). */
  useUpload(): void {
    const option = this.dataset.querySelector<HTMLOptionElement>('option[value=upload]')!;
    option.disabled = false;
    this.dataset.value = 'upload';
    this.describeDataset();
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: DiffusionSessionConfig): void {
    fill(this.fields(), c);
    this.steps.max = String(c.timesteps);
    this.kind = this.mode();
    this.describeDataset();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.dataset, this.schedule, this.prediction, this.seed, this.batch, this.base, this.uploadSize], locked);
  }

  /** The config's fields the form shows, by their keys. */
  private fields(): Partial<Record<keyof DiffusionSessionConfig, Field>> {
    const { dataset, schedule, prediction, seed, batch, base, uploadSize, lr, sampler, guidance } = this;
    return { dataset, schedule, prediction, seed, batch, base, uploadSize, lr, sampler, sampleSteps: this.steps, guidance };
  }

  /** Describes the dataset; on a switch between points and images, puts the kind's defaults in the form. */
  private describeDataset(): void {
    const name = this.dataset.value;
    $('dataset-about').textContent = [...samplers2D, ...imageDatasets].find((s) => s.name === name)?.description ?? '';
    const kind = this.mode();
    if (kind === this.kind) return;
    this.kind = kind;
    const d = defaultsFor(name);
    const T = this.extra.timesteps ?? d.timesteps;
    this.batch.value = String(d.batch);
    this.lr.value = String(d.lr);
    this.steps.value = String(Math.min(d.sampleSteps, T));
    this.steps.max = String(T);
  }
}
