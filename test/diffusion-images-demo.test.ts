// The diffusion page in image mode, end to end in headless Chromium on SwiftShader, with tiny
// sizes from the query string (a U-Net 8 channels wide over 20 timesteps, batch 8, a grid of one
// sample per digit drawn in 3 DDIM steps, a scorer trained for 30 steps): the page builds the
// model on 16 × 16 digits and draws a sample grid and the training images; trains through its
// Start button while the grids follow and the scorer, trained in the worker meanwhile, reports
// its accuracy and scores them; plays the grid denoising from noise; saves a checkpoint, reloads,
// loads it and gets the same model back (its step and exactly its samples); refuses a
// file that is not an image with a message while the model stays; and trains on images of the
// user's (PNG files made in the page, decoded in the worker).
// Not here: points (test/diffusion-demo.test.ts), the pixel arithmetic (test/user-images.test.ts).

import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseDiscImages, type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import { canvasTones, chooseFile, eventually, closeDemoBrowser, openDemoBrowser, waitForDownload } from './support/demo-page.js';

const QUERY =
  '?dataset=glyphs16&base=8&batch=8&timesteps=20&sampleSteps=3&gridColumns=1&sampleEvery=4&trainPoints=256' +
  '&scorerSteps=30&scorerImages=300&heldOut=100&metricsIntervalMs=200';

interface ImageView {
  grids: number;
  gridStep: number;
  gridValues: number[];
  quality: { classAgreement: number | null; frechet: number; step: number } | null;
  scorer: { state: string; heldOutAccuracy: number | null } | null;
  dataGrids: number;
  frames: number;
}

interface DemoView {
  ready: boolean;
  steps: number;
  info: { state: string; step: number; kind: string; parameterCount: number; config: { dataset: string } } | null;
  img: ImageView;
}

type DemoWindow = Window & { __demo?: DemoView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
const timings: Record<string, number> = {};

const demo = (): Promise<DemoView> => page.evaluate(() => (window as DemoWindow).__demo!);

const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

/** Opens the page and waits for the model, its first grid and its training images. */
async function openPage(): Promise<void> {
  await page.goto(`${server.url}demos/diffusion/index.html${QUERY}`);
  await waitFor('the image model was not built', 'window.__demo?.ready === true && window.__demo.img?.grids >= 1 && window.__demo.img.dataGrids >= 1', 120_000);
}

const tones = (id: string) => canvasTones(page, id);

beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-diffusion-images-', viewport: { width: 1300, height: 1000 },
  }));
}, 120_000);

afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'diffusion images demo', timings));

describe('diffusion demo page, images (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let savedGrid: number[] = [];

  it('builds a U-Net on digits and draws a sample grid beside the training images', async () => {
    const t0 = performance.now();
    await openPage();
    timings.build = performance.now() - t0;
    const v = await demo();
    expect(v.info?.kind).toBe('images');
    expect(v.info?.config.dataset).toBe('glyphs16');
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/parameters \(U-Net, 2 levels from 8 channels, conditioned on 10 classes\).*digits 16 × 16, 256 training images/);
    // The 2D panels are out of the way; the grids are drawn: noise in the samples, dark digits on white in the data.
    expect(await page.$eval('#plane', (el) => (el as HTMLElement).offsetParent)).toBeNull();
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(false); // the user's images are offered beside the digits
    expect(v.img.gridValues.length).toBe(10 * 16 * 16);
    await eventually(() => tones('img-samples'), ([dark, light]) => dark > 100 && light > 100, 'the samples are not drawn as noise');
    await eventually(() => tones('img-data'), ([ink, paper]) => ink > 200 && paper > ink, 'the data is not drawn as dark digits on white');
  });

  it('trains: grids follow, and the scorer trained meanwhile reports its accuracy and scores them', async () => {
    const t0 = performance.now();
    await page.click('#start');
    await waitFor('no scored grid after training', "window.__demo.steps >= 8 && window.__demo.img.gridStep >= 8 && window.__demo.img.scorer?.state === 'ready' && window.__demo.img.quality !== null", 120_000);
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    timings.train = performance.now() - t0;
    const v = await demo();
    expect(v.img.gridStep % 4).toBe(0);
    expect(v.img.scorer!.heldOutAccuracy).toBeGreaterThan(0.5);
    expect(await page.$eval('#scorer-state', (el) => el.textContent)).toMatch(/The scorer reads \d+\.\d% of 100 held-out real 16 × 16 digits right/);
    expect(Number.isFinite(v.img.quality!.frechet)).toBe(true);
    expect(v.img.quality!.classAgreement).toBeGreaterThanOrEqual(0);
    expect(v.img.quality!.classAgreement).toBeLessThanOrEqual(1);
    expect(await page.$eval('#img-samples-readout', (el) => el.textContent)).toContain('(DDIM, 3 steps, guidance 2)');
  });

  it('plays the grid denoising from noise', async () => {
    await page.click('#img-play');
    await waitFor('no frames', 'window.__demo.img.frames >= 1');
    expect(await page.$eval('#img-frame', (el) => (el as HTMLInputElement).max)).toBe('3'); // noise + 3 steps
    await waitFor('the animation did not finish', "document.getElementById('img-anim-readout').textContent.includes('the finished sample')", 60_000);
    await eventually(() => tones('img-anim'), ([dark, light]) => dark + light > 500, 'the finished frame is not drawn');
  });

  it('saves a checkpoint, and a reloaded page loads it back: same step, exactly the same samples', async () => {
    const before = (await demo()).img.grids;
    await page.click('#img-sample-now');
    await waitFor('no grid on request', `window.__demo.img.grids > ${before}`);
    const v = await demo();
    savedStep = v.info!.step;
    savedGrid = v.img.gridValues;
    expect(v.img.gridStep).toBe(savedStep);
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`diffusion-glyphs16-step${savedStep}\\.safetensors$`));

    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.img.gridStep === ${savedStep}`);
    timings.reloadAndLoad = performance.now() - t0;
    const back = await demo();
    expect(back.info!.config.dataset).toBe('glyphs16');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`digits 16 × 16 at step ${savedStep}`);
    // The same moving-average weights from the same noise, through the same kernels (the worker
    // keeps its picks): the very same values.
    const diff = Math.max(...back.img.gridValues.map((x, i) => Math.abs(x - savedGrid[i])));
    expect(diff).toBe(0);
  });

  it('refuses a file that is not an image with a message, keeping the model', async () => {
    await chooseFile(page, 'upload-input', downloads, 'notes.txt', 'not a picture');
    await waitFor('no message for notes.txt', "document.querySelector('#message.error')?.textContent.includes('notes.txt')");
    expect(await page.$eval('#message', (el) => el.textContent)).toMatch(/Your images were not used: notes\.txt is not an image.*The model in memory is unchanged/);
    const v = await demo();
    expect(v.ready).toBe(true);
    expect(v.info!.step).toBe(savedStep);
    expect(v.info!.config.dataset).toBe('glyphs16');
    expect(await page.$eval('#dataset option[value=upload]', (el) => (el as HTMLOptionElement).disabled)).toBe(true);
  });

  it("trains on the user's images: files decoded in the worker, an unconditional model, no scores", async () => {
    const t0 = performance.now();
    await chooseDiscImages(page, 'upload-input'); // 20 PNGs and a text file
    await waitFor('no model on the upload', "window.__demo.ready && window.__demo.info.config.dataset === 'upload' && window.__demo.img.grids >= 1 && window.__demo.img.dataGrids >= 1", 120_000);
    timings.upload = performance.now() - t0;
    expect(await page.$eval('#message', (el) => el.textContent)).toMatch(/Took 20 images at 16 × 16\. Passed over 1 file that is not an image: readme\.txt\./);
    const v = await demo();
    expect(v.info!.step).toBe(0);
    expect(v.img.gridValues.length).toBe(5 * 2 * 16 * 16); // 5 rows of twice the columns
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/U-Net, 2 levels from 8 channels\).*your images, 20 training images at 16 × 16/);
    expect(await page.$eval('#chart-frechet', (el) => (el as HTMLElement).offsetParent)).toBeNull(); // no scores
    await eventually(() => tones('img-data'), ([dark, light]) => dark > light && light > 50, 'the images are not drawn as bright discs on dark, as given');
    await page.click('#step');
    await waitFor('no step on the upload', 'window.__demo.info.step === 1 || /step 1/.test(document.getElementById("state").textContent)');
  });
});
