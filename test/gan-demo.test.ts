// The GAN demo: its worker session in Node, then the page end to end in headless Chromium on
// SwiftShader. In Node: configs are refused field by field; a checkpoint (both players, spectral
// vectors, both optimizers, random streams) resumes a run bit for bit, and a corrupt one is
// refused with a CheckpointError while the run stays; the digit mode trains its scorer and sends
// an image grid and a Fréchet figure; the user's images train with pixel-space figures, and a
// checkpoint of them loaded without the images waits for them. In the page, with small sizes
// from the query string: the model is built and the plane drawn (decision surface, deformed
// latent grid, points), every select of the form shows its longest option whole, and the upload
// box is hidden for a 2D dataset; Start trains while the main thread stays free, and the charts'
// legends read the latest values while not hovered (a hovered point's while hovered); layers
// hide and show; a checkpoint saved through the Save button (a real download) is loaded after a
// reload into a page set to another loss, and brings back the same generated points; a corrupt or truncated file gets a message and the
// model stays; choosing 'Your images' shows the upload box and keeps the model until images come;
// the user's image files are taken (a text file refused with a message, the model kept) and a
// DCGAN trains on them; the page offers its autosave when reopened and comes back by
// itself from a lost GPU (test/support/demo-page.ts, as every page). Also: the message without
// WebGPU.
// Not here: the GAN itself (test/gan.test.ts).

import { readFile } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, ConfigError, DataError } from '../src/errors.js';
import type { RgbaImage } from '../src/data/user-images.js';
import { ganSessionConfig, type GanEvent } from '../src/tasks/gan/protocol.js';
import { GanSession } from '../src/tasks/gan/session.js';
import { chooseDiscImages, type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, openDemoBrowser, openWithoutWebGPU, waitForDownload, expectBlockingCaught, expectFreeMainThread, eventually, watchMainThread, type MainThreadWindow,
} from './support/demo-page.js';
import { testEngine } from './support/engine.js';
import { collectGarbage, STRAY_BYTES } from './support/memory.js';

describe('GAN session (Node)', () => {
  it('refuses configs field by field, and gives images their own defaults', () => {
    expect(() => ganSessionConfig({ dSteps: 0 })).toThrow(/gan config: dSteps must be an integer in \[1, 20\], got 0/);
    expect(() => ganSessionConfig({ dataset: 'mnist' as never })).toThrow(/dataset must be one of 'swissroll', .*'glyphs16'/);
    expect(() => ganSessionConfig({ loss: 'minimax' as never })).toThrow(/loss must be one of/);
    expect(() => ganSessionConfig({ lrD: -1 })).toThrow(/lrD must be a finite number >= 0/);
    expect(() => ganSessionConfig({ spectralNorm: 'yes' as never })).toThrow(/spectralNorm must be true or false/);
    expect(() => ganSessionConfig({ lr: 1 } as never)).toThrow(ConfigError);
    expect(ganSessionConfig({ dataset: 'glyphs16' })).toMatchObject({ lrG: 2e-4, lrD: 2e-4, batch: 64 });
    expect(ganSessionConfig({ dataset: 'glyphs16', batch: 8 }).batch).toBe(8);
  });

  it('resumes a run bit for bit from a checkpoint, and refuses a corrupt one keeping the run', async () => {
    const engine = await testEngine();
    const small = { batch: 32, hidden: 16, sampleCount: 50, heldOut: 50, surfaceGrid: 8, latentLines: 3, snapshotEvery: 0, qualityEvery: 0 };
    // Hinge, spectral norm and two D steps: the spectral vectors and both optimizers' step counts must come back too.
    const a = new GanSession({ engine });
    await a.create({ ...small, loss: 'hinge', spectralNorm: true, dSteps: 2, seed: 3 });
    await a.step(6);
    const bytes = await a.exportCheckpoint();
    const want = await a.step(3);

    const b = new GanSession({ engine });
    const planes: GanEvent[] = [];
    await b.subscribe((e) => e.type === 'plane' && planes.push(e));
    await b.create({ ...small });
    await expect(b.importCheckpoint(new TextEncoder().encode('not a checkpoint'))).rejects.toThrow(CheckpointError);
    expect((await b.info()).config).toMatchObject({ loss: 'nonsaturating', spectralNorm: false }); // the refused file changed nothing
    const info = await b.importCheckpoint(bytes);
    expect(info).toMatchObject({ step: 6, config: { loss: 'hinge', spectralNorm: true, dSteps: 2, seed: 3, surfaceGrid: 8 } });
    expect(await b.step(3)).toEqual(want);
    // A truncated copy of a good file: refused, and the loaded run goes on from where it was.
    await expect(b.importCheckpoint(bytes.subarray(0, bytes.length - 100))).rejects.toThrow(CheckpointError);
    expect((await b.info()).step).toBe(9);
    await b.snapshot();
    const p = planes[planes.length - 1] as Extract<GanEvent, { type: 'plane' }>;
    expect(p.step).toBe(9);
    expect(p.points.length).toBe(100);
    expect(p.surface.logits.length).toBe(64);
    expect(p.lattice).toMatchObject({ side: 9, every: 4 });
    expect(p.lattice.points.length).toBe(2 * 81);
    await a.dispose();
    await b.dispose();
  });

  it('trains on digit images: a sample grid from fixed noise and a Fréchet figure from its scorer', async () => {
    const s = new GanSession({ engine: await testEngine() });
    const events: GanEvent[] = [];
    await s.subscribe((e) => events.push(e));
    const info = await s.create({
      dataset: 'glyphs16', width: 4, imageLatent: 8, batch: 8, trainSize: 64, imageCount: 4, scoreSamples: 16, scorerSteps: 20,
      snapshotEvery: 2, qualityEvery: 2,
    });
    expect(info.kind).toBe('images');
    expect(info.modes).toBe(10);
    const r = await s.step(2);
    expect(Number.isFinite(r.dLoss) && Number.isFinite(r.gLoss)).toBe(true);
    const images = events.filter((e) => e.type === 'images');
    const last = images[images.length - 1];
    expect(last).toMatchObject({ step: 2, count: 4, size: 16, channels: 1 });
    expect(last.images.length).toBe(4 * 256);
    expect(last.logits.length).toBe(4);
    const q = events.filter((e) => e.type === 'quality').pop()!;
    expect(q.kind === 'images' && Number.isFinite(q.frechet) && q.classes.predicted.reduce((a, b) => a + b, 0) === 16).toBe(true);
    expect((await s.reference()).length).toBe(4 * 256);
    await s.dispose();
  });

  it('gives back every GPU byte on reset and dispose, the scorer included', async () => {
    const engine = await testEngine();
    await collectGarbage();
    const baseline = engine.pool.bytesInUse;
    const s = new GanSession({ engine });
    const images = { dataset: 'glyphs16', width: 4, imageLatent: 8, batch: 8, trainSize: 64, imageCount: 4, scoreSamples: 16, scorerSteps: 5 } as const;
    await s.create({ ...images, snapshotEvery: 0, qualityEvery: 0 });
    await s.step(2);
    await collectGarbage();
    const held = engine.pool.bytesInUse;
    expect(held).toBeGreaterThan(baseline);
    await s.reset();
    await s.step(2);
    await collectGarbage();
    expect(Math.abs(engine.pool.bytesInUse - held)).toBeLessThan(STRAY_BYTES);
    await s.dispose();
    expect((await s.info()).state).toBe('empty');
    await collectGarbage();
    expect(engine.pool.bytesInUse - baseline).toBeLessThan(STRAY_BYTES);
  });

  it("trains on the user's images with pixel-space figures, and a checkpoint loaded without them waits for them", async () => {
    const engine = await testEngine();
    const small = { width: 4, imageLatent: 8, batch: 8, imageCount: 4, scoreSamples: 16, snapshotEvery: 2, qualityEvery: 2 };
    const s = new GanSession({ engine });
    const events: GanEvent[] = [];
    await s.subscribe((e) => events.push(e));
    await expect(s.create({ ...small, dataset: 'upload' })).rejects.toThrow(/there are no images yet/);
    await expect(s.upload({ decoded: discs(3) }, 16)).rejects.toThrow(DataError); // too few: nothing held
    expect((await s.info()).upload).toBeNull();

    const took = await s.upload({ decoded: discs(20) }, 16);
    expect(took).toMatchObject({ count: 20, size: 16, attached: false });
    const info = await s.create({ ...small, dataset: 'upload' });
    expect(info).toMatchObject({ kind: 'images', modes: 0, canTrain: true, upload: { count: 20, size: 16 } });
    await s.step(2);
    const q = events.filter((e) => e.type === 'quality').pop()!;
    expect(q.kind).toBe('pixels');
    if (q.kind !== 'pixels') return;
    expect(q.samples).toBe(16);
    expect(Number.isFinite(q.mmd) && q.slicedWasserstein > 0).toBe(true);
    expect(events.filter((e) => e.type === 'images').pop()).toMatchObject({ step: 2, size: 16, count: 4 });
    expect((await s.reference()).length).toBe(4 * 256);
    const bytes = await s.exportCheckpoint();
    const want = await s.step(1);

    // A fresh session (a reloaded page) has the model but not the images: it draws, it does not train.
    const b = new GanSession({ engine });
    const loaded = await b.importCheckpoint(bytes);
    expect(loaded).toMatchObject({ step: 2, canTrain: false, upload: null, config: { dataset: 'upload', uploadSize: 16 } });
    expect((await b.reference()).length).toBe(0);
    await expect(b.step(1)).rejects.toThrow(/upload them again/);
    // The same images at the model's size go to it, and it goes on exactly where it was.
    expect(await b.upload({ decoded: discs(20) }, 16)).toMatchObject({ attached: true });
    expect((await b.info()).canTrain).toBe(true);
    expect(await b.step(1)).toEqual(want);
    await s.dispose();
    await b.dispose();
  });
});

/** `n` RGBA images of a bright disc on a dark ground, each at its own place, as a decoder would give them. */
function discs(n: number): RgbaImage[] {
  return Array.from({ length: n }, (_, i) => {
    const w = 24, h = 20, data = new Uint8ClampedArray(w * h * 4);
    const cx = 6 + (i % 5) * 3, cy = 6 + Math.floor(i / 5) * 2;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = (x - cx) ** 2 + (y - cy) ** 2 < 16 ? 230 : 20;
        data.set([v, v, v, 255], (y * w + x) * 4);
      }
    }
    return { name: `disc${i}.png`, width: w, height: h, data };
  });
}

// ---------------------------------------------------------------------------------------------
// the page

// The image fields (width, imageCount, scoreSamples) keep the DCGAN of the upload test small.
// No autosave (autosaveEvery=0): a reload finds nothing to offer and builds the model again, until the last test.
const QUERY = '?dataset=ring&sampleCount=200&heldOut=200&surfaceGrid=24&latentLines=5&snapshotEvery=10&qualityEvery=10&batch=64&metricsIntervalMs=200' +
  '&width=8&imageCount=16&scoreSamples=32&autosaveEvery=0';
const STEPS = 30;

interface DemoView {
  ready: boolean;
  steps: number;
  firstD: number;
  lastD: number;
  lastG: number;
  planes: number;
  planeStep: number;
  planeKey: string;
  quality: { kind: string; mmd: number; modes: { covered: number } | null } | null;
  info: { state: string; step: number; generatorParams: number; discriminatorParams: number; config: { loss: string; dataset: string; uploadSize: number } } | null;
}

/** The page's window with what the page and this test leave on it. */
type DemoWindow = MainThreadWindow & { __demo?: DemoView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
const timings: Record<string, number> = {};

const demo = (): Promise<DemoView> => page.evaluate(() => (window as DemoWindow).__demo!);

const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

/** Opens the page and waits for the model and its first snapshot. */
async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/gan/index.html${query}`);
  await waitFor('the model was not built', 'window.__demo?.ready === true && window.__demo.planes >= 1 && window.__demo.quality !== null', 120_000);
  timings.build ??= performance.now() - t0;
}

async function setField(id: string, value: string | boolean): Promise<void> {
  await page.$eval(`#${id}`, (el, v) => {
    if (typeof v === 'boolean') (el as HTMLInputElement).checked = v;
    else (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event('change'));
  }, value);
}

/** Pixels of a canvas that are drawn at all, clearly coloured (saturated), and dark. */
function pixels(id: string): Promise<{ painted: number; coloured: number; dark: number }> {
  return page.$eval(`#${id}`, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0, coloured = 0, dark = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 40) continue;
      painted++;
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 30) coloured++;
      if (d[i] + d[i + 1] + d[i + 2] < 300) dark++;
    }
    return { painted, coloured, dark };
  });
}

/** Waits until canvas `id` has more than `atLeast` pixels of `kind` (the plane draws at its next animation frame). */
function drawn(id: string, kind: 'painted' | 'coloured' | 'dark', atLeast: number): Promise<unknown> {
  return eventually(() => pixels(id), (p) => p[kind] > atLeast, `#${id} has no more than ${atLeast} ${kind} pixels`);
}

/** The visible selects of the form narrower than their longest option needs (its text would be cut), as 'id: width < needed'. */
function cutSelects(): Promise<string[]> {
  return page.$$eval('aside select', (els) => els.flatMap((el) => {
    const s = el as HTMLSelectElement;
    if (s.offsetParent === null) return [];
    // A copy outside any grid, at its natural width: as wide as its longest option with the arrow beside it.
    const natural = s.cloneNode(true) as HTMLSelectElement;
    natural.style.cssText = 'position: absolute; width: auto; visibility: hidden';
    document.body.append(natural);
    const needed = natural.offsetWidth;
    natural.remove();
    return s.offsetWidth < needed ? [`${s.id}: ${s.offsetWidth} < ${needed}px`] : [];
  }));
}

/** The values of a chart's legend, the step first. */
function legendValues(chart: string): Promise<string[]> {
  return page.$$eval(`#${chart} .u-legend .u-value`, (els) => els.map((el) => el.textContent ?? ''));
}

/** A page expression: the step the loss chart's legend shows. */
const LEGEND_STEP = "Number(document.querySelector('#chart-loss .u-legend .u-value').textContent.replace(/\\D/g, ''))";

describe('GAN demo page (headless Chromium, SwiftShader)', () => {
  beforeAll(async () => {
    ({ server, browser, page, logs, downloads } = await openDemoBrowser({
      prefix: 'webgpu-train-gan-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
    }));
  }, 120_000);

  afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'gan demo', timings));

  let saved = '';
  let savedStep = 0;
  let savedKey = '';

  it('builds the model and draws the decision surface, the deformed latent grid and the points', async () => {
    await openPage();
    const v = await demo();
    expect(v.info).toMatchObject({ state: 'paused', config: { dataset: 'ring', loss: 'nonsaturating' } });
    // G: (2·128+128) + (128·128+128) + (128·2+2); D the same but one output.
    expect([v.info!.generatorParams, v.info!.discriminatorParams]).toEqual([17_154, 17_025]);
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/G 17\.15K, D 17\.02K parameters/);
    expect(await page.$eval('#modes-section', (el) => (el as HTMLElement).hidden)).toBe(false);
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(true); // nothing to upload for a 2D dataset
    expect(await cutSelects()).toEqual([]);
    await drawn('surface', 'painted', 10_000); // the heatmap (near white while D is unsure)
    await drawn('lattice', 'dark', 100); // the grid's lines
    await drawn('plane', 'coloured', 100); // blue generated points
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/gan/index.html`);
    expect(bare.message).toMatch(/no WebGPU/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: losses and snapshots follow, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const t0 = performance.now();
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.planeStep >= 20`, 120_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.steps = v.info!.step;
    expect(Number.isFinite(v.lastD) && Number.isFinite(v.lastG)).toBe(true);
    expect(v.planeStep % 10).toBe(0);
    expect(v.quality!.kind).toBe('points');
    expect(Number.isFinite(v.quality!.mmd)).toBe(true);
    expect(await page.$eval('#plane-readout', (el) => el.textContent)).toContain(`step ${v.planeStep}: D calls`);
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/per iteration/);
    await drawn('surface', 'coloured', 1000); // D has taken sides somewhere
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);

    // The pointer is on the Start button: each legend reads its series' latest value, not a dash.
    await waitFor('the loss legend does not show the latest step', `${LEGEND_STEP} === window.__demo.steps`);
    const last = await demo();
    const losses = await legendValues('chart-loss'); // the step, D, G, D smoothed, G smoothed
    expect(losses).toHaveLength(5);
    expect(Math.abs(Number(losses[1]) - last.lastD)).toBeLessThanOrEqual(0.01 * Math.abs(last.lastD));
    expect(Math.abs(Number(losses[2]) - last.lastG)).toBeLessThanOrEqual(0.01 * Math.abs(last.lastG));
    for (const chart of ['chart-loss', 'chart-quality', 'chart-modes']) {
      for (const value of await legendValues(chart)) expect(value, chart).toMatch(/^-?\d/);
    }
    // Hovered (at the middle of the run), the legend reads the point under the pointer; left, the latest again.
    await (await page.$('#chart-loss .u-over'))!.hover(); // scrolls the chart into view first
    await waitFor('hovering the chart did not show an earlier step', `${LEGEND_STEP} < window.__demo.steps`);
    await page.mouse.move(1, 1); // the page's margin
    await waitFor('leaving the chart did not bring back the latest step', `${LEGEND_STEP} === window.__demo.steps`);
  });

  it('hides and shows the layers', async () => {
    const blank = (id: string) => `document.getElementById('${id}').getContext('2d').getImageData(0, 0, 400, 400).data.every((v) => v === 0)`;
    await setField('show-surface', false);
    await setField('show-lattice', false);
    await waitFor('the layers were not hidden', `${blank('surface')} && ${blank('lattice')}`);
    await setField('show-surface', true);
    await setField('show-lattice', true);
    await waitFor('the layers did not come back', `!${blank('surface')} && !${blank('lattice')}`);
    await drawn('lattice', 'dark', 100);
  });

  it('saves a checkpoint as a .safetensors download', async () => {
    const before = (await demo()).planes;
    await page.click('#step'); // one more iteration, and a snapshot of the model as it is saved
    // A snapshot of the step before may still be on its way (seen on a busy machine): wait for
    // the one of the step now shown.
    await waitFor('no snapshot after a step', `window.__demo.planes > ${before} && window.__demo.planeStep === window.__demo.info.step`);
    const v = await demo();
    savedStep = v.info!.step;
    savedKey = v.planeKey;
    expect(v.planeStep).toBe(savedStep);
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`gan-ring-nonsaturating-step${savedStep}\\.safetensors$`));
    // Both players and two Adam moments each: three copies of 34,179 floats, and the header.
    expect((await readFile(saved)).length).toBeGreaterThan(3 * 4 * 34_179);
  });

  it('after a reload, loading the checkpoint brings back the saved game', async () => {
    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another loss: the checkpoint must bring its own back.
    await setField('loss', 'hinge');
    await waitFor('the hinge model was not built', "window.__demo.ready && window.__demo.info.config.loss === 'hinge'");
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.planeStep === ${savedStep}`);
    timings.reloadAndLoad = performance.now() - t0;
    const v = await demo();
    expect(v.info!.config.loss).toBe('nonsaturating');
    expect(await page.$eval('#loss', (el) => (el as HTMLSelectElement).value)).toBe('nonsaturating');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`step ${savedStep}`);
    // Same generator weights, same fixed latents: the very same points.
    expect(v.planeKey).toBe(savedKey);
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
      expect(v.info!.step).toBe(savedStep); // the model in memory is untouched
      expect(v.info!.config.loss).toBe('nonsaturating');
      expect(v.planeKey).toBe(savedKey);
    }
  });

  it("shows the upload box for 'Your images', and refuses a file that is not an image with a message, keeping the model", async () => {
    await setField('dataset', 'upload');
    expect(await page.$eval('#upload-zone', (el) => (el as HTMLElement).hidden)).toBe(false);
    expect(await cutSelects()).toEqual([]);
    await chooseFile(page, 'upload-input', downloads, 'notes.txt', 'not a picture');
    await waitFor('no message for notes.txt', "document.querySelector('#message.error')?.textContent.includes('notes.txt')");
    expect(await page.$eval('#message', (el) => el.textContent)).toMatch(/Your images were not used: notes\.txt is not an image.*The model in memory is unchanged/);
    const v = await demo();
    expect(v.ready).toBe(true);
    expect(v.info!.step).toBe(savedStep);
    expect(v.planeKey).toBe(savedKey);
    expect(v.info!.config.dataset).toBe('ring'); // no images yet: nothing was built for 'Your images'
  });

  it("trains on the user's images: decoded in the worker, a DCGAN on them, pixel-space figures", async () => {
    await chooseDiscImages(page, 'upload-input'); // 20 PNGs and a text file
    await waitFor('no model on the upload', "window.__demo.ready && window.__demo.info.config.dataset === 'upload' && window.__demo.images >= 1 && window.__demo.quality?.kind === 'pixels'", 120_000);
    expect(await page.$eval('#message', (el) => el.textContent)).toMatch(/Took 20 images at 16 × 16\. Passed over 1 file that is not an image: readme\.txt\./);
    const v = await demo();
    expect(v.info).toMatchObject({ step: 0, config: { dataset: 'upload', uploadSize: 16 } });
    expect(Number.isFinite(v.quality!.mmd)).toBe(true);
    expect(await page.$eval('#dataset', (el) => (el as HTMLSelectElement).value)).toBe('upload');
    expect(await page.$eval('#chart-frechet', (el) => (el as HTMLElement).offsetParent)).toBeNull(); // no digit scores
    expect(await page.$eval('#chart-quality', (el) => (el as HTMLElement).offsetParent)).not.toBeNull();
    await page.click('#step');
    await waitFor('no step on the upload', 'window.__demo.info.step === 1 && window.__demo.imagesStep === 1');
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
  });
});
