// What the browser tests of the demo pages (transformer, diffusion, GAN) do alike around a page:
// a page server and a headless Chromium on SwiftShader with a page whose downloads land in a
// temporary folder; closing it all with the timings printed; waiting for a download; a page
// opened without WebGPU; a file given to a file input; the long-task observer; and the saved run,
// the lost GPU and Save while training, which every session page handles the same way.
// Not here: driving a particular page (its controls, its window.__demo view and what a test
// expects of them stay in each test), nor launching or serving itself (browser.ts).

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { parseSafetensors } from '../../src/checkpoint/safetensors.js';
import { collectLogs, launchBrowser, startPageServer, type LaunchedBrowser, type PageServer } from './browser.js';

export interface DemoBrowser {
  server: PageServer;
  browser: LaunchedBrowser;
  page: Page;
  /** The page's console and errors, for waitForPage's failure messages. */
  logs: string[];
  /** Where the page's downloads land (removed by closeDemoBrowser). */
  downloads: string;
}

export interface DemoBrowserOptions {
  /** The prefix of the downloads folder's name. */
  prefix: string;
  viewport?: { width: number; height: number };
  /** Installed in every document before the page's own scripts (serialized: no outside names). */
  beforePage?: () => void;
}

/** A page server, Chromium on SwiftShader and a page whose downloads go to a fresh folder. */
export async function openDemoBrowser(opts: DemoBrowserOptions): Promise<DemoBrowser> {
  const server = await startPageServer();
  const browser = await launchBrowser({ adapter: 'swiftshader' });
  const downloads = await mkdtemp(join(tmpdir(), opts.prefix));
  const page = await browser.browser.newPage();
  if (opts.viewport) await page.setViewport(opts.viewport);
  const logs = collectLogs(page);
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  if (opts.beforePage) await page.evaluateOnNewDocument(opts.beforePage);
  return { server, browser, page, logs, downloads };
}

/** Prints the timings (rounded to ms) under `label`, then closes the browser and the server and removes the downloads. */
export async function closeDemoBrowser(d: Partial<DemoBrowser>, label: string, timings: Record<string, number>): Promise<void> {
  console.log(`${label} timings (ms): ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
  await d.browser?.close();
  await d.server?.close();
  if (d.downloads) await rm(d.downloads, { recursive: true, force: true });
}

/** The path of the first .safetensors file to appear in `dir`, or '' when none came within the time. */
export async function waitForDownload(dir: string, timeout = 30_000): Promise<string> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const done = (await readdir(dir)).filter((f) => f.endsWith('.safetensors'));
    if (done.length) return join(dir, done[0]);
    await new Promise((r) => setTimeout(r, 100));
  }
  return '';
}

/** Opens `url` in a new page of a browser whose navigator has no gpu; the banner's text and whether Start is disabled. */
export async function openWithoutWebGPU(browser: Browser, url: string): Promise<{ message: string; startDisabled: boolean }> {
  const bare = await browser.newPage();
  try {
    await bare.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await bare.goto(url);
    await bare.waitForFunction("document.querySelector('#message.error')", { timeout: 30_000 });
    return {
      message: (await bare.$eval('#message', (el) => el.textContent)) ?? '',
      startDisabled: await bare.$eval('#start', (el) => (el as HTMLButtonElement).disabled),
    };
  } finally {
    await bare.close();
  }
}

/** Writes `content` to `dir/name`, clears the page's banner and gives the file to the file input `inputId`. */
export async function chooseFile(page: Page, inputId: string, dir: string, name: string, content: string | Uint8Array): Promise<void> {
  const path = join(dir, name);
  await writeFile(path, content);
  await page.evaluate(() => document.getElementById('message')!.replaceChildren());
  await (await page.$(`input#${inputId}`))!.uploadFile(path);
}

/** A page window with the long tasks seen so far (watchLongTasks). */
export type LongTaskWindow = Window & { __longTasks?: number[] };

/** For beforePage: records the duration of every long task (the browser's own measure of a blocked main thread) in window.__longTasks. */
export function watchLongTasks(): void {
  const w = window as LongTaskWindow;
  w.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__longTasks!.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
}

/**
 * Save while training: the page pauses for the file, whose step is the one in its name, then
 * trains on.
 */
async function saveWhileTraining(page: Page, waitFor: RecoveryDriver['waitFor']): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'webgpu-train-save-'));
  try {
    await (await page.createCDPSession()).send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
    await waitFor('Save is not enabled while training', "window.__demo.info.state === 'running' && !document.querySelector('#save').disabled");
    await page.click('#save');
    const file = await waitForDownload(dir, 60_000);
    if (!file) throw new Error('Save while training gave no file.');
    const named = Number(/step(\d+)\.safetensors$/.exec(file)?.[1]);
    const saved = JSON.parse(parseSafetensors(new Uint8Array(await readFile(file))).metadata.step ?? 'null');
    if (saved !== named) throw new Error(`${basename(file)} holds step ${saved}.`);
    await waitFor('training did not go on after the save', `window.__demo.info.state === 'running' && window.__demo.steps > ${named}`, 120_000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What checkResumeAndRecovery needs of a page's test. */
export interface RecoveryDriver {
  page: Page;
  waitFor: (what: string, fn: string, timeout?: number) => Promise<void>;
  /** Opens the page with an autosave every 2 steps and waits for its model. */
  open: () => Promise<void>;
}

/**
 * The saved run and a lost GPU, as every session page handles them (the page's window.__demo has
 * ready, steps, info, autosavedStep and resumedAt): two steps autosave; the page opened again
 * offers the run and resumes it at step 2; training autosaves again, the lost-GPU button destroys
 * the device, and training comes back by itself from an autosave and goes on, with the banner
 * saying so and no error; Save while training gives the model of the step its name says, and
 * training goes on. Run it last: it leaves an autosave in the browser's storage. Resolves
 * with the time it took, in ms.
 */
export async function checkResumeAndRecovery({ page, waitFor, open }: RecoveryDriver): Promise<number> {
  const t0 = performance.now();
  await open();
  for (let i = 1; i <= 2; i++) {
    await page.click('#step');
    await waitFor(`step ${i} was not autosaved or finished`, `window.__demo.autosavedStep === ${2 * Math.floor(i / 2)} && window.__demo.steps >= ${i}`, 60_000);
  }
  await page.reload();
  await waitFor('no offer to resume', "[...document.querySelectorAll('#message button')].some((b) => b.textContent === 'Resume it')");
  const offer = await page.$eval('#message', (el) => el.textContent ?? '');
  if (!offer.includes('step 2')) throw new Error(`The offer does not name the saved step: ${offer}`);
  await page.$$eval('#message button', (bs) => bs.find((b) => b.textContent === 'Resume it')!.click());
  await waitFor('the autosave was not restored', 'window.__demo.ready && window.__demo.info.step === 2', 60_000);

  await page.click('#start');
  await waitFor('no autosave while running', 'window.__demo.autosavedStep >= 4', 90_000);
  await waitFor('the button is not enabled while running', "!document.querySelector('#lose-gpu').disabled");
  await page.click('#lose-gpu');
  await waitFor('training did not come back', 'window.__demo.resumedAt >= 4', 120_000);
  // Records of the lost run came before the 'recovered' event; from here on only the new run's come.
  const resumedAt = await page.evaluate(() => {
    const view = (window as unknown as { __demo: { resumedAt: number; steps: number } }).__demo;
    view.steps = -1;
    return view.resumedAt;
  });
  const message = await page.$eval('#message', (el) => el.textContent ?? '');
  await waitFor('no steps after the recovery', `window.__demo.steps >= ${resumedAt + 3}`, 120_000);
  await saveWhileTraining(page, waitFor);
  await page.click('#start'); // Pause
  await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
  if (await page.$('#message.error')) throw new Error(`An error after the recovery: ${await page.$eval('#message', (el) => el.textContent)}`);
  if (!new RegExp(`GPU was lost at step \\d+.*autosave of step ${resumedAt}`).test(message)) throw new Error(`The banner does not say what happened: ${message}`);
  const step = await page.evaluate(() => (window as unknown as { __demo: { info: { step: number } } }).__demo.info.step);
  if (step < resumedAt + 3) throw new Error(`Paused at step ${step}, fewer than 3 steps after the recovery at ${resumedAt}.`);
  return performance.now() - t0;
}
