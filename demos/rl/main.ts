// The reinforcement-learning demo page: a policy learns to balance CartPole by PPO or by
// REINFORCE with a baseline in a Web Worker (src/tasks/rl) while this page replays its episodes
// on a canvas and charts the return, the loss terms, PPO's trust region and the gradient norm.
// The page only sends requests and draws what comes back: every environment step, action and
// update is computed in the worker, so the main thread stays free.
// This file wires the page's parts to the worker: it offers the run saved in this browser or builds
// the policy the form describes, loads checkpoints, plays a greedy episode on request and routes
// the worker's events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the stage and its player (stage.ts), the charts (charts.ts),
// words (text.ts), the scaffolding every demo page shares (the info, the busy flag, the run
// buttons: demos/shared/session-page.ts; probing WebGPU: demos/shared/ui.ts), the session
// (src/tasks/rl).

import { createRlClient, type RlClient } from '../../src/tasks/rl/client.js';
import { EPISODE_SEED, type RlEvent, type RlInfo, type RlStepRecord } from '../../src/tasks/rl/protocol.js';
import { $ } from '../shared/dom.js';
import { intOf } from '../shared/form.js';
import { sessionElements, SessionPage, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fingerprint, probeOrExplain, showMessage } from '../shared/ui.js';
import { RlCharts } from './charts.js';
import { Controls } from './controls.js';
import { Stage, type StageView } from './stage.js';
import { algorithmName, describe, explain, updateFigures } from './text.js';

const elements = sessionElements('Run one update: a rollout, then its gradient steps');
const { banner, stateLine } = elements;
const greedyBtn = $<HTMLButtonElement>('play-greedy');
const episodeSeed = $<HTMLInputElement>('episode-seed');

const view = viewForTests({
  ready: false, steps: 0, info: null as RlInfo | null, autosavedStep: 0, resumedAt: -1,
  /** Finite returns charted, the latest one, and updates whose losses were not finite. */
  returns: 0, lastReturn: NaN, nonFinite: 0,
  /** Episode events received, and what the stage played of them. */
  episodes: 0, stage: { played: 0, frames: 0, length: 0, ended: '' } as StageView,
  /** The latest greedy episode asked for with the button: its start, length and actions (a fingerprint). */
  greedy: null as { seed: number; length: number; actions: string; ended: string } | null,
});

/** The latest update's figures in words (for the state line once paused). */
let lastLine = '';

/** The parts of the page, wired to one worker. */
interface Page {
  api: RlClient;
  session: SessionPage<RlInfo, RlEvent, { step: number; meanReturn: number; policyLoss: number }>;
  controls: Controls;
  charts: RlCharts;
  stage: Stage;
}

if (await probeOrExplain(elements.facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds the policy the form describes or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createRlClient();
  const session = new SessionPage({
    api, elements, explain, describe, show: (info, run) => show(p, info, run),
    pausedNote: () => (lastLine ? `: ${lastLine}` : ''),
  });
  const p: Page = {
    api,
    session,
    controls: new Controls({
      onModelChange: () => void rebuild(p),
      onHyperChange: (h) => void session.attempt(() => api.setHyper(h).then(session.setInfo), 'Could not change the setting'),
    }),
    charts: new RlCharts(),
    stage: new Stage($('stage'), $('stage-readout'), view.stage),
  };
  session.wireRunButtons({
    afterStep: async () => session.setInfo(await api.info()), // the update's figures came with its metrics
    afterReset: (r) => startOver(p, r),
    checkpointName: () => `rl-cartpole-${session.info?.config?.algorithm ?? 'model'}-step${session.info?.step ?? 0}.safetensors`,
    afterLoad: (r, file) => afterLoad(p, r, file),
  });
  greedyBtn.addEventListener('click', () => void playGreedy(p));
  await session.follow((e) => onEvent(p, e));
  await session.offerSavedRun((r) => showLoaded(p, r), () => rebuild(p));
}

/** A new policy from the form; the charts and the stage start over. */
async function rebuild(p: Page): Promise<void> {
  const { api, session, controls } = p;
  await session.whileBusy('Building the policy…', async () => {
    const created = await session.attempt(() => api.create(controls.config()), 'Could not build the policy');
    if (!created) return;
    clearMessage(banner);
    startOver(p, created);
  });
}

/** A policy the worker built from a file or an autosave: the charts start over, the form shows its config. */
function showLoaded(p: Page, r: RlInfo): void {
  startOver(p, r);
  if (r.config) p.controls.show(r.config);
}

function afterLoad(p: Page, r: RlInfo, file: File): void {
  showLoaded(p, r);
  showMessage(banner, 'info', `Loaded ${file.name}: ${algorithmName(r.config)} at update ${r.step}. Start to continue training from there.`);
}

/** One greedy episode from the start the form names, played at once. */
async function playGreedy({ api, session, stage }: Page): Promise<void> {
  const seed = Math.max(0, intOf(episodeSeed, EPISODE_SEED));
  const step = session.info?.step ?? 0;
  const ep = await session.attempt(() => api.episode({ seed, greedy: true }), 'Could not play an episode');
  if (!ep) return;
  view.greedy = { seed, length: ep.length, actions: fingerprint(Float32Array.from(ep.actions)), ended: ep.ended };
  stage.play(ep, `Greedy at update ${step}, from start ${seed}`, true);
}

function onEvent(p: Page, e: RlEvent): void {
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      p.charts.plot(e.steps, p.session.info?.config?.maxGradNorm ?? 0);
      onMetrics(p, e.steps);
      break;
    case 'episode':
      view.episodes++;
      p.stage.play(e, `Update ${e.step}, greedy from start ${EPISODE_SEED}`);
      break;
  }
}

/** The view's figures and the state line from the updates of a metrics event. */
function onMetrics({ session, charts }: Page, steps: RlStepRecord[]): void {
  for (const r of steps) {
    if (![r.policyLoss, r.valueLoss, r.entropy].every(Number.isFinite)) view.nonFinite++;
    if (Number.isFinite(r.meanReturn)) view.lastReturn = r.meanReturn;
  }
  view.returns = charts.returns;
  const last = steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  lastLine = updateFigures(last, session.info?.config?.returnWindow ?? 0);
  stateLine.textContent = `${session.info?.state === 'running' ? 'Training' : 'Paused'}: update ${last.step}, ${lastLine}.`;
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, controls }: Page, info: RlInfo, { running, ready }: RunState): void {
  view.info = info;
  controls.lockModel(running || session.busy);
  greedyBtn.disabled = !ready;
  view.ready = ready;
}

/** A new policy: the charts and the stage start over (its first episode comes as an event). */
function startOver({ session, charts, stage }: Page, info: RlInfo): void {
  charts.clear();
  stage.clear();
  lastLine = '';
  Object.assign(view, { steps: info.step, returns: 0, lastReturn: NaN, nonFinite: 0, greedy: null });
  session.setInfo(info);
}
