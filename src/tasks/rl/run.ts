// What one RL session holds and everything done to it outside an update: building the
// environments, the learner and the generators from a checked config; playing one episode to
// watch; and the checkpoint's contents, written and read back into a freshly built run (the
// caller swaps it in only once the load succeeded).
// A checkpoint holds the policy and value weights under their state_dict names, Adam's moments
// and counters, the update count, the states of the generators of resets, actions and minibatch
// order, and (in the metadata's config, as JSON numbers, which are exact for float64) the
// environments' states, their episodes in progress and the episode bookkeeping: a loaded run
// continues exactly as the saved one would have.
// Not here: the updates (update.ts), the loop, events and API (session.ts), the contract
// (protocol.ts).

import { loadCheckpoint, type CheckpointContents } from '../../checkpoint/checkpoint.js';
import { SeededRandom } from '../../data/random.js';
import type { Engine } from '../../engine.js';
import { CheckpointError } from '../../errors.js';
import { pickSaved, savedSection, usableConfig } from '../../worker/saved-config.js';
import { Agent } from './agent.js';
import { ACTIONS, CartPoleBatch, OBS, type CartPoleSnapshot } from './cartpole.js';
import { EPISODE_SEED, rlSessionConfig, SAVED_KEYS, type EpisodeOptions, type RlEpisode, type RlSessionConfig } from './protocol.js';
import { EpisodeStats, emptyRollout, sampleActions, type EpisodeSnapshot, type Rollout } from './rollout.js';

// Seeds derived from the config's, so weights, resets, actions and minibatch order draw separate streams.
const envSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x2c1b3c6d) >>> 0;
const actionSeed = (seed: number) => (seed ^ 0x297a2d39) >>> 0;
const shuffleSeed = (seed: number) => (seed ^ 0x5bd1e995) >>> 0;

/** Everything built from one config. */
export interface RlRun {
  config: RlSessionConfig;
  agent: Agent;
  env: CartPoleBatch;
  stats: EpisodeStats;
  /** Draws the environments' reset states, the actions, and the minibatch order; their states go into checkpoints. */
  rngs: { env: SeededRandom; action: SeededRandom; shuffle: SeededRandom };
  /** The rollout buffer, reused by every update. */
  rollout: Rollout;
  /** Updates completed. */
  updates: number;
}

/** Rows of one gradient step: a PPO minibatch, or every row of a REINFORCE batch of whole episodes. */
export function trainRows(c: RlSessionConfig): number {
  return c.algorithm === 'ppo' ? (c.envs * c.horizon) / c.minibatches : c.envs * c.maxEpisodeSteps;
}

/** Environments, learner and generators for `config`, weights fresh from its seed, every environment reset. */
export async function buildRun(engine: Engine, config: RlSessionConfig): Promise<RlRun> {
  const agent = await Agent.create(engine, {
    algorithm: config.algorithm, hidden: config.hidden, layers: config.layers, envs: config.envs, rows: trainRows(config),
    lr: config.lr, maxGradNorm: config.maxGradNorm, seed: config.seed,
  });
  const rngs = { env: new SeededRandom(envSeed(config.seed)), action: new SeededRandom(actionSeed(config.seed)), shuffle: new SeededRandom(shuffleSeed(config.seed)) };
  const env = new CartPoleBatch(config.envs, rngs.env, { maxSteps: config.maxEpisodeSteps });
  env.resetAll();
  const T = config.algorithm === 'ppo' ? config.horizon : config.maxEpisodeSteps;
  return { config, agent, env, stats: new EpisodeStats(config.envs, config.returnWindow), rngs, rollout: emptyRollout(T, config.envs), updates: 0 };
}

export function freeRun(engine: Engine, r: RlRun): void {
  r.agent.dispose(engine);
}

/**
 * One episode in an environment of its own, from a reset drawn from `seed`, the actions drawn
 * (or the likelier one taken) from the current policy. Runs the acting plan with the episode's
 * state in row 0.
 */
export async function playEpisode(r: RlRun, opts: EpisodeOptions = {}): Promise<RlEpisode> {
  const rng = new SeededRandom(opts.seed ?? EPISODE_SEED);
  const env = new CartPoleBatch(1, rng, r.env.config);
  env.reset(0);
  const obs = new Float32Array(r.config.envs * OBS);
  const states: number[] = Array.from(env.state);
  const actions: number[] = [];
  const pRight: number[] = [];
  const values: number[] = [];
  const action = new Int32Array(r.config.envs);
  const logp = new Float64Array(r.config.envs);
  for (;;) {
    env.observe(obs);
    const { logits, value } = await r.agent.act(obs);
    const row = logits.subarray(0, ACTIONS);
    const p1 = 1 / (1 + Math.exp(row[0] - row[1]));
    if (opts.greedy) action[0] = p1 > 0.5 ? 1 : 0;
    else sampleActions(row, rng, action, logp, 0);
    const o = env.step(action, false);
    actions.push(action[0]);
    pRight.push(p1);
    values.push(value[0]);
    states.push(...o.finalObs);
    if (o.terminated[0] || o.truncated[0]) {
      return {
        states: Float32Array.from(states), actions: Int32Array.from(actions), pRight: Float32Array.from(pRight),
        values: Float32Array.from(values), length: actions.length,
        ended: o.terminated[0] ? 'terminated' : 'truncated',
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// checkpoints

/** What the metadata's config holds beside the session config. */
interface Progress {
  env: CartPoleSnapshot;
  episodes: EpisodeSnapshot;
  /** Gradient steps applied (PPO takes epochs * minibatches per update, and epochs may change). */
  optimizerSteps: number;
}

export async function checkpointContents(r: RlRun): Promise<CheckpointContents> {
  const progress: Progress = { env: r.env.snapshot(), episodes: r.stats.snapshot(), optimizerSteps: r.agent.optimizer.step };
  return {
    params: r.agent.stateDict(),
    state: await r.agent.optimizer.readState(),
    step: r.updates,
    rng: { env: r.rngs.env.state, action: r.rngs.action.state, shuffle: r.rngs.shuffle.state },
    config: { rl: r.config, progress },
  };
}

/** The config to build for a checkpoint: its model and training fields (SAVED_KEYS) over `base` (cadences stay the page's). */
export function savedConfig(meta: Record<string, string>, base: RlSessionConfig | null): RlSessionConfig {
  const theirs = savedSection<RlSessionConfig>(meta, 'rl', base);
  return usableConfig(() => rlSessionConfig({ ...base, ...pickSaved(theirs, SAVED_KEYS) }));
}

/** Weights, optimizer state, generators, environments and bookkeeping into a freshly built run, every entry checked first. */
export async function loadInto(engine: Engine, r: RlRun, bytes: Uint8Array, metadata: Record<string, string>): Promise<void> {
  const { agent } = r;
  const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
  for (const p of agent.optimizer.params) for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${p.label}`] = new Float32Array(p.size);
  // The host-side parts are checked before the weights are written, so a bad file leaves nothing
  // half loaded; the metadata's JSON was checked when the config was read from it.
  const { progress } = (JSON.parse(metadata.config ?? 'null') ?? {}) as { progress?: Progress };
  const env = new CartPoleBatch(r.env.B, r.rngs.env, r.env.config);
  const stats = new EpisodeStats(r.env.B, r.config.returnWindow);
  if (!progress || !env.restore(progress.env) || !stats.restore(progress.episodes) || !Number.isSafeInteger(progress.optimizerSteps)) {
    throw new CheckpointError(`The checkpoint's environments or episode records do not fit ${r.env.B} environments; it was saved from another run.`, 'metadata');
  }
  const loaded = await loadCheckpoint(engine, bytes, { params: agent.stateDict(), state });
  await agent.optimizer.writeState(state);
  agent.optimizer.step = progress.optimizerSteps;
  r.env.restore(progress.env);
  r.stats.restore(progress.episodes);
  r.updates = loaded.step ?? 0;
  const rng = loaded.rng ?? {};
  for (const k of ['env', 'action', 'shuffle'] as const) if (rng[k] !== undefined) r.rngs[k].state = rng[k] >>> 0;
}
