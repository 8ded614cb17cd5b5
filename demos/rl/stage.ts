// The RL page's stage: the cart-pole drawn on a canvas (the track between its ends, the cart,
// the pole with its ±12° bounds, the push taken and the policy's probability of pushing right)
// and a player that replays an episode from the worker at a steady pace, one state per physics
// step (tau = 20 ms, so real time), whatever the rate episodes come at. An episode that comes
// while another plays waits for its end (a newer one replaces it), so every replay is seen whole;
// one the user asked for plays at once. The readout under it says the step, the push and, at
// the end, how the episode ended.
// Not here: playing the episode (the worker's policy on the worker's CartPole, src/tasks/rl),
// the page's wiring (main.ts).

import { cartPoleDefaults, OBS } from '../../src/tasks/rl/cartpole.js';
import type { RlEpisode } from '../../src/tasks/rl/protocol.js';
import { hiDpiContext } from '../shared/canvas.js';

const { tau, xThreshold, thetaThresholdDeg, halfLength } = cartPoleDefaults;
const MS_PER_STATE = tau * 1000;
/** How long the last state of an episode stays before a waiting one starts. */
const HOLD_MS = 800;
/** The canvas's width over its height (as its CSS aspect-ratio). */
const ASPECT = 2.6;
/** Metres of track shown: its length and a cart's width beyond either end. */
const SPAN = 2 * (xThreshold + 0.4);
const CART = { w: 0.5, h: 0.26 };

/** What the stage tells the browser test. */
export interface StageView {
  /** Episodes whose replay began, and frames drawn of them. */
  played: number;
  frames: number;
  /** The episode on the stage: its length and how it ended, in words. */
  length: number;
  ended: string;
}

interface Replay {
  episode: RlEpisode;
  /** Whose episode it is, for the readout: 'update 40, from start 0'. */
  label: string;
  t0: number;
}

export class Stage {
  private current: Replay | null = null;
  private waiting: Replay | null = null;
  /** The state drawn last, so a frame is drawn only when the replay reaches a new one. */
  private drawn = -1;
  private raf = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly readout: HTMLElement,
    private readonly view: StageView,
  ) {
    new ResizeObserver(() => this.paint(this.current ? Math.max(0, this.drawn) : 0)).observe(canvas);
  }

  /** Replays `episode`: at once when `now` or when nothing plays, else after the one playing. */
  play(episode: RlEpisode, label: string, now = false): void {
    const replay = { episode, label, t0: 0 };
    if (now || !this.current || this.finished(performance.now())) this.begin(replay);
    else this.waiting = replay;
  }

  /** Forgets the episodes (a new policy) and shows the cart at rest. */
  clear(): void {
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.current = this.waiting = null;
    this.drawn = -1;
    this.paint(0);
    this.readout.textContent = 'No episode yet.';
  }

  private begin(replay: Replay): void {
    replay.t0 = performance.now();
    this.current = replay;
    this.waiting = null;
    this.drawn = -1;
    this.view.played++;
    this.view.length = replay.episode.length;
    this.view.ended = ending(replay.episode);
    if (!this.raf) this.raf = requestAnimationFrame(this.tick);
  }

  /** The replay has shown its last state for HOLD_MS. */
  private finished(now: number): boolean {
    const r = this.current;
    return !r || now - r.t0 >= r.episode.length * MS_PER_STATE + HOLD_MS;
  }

  private tick = (now: number): void => {
    this.raf = 0;
    const r = this.current;
    if (!r) return;
    const i = Math.min(r.episode.length, Math.floor((now - r.t0) / MS_PER_STATE));
    if (i !== this.drawn) {
      this.drawn = i;
      this.paint(i);
      this.view.frames++;
    }
    const done = this.finished(now);
    if (done && this.waiting) this.begin(this.waiting);
    // Done with nothing waiting, the last state stays on the stage; play() starts the next replay.
    else if (!done) this.raf = requestAnimationFrame(this.tick);
  };

  /** Draws state i of the current episode (the cart at rest without one), and says it in the readout. */
  private paint(i: number): void {
    const w = this.canvas.clientWidth;
    if (w === 0) return;
    const g = hiDpiContext(this.canvas, w, w / ASPECT);
    const ep = this.current?.episode;
    const s = ep ? ep.states.subarray(i * OBS, (i + 1) * OBS) : new Float32Array(OBS);
    const last = !!ep && i === ep.length;
    drawCartPole(g, w, w / ASPECT, s[0], s[2], {
      push: ep && !last ? ep.actions[i] : null,
      pRight: ep && !last ? ep.pRight[i] : null,
      fallen: last && ep.ended === 'terminated',
      caption: ep ? `step ${i} of ${ep.length}` : '',
    });
    if (!ep) return;
    const where = `x = ${s[0].toFixed(2)} m, θ = ${((s[2] * 180) / Math.PI).toFixed(1)}°.`;
    const now = last
      ? ending(ep)
      : `P(right) = ${ep.pRight[i].toFixed(2)}, pushes ${ep.actions[i] === 1 ? 'right' : 'left'}; the critic expects a return of ${ep.values[i].toFixed(1)} from here.`;
    this.readout.textContent = `${this.current!.label}: step ${i} of ${ep.length}. ${now} ${where}`;
  }
}

/** How an episode ended, in a sentence. */
export function ending(ep: RlEpisode): string {
  if (ep.ended === 'truncated') return `It reached the time limit of ${ep.length} steps with the pole up.`;
  const x = ep.states[ep.length * OBS];
  return Math.abs(x) > xThreshold
    ? `After ${ep.length} steps the cart ran off the track at ±${xThreshold} m.`
    : `After ${ep.length} steps the pole fell past ${thetaThresholdDeg}°.`;
}

interface Marks {
  /** The push taken in this state (0 left, 1 right); null at the last state. */
  push: number | null;
  pRight: number | null;
  /** The pole fell or the cart left: drawn in red. */
  fallen: boolean;
  caption: string;
}

/** The cart at x metres with the pole at theta radians (positive leans right), on a w × h canvas. */
function drawCartPole(g: CanvasRenderingContext2D, w: number, h: number, x: number, theta: number, m: Marks): void {
  const scale = w / SPAN; // pixels per metre
  const px = (metres: number) => w / 2 + metres * scale;
  const ground = h * 0.8;
  // The track, its metre marks and its ends.
  g.lineWidth = 2;
  g.strokeStyle = '#a1a1aa';
  g.beginPath();
  g.moveTo(px(-xThreshold), ground);
  g.lineTo(px(xThreshold), ground);
  g.stroke();
  g.lineWidth = 1;
  for (let k = -2; k <= 2; k++) {
    g.beginPath();
    g.moveTo(px(k), ground);
    g.lineTo(px(k), ground + 5);
    g.stroke();
  }
  g.strokeStyle = '#dc2626';
  g.lineWidth = 3;
  for (const end of [-xThreshold, xThreshold]) {
    g.beginPath();
    g.moveTo(px(end), ground - 12);
    g.lineTo(px(end), ground + 6);
    g.stroke();
  }
  // The cart and its wheels.
  const cx = px(x);
  const cw = CART.w * scale, ch = CART.h * scale;
  const top = ground - ch - 4;
  g.fillStyle = '#1d4ed8';
  g.fillRect(cx - cw / 2, top, cw, ch);
  g.fillStyle = '#3f3f46';
  for (const dx of [-cw / 3, cw / 3]) {
    g.beginPath();
    g.arc(cx + dx, ground - 4, 4, 0, 2 * Math.PI);
    g.fill();
  }
  // The bounds the pole may lean to, then the pole.
  const len = 2 * halfLength * scale;
  const limit = (thetaThresholdDeg * Math.PI) / 180;
  g.strokeStyle = '#d4d4d8';
  g.lineWidth = 1;
  g.setLineDash([4, 4]);
  for (const a of [-limit, limit]) {
    g.beginPath();
    g.moveTo(cx, top);
    g.lineTo(cx + len * Math.sin(a), top - len * Math.cos(a));
    g.stroke();
  }
  g.setLineDash([]);
  g.strokeStyle = m.fallen ? '#dc2626' : '#ea580c';
  g.lineWidth = Math.max(4, 0.07 * scale);
  g.lineCap = 'round';
  g.beginPath();
  g.moveTo(cx, top);
  g.lineTo(cx + len * Math.sin(theta), top - len * Math.cos(theta));
  g.stroke();
  g.lineCap = 'butt';
  // The push: an arrow from the cart's side.
  if (m.push !== null) {
    const dir = m.push === 1 ? 1 : -1;
    const from = cx + dir * (cw / 2 + 4), to = from + dir * 28, y = top + ch / 2;
    g.strokeStyle = g.fillStyle = '#059669';
    g.lineWidth = 3;
    g.beginPath();
    g.moveTo(from, y);
    g.lineTo(to, y);
    g.stroke();
    g.beginPath();
    g.moveTo(to + dir * 8, y);
    g.lineTo(to, y - 6);
    g.lineTo(to, y + 6);
    g.fill();
  }
  // The policy's odds, as a bar from left (0) to right (1), and the step.
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#52525b';
  g.textBaseline = 'middle';
  if (m.pRight !== null) {
    const bw = 120, bx = 64, by = 12;
    g.fillText('P(right)', 10, by + 5);
    g.fillStyle = '#e4e4e7';
    g.fillRect(bx, by, bw, 10);
    g.fillStyle = '#059669';
    g.fillRect(bx, by, bw * m.pRight, 10);
    g.fillStyle = '#52525b';
    g.fillText(m.pRight.toFixed(2), bx + bw + 6, by + 5);
  }
  if (m.caption) {
    g.textAlign = 'right';
    g.fillText(m.caption, w - 10, 17);
    g.textAlign = 'left';
  }
}
