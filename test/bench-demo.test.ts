// The bench demo page (demos/bench/) end to end in headless Chromium on SwiftShader: the worker
// names the adapter and lists the registry's suites; Stop ends a run at once; the conv suite in quick mode, without the
// TensorFlow.js peer, runs in the worker and shows its table with finite figures and a drawn
// chart of both series; the Download button gives the result as bench/save.ts would write it.
// The matmul suite in quick mode (one size): its chart still draws every series as a bar of its
// own, the adapter panel shows the peak its table prints, and each of its tables scrolls
// sideways in a box of its own (row names wrapping first, and staying in view) while the page
// itself never does. Also: the message without WebGPU.
// Not here: the suites' own figures (test/bench*.test.ts) or the runners (bench/).

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectLogs, launchBrowser, startPageServer, type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';

interface BenchView {
  info: { suites: { name: string }[]; adapter: { architecture: string; isSoftware: boolean } } | null;
  running: boolean;
  results: { suite: string }[];
  failed: { suite: string; error: string }[];
}

type BenchWindow = Window & { __bench?: BenchView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;

const view = (): Promise<BenchView> => page.evaluate(() => (window as BenchWindow).__bench!);
const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

/** Pixels of the canvases under `selector` that are drawn and clearly coloured (the series, not the grey axes). */
function coloured(selector: string): Promise<number> {
  return page.$$eval(selector, (els) =>
    els.reduce((n, c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 40 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
      }
      return n;
    }, 0),
  );
}

/** For each series in the legend of the chart at `selector` (the x row left out): the canvas's pixels of its colour. */
function seriesPixels(selector: string): Promise<{ label: string; pixels: number }[]> {
  return page.$eval(selector, (chart) => {
    const canvas = chart.querySelector('canvas')!;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    return [...chart.querySelectorAll('.u-legend .u-series')].slice(1).map((row) => {
      const [r, g, b] = getComputedStyle(row.querySelector('.u-marker')!).borderTopColor.match(/\d+/g)!.map(Number);
      let pixels = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 12) pixels++;
      }
      return { label: row.querySelector('.u-label')!.textContent!, pixels };
    });
  });
}

/** Each table of a section: how many tables share its parent, the parent's overflow-x and widths, the page's widths. */
async function tableBoxes(selector: string) {
  // After a change of viewport the charts follow the new width in a ResizeObserver callback, which
  // runs with the next rendered frame: measure once two frames have passed, not before.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  return page.$$eval(`${selector} .table table`, (tables) => tables.map((t) => {
    const box = t.parentElement!;
    return {
      tablesInBox: box.querySelectorAll('table').length,
      overflowX: getComputedStyle(box).overflowX,
      scrollWidth: box.scrollWidth,
      clientWidth: box.clientWidth,
      pageScrolls: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    };
  }));
}

describe('bench demo page (headless Chromium, SwiftShader)', () => {
  beforeAll(async () => {
    server = await startPageServer();
    browser = await launchBrowser({ adapter: 'swiftshader' });
    downloads = await mkdtemp(join(tmpdir(), 'webgpu-train-bench-'));
    page = await browser.browser.newPage();
    await page.setViewport({ width: 1300, height: 1000 });
    logs = collectLogs(page);
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (downloads) await rm(downloads, { recursive: true, force: true });
  });

  it('names the adapter, stops a run, runs the conv suite in quick mode in its worker, and charts and downloads it', async () => {
    await page.goto(`${server.url}demos/bench/index.html`);
    await waitFor('the worker did not describe the adapter', 'window.__bench?.info != null && !document.getElementById("run").disabled', 60_000);
    const info = (await view()).info!;
    expect(info.adapter).toMatchObject({ architecture: 'swiftshader', isSoftware: true });
    const names = info.suites.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['matmul', 'attention', 'gpt', 'diffusion', 'gan', 'conv']));
    expect(names).not.toContain('soak');
    const panel = await page.$eval('#adapter', (el) => el.textContent!);
    expect(panel).toMatch(/architecture swiftshader/);
    expect(panel).toMatch(/software: WebGPU emulated on the CPU/);
    expect(panel).toMatch(/maxStorageBufferBindingSize\s*\d+(\.\d+)? [KMG]iB/);
    expect(panel).toMatch(/maxComputeInvocationsPerWorkgroup\s*\d+/);
    expect(panel).toMatch(/timestamp-query/);
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/Adapter: google swiftshader \(software/);

    // Stop: a full matmul run is stopped once it has started; the page is ready for another run.
    await page.$$eval('input[name=suite]', (boxes) => boxes.forEach((b) => ((b as HTMLInputElement).checked = (b as HTMLInputElement).value === 'matmul')));
    await page.$eval('#quick', (b) => ((b as HTMLInputElement).checked = false));
    await page.click('#run');
    await waitFor('the matmul suite did not start', 'document.getElementById("state").textContent.startsWith("matmul, ")', 120_000);
    await page.click('#stop');
    expect(await page.$eval('#state', (el) => el.textContent)).toBe('Stopped.');
    expect(await view()).toMatchObject({ running: false, results: [] });
    expect(await page.$eval('#run', (el) => (el as HTMLButtonElement).disabled)).toBe(false);

    // Only conv, quick, no peer, in a fresh worker.
    await page.$$eval('input[name=suite]', (boxes) => boxes.forEach((b) => ((b as HTMLInputElement).checked = (b as HTMLInputElement).value === 'conv')));
    await page.$eval('#quick', (b) => ((b as HTMLInputElement).checked = true));
    await page.$eval('#peer', (b) => ((b as HTMLInputElement).checked = false));
    const t0 = performance.now();
    await page.click('#run');
    expect((await view()).running).toBe(true);
    await waitFor('the conv suite did not finish', 'window.__bench.running === false', 90_000);
    console.log(`bench demo: conv quick in ${Math.round(performance.now() - t0)} ms`);
    const v = await view();
    expect(v.failed).toEqual([]);
    expect(v.results.map((r) => r.suite)).toEqual(['conv']);
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/^Done: 1 of 1 suites/);
    expect(await page.$eval('#log', (el) => el.textContent)).toMatch(/conv: quick 8->8 8x8 3x3 +conv2d /);

    // The table: a row per op, GFLOP/s finite and positive for the conv and its matmul.
    const rows = await page.$$eval('#result-conv .table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent!)));
    const head = await page.$$eval('#result-conv .table thead th', (ths) => ths.map((th) => th.textContent!));
    expect(rows.map((r) => r[2])).toEqual(['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight']);
    for (const col of ['ms', 'GFLOP/s', 'direct ms', 'gemm ms', 'matmul GFLOP/s']) {
      for (const r of rows) expect(Number(r[head.indexOf(col)])).toBeGreaterThan(0);
    }
    expect(await page.$eval('#result-conv .table', (el) => el.textContent)).toMatch(/geometric mean of conv\/matmul: [\d.]+x/);

    // The charts: GFLOP/s (x plus both series in its legend, bars drawn in colour), then the share of peak.
    expect(await page.$$eval('#result-conv .chart', (els) => els.length)).toBe(2);
    expect(await page.$$eval('#result-conv .chart', ([first]) => [...first.querySelectorAll('.u-legend .u-series')].map((e) => e.textContent!.replace(/[\d.–]+$/, '').trim()))).toEqual([
      'shape and op', 'direct kernels', 'im2col + matmul', 'matmul, same M N K',
    ]);
    expect(await coloured('#result-conv .chart canvas')).toBeGreaterThan(500);

    // The download: the result as bench/save.ts writes it, under its name.
    await page.click('#download');
    let file = '';
    for (const deadline = Date.now() + 20_000; !file && Date.now() < deadline; ) {
      file = (await readdir(downloads)).find((f) => /^conv-browser-.*\.json$/.test(f)) ?? '';
      if (!file) await new Promise((r) => setTimeout(r, 100));
    }
    expect(file).not.toBe('');
    const text = await readFile(join(downloads, file), 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    const saved = JSON.parse(text);
    expect(saved).toMatchObject({ suite: 'conv', runner: 'browser', adapter: { architecture: 'swiftshader' } });
    expect(saved.results).toHaveLength(3);
    for (const m of saved.results) expect(Number.isFinite(m.gflops) && Number.isFinite(m.matmulGflops)).toBe(true);
  });

  it('runs the matmul suite in quick mode: its one size charted as bars, the peak in the panel, its tables scrolling in boxes of their own', async () => {
    await page.goto(`${server.url}demos/bench/index.html`);
    await waitFor('the worker did not describe the adapter', 'window.__bench?.info != null && !document.getElementById("run").disabled', 60_000);
    await page.$$eval('input[name=suite]', (boxes) => boxes.forEach((b) => ((b as HTMLInputElement).checked = (b as HTMLInputElement).value === 'matmul')));
    await page.$eval('#quick', (b) => ((b as HTMLInputElement).checked = true));
    await page.$eval('#peer', (b) => ((b as HTMLInputElement).checked = false));
    await page.click('#run');
    await waitFor('the matmul suite did not finish', 'window.__bench.running === false', 120_000);
    const v = await view();
    expect(v.failed).toEqual([]);
    expect(v.results.map((r) => r.suite)).toEqual(['matmul']);

    // Quick mode measures one size; every series still shows, as a bar of its own (as dots at
    // one x they were a few pixels each, the pick's hiding the tiling it picked).
    expect(await page.$$eval('#result-matmul .table tbody', (bodies) => bodies[1].rows.length)).toBe(1);
    const drawn = await seriesPixels('#result-matmul .chart');
    expect(drawn.map((s) => s.label)).toEqual(['register tiling', 'quad tiling', 'shared tiling', 'wide tiling', expect.stringMatching(/^autotuned pick/)]);
    for (const s of drawn) expect(s.pixels, s.label).toBeGreaterThan(300);

    // The panel names the peak the table prints and divides its shares by.
    const peakText = await page.$eval('#adapter', (dl) => [...dl.querySelectorAll('dt')].find((dt) => dt.textContent === 'Measured peak')!.nextElementSibling!.textContent!);
    expect(peakText).toMatch(/^[\d.]+ GFLOP\/s of FMAs \(from the matmul suite, quick mode\)$/);
    const printed = Number((await page.$eval('#result-matmul .table', (el) => el.textContent!)).match(/arithmetic peak: ([\d.]+) GFLOP\/s/)![1]);
    expect(printed).toBeGreaterThan(0);
    expect(Math.abs(parseFloat(peakText) - printed)).toBeLessThanOrEqual(0.005 + 1e-3 * printed);

    // Tables: each in a box of its own that scrolls sideways. In a narrow column the products'
    // names wrap and the table fits; on a phone's width it scrolls in its box, not the page,
    // and its row names stay in view when scrolled to the end.
    try {
      await page.setViewport({ width: 1000, height: 1000 });
      const boxes = await tableBoxes('#result-matmul');
      expect(boxes).toHaveLength(4);
      for (const b of boxes) expect(b).toMatchObject({ tablesInBox: 1, overflowX: 'auto', pageScrolls: false });
      expect(boxes[2].scrollWidth).toBeLessThanOrEqual(boxes[2].clientWidth);

      await page.setViewport({ width: 480, height: 1000 });
      const narrow = await tableBoxes('#result-matmul');
      expect(narrow.some((b) => b.scrollWidth > b.clientWidth)).toBe(true);
      for (const b of narrow) expect(b).toMatchObject({ overflowX: 'auto', pageScrolls: false });
      const [boxLeft, nameLeft] = await page.$$eval('#result-matmul .table table', (tables) => {
        const box = tables[2].parentElement!;
        box.scrollLeft = box.scrollWidth;
        return [box.getBoundingClientRect().left, tables[2].tBodies[0].rows[0].cells[0].getBoundingClientRect().left];
      });
      expect(nameLeft).toBeCloseTo(boxLeft, 0);
    } finally {
      await page.setViewport({ width: 1300, height: 1000 });
    }
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await browser.browser.newPage();
    try {
      await bare.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
      await bare.goto(`${server.url}demos/bench/index.html`);
      await bare.waitForFunction("document.querySelector('#message.error')", { timeout: 30_000 });
      expect(await bare.$eval('#message', (el) => el.textContent)).toMatch(/no WebGPU/);
      expect(await bare.$eval('#run', (el) => (el as HTMLButtonElement).disabled)).toBe(true);
    } finally {
      await bare.close();
    }
  });
});
