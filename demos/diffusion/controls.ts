// The diffusion page's form: reads dataset, noise schedule, prediction, seed, batch, learning
// rate and sampler into the worker's session config, and tells which changes need a new model
// (dataset, schedule, prediction, seed, batch) from those that apply at the next step or sample
// (learning rate, sampler, sampler steps). The query string may preset any numeric or named
// field of the config (?dataset=ring&sampleCount=200&sampleSteps=10&sampleEvery=20&fieldGrid=9
// &heldOut=200&metricsIntervalMs=200...): sizes for a slow adapter or a quick test, too fine for
// the form. Fields that are in the form start at the query's value.
// Not here: talking to the worker or drawing (main.ts, plane.ts, charts.ts).

import { samplers2D } from '../../src/data/toy2d.js';
import {
  diffusionSessionDefaults, type DiffusionHyper, type DiffusionSessionConfig,
} from '../../src/worker/diffusion-protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export interface ControlEvents {
  /** A setting that needs a new model changed. */
  onModelChange: () => void;
  /** A setting that applies from the next step or sample changed. */
  onHyperChange: (h: Partial<DiffusionHyper>) => void;
}

type Field = HTMLInputElement | HTMLSelectElement;

export class Controls {
  private readonly dataset = $<HTMLSelectElement>('dataset');
  private readonly schedule = $<HTMLSelectElement>('schedule');
  private readonly prediction = $<HTMLSelectElement>('prediction');
  private readonly seed = $<HTMLInputElement>('seed');
  private readonly batch = $<HTMLInputElement>('batch');
  private readonly lr = $<HTMLInputElement>('lr');
  private readonly sampler = $<HTMLSelectElement>('sampler');
  private readonly steps = $<HTMLInputElement>('sample-steps');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<DiffusionSessionConfig>;

  constructor(events: ControlEvents) {
    const query = fromQuery();
    const inForm: [keyof DiffusionSessionConfig, Field][] = [
      ['dataset', this.dataset], ['schedule', this.schedule], ['prediction', this.prediction], ['seed', this.seed],
      ['batch', this.batch], ['lr', this.lr], ['sampler', this.sampler], ['sampleSteps', this.steps],
    ];
    for (const [k, el] of inForm) {
      if (k in query) el.value = String(query[k]);
      delete query[k];
    }
    this.extra = query;
    this.describeDataset();

    for (const el of [this.dataset, this.schedule, this.prediction, this.seed, this.batch]) {
      el.addEventListener('change', () => {
        if (el instanceof HTMLSelectElement || el.checkValidity()) events.onModelChange();
      });
    }
    this.dataset.addEventListener('change', () => this.describeDataset());
    for (const el of [this.lr, this.sampler, this.steps]) {
      el.addEventListener('change', () => {
        if (el instanceof HTMLSelectElement || el.checkValidity()) events.onHyperChange(this.hyper());
      });
    }
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
      ...this.hyper(),
    };
  }

  /** The settings setHyper accepts from the form. */
  hyper(): Pick<DiffusionHyper, 'lr' | 'sampler' | 'sampleSteps'> {
    return {
      lr: Math.max(0, numOf(this.lr, diffusionSessionDefaults.lr)),
      sampler: this.sampler.value as DiffusionHyper['sampler'],
      sampleSteps: Math.min(intOf(this.steps, 50), Number(this.steps.max) || Infinity),
    };
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: DiffusionSessionConfig): void {
    this.dataset.value = c.dataset;
    this.schedule.value = c.schedule;
    this.prediction.value = c.prediction;
    this.seed.value = String(c.seed);
    this.batch.value = String(c.batch);
    this.lr.value = String(c.lr);
    this.sampler.value = c.sampler;
    this.steps.value = String(c.sampleSteps);
    this.steps.max = String(c.timesteps);
    this.describeDataset();
  }

  /** Enables or disables the settings that need a new model (not while training). */
  lockModel(locked: boolean): void {
    for (const el of [this.dataset, this.schedule, this.prediction, this.seed, this.batch]) el.disabled = locked;
  }

  private describeDataset(): void {
    $('dataset-about').textContent = samplers2D.find((s) => s.name === this.dataset.value)?.description ?? '';
  }
}

/** The config fields named in the page's query string: numbers, or the names of a choice. */
function fromQuery(): Partial<DiffusionSessionConfig> {
  const query = new URLSearchParams(location.search);
  const out: Record<string, string | number> = {};
  const named = ['dataset', 'schedule', 'prediction', 'sampler'];
  for (const k of Object.keys(diffusionSessionDefaults)) {
    const raw = query.get(k);
    if (raw === null) continue;
    if (named.includes(k)) out[k] = raw;
    else if (Number.isFinite(Number(raw))) out[k] = Number(raw);
  }
  return out as Partial<DiffusionSessionConfig>;
}

function numOf(el: HTMLInputElement, fallback: number): number {
  const v = el.valueAsNumber;
  return Number.isFinite(v) ? v : fallback;
}

function intOf(el: HTMLInputElement, fallback: number): number {
  return Math.round(numOf(el, fallback));
}
