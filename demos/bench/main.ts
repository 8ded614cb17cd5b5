// The bench page: picks suites of bench/registry.ts (a checkbox each, the soak run left out),
// runs them in a Web Worker (bench-worker.ts) on this browser's adapter, and shows each finished
// suite as charts (charts.ts, drawn by plot.ts) above its tables, with the adapter's name,
// features, limits and measured peak (from whichever suite measured it) at the top, progress and
// log lines as they come, and each result as the JSON bench/save.ts writes, for
// `npm run bench:compare`.
// Query string: ?suites=conv,matmul&quick=0&peer=0 sets the form.
// Leaves a small read-only view in window.__bench for the browser test.
// Not here: the suites (bench/), the worker's side (bench-worker.ts), the charts (charts.ts).

import type { BenchResult } from '../../bench/registry.js';
import { OPTIONAL_FEATURES } from '../../src/gpu/device.js';
import { wrapMethods } from '../../src/worker/rpc.js';
import { $, make } from '../shared/dom.js';
import { adapterLabel, downloadBytes, fmtMs, fmtNum, probeOrExplain, showMessage } from '../shared/ui.js';
import { chartsFor, peakOf } from './charts.js';
import { drawChart } from './plot.js';
import { BENCH_METHODS, type BenchApi, type BenchEvent, type BenchInfo } from './protocol.js';

const facts = $('facts');
const banner = $('message');
const suitesBox = $('suites');
const quickBox = $<HTMLInputElement>('quick');
const peerBox = $<HTMLInputElement>('peer');
const runBtn = $<HTMLButtonElement>('run');
const stopBtn = $<HTMLButtonElement>('stop');
const downloadBtn = $<HTMLButtonElement>('download');
const stateLine = $('state');
const adapterPanel = $('adapter');
const resultsBox = $('results');
const logEl = $('log');

/** Log lines kept on screen: enough for a long run, few enough to stay quick to draw. */
const MAX_LOG = 400;

// A read-only window on the page for the browser test.
const view = {
  info: null as BenchInfo | null,
  running: false,
  results: [] as BenchResult[],
  failed: [] as { suite: string; error: string }[],
};
(window as unknown as { __bench: typeof view }).__bench = view;

const query = new URLSearchParams(location.search);
if (query.has('quick')) quickBox.checked = query.get('quick') !== '0';
if (query.has('peer')) peerBox.checked = query.get('peer') !== '0';

let worker: { api: BenchApi & { terminate(): void }; died: Promise<string> } | null = null;
const logLines: string[] = [];
/** The run under way (or the last one) is in quick mode. */
let quickRun = false;
/** A figure of the adapter's measured peak, the suite that measured it, and whether in quick mode. */
interface PeakFigure { value: number; suite: string; quick: boolean }
/** The peak's two figures as the results so far give them: each kept apart, as a suite may measure one only. */
const peak: { gflops?: PeakFigure; gbPerSecond?: PeakFigure } = {};
const peakLine = make('span', {}, 'not measured yet: the peak suite measures it (so do matmul, conv, kernels and optimizer, for their shares of peak)');

if (await probeOrExplain(facts, banner, 'the benchmark worker')) {
  try {
    const w = connect();
    const info = await Promise.race([w.api.info(), w.died.then((m) => Promise.reject(new Error(m)))]);
    view.info = info;
    showSuites(info);
    showAdapter(info);
    facts.replaceChildren(adapterFact(info), '. Pick suites and press Run.');
    runBtn.disabled = false;
  } catch (e) {
    showMessage(banner, 'error', `The benchmark worker could not start an engine: ${(e as Error).message}`);
  }
}

/** A fresh worker with this page subscribed to its events; `died` resolves if it fails to load or crashes. */
function connect(): NonNullable<typeof worker> {
  const w = new Worker(new URL('./bench-worker.ts', import.meta.url), { type: 'module' });
  const died = new Promise<string>((resolve) => w.addEventListener('error', (e) => resolve(e.message || 'the worker failed to load')));
  const api = wrapMethods<BenchApi>(w, BENCH_METHODS);
  // Events already in flight from a stopped worker are dropped.
  void api.subscribe((e) => void (worker?.api === api && onEvent(e)));
  worker = { api, died };
  return worker;
}

function adapterFact(info: BenchInfo): HTMLElement {
  return make('span', {}, 'Adapter: ', make('b', {}, `${adapterLabel(info.adapter)}${info.adapter.isSoftware ? ' (software: a CPU emulation)' : ''}`));
}

function showSuites(info: BenchInfo): void {
  const wanted = query.get('suites')?.split(',') ?? ['matmul'];
  suitesBox.replaceChildren(
    ...info.suites.map((s) =>
      make('label', { className: 'choice' },
        make('input', { type: 'checkbox', name: 'suite', value: s.name, checked: wanted.includes(s.name) }),
        ` ${s.name}`,
        make('span', { className: 'hint' }, s.title + (s.hasPeer ? '; TensorFlow.js alongside' : ''))),
    ),
  );
}

/** Bytes as KiB, MiB or GiB: limits are powers of two. */
function bytes(n: number): string {
  const [unit, size] = n >= 2 ** 30 ? ['GiB', 2 ** 30] : n >= 2 ** 20 ? ['MiB', 2 ** 20] : n >= 2 ** 10 ? ['KiB', 2 ** 10] : ['B', 1];
  return `${Number((n / size).toPrecision(4))} ${unit}`;
}

/** Shows the peak a result carries, so the panel says what the shares of peak below divide by. */
function showPeak(r: BenchResult): void {
  const p = peakOf(r);
  if (!p) return;
  for (const k of ['gflops', 'gbPerSecond'] as const) {
    const value = p[k];
    // The peak suite's own figures win over the calibrations other suites make for their shares.
    if (value === undefined || (peak[k]?.suite === 'peak' && r.suite !== 'peak')) continue;
    peak[k] = { value, suite: r.suite, quick: quickRun };
  }
  const from = (f: PeakFigure) => `(from the ${f.suite} suite${f.quick ? ', quick mode' : ''})`;
  const parts = [
    peak.gflops && `${fmtNum(peak.gflops.value)} GFLOP/s of FMAs ${from(peak.gflops)}`,
    peak.gbPerSecond && `${fmtNum(peak.gbPerSecond.value)} GB/s of copying ${from(peak.gbPerSecond)}`,
  ];
  peakLine.textContent = parts.filter(Boolean).join(', ');
}

function showAdapter(info: BenchInfo): void {
  const a = info.adapter;
  const rows: [string, string | Node][] = [
    ['Adapter', [a.vendor && `vendor ${a.vendor}`, a.architecture && `architecture ${a.architecture}`, a.device && `device ${a.device}`, a.description && `“${a.description}”`].filter(Boolean).join(', ') || 'unnamed (the browser reported nothing)'],
    ['Kind', a.isSoftware ? 'software: WebGPU emulated on the CPU, so every figure below is a CPU figure' : 'hardware GPU'],
    ['Features', features(info.features)],
    ['Timing', info.timestamps
      ? 'GPU timestamps for kernel loops (timestamp-query); the wall clock for whole steps and plans'
      : 'the wall clock everywhere (no timestamp-query on this adapter)'],
    ['Measured peak', peakLine],
    ...Object.entries(info.limits).map(([k, v]): [string, string] => [k, /Size$/.test(k) && !/WorkgroupSize/.test(k) ? bytes(v) : v.toLocaleString('en')]),
    ['Browser', info.environment],
  ];
  adapterPanel.replaceChildren(
    ...rows.flatMap(([k, v]) => [make('dt', {}, k), make('dd', {}, v)]),
  );
}

/** The optional features the engine knows, each marked as there or not. */
function features(have: string[]): HTMLElement {
  return make('span', {}, ...OPTIONAL_FEATURES.map((f) => make('span', { className: have.includes(f) ? 'yes' : 'no' }, `${have.includes(f) ? '✓' : '✗'} ${f}  `)));
}

// ---------------------------------------------------------------------------------------------
// a run

let clock = 0;
let status = '';
let t0 = 0;

function setState(text: string): void {
  status = text;
  stateLine.textContent = `${status}  ·  ${fmtMs(performance.now() - t0)}`;
}

function onEvent(e: BenchEvent): void {
  if (e.type === 'log') log(e.line);
  else if (e.type === 'progress') {
    const item = e.total > 0 ? `${e.item}/${e.total} ${e.label}` : e.label;
    setState(`${e.count > 1 ? `suite ${e.index} of ${e.count}: ` : ''}${e.suite}, ${item}`);
  } else if (e.type === 'result') {
    view.results.push(e.result);
    showResult(e.result, e.table);
    showPeak(e.result);
    downloadBtn.disabled = false;
  } else {
    view.failed.push({ suite: e.suite, error: e.error });
    log(`${e.suite} failed: ${e.error}`);
    showFailure(e.suite, e.error);
  }
}

function log(line: string): void {
  logLines.push(line);
  if (logLines.length > MAX_LOG) logLines.splice(0, logLines.length - MAX_LOG);
  logEl.textContent = logLines.join('\n');
  logEl.scrollTop = logEl.scrollHeight;
}

runBtn.addEventListener('click', () => void run());
stopBtn.addEventListener('click', () => {
  worker?.api.terminate();
  worker = null;
  log('stopped: the worker and its GPU device are gone; finished suites stay.');
  finish('Stopped.');
});
downloadBtn.addEventListener('click', () => view.results.forEach(download));

async function run(): Promise<void> {
  const suites = [...suitesBox.querySelectorAll<HTMLInputElement>('input[name=suite]:checked')].map((b) => b.value);
  if (!suites.length) return showMessage(banner, 'warn', 'Pick at least one suite.');
  banner.hidden = true;
  view.results = [];
  view.failed = [];
  view.running = true;
  quickRun = quickBox.checked;
  resultsBox.replaceChildren();
  logLines.length = 0;
  log(`${suites.join(', ')}${quickBox.checked ? ', quick mode' : ''}${peerBox.checked ? ', TensorFlow.js peer' : ''}`);
  for (const el of [runBtn, downloadBtn, quickBox, peerBox]) el.disabled = true;
  stopBtn.disabled = false;
  t0 = performance.now();
  setState('starting');
  clock = window.setInterval(() => setState(status), 500);
  const w = worker ?? connect();
  const crash = w.died.then((m) => Promise.reject(new Error(m)));
  try {
    await Promise.race([w.api.run({ suites, quick: quickBox.checked, peer: peerBox.checked }), crash]);
    finish(`Done: ${view.results.length} of ${suites.length} suites in ${fmtMs(performance.now() - t0)}.`);
  } catch (e) {
    if (worker !== w) return; // stopped on purpose
    showMessage(banner, 'error', `The run stopped: ${(e as Error).message}`);
    finish('Failed.');
  }
}

function finish(text: string): void {
  clearInterval(clock);
  stateLine.textContent = text;
  view.running = false;
  for (const el of [runBtn, quickBox, peerBox]) el.disabled = false;
  stopBtn.disabled = true;
  downloadBtn.disabled = view.results.length === 0;
}

/** Offers a result as the JSON file bench/save.ts would write, under the same name. */
function download(r: BenchResult): void {
  const stamp = r.date.replace(/[:.]/g, '-');
  downloadBytes(new TextEncoder().encode(JSON.stringify(r, null, 2) + '\n'), `${r.suite}-${r.runner}-${stamp}.json`, 'application/json');
}

// ---------------------------------------------------------------------------------------------
// a suite's section

function section(suite: string): HTMLElement {
  const s = make('section', { id: `result-${suite}` }, make('h2', {}, `${suite}: ${view.info?.suites.find((x) => x.name === suite)?.title ?? ''}`));
  resultsBox.append(s);
  return s;
}

function showResult(r: BenchResult & { timing?: string }, table: string): void {
  const s = section(r.suite);
  const timing = r.timing === 'timestamp' ? 'GPU timestamps' : 'the wall clock';
  const save = make('button', { type: 'button', className: 'download' }, 'Download JSON');
  save.addEventListener('click', () => download(r));
  s.append(make('p', { className: 'explain' }, `Timed by ${timing}${quickRun ? ', in quick mode (rough figures)' : ''}, ${r.date}.`, ' ', save));
  for (const spec of chartsFor(r)) {
    const host = make('div', { className: 'chart' });
    s.append(make('h3', {}, spec.title), make('p', { className: 'explain' }, spec.note), host);
    drawChart(host, spec);
  }
  s.append(tableOf(table));
}

function showFailure(suite: string, error: string): void {
  section(suite).append(make('p', { className: 'bad' }, error));
}

/**
 * A suite's text table as HTML: runs of tab-separated lines become a table (the first its head),
 * other lines captions. Each table gets a scroll box of its own, so one too wide for the page
 * scrolls sideways right where it is, under its caption, not the whole stack of tables at once.
 */
function tableOf(text: string): HTMLElement {
  const box = make('div', { className: 'table' });
  let body: HTMLTableSectionElement | null = null;
  for (const line of text.split('\n')) {
    if (!line.includes('\t')) {
      body = null;
      box.append(make('p', {}, line));
      continue;
    }
    const head = !body;
    if (!body) {
      const t = make('table');
      box.append(make('div', { className: 'scroll' }, t));
      t.append(t.createTHead());
      body = t.createTBody();
    }
    const row = (head ? (body.parentElement as HTMLTableElement).tHead! : body).insertRow();
    for (const [i, cell] of line.split('\t').entries()) {
      row.append(make(head ? 'th' : 'td', {}, ...(i === 0 ? rowName(cell) : [cell])));
    }
  }
  return box;
}

/** A row's name with each parenthesised part kept on one line: 'fc up dW (512x64^T . 512x256)' wraps before its shape, not inside it. */
function rowName(text: string): (string | HTMLElement)[] {
  return text.split(/(\([^)]*\))/).filter(Boolean).map((part) => (part.startsWith('(') ? make('span', { className: 'unit' }, part) : part));
}
