// The diffusion page's player of a sample denoising from noise to data: a Play button, a slider
// to scrub through the frames and a readout of the frame shown, over a view that draws a frame
// (points on a plane, or a grid of images). Play asks the worker for fresh frames when the ones
// held were drawn by another model or sampler than the one in force.
// Not here: drawing a frame (the plane, demos/shared/plane.ts; the grids, images.ts) or the
// worker's sampler (src/tasks/diffusion).

import type { DenoiseFrames, DiffusionInfo } from '../../src/tasks/diffusion/protocol.js';
import { colorsByEnd, type PlaneView } from '../shared/plane.js';

/** What a player draws frames on. */
export interface FrameView {
  /** New frames arrived (a view may prepare something from them, e.g. colours from the last). */
  load(f: DenoiseFrames): void;
  show(f: DenoiseFrames, i: number): void;
  clear(): void;
}

/** Frames of points on a plane, each point in the colour of where it ends. */
export function planeFrames(view: PlaneView): FrameView {
  let colors: string[] | null = null;
  return {
    load: (f) => (colors = colorsByEnd(f.frames[f.frames.length - 1])),
    show: (f, i) => view.setPoints(f.frames[i], colors),
    clear: () => view.setPoints(null),
  };
}

export interface PlayerElements {
  play: HTMLButtonElement;
  slider: HTMLInputElement;
  readout: HTMLElement;
}

export interface FrameSource {
  /** Fresh frames of the model in force; undefined when the request failed (and said so). */
  frames(): Promise<DenoiseFrames | undefined>;
  /** The model in force, to tell whether frames held are still its own. */
  info(): DiffusionInfo | null;
  /** Called when fresh frames arrived (the browser test counts them). */
  took?(): void;
}

/** Plays denoising frames on a view, with a slider to scrub through them. */
export class DenoisePlayer {
  private frames: DenoiseFrames | null = null;
  private timer = 0;

  constructor(
    private readonly view: FrameView,
    private readonly els: PlayerElements,
    private readonly source: FrameSource,
  ) {
    els.slider.addEventListener('input', () => {
      this.stop();
      this.show(els.slider.valueAsNumber);
    });
    els.play.addEventListener('click', () => void this.toggle());
  }

  get playing(): boolean {
    return this.timer !== 0;
  }

  /** Play is usable with a model ready, and as Stop while playing. */
  enable(ready: boolean): void {
    this.els.play.disabled = !ready && !this.playing;
  }

  /** Forgets the frames (a new model): the view shows nothing until the next play. */
  clear(message: string): void {
    this.stop();
    this.frames = null;
    const { slider } = this.els;
    slider.value = '0';
    slider.max = '0';
    slider.disabled = true;
    this.view.clear();
    this.els.readout.textContent = message;
  }

  /** Stops playing; or plays, drawing fresh frames first when the model or the sampler changed. */
  private async toggle(): Promise<void> {
    if (this.playing) return this.stop();
    if (!this.frames || !this.current(this.frames)) {
      const { play } = this.els;
      play.disabled = true;
      play.textContent = 'Sampling…';
      const fresh = await this.source.frames();
      play.disabled = false;
      play.textContent = 'Play';
      if (!fresh) return;
      this.set(fresh);
      this.source.took?.();
    }
    this.play();
  }

  /** Whether frames were drawn by the model in force, with the sampler and steps in force. */
  private current(f: DenoiseFrames): boolean {
    const info = this.source.info();
    const c = info?.config;
    return !!c && f.step === info!.step && f.sampler === c.sampler && f.frames.length - 1 === c.sampleSteps;
  }

  /** New frames; shows the last one (the finished sample). */
  private set(f: DenoiseFrames): void {
    this.stop();
    this.frames = f;
    this.view.load(f);
    this.els.slider.max = String(f.frames.length - 1);
    this.els.slider.disabled = false;
    this.show(f.frames.length - 1);
  }

  /** Plays from the noise to the end in about three seconds (at most 60 ms per frame). */
  private play(): void {
    const f = this.frames;
    if (!f) return;
    this.stop();
    const perFrame = Math.min(60, 3000 / f.frames.length);
    const start = performance.now();
    // A short pause on the noise, then one frame per perFrame ms, ending on the sample.
    const tick = () => {
      const i = Math.min(f.frames.length - 1, Math.max(0, Math.floor((performance.now() - start - 400) / perFrame)));
      this.show(i);
      if (i < f.frames.length - 1) this.timer = requestAnimationFrame(tick);
      else this.stop();
    };
    this.timer = requestAnimationFrame(tick);
    this.els.play.textContent = 'Stop';
  }

  private stop(): void {
    if (!this.timer) return;
    cancelAnimationFrame(this.timer);
    this.timer = 0;
    this.els.play.textContent = 'Play';
  }

  private show(i: number): void {
    const f = this.frames!;
    this.els.slider.value = String(i);
    this.view.show(f, i);
    const n = f.frames.length - 1;
    const where = i === 0 ? 'pure noise' : i === n ? 'the finished sample' : `after step ${i} of ${n}`;
    this.els.readout.textContent = `t = ${f.ts[i]}: ${where} · ${f.sampler.toUpperCase()}, ${n} steps, model at step ${f.step}`;
  }
}
