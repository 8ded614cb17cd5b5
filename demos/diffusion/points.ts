// The diffusion page when the model learns 2D points: the plane with held-out data, the latest
// samples and the denoising field at the slider's timestep (as arrows or as lines to x̂0), the
// Sample now button, and the animation of samples denoising from noise to data. The field
// follows the slider with one request at a time: while one runs, only the latest position waits.
// main.ts routes events and the model's lifecycle here.
// Not here: image mode (images.ts), the charts (charts.ts), drawing the plane
// (demos/shared/plane.ts), the player (player.ts), the worker (src/tasks/diffusion).

import { PLANE_EXTENT, type DiffusionApi, type DiffusionEvent, type DiffusionInfo, type FieldEvent, type SamplesEvent } from '../../src/tasks/diffusion/protocol.js';
import { $ } from '../shared/dom.js';
import { PlaneView } from '../shared/plane.js';
import type { Attempt } from '../shared/session-page.js';
import { fingerprint } from '../shared/ui.js';
import { DenoisePlayer, planeFrames } from './player.js';

/** What the browser test reads about point mode (numbers and short strings only). */
export interface PointModeView {
  samples: number;
  samplesStep: number;
  samplesKey: string;
  fields: number;
  frames: number;
}

export class PointPanels {
  private readonly plane = new PlaneView($<HTMLCanvasElement>('plane'), PLANE_EXTENT);
  private readonly anim = new PlaneView($<HTMLCanvasElement>('anim'), PLANE_EXTENT);
  private readonly player: DenoisePlayer;
  private readonly sampleBtn = $<HTMLButtonElement>('sample-now');
  private readonly fieldT = $<HTMLInputElement>('field-t');
  private readonly showField = $<HTMLInputElement>('show-field');
  private readonly readout = $('plane-readout');
  private info: DiffusionInfo | null = null;
  private lastSamples: SamplesEvent | null = null;
  private lastField: FieldEvent | null = null;
  /** The slider's latest position while a field request runs; null when none waits. */
  private wantedT: number | null = null;
  private fieldBusy = false;

  constructor(
    private readonly api: DiffusionApi,
    private readonly attempt: Attempt,
    private readonly view: PointModeView,
  ) {
    this.player = new DenoisePlayer(planeFrames(this.anim), { play: $('play'), slider: $('frame'), readout: $('anim-readout') }, {
      frames: () => attempt(() => api.frames(), 'Could not draw the frames'),
      info: () => this.info,
      took: () => view.frames++,
    });
    this.sampleBtn.addEventListener('click', () => void attempt(() => api.sample(), 'Could not sample'));
    this.showField.addEventListener('change', () => this.plane.setField(this.showField.checked ? this.lastField : null));
    this.fieldT.addEventListener('input', () => void this.requestField(this.fieldT.valueAsNumber));
    const style = $<HTMLSelectElement>('field-style');
    style.addEventListener('change', () => {
      this.plane.fieldStyle = style.value as PlaneView['fieldStyle'];
      this.plane.draw();
    });
  }

  /** Takes the events of point mode; false for any other. */
  onEvent(e: DiffusionEvent): boolean {
    switch (e.type) {
      case 'samples':
        this.lastSamples = e;
        this.plane.setPoints(e.points);
        Object.assign(this.view, { samples: this.view.samples + 1, samplesStep: e.step, samplesKey: fingerprint(e.points, 2) });
        this.showReadout();
        return true;
      case 'field':
        this.onField(e);
        return true;
      default:
        return false;
    }
  }

  /** Buttons and the slider's range for the model in force. */
  show(info: DiffusionInfo, ready: boolean): void {
    this.info = info;
    this.sampleBtn.disabled = !ready;
    this.player.enable(ready);
    if (info.config) this.fieldT.max = String(info.config.timesteps - 1);
  }

  /** A new model of points: the pictures start over, with its held-out data and the field at the slider's t. */
  async startOver(info: DiffusionInfo): Promise<void> {
    this.lastSamples = null;
    Object.assign(this.view, { samples: 0, samplesStep: -1, samplesKey: '' });
    this.plane.setPoints(null);
    this.player.clear('Press Play to draw a sample and watch it form, step by step.');
    if (info.kind !== 'points') return;
    const held = await this.attempt(() => this.api.heldOutPoints(), 'Could not fetch the held-out data');
    this.plane.setData(held ?? null);
    this.anim.setData(held ?? null);
    // The field follows the slider: ask for its t now (the worker's first field uses its default).
    void this.requestField(Math.min(this.fieldT.valueAsNumber, (info.config?.timesteps ?? 100) - 1));
  }

  /** One field request at a time; while one runs, only the slider's latest position waits. */
  private async requestField(t: number): Promise<void> {
    this.wantedT = t;
    this.showReadout();
    const info = this.info;
    if (this.fieldBusy || !info || info.state === 'empty' || info.kind !== 'points') return;
    this.fieldBusy = true;
    while (this.wantedT !== null) {
      const want = this.wantedT;
      this.wantedT = null;
      const f = await this.attempt(() => this.api.field(want), 'Could not compute the field');
      if (f) this.onField(f);
    }
    this.fieldBusy = false;
  }

  private onField(f: FieldEvent): void {
    this.lastField = f;
    this.view.fields++;
    if (this.showField.checked) this.plane.setField(f);
    this.showReadout();
  }

  private showReadout(): void {
    const parts: string[] = [];
    const s = this.lastSamples;
    if (s) parts.push(`samples at step ${s.step} (${s.sampler.toUpperCase()}, ${s.steps} steps)`);
    const f = this.lastField;
    if (f) {
      const pending = this.wantedT !== null && this.wantedT !== f.t ? ` (t = ${this.wantedT} coming)` : '';
      parts.push(`field at t = ${f.t}: signal √ᾱ = ${Math.sqrt(f.alphaBar).toFixed(3)}, noise √(1−ᾱ) = ${Math.sqrt(1 - f.alphaBar).toFixed(3)}${pending}`);
    }
    this.readout.textContent = parts.join(' · ');
  }
}
