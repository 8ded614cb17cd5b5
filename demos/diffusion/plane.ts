// The diffusion page's player: it steps a view (the plane, or a grid of images, see images.ts)
// through the frames of a sample denoising from noise to data.
// Not here: drawing the plane (demos/shared/plane.ts), where the frames come from (main.ts asks
// the worker) or the charts.

import type { DenoiseFrames } from '../../src/tasks/diffusion/protocol.js';
import { colorsByEnd, PlaneView } from '../shared/plane.js';

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

/** Plays denoising frames on a view, with a slider to scrub through them. */
export class DenoisePlayer {
  private frames: DenoiseFrames | null = null;
  private timer = 0;
  private readonly view: FrameView;

  constructor(
    view: PlaneView | FrameView,
    private readonly slider: HTMLInputElement,
    private readonly readout: HTMLElement,
    /** Called with true when playing starts and false when it stops. */
    private readonly onPlaying: (playing: boolean) => void,
  ) {
    this.view = view instanceof PlaneView ? planeFrames(view) : view;
    slider.addEventListener('input', () => {
      this.stop();
      this.show(slider.valueAsNumber);
    });
  }

  get playing(): boolean {
    return this.timer !== 0;
  }

  get loaded(): DenoiseFrames | null {
    return this.frames;
  }

  /** New frames; shows the last one (the finished sample). */
  set(f: DenoiseFrames): void {
    this.stop();
    this.frames = f;
    this.view.load(f);
    this.slider.max = String(f.frames.length - 1);
    this.slider.disabled = false;
    this.show(f.frames.length - 1);
  }

  /** Forgets the frames (a new model): the view shows no points until the next set. */
  clear(message: string): void {
    this.stop();
    this.frames = null;
    this.slider.value = '0';
    this.slider.max = '0';
    this.slider.disabled = true;
    this.view.clear();
    this.readout.textContent = message;
  }

  /** Plays from the noise to the end in about three seconds (at most 60 ms per frame). */
  play(): void {
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
    this.onPlaying(true);
  }

  stop(): void {
    if (!this.timer) return;
    cancelAnimationFrame(this.timer);
    this.timer = 0;
    this.onPlaying(false);
  }

  private show(i: number): void {
    const f = this.frames!;
    this.slider.value = String(i);
    this.view.show(f, i);
    const n = f.frames.length - 1;
    const where = i === 0 ? 'pure noise' : i === n ? 'the finished sample' : `after step ${i} of ${n}`;
    this.readout.textContent = `t = ${f.ts[i]}: ${where} · ${f.sampler.toUpperCase()}, ${n} steps, model at step ${f.step}`;
  }
}
