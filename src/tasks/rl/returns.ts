// What the losses are weighted by, computed on the CPU over a rollout once it is collected: the
// discounted returns of REINFORCE, GAE(lambda) advantages and their returns for PPO (Schulman
// et al. 2016), and advantage normalisation. Plain float64 loops over arrays laid out (T, B),
// row t * B + i for environment i at step t: a rollout is a few thousand numbers, and every step
// depends on the next one, which is a loop and not a kernel.
// An episode cut by the time limit is not an episode that ended: `nextValue` of its last step is
// the value of the state it was cut in (Pardo et al. 2018), where a terminated one has 0.
// Not here: collecting the rollout (rollout.ts), the losses (agent.ts).

/** A rollout as the return computations read it, each array (T, B). */
export interface RolloutSignals {
  T: number;
  B: number;
  /** Reward of each step. */
  reward: Float64Array;
  /** 1 where the episode ended at this step (terminated or truncated): nothing after it is its future. */
  done: Uint8Array;
  /**
   * The value of the state after each step, as the bootstrap sees it: V(s_{t+1}), or 0 where the
   * episode terminated, or V(the state it was cut in) where it was truncated.
   */
  nextValue: Float64Array;
}

/**
 * Discounted returns G_t = r_t + gamma * (done_t ? nextValue_t : G_{t+1}); after the last step
 * of the rollout the bootstrap is nextValue (0 for an episode that terminated there).
 */
export function discountedReturns(s: RolloutSignals, gamma: number): Float64Array {
  const { T, B } = s;
  const G = new Float64Array(T * B);
  for (let i = 0; i < B; i++) {
    let next = 0;
    for (let t = T - 1; t >= 0; t--) {
      const k = t * B + i;
      next = s.reward[k] + gamma * (s.done[k] || t === T - 1 ? s.nextValue[k] : next);
      G[k] = next;
    }
  }
  return G;
}

/**
 * GAE(lambda): delta_t = r_t + gamma * nextValue_t - V(s_t), A_t = delta_t + gamma * lambda *
 * A_{t+1} within an episode; the returns the value function regresses on are A_t + V(s_t).
 */
export function gae(s: RolloutSignals, value: Float64Array, gamma: number, lambda: number): { advantage: Float64Array; returns: Float64Array } {
  const { T, B } = s;
  const advantage = new Float64Array(T * B);
  const returns = new Float64Array(T * B);
  for (let i = 0; i < B; i++) {
    let next = 0;
    for (let t = T - 1; t >= 0; t--) {
      const k = t * B + i;
      const delta = s.reward[k] + gamma * s.nextValue[k] - value[k];
      next = delta + (s.done[k] || t === T - 1 ? 0 : gamma * lambda * next);
      advantage[k] = next;
      returns[k] = next + value[k];
    }
  }
  return { advantage, returns };
}

/**
 * (x - mean) / (std + 1e-8) over the entries where `valid` is 1 (all when omitted), in place;
 * the others become 0. Keeps the policy step's size independent of the returns' scale.
 */
export function normalize(x: Float64Array, valid?: Uint8Array): Float64Array {
  let n = 0;
  let sum = 0;
  for (let k = 0; k < x.length; k++) if (!valid || valid[k]) (n++, (sum += x[k]));
  const mean = n ? sum / n : 0;
  let sq = 0;
  for (let k = 0; k < x.length; k++) if (!valid || valid[k]) sq += (x[k] - mean) ** 2;
  const std = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  for (let k = 0; k < x.length; k++) x[k] = !valid || valid[k] ? (x[k] - mean) / (std + 1e-8) : 0;
  return x;
}
