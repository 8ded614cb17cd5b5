// Finding and launching a Chrome or Chromium for headless WebGPU runs, and serving the pages it
// loads. Shared by the browser test and the browser benchmark.
// Not here: what a page does once loaded (test/browser/, bench/), and no browser download:
// puppeteer-core drives whichever browser is installed.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createServer } from 'vite';
import { hasGpu } from './vulkan.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const ENV_VARS = ['CHROME_PATH', 'PUPPETEER_EXECUTABLE_PATH'] as const;

const KNOWN_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
];

export class BrowserNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrowserNotFoundError';
  }
}

/** The browser executable: $CHROME_PATH, $PUPPETEER_EXECUTABLE_PATH, then the usual places. */
export function findBrowser(): string {
  for (const name of ENV_VARS) {
    const path = process.env[name];
    if (!path) continue;
    if (!existsSync(path)) {
      throw new BrowserNotFoundError(`${name} is set to ${path}, which does not exist.`);
    }
    return path;
  }
  const found = KNOWN_PATHS.find((p) => existsSync(p));
  if (found) return found;
  throw new BrowserNotFoundError(
    'No Chrome or Chromium found. Browser tests and benchmarks need one: on Debian or Ubuntu ' +
      "run 'apt-get install chromium' (as root); elsewhere install Google Chrome. If it lives " +
      `somewhere else, set CHROME_PATH to its executable. Looked in: ${KNOWN_PATHS.join(', ')}.`,
  );
}

/** 'swiftshader' is Chromium's built-in CPU emulation of a GPU; 'gpu' is the machine's own. */
export type BrowserAdapter = 'swiftshader' | 'gpu';

export interface LaunchOptions {
  /** Which WebGPU adapter the browser offers; by default the GPU when there is one. */
  adapter?: BrowserAdapter;
  /** Extra command-line flags. */
  args?: string[];
}

export interface LaunchedBrowser {
  browser: Browser;
  adapter: BrowserAdapter;
  executable: string;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

export async function launchBrowser(opts: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const executable = findBrowser();
  const adapter = opts.adapter ?? (hasGpu() ? 'gpu' : 'swiftshader');
  // A fresh profile each time: nothing cached from an earlier run (shader caches included).
  const profile = await mkdtemp(join(tmpdir(), 'webgpu-train-chrome-'));
  const args = [
    '--enable-unsafe-webgpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    // Containers often give /dev/shm a few megabytes; Chromium then crashes on large pages.
    '--disable-dev-shm-usage',
    // SwiftShader for WebGPU; and for WebGL (the benchmark's TensorFlow.js peer), whose silent
    // fallback to it Chromium is retiring in favour of this explicit flag.
    ...(adapter === 'swiftshader' ? ['--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'] : []),
    // Chromium's WebGPU on Linux runs on Vulkan, which is not on by default there.
    ...(adapter === 'gpu' && process.platform === 'linux' ? ['--enable-features=Vulkan'] : []),
    // Chromium refuses to start its sandbox as root (containers, CI).
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    ...(opts.args ?? []),
  ];
  const browser = await puppeteer.launch({
    executablePath: executable,
    headless: true,
    userDataDir: profile,
    args,
    // Kernels on SwiftShader can keep a single page call busy for minutes.
    protocolTimeout: 900_000,
  });
  return {
    browser,
    adapter,
    executable,
    close: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface PageServer {
  /** Base URL ending in '/', e.g. http://127.0.0.1:43123/ */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the repository's pages with Vite on a free port. Pages must come from http, not
 * about:blank or file://: navigator.gpu exists only in a secure context, and a loopback
 * address is one.
 */
export async function startPageServer(): Promise<PageServer> {
  const server = await createServer({
    root: REPO_ROOT,
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    clearScreen: false,
    server: {
      host: '127.0.0.1',
      port: 0,
      // Files edited during a run must not reload the page under test.
      hmr: false,
      watch: null,
    },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') {
    await server.close();
    throw new Error('The page server did not report a TCP port.');
  }
  return { url: `http://127.0.0.1:${address.port}/`, close: () => server.close() };
}

/**
 * Collects what a page and its workers print to the console and any uncaught errors, to put in
 * a failure message when a page never reports back.
 */
export function collectLogs(page: Page): string[] {
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e instanceof Error ? e.message : String(e)}`));
  page.on('requestfailed', (r) => logs.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return logs;
}

/**
 * Waits until `fn` (an expression evaluated in the page) is true; on timeout, fails with `what`,
 * the page's message banner and its console, so a failed wait says what the page said.
 */
export async function waitForPage(page: Page, logs: string[], what: string, fn: string, timeout = 120_000): Promise<void> {
  try {
    await page.waitForFunction(fn, { timeout, polling: 100 });
  } catch (e) {
    const banner = await page.$eval('#message', (el) => el.textContent).catch(() => '');
    throw new Error(`${what}: ${(e as Error).message}. Banner: ${banner}. Console:\n${logs.join('\n')}`);
  }
}

/**
 * Gives the page's file input `inputId` 20 PNGs made in the page (a bright disc on dark, at
 * different places) and one text file, as a folder would bring them, and fires its change.
 */
export async function chooseDiscImages(page: Page, inputId: string): Promise<void> {
  await page.evaluate(async (id) => {
    const dt = new DataTransfer();
    for (let i = 0; i < 20; i++) {
      const c = new OffscreenCanvas(40, 30);
      const g = c.getContext('2d')!;
      g.fillStyle = '#111';
      g.fillRect(0, 0, 40, 30);
      g.fillStyle = '#eee';
      g.beginPath();
      g.arc(12 + i, 15, 6, 0, 2 * Math.PI);
      g.fill();
      dt.items.add(new File([await c.convertToBlob({ type: 'image/png' })], `disc${i}.png`, { type: 'image/png' }));
    }
    dt.items.add(new File(['x'], 'readme.txt', { type: 'text/plain' }));
    const input = document.getElementById(id) as HTMLInputElement;
    input.files = dt.files;
    input.dispatchEvent(new Event('change'));
  }, inputId);
}
