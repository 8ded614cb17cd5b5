// The VAE demo page: a variational autoencoder learns digit images, or the user's own, in a Web
// Worker (src/tasks/vae) while this page draws what it learns: both terms of the negative ELBO
// (reconstruction and KL, in nats) and the ELBO with the KL weight beta as charts over the steps,
// held-out images beside their reconstructions, samples decoded from the prior, and for a 2D
// latent the latent plane (the encoded means by class over the decoded grid, and decode(z) under
// the pointer). The page only sends requests and draws what comes back, so the main thread stays free.
// This file wires the page's parts to the worker: it offers the run saved in this browser or
// builds the model the form describes (or the user's images), loads checkpoints and routes the
// worker's events to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the charts (charts.ts), the pictures (pictures.ts), the latent
// plane (latent.ts), words (text.ts), taking files (demos/shared/upload.ts), the scaffolding every
// demo page shares (the info, the busy flag, the run buttons: demos/shared/session-page.ts;
// probing WebGPU: demos/shared/ui.ts), the session (src/tasks/vae).

import { createVaeClient, type VaeClient } from '../../src/tasks/vae/client.js';
import type { VaeEvent, VaeInfo, VaeStepRecord } from '../../src/tasks/vae/protocol.js';
import { $ } from '../shared/dom.js';
import { Ema } from '../shared/ema.js';
import { sessionElements, SessionPage, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { ImageUpload } from '../shared/upload.js';
import { datasetName } from '../shared/words.js';
import { VaeCharts } from './charts.js';
import { Controls } from './controls.js';
import { LatentPanel } from './latent.js';
import { PicturesPanel } from './pictures.js';
import { describe, explain } from './text.js';

const elements = sessionElements('Run one training step');
const { banner, stateLine } = elements;
const upload = new ImageUpload($('upload-zone'));

const view = viewForTests({
  ready: false, steps: 0, info: null as VaeInfo | null, autosavedStep: 0, resumedAt: -1,
  /** The first and latest finite terms of the steps' negative ELBO (the charts' lines). */
  firstRecon: NaN, lastRecon: NaN, firstElbo: NaN, lastElbo: NaN, lastKl: NaN, lastBeta: NaN,
  pictures: 0, picturesStep: -1, reconKey: '', samplesKey: '',
  latentMaps: 0, hovers: 0, hoverZ: null as [number, number] | null, hoverKey: '',
});

/** The time per step, smoothed, and the latest terms and time in words (for the state line). */
const msPerStep = new Ema(0.9);
let lastLine = '';

/** The parts of the page, wired to one worker. */
interface Page {
  api: VaeClient;
  session: SessionPage<VaeInfo, VaeEvent, { step: number; recon: number; kl: number; elbo: number }>;
  controls: Controls;
  charts: VaeCharts;
  pictures: PicturesPanel;
  latent: LatentPanel;
}

if (await probeOrExplain(elements.facts, banner)) await open();

/** Starts the worker, wires every part to it, then builds the model the form describes or offers the run saved in this browser. */
async function open(): Promise<void> {
  const api = createVaeClient();
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
      onHyperChange: (h) => void session.attempt(() => api.setHyper(h).then(session.setInfo), 'Could not change the setting'),
    }, upload),
    charts: new VaeCharts(),
    pictures: new PicturesPanel(view),
    latent: new LatentPanel(api, session.attempt, view),
  };
  session.wireRunButtons({
    afterStep: async () => {
      session.setInfo(await api.info());
      await api.pictures(); // a single step is worth seeing
    },
    afterReset: (r) => startOver(p, r),
    checkpointName: () => {
      const c = session.info?.config;
      return `vae-${c?.dataset ?? 'model'}-${c?.arch ?? ''}-z${c?.latent ?? ''}-step${session.info?.step ?? 0}.safetensors`;
    },
    afterLoad: (r, file) => afterLoad(p, r, file),
  });
  // The box shows only while 'Your images' is the dataset chosen, so images come in for it.
  upload.accept({ api, session, banner }, async (took) => {
    // A loaded model of an upload gets its images back and goes on; otherwise a new model on them.
    if (!took.attached) return rebuild(p);
    startOver(p, await api.info());
    await session.attempt(() => api.pictures(), 'Could not draw the pictures'); // now with reconstructions
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
  await session.whileBusy('Building the VAE…', async () => {
    const created = await session.attempt(() => api.create(controls.config()), 'Could not build the model');
    if (!created) return;
    clearMessage(banner);
    startOver(p, created);
  });
}

/** A model the worker built from a file or an autosave: the pictures start over, the form shows its config. */
function showLoaded(p: Page, r: VaeInfo): void {
  startOver(p, r);
  if (r.config) p.controls.show(r.config);
}

/** The model a checkpoint file brought (the worker built the model it was saved from). */
function afterLoad(p: Page, r: VaeInfo, file: File): void {
  showLoaded(p, r);
  const c = r.config;
  const next = r.canTrain
    ? 'Start to continue training from there.'
    : `Its training images are not in the file: choose them again (at ${c?.uploadSize} × ${c?.uploadSize}) to continue training; it can draw samples meanwhile.`;
  showMessage(banner, 'info', `Loaded ${file.name}: ${datasetName(c)}, ${c?.arch}, z in ${c?.latent}D, at step ${r.step}. ${next}`);
}

function onEvent(p: Page, e: VaeEvent): void {
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      p.charts.plot(e.steps);
      onMetrics(p, e.steps);
      break;
    case 'pictures':
      p.pictures.onPictures(e);
      p.latent.onPictures(e);
      break;
  }
}

/** The view's terms and the state line from the steps of a metrics event. */
function onMetrics({ session }: Page, steps: VaeStepRecord[]): void {
  for (const r of steps) {
    msPerStep.push(r.ms);
    if (!Number.isFinite(r.recon) || !Number.isFinite(r.kl)) continue;
    if (!Number.isFinite(view.firstRecon)) Object.assign(view, { firstRecon: r.recon, firstElbo: r.elbo });
    Object.assign(view, { lastRecon: r.recon, lastElbo: r.elbo, lastKl: r.kl, lastBeta: r.beta });
  }
  const last = steps.at(-1);
  if (!last) return;
  view.steps = last.step;
  lastLine = `ELBO ${fmtNum(last.elbo, 4)} nats (reconstruction ${fmtNum(last.recon, 4)}, KL ${fmtNum(last.kl, 3)}, β ${fmtNum(last.beta, 3)}), ${fmtMs(msPerStep.value ?? NaN)} per step`;
  stateLine.textContent = `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, ${lastLine}.`;
}

/** What the page shows of a new info besides the run buttons. */
function show({ session, controls, pictures, latent }: Page, info: VaeInfo, { running, ready }: RunState): void {
  view.info = info;
  controls.lockModel(running || session.busy);
  upload.lock(running || session.busy);
  pictures.show(info);
  latent.show(info, ready);
  view.ready = ready;
}

/** A new model: the charts and pictures start over (the worker sends a new model's first pictures by itself). */
function startOver({ session, charts, pictures, latent }: Page, info: VaeInfo): void {
  charts.clear();
  msPerStep.clear();
  lastLine = '';
  Object.assign(view, { steps: info.step, firstRecon: NaN, lastRecon: NaN, firstElbo: NaN, lastElbo: NaN, lastKl: NaN, lastBeta: NaN });
  pictures.startOver();
  latent.startOver();
  session.setInfo(info);
}
