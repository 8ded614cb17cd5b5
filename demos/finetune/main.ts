// The fine-tuning demo page: a pretrained GPT-2 the user brings learns the user's text in a Web
// Worker (src/tasks/finetune) while this page shows what each strategy needs of the device, the
// loss per step and the held-out perplexity from the pretrained model's on, and samples from the
// same prompts before and after side by side. The page only sends requests and draws what comes
// back, so the main thread stays free; nothing is downloaded, the files stay in the tab.
// This file wires the page's parts to the worker: the base files go to the worker once a whole
// set is chosen (its summary comes back, and the run saved in this browser is offered), Prepare
// builds the run the form describes, the exports download the files other tools read, and the
// worker's events go to the parts that show them.
// Leaves a small read-only view in window.__demo for the browser test.
// Not here: the files box and the memory table (files.ts), the form (controls.ts), the charts
// (charts.ts), the words and the samples (text.ts), the scaffolding every demo page shares
// (demos/shared/session-page.ts), the session (src/tasks/finetune).

import type { StepRecord } from '../../src/metrics.js';
import { createFinetuneClient, type FinetuneClient } from '../../src/tasks/finetune/client.js';
import type { BaseFiles, EvalRecord, FinetuneEvent, FinetuneInfo } from '../../src/tasks/finetune/protocol.js';
import { $ } from '../shared/dom.js';
import { sessionElements, SessionPage, trackLosses, viewForTests, trackCoreEvent, type RunState } from '../shared/session-page.js';
import { clearMessage, downloadBytes, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { FinetuneCharts } from './charts.js';
import { Controls } from './controls.js';
import { BaseFilesBox, showSummary } from './files.js';
import { describe, explain, perplexityWords, SamplesPanel, strategyWords } from './text.js';

const elements = sessionElements('Run one training step');
const { banner, stateLine } = elements;
const createBtn = $<HTMLButtonElement>('create');
const mergedBtn = $<HTMLButtonElement>('export-merged');
const adaptersBtn = $<HTMLButtonElement>('export-adapters');

const view = viewForTests({
  ready: false, steps: 0, info: null as FinetuneInfo | null, autosavedStep: 0, resumedAt: -1, exports: 0,
  firstLoss: NaN, lastLoss: NaN, evals: 0, perplexityBefore: NaN, lastPerplexity: NaN, samplesBefore: 0, samplesAfter: 0, samplesStep: -1,
});

interface Page {
  api: FinetuneClient;
  session: SessionPage<FinetuneInfo, FinetuneEvent, { step: number; loss: number }>;
  controls: Controls;
  charts: FinetuneCharts;
  samples: SamplesPanel;
  files: BaseFilesBox;
}

let offered = false;
let lastLine = '';
/** The steps measured so far (an event and the run's answer may both bring step 0). */
const evalSteps = new Set<number>();

if (await probeOrExplain(elements.facts, banner)) await open();

async function open(): Promise<void> {
  const api = createFinetuneClient();
  const session = new SessionPage({
    api, elements, explain, describe, show: (info, run) => show(p, info, run), loadWithoutInfo: true,
    pausedNote: () => (lastLine ? `: ${lastLine}` : ''),
  });
  const p: Page = {
    api,
    session,
    controls: new Controls({
      onHyperChange: (h) => {
        if (session.info?.state !== 'empty') void session.attempt(() => api.setHyper(h).then(session.setInfo), 'Could not change the setting');
      },
      onChange: () => session.info && show(p, session.info, { running: session.info.state === 'running', ready: session.info.state !== 'empty' && !session.busy }),
      onTextError: (m) => showMessage(banner, 'error', m),
    }),
    charts: new FinetuneCharts(),
    samples: new SamplesPanel(),
    files: new BaseFilesBox((files) => void takeBase(p, files)),
  };
  session.wireRunButtons({
    afterStep: async () => session.setInfo(await api.info()),
    afterReset: (r) => startOver(p, r),
    checkpointName: () => `finetune-${session.info?.config?.strategy.kind ?? 'run'}-step${session.info?.step ?? 0}.safetensors`,
    beforeLoad: async () => {
      if (!session.info?.base) {
        showMessage(banner, 'error', 'A fine-tuning checkpoint holds only what training changed: give the pretrained model\'s files it was fine-tuned from first, then load it.');
        return false;
      }
      clearFigures(p);
      return true;
    },
    afterLoad: (r, file) => {
      showLoaded(p, r);
      showMessage(banner, 'info', `Loaded ${file.name}: ${strategyWords(r.config!.strategy)} at step ${r.step}. Start to continue training from there.`);
    },
  });
  // After the scaffolding's own listener has sent the request, before any answer or event of the new run.
  elements.resetBtn.addEventListener('click', () => clearFigures(p));
  createBtn.addEventListener('click', () => void prepare(p));
  mergedBtn.addEventListener('click', () => void exportFiles(p, 'merged'));
  adaptersBtn.addEventListener('click', () => void exportFiles(p, 'adapters'));
  await session.follow((e) => onEvent(p, e));
  session.setInfo(await api.info());
  // A saved run holds only what training changed: it can be resumed once its base files are given.
  const saved = await api.hasAutosave().catch(() => null);
  const resume = saved ? ` A ${saved.model} model saved at step ${saved.step} is in this browser's storage: give the files of the base it was fine-tuned from to resume it.` : '';
  showMessage(banner, 'info', `Choose or drop the pretrained model's files to begin: model.safetensors, config.json, and vocab.json with merges.txt (or tokenizer.json).${resume}`);
}

/** The worker checks and holds the files; its summary shows; the first time, the run saved in this browser is offered. */
async function takeBase(p: Page, files: BaseFiles): Promise<void> {
  const { api, session, controls } = p;
  const summary = await session.attemptWhileBusy('Reading the model\'s files…', () => api.base(files), 'The model\'s files were not used');
  if (!summary) return;
  clearMessage(banner);
  controls.fitTo(summary.nLayer, summary.context);
  showMessage(banner, 'info', `Took ${summary.names.weights}. ${controls.hasText ? 'Prepare the run to load its weights.' : 'Now bring your text, then prepare the run.'}`);
  if (!offered && session.info?.state === 'empty') {
    offered = true;
    // Nothing is shown yet, so the resumed run's first figures need no clearing before it.
    await session.offerSavedRun((r) => showLoaded(p, r), async () => clearMessage(banner));
  }
}

/** Prepare: the run the form describes, built beside the current one; the charts and samples start over. */
async function prepare(p: Page): Promise<void> {
  const { api, session, controls } = p;
  clearFigures(p); // before the request: the new run's first figures may come before its answer
  await session.whileBusy('Preparing the run: loading the weights and measuring the pretrained model…', async () => {
    const created = await session.attempt(() => api.create(controls.config()), 'Could not prepare the run');
    if (!created) return;
    clearMessage(banner);
    startOver(p, created);
  });
}

async function exportFiles({ api, session }: Page, which: 'merged' | 'adapters'): Promise<void> {
  const files = await session.attempt(() => (which === 'merged' ? api.exportMerged() : api.exportAdapters()), 'Could not export');
  if (!files) return;
  const [weights, config] = which === 'merged' ? ['model.safetensors', 'config.json'] : ['adapter_model.safetensors', 'adapter_config.json'];
  downloadBytes(files.weights, weights);
  downloadBytes(new TextEncoder().encode(files.config), config, 'application/json');
  view.exports++;
}

function onEvent(p: Page, e: FinetuneEvent): void {
  if (trackCoreEvent(view, e)) return;
  switch (e.type) {
    case 'metrics':
      p.charts.plot(e.steps, e.evals);
      onMetrics(p, e.steps, e.evals);
      break;
    case 'samples':
      p.samples.showAfter(e);
      view.samplesAfter = p.samples.shown;
      view.samplesStep = p.samples.step;
      break;
  }
}

function onMetrics({ session }: Page, steps: StepRecord[], evals: EvalRecord[]): void {
  trackLosses(view, steps.map((r) => r.loss));
  for (const e of evals) {
    if (e.step === 0) view.perplexityBefore = e.perplexity;
    if (e.step >= Math.max(-1, ...evalSteps)) view.lastPerplexity = e.perplexity;
    evalSteps.add(e.step);
  }
  view.evals = evalSteps.size;
  const last = steps.at(-1);
  if (last) view.steps = last.step;
  const step = last?.step ?? session.info?.step ?? 0;
  $('perplexity-readout').textContent = perplexityWords(view.perplexityBefore, view.lastPerplexity, step);
  if (!last) return;
  lastLine = `loss ${fmtNum(last.loss, 4)}, held-out perplexity ${fmtNum(view.lastPerplexity, 4)}`;
  stateLine.textContent = `${session.info?.state === 'running' ? 'Training' : 'Paused'}: step ${last.step}, ${lastLine}.`;
}

/** What the page shows of a new info besides the run buttons. */
function show(p: Page, info: FinetuneInfo, { running, ready }: RunState): void {
  const { session, controls, files } = p;
  view.info = info;
  view.ready = ready;
  showSummary(info.base);
  controls.lock(running || session.busy);
  files.lock(running || session.busy);
  createBtn.disabled = running || session.busy || !info.base || !controls.hasText;
  mergedBtn.disabled = !ready;
  adaptersBtn.disabled = !ready || info.config?.strategy.kind !== 'lora';
}

/** A run the worker built from a file or an autosave: the form shows its config. */
function showLoaded(p: Page, r: FinetuneInfo): void {
  startOver(p, r);
  if (r.config) p.controls.show(r.config);
}

/** The charts, samples and figures of the run shown, forgotten before a request that replaces it. */
function clearFigures({ charts, samples }: Page): void {
  charts.clear();
  samples.clear();
  lastLine = '';
  evalSteps.clear();
  Object.assign(view, { firstLoss: NaN, lastLoss: NaN, evals: 0, perplexityBefore: NaN, lastPerplexity: NaN, samplesAfter: 0, samplesStep: -1 });
}

/**
 * A new run is shown: its info, the pretrained model's samples and perplexity (which its first
 * events also bring, whether they came before this or come after).
 */
function startOver({ session, charts, samples }: Page, info: FinetuneInfo): void {
  samples.showBefore(info.samplesBefore);
  charts.plot([], [{ step: 0, valLoss: Math.log(info.perplexityBefore), perplexity: info.perplexityBefore, trainLoss: NaN }]);
  evalSteps.add(0);
  Object.assign(view, { steps: info.step, perplexityBefore: info.perplexityBefore, samplesBefore: info.samplesBefore.length, evals: evalSteps.size });
  if (!Number.isFinite(view.lastPerplexity)) view.lastPerplexity = info.perplexityBefore;
  session.setInfo(info);
}
