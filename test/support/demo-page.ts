// What the browser tests of the demo pages (transformer, diffusion, GAN) do alike around a page:
// a page server and a headless Chromium on SwiftShader with a page whose downloads land in a
// temporary folder; closing it all with the timings printed; waiting for a download; a page
// opened without WebGPU; a file given to a file input; a form field set and a canvas's coloured
// pixels counted; the watcher of the page's own scripts on its main thread; and the saved run,
// the lost GPU and Save while training, which every session page handles the same way.
// Not here: driving a particular page (its controls, its window.__demo view and what a test
// expects of them stay in each test), nor launching or serving itself (browser.ts).

import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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

/**
 * The path of the first file `named` (default: any .safetensors) to appear in `dir` once it is
 * written, or '' when none came within the time. Chromium can show a download under its name before its bytes are in (it
 * was read at 0 bytes once on a busy machine), so the file must be non-empty and the same size
 * on two polls in a row.
 */
export async function waitForDownload(dir: string, timeout = 30_000, named = (f: string) => f.endsWith('.safetensors')): Promise<string> {
  const deadline = Date.now() + timeout;
  let seen = -1;
  while (Date.now() < deadline) {
    const done = (await readdir(dir)).filter(named);
    if (done.length) {
      const path = join(dir, done[0]);
      const size = (await stat(path)).size;
      if (size > 0 && size === seen) return path;
      seen = size;
    }
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

/** Sets a form field and fires `event` (change: as a user leaving the field would). */
export async function setField(page: Page, id: string, value: string, event = 'change'): Promise<void> {
  await page.$eval(`#${id}`, (el, v, ev) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event(ev));
  }, value, event);
}

/** Pixels of a canvas that are clearly coloured (not white, grey or black): what a drawing put there. */
export function colouredPixels(page: Page, id: string): Promise<number> {
  return page.$eval(`#${id}`, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 40 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
    return n;
  });
}

/**
 * Reads `read` until `ok` holds, and returns the reading: pages draw at their next animation
 * frame, which comes late on a busy machine, so a drawing is waited for rather than read at once.
 * Throws in words (`what` and the last reading) when it never holds.
 */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeout = 30_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} after ${timeout / 1000} s: ${JSON.stringify(v)}.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until canvas `id` has more than `atLeast` coloured pixels (see eventually). */
export function expectColoured(page: Page, id: string, atLeast: number): Promise<number> {
  return eventually(() => colouredPixels(page, id), (n) => n > atLeast, `#${id} has no more than ${atLeast} coloured pixels`);
}

/** Pixels of a canvas by darkness, among its drawn (not transparent) ones: [dark (< 96), light (> 160)]. */
export function canvasTones(page: Page, id: string): Promise<[number, number]> {
  return page.$eval(`#${id}`, (c) => {
    const canvas = c as HTMLCanvasElement;
    if (!canvas.width || !canvas.height) return [0, 0] as [number, number];
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let dark = 0, light = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 40) continue;
      const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
      if (v < 96) dark++;
      else if (v > 160) light++;
    }
    return [dark, light] as [number, number];
  });
}

/** What watchMainThread keeps on the page's window. */
interface MainThreadRecord {
  /** Since when (performance.now()) the record runs. */
  since: number;
  /** Runs of the page's own scripts inside long animation frames: what ran and for how long. */
  runs: { name: string; ms: number }[];
  reset(): void;
}

export type MainThreadWindow = Window & { __mainThread?: MainThreadRecord };

/**
 * For beforePage: records, from the browser's long-animation-frame entries (frames of more than
 * 50 ms), every run of the page's own scripts in them (its modules, its inline scripts) with
 * what invoked it, in window.__mainThread. A frame made long by something else (the OS giving
 * the thread to another process, the browser's own work, a script run from DevTools) has no run
 * of the page's in it, and counts for nothing.
 */
export function watchMainThread(): void {
  const w = window as MainThreadWindow;
  const r: MainThreadRecord = {
    since: performance.now(),
    runs: [],
    reset() {
      r.since = performance.now();
      r.runs.length = 0;
    },
  };
  w.__mainThread = r;
  type ScriptTiming = { sourceURL: string; invoker: string; sourceFunctionName: string; duration: number };
  new PerformanceObserver((list) => {
    for (const frame of list.getEntries() as (PerformanceEntry & { scripts: ScriptTiming[] })[]) {
      for (const sc of frame.scripts) {
        if (sc.sourceURL !== '' && !sc.sourceURL.startsWith(location.origin)) continue;
        r.runs.push({ name: `${sc.invoker} ${sc.sourceFunctionName || '(anonymous)'} ${sc.sourceURL.slice(location.origin.length)}`, ms: sc.duration });
      }
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
}

/** How much of the main thread the page's own scripts took in long frames since the record's reset. */
export interface MainThreadUse {
  /** The share of the time since the reset: a page that does training work on its thread is near 1. */
  share: number;
  /** The longest run, in ms, and what it was. */
  longestMs: number;
  longest: string;
  /** The runs of at least MAIN_THREAD_LIMITS.longMs, longest first, as 'ms name'. */
  long: string[];
}

/**
 * Whether a page that blocks its thread would fail it: its scripts took a tenth of the time, or
 * `longRuns` of them each ran a quarter second. One such run alone is not enough: a run's duration
 * is wall time, and a busy machine that takes the thread away in the middle of a 1 ms callback
 * makes a run of a third of a second from it (seen once: the RL stage's animation frame, 345 ms).
 */
export const MAIN_THREAD_LIMITS = { share: 0.1, longMs: 250, longRuns: 2 };

export async function mainThreadUse(page: Page): Promise<MainThreadUse> {
  return page.evaluate((longMs) => {
    const r = (window as MainThreadWindow).__mainThread!;
    const total = r.runs.reduce((n, x) => n + x.ms, 0);
    const longest = r.runs.reduce((a, b) => (b.ms > a.ms ? b : a), { name: 'none', ms: 0 });
    const long = r.runs.filter((x) => x.ms >= longMs).sort((a, b) => b.ms - a.ms).map((x) => `${x.ms.toFixed(0)} ms ${x.name}`);
    return { share: total / Math.max(1, performance.now() - r.since), longestMs: longest.ms, longest: longest.name, long };
  }, MAIN_THREAD_LIMITS.longMs);
}

/**
 * The page's thread stayed free since the record's reset: its own scripts took under a tenth of
 * the time in long frames, and at most one ran for a quarter of a second. A page that trains,
 * decodes or waits on its own thread fails both by far; a busy machine that slows every script a
 * few times over, or takes the thread away in the middle of one, passes. Throws in words otherwise.
 */
export async function expectFreeMainThread(page: Page): Promise<MainThreadUse> {
  const use = await mainThreadUse(page);
  if (use.share >= MAIN_THREAD_LIMITS.share || use.long.length >= MAIN_THREAD_LIMITS.longRuns) {
    throw new Error(`The page's own scripts held its thread: ${(100 * use.share).toFixed(1)}% of the time in long frames; runs of a quarter second or more: ${use.long.join('; ') || 'none'}.`);
  }
  return use;
}

/**
 * The watcher catches a page script that blocks: runs of 300 ms from a script of the page's (an
 * inline script tag), and the check then fails. Chromium may report a long frame late, or fold it
 * into one it does not attribute, when the machine is busy; so the block is given again until the
 * check has seen MAIN_THREAD_LIMITS.longRuns of them, with 15 s for each to show and up to four
 * misses. A page that blocks as often as the check allows fails it; four missed blocks fail too.
 */
export async function expectBlockingCaught(page: Page, waitFor: RecoveryDriver['waitFor']): Promise<void> {
  await page.evaluate(() => (window as MainThreadWindow).__mainThread!.reset());
  const caught = "window.__mainThread.runs.filter((r) => r.name.includes('blockOnPurpose')).length";
  for (let blocks = 0, misses = 0; blocks < MAIN_THREAD_LIMITS.longRuns; ) {
    await page.addScriptTag({ content: 'setTimeout(function blockOnPurpose() { const end = performance.now() + 300; while (performance.now() < end); }, 0);' });
    const seen = await page.waitForFunction(`${caught} > ${blocks}`, { timeout: 15_000, polling: 100 }).then(() => true, () => false);
    if (seen) blocks = Number(await page.evaluate(caught));
    else if (++misses === 4) await waitFor('the watcher missed four blocking scripts', `${caught} > ${blocks}`, 1);
  }
  if (!(await expectFreeMainThread(page).then(() => false, () => true))) throw new Error(`${MAIN_THREAD_LIMITS.longRuns} blocks of 300 ms of the page's own passed the check.`);
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
