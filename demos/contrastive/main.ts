// The contrastive-learning demo page: an encoder learns features of digit images without labels
// in a Web Worker (src/tasks/contrastive), by telling the two augmented views of each image
// apart from the views of the others (NT-Xent), while this page draws what it learns: the loss,
// the similarities with the positive and the negatives and the share of positives found, as
// charts over the steps; training images beside the views a step draws of them; the linear
// probe's held-out accuracy on the learned features against the encoder at initialisation and
// the raw pixels; and the held-out digits' features in 2D by class, the digit under the pointer
// beside them. The page only sends requests and draws what comes back, so the main thread stays free.
// This file wires the page's parts to the worker: it offers the run saved in this browser or
// builds the model the form describes, loads checkpoints, asks for the first probe of each new
// model and routes the worker's events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the charts (charts.ts), the views (views.ts), the probe's
// words (probe.ts), the plane (embedding.ts), words (text.ts), the scaffolding every demo page
// shares (the info, the busy flag, the run buttons: demos/shared/session-page.ts; probing
// WebGPU: demos/shared/ui.ts), the session (src/tasks/contrastive).

import { createContrastiveClient, type ContrastiveClient } from '../../src/tasks/contrastive/client.js';
import type { ContrastiveEvent, ContrastiveInfo, ContrastiveStepRecord, ContrastiveStepSummary } from '../../src/tasks/contrastive/protocol.js';
import { $ } from '../shared/dom.js';
import { Ema } from '../shared/ema.js';
import { sessionElements, SessionPage, trackLosses, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { ContrastiveCharts } from './charts.js';
import { Controls } from './controls.js';
import { EmbeddingPanel } from './embedding.js';
import { ProbePanel } from './probe.js';
import { describe, explain, lossName } from './text.js';
import { ViewsPanel } from './views.js';

const elements = sessionElements('Run one training step');
const { banner, stateLine } = elements;

const view = viewForTests({
  ready: false, steps: 0, info: null as ContrastiveInfo | null, autosavedStep: 0, resumedAt: -1,
  /** The first and latest finite losses, and the latest share of positives found. */
  firstLoss: NaN, lastLoss: NaN, lastAccuracy: NaN,
  views: 0, viewsImagesKey: '', viewsKey: '',
  probes: 0, probeStep: -1, learned: NaN, randomEncoder: NaN, rawPixels: NaN,
  embeddings: 0, embeddingStep: -1, embeddingKey: '', hovers: 0, hoverIndex: -1, hoverLabel: -1,
});

/** The time per step, smoothed, and the latest figures in words (for the state line). */
const msPerStep = new Ema(0.9);
let lastLine = '';

/** The parts of the page, wired to one worker. */
interface Page {
  api: ContrastiveClient;
  session: SessionPage<ContrastiveInfo, ContrastiveEvent, ContrastiveStepSummary>;
  controls: Controls;
  charts: ContrastiveCharts;
  views: ViewsPanel;
  probe: ProbePanel;
  embedding: EmbeddingPanel;
}

if (await probeOrExplain(elements.facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds the model the form describes or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createContrastiveClient();
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
    charts: new ContrastiveCharts(),
    views: new ViewsPanel(api, session.attempt, view),
    probe: new ProbePanel(api, session.attempt, view),
    embedding: new EmbeddingPanel(view),
  };
  session.wireRunButtons({
    afterStep: async () => {
      session.setInfo(await api.info());
      await api.embedding(); // a single step is worth seeing
    },
    afterReset: (r) => fresh(p, r),
    checkpointName: () => {
      const c = session.info?.config;
      return `contrastive-${c?.loss ?? 'model'}-f${c?.features ?? ''}-step${session.info?.step ?? 0}.safetensors`;
    },
    afterLoad: (r, file) => afterLoad(p, r, file),
  });
  await session.follow((e) => onEvent(p, e));
  await session.offerSavedRun((r) => showLoaded(p, r), () => rebuild(p));
}

/** A new model from the form; the charts and panels start over. */
async function rebuild(p: Page): Promise<void> {
  const { api, session, controls } = p;
  let created: ContrastiveInfo | undefined;
  await session.whileBusy('Building the encoder…', async () => {
    created = await session.attempt(() => api.create(controls.config()), 'Could not build the model');
    if (!created) return;
    clearMessage(banner);
    startOver(p, created);
  });
  if (created) await firstProbe(p);
}

/** A reset model starts over as a new one does. */
async function fresh(p: Page, info: ContrastiveInfo): Promise<void> {
  startOver(p, info);
  await firstProbe(p);
}

/** The probe of a model just built or loaded, so its baselines show before it trains. */
async function firstProbe({ api, session }: Page): Promise<void> {
  await session.attempt(() => api.probe(), 'Could not run the first probe');
}

/** A model the worker built from a file or an autosave: the panels start over, the form shows its config. */
async function showLoaded(p: Page, r: ContrastiveInfo): Promise<void> {
  startOver(p, r);
  if (r.config) p.controls.show(r.config);
  void firstProbe(p);
}

/** The model a checkpoint file brought (the worker built the model it was saved from). */
async function afterLoad(p: Page, r: ContrastiveInfo, file: File): Promise<void> {
  await showLoaded(p, r);
  const c = r.config!;
  showMessage(banner, 'info', `Loaded ${file.name}: ${lossName(c)}, ${c.features} features, batch ${c.batch}, at step ${r.step}. Start to continue training from there.`);
}

function onEvent(p: Page, e: ContrastiveEvent): void {
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      p.charts.plot(e.steps);
      onMetrics(p, e.steps);
      break;
    case 'views':
      p.views.onViews(e);
      break;
    case 'probe':
      p.charts.plotProbe(e);
      p.probe.onProbe(e);
      break;
    case 'embedding':
      p.embedding.onEmbedding(e);
      break;
  }
}

/** The view's losses and the state line from the steps of a metrics event. */
function onMetrics({ session }: Page, steps: ContrastiveStepRecord[]): void {
  for (const r of steps) msPerStep.push(r.ms);
  trackLosses(view, steps.map((r) => r.loss));
  const last = steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  view.lastAccuracy = last.accuracy;
  lastLine = `loss ${fmtNum(last.loss, 4)}, the positive found for ${(100 * last.accuracy).toFixed(0)}% of views ` +
    `(cosine ${fmtNum(last.posSim, 3)} with it, ${fmtNum(last.negSim, 3)} with the others), ${fmtMs(msPerStep.value ?? NaN)} per step`;
  stateLine.textContent = `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, ${lastLine}.`;
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, controls, views, probe }: Page, info: ContrastiveInfo, { running, ready }: RunState): void {
  view.info = info;
  controls.lockModel(running || session.busy);
  views.enable(ready);
  probe.enable(ready);
  if (info.config) probe.describe(info.config);
  view.ready = ready;
}

/** A new model: the charts and panels start over (the worker sends a new model's views and embedding by itself). */
function startOver({ session, charts, views, probe, embedding }: Page, info: ContrastiveInfo): void {
  charts.clear();
  if (info.config) charts.setModel(info.config);
  msPerStep.clear();
  lastLine = '';
  Object.assign(view, { steps: info.step, firstLoss: NaN, lastLoss: NaN, lastAccuracy: NaN });
  views.startOver();
  probe.startOver();
  embedding.startOver();
  lossWords(info);
  session.setInfo(info);
}

/** The loss chart's title and words for the loss in force. */
function lossWords(info: ContrastiveInfo): void {
  const c = info.config;
  if (!c) return;
  const ntxent = c.loss === 'ntxent';
  $('loss-title').textContent = ntxent ? 'The NT-Xent loss' : 'The triplet loss';
  $('loss-explain').textContent = ntxent
    ? `What each step minimises over its ${2 * c.batch} views: the cross-entropy of picking each view's positive among the ${2 * c.batch - 1} others by their similarities over τ = ${c.temperature}. ` +
      `Grey: log(2N − 1) = ${Math.log(2 * c.batch - 1).toFixed(2)}, its value when the positive looks like any other view. Light: every step; dark: smoothed.`
    : `What each step minimises: how much closer each first view is to another image's view than to its own second view, up to the margin ${c.margin}, on the unit sphere. Light: every step; dark: smoothed.`;
}
