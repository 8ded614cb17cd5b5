// The diffusion demo page: a denoising diffusion model learns a 2D point cloud, or small images,
// in a Web Worker (src/worker/diffusion-*.ts) while this page draws its samples against held-out
// data, the learned denoising field, an animation of samples denoising from noise to data, and
// live charts of the loss and of sample quality (for images: the sample grid, its animation and
// the scorer's figures, in images.ts). The page only sends requests and draws what comes back:
// every step, sample and checkpoint is computed in the worker, so the main thread stays free.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the canvases (plane.ts), image mode (images.ts), words
// (text.ts), the charts (demos/shared), the scaffolding every demo page shares (probing WebGPU, the
// busy flag, Start/Reset/Save/Load: demos/shared/session-page.ts), the session
// (src/worker/diffusion-session.ts).

import { createDiffusionClient } from '../../src/tasks/diffusion/client.js';
import {
  PLANE_EXTENT, type DiffusionApi, type DiffusionEvent, type DiffusionInfo, type FieldEvent, type SamplesEvent,
} from '../../src/tasks/diffusion/protocol.js';
import { clearMessage, fingerprint, fmtMs, fmtNum, showMessage } from '../shared/ui.js';
import { $, probeOrExplain, sessionElements, SessionPage } from '../shared/session-page.js';
import { LiveChart } from '../shared/live-chart.js';
import { SparseChart } from '../shared/sparse-chart.js';
import { Controls } from './controls.js';
import { ImagePanels, type ImageModeView } from './images.js';
import { acceptImages, tookImagesNote } from '../shared/upload.js';
import { PlaneView } from '../shared/plane.js';
import { DenoisePlayer } from './plane.js';
import { datasetName, describe, explain, modelAbout } from './text.js';

const { facts, banner, stateLine, startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loadFile } = sessionElements();
const sampleBtn = $<HTMLButtonElement>('sample-now');
const playBtn = $<HTMLButtonElement>('play');
const fieldT = $<HTMLInputElement>('field-t');
const showField = $<HTMLInputElement>('show-field');
const fieldStyle = $<HTMLSelectElement>('field-style');

let info: DiffusionInfo | null = null;
let lastSamples: SamplesEvent | null = null;
let lastField: FieldEvent | null = null;
/** Smoothed loss (a bias-corrected moving average) and how many steps it has seen. */
let smooth = { value: 0, n: 0 };

const plane = new PlaneView($<HTMLCanvasElement>('plane'), PLANE_EXTENT);
const anim = new PlaneView($<HTMLCanvasElement>('anim'), PLANE_EXTENT);
const player = new DenoisePlayer(anim, $<HTMLInputElement>('frame'), $('anim-readout'), (playing) => (playBtn.textContent = playing ? 'Stop' : 'Play'));
const charts = {
  loss: new LiveChart({
    host: $('chart-loss'),
    yLabel: 'loss (MSE)',
    series: [
      { label: 'loss', color: '#93c5fd' },
      { label: 'smoothed', color: '#1d4ed8' },
    ],
  }),
  quality: new SparseChart({
    host: $('chart-quality'),
    yLabel: 'MMD²',
    rightLabel: 'sliced W₂',
    log: { floor: 1e-5 },
    series: [
      { label: 'MMD²', color: '#7c3aed' },
      { label: 'sliced Wasserstein', color: '#0891b2', scale: 'right' },
    ],
  }),
  modes: new SparseChart({
    host: $('chart-modes'),
    yLabel: 'modes covered',
    rightLabel: '% near a mode',
    yRange: [0, 8.5],
    rightRange: [0, 105],
    series: [
      { label: 'modes covered', color: '#059669', format: (v) => `${v} of 8` },
      { label: 'near a mode', color: '#d97706', scale: 'right', format: (v) => `${v.toFixed(1)}%` },
    ],
  }),
};

// A read-only window on the run for the browser test: numbers only; the test drives the page
// through its controls like a user.
const view = {
  ready: false, steps: 0, firstLoss: NaN, lastLoss: NaN, stepLoss: NaN,
  samples: 0, samplesStep: -1, samplesKey: '', quality: null as { mmd: number; slicedWasserstein: number } | null,
  fields: 0, frames: 0, info: null as DiffusionInfo | null,
  /** Image mode: grids, scores and the scorer (see images.ts). */
  img: null as ImageModeView | null,
};
(window as unknown as { __demo: typeof view }).__demo = view;

if (await probeOrExplain(facts, banner)) await run();

async function run(): Promise<void> {
  const api: DiffusionApi = createDiffusionClient();
  const session = new SessionPage({
    api, banner, stateLine, explain, setInfo, info: () => info, lockBeforeInfo: [startBtn, stepBtn, resetBtn, saveBtn, loadBtn],
  });
  const { attempt, whileBusy } = session;
  await api.subscribe(onEvent);
  const controls = new Controls({
    onModelChange: () => void rebuild(),
    onHyperChange: (h) => void attempt(() => api.setHyper(h).then(setInfo), 'Could not change the setting'),
  });
  const panels = new ImagePanels(api, attempt);
  view.img = panels.view;
  const upload = acceptImages((files) => void takeImages(files));

  /** Shows the panels of points or images (before a model of that kind exists, while it builds). */
  function showMode(kind: DiffusionInfo['kind']): void {
    document.body.classList.toggle('mode-images', kind === 'images');
    document.body.classList.toggle('mode-points', kind !== 'images');
  }
  showMode(controls.mode());

  async function rebuild(): Promise<void> {
    showMode(controls.mode());
    await whileBusy('Building the model…', async () => {
      const created = await attempt(() => api.create(controls.config()), 'Could not build the model');
      if (!created) return;
      clearMessage(banner);
      await startOver(created);
      const c = created.config!;
      if (created.kind === 'images' && created.isSoftware && c.base * c.batch >= 512) {
        showMessage(banner, 'warn', `This adapter emulates a GPU on the CPU: a step of this U-Net takes seconds, and a grid of samples a minute or more. For a quicker look, set the U-Net width and the batch size to 16; on a GPU all of this takes milliseconds.`);
      }
    });
  }

  stepBtn.addEventListener('click', () =>
    void attempt(async () => {
      const r = await api.step(1);
      view.stepLoss = r.loss;
      stateLine.textContent = `Paused at step ${r.step}: that step's loss was ${fmtNum(r.loss, 5)}.`;
    }, 'Could not run a step'),
  );
  session.wireRunButtons({
    start: startBtn, reset: resetBtn, save: saveBtn, load: loadBtn, loadFile,
    afterReset: startOver,
    checkpointName: () => `diffusion-${info?.config?.dataset ?? 'model'}-step${info?.step ?? 0}.safetensors`,
    loadCheckpoint: async (file, bytes) => {
      // The worker builds the model the file was saved from; a file that fails leaves the current one.
      const r = await attempt(() => api.importCheckpoint(bytes), `${file.name} was not loaded`);
      if (!r) return;
      await startOver(r);
      if (r.config) controls.show(r.config);
      const next = r.images && !r.images.canTrain
        ? `Its training images are not in the file: choose them again (at ${r.images.size} × ${r.images.size}) to continue training; it can draw samples meanwhile.`
        : 'Start to continue training from there.';
      showMessage(banner, 'info', `Loaded ${file.name}: ${datasetName(r)} at step ${r.step}. ${next}`);
    },
  });
  /** The user's images: to the worker, and once it took them, a model on them; a refusal keeps the model. */
  async function takeImages(files: File[]): Promise<void> {
    const label = `Reading ${files.length} file${files.length === 1 ? '' : 's'}…`;
    const took = await session.attemptWhileBusy(label, () => api.upload({ files }, controls.uploadSide()), 'Your images were not used');
    if (!took) return;
    controls.useUpload();
    // A loaded model of an upload gets its images back and goes on; otherwise a new model on them.
    if (took.attached) await startOver(await api.info());
    else await rebuild();
    if (info?.config?.dataset === 'upload') showMessage(banner, 'info', tookImagesNote(took));
  }

  sampleBtn.addEventListener('click', () => void attempt(() => api.sample(), 'Could not sample'));
  playBtn.addEventListener('click', () => void play());
  showField.addEventListener('change', () => plane.setField(showField.checked ? lastField : null));
  fieldT.addEventListener('input', () => requestField(fieldT.valueAsNumber));
  fieldStyle.addEventListener('change', () => {
    plane.fieldStyle = fieldStyle.value as PlaneView['fieldStyle'];
    plane.draw();
  });

  async function play(): Promise<void> {
    if (player.playing) return player.stop();
    const f = player.loaded;
    const c = info?.config;
    if (!f || !c || f.step !== info!.step || f.sampler !== c.sampler || f.frames.length - 1 !== c.sampleSteps) {
      playBtn.disabled = true;
      playBtn.textContent = 'Sampling…';
      const fresh = await attempt(() => api.frames(), 'Could not draw the frames');
      playBtn.disabled = false;
      playBtn.textContent = 'Play';
      if (!fresh) return;
      player.set(fresh);
      view.frames++;
    }
    player.play();
  }

  // One field request at a time; while one runs, only the slider's latest position waits.
  let wantedT: number | null = null;
  let fieldBusy = false;
  async function requestField(t: number): Promise<void> {
    wantedT = t;
    showReadout();
    if (fieldBusy || !info || info.state === 'empty' || info.kind !== 'points') return;
    fieldBusy = true;
    while (wantedT !== null) {
      const want = wantedT;
      wantedT = null;
      const f = await attempt(() => api.field(want), 'Could not compute the field');
      if (f) onField(f);
    }
    fieldBusy = false;
  }

  function onEvent(e: DiffusionEvent): void {
    if (panels.onEvent(e)) return;
    switch (e.type) {
      case 'status':
        setInfo(e.info);
        break;
      case 'metrics':
        for (const r of e.steps) {
          if (Number.isFinite(r.loss)) {
            smooth = { value: smooth.value * 0.97 + r.loss * 0.03, n: smooth.n + 1 };
            if (!Number.isFinite(view.firstLoss)) view.firstLoss = r.loss;
            view.lastLoss = r.loss;
          }
          charts.loss.push(r.step, [r.loss, smooth.n ? smooth.value / (1 - 0.97 ** smooth.n) : null]);
        }
        if (e.steps.length) {
          const last = e.steps[e.steps.length - 1];
          view.steps = last.step;
          if (info && info.state !== 'empty') facts.innerHTML = describe({ ...info, step: last.step });
          stateLine.textContent =
            `${info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, loss ${fmtNum(last.loss, 4)}, ${fmtMs(last.stepMs)} per step.`;
        }
        break;
      case 'samples':
        lastSamples = e;
        plane.setPoints(e.points);
        view.samples++;
        view.samplesStep = e.step;
        view.samplesKey = fingerprint(e.points, 2);
        showReadout();
        break;
      case 'quality':
        charts.quality.push(e.step, [e.mmd, e.slicedWasserstein]);
        if (e.modes) charts.modes.push(e.step, [e.modes.covered, 100 * e.modes.nearMode]);
        view.quality = { mmd: e.mmd, slicedWasserstein: e.slicedWasserstein };
        break;
      case 'field':
        onField(e);
        break;
      case 'error':
        showMessage(banner, 'error', explain(e.error, 'Training stopped'));
        break;
    }
  }

  function onField(f: FieldEvent): void {
    lastField = f;
    view.fields++;
    if (showField.checked) plane.setField(f);
    showReadout();
  }

  function showReadout(): void {
    const parts: string[] = [];
    if (lastSamples) parts.push(`samples at step ${lastSamples.step} (${lastSamples.sampler.toUpperCase()}, ${lastSamples.steps} steps)`);
    const f = lastField;
    if (f) {
      const pending = wantedT !== null && wantedT !== f.t ? ` (t = ${wantedT} coming)` : '';
      parts.push(`field at t = ${f.t}: signal √ᾱ = ${Math.sqrt(f.alphaBar).toFixed(3)}, noise √(1−ᾱ) = ${Math.sqrt(1 - f.alphaBar).toFixed(3)}${pending}`);
    }
    $('plane-readout').textContent = parts.join(' · ');
  }

  function setInfo(next: DiffusionInfo): void {
    info = next;
    view.info = next;
    facts.innerHTML = describe(next);
    const running = next.state === 'running';
    if (next.state !== 'empty') showMode(next.kind);
    startBtn.textContent = running ? 'Pause' : next.step > 0 ? 'Resume' : 'Start';
    const ready = next.state !== 'empty' && !session.busy;
    startBtn.disabled = !ready;
    stepBtn.disabled = !ready || running;
    resetBtn.disabled = !ready;
    saveBtn.disabled = !ready || running;
    loadBtn.disabled = session.busy || running;
    sampleBtn.disabled = !ready;
    playBtn.disabled = !ready && !player.playing;
    controls.lockModel(running || session.busy);
    upload.lock(running || session.busy);
    panels.setInfo(next, ready);
    if (next.config) {
      fieldT.max = String(next.config.timesteps - 1);
      $<HTMLInputElement>('sample-steps').max = String(next.config.timesteps);
      $('timesteps-about').textContent = String(next.config.timesteps);
      $('model-about').textContent = modelAbout(next);
      $('modes-section').hidden = next.modes === 0;
    }
    if (!running || session.busy) stateLine.textContent = session.busy ? stateLine.textContent : next.state === 'paused' ? `Paused at step ${next.step}.` : 'No model yet.';
    view.ready = ready;
  }

  /** A new model: the charts and pictures start over, with its held-out data. */
  async function startOver(next: DiffusionInfo): Promise<void> {
    for (const c of Object.values(charts)) c.clear();
    smooth = { value: 0, n: 0 };
    lastSamples = null;
    Object.assign(view, { steps: next.step, firstLoss: NaN, lastLoss: NaN, samples: 0, samplesStep: -1, samplesKey: '', quality: null });
    plane.setPoints(null);
    player.clear('Press Play to draw a sample and watch it form, step by step.');
    setInfo(next);
    if (next.kind === 'images') return panels.startOver(next);
    const held = await attempt(() => api.heldOutPoints(), 'Could not fetch the held-out data');
    plane.setData(held ?? null);
    anim.setData(held ?? null);
    // The field follows the slider: ask for its t now (the worker's first field uses its default).
    void requestField(Math.min(fieldT.valueAsNumber, (next.config?.timesteps ?? 100) - 1));
  }

  await rebuild();
}
