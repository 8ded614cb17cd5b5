// The GAN demo page: a generator and a discriminator play their game in a Web Worker
// (src/tasks/gan) while this page draws it. On a 2D dataset: real points, generated points from
// fixed latents, the discriminator's decision surface as a heatmap and the generator's image of
// a latent grid, as toggleable layers; on digit images or the user's own: samples from fixed
// noise framed by the discriminator's verdict. Live charts of both losses, of sample quality and
// of the modes (or digit classes) covered, where mode collapse shows. The page only sends
// requests and draws what comes back, at most once per snapshot, so the main thread stays free.
// This file wires the page's parts to the worker: it offers the run saved in this browser or builds
// the model the form describes (or the user's images), loads checkpoints and routes the worker's
// events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the charts (charts.ts), the plane's section (game-panel.ts,
// drawn by plane.ts), the images' section (images-panel.ts), words (text.ts), taking files
// (demos/shared/upload.ts), the scaffolding every demo page shares (the info, the busy flag, the
// run buttons: demos/shared/session-page.ts; probing WebGPU: demos/shared/ui.ts), the session
// (src/tasks/gan).

import { createGanClient, type GanClient } from '../../src/tasks/gan/client.js';
import type { GanEvent, GanInfo, GanQualityEvent, GanStepRecord } from '../../src/tasks/gan/protocol.js';
import { $ } from '../shared/dom.js';
import { Ema } from '../shared/ema.js';
import { sessionElements, SessionPage, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { ImageUpload } from '../shared/upload.js';
import { datasetName } from '../shared/words.js';
import { GanCharts } from './charts.js';
import { Controls } from './controls.js';
import { GamePanel } from './game-panel.js';
import { ImagesPanel } from './images-panel.js';
import { describe, explain } from './text.js';

const elements = sessionElements('Run one iteration: D steps, then one G step');
const { banner, stateLine } = elements;
const upload = new ImageUpload($('upload-zone'));

const view = viewForTests({
  ready: false, steps: 0, firstD: NaN, lastD: NaN, lastG: NaN, stepLosses: null as { dLoss: number; gLoss: number } | null,
  planes: 0, planeStep: -1, planeKey: '', images: 0, imagesStep: -1, quality: null as GanQualityEvent | null, info: null as GanInfo | null,
  autosavedStep: 0, resumedAt: -1,
});

/** The time per iteration, smoothed, and the latest losses and time in words (for the state line). */
const msPerIteration = new Ema(0.9);
let lastLine = '';

/** The parts of the page, wired to one worker. */
interface Page {
  api: GanClient;
  session: SessionPage<GanInfo, GanEvent, { step: number; dLoss: number; gLoss: number }>;
  controls: Controls;
  charts: GanCharts;
  game: GamePanel;
  images: ImagesPanel;
}

if (await probeOrExplain(elements.facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds the model the form describes or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createGanClient();
  const session = new SessionPage({
    api, elements, explain, describe, show: (info, run) => show(p, info, run),
    canTrain: (info) => info.canTrain,
    pausedNote: () => (lastLine ? `: ${lastLine}` : ''),
  });
  const p: Page = {
    api,
    session,
    controls: new Controls({
      onModelChange: () => void rebuildUnlessWaiting(p),
      onHyperChange: (h) => void session.attempt(() => api.setHyper(h).then(session.setInfo), 'Could not change the learning rate'),
    }, upload),
    charts: new GanCharts(),
    game: new GamePanel(view),
    images: new ImagesPanel(view),
  };
  session.wireRunButtons({
    afterStep: async (r) => {
      view.stepLosses = r;
      session.setInfo(await api.info());
      await api.snapshot(); // a single step is worth seeing
    },
    afterReset: (r) => startOver(p, r),
    checkpointName: () => {
      const c = session.info?.config;
      return `gan-${c?.dataset ?? 'model'}-${c?.loss ?? ''}-step${session.info?.step ?? 0}.safetensors`;
    },
    afterLoad: (r, file) => afterLoad(p, r, file),
  });
  // The box shows only while 'Your images' is the dataset chosen, so images come in for it.
  upload.accept({ api, session, banner }, async (took) => {
    // A loaded model of an upload gets its images back and goes on; otherwise a new model on them.
    if (!took.attached) await rebuild(p);
  });
  await session.follow((e) => onEvent(p, e));
  await session.offerSavedRun((r) => showLoaded(p, r), () => rebuildUnlessWaiting(p));
}

/** A new model from the form, but not for 'Your images' before any are held: the box shown for them builds once it takes them. */
async function rebuildUnlessWaiting(p: Page): Promise<void> {
  if (p.controls.config().dataset === 'upload' && !p.session.info?.upload) return;
  await rebuild(p);
}

/** A new model from the form; the charts and pictures start over. */
async function rebuild(p: Page): Promise<void> {
  const { api, session, controls } = p;
  const { dataset } = controls.config();
  const label = dataset === 'glyphs16' || dataset === 'glyphs28'
    ? 'Building the DCGAN (and, the first time at this size, training the digit scorer: about a minute on a CPU-emulated GPU)…'
    : dataset === 'upload' ? 'Building the DCGAN…' : 'Building the model…';
  await session.whileBusy(label, async () => {
    const created = await session.attempt(() => api.create(controls.config()), 'Could not build the model');
    if (!created) return;
    clearMessage(banner);
    await startOver(p, created);
  });
}

/** A model the worker built from a file or an autosave: the pictures start over, the form shows its config. */
async function showLoaded(p: Page, r: GanInfo): Promise<void> {
  await startOver(p, r);
  if (r.config) p.controls.show(r.config);
}

/** The model a checkpoint file brought (the worker built the model it was saved from). */
async function afterLoad(p: Page, r: GanInfo, file: File): Promise<void> {
  await showLoaded(p, r);
  const next = r.canTrain
    ? 'Start to continue training from there.'
    : `Its training images are not in the file: choose them again (at ${r.config?.uploadSize} × ${r.config?.uploadSize}) to continue training; it can draw samples meanwhile.`;
  showMessage(banner, 'info', `Loaded ${file.name}: ${datasetName(r.config)}, ${r.config?.loss} loss, at step ${r.step}. ${next}`);
}

function onEvent(p: Page, e: GanEvent): void {
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      p.charts.plotLosses(e.steps);
      onMetrics(p, e.steps);
      break;
    case 'plane':
      p.game.onPlane(e);
      break;
    case 'images':
      p.images.onImages(e);
      break;
    case 'quality':
      view.quality = e;
      p.charts.plotQuality(e);
      p.game.onQuality(e);
      p.images.onQuality(e);
      break;
  }
}

/** The view's losses and the state line from the iterations of a metrics event. */
function onMetrics({ session }: Page, steps: GanStepRecord[]): void {
  for (const r of steps) {
    msPerIteration.push(r.ms);
    if (!Number.isFinite(r.dLoss) || !Number.isFinite(r.gLoss)) continue;
    if (!Number.isFinite(view.firstD)) view.firstD = r.dLoss;
    view.lastD = r.dLoss;
    view.lastG = r.gLoss;
  }
  const last = steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  lastLine = `D loss ${fmtNum(last.dLoss, 3)}, G loss ${fmtNum(last.gLoss, 3)}, ${fmtMs(msPerIteration.value ?? NaN)} per iteration`;
  stateLine.textContent = `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, ${lastLine}.`;
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, controls, charts, game, images }: Page, info: GanInfo, { running, ready }: RunState): void {
  view.info = info;
  controls.lockModel(running || session.busy);
  upload.lock(running || session.busy);
  game.show(info);
  images.show(info);
  charts.show(info);
  view.ready = ready;
}

/** A new model: the charts and pictures start over, with its real data. */
async function startOver({ api, session, charts, game, images }: Page, info: GanInfo): Promise<void> {
  charts.clear();
  msPerIteration.clear();
  lastLine = '';
  Object.assign(view, { steps: info.step, firstD: NaN, lastD: NaN, lastG: NaN, quality: null });
  game.startOver();
  images.startOver();
  session.setInfo(info);
  const reals = (await session.attempt(() => api.reference(), 'Could not fetch the real data')) ?? null;
  game.setReals(info.kind === 'points' ? reals : null);
  images.setReals(info, info.kind === 'images' ? reals : null);
}
