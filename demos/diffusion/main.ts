// The diffusion demo page: a denoising diffusion model learns a 2D point cloud, or small images,
// in a Web Worker (src/tasks/diffusion) while this page draws its samples against held-out data,
// the learned denoising field, an animation of samples denoising from noise to data, and live
// charts of the loss and of sample quality (for images: the sample grid, its animation and the
// scorer's figures). The page only sends requests and draws what comes back: every step, sample
// and checkpoint is computed in the worker, so the main thread stays free.
// This file wires the page's parts to the worker: it offers the run saved in this browser or builds
// the model the form describes (or the user's images), loads checkpoints, shows the panels of the
// kind of data in force and routes the worker's events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), point mode (points.ts), image mode (images.ts), the charts
// (charts.ts), words (text.ts), taking files (demos/shared/upload.ts), the scaffolding every demo
// page shares (the info, the busy flag, the run buttons: demos/shared/session-page.ts; probing
// WebGPU: demos/shared/ui.ts), the session (src/tasks/diffusion).

import { createDiffusionClient, type DiffusionClient } from '../../src/tasks/diffusion/client.js';
import type { DiffusionEvent, DiffusionInfo, DiffusionMetricsEvent } from '../../src/tasks/diffusion/protocol.js';
import { $ } from '../shared/dom.js';
import { sessionElements, SessionPage, trackLosses, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { ImageUpload } from '../shared/upload.js';
import { datasetName } from '../shared/words.js';
import { DiffusionCharts } from './charts.js';
import { Controls } from './controls.js';
import { ImagePanels, type ImageModeView } from './images.js';
import { PointPanels } from './points.js';
import { describe, explain, modelAbout } from './text.js';

const elements = sessionElements('Run one training step');
const { facts, banner, stateLine } = elements;
const upload = new ImageUpload($('upload-zone'));

const view = viewForTests({
  ready: false, steps: 0, firstLoss: NaN, lastLoss: NaN, stepLoss: NaN,
  samples: 0, samplesStep: -1, samplesKey: '', quality: null as { mmd: number; slicedWasserstein: number } | null,
  fields: 0, frames: 0, info: null as DiffusionInfo | null, autosavedStep: 0, resumedAt: -1,
  /** Image mode: grids, scores and the scorer (see images.ts). */
  img: null as ImageModeView | null,
});

/** The parts of the page, wired to one worker. */
interface Page {
  api: DiffusionClient;
  session: SessionPage<DiffusionInfo, DiffusionEvent, { step: number; loss: number }>;
  controls: Controls;
  charts: DiffusionCharts;
  points: PointPanels;
  images: ImagePanels;
}

if (await probeOrExplain(facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds the model the form describes or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createDiffusionClient();
  const session = new SessionPage({ api, elements, explain, describe, show: (info, run) => show(p, info, run) });
  const p: Page = {
    api,
    session,
    controls: new Controls({
      onModelChange: () => void rebuild(p),
      onHyperChange: (h) => void session.attempt(() => api.setHyper(h).then(session.setInfo), 'Could not change the setting'),
    }, upload),
    charts: new DiffusionCharts(),
    points: new PointPanels(api, session.attempt, view),
    images: new ImagePanels(api, session.attempt),
  };
  view.img = p.images.view;
  showMode(p.controls.mode());
  session.wireRunButtons({
    afterStep: (r) => {
      view.stepLoss = r.loss;
      stateLine.textContent = `Paused at step ${r.step}: that step's loss was ${fmtNum(r.loss, 5)}.`;
    },
    afterReset: (r) => startOver(p, r),
    checkpointName: () => `diffusion-${session.info?.config?.dataset ?? 'model'}-step${session.info?.step ?? 0}.safetensors`,
    afterLoad: (r, file) => afterLoad(p, r, file),
  });
  upload.accept({ api, session, banner }, async (took) => {
    p.controls.useUpload();
    // A loaded model of an upload gets its images back and goes on; otherwise a new model on them.
    if (took.attached) await startOver(p, await api.info());
    else await rebuild(p);
  });
  await session.follow((e) => onEvent(p, e));
  await session.offerSavedRun((r) => showLoaded(p, r), () => rebuild(p));
}

/** A new model from the form; the charts and pictures start over. */
async function rebuild(p: Page): Promise<void> {
  const { api, session, controls } = p;
  showMode(controls.mode());
  await session.whileBusy('Building the model…', async () => {
    const created = await session.attempt(() => api.create(controls.config()), 'Could not build the model');
    if (!created) return;
    clearMessage(banner);
    await startOver(p, created);
    const c = created.config!;
    if (created.kind === 'images' && created.isSoftware && c.base * c.batch >= 512) {
      showMessage(banner, 'warn', `This adapter emulates a GPU on the CPU: a step of this U-Net takes seconds, and a grid of samples a minute or more. For a quicker look, set the U-Net width and the batch size to 16; on a GPU all of this takes milliseconds.`);
    }
  });
}

/** A model the worker built from a file or an autosave: the pictures start over, the form shows its config. */
async function showLoaded(p: Page, r: DiffusionInfo): Promise<void> {
  await startOver(p, r);
  if (r.config) p.controls.show(r.config);
}

/** The model a checkpoint file brought (the worker built the model it was saved from). */
async function afterLoad(p: Page, r: DiffusionInfo, file: File): Promise<void> {
  await showLoaded(p, r);
  const next = r.images && !r.images.canTrain
    ? `Its training images are not in the file: choose them again (at ${r.images.size} × ${r.images.size}) to continue training; it can draw samples meanwhile.`
    : 'Start to continue training from there.';
  showMessage(banner, 'info', `Loaded ${file.name}: ${datasetName(r.config)} at step ${r.step}. ${next}`);
}

function onEvent(p: Page, e: DiffusionEvent): void {
  if (p.points.onEvent(e) || p.images.onEvent(e) || trackCoreEvent(view, e)) return;
  if (e.type === 'metrics') {
    p.charts.plotLoss(e.steps);
    onMetrics(p, e);
  } else if (e.type === 'quality') {
    p.charts.plotQuality(e);
    view.quality = { mmd: e.mmd, slicedWasserstein: e.slicedWasserstein };
  }
}

/** The view's losses and the state line from a metrics event. */
function onMetrics({ session }: Page, e: DiffusionMetricsEvent): void {
  trackLosses(view, e.steps.map((r) => r.loss));
  const last = e.steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  stateLine.textContent =
    `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, loss ${fmtNum(last.loss, 4)}, ${fmtMs(last.stepMs)} per step.`;
}

/** Shows the panels of points or images (before a model of that kind exists, while it builds). */
function showMode(kind: DiffusionInfo['kind']): void {
  document.body.classList.toggle('mode-images', kind === 'images');
  document.body.classList.toggle('mode-points', kind !== 'images');
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, controls, points, images }: Page, info: DiffusionInfo, { running, ready }: RunState): void {
  view.info = info;
  if (info.state !== 'empty') showMode(info.kind);
  controls.lockModel(running || session.busy);
  upload.lock(running || session.busy);
  points.show(info, ready);
  images.show(info, ready);
  if (info.config) {
    $<HTMLInputElement>('sample-steps').max = String(info.config.timesteps);
    $('timesteps-about').textContent = String(info.config.timesteps);
    $('model-about').textContent = modelAbout(info);
    $('modes-section').hidden = info.modes === 0;
  }
  view.ready = ready;
}

/** A new model: the charts and pictures start over, with its held-out data or training images. */
async function startOver({ session, charts, points, images }: Page, info: DiffusionInfo): Promise<void> {
  charts.clear();
  Object.assign(view, { steps: info.step, firstLoss: NaN, lastLoss: NaN, quality: null });
  session.setInfo(info);
  await points.startOver(info);
  if (info.kind === 'images') await images.startOver(info);
}
