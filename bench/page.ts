// The headless benchmark page: runs one suite of bench/registry.ts (?suite=, default matmul) on
// navigator.gpu, then its TensorFlow.js peer where it has one (unless ?peer=none), shows progress
// and the table, and leaves the result in window.__bench for Puppeteer (bench/browser.ts).
// Query string: the suites' shared parameters as bench/registry.ts reads them (?sizes=256,512,
// ?presets=tiny,mini, ?models=mlp,unet, ?profile=1, ?quick=1).
// Progress: each item that starts goes to window.__benchProgress when the runner exposed one.
// Not here: the suites, or saving results (the runner does, from Node); the charts page for
// people is demos/bench/.

import { createEngine } from '../src/engine.js';
import { parseSuites } from './args.js';
import { formatResult, readParams, withPeer, SUITE_TABLE, type BenchResult } from './registry.js';
import type { ProgressFn } from './progress.js';

declare global {
  interface Window {
    __bench?: BenchResult | { error: string };
    /** Exposed by bench/browser.ts for its status line. */
    __benchProgress?: ProgressFn;
  }
}

const logEl = document.getElementById('log')!;
const tableEl = document.getElementById('table')!;
const lines: string[] = [];
const log = (line: string) => {
  lines.push(line);
  logEl.textContent = lines.join('\n');
  // Puppeteer forwards console lines, so a headless run shows progress too.
  console.log(line);
};

const query = new URLSearchParams(location.search);
const progress: ProgressFn = (item, total, label) => void window.__benchProgress?.(item, total, label);

try {
  const [suite] = parseSuites(query.get('suite') ?? undefined);
  const params = readParams((n) => query.get(n), { runner: 'browser', environment: navigator.userAgent, log, progress });
  const engine = await createEngine({ powerPreference: 'high-performance', tune: 'upfront' });
  log(`adapter: ${JSON.stringify(engine.gpu.adapter)}`);
  let result = await SUITE_TABLE[suite].run(engine, params);
  // The peer gets the GPU to itself.
  engine.destroy();
  if (query.get('peer') !== 'none' && SUITE_TABLE[suite].peer) {
    progress(0, 0, 'TensorFlow.js peer');
    result = await withPeer(result, params);
  }
  tableEl.textContent = formatResult(result);
  tableEl.hidden = false;
  window.__bench = result;
} catch (e) {
  const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  logEl.classList.add('bad');
  log(error);
  window.__bench = { error };
}
