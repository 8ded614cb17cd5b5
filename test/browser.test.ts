// The op checks that run in Node, run again in headless Chromium: once in a page and once in a
// Web Worker, through the public module, on the browser's own WebGPU implementation. Catches
// what Node cannot: module loading in the browser, WorkerNavigator.gpu, and differences
// between Chromium's WGSL compiler and that of Dawn in Node. Also: kernel picks measured in one
// worker are found by the next (a page's engine lives in a worker).
// Not here: the checks themselves (test/support/opchecks.ts) or the page (test/browser/).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectLogs, launchBrowser, startPageServer, type LaunchedBrowser, type PageServer } from './support/browser.js';

// Every registered op runs, forward and gradient (a few seconds per context on SwiftShader);
// these must be among them, since training depends on them (castHalf: mixed precision).
const REQUIRED_OPS = ['matmul', 'softmax', 'layerNorm', 'crossEntropy', 'castHalf', 'attention', 'attentionBackward'];

const WAIT_MS = 540_000;

let server: PageServer | undefined;
let browser: LaunchedBrowser | undefined;
let reports: NonNullable<Window['__results']>;

beforeAll(async () => {
  server = await startPageServer();
  browser = await launchBrowser();
  const page = await browser.browser.newPage();
  const logs = collectLogs(page);
  await page.goto(`${server.url}test/browser/index.html?grad=1`);
  try {
    await page.waitForFunction(() => window.__results !== undefined, { timeout: WAIT_MS, polling: 500 });
  } catch (e) {
    throw new Error(
      `The check page did not report within ${WAIT_MS / 1000} s (${(e as Error).message}). ` +
        `Browser: ${browser.executable}, adapter: ${browser.adapter}. Console:\n${logs.join('\n')}`,
    );
  }
  reports = (await page.evaluate(() => window.__results))!;
}, WAIT_MS + 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('headless Chromium, kernel picks in workers', () => {
  it('a worker keeps what it measured for the next one (IndexedDB), so a reloaded page runs the same kernels', () => {
    const { first, second } = reports.tuning;
    expect(first.length).toBeGreaterThan(0);
    expect(second.map((r) => r.source)).toEqual(first.map(() => 'indexedDB'));
    expect(second.map((r) => `${r.family}.${r.sizeClass}=${r.pick}`)).toEqual(first.map((r) => `${r.family}.${r.sizeClass}=${r.pick}`));
  });
});

describe.each(['page', 'worker'] as const)('headless Chromium, %s', (context) => {
  it('finds a WebGPU adapter and creates an engine', () => {
    const r = reports[context];
    expect(r.adapter, 'navigator.gpu.requestAdapter() returned nothing').not.toBeNull();
    expect(r.error).toBeNull();
  });

  it('checks the ops training depends on', () => {
    const checked = new Set(reports[context].results.map((c) => c.op));
    expect(REQUIRED_OPS.filter((op) => !checked.has(op))).toEqual([]);
  });

  it('passes every forward and gradient check', () => {
    const failed = reports[context].results.filter((c) => !c.ok);
    expect(failed.map((c) => `${c.op} ${c.case}: ${c.detail}`)).toEqual([]);
  });
});
