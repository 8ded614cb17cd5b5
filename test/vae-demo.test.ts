// The VAE demo page end to end in headless Chromium on SwiftShader, with small sizes from the
// query string (an MLP 64 wide on 16 × 16 digits, batch 32, 64 held-out images, a 6 × 6 decoded
// grid, pictures every 5 steps, a 10-step KL warm-up): the page builds the model in its worker
// and draws held-out digits beside their reconstructions, prior samples and the latent plane;
// trains through its Start button while the reconstruction term and the negative ELBO fall, beta
// warms up, the pictures follow and the main thread stays free; hovering the latent plane shows
// the image decoded under the pointer; a checkpoint saved through the Save button (a real
// download) is loaded after a reload and brings back exactly the same reconstructions at its
// step; a corrupt file gets a message and the model stays; choosing 'Your images' shows the
// upload box and keeps the model; the page offers its autosave when reopened and comes back by
// itself from a lost GPU (test/support/demo-page.ts, as every page). Also: the message without WebGPU.
// Not here: the session and model in Node (test/vae.test.ts), uploads (test/gan-demo.test.ts and
// the diffusion page's test drive the shared upload box).

import { readFile } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, expectBlockingCaught, expectFreeMainThread, openDemoBrowser, openWithoutWebGPU,
  waitForDownload, watchMainThread, type MainThreadWindow, setField as setFieldOf, canvasTones, eventually, expectColoured,
} from './support/demo-page.js';

// No autosave (autosaveEvery=0): a reload finds nothing to offer and builds the model again, until the last test.
const QUERY = '?dataset=glyphs16&hidden=64&batch=32&trainSize=512&heldOut=64&pictureCount=8&sampleCount=8&gridSide=6' +
  '&pictureEvery=5&warmupSteps=10&lr=0.003&metricsIntervalMs=200&autosaveEvery=0';
const STEPS = 30;

interface DemoView {
  ready: boolean;
  steps: number;
  firstRecon: number;
  lastRecon: number;
  firstElbo: number;
  lastElbo: number;
  lastKl: number;
  lastBeta: number;
  pictures: number;
  picturesStep: number;
  reconKey: string;
  samplesKey: string;
  latentMaps: number;
  hovers: number;
  hoverZ: [number, number] | null;
  hoverKey: string;
  info: { state: string; step: number; parameterCount: number; config: { dataset: string; latent: number; arch: string } } | null;
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

/** Opens the page and waits for the model and its first pictures. */
async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/vae/index.html${query}`);
  await waitFor('the model was not built', 'window.__demo?.ready === true && window.__demo.pictures >= 1 && window.__demo.latentMaps >= 1', 120_000);
  timings.build ??= performance.now() - t0;
}

const setField = (id: string, value: string, event?: string) => setFieldOf(page, id, value, event);

const tones = (id: string) => canvasTones(page, id);


beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-vae-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
  }));
}, 120_000);

afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'vae demo', timings));

describe('VAE demo page (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let savedKey = '';

  it('builds the model and draws reconstructions, prior samples and the latent plane', async () => {
    await openPage();
    const v = await demo();
    expect(v.info).toMatchObject({ state: 'paused', step: 0, config: { dataset: 'glyphs16', latent: 2, arch: 'mlp' } });
    // Encoder 256·64+64 + 64·4+4, decoder 2·64+64 + 64·256+256.
    expect(v.info!.parameterCount).toBe(16_448 + 260 + 192 + 16_640);
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/33\.54K parameters \(MLP, 1 × 64, z in 2D\).*digits 16 × 16, 512 training images/);
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(true); // nothing to upload for digits
    expect(await page.$eval('#latent-section', (el) => (el as HTMLElement).hidden)).toBe(false);
    for (const id of ['reconstructions', 'samples']) await eventually(() => tones(id), ([dark, light]) => dark + light > 500, `#${id} is not drawn`);
    await eventually(() => tones('latent-grid'), ([d, l]) => d + l > 1000, 'no decoded grid under the plane'); // drawn at the next animation frame
    await expectColoured(page, 'latent-plane', 50); // the held-out means, coloured by digit
    expect(await page.$eval('#heldout-readout', (el) => el.textContent)).toMatch(/^step 0: ELBO -\d+(\.\d+)? nats per image .* over 64 images/);
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/vae/index.html`);
    expect(bare.message).toMatch(/no WebGPU/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: both terms reach the charts, the bound improves as beta warms up, pictures follow, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const t0 = performance.now();
    const before = (await demo()).reconKey;
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.picturesStep >= 20`, 120_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.steps = v.info!.step;
    expect(v.lastRecon).toBeLessThan(v.firstRecon);
    expect(v.lastElbo).toBeGreaterThan(v.firstElbo); // the negative ELBO, what is minimised once beta is 1, fell
    expect(v.lastKl).toBeGreaterThan(0);
    expect(v.lastBeta).toBe(1); // warmed up over the first 10 steps
    expect(v.picturesStep % 5).toBe(0);
    expect(v.reconKey).not.toBe(before);
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/ELBO -?\d.*reconstruction .*KL .*β 1\b.*per step/);
    // Each chart's legend reads its latest values: reconstruction and KL; ELBO, smoothed and beta.
    const legend = (id: string) => page.$$eval(`#${id} .u-legend .u-value`, (els) => els.map((el) => el.textContent ?? ''));
    expect((await legend('chart-terms')).slice(1).every((s) => /^\d.* nats$/.test(s))).toBe(true);
    expect((await legend('chart-elbo')).slice(1)).toEqual([expect.stringMatching(/^-\d.* nats$/), expect.stringMatching(/^-\d.* nats$/), '1.000']);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('decodes the point of the latent plane under the pointer', async () => {
    const plane = (await page.$('#latent-plane'))!;
    await plane.scrollIntoView();
    const box = (await plane.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height * 0.25); // z near (1.5, 1.5)
    await waitFor('nothing decoded under the pointer', 'window.__demo.hovers >= 1');
    const first = await demo();
    expect(first.hoverZ![0]).toBeCloseTo(1.5, 0);
    expect(first.hoverZ![1]).toBeCloseTo(1.5, 0);
    await eventually(() => tones('latent-hover'), ([d, l]) => d + l > 1000, 'nothing drawn for the point under the pointer');
    expect(await page.$eval('#latent-hover-readout', (el) => el.textContent)).toMatch(/decode\(z\) at z = \(1\.\d\d, 1\.\d\d\)/);
    // Elsewhere on the plane, another image.
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.8);
    await waitFor('the far point was not decoded', 'window.__demo.hoverZ[0] < -1 && window.__demo.hoverZ[1] < -1');
    expect((await demo()).hoverKey).not.toBe(first.hoverKey);
    await page.mouse.move(1, 1);
  });

  it('saves a checkpoint, and a reloaded page loads it back: the same step, exactly the same reconstructions', async () => {
    const before = (await demo()).pictures;
    await page.click('#step'); // one more step, and the pictures of the model as it is saved
    await waitFor('no pictures after a step', `window.__demo.pictures > ${before} && window.__demo.picturesStep === window.__demo.info.step`);
    const v = await demo();
    savedStep = v.info!.step;
    savedKey = v.reconKey;
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`vae-glyphs16-mlp-z2-step${savedStep}\\.safetensors$`));

    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another latent size: the checkpoint must bring its own back.
    await setField('latent', '3');
    await waitFor('the 3D model was not built', 'window.__demo.ready && window.__demo.info.config.latent === 3');
    expect(await page.$eval('#latent-section', (el) => (el as HTMLElement).hidden)).toBe(true); // no plane beyond 2D
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.picturesStep === ${savedStep}`);
    timings.reloadAndLoad = performance.now() - t0;
    const back = await demo();
    expect(back.info!.config.latent).toBe(2);
    expect(await page.$eval('#latent', (el) => (el as HTMLInputElement).value)).toBe('2');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`digits 16 × 16, mlp, z in 2D, at step ${savedStep}`);
    expect(back.reconKey).toBe(savedKey);
  });

  it('refuses a corrupt or truncated checkpoint with a message, keeping the model', async () => {
    const bytes = await readFile(saved);
    const cases: [string, Uint8Array | string][] = [
      ['junk.safetensors', 'this is not a checkpoint'],
      ['truncated.safetensors', bytes.subarray(0, bytes.length - 1000)],
    ];
    for (const [name, content] of cases) {
      await chooseFile(page, 'load-file', downloads, name, content);
      await waitFor(`no message for ${name}`, `document.querySelector('#message.error')?.textContent.includes(${JSON.stringify(name)})`);
      expect(await page.$eval('#message', (el) => el.textContent)).toContain('not a valid checkpoint');
      const v = await demo();
      expect(v.ready).toBe(true);
      expect(v.info!.step).toBe(savedStep);
      expect(v.reconKey).toBe(savedKey);
    }
  });

  it("shows the upload box for 'Your images' and keeps the model until images come", async () => {
    await setField('dataset', 'upload');
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(false);
    const v = await demo();
    expect(v.info).toMatchObject({ step: savedStep, config: { dataset: 'glyphs16' } });
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
  });
});
