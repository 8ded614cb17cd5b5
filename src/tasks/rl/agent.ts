// The learner of the RL task: a policy MLP (observation -> tanh hidden layers -> one logit per
// action) and a separate value MLP (-> one number), one fused Adam over both with global
// gradient-norm clipping, and two compiled plans: `act` (the logits and values of B
// observations, run once per environment step of a rollout) and `train` (one gradient step on
// N rows: the policy loss, the value loss and the entropy bonus, with their values read back).
// The policy loss is REINFORCE's -mean(log pi(a|s) * A) or PPO's clipped surrogate
// -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)) with r = exp(log pi(a|s) - log pi_old(a|s))
// (Schulman et al. 2017); the value loss is mean((V(s) - R)^2); the entropy is that of the
// softmax of each row's logits. Every mean is a sum weighted by a fed per-row weight, so padded
// rows (weight 0) of a batch of whole episodes cost compute and nothing else. The clip range and
// the coefficients are fed each step, so changing them recompiles nothing.
// The losses are composed from the registry's ops, so they need no op of their own: log pi(a|s)
// is -crossEntropy of the row (its fused backward), the clip is maximum/minimum against the fed
// range, the log-softmax of the entropy is z - logsumexp(z) with the max held constant.
// Not here: the environment, sampling and returns (cartpole.ts, rollout.ts, returns.ts), the
// update loops (update.ts).

import type { Engine } from '../../engine.js';
import type { Plan } from '../../executor.js';
import { calculateGain, xavierUniform } from '../../nn/init.js';
import { add, maximum, minimum, mul, sub } from '../../ops/binary.js';
import { crossEntropy } from '../../ops/crossentropy.js';
import { detach } from '../../ops/identity.js';
import { matmul } from '../../ops/matmul.js';
import { max, sum } from '../../ops/reduce.js';
import { reshape } from '../../ops/shape.js';
import { addScalar, exp, full, log, mulScalar, neg, tanh } from '../../ops/unary.js';
import { createOptimizer, type FusedOptimizer } from '../../optim/fused.js';
import { input, parameter, type Tensor } from '../../tensor.js';
import { ACTIONS, OBS } from './cartpole.js';

export type RlAlgorithm = 'ppo' | 'reinforce';

/** What the learner is built from (a subset of the session's config). */
export interface AgentConfig {
  algorithm: RlAlgorithm;
  /** Units per hidden layer, and hidden layers, of each network. */
  hidden: number;
  layers: number;
  /** Environments stepped together: the rows of `act`. */
  envs: number;
  /** Rows of one gradient step. */
  rows: number;
  /** Adam's learning rate. */
  lr: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
  /** Seed of the weights. */
  seed: number;
}

/** The per-step values `train` is fed, besides the rows. */
export interface TrainScalars {
  /** PPO's clip range epsilon (unused by REINFORCE). */
  clip: number;
  /** Weight of the value loss and of the entropy bonus in the loss. */
  valueCoef: number;
  entropyCoef: number;
}

/** One gradient step's rows, each array N long (obs N * OBS). */
export interface TrainRows {
  obs: Float32Array;
  action: Int32Array;
  advantage: Float32Array;
  returns: Float32Array;
  /** log pi_old(a|s) of the policy that acted (PPO). */
  oldLogp: Float32Array;
  /** Each row's share of every mean: 1 / (rows counted) or 0 for padding. */
  weight: Float32Array;
}

/** What one gradient step reads back. */
export interface TrainResult {
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  /** The global gradient norm, before clipping. */
  gradNorm: number;
  /** log pi(a|s) of each row before the step (for PPO's KL and clip fraction). */
  logp: Float32Array;
}

/** An MLP of tanh hidden layers; its weights are named `${name}.${i}.weight` / `.bias`. */
interface Mlp {
  params: Tensor[];
  apply(x: Tensor): Tensor;
}

/**
 * Glorot-uniform hidden layers with tanh's gain; the last layer's gain is `outGain`: 0.01 for
 * the policy, so it starts near uniform (largest entropy), 1 for the value.
 */
function mlp(name: string, sizes: number[], seed: number, stream: number, outGain: number): Mlp {
  const layers = sizes.slice(1).map((out, i) => {
    const last = i === sizes.length - 2;
    const w = parameter(`${name}.${i}.weight`, xavierUniform([sizes[i], out], seed, { gain: last ? outGain : calculateGain('tanh'), offset: stream + i }));
    const b = parameter(`${name}.${i}.bias`, full([out], 0));
    return { w, b, last };
  });
  return {
    params: layers.flatMap((l) => [l.w, l.b]),
    apply(x) {
      let h = x;
      for (const l of layers) {
        h = matmul(h, l.w, { bias: l.b });
        if (!l.last) h = tanh(h);
      }
      return h;
    },
  };
}

/** log softmax over the last axis: z - logsumexp(z); the max is only a shift, so it is held constant. */
function logSoftmax(z: Tensor): Tensor {
  const m = detach(max(z, -1, true)); // (N, 1)
  const shifted = sub(z, m);
  return sub(shifted, log(sum(exp(shifted), -1, true)));
}

/** What the losses read of a batch of N rows: (N) tensors, and () for the clip range and the coefficients. */
export interface LossInputs {
  action: Tensor;
  advantage: Tensor;
  returns: Tensor;
  /** Each row's share of every mean (0 for padding). */
  weight: Tensor;
  /** PPO: log pi_old(a|s), and the clip range epsilon (REINFORCE's graph does not read them). */
  oldLogp: Tensor;
  clip: Tensor;
  valueCoef: Tensor;
  entropyCoef: Tensor;
}

/**
 * The losses of `algorithm` from the logits z (N, ACTIONS) and values v (N): the policy loss, the
 * value loss, the mean entropy, log pi(a|s) of each row, and the loss minimised,
 * policyLoss + valueCoef * valueLoss - entropyCoef * entropy (all scalars but logp).
 */
export function rlLosses(algorithm: RlAlgorithm, z: Tensor, v: Tensor, b: LossInputs) {
  const logp = neg(crossEntropy(z, b.action)); // (N)
  const wmean = (t: Tensor) => sum(mul(b.weight, t));
  let policyLoss: Tensor;
  if (algorithm === 'ppo') {
    const ratio = exp(sub(logp, b.oldLogp));
    const clipped = minimum(maximum(ratio, addScalar(neg(b.clip), 1)), addScalar(b.clip, 1));
    // On a tie the gradient goes to the unclipped term, which is the one that has it.
    policyLoss = neg(wmean(minimum(mul(ratio, b.advantage), mul(clipped, b.advantage))));
  } else {
    policyLoss = neg(wmean(mul(logp, b.advantage)));
  }
  const err = sub(v, b.returns);
  const valueLoss = wmean(mul(err, err));
  const lsm = logSoftmax(z); // (N, ACTIONS)
  const entropy = wmean(neg(sum(mul(exp(lsm), lsm), -1)));
  const loss = add(add(policyLoss, mul(b.valueCoef, valueLoss)), mulScalar(mul(b.entropyCoef, entropy), -1));
  return { policyLoss, valueLoss, entropy, logp, loss };
}

export class Agent {
  private constructor(
    readonly config: AgentConfig,
    readonly policy: Mlp,
    readonly value: Mlp,
    readonly optimizer: FusedOptimizer,
    private readonly actPlan: Plan,
    private readonly trainPlan: Plan,
  ) {}

  static async create(engine: Engine, c: AgentConfig): Promise<Agent> {
    const hidden = Array<number>(c.layers).fill(c.hidden);
    const policy = mlp('policy', [OBS, ...hidden, ACTIONS], c.seed, 0, 0.01);
    const value = mlp('value', [OBS, ...hidden, 1], c.seed, c.layers + 1, 1);
    // PPO's usual Adam: eps 1e-5, no weight decay.
    const optimizer = await createOptimizer(engine, [...policy.params, ...value.params], {
      kind: 'adamw', lr: c.lr, eps: 1e-5, weightDecay: 0, maxGradNorm: c.maxGradNorm,
    });

    const B = c.envs;
    const x = input('obs', [B, OBS]);
    const actPlan = await engine.compile({
      outputs: { logits: policy.apply(x), value: reshape(value.apply(x), [B]) }, // (B, ACTIONS), (B)
      label: 'the policy acting',
    });

    const N = c.rows;
    const obs = input('obs', [N, OBS]);
    const losses = rlLosses(c.algorithm, policy.apply(obs), reshape(value.apply(obs), [N]), {
      action: input('action', [N], 'i32'), advantage: input('advantage', [N]), returns: input('returns', [N]), weight: input('weight', [N]),
      oldLogp: input('oldLogp', [N]), clip: input('clip', []), valueCoef: input('valueCoef', []), entropyCoef: input('entropyCoef', []),
    });
    const { policyLoss, valueLoss, entropy, logp } = losses;
    const trainPlan = await engine.compile({
      outputs: { policyLoss, valueLoss, entropy, logp }, // (), (), (), (N)
      optimizer: optimizer.minimize(losses.loss),
      label: `the ${c.algorithm === 'ppo' ? 'PPO' : 'REINFORCE'} step`,
    });
    return new Agent(c, policy, value, optimizer, actPlan, trainPlan);
  }

  /** Logits (B, ACTIONS) and values (B) of B observations (B, OBS). */
  async act(obs: Float32Array): Promise<{ logits: Float32Array; value: Float32Array }> {
    const out = await this.actPlan.run({ obs });
    return { logits: out.logits as Float32Array, value: out.value as Float32Array };
  }

  /**
   * Submits one gradient step at once (the feeds are written before it returns, so the caller may
   * refill `rows` for the next one); resolves with what it read back.
   */
  train(rows: TrainRows, s: TrainScalars): Promise<TrainResult> {
    const feeds: Record<string, Float32Array | Int32Array | number> = {
      obs: rows.obs, action: rows.action, advantage: rows.advantage, returns: rows.returns, weight: rows.weight,
      valueCoef: s.valueCoef, entropyCoef: s.entropyCoef,
    };
    if (this.config.algorithm === 'ppo') Object.assign(feeds, { oldLogp: rows.oldLogp, clip: s.clip });
    return this.trainPlan.run(feeds, ['policyLoss', 'valueLoss', 'entropy', 'logp', 'gradNorm']).then((o) => ({
      policyLoss: o.policyLoss[0], valueLoss: o.valueLoss[0], entropy: o.entropy[0], gradNorm: o.gradNorm[0], logp: o.logp as Float32Array,
    }));
  }

  /** Parameters by state_dict name ('policy.0.weight', 'value.2.bias'). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.policy.params, ...this.value.params].map((p) => [p.label, p]));
  }

  /** Frees the plans, the optimizer and the weights. */
  dispose(engine: Engine): void {
    this.actPlan.dispose();
    this.trainPlan.dispose();
    this.optimizer.dispose();
    for (const p of [...this.policy.params, ...this.value.params]) engine.freeParameter(p);
  }
}
