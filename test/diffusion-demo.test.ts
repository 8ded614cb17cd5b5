// The diffusion demo page, end to end in headless Chromium on SwiftShader, with small sizes from
// the query string (200 points per sample, 10 sampler steps, a 9 x 9 field, batch 64): the page
// builds the model in its worker and draws a first sample and field; trains a few dozen steps
// through its Start button while the loss falls, samples and quality figures follow and the main
// thread stays free; plays the denoising animation; recomputes the field at the slider's t;
// saves a checkpoint through the Save button (a real download), reloads the page, changes the
// dataset, loads the file through the Load button and gets the saved model back (its dataset,
// step and exactly the same samples); and refuses a corrupt or truncated checkpoint with a
// message while the model in memory stays as it was; offers its autosave when reopened and comes
// back by itself from a lost GPU (test/support/demo-page.ts, as every page). Also: the message
// without WebGPU.
// Not here: the session in Node (test/sessions.test.ts; the model's own tests are test/diffusion.test.ts).

import { readFile } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, openDemoBrowser, openWithoutWebGPU, waitForDownload, expectBlockingCaught, expectFreeMainThread, watchMainThread, type MainThreadWindow, setField as setFieldOf, expectColoured
} from './support/demo-page.js';

// No autosave (autosaveEvery=0): a reload finds nothing to offer and builds the model again, until the last test.
const QUERY = '?dataset=ring&sampleCount=200&heldOut=200&sampleSteps=10&sampleEvery=10&fieldGrid=9&batch=64&metricsIntervalMs=200&autosaveEvery=0';
const STEPS = 30;

interface DemoView {
  ready: boolean;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  samples: number;
  samplesStep: number;
  samplesKey: string;
  quality: { mmd: number; slicedWasserstein: number } | null;
  fields: number;
  frames: number;
  info: { state: string; step: number; parameterCount: number; config: { dataset: string; sampleSteps: number } } | null;
}

/** The page's window with what the page and this test leave on it (no global augmentation: the transformer's test has its own __demo). */
type DemoWindow = MainThreadWindow & { __demo?: DemoView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
const timings: Record<string, number> = {};

const demo = (): Promise<DemoView> => page.evaluate(() => (window as DemoWindow).__demo!);

const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

/** Opens the page and waits for the model, its first sample and its first field. */
async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/diffusion/index.html${query}`);
  await waitFor('the model was not built', 'window.__demo?.ready === true && window.__demo.samples >= 1 && window.__demo.fields >= 1', 120_000);
  timings.build ??= performance.now() - t0;
}

const setField = (id: string, value: string, event?: string) => setFieldOf(page, id, value, event);


beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-diffusion-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
  }));
}, 120_000);

afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'diffusion demo', timings));

describe('diffusion demo page (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let savedKey = '';

  it('builds the model and draws held-out data, a first sample and the field', async () => {
    await openPage();
    const v = await demo();
    expect(v.info?.state).toBe('paused');
    expect(v.info?.config.dataset).toBe('ring');
    expect(v.info?.parameterCount).toBe(37_762); // (2+32)·128+128 + 2·(128·128+128) + 128·2+2
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/Adapter:.*37\.76K parameters/);
    expect(await page.$eval('#modes-section', (el) => (el as HTMLElement).hidden)).toBe(false);
    expect(await page.$eval('#img-samples', (el) => (el as HTMLElement).offsetParent)).toBeNull(); // image mode's panels are away
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(true); // no image upload beside points
    await expectColoured(page, 'plane', 200); // blue samples and orange arrows
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/diffusion/index.html`);
    expect(bare.message).toMatch(/no WebGPU/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: the loss falls, samples and quality follow, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const t0 = performance.now();
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.samplesStep >= 20`, 120_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.steps = v.info!.step;
    expect(v.lastLoss).toBeLessThan(v.firstLoss);
    expect(v.samplesStep % 10).toBe(0);
    expect(Number.isFinite(v.quality!.mmd) && Number.isFinite(v.quality!.slicedWasserstein)).toBe(true);
    expect(await page.$eval('#plane-readout', (el) => el.textContent)).toContain(`samples at step ${v.samplesStep} (DDIM, 10 steps)`);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('plays the denoising animation from noise to data', async () => {
    await page.click('#play');
    await waitFor('no frames', 'window.__demo.frames >= 1');
    expect(await page.$eval('#frame', (el) => (el as HTMLInputElement).max)).toBe('10'); // noise + 10 steps
    await waitFor('the animation did not finish', "document.getElementById('anim-readout').textContent.includes('the finished sample')", 60_000);
    await expectColoured(page, 'anim', 100);
    await setField('frame', '0', 'input');
    expect(await page.$eval('#anim-readout', (el) => el.textContent)).toMatch(/^t = 100: pure noise/);
  });

  it('recomputes the field at the timestep the slider picks', async () => {
    const before = (await demo()).fields;
    await setField('field-t', '70', 'input');
    await waitFor('no field for t = 70', `window.__demo.fields > ${before} && document.getElementById('plane-readout').textContent.includes('field at t = 70:')`);
  });

  it('saves a checkpoint as a .safetensors download', async () => {
    const before = (await demo()).samples;
    await page.click('#sample-now'); // samples of the model as it is saved
    await waitFor('no sample on request', `window.__demo.samples > ${before}`);
    const v = await demo();
    savedStep = v.info!.step;
    savedKey = v.samplesKey;
    expect(v.samplesStep).toBe(savedStep);
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`diffusion-ring-step${savedStep}\\.safetensors$`));
    // Weights, their average and two AdamW moments: four copies of 37,762 floats, and the header.
    expect((await readFile(saved)).length).toBeGreaterThan(4 * 4 * 37_762);
  });

  it('after a reload, loading the checkpoint brings back the saved model and its samples', async () => {
    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another dataset: the checkpoint must bring its own back.
    await setField('dataset', 'moons');
    await waitFor('the moons model was not built', "window.__demo.ready && window.__demo.info.config.dataset === 'moons'");
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.samplesStep === ${savedStep}`);
    timings.reloadAndLoad = performance.now() - t0;
    const v = await demo();
    expect(v.info!.config.dataset).toBe('ring');
    expect(await page.$eval('#dataset', (el) => (el as HTMLSelectElement).value)).toBe('ring');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`step ${savedStep}`);
    // Same moving-average weights, same noise seed: the very same points.
    expect(v.samplesKey).toBe(savedKey);
  });

  it('refuses a corrupt or truncated checkpoint with a message, keeping the model', async () => {
    const bytes = await readFile(saved);
    const cases: [string, Uint8Array | string, string][] = [
      ['junk.safetensors', 'this is not a checkpoint', 'not a valid checkpoint'],
      ['truncated.safetensors', bytes.subarray(0, bytes.length - 1000), 'not a valid checkpoint'],
    ];
    for (const [name, content, says] of cases) {
      await chooseFile(page, 'load-file', downloads, name, content);
      await waitFor(`no message for ${name}`, `document.querySelector('#message.error')?.textContent.includes(${JSON.stringify(name)})`);
      expect(await page.$eval('#message', (el) => el.textContent)).toContain(says);
      const v = await demo();
      expect(v.ready).toBe(true);
      expect(v.info!.step).toBe(savedStep); // the model in memory is untouched
      expect(v.info!.config.dataset).toBe('ring');
    }
    // And it still samples the same points.
    const before = (await demo()).samples;
    await page.click('#sample-now');
    await waitFor('no sample after the refused files', `window.__demo.samples > ${before}`);
    expect((await demo()).samplesKey).toBe(savedKey);
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
  });
});
