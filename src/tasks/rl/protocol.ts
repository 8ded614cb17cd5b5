// The contract between the reinforcement-learning page and its worker: the session's config
// (checked field by field, ConfigError naming the field), what info() says, the events the
// session pushes (status and one record per update: episode returns and lengths, the losses,
// the entropy, the gradient norm, PPO's KL and clip fraction), and the API the worker exposes through comlink,
// with its own call that plays one episode to watch (and the event that sends one periodically). Plain data that survives structured
// cloning; the calls and events every session has come from worker/protocol.ts.
// Not here: the session (session.ts), what it builds (run.ts), the comlink glue (worker.ts,
// client.ts).

import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';
import type { RlAlgorithm } from './agent.js';

export type { RlAlgorithm } from './agent.js';
export const RL_ALGORITHMS: readonly RlAlgorithm[] = ['ppo', 'reinforce'];

export interface RlSessionConfig {
  /** 'ppo' (clipped surrogate, GAE) or 'reinforce' (Monte Carlo returns, a learned baseline). */
  algorithm: RlAlgorithm;
  /** CartPoles stepped together. */
  envs: number;
  /** PPO: steps of every environment per update (REINFORCE plays one whole episode in each). */
  horizon: number;
  /** The time limit: an episode is truncated after this many steps (CartPole-v1: 500). */
  maxEpisodeSteps: number;
  /** Units per hidden layer, and tanh hidden layers, of the policy and of the value network. */
  hidden: number;
  layers: number;
  /** Adam's learning rate (may change between updates). */
  lr: number;
  /** Discount of future rewards. */
  gamma: number;
  /** PPO: GAE's lambda, between one-step TD (0) and Monte Carlo (1) advantages. */
  gaeLambda: number;
  /** PPO: the clip range epsilon of the probability ratio. */
  clip: number;
  /** PPO: passes over each rollout, and minibatches per pass (it must divide envs * horizon). */
  epochs: number;
  minibatches: number;
  /** Weight of the value loss, and of the entropy bonus, in the loss. */
  valueCoef: number;
  entropyCoef: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
  /** Episodes the reported mean return and length are taken over. */
  returnWindow: number;
  /** Play and send one greedy episode from the same start every this many updates (0: only on request). */
  episodeEvery: number;
  /** Seed of the weights, the resets, the actions drawn and the minibatch order. */
  seed: number;
  /** Updates after which a run started with start() stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many updates (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
}

export const rlSessionDefaults: RlSessionConfig = {
  algorithm: 'ppo',
  envs: 16,
  horizon: 64,
  maxEpisodeSteps: 500,
  hidden: 64,
  layers: 2,
  lr: 1e-3,
  gamma: 0.99,
  gaeLambda: 0.95,
  clip: 0.2,
  epochs: 4,
  minibatches: 4,
  valueCoef: 0.5,
  entropyCoef: 0,
  maxGradNorm: 0.5,
  returnWindow: 20,
  episodeEvery: 10,
  seed: 1,
  totalSteps: 0,
  metricsIntervalMs: 250,
  autosaveEvery: 20,
};

/**
 * Defaults that differ for REINFORCE: one gradient step per batch of whole episodes takes a
 * larger step (from seeds 1 to 5, the mean return passes 100 within 8 to 18 updates).
 */
export const reinforceDefaults: Partial<RlSessionConfig> = { envs: 8, lr: 2e-2 };

/** The defaults of an algorithm. */
export function algorithmDefaults(algorithm: RlAlgorithm): RlSessionConfig {
  return { ...rlSessionDefaults, algorithm, ...(algorithm === 'reinforce' ? reinforceDefaults : {}) };
}

/** Fields a checkpoint brings with it (the model, its environments and training settings); the others stay as the page set them. */
export const SAVED_KEYS = [
  'algorithm', 'envs', 'horizon', 'maxEpisodeSteps', 'hidden', 'layers', 'lr', 'gamma', 'gaeLambda', 'clip', 'epochs', 'minibatches',
  'valueCoef', 'entropyCoef', 'maxGradNorm', 'returnWindow', 'seed',
] as const satisfies readonly (keyof RlSessionConfig)[];

/** Fields setHyper may change between updates. */
export type RlHyper = Pick<
  RlSessionConfig,
  'lr' | 'gamma' | 'gaeLambda' | 'clip' | 'epochs' | 'valueCoef' | 'entropyCoef' | 'episodeEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'
>;
export const HYPER_KEYS: readonly (keyof RlHyper)[] = [
  'lr', 'gamma', 'gaeLambda', 'clip', 'epochs', 'valueCoef', 'entropyCoef', 'episodeEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery',
];

/** Rows REINFORCE's gradient step may hold: every step of every episode of an update, padded to the time limit. */
const REINFORCE_ROWS = 1 << 18;

/** A full config from the algorithm's defaults and the overrides; every field checked, before any GPU work. */
export function rlSessionConfig(overrides: Partial<RlSessionConfig> = {}): RlSessionConfig {
  refuseUnknown('rl', overrides, rlSessionDefaults);
  const algorithm = overrides.algorithm ?? rlSessionDefaults.algorithm;
  const c: RlSessionConfig = { ...(RL_ALGORITHMS.includes(algorithm) ? algorithmDefaults(algorithm) : rlSessionDefaults), ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('rl', c);
  if (!RL_ALGORITHMS.includes(c.algorithm)) fail('algorithm', `one of ${RL_ALGORITHMS.map((s) => `'${s}'`).join(', ')}`);
  integers([
    ['envs', 1, 1024], ['horizon', 1, 4096], ['maxEpisodeSteps', 1, 100_000], ['hidden', 1, 1024], ['layers', 1, 8], ['epochs', 1, 100],
    ['minibatches', 1, 1 << 16], ['returnWindow', 1, 10_000], ['episodeEvery', 0, Number.MAX_SAFE_INTEGER],
    ['totalSteps', 0, Number.MAX_SAFE_INTEGER], ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
  ]);
  const unit = (k: 'gamma' | 'gaeLambda') => {
    if (!(typeof c[k] === 'number' && c[k] >= 0 && c[k] <= 1)) fail(k, 'a number in [0, 1]');
  };
  unit('gamma');
  unit('gaeLambda');
  if (!(typeof c.clip === 'number' && c.clip > 0 && c.clip < 1)) fail('clip', 'a number in (0, 1)');
  for (const k of ['lr', 'valueCoef', 'entropyCoef', 'maxGradNorm', 'metricsIntervalMs'] as const) nonNegative(k);
  if (c.algorithm === 'ppo' && (c.envs * c.horizon) % c.minibatches !== 0) {
    fail('minibatches', `a divisor of envs * horizon = ${c.envs * c.horizon}, so every minibatch has the same rows`);
  }
  if (c.algorithm === 'reinforce' && c.envs * c.maxEpisodeSteps > REINFORCE_ROWS) {
    fail('envs', `at most ${Math.floor(REINFORCE_ROWS / c.maxEpisodeSteps)} for episodes of up to ${c.maxEpisodeSteps} steps (REINFORCE's gradient step holds envs * maxEpisodeSteps rows)`);
  }
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  return c;
}

export interface RlInfo extends BaseInfo<RlSessionConfig> {
  /** Parameters of the policy and of the value network. */
  policyParams: number;
  valueParams: number;
  /** Environment steps taken, and episodes that ended, since the run began. */
  envSteps: number;
  episodes: number;
}

/** One update: a rollout and the gradient steps on it. */
export interface RlStepRecord {
  step: number;
  /** Environment steps and ended episodes since the run began. */
  envSteps: number;
  episodes: number;
  /** Mean return and length of the last returnWindow episodes that ended (NaN before the first). */
  meanReturn: number;
  meanLength: number;
  /** Means over the update's gradient steps. */
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  /** The global gradient norm before clipping (to maxGradNorm). */
  gradNorm: number;
  /** PPO: mean of the estimate (r - 1) - log r of KL(old || new), and the share of rows whose ratio was clipped; NaN for REINFORCE. */
  approxKl: number;
  clipFraction: number;
  lr: number;
  /** Wall time of the update, in ms. */
  ms: number;
}

/** Records since the previous metrics event, in step order. */
export interface RlMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: RlStepRecord[];
}

/** One greedy episode of the current policy from the same start (EPISODE_SEED), every episodeEvery updates. */
export type RlEpisodeEvent = { type: 'episode'; step: number } & RlEpisode;

export type RlEvent = CoreEvent<RlInfo> | RlMetricsEvent | RlEpisodeEvent;

/** One episode played by the current policy, to watch. */
export interface RlEpisode {
  /** (length + 1, 4): x, x', theta, theta' from the reset state to the last one. */
  states: Float32Array;
  /** (length): the action taken in each state (0 left, 1 right). */
  actions: Int32Array;
  /** Probability of pushing right in each state. */
  pRight: Float32Array;
  /** The value network's estimate in each state: the discounted return it expects from there. */
  values: Float32Array;
  length: number;
  /** How it ended: the pole fell or the cart left the track, or the time limit. */
  ended: 'terminated' | 'truncated';
}

/** The seed of the periodic episodes' start, the default of episode(). */
export const EPISODE_SEED = 0;

/** What a played episode draws its actions by. */
export interface EpisodeOptions {
  /** Seed of its reset state and of its actions (default EPISODE_SEED). */
  seed?: number;
  /** true: the likelier action every step; false (default): drawn from the policy. */
  greedy?: boolean;
}

/** What the RL worker exposes: every session's calls, and an episode to watch. */
export interface RlApi extends SessionApi<RlSessionConfig, RlHyper, RlInfo, RlEvent, { step: number; meanReturn: number; policyLoss: number }> {
  /** Plays one episode with the current policy in an environment of its own (training's state is untouched). */
  episode(opts?: EpisodeOptions): Promise<RlEpisode>;
}

/** Every RlApi method, in the order the worker serves them. */
export const RL_METHODS = [...SESSION_METHODS, 'episode'] as const satisfies readonly (keyof RlApi)[];
