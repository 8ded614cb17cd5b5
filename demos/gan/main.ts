// The GAN demo page: a generator and a discriminator play their game in a Web Worker
// (src/worker/gan-*.ts) while this page draws it. On a 2D dataset: real points, generated points
// from fixed latents, the discriminator's decision surface as a heatmap and the generator's
// image of a latent grid, as toggleable layers; on digit images or the user's own: samples from
// fixed noise framed by the discriminator's verdict. Live charts of both losses, of sample quality and of the modes
// (or digit classes) covered, where mode collapse shows. The page only sends requests and draws
// what comes back, at most once per snapshot, so the main thread stays free.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), the charts (charts.ts), the plane's layers (plane.ts), the
// image grids (demos/shared/image-grid.ts), taking files (demos/shared/upload.ts), the scaffolding
// every demo page shares (probing WebGPU, the busy flag, Start/Reset/Save/Load:
// demos/shared/session-page.ts), the session (src/worker/gan-session.ts).

import { createGanClient } from '../../src/tasks/gan/client.js';
import {
  imageSide, PLANE_EXTENT, type GanApi, type GanEvent, type GanImagesEvent, type GanInfo, type GanPlaneEvent, type GanQualityEvent,
} from '../../src/tasks/gan/protocol.js';
import { adapterFact, clearMessage, escapeHtml, fingerprint, fmtCount, fmtMs, fmtNum, showMessage } from '../shared/ui.js';
import { $, probeOrExplain, sessionElements, SessionPage } from '../shared/session-page.js';
import { makeCharts } from './charts.js';
import { Controls } from './controls.js';
import { ImageGrid, type GridImages } from '../shared/image-grid.js';
import { acceptImages, tookImagesNote } from '../shared/upload.js';
import { GAME_COLORS, GamePlane, heat } from './plane.js';

const { facts, banner, stateLine, startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loadFile } = sessionElements();

let info: GanInfo | null = null;
/** Bias-corrected moving averages of both losses and of the time per iteration. */
const smooth = { d: 0, g: 0, ms: 0, n: 0, nMs: 0 };
/** The latest losses and time per iteration, in words. */
let lastLine = '';
let reals: Float32Array | null = null;

const plane = new GamePlane($<HTMLCanvasElement>('surface'), $<HTMLCanvasElement>('lattice'), $<HTMLCanvasElement>('plane'), PLANE_EXTENT);
const charts = makeCharts();
// Digits are ink on paper: +1 dark.
const samplesGrid = new ImageGrid($<HTMLCanvasElement>('samples'), { polarity: 'ink', gap: 4 });
const realsGrid = new ImageGrid($<HTMLCanvasElement>('reals'), { polarity: 'ink', gap: 4, maxHeight: 240 });

// A read-only window on the run for the browser test: numbers only; the test drives the page
// through its controls like a user.
const view = {
  ready: false, steps: 0, firstD: NaN, lastD: NaN, lastG: NaN, stepLosses: null as { dLoss: number; gLoss: number } | null,
  planes: 0, planeStep: -1, planeKey: '', images: 0, imagesStep: -1, quality: null as GanQualityEvent | null, info: null as GanInfo | null,
};
(window as unknown as { __demo: typeof view }).__demo = view;

if (await probeOrExplain(facts, banner)) await run();

async function run(): Promise<void> {
  const api: GanApi = createGanClient();
  const session = new SessionPage({
    api, banner, stateLine, explain, setInfo, info: () => info, lockBeforeInfo: [startBtn, stepBtn, resetBtn, saveBtn, loadBtn],
  });
  const { attempt, whileBusy } = session;
  await api.subscribe(onEvent);
  const controls = new Controls({
    onModelChange: () => void rebuild(),
    onHyperChange: (h) => void attempt(() => api.setHyper(h).then(setInfo), 'Could not change the learning rate'),
  });

  async function rebuild(): Promise<void> {
    const { dataset } = controls.config();
    const label = dataset === 'glyphs16' || dataset === 'glyphs28'
      ? 'Building the DCGAN (and, the first time at this size, training the digit scorer: about a minute on a CPU-emulated GPU)…'
      : dataset === 'upload' ? 'Building the DCGAN…' : 'Building the model…';
    await whileBusy(label, async () => {
      const created = await attempt(() => api.create(controls.config()), 'Could not build the model');
      if (!created) return;
      clearMessage(banner);
      await startOver(created);
    });
  }

  const upload = acceptImages((files) => void takeImages(files));
  /** The user's images: to the worker, and once it took them, a model on them; a refusal keeps the model. */
  async function takeImages(files: File[]): Promise<void> {
    const label = `Reading ${files.length} file${files.length === 1 ? '' : 's'}…`;
    const took = await session.attemptWhileBusy(label, () => api.upload({ files }, controls.uploadSide()), 'Your images were not used');
    if (!took) return;
    controls.useUpload();
    // A loaded model of an upload gets its images back and goes on; otherwise a new model on them.
    if (!took.attached) await rebuild();
    if (info?.config?.dataset === 'upload') showMessage(banner, 'info', tookImagesNote(took));
  }

  stepBtn.addEventListener('click', () =>
    void attempt(async () => {
      const r = await api.step(1);
      view.stepLosses = r;
      setInfo(await api.info());
      await api.snapshot(); // a single step is worth seeing
    }, 'Could not run a step'),
  );
  session.wireRunButtons({
    start: startBtn, reset: resetBtn, save: saveBtn, load: loadBtn, loadFile,
    afterReset: startOver,
    checkpointName: () => `gan-${info?.config?.dataset ?? 'model'}-${info?.config?.loss ?? ''}-step${info?.step ?? 0}.safetensors`,
    loadCheckpoint: async (file, bytes) => {
      // The worker builds the model the file was saved from; a file that fails leaves the current one.
      const r = await attempt(() => api.importCheckpoint(bytes), `${file.name} was not loaded`);
      if (!r) return;
      await startOver(r);
      if (r.config) controls.show(r.config);
      const next = r.canTrain
        ? 'Start to continue training from there.'
        : `Its training images are not in the file: choose them again (at ${r.config?.uploadSize} × ${r.config?.uploadSize}) to continue training; it can draw samples meanwhile.`;
      showMessage(banner, 'info', `Loaded ${file.name}: ${datasetName(r)}, ${r.config?.loss} loss, at step ${r.step}. ${next}`);
    },
  });

  const layer = (id: string, key: 'real' | 'generated' | 'surface' | 'lattice') =>
    $<HTMLInputElement>(id).addEventListener('change', (e) => plane.setLayers({ [key]: (e.target as HTMLInputElement).checked }));
  layer('show-real', 'real');
  layer('show-generated', 'generated');
  layer('show-surface', 'surface');
  layer('show-lattice', 'lattice');
  $<HTMLSelectElement>('point-colour').addEventListener('change', (e) => {
    const byLatent = (e.target as HTMLSelectElement).value === 'latent';
    plane.setLayers({ byLatent });
    $('key-generated').style.setProperty('--c', byLatent ? 'conic-gradient(#ef4444, #eab308, #22c55e, #06b6d4, #6366f1, #ef4444)' : '#2563eb');
  });

  function onEvent(e: GanEvent): void {
    switch (e.type) {
      case 'status':
        setInfo(e.info);
        break;
      case 'metrics':
        onMetrics(e.steps);
        break;
      case 'plane':
        onPlane(e);
        break;
      case 'images':
        view.images++;
        view.imagesStep = e.step;
        samplesGrid.set(gridOf(e));
        $('images-readout').textContent = `step ${e.step}: ${e.count} samples; mean D verdict ${fmtNum(mean(heat(e.logits, plane.loss)), 3)} (−1 generated … +1 real)`;
        break;
      case 'quality':
        onQuality(e);
        break;
      case 'error':
        showMessage(banner, 'error', explain(e.error, 'Training stopped'));
        break;
    }
  }

  function onMetrics(steps: { step: number; dLoss: number; gLoss: number; ms: number }[]): void {
    const k = 0.97;
    for (const r of steps) {
      if (Number.isFinite(r.dLoss) && Number.isFinite(r.gLoss)) {
        smooth.d = smooth.d * k + r.dLoss * (1 - k);
        smooth.g = smooth.g * k + r.gLoss * (1 - k);
        smooth.n++;
        if (!Number.isFinite(view.firstD)) view.firstD = r.dLoss;
        view.lastD = r.dLoss;
        view.lastG = r.gLoss;
      }
      if (Number.isFinite(r.ms)) {
        smooth.ms = smooth.ms * 0.9 + r.ms * 0.1;
        smooth.nMs++;
      }
      const c = 1 - k ** smooth.n;
      charts.loss.push(r.step, [r.dLoss, r.gLoss, smooth.n ? smooth.d / c : null, smooth.n ? smooth.g / c : null]);
    }
    const last = steps[steps.length - 1];
    if (!last) return;
    view.steps = last.step;
    lastLine = `D loss ${fmtNum(last.dLoss, 3)}, G loss ${fmtNum(last.gLoss, 3)}, ${fmtMs(smooth.nMs ? smooth.ms / (1 - 0.9 ** smooth.nMs) : NaN)} per iteration`;
    stateLine.textContent = `${info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, ${lastLine}.`;
  }

  function onPlane(e: GanPlaneEvent): void {
    plane.setSnapshot(e);
    view.planes++;
    view.planeStep = e.step;
    view.planeKey = fingerprint(e.points, 2);
    const l = e.surface.logits;
    // A critic's sign means nothing (only differences do): give its range instead of a share.
    const verdict = plane.loss === 'wgan-gp'
      ? `the critic's scores over the plane run from ${fmtNum(l.reduce((a, b) => Math.min(a, b)), 3)} to ${fmtNum(l.reduce((a, b) => Math.max(a, b)), 3)}`
      : `D calls ${(100 * l.filter((x) => x > 0).length / l.length).toFixed(0)}% of the plane real`;
    $('plane-readout').textContent = `step ${e.step}: ${verdict}`;
  }

  function onQuality(e: GanQualityEvent): void {
    view.quality = e;
    if (e.kind === 'pixels') {
      charts.quality.push(e.step, [e.mmd, e.slicedWasserstein]);
      $('images-quality').textContent = `step ${e.step}: MMD² ${fmtNum(e.mmd, 3)}, sliced Wasserstein ${fmtNum(e.slicedWasserstein, 3)} per pixel, ${e.samples} samples against ${e.samples} of your images`;
    } else if (e.kind === 'points') {
      charts.quality.push(e.step, [e.mmd, e.slicedWasserstein]);
      if (e.modes) {
        charts.modes.push(e.step, [e.modes.covered, 100 * e.modes.nearMode]);
        $('modes-now').textContent = `${e.modes.covered} of ${e.modes.of} modes covered`;
      }
    } else {
      charts.frechet.push(e.step, [e.frechet]);
      charts.classes.push(e.step, [e.classes.covered]);
      const top = e.classes.predicted.map((n, d) => [n, d]).sort((a, b) => b[0] - a[0]).slice(0, 3);
      $('images-quality').textContent =
        `step ${e.step}: ${e.classes.covered} of ${e.classes.of} digits covered (most drawn: ${top.map(([n, d]) => `${d} × ${n}`).join(', ')}); Fréchet ${fmtNum(e.frechet, 3)}`;
    }
  }

  function setInfo(next: GanInfo): void {
    info = next;
    view.info = next;
    facts.innerHTML = describe(next);
    const running = next.state === 'running';
    startBtn.textContent = running ? 'Pause' : next.step > 0 ? 'Resume' : 'Start';
    const ready = next.state !== 'empty' && !session.busy;
    startBtn.disabled = !ready || !next.canTrain;
    stepBtn.disabled = !ready || running || !next.canTrain;
    resetBtn.disabled = !ready;
    saveBtn.disabled = !ready || running;
    loadBtn.disabled = session.busy || running;
    controls.lockModel(running || session.busy);
    upload.lock(running || session.busy);
    if (next.config) {
      const images = next.kind === 'images';
      const digits = images && next.config.dataset !== 'upload';
      $('plane-section').hidden = images;
      $('images-section').hidden = !images;
      $('chart-quality').hidden = digits;
      $('chart-frechet').hidden = !digits;
      $('modes-section').hidden = next.config.dataset !== 'ring';
      $('classes-section').hidden = !digits;
      $('modes-now').hidden = next.config.dataset !== 'ring';
      $('quality-about').textContent = digits
        ? 'Fréchet distance between Gaussian fits of a small digit classifier\'s features on the samples and on held-out real digits (log scale; lower is better). FID-like, but from a classifier trained here, so compare figures from this page only.'
        : images
          ? 'Distance from the samples to your images in pixel space (log scales; lower is better): MMD² with kernels scaled to the image size, 0 for matching distributions, and the sliced Wasserstein distance per pixel. No classifier knows your images, so these see pixels, not content: a blurry average can score well; look at the samples too.'
          : 'Distance from the generated points to held-out data (log scales; lower is better): MMD², a kernel two-sample statistic that is 0 for matching distributions, and the sliced Wasserstein distance, the average cost in data units of moving one set onto the other.';
      if (plane.loss !== next.config.loss) {
        plane.loss = next.config.loss;
        plane.draw();
      }
      $('surface-scale').textContent = `Colour scale: ${plane.describeScale()}.`;
    }
    if (!running && !session.busy) stateLine.textContent = next.state === 'empty' ? 'No model yet.' : `Paused at step ${next.step}${lastLine ? `: ${lastLine}` : ''}.`;
    view.ready = ready;
  }

  /** A new model: the charts and pictures start over, with its real data. */
  async function startOver(next: GanInfo): Promise<void> {
    for (const c of Object.values(charts)) c.clear();
    Object.assign(smooth, { d: 0, g: 0, ms: 0, n: 0, nMs: 0 });
    lastLine = '';
    Object.assign(view, { steps: next.step, firstD: NaN, lastD: NaN, lastG: NaN, planes: 0, planeStep: -1, planeKey: '', images: 0, imagesStep: -1, quality: null });
    plane.setSnapshot(null);
    for (const id of ['modes-now', 'plane-readout', 'images-readout', 'images-quality']) $(id).textContent = '';
    setInfo(next);
    const ref = await attempt(() => api.reference(), 'Could not fetch the real data');
    reals = next.kind === 'images' ? ref ?? null : null;
    plane.setData(next.kind === 'points' ? ref ?? null : null);
    samplesGrid.set(null);
    realsGrid.set(realGrid());
  }

  /** The samples, each framed by D's verdict: orange "real", violet "generated", stronger when surer. */
  function gridOf(e: GanImagesEvent): GridImages {
    const frames = Array.from(heat(e.logits, plane.loss), (v) => {
      const [r, g, b] = v >= 0 ? GAME_COLORS.real : GAME_COLORS.fake;
      return Number.isFinite(v) ? `rgba(${r}, ${g}, ${b}, ${(0.25 + 0.75 * Math.min(1, Math.abs(v))).toFixed(2)})` : null;
    });
    return { images: e.images, size: e.size, channels: 1, frames };
  }

  function realGrid(): GridImages | null {
    if (!reals?.length || !info?.config) return null;
    const size = imageSide(info.config);
    const per = size * size;
    return { images: reals.subarray(0, Math.min(16, reals.length / per) * per), size, cols: 4 };
  }

  await rebuild();
}

function mean(v: Float32Array): number {
  return v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
}

function datasetName(i: GanInfo): string {
  const names: Record<string, string> = {
    swissroll: 'swiss roll', moons: 'two moons', ring: 'ring of Gaussians', spirals: 'two spirals', glyphs16: 'digits 16 × 16', glyphs28: 'digits 28 × 28', upload: 'your images',
  };
  return i.config ? names[i.config.dataset] ?? i.config.dataset : 'the model';
}

/** The line under the title: what runs where, and how big it is. */
function describe(i: GanInfo): string {
  if (i.state === 'empty' || !i.config) return `Adapter: ${escapeHtml(i.adapter || 'not known yet')}.`;
  const c = i.config;
  const players = i.kind === 'images' ? `DCGAN, width ${c.width}, z in ${c.imageLatent}D` : `MLPs ${c.layers} × ${c.hidden}, z in 2D`;
  return [
    adapterFact(i.adapter, i.isSoftware),
    `G <b>${fmtCount(i.generatorParams)}</b>, D <b>${fmtCount(i.discriminatorParams)}</b> parameters (${players})`,
    `<b>${c.loss}</b> loss${c.spectralNorm ? ', spectral norm' : ''}, ${c.dSteps} D step${c.dSteps > 1 ? 's' : ''} per G step`,
    `data: ${datasetName(i)}`,
    ...(i.scorerAccuracy !== null ? [`scorer: ${(100 * i.scorerAccuracy).toFixed(1)}% on held-out digits`] : []),
    `step <b>${i.step}</b>`,
  ].join(' · ');
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
function explain(e: unknown, context: string): string {
  const err = e as { name?: string; message?: string; reason?: string };
  const message = err?.message ?? String(e);
  const lead = context ? `${context}: ` : '';
  switch (err?.name) {
    case 'WebGPUUnavailableError':
      return `${lead}WebGPU is not available in the training worker. ${message}`;
    case 'CheckpointError':
      return ['missing', 'unexpected', 'shape', 'name', 'metadata'].includes(err.reason ?? '')
        ? `${lead}the checkpoint does not fit a GAN of this page. ${message}`
        : `${lead}the file is not a valid checkpoint (a .safetensors file saved by this page). ${message}`;
    case 'NonFiniteError':
      return `${lead}the game diverged. ${message}`;
    case 'DeviceLostError':
      return `${lead}the GPU was lost (a driver reset, or the tab was in the background too long). Reload the page. ${message}`;
    case 'DataError':
      return `${lead}${message.replace(/^image upload: /, '')} The model in memory is unchanged.`;
    default:
      return `${lead}${message}`;
  }
}

