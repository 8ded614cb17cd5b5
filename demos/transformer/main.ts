// The transformer demo page: a character-level GPT trains in a Web Worker (src/worker) while
// this page shows its loss, learning rate, gradient norm and speed as live charts, its samples,
// and the attention map of any head. The page only sends requests and draws what comes back:
// every step, sample and checkpoint is computed in the worker, so the main thread stays free.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the form (controls.ts), reading a checkpoint's config (checkpoint.ts), the charts
// (charts.ts), the text panels (panels.ts), the heatmap (heatmap.ts), the scaffolding every demo
// page shares (probing WebGPU, the busy flag, Start/Reset/Save/Load: demos/shared/session-page.ts),
// the trainer (src/worker).

import { scoreArithmetic } from '../../src/data/corpus.js';
import { gptPresets } from '../../src/models/gpt.js';
import type { LossScaleState, MetricsEvent, TrainerApi, TrainerEvent, TrainerInfo } from '../../src/tasks/gpt/protocol.js';
import { createTrainerClient } from '../../src/tasks/gpt/client.js';
import { clearMessage, fmtMs, fmtNum, showMessage } from '../shared/ui.js';
import { $, probeOrExplain, sessionElements, SessionPage } from '../shared/session-page.js';
import { LiveChart } from '../shared/live-chart.js';
import { savedTrainerConfig, needsOtherModel } from './checkpoint.js';
import { Controls } from './controls.js';
import { AttentionHeatmap } from './heatmap.js';
import { SamplePanel, baselineNote, describe, scalerNote } from './panels.js';

const { facts, banner, stateLine, startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loadFile } = sessionElements();
const loseBtn = $<HTMLButtonElement>('lose-gpu');
const sampleBtn = $<HTMLButtonElement>('sample-now');
const attnBtn = $<HTMLButtonElement>('attn-show');
const scalerLine = $('scaler');

/** What the page knows about the run, mirrored from the worker's status events. */
let info: TrainerInfo | null = null;
/** Whether the user has asked for an attention map, so it follows training. */
let attentionShown = false;

const charts = {
  loss: new LiveChart({
    host: $('chart-loss'),
    yLabel: 'loss (nats)',
    series: [
      { label: 'train', color: '#2563eb' },
      { label: 'validation', color: '#dc2626', points: true },
    ],
  }),
  lr: new LiveChart({ host: $('chart-lr'), yLabel: 'learning rate', series: [{ label: 'lr', color: '#059669' }] }),
  grad: new LiveChart({ host: $('chart-grad'), yLabel: 'norm', series: [{ label: 'gradient norm', color: '#7c3aed' }] }),
  speed: new LiveChart({
    host: $('chart-speed'),
    yLabel: 'tokens / s',
    rightLabel: 'ms / step',
    series: [
      { label: 'tokens/s', color: '#0891b2' },
      { label: 'step time', color: '#ea580c', scale: 'right' },
    ],
  }),
};
const samples = new SamplePanel($('samples'), $('arith'));
const heatmap = new AttentionHeatmap($<HTMLCanvasElement>('attn'), $('attn-readout'));

// A read-only window on the run for the browser test: numbers only; the test drives the page
// through its controls like a user.
const view = {
  ready: false, steps: 0, firstLoss: NaN, lastLoss: NaN, lastValLoss: NaN, stepLoss: NaN, autosavedStep: 0, resumedAt: -1, samples: 0,
  info: null as TrainerInfo | null, scaler: null as LossScaleState | null,
};
(window as unknown as { __demo: typeof view }).__demo = view;

if (await probeOrExplain(facts, banner)) await run();

async function run(): Promise<void> {
  const api: TrainerApi = createTrainerClient();
  const session = new SessionPage({
    api, banner, stateLine, explain, setInfo, info: () => info, lockBeforeInfo: [startBtn, resetBtn, saveBtn, loadBtn, loseBtn],
    usableWithoutInfo: [loadBtn],
  });
  const { attempt, whileBusy } = session;
  await api.subscribe(onEvent);

  const controls = new Controls({
    onModelChange: () => void rebuild(),
    onHyperChange: (h) => void attempt(() => api.setHyper(h).then(setInfo)),
    onDataError: (m) => showMessage(banner, 'error', m),
  });

  /** A new model from the form; the charts start over. */
  async function rebuild(): Promise<void> {
    if (controls.missingText()) {
      showMessage(banner, 'info', 'Choose a text file, drop one on the box, or paste some text, then the model is built for it.');
      return;
    }
    await whileBusy('Building the model…', async () => {
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
      startOver();
      setInfo(created);
    });
  }

  stepBtn.addEventListener('click', () =>
    void attempt(async () => {
      const r = await api.step(1);
      view.stepLoss = r.loss;
      stateLine.textContent = `Paused at step ${r.step}: that step's loss was ${fmtNum(r.loss, 6)}.`;
    }, 'Could not run a step'),
  );
  session.wireRunButtons({
    start: startBtn, reset: resetBtn, save: saveBtn, load: loadBtn, loadFile,
    // As this page always showed them: failures of these three with no lead before the error's words.
    words: { start: '', pause: '', reset: '' },
    afterReset: (r) => {
      startOver();
      setInfo(r);
    },
    checkpointName: () => `gpt-${info?.config?.preset ?? 'model'}-step${info?.step ?? 0}.safetensors`,
    loadCheckpoint: async (file, bytes) => {
      const saved = savedTrainerConfig(bytes);
      const current = info?.config;
      if (saved && (!current || needsOtherModel(saved, current))) {
        // No model yet, or the checkpoint was trained as another one: build that one first.
        if (saved.data.kind === 'text' && current?.data.kind !== 'text') {
          const name = saved.data.name ? ` (${saved.data.name})` : '';
          showMessage(banner, 'warn', `${file.name} was trained on your own text${name}: choose that text under "Training text" first, then load it again.`);
          return;
        }
        const data = saved.data.kind === 'text' ? current!.data : saved.data;
        const built = await attempt(() => api.create({ ...saved, data }), `Could not build the model ${file.name} needs`);
        if (!built) return;
        controls.show(built.config!);
      }
      const r = await attempt(() => api.importCheckpoint(bytes), `${file.name} was not loaded`);
      if (!r) return;
      startOver();
      setInfo(r);
      if (r.config) controls.show(r.config);
      showMessage(banner, 'info', `Loaded ${file.name}: step ${r.step}. Start to continue training from there.`);
    },
  });
  loseBtn.addEventListener('click', () => void attempt(() => api.loseDevice(), 'Could not simulate a lost GPU'));
  sampleBtn.addEventListener('click', () =>
    void attempt(async () => {
      const prompt = $<HTMLInputElement>('sample-prompt').value;
      const temperature = $<HTMLInputElement>('temperature').valueAsNumber;
      const text = await api.sample(prompt, { length: 120, temperature: Number.isFinite(temperature) ? temperature : 0.8 });
      samples.add({ prompt, text, arithmetic: scoreArithmetic(prompt + text) }, `step ${info?.step ?? 0}, on demand`);
      view.samples = samples.count;
    }, 'Could not sample'),
  );
  attnBtn.addEventListener('click', () => {
    attentionShown = true;
    void showAttention();
  });

  async function showAttention(): Promise<void> {
    const prompt = $<HTMLInputElement>('attn-prompt').value;
    const layer = $<HTMLInputElement>('attn-layer').valueAsNumber;
    const head = $<HTMLInputElement>('attn-head').valueAsNumber;
    const map = await attempt(() => api.attentionMap(prompt, layer, head), 'Could not compute the attention map');
    if (map) heatmap.draw(map.tokens, map.weights.flat());
  }

  function onEvent(e: TrainerEvent): void {
    switch (e.type) {
      case 'status':
        setInfo(e.info);
        break;
      case 'metrics':
        plot(e);
        break;
      case 'sample':
        samples.add(e, `step ${e.step}`);
        view.samples = samples.count;
        // The attention map follows training at the pace of the samples, not every step.
        if (attentionShown) void showAttention();
        break;
      case 'autosave':
        stateLine.title = `Autosaved at step ${e.step} (${e.backend}).`;
        view.autosavedStep = e.step;
        break;
      case 'recovered':
        view.resumedAt = e.resumedAt;
        showMessage(
          banner,
          'warn',
          `The GPU was lost at step ${e.lostAt} (${e.reason}). Training picked up again on a new device from the autosave of step ${e.resumedAt}; the steps since then run again.`,
        );
        break;
      case 'error':
        showMessage(banner, 'error', explain(e.error, 'Training stopped'));
        break;
    }
  }

  function setInfo(next: TrainerInfo): void {
    info = next;
    view.info = next;
    facts.innerHTML = describe(next);
    showScaler(next.scaler);
    $('baseline').textContent = baselineNote(next);
    const running = next.state === 'running';
    startBtn.textContent = running ? 'Pause' : next.step > 0 ? 'Resume' : 'Start';
    const ready = next.state !== 'empty' && !session.busy;
    startBtn.disabled = !ready;
    stepBtn.disabled = !ready || running;
    resetBtn.disabled = !ready;
    saveBtn.disabled = !ready || running;
    loadBtn.disabled = session.busy || running;
    loseBtn.disabled = !running;
    sampleBtn.disabled = !ready;
    attnBtn.disabled = !ready;
    controls.lockModel(running || session.busy);
    if (next.config) {
      const shape = gptPresets[next.config.preset];
      $<HTMLInputElement>('attn-layer').max = String(shape.nLayer - 1);
      $<HTMLInputElement>('attn-head').max = String(shape.nHead - 1);
    }
    stateLine.textContent = running ? `Training: step ${next.step}.` : next.state === 'paused' ? `Paused at step ${next.step}.` : 'No model yet.';
    view.ready = ready;
  }

  function plot(e: MetricsEvent): void {
    for (const r of e.steps) {
      charts.loss.push(r.step, [r.loss, null]);
      charts.lr.push(r.step, [r.lr]);
      charts.grad.push(r.step, [r.gradNorm]);
      charts.speed.push(r.step, [r.throughput, r.stepMs]);
      if (Number.isFinite(r.loss)) {
        if (!Number.isFinite(view.firstLoss)) view.firstLoss = r.loss;
        view.lastLoss = r.loss;
      }
    }
    for (const v of e.evals) {
      charts.loss.push(v.step, [null, v.valLoss]);
      view.lastValLoss = v.valLoss;
    }
    if (e.scaler) showScaler(e.scaler);
    const last = e.steps.at(-1);
    if (last) {
      view.steps = last.step;
      stateLine.textContent =
        `${info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, loss ${fmtNum(last.loss, 4)}, ` +
        `${fmtNum(last.throughput, 3)} tokens/s, ${fmtMs(last.stepMs)} per step.`;
    }
  }

  /** The loss scaler's line, shown in mixed precision only. */
  function showScaler(sc: LossScaleState | null): void {
    view.scaler = sc;
    scalerLine.hidden = !sc;
    scalerLine.textContent = sc ? scalerNote(sc) : '';
  }

  function startOver(): void {
    for (const c of Object.values(charts)) c.clear();
    samples.clear();
    Object.assign(view, { steps: 0, firstLoss: NaN, lastLoss: NaN, lastValLoss: NaN, samples: 0 });
  }

  // A run saved in this browser is offered before anything is built.
  const saved = await attempt(() => api.hasAutosave());
  if (saved) {
    const when = new Date(saved.savedAt).toLocaleString();
    showMessage(banner, 'info', `A ${saved.model} model saved at step ${saved.step} (${when}) is in this browser's storage.`, [
      {
        label: 'Resume it',
        run: () =>
          void whileBusy('Restoring the saved run…', async () => {
            const r = await attempt(() => api.resumeAutosave(), 'The saved run could not be restored');
            if (!r) return;
            clearMessage(banner);
            startOver();
            setInfo(r);
            if (r.config) controls.show(r.config);
          }),
      },
      { label: 'Start a new model', run: () => void rebuild() },
    ]);
    loadBtn.disabled = false;
  } else {
    await rebuild();
  }
}

/** A failure in words for the banner: what went wrong and, where the error says, what to do. */
function explain(e: unknown, context: string): string {
  const err = e as { name?: string; message?: string; reason?: string };
  const name = err?.name ?? 'Error';
  const message = err?.message ?? String(e);
  const lead = context ? `${context}: ` : '';
  switch (name) {
    case 'WebGPUUnavailableError':
      return `${lead}WebGPU is not available in the training worker. ${message}`;
    case 'CheckpointError':
      // Entries that are missing, extra or of another shape: a checkpoint of another model.
      return ['missing', 'unexpected', 'shape', 'name', 'metadata'].includes(err.reason ?? '')
        ? `${lead}the checkpoint does not fit this model. ${message}`
        : `${lead}the file is not a valid checkpoint (a .safetensors file saved by this page). ${message}`;
    case 'DataError':
      // A character the vocabulary lacks (in a prompt, say) is not a problem with the text.
      return err.reason === 'vocabulary' ? `${lead}${message}` : `${lead}the training text cannot be used. ${message}`;
    case 'DeviceLostError':
      return `${lead}the GPU was lost (a driver reset, or the tab was in the background too long). Reload the page; an autosave may let you resume. ${message}`;
    case 'NonFiniteError':
      return `${lead}the loss became NaN or infinite; lower the learning rate and reset. ${message}`;
    default:
      return `${lead}${message}`;
  }
}
