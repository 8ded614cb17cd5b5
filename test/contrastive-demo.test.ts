// The contrastive-learning demo page end to end in headless Chromium on SwiftShader, with small
// sizes from the query string (an encoder 256 → 64 → 16 and a head 16 → 16 → 8, batch 16, 256
// training images, 2 labelled digits per class and 64 held out for the probe, a probe of 30
// steps every 10 training steps, the embedding every 5): the page builds the model in its
// worker and draws training images over their two views, the held-out digits' features in 2D by
// class and the first probe, where the learned encoder is still the initial one and scores
// exactly as it does; new views come from new seeds of the same images; it trains through its
// Start button while the loss falls, probes and embeddings follow and the main thread stays free;
// the digit under the pointer shows beside the plane; a checkpoint saved through the Save button
// (a real download) is loaded after a reload into a model of another temperature and brings back
// its own settings and exactly the same embedding at its step; a corrupt file and another page's
// checkpoint get a message each and the model stays; the page offers its autosave when reopened
// and comes back by itself from a lost GPU (test/support/demo-page.ts, as every page). Also: the
// message without WebGPU.
// Not here: the session, the losses and the probe in Node (test/contrastive.test.ts), what every
// session shares (test/sessions.test.ts).

import { readFile } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor, parseSafetensors, writeSafetensors } from '../src/checkpoint/safetensors.js';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, expectColoured, expectBlockingCaught, expectFreeMainThread,
  openDemoBrowser, openWithoutWebGPU, setField as setFieldOf, waitForDownload, watchMainThread, type MainThreadWindow,
} from './support/demo-page.js';

// No autosave (autosaveEvery=0): a reload finds nothing to offer and builds the model again, until the last test.
const QUERY = '?hidden=64&features=16&projHidden=16&projection=8&batch=16&trainSize=256&heldOut=64&probePerClass=2&probeSteps=30' +
  '&probeEvery=10&embeddingEvery=5&lr=0.003&metricsIntervalMs=200&autosaveEvery=0';
const STEPS = 30;
/** Encoder 256·64+64 + 64·16+16, head 16·16+16 + 16·8+8. */
const PARAMETERS = 16_448 + 1_040 + 272 + 136;

interface DemoView {
  ready: boolean;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  lastAccuracy: number;
  views: number;
  viewsImagesKey: string;
  viewsKey: string;
  probes: number;
  probeStep: number;
  learned: number;
  randomEncoder: number;
  rawPixels: number;
  embeddings: number;
  embeddingStep: number;
  embeddingKey: string;
  hovers: number;
  hoverIndex: number;
  hoverLabel: number;
  info: { state: string; step: number; parameterCount: number; config: { temperature: number; batch: number } } | null;
}

type DemoWindow = MainThreadWindow & { __demo?: DemoView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
const timings: Record<string, number> = {};

const demo = (): Promise<DemoView> => page.evaluate(() => (window as DemoWindow).__demo!);

const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

/** Opens the page and waits for the model, its views, its embedding and its first probe. */
async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/contrastive/index.html${query}`);
  await waitFor('the model was not built', 'window.__demo?.ready === true && window.__demo.views >= 1 && window.__demo.embeddings >= 1 && window.__demo.probes >= 1', 120_000);
  timings.build ??= performance.now() - t0;
}

const setField = (id: string, value: string, event?: string) => setFieldOf(page, id, value, event);

/** Dark (ink) pixels of a canvas among its opaque ones. */
function inkPixels(id: string): Promise<number> {
  return page.$eval(`#${id}`, (c) => {
    const canvas = c as HTMLCanvasElement;
    if (!canvas.width || !canvas.height) return 0;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 40 && (d[i] + d[i + 1] + d[i + 2]) / 3 < 96) n++;
    return n;
  });
}

beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-contrastive-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
  }));
}, 120_000);

afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'contrastive demo', timings));

describe('contrastive demo page (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let savedKey = '';

  it('builds the model and draws views, the embedding and a first probe where the encoder is still the initial one', async () => {
    await openPage();
    const v = await demo();
    expect(v.info).toMatchObject({ state: 'paused', step: 0, parameterCount: PARAMETERS, config: { temperature: 0.5, batch: 16 } });
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/17\.90K parameters \(MLP 256 → 64 → 16 features.*NT-Xent, τ = 0\.5, batch 16 \(32 views\).*256 unlabelled digits.*20 labelled, 64 held out/);
    expect(v.probeStep).toBe(0);
    expect(v.learned).toBe(v.randomEncoder); // the same weights: the same probe
    expect(v.rawPixels).toBeGreaterThan(0.2);
    expect(await page.$eval('#probe-readout', (el) => el.textContent)).toMatch(/^step 0: learned encoder \d+\.\d%, encoder at initialisation \d+\.\d%, raw pixels \d+\.\d% on 64 held-out digits, from 20 labelled ones/);
    expect(await inkPixels('views')).toBeGreaterThan(300); // digits and their views
    await expectColoured(page, 'embedding-plane', 50); // the held-out digits, coloured by class
    expect(await page.$eval('#embedding-readout', (el) => el.textContent)).toMatch(/^step 0: 64 held-out digits; the two components hold \d/);
    // New views: the same images, drawn again.
    await page.click('#new-views');
    await waitFor('no new views', 'window.__demo.views >= 2');
    const w = await demo();
    expect(w.viewsImagesKey).toBe(v.viewsImagesKey);
    expect(w.viewsKey).not.toBe(v.viewsKey);
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/contrastive/index.html`);
    expect(bare.message).toMatch(/no WebGPU/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: the loss falls, probes and embeddings follow, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const t0 = performance.now();
    const before = (await demo()).embeddingKey;
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.probeStep >= 20 && window.__demo.embeddingStep >= 20`, 180_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.steps = v.info!.step;
    expect(v.lastLoss).toBeLessThan(v.firstLoss);
    expect(v.probes).toBeGreaterThanOrEqual(3);
    expect(v.probeStep % 10).toBe(0);
    expect(v.embeddingKey).not.toBe(before);
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/loss \d.*the positive found for \d+% of views .*per step/);
    // Each chart's legend reads its latest values.
    const legend = (id: string) => page.$$eval(`#${id} .u-legend .u-value`, (els) => els.map((el) => el.textContent ?? ''));
    expect((await legend('chart-loss')).slice(1)).toEqual([expect.stringMatching(/^\d/), expect.stringMatching(/^\d/), Math.log(31).toFixed(3)]);
    expect((await legend('chart-probe')).slice(1).every((s) => /^\d+\.\d%$/.test(s))).toBe(true);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('shows the held-out digit under the pointer', async () => {
    const plane = (await page.$('#embedding-plane'))!;
    await plane.scrollIntoView();
    const box = (await plane.boundingBox())!;
    // The first clearly coloured pixel of the plane is a dot, in CSS pixels from the canvas's corner.
    const dot = await page.$eval('#embedding-plane', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) {
          const scale = canvas.width / canvas.clientWidth;
          return { x: ((i / 4) % canvas.width) / scale, y: Math.floor(i / 4 / canvas.width) / scale };
        }
      }
      return null;
    });
    expect(dot).not.toBeNull();
    await page.mouse.move(box.x + dot!.x, box.y + dot!.y + 1);
    await waitFor('no digit under the pointer', 'window.__demo.hovers >= 1');
    const v = await demo();
    expect(v.hoverLabel).toBeGreaterThanOrEqual(0);
    expect(v.hoverLabel).toBeLessThan(10);
    expect(await inkPixels('embedding-hover')).toBeGreaterThan(100);
    expect(await page.$eval('#embedding-hover-readout', (el) => el.textContent)).toMatch(new RegExp(`^held-out digit ${v.hoverIndex}, a ${v.hoverLabel}, at \\(-?\\d`));
    await page.mouse.move(1, 1);
  });

  it('saves a checkpoint, and a reloaded page loads it back: its settings, its step, exactly the same embedding', async () => {
    const before = (await demo()).embeddings;
    await page.click('#step'); // one more step, and the embedding of the model as it is saved
    await waitFor('no embedding after a step', `window.__demo.embeddings > ${before} && window.__demo.embeddingStep === window.__demo.info.step`);
    const v = await demo();
    savedStep = v.info!.step;
    savedKey = v.embeddingKey;
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`contrastive-ntxent-f16-step${savedStep}\\.safetensors$`));

    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another temperature: the checkpoint must bring its own back.
    await setField('temperature', '0.2');
    await waitFor('the model at 0.2 was not built', 'window.__demo.ready && window.__demo.info.config.temperature === 0.2 && window.__demo.probes >= 1');
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.embeddingStep === ${savedStep}`);
    timings.reloadAndLoad = performance.now() - t0;
    const back = await demo();
    expect(back.info!.config.temperature).toBe(0.5);
    expect(await page.$eval('#temperature', (el) => (el as HTMLInputElement).value)).toBe('0.5');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`NT-Xent, τ = 0.5, 16 features, batch 16, at step ${savedStep}`);
    expect(back.embeddingKey).toBe(savedKey);
  });

  it("refuses a corrupt file and another page's checkpoint with a message each, keeping the model", async () => {
    const bytes = new Uint8Array(await readFile(saved));
    const file = parseSafetensors(bytes);
    const tensors = [...file.tensors.keys()].map((name) => ({ name, shape: file.tensors.get(name)!.shape, data: decodeTensor(file, name) }));
    const cases: [string, Uint8Array | string, string][] = [
      ['junk.safetensors', 'this is not a checkpoint', 'not a valid checkpoint'],
      ['truncated.safetensors', bytes.subarray(0, bytes.length - 1000), 'not a valid checkpoint'],
      ['vae.safetensors', writeSafetensors(tensors, { ...file.metadata, task: 'vae' }), 'not for this page'],
    ];
    for (const [name, content, words] of cases) {
      await chooseFile(page, 'load-file', downloads, name, content);
      await waitFor(`no message for ${name}`, `document.querySelector('#message.error')?.textContent.includes(${JSON.stringify(name)})`);
      expect(await page.$eval('#message', (el) => el.textContent)).toContain(words);
      const v = await demo();
      expect(v.ready).toBe(true);
      expect(v.info!.step).toBe(savedStep);
      expect(v.embeddingKey).toBe(savedKey);
    }
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
  });
});
