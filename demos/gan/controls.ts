// The GAN page's form: reads dataset (and the side uploads are shrunk to), loss, spectral
// normalisation, discriminator steps per generator step, seed, batch and the two learning rates
// into the worker's session config, and tells which changes need a new model (all but the
// learning rates) from those that apply at the next step (the learning rates). Choosing a
// dataset puts its default learning rates and batch in the form (the DCGAN for images wants
// smaller ones). The query string may preset any numeric or named field of the config
// (?dataset=ring&sampleCount=200&surfaceGrid=24&snapshotEvery=5...): sizes for a slow adapter or
// a quick test, too fine for the form.
// Not here: talking to the worker or drawing (main.ts, plane.ts, images.ts).

import { samplers2D } from '../../src/data/toy2d.js';
import {
  datasetDefaults, ganSessionDefaults, type GanDataset, type GanHyper, type GanSessionConfig,
} from '../../src/tasks/gan/protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

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
  upload: 'Your own images, in grayscale, cropped to a square and shrunk. No classifier knows them, so quality is measured as distances in pixel space.',
};

export class Controls {
  private readonly dataset = $<HTMLSelectElement>('dataset');
  private readonly loss = $<HTMLSelectElement>('loss');
  private readonly spectral = $<HTMLInputElement>('spectral');
  private readonly dSteps = $<HTMLInputElement>('d-steps');
  private readonly seed = $<HTMLInputElement>('seed');
  private readonly batch = $<HTMLInputElement>('batch');
  private readonly lrG = $<HTMLInputElement>('lr-g');
  private readonly lrD = $<HTMLInputElement>('lr-d');
  private readonly uploadSize = $<HTMLSelectElement>('upload-size');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<GanSessionConfig>;

  constructor(events: ControlEvents) {
    const query = fromQuery();
    this.fill(datasetDefaults((query.dataset as GanDataset | undefined) ?? ganSessionDefaults.dataset));
    const inForm: [keyof GanSessionConfig, HTMLInputElement | HTMLSelectElement][] = [
      ['dataset', this.dataset], ['loss', this.loss], ['dSteps', this.dSteps], ['seed', this.seed],
      ['batch', this.batch], ['lrG', this.lrG], ['lrD', this.lrD], ['uploadSize', this.uploadSize],
    ];
    for (const [k, el] of inForm) {
      if (k in query) el.value = String(query[k]);
      delete query[k];
    }
    if ('spectralNorm' in query) this.spectral.checked = Boolean(query.spectralNorm);
    delete query.spectralNorm;
    this.extra = query;
    this.describe();

    this.dataset.addEventListener('change', () => {
      this.fill(datasetDefaults(this.dataset.value as GanDataset));
      this.describe();
    });
    for (const el of [this.dataset, this.loss, this.spectral, this.dSteps, this.seed, this.batch]) {
      el.addEventListener('change', () => {
        if (!(el instanceof HTMLInputElement) || el.checkValidity()) events.onModelChange();
      });
    }
    // The upload size needs a new model only while the model learns the upload.
    this.uploadSize.addEventListener('change', () => {
      if (this.dataset.value === 'upload') events.onModelChange();
    });
    for (const el of [this.lrG, this.lrD]) {
      el.addEventListener('change', () => {
        if (el.checkValidity()) events.onHyperChange(this.hyper());
      });
    }
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<GanSessionConfig> {
    const d = datasetDefaults(this.dataset.value as GanDataset);
    return {
      ...this.extra,
      dataset: this.dataset.value as GanDataset,
      loss: this.loss.value as GanSessionConfig['loss'],
      spectralNorm: this.spectral.checked,
      dSteps: Math.min(20, Math.max(1, intOf(this.dSteps, 1))),
      seed: Math.max(0, intOf(this.seed, 1)),
      batch: Math.max(1, intOf(this.batch, d.batch)),
      uploadSize: Number(this.uploadSize.value),
      ...this.hyper(),
    };
  }

  /** The learning rates, which setHyper accepts while training. */
  hyper(): Pick<GanHyper, 'lrG' | 'lrD'> {
    const d = datasetDefaults(this.dataset.value as GanDataset);
    return { lrG: Math.max(0, numOf(this.lrG, d.lrG)), lrD: Math.max(0, numOf(this.lrD, d.lrD)) };
  }

  /** The side uploads are shrunk to. */
  uploadSide(): number {
    return Number(this.uploadSize.value);
  }

  /** Offers 'Your images' once an upload is held, and chooses it (without telling: the caller builds). */
  useUpload(): void {
    this.dataset.querySelector<HTMLOptionElement>('option[value=upload]')!.disabled = false;
    if (this.dataset.value !== 'upload') {
      this.dataset.value = 'upload';
      this.fill(datasetDefaults('upload'));
      this.describe();
    }
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: GanSessionConfig): void {
    if (c.dataset === 'upload') this.dataset.querySelector<HTMLOptionElement>('option[value=upload]')!.disabled = false;
    this.dataset.value = c.dataset;
    this.uploadSize.value = String(c.uploadSize);
    this.loss.value = c.loss;
    this.spectral.checked = c.spectralNorm;
    this.dSteps.value = String(c.dSteps);
    this.seed.value = String(c.seed);
    this.batch.value = String(c.batch);
    this.lrG.value = String(c.lrG);
    this.lrD.value = String(c.lrD);
    this.describe();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    for (const el of [this.dataset, this.loss, this.spectral, this.dSteps, this.seed, this.batch, this.uploadSize]) el.disabled = locked;
  }

  /** A dataset's learning rates and batch. */
  private fill(d: GanSessionConfig): void {
    this.lrG.value = String(d.lrG);
    this.lrD.value = String(d.lrD);
    this.batch.value = String(d.batch);
  }

  private describe(): void {
    $('dataset-about').textContent = ABOUT[this.dataset.value] ?? '';
  }
}

/** The config fields named in the page's query string: numbers, booleans, or the names of a choice. */
function fromQuery(): Partial<GanSessionConfig> {
  const query = new URLSearchParams(location.search);
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(ganSessionDefaults)) {
    const raw = query.get(k);
    if (raw === null) continue;
    if (typeof v === 'string') out[k] = raw;
    else if (typeof v === 'boolean') out[k] = raw === 'true' || raw === '1';
    else if (Number.isFinite(Number(raw))) out[k] = Number(raw);
  }
  return out as Partial<GanSessionConfig>;
}

function numOf(el: HTMLInputElement, fallback: number): number {
  const v = el.valueAsNumber;
  return Number.isFinite(v) ? v : fallback;
}

function intOf(el: HTMLInputElement, fallback: number): number {
  return Math.round(numOf(el, fallback));
}
