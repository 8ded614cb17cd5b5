// The transformer demo page: a character-level GPT trains in a Web Worker (src/tasks/gpt) while
// this page shows its loss, learning rate, gradient norm and speed as live charts, its samples,
// and the attention map of any head. The page only sends requests and draws what comes back:
// every step, sample and checkpoint is computed in the worker, so the main thread stays free.
// This file wires the page's parts to the worker: it builds the model the form describes, offers
// the run saved in this browser, and routes the worker's events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the model a checkpoint needs (checkpoint.ts), the charts
// (charts.ts), the samples and the text lines (panels.ts), the attention map (attention.ts,
// heatmap.ts), the scaffolding every demo page shares (the info, the busy flag, the run buttons,
// the saved run's offer, the lost-GPU button:
// demos/shared/session-page.ts; probing WebGPU: demos/shared/ui.ts), the trainer (src/tasks/gpt).

import { createTrainerClient, type TrainerClient } from '../../src/tasks/gpt/client.js';
import type { LossScaleState, MetricsEvent, StepSummary, TrainerEvent, TrainerInfo } from '../../src/tasks/gpt/protocol.js';
import { $, make } from '../shared/dom.js';
import { sessionElements, SessionPage, trackLosses, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { checkpointRefused, deviceLost, explainer } from '../shared/words.js';
import { AttentionPanel } from './attention.js';
import { TrainingCharts } from './charts.js';
import { modelForCheckpoint } from './checkpoint.js';
import { Controls } from './controls.js';
import { baselineNote, describe, SamplePanel, scalerNote } from './panels.js';

const scalerLine = make('p', { id: 'scaler', className: 'hint', hidden: true });
const elements = sessionElements('Run one training step and show its loss', [scalerLine]);
const { banner, stateLine } = elements;

const view = viewForTests({
  ready: false, steps: 0, firstLoss: NaN, lastLoss: NaN, lastValLoss: NaN, stepLoss: NaN, autosavedStep: 0, resumedAt: -1, samples: 0, firstSampleStep: -1,
  info: null as TrainerInfo | null, scaler: null as LossScaleState | null,
});

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
const explain = explainer({
  CheckpointError: checkpointRefused('this model'),
  // A character the vocabulary lacks (in a prompt, say) is not a problem with the text.
  DataError: (m, reason) => (reason === 'vocabulary' ? m : `the training text cannot be used. ${m}`),
  DeviceLostError: (m) => deviceLost(m, 'Reload the page; an autosave may let you resume.'),
  NonFiniteError: (m) => `the loss became NaN or infinite; lower the learning rate and reset. ${m}`,
});

/** The parts of the page, wired to one worker. */
interface Page {
  api: TrainerClient;
  session: SessionPage<TrainerInfo, TrainerEvent, StepSummary>;
  controls: Controls;
  charts: TrainingCharts;
  samples: SamplePanel;
  attention: AttentionPanel;
}

if (await probeOrExplain(elements.facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds a model or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createTrainerClient();
  const session = new SessionPage({
    api, elements, explain, describe, show: (info, run) => show(p, info, run), loadWithoutInfo: true,
  });
  const p: Page = {
    api,
    session,
    controls: new Controls({
      onModelChange: () => void rebuild(p),
      onHyperChange: (h) => void session.attempt(() => api.setHyper(h).then(session.setInfo)),
      onDataError: (m) => showMessage(banner, 'error', m),
    }),
    charts: new TrainingCharts(),
    samples: new SamplePanel((prompt, temperature) => void sampleNow(p, prompt, temperature)),
    attention: new AttentionPanel((prompt, layer, head) => session.attempt(() => api.attentionMap(prompt, layer, head), 'Could not compute the attention map')),
  };
  const { controls } = p;
  session.wireRunButtons({
    // As this page always showed them: failures of Start, Pause and Reset with no lead before the error's words.
    words: { start: '', pause: '', reset: '' },
    afterStep: (r) => {
      view.stepLoss = r.loss;
      stateLine.textContent = `Paused at step ${r.step}: that step's loss was ${fmtNum(r.loss, 6)}.`;
    },
    afterReset: (r) => startOver(p, r),
    checkpointName: () => `gpt-${session.info?.config?.preset ?? 'model'}-step${session.info?.step ?? 0}.safetensors`,
    beforeLoad: (file, bytes) =>
      modelForCheckpoint({ api, attempt: session.attempt, current: session.info?.config ?? null, banner, showConfig: (c) => controls.show(c) }, file, bytes),
    afterLoad: (r, file) => {
      startOver(p, r);
      if (r.config) controls.show(r.config);
      showMessage(banner, 'info', `Loaded ${file.name}: step ${r.step}. Start to continue training from there.`);
    },
  });
  await session.follow((e) => onEvent(p, e));
  await session.offerSavedRun((r) => {
    startOver(p, r);
    if (r.config) controls.show(r.config);
  }, () => rebuild(p));
}

/** A new model from the form; the charts start over. */
async function rebuild(p: Page): Promise<void> {
  const { api, session, controls } = p;
  if (controls.missingText()) {
    showMessage(banner, 'info', 'Choose a text file, drop one on the box, or paste some text, then the model is built for it.');
    return;
  }
  await session.whileBusy('Building the model…', async () => {
    let created: TrainerInfo;
    try {
      created = await api.create(controls.config());
    } catch (e) {
      // A refused text leaves the previous model in place; the form goes back to matching it.
      if ((e as Error).name === 'DataError') controls.dropText();
      showMessage(banner, 'error', explain(e, 'Could not build the model'));
      return;
    }
    clearMessage(banner);
    startOver(p, created);
  });
}

/** A sample on demand, added to the panel when it comes. */
async function sampleNow({ api, session, samples }: Page, prompt: string, temperature: number): Promise<void> {
  await session.attempt(async () => {
    const e = await api.sample(prompt, { length: 120, temperature });
    samples.add(e, `step ${e.step}, on demand`);
    view.samples = samples.count;
  }, 'Could not sample');
}

function onEvent(p: Page, e: TrainerEvent): void {
  const { charts, samples, attention } = p;
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      charts.plot(e);
      onMetrics(p, e);
      break;
    case 'sample':
      samples.add(e, `step ${e.step}`);
      view.samples = samples.count;
      if (view.firstSampleStep < 0) view.firstSampleStep = e.step;
      // The attention map follows training at the pace of the samples, not every step.
      attention.follow();
      break;
  }
}

/** The view's figures and the state line from a metrics event. */
function onMetrics({ session }: Page, e: MetricsEvent): void {
  trackLosses(view, e.steps.map((r) => r.loss));
  const val = e.evals.at(-1);
  if (val) view.lastValLoss = val.valLoss;
  if (e.scaler) showScaler(e.scaler);
  const last = e.steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  stateLine.textContent =
    `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, loss ${fmtNum(last.loss, 4)}, ${fmtNum(last.throughput, 3)} tokens/s, ${fmtMs(last.stepMs)} per step.`;
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, samples, attention, controls }: Page, info: TrainerInfo, { running, ready }: RunState): void {
  view.info = info;
  showScaler(info.scaler);
  $('baseline').textContent = baselineNote(info);
  samples.enable(ready);
  attention.show(info, ready);
  controls.lockModel(running || session.busy);
  view.ready = ready;
}

/** The loss scaler's line, shown in mixed precision only. */
function showScaler(sc: LossScaleState | null): void {
  view.scaler = sc;
  scalerLine.hidden = !sc;
  scalerLine.textContent = sc ? scalerNote(sc) : '';
}

/** A new model: the charts and samples start over, and its info is shown. */
function startOver({ session, charts, samples }: Page, info: TrainerInfo): void {
  charts.clear();
  samples.clear();
  Object.assign(view, { steps: 0, firstLoss: NaN, lastLoss: NaN, lastValLoss: NaN, samples: 0, firstSampleStep: -1 });
  session.setInfo(info);
}
