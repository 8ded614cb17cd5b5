// The browser check page: runs the op checks in the page, then in a Web Worker, shows both as
// a table, then has two workers in turn compile the same small plan (their kernel picks), and
// leaves it all in window.__results for Puppeteer (test/browser.test.ts).
// Query string: ?ops=matmul,softmax checks only those ops; ?grad=1 adds gradient checks.
// Not here: the checks themselves (test/support/opchecks.ts).

import { wrap, type Remote } from 'comlink';
import { runChecks, type CheckRequest, type ContextReport } from './checks.js';
import type { CheckWorker } from './worker.js';

const query = new URLSearchParams(location.search);
const request: CheckRequest = {
  ops: query.get('ops')?.split(',').filter(Boolean),
  grad: query.get('grad') === '1',
};

const status = document.getElementById('status')!;
const table = document.getElementById('results') as HTMLTableElement;

function show(report: ContextReport): void {
  const failed = report.results.filter((r) => !r.ok).length;
  const adapter = report.adapter ? `${report.adapter.vendor} ${report.adapter.architecture}`.trim() : 'none';
  const summary = report.error
    ? `${report.context}: ${report.error}`
    : `${report.context}: ${report.results.length - failed} passed, ${failed} failed ` +
      `in ${(report.ms / 1000).toFixed(1)} s (adapter: ${adapter || 'unnamed'})`;
  const p = document.createElement('p');
  p.textContent = summary;
  p.className = report.error || failed ? 'bad' : 'good';
  status.append(p);
  for (const r of report.results) {
    const row = table.insertRow();
    row.className = r.ok ? 'good' : 'bad';
    for (const text of [report.context, r.op, r.case, r.ok ? 'ok' : 'FAIL', r.detail]) {
      row.insertCell().textContent = text;
    }
  }
}

/** Runs `call` in a fresh worker, then ends the worker; a worker that fails to load rejects instead of hanging. */
async function inWorker<T>(call: (w: Remote<CheckWorker>) => Promise<T>): Promise<T> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new Error(`the worker failed to load: ${e.message || 'no message'}`)));
  });
  try {
    return await Promise.race([call(wrap<CheckWorker>(worker)), failed]);
  } finally {
    worker.terminate();
  }
}

// One after the other: on a CPU-emulated adapter the two would only slow each other down.
status.textContent = 'Running in the page…';
const page = await runChecks('page', request);
status.textContent = '';
show(page);
const pending = status.appendChild(document.createElement('p'));
pending.textContent = 'Running in a Web Worker…';
const worker = await inWorker((w) => w.run(request)).catch(
  (e): ContextReport => ({ context: 'worker', adapter: null, results: [], error: String(e), ms: 0 }),
);
pending.remove();
show(worker);
// Two workers one after the other, as two loads of a page: the second takes the first one's picks.
const first = await inWorker((w) => w.tunedPicks());
const second = await inWorker((w) => w.tunedPicks());
window.__results = { page, worker, tuning: { first, second } };
