// CartPole (Barto, Sutton & Anderson 1983, with the constants and rules of Gym's CartPole-v1):
// a pole hinged on a cart that is pushed left or right with a fixed force; the episode ends
// when the pole leans past 12 degrees or the cart leaves [-2.4, 2.4] (terminated), or after
// maxSteps steps (truncated); every step, the last one included, earns a reward of 1.
// Batched: B environments are stepped together, each reset as soon as its episode ends, from
// a state uniform in [-0.05, 0.05]^4 drawn from one seeded generator (data/random.ts), so a run
// sees the same episodes every time and a checkpoint can continue them.
// It runs on the CPU of the worker, in float64 as Gym's does, while the policy runs on the GPU:
// a step is a few dozen flops per environment, and a GPU round trip per environment step would
// cost a thousand times more than the maths.
// Not here: the policy, rollouts or returns (rollout.ts, returns.ts), or any rendering (the page).

import type { SeededRandom } from '../../data/random.js';

/** The physics and the rules; the defaults are CartPole-v1's. */
export interface CartPoleConfig {
  /** Gravity, m/s². */
  gravity: number;
  /** Mass of the cart and of the pole, kg. */
  massCart: number;
  massPole: number;
  /** Half the pole's length, m (Gym calls it `length`). */
  halfLength: number;
  /** The push of either action, N (action 1 pushes right, 0 left). */
  forceMag: number;
  /** Seconds per step (one explicit Euler step). */
  tau: number;
  /** The cart leaves the track past ±this, m. */
  xThreshold: number;
  /** The pole falls past ±this, degrees. */
  thetaThresholdDeg: number;
  /** Steps after which an episode is truncated (CartPole-v1's time limit). */
  maxSteps: number;
  /** Each component of a reset state is uniform in [-resetRange, resetRange]. */
  resetRange: number;
}

export const cartPoleDefaults: CartPoleConfig = {
  gravity: 9.8,
  massCart: 1.0,
  massPole: 0.1,
  halfLength: 0.5,
  forceMag: 10.0,
  tau: 0.02,
  xThreshold: 2.4,
  thetaThresholdDeg: 12,
  maxSteps: 500,
  resetRange: 0.05,
};

/** Values in one observation: x, x', theta, theta'. */
export const OBS = 4;
/** Actions: 0 pushes left, 1 pushes right. */
export const ACTIONS = 2;

/** What one batched step did to each environment. */
export interface StepOutcome {
  /** Reward of this step, per environment. */
  reward: Float64Array;
  /** The pole fell or the cart left the track: the episode is over, nothing follows it. */
  terminated: Uint8Array;
  /** The time limit ended the episode (and it did not terminate): the state had a future. */
  truncated: Uint8Array;
  /** (B, OBS): the state each environment ended its step in, before any reset. */
  finalObs: Float32Array;
  /** Steps of each environment's episode after this step, before any reset. */
  length: Int32Array;
}

/** What a checkpoint keeps of the environments, as plain JSON numbers (float64, exact). */
export interface CartPoleSnapshot {
  /** (B * OBS) states. */
  state: number[];
  /** Steps of each environment's current episode. */
  steps: number[];
}

/** B CartPoles stepped together; environment i's state is state[4i .. 4i + 3]. */
export class CartPoleBatch {
  /** (B, OBS): x, x', theta, theta' of each environment, float64. */
  readonly state: Float64Array;
  /** Steps taken in each environment's current episode. */
  readonly steps: Int32Array;
  readonly config: CartPoleConfig;
  private readonly outcome: StepOutcome;

  constructor(
    readonly B: number,
    /** Draws the reset states; its state belongs in a checkpoint. */
    private readonly rng: SeededRandom,
    config: Partial<CartPoleConfig> = {},
  ) {
    this.config = { ...cartPoleDefaults, ...config };
    this.state = new Float64Array(B * OBS);
    this.steps = new Int32Array(B);
    this.outcome = {
      reward: new Float64Array(B), terminated: new Uint8Array(B), truncated: new Uint8Array(B), finalObs: new Float32Array(B * OBS),
      length: new Int32Array(B),
    };
  }

  /** Starts a new episode in environment i. */
  reset(i: number): void {
    const r = this.config.resetRange;
    for (let k = 0; k < OBS; k++) this.state[i * OBS + k] = -r + 2 * r * this.rng.next();
    this.steps[i] = 0;
  }

  /** Starts a new episode in every environment, in order. */
  resetAll(): void {
    for (let i = 0; i < this.B; i++) this.reset(i);
  }

  /** (B, OBS) float32 observations of the current states, written into `out`. */
  observe(out: Float32Array): Float32Array {
    for (let k = 0; k < this.B * OBS; k++) out[k] = this.state[k];
    return out;
  }

  /**
   * One step of every environment whose `active` flag is set (all when omitted): pushes by
   * `actions`, integrates, judges, and resets each environment whose episode ended (when
   * `autoReset`). The outcome's arrays are reused by the next call.
   */
  step(actions: ArrayLike<number>, autoReset = true, active?: Uint8Array): StepOutcome {
    const o = this.outcome;
    o.reward.fill(0);
    o.terminated.fill(0);
    o.truncated.fill(0);
    for (let i = 0; i < this.B; i++) {
      if (active && !active[i]) continue;
      const s = i * OBS;
      const done = this.integrate(s, actions[i] === 1 ? 1 : -1);
      this.steps[i]++;
      o.reward[i] = 1;
      o.terminated[i] = done ? 1 : 0;
      o.truncated[i] = !done && this.steps[i] >= this.config.maxSteps ? 1 : 0;
      o.length[i] = this.steps[i];
      for (let k = 0; k < OBS; k++) o.finalObs[s + k] = this.state[s + k];
      if (autoReset && (o.terminated[i] || o.truncated[i])) this.reset(i);
    }
    return o;
  }

  /** Gym's equations of motion for the environment at offset s, then one Euler step; true when it fell. */
  private integrate(s: number, direction: number): boolean {
    const c = this.config;
    const st = this.state;
    const [x, xDot, theta, thetaDot] = [st[s], st[s + 1], st[s + 2], st[s + 3]];
    const totalMass = c.massPole + c.massCart;
    const poleMassLength = c.massPole * c.halfLength;
    const force = direction * c.forceMag;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const temp = (force + poleMassLength * thetaDot * thetaDot * sin) / totalMass;
    const thetaAcc = (c.gravity * sin - cos * temp) / (c.halfLength * (4 / 3 - (c.massPole * cos * cos) / totalMass));
    const xAcc = temp - (poleMassLength * thetaAcc * cos) / totalMass;
    // Explicit Euler as Gym's default: positions move with the old velocities.
    st[s] = x + c.tau * xDot;
    st[s + 1] = xDot + c.tau * xAcc;
    st[s + 2] = theta + c.tau * thetaDot;
    st[s + 3] = thetaDot + c.tau * thetaAcc;
    const limit = (c.thetaThresholdDeg * 2 * Math.PI) / 360;
    return st[s] < -c.xThreshold || st[s] > c.xThreshold || st[s + 2] < -limit || st[s + 2] > limit;
  }

  snapshot(): CartPoleSnapshot {
    return { state: Array.from(this.state), steps: Array.from(this.steps) };
  }

  /** Puts back a snapshot taken of a batch of the same size; false (nothing changed) when it does not fit. */
  restore(snap: CartPoleSnapshot): boolean {
    const fits = (a: unknown, n: number, ok: (v: number) => boolean) =>
      Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && ok(v));
    if (!fits(snap?.state, this.B * OBS, Number.isFinite) || !fits(snap?.steps, this.B, (v) => Number.isInteger(v) && v >= 0)) return false;
    this.state.set(snap.state);
    this.steps.set(snap.steps);
    return true;
  }
}
