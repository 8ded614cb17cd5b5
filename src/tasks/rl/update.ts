// One update of each algorithm: collect a rollout with the current policy, weigh it on the CPU,
// and take the gradient steps on the GPU.
// PPO (Schulman et al. 2017): a fixed horizon of every environment, GAE(lambda) advantages
// normalised over the rollout, then `epochs` passes over it in `minibatches` shuffled minibatches
// (the order from the seeded generator); every step is submitted before the first result is
// awaited, since none depends on a result. The approximate KL, (r - 1) - log r averaged (Schulman's
// estimator), and the share of clipped ratios are computed from each minibatch's log
// probabilities before its step, as Stable-Baselines3 reports them.
// REINFORCE with a baseline (Williams 1992; Sutton & Barto, sec. 13.4): one whole episode in every
// environment, discounted returns G_t, advantages G_t - V(s_t) normalised over the valid rows,
// and one gradient step on all of them, the value network regressing on G_t.
// Not here: building the run (run.ts), collecting (rollout.ts), the returns (returns.ts), the
// losses (agent.ts).

import { OBS } from './cartpole.js';
import type { TrainResult, TrainRows } from './agent.js';
import { discountedReturns, gae, normalize } from './returns.js';
import { collectEpisodes, collectHorizon } from './rollout.js';
import type { RlRun } from './run.js';
import type { RlStepRecord } from './protocol.js';

/** What an update reports, besides the step and its time. */
export type UpdateReport = Omit<RlStepRecord, 'step' | 'ms'>;

/** Rows of one gradient step, zeroed. */
function rowsOf(n: number): TrainRows {
  return {
    obs: new Float32Array(n * OBS), action: new Int32Array(n), advantage: new Float32Array(n), returns: new Float32Array(n),
    oldLogp: new Float32Array(n), weight: new Float32Array(n),
  };
}

/** The means over the gradient steps of an update. */
function meanOf(results: TrainResult[], key: 'policyLoss' | 'valueLoss' | 'entropy' | 'gradNorm'): number {
  return results.reduce((s, x) => s + x[key], 0) / results.length;
}

/** One update of `r`'s algorithm; the updates counter moves once its steps are done. */
export async function update(r: RlRun): Promise<UpdateReport> {
  const report = r.config.algorithm === 'ppo' ? await ppoUpdate(r) : await reinforceUpdate(r);
  r.updates++;
  return report;
}

async function ppoUpdate(r: RlRun): Promise<UpdateReport> {
  const c = r.config;
  const roll = r.rollout;
  await collectHorizon(r.agent, r.env, r.rngs.action, r.stats, roll);
  const { advantage, returns } = gae(roll, roll.value, c.gamma, c.gaeLambda);
  normalize(advantage);
  const N = roll.T * roll.B;
  const M = N / c.minibatches;
  const rows = rowsOf(M);
  rows.weight.fill(1 / M);
  const order = Int32Array.from({ length: N }, (_, k) => k);
  const steps: { result: Promise<TrainResult>; picked: Int32Array }[] = [];
  const scalars = { clip: c.clip, valueCoef: c.valueCoef, entropyCoef: c.entropyCoef };
  for (let epoch = 0; epoch < c.epochs; epoch++) {
    shuffle(order, r);
    for (let j = 0; j < c.minibatches; j++) {
      const picked = order.slice(j * M, (j + 1) * M);
      picked.forEach((k, m) => {
        rows.obs.set(roll.obs.subarray(k * OBS, (k + 1) * OBS), m * OBS);
        rows.action[m] = roll.action[k];
        rows.advantage[m] = advantage[k];
        rows.returns[m] = returns[k];
        rows.oldLogp[m] = roll.logp[k];
      });
      steps.push({ result: r.agent.train(rows, scalars), picked }); // feeds written: rows may be refilled
    }
  }
  const results = await Promise.all(steps.map((s) => s.result));
  let kl = 0;
  let clipped = 0;
  results.forEach((x, s) => {
    steps[s].picked.forEach((k, m) => {
      const logRatio = x.logp[m] - roll.logp[k];
      const ratio = Math.exp(logRatio);
      kl += ratio - 1 - logRatio;
      if (Math.abs(ratio - 1) > c.clip) clipped++;
    });
  });
  const counted = results.length * M;
  return {
    ...r.stats.means(), envSteps: r.stats.envSteps, episodes: r.stats.episodes,
    policyLoss: meanOf(results, 'policyLoss'), valueLoss: meanOf(results, 'valueLoss'), entropy: meanOf(results, 'entropy'),
    gradNorm: meanOf(results, 'gradNorm'),
    approxKl: kl / counted, clipFraction: clipped / counted, lr: r.agent.optimizer.config.lr as number,
  };
}

/** Fisher-Yates with the run's minibatch generator. */
function shuffle(order: Int32Array, r: RlRun): void {
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.min(k, Math.floor(r.rngs.shuffle.next() * (k + 1)));
    [order[k], order[j]] = [order[j], order[k]];
  }
}

async function reinforceUpdate(r: RlRun): Promise<UpdateReport> {
  const c = r.config;
  const roll = r.rollout;
  await collectEpisodes(r.agent, r.env, r.rngs.action, r.stats, roll);
  const G = discountedReturns(roll, c.gamma);
  const advantage = normalize(G.map((g, k) => g - roll.value[k]), roll.valid);
  const N = roll.T * roll.B;
  const rows = rowsOf(N);
  const valid = roll.valid.reduce((s, v) => s + v, 0);
  rows.obs.set(roll.obs);
  rows.action.set(roll.action);
  for (let k = 0; k < N; k++) {
    rows.advantage[k] = advantage[k];
    rows.returns[k] = roll.valid[k] ? G[k] : 0;
    rows.weight[k] = roll.valid[k] / valid;
  }
  const x = await r.agent.train(rows, { clip: 0, valueCoef: c.valueCoef, entropyCoef: c.entropyCoef });
  return {
    ...r.stats.means(), envSteps: r.stats.envSteps, episodes: r.stats.episodes,
    policyLoss: x.policyLoss, valueLoss: x.valueLoss, entropy: x.entropy, gradNorm: x.gradNorm, approxKl: NaN, clipFraction: NaN,
    lr: r.agent.optimizer.config.lr as number,
  };
}
