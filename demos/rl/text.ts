// Words of the RL page: the facts line under the title, the state line's figures of an update,
// and failures explained for the banner (what went wrong and, where the error says, what to do).
// Not here: anything that talks to the worker or draws (main.ts, stage.ts, charts.ts), the words
// every page shares (demos/shared/words.ts).

import type { RlInfo, RlSessionConfig, RlStepRecord } from '../../src/tasks/rl/protocol.js';
import { adapterFact, escapeHtml, fmtCount, fmtMs, fmtNum } from '../shared/ui.js';
import { checkpointRefused, explainer } from '../shared/words.js';

/** The algorithm's name as the page shows it. */
export const algorithmName = (c: Pick<RlSessionConfig, 'algorithm'> | null | undefined): string =>
  c?.algorithm === 'reinforce' ? 'REINFORCE with a baseline' : 'PPO';

/** The line under the title: what runs where, and how big it is. */
export function describe(i: RlInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const batch = c.algorithm === 'ppo'
    ? `<b>PPO</b>: ${c.envs} CartPoles × ${c.horizon} steps per update, ${c.epochs} epochs of ${c.minibatches} minibatches`
    : `<b>REINFORCE</b> with a baseline: one episode of each of ${c.envs} CartPoles per update`;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `policy <b>${fmtCount(i.policyParams)}</b> and value <b>${fmtCount(i.valueParams)}</b> parameters (MLPs ${c.layers} × ${c.hidden}, tanh)`,
    batch,
    `time limit ${c.maxEpisodeSteps} steps`,
    `update <b>${i.step}</b>`,
  ].join(' · ');
}

/** An update's figures for the state line, after its number. */
export function updateFigures(r: RlStepRecord, window: number): string {
  const ret = Number.isFinite(r.meanReturn) ? `mean return ${fmtNum(r.meanReturn, 3)} over the last ${Math.min(window, r.episodes)} episodes` : 'no episode has ended yet';
  return `${ret}, ${r.envSteps.toLocaleString('en-US')} environment steps, ${fmtMs(r.ms)} per update`;
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
export const explain = explainer({
  CheckpointError: checkpointRefused('a CartPole policy of this page'),
  NonFiniteError: (m) => `training diverged. ${m}`,
});
