// The browser check page: runs the op checks in the page, then in a Web Worker, shows both as
// a table, and leaves the reports in window.__results for Puppeteer (test/browser.test.ts).
// Query string: ?ops=matmul,softmax checks only those ops; ?grad=1 adds gradient checks.
// Not here: the checks themselves (test/support/opchecks.ts).

import { wrap } from 'comlink';
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

/** Runs the checks in a fresh worker; a worker that fails to load rejects instead of hanging. */
async function inWorker(): Promise<ContextReport> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new Error(`the worker failed to load: ${e.message || 'no message'}`)));
  });
  try {
    return await Promise.race([wrap<CheckWorker>(worker).run(request), failed]);
  } catch (e) {
    return { context: 'worker', adapter: null, results: [], error: String(e), ms: 0 };
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
const worker = await inWorker();
pending.remove();
show(worker);
window.__results = { page, worker };
