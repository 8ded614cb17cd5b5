// The reinforcement-learning trainer behind the RL page, a task of the session core
// (worker/session.ts): one run (batched CartPoles, a policy and a value network, their
// optimizer and generators, see run.ts) whose updates (a rollout, then PPO's or REINFORCE's
// gradient steps, see update.ts) the core's loop runs one after the other, serving pause,
// episode and export calls in between. Unlike a supervised step, an update cannot be submitted
// ahead of the previous one: its rollout acts with the weights that update produces, so the
// session keeps no update in flight. Update records go out batched, at most one metrics event
// per metricsIntervalMs; every episodeEvery updates it plays one greedy episode from the same
// start, for the page to animate. It runs as is in Node and in the Web Worker (worker.ts).
//
// Building (create, reset, import) makes the new run beside the current one and swaps only once
// it is complete, so a refused config or a bad checkpoint leaves the session as it was. A loaded
// run continues exactly as the saved one would have: the same weights, Adam moments, environment
// states, episodes in progress and generator states.
// Not here: what every task shares (the swap, the lock, the loop, autosave, recovery from a lost
// device, the events: worker/session.ts), building, episodes to watch and checkpoint contents
// (run.ts), the contract (protocol.ts), the comlink glue (worker.ts, client.ts).

import type { SafetensorsFile } from '../../checkpoint/safetensors.js';
import { NonFiniteError } from '../../errors.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import {
  HYPER_KEYS, rlSessionConfig, type EpisodeOptions, type RlApi, type RlEpisode, type RlEvent, type RlInfo, type RlMetricsEvent,
  type RlSessionConfig, type RlStepRecord,
} from './protocol.js';
import { buildRun, checkpointContents, freeRun, loadInto, playEpisode, savedConfig, type RlRun } from './run.js';
import { update } from './update.js';

export type RlSessionOptions = SessionOptions;

export class RlSession extends Session<RlRun, RlSessionConfig, RlInfo, RlEvent, RlStepRecord, RlStepRecord> implements RlApi {
  protected readonly hyperKeys = HYPER_KEYS;

  constructor(opts: RlSessionOptions = {}) {
    super('rl', { inFlight: 0, ...opts });
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<RlSessionConfig>): RlSessionConfig {
    return rlSessionConfig(overrides);
  }

  protected build(config: RlSessionConfig): Promise<RlRun> {
    return buildRun(this.engine!, config);
  }

  protected free(r: RlRun): void {
    freeRun(this.engine!, r);
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<{ step: number; meanReturn: number; policyLoss: number }> {
    const { step, meanReturn, policyLoss } = await this.runSteps(n);
    return { step, meanReturn, policyLoss };
  }

  protected stepsOf(r: RlRun): number {
    return r.updates;
  }

  /** One update, from its rollout to its last gradient step's result; its record goes out when it is done. */
  protected async submit(r: RlRun): Promise<RlStepRecord> {
    const start = performance.now();
    const report = await update(r);
    const record: RlStepRecord = { step: r.updates, ...report, ms: performance.now() - start };
    if (this.current === r) this.outbox.push(record);
    return record;
  }

  protected recorded(): Promise<void> {
    return Promise.resolve(); // each record is pushed as its update finishes
  }

  /** A diverged run stops with a NonFiniteError rather than acting on NaN logits. */
  protected check(r: RlRun, x: RlStepRecord): void {
    if (!(Number.isFinite(x.policyLoss) && Number.isFinite(x.valueLoss) && Number.isFinite(x.entropy))) {
      throw new NonFiniteError(
        `The losses became policy ${x.policyLoss}, value ${x.valueLoss} by update ${r.updates}: the learning rate is too high for this model. Lower it and reset.`,
        'loss',
      );
    }
  }

  /** A greedy episode from the same start when due: the page watches the same balance improve. */
  protected async periodic(r: RlRun, step: number): Promise<void> {
    const every = r.config.episodeEvery;
    if (every > 0 && step % every === 0) await this.sendEpisode(r);
  }

  protected async refresh(r: RlRun): Promise<void> {
    if (r.config.episodeEvery > 0) await this.sendEpisode(r);
  }

  private async sendEpisode(r: RlRun): Promise<void> {
    if (r !== this.current) return;
    this.emit({ type: 'episode', step: r.updates, ...(await playEpisode(r, { greedy: true })) });
  }

  protected metricsEvent(steps: RlStepRecord[]): RlMetricsEvent {
    return { type: 'metrics', steps };
  }

  protected applyHyper(r: RlRun, next: RlSessionConfig): void {
    r.config = next;
    r.agent.optimizer.config.lr = next.lr;
  }

  // ----------------------------------------------------------------------------------------
  // watching

  async episode(opts: EpisodeOptions = {}): Promise<RlEpisode> {
    this.need();
    return this.exclusive(() => playEpisode(this.need(), opts));
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(r: RlRun) {
    return checkpointContents(r);
  }

  protected savedConfig(metadata: Record<string, string>, current: RlSessionConfig | null): RlSessionConfig {
    return savedConfig(metadata, current);
  }

  protected load(r: RlRun, bytes: Uint8Array, file: SafetensorsFile): Promise<void> {
    return loadInto(this.engine!, r, bytes, file.metadata);
  }

  protected describe(r: RlRun): string {
    return `CartPole, ${r.config.algorithm === 'ppo' ? 'PPO' : 'REINFORCE'}`;
  }

  protected details(r: RlRun | null) {
    const count = (ps: { size: number }[] | undefined) => (ps ?? []).reduce((a, p) => a + p.size, 0);
    return {
      policyParams: count(r?.agent.policy.params),
      valueParams: count(r?.agent.value.params),
      envSteps: r?.stats.envSteps ?? 0,
      episodes: r?.stats.episodes ?? 0,
    };
  }
}
