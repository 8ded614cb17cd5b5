// Collecting experience: the policy acts in the batched CartPole and what happened is written
// into (T, B) arrays, row t * B + i for environment i at step t. Two ways, one per algorithm:
// PPO plays a fixed horizon in environments that carry on across updates (each reset as its
// episode ends), REINFORCE plays one whole episode in every environment from a fresh reset.
// Actions are drawn on the CPU from the softmax of the logits read back, with the seeded
// generator: the logits come back anyway to step the environments, and a draw on the host is
// one uniform number and is saved in checkpoints with the generator's state.
// Episode bookkeeping (returns of the episodes that ended, over a window, and the totals) is
// here too, and what a checkpoint keeps of it.
// Not here: the environment's physics (cartpole.ts), returns and advantages (returns.ts), the
// networks (agent.ts).

import type { SeededRandom } from '../../data/random.js';
import type { Agent } from './agent.js';
import { ACTIONS, OBS, type CartPoleBatch, type StepOutcome } from './cartpole.js';
import type { RolloutSignals } from './returns.js';

/** One rollout: the signals the returns read, and what the policy saw, did and estimated. */
export interface Rollout extends RolloutSignals {
  /** (T * B, OBS) observations the policy acted on. */
  obs: Float32Array;
  action: Int32Array;
  /** log pi(a|s) of the chosen action under the policy that acted (float64 from its f32 logits). */
  logp: Float64Array;
  /** V(s) of each step's observation, by the value network that acted. */
  value: Float64Array;
  /** 1 for rows that hold a step (REINFORCE pads after each episode's end). */
  valid: Uint8Array;
}

/** A rollout of T steps of B environments, zeroed. */
export function emptyRollout(T: number, B: number): Rollout {
  const n = T * B;
  return {
    T, B, reward: new Float64Array(n), done: new Uint8Array(n), nextValue: new Float64Array(n),
    obs: new Float32Array(n * OBS), action: new Int32Array(n), logp: new Float64Array(n), value: new Float64Array(n), valid: new Uint8Array(n),
  };
}

/** What a checkpoint keeps of the episode bookkeeping (JSON numbers). */
export interface EpisodeSnapshot {
  running: number[];
  recentReturns: number[];
  recentLengths: number[];
  episodes: number;
  envSteps: number;
}

/** The returns and lengths of the episodes that ended, over a window, and the totals. */
export class EpisodeStats {
  /** Return so far of each environment's current episode. */
  running: Float64Array;
  recentReturns: number[] = [];
  recentLengths: number[] = [];
  episodes = 0;
  envSteps = 0;

  constructor(
    B: number,
    /** Episodes the means are taken over. */
    private readonly window: number,
  ) {
    this.running = new Float64Array(B);
  }

  /** Counts one batched step of the environments that are `active` (all when omitted). */
  record(o: StepOutcome, active?: Uint8Array): void {
    for (let i = 0; i < this.running.length; i++) {
      if (active && !active[i]) continue;
      this.envSteps++;
      this.running[i] += o.reward[i];
      if (o.terminated[i] || o.truncated[i]) {
        this.recentReturns.push(this.running[i]);
        this.recentLengths.push(o.length[i]);
        if (this.recentReturns.length > this.window) (this.recentReturns.shift(), this.recentLengths.shift());
        this.episodes++;
        this.running[i] = 0;
      }
    }
  }

  /** Mean return and length over the window (NaN before the first episode ends). */
  means(): { meanReturn: number; meanLength: number } {
    const avg = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN);
    return { meanReturn: avg(this.recentReturns), meanLength: avg(this.recentLengths) };
  }

  snapshot(): EpisodeSnapshot {
    const { recentReturns, recentLengths, episodes, envSteps } = this;
    return { running: Array.from(this.running), recentReturns: [...recentReturns], recentLengths: [...recentLengths], episodes, envSteps };
  }

  /** Puts back a snapshot of bookkeeping of the same size; false (nothing changed) when it does not fit. */
  restore(s: EpisodeSnapshot): boolean {
    const numbers = (a: unknown, n?: number) =>
      Array.isArray(a) && (n === undefined ? a.length <= this.window : a.length === n) && a.every((v) => typeof v === 'number' && Number.isFinite(v));
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!(numbers(s?.running, this.running.length) && numbers(s.recentReturns) && numbers(s.recentLengths) &&
      s.recentReturns.length === s.recentLengths.length && count(s.episodes) && count(s.envSteps))) return false;
    this.running.set(s.running);
    this.recentReturns = [...s.recentReturns];
    this.recentLengths = [...s.recentLengths];
    this.episodes = s.episodes;
    this.envSteps = s.envSteps;
    return true;
  }
}

/**
 * Draws one action per row from the softmax of `logits` (B, ACTIONS) with `rng`: the action
 * whose cumulative probability first exceeds a uniform draw. Writes the action and its log
 * probability (in float64, from the f32 logits) at `at + i`.
 */
export function sampleActions(logits: Float32Array, rng: SeededRandom, action: Int32Array, logp: Float64Array, at: number, active?: Uint8Array): void {
  const B = logits.length / ACTIONS;
  for (let i = 0; i < B; i++) {
    if (active && !active[i]) continue;
    const row = i * ACTIONS;
    let m = -Infinity;
    for (let a = 0; a < ACTIONS; a++) m = Math.max(m, logits[row + a]);
    let total = 0;
    for (let a = 0; a < ACTIONS; a++) total += Math.exp(logits[row + a] - m);
    const u = rng.next() * total;
    let pick = ACTIONS - 1;
    let acc = 0;
    for (let a = 0; a < ACTIONS; a++) {
      acc += Math.exp(logits[row + a] - m);
      if (u < acc) {
        pick = a;
        break;
      }
    }
    action[at + i] = pick;
    logp[at + i] = logits[row + pick] - m - Math.log(total);
  }
}

/** Where truncated episodes ended: the row of their last step and the state they were cut in. */
type Cut = { row: number; obs: Float32Array };

/** V of each cut state, by B at a time through the acting plan, written into nextValue. */
async function bootstrapCuts(agent: Agent, cuts: Cut[], r: Rollout): Promise<void> {
  const B = r.B;
  const batch = new Float32Array(B * OBS);
  for (let at = 0; at < cuts.length; at += B) {
    const part = cuts.slice(at, at + B);
    batch.fill(0);
    part.forEach((c, j) => batch.set(c.obs, j * OBS));
    const { value } = await agent.act(batch);
    part.forEach((c, j) => (r.nextValue[c.row] = value[j]));
  }
}

/** Writes one batched step's outcome into row block t; remembers the truncated ones. */
function store(r: Rollout, t: number, o: StepOutcome, cuts: Cut[], active?: Uint8Array): void {
  const B = r.B;
  for (let i = 0; i < B; i++) {
    if (active && !active[i]) continue;
    const k = t * B + i;
    r.valid[k] = 1;
    r.reward[k] = o.reward[i];
    r.done[k] = o.terminated[i] || o.truncated[i] ? 1 : 0;
    if (o.truncated[i]) cuts.push({ row: k, obs: o.finalObs.slice(i * OBS, (i + 1) * OBS) });
  }
}

/**
 * PPO's rollout: `r.T` steps of every environment, continuing the episodes in progress. The
 * bootstrap after the last step is V of the state the environments are left in.
 */
export async function collectHorizon(agent: Agent, env: CartPoleBatch, rng: SeededRandom, stats: EpisodeStats, r: Rollout): Promise<void> {
  const { T, B } = r;
  const cuts: Cut[] = [];
  const obs = new Float32Array(B * OBS);
  for (let t = 0; t < T; t++) {
    env.observe(obs);
    r.obs.set(obs, t * B * OBS);
    const { logits, value } = await agent.act(obs);
    for (let i = 0; i < B; i++) r.value[t * B + i] = value[i];
    sampleActions(logits, rng, r.action, r.logp, t * B);
    const o = env.step(r.action.subarray(t * B, (t + 1) * B));
    stats.record(o);
    store(r, t, o, cuts);
  }
  const { value: last } = await agent.act(env.observe(obs));
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < B; i++) {
      const k = t * B + i;
      r.nextValue[k] = r.done[k] ? 0 : t < T - 1 ? r.value[k + B] : last[i];
    }
  }
  await bootstrapCuts(agent, cuts, r);
}

/**
 * REINFORCE's rollout: every environment reset and played to the end of one episode; rows after
 * an episode's end are left invalid (zero weight). `r.T` is the time limit.
 */
export async function collectEpisodes(agent: Agent, env: CartPoleBatch, rng: SeededRandom, stats: EpisodeStats, r: Rollout): Promise<void> {
  const { T, B } = r;
  for (const a of [r.reward, r.done, r.nextValue, r.obs, r.action, r.logp, r.value, r.valid]) a.fill(0);
  env.resetAll();
  stats.running.fill(0);
  const active = new Uint8Array(B).fill(1);
  const cuts: Cut[] = [];
  const obs = new Float32Array(B * OBS);
  for (let t = 0; t < T && active.includes(1); t++) {
    env.observe(obs);
    const { logits, value } = await agent.act(obs);
    for (let i = 0; i < B; i++) {
      if (!active[i]) continue;
      r.obs.set(obs.subarray(i * OBS, (i + 1) * OBS), (t * B + i) * OBS);
      r.value[t * B + i] = value[i];
    }
    sampleActions(logits, rng, r.action, r.logp, t * B, active);
    const o = env.step(r.action.subarray(t * B, (t + 1) * B), false, active);
    stats.record(o, active);
    store(r, t, o, cuts, active);
    for (let i = 0; i < B; i++) if (o.terminated[i] || o.truncated[i]) active[i] = 0;
  }
  await bootstrapCuts(agent, cuts, r);
}

