// The transformer demo page, end to end in headless Chromium on SwiftShader: the page builds
// the tiny model in its worker, trains a few dozen steps through its Start button, and the test
// checks that the loss falls, samples appear (the first at the first step) and the page's own
// scripts leave its main thread free (the watcher is shown to catch a deliberate block). It
// draws an attention map, saves a checkpoint through the Save button (a real download), reloads
// the page, loads the file through the Load button (into a model of another batch size, which
// the page replaces with the checkpoint's), and checks that training continues exactly where it
// stopped: the next step's loss and a greedy sample match. Also: the message in a browser
// without WebGPU, the messages for an empty, binary or oversized upload, a file that is not
// a checkpoint and one of another model (one line, its tensor names behind a toggle), the
// offer to resume an autosave and training that comes back by itself after the GPU device is
// destroyed mid-run (test/support/demo-page.ts, as every page), and the precision select: a
// mixed-precision model whose facts line and loss-scale line say what it does.
// The build shows its progress: the bar's words name the plans compiled and count their kernels.
// Not here: the trainer's own tests (Node, no page) or the op checks (test/browser.test.ts).

import { stat } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, expectBlockingCaught, expectFreeMainThread, openDemoBrowser, openWithoutWebGPU,
  waitForDownload, watchMainThread, type MainThreadWindow, setField as setFieldOf
} from './support/demo-page.js';
import { fmtBytes } from '../demos/shared/ui.js';
import { writeSafetensors } from '../src/checkpoint/safetensors.js';

// Small cadences so a few dozen steps show samples and a validation point; no autosave, so the
// reload below finds nothing to offer and builds a fresh model.
const QUERY = '?evalEvery=15&evalBatches=2&sampleEvery=15&sampleLength=60&autosaveEvery=0&metricsIntervalMs=200';
const STEPS = 30;

interface DemoView {
  ready: boolean;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  lastValLoss: number;
  stepLoss: number;
  autosavedStep: number;
  resumedAt: number;
  samples: number;
  firstSampleStep: number;
  info: { state: string; step: number; parameterCount: number; stepBytes: number; adapter: string; vocabSize: number; config: { batch: number; precision: string; tokenizer: string; bpeVocab: number } } | null;
  scaler: { lossScale: number; overflowSteps: number } | null;
}

declare global {
  interface Window {
    __demo?: DemoView;
  }
}

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
const timings: Record<string, number> = {};
const losses: Record<string, number> = {};

const demo = (): Promise<DemoView> => page.evaluate(() => window.__demo!);

const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);

async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/transformer/index.html${query}`);
  await waitFor('the model was not built', 'window.__demo?.ready === true', 90_000);
  timings.build ??= performance.now() - t0;
}

const setField = (id: string, value: string, event?: string) => setFieldOf(page, id, value, event);

/** The newest sample's text (prompt and continuation), from a greedy draw. */
async function greedySample(): Promise<string> {
  const before = (await demo()).samples;
  await setField('temperature', '0');
  await page.click('#sample-now');
  await waitFor('no sample came back', `window.__demo.samples > ${before}`);
  return page.$eval('#samples .sample', (el) => [...el.childNodes].slice(1).map((n) => n.textContent).join(''));
}

/** Clicks Step and returns the loss of that one step. */
async function stepOnce(): Promise<number> {
  await page.evaluate(() => (window.__demo!.stepLoss = NaN));
  await page.click('#step');
  await waitFor('the step did not finish', 'Number.isFinite(window.__demo.stepLoss)');
  return (await demo()).stepLoss;
}

beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({ prefix: 'webgpu-train-downloads-', beforePage: watchMainThread }));
}, 120_000);

afterAll(async () => {
  console.log(`transformer demo losses: ${JSON.stringify(losses)}`);
  await closeDemoBrowser({ server, browser, downloads }, 'transformer demo', timings);
});

describe('transformer demo page (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let nextLoss = NaN;
  let greedy = '';

  it('builds the tiny model and shows the adapter and parameter count', async () => {
    await openPage();
    const facts = await page.$eval('#facts', (el) => el.textContent ?? '');
    const v = await demo();
    expect(v.info?.state).toBe('paused');
    expect(v.info?.parameterCount).toBeGreaterThan(100_000);
    expect(facts).toContain('Adapter:');
    expect(facts).toContain(v.info!.parameterCount.toLocaleString('en-US'));
    // SwiftShader has no shader-f16; the page says so, and f32 is the default.
    expect(facts).toContain('precision: f32 (shader-f16: no)');
    expect(await page.$eval('#precision', (el) => (el as HTMLSelectElement).value)).toBe('f32');
    expect(await page.$eval('#scaler', (el) => (el as HTMLElement).hidden)).toBe(true);
    // The build's progress came to the page: the last phase's words, all its kernels done.
    expect(await page.$eval('#progress-words', (el) => el.textContent)).toMatch(/^compiling [a-z ]+: (\d+) of \1 kernels \(\d+ s\)$/);
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/transformer/index.html`);
    expect(bare.message).toMatch(/no WebGPU.*(chrome:\/\/flags|Chrome|Firefox|Safari)/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: the loss falls, samples appear, the main thread stays free', async () => {
    await setField('lr', '0.003');
    await setField('warmup', '5');
    await page.evaluate(() => (window as MainThreadWindow).__mainThread!.reset());
    const t0 = performance.now();
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.samples >= 1`, 90_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");

    const v = await demo();
    timings.steps = v.steps;
    Object.assign(losses, { first: v.firstLoss, last: v.lastLoss, val: v.lastValLoss });
    expect(v.lastLoss).toBeLessThan(v.firstLoss - 0.5);
    expect(v.samples).toBeGreaterThanOrEqual(1);
    expect(v.firstSampleStep).toBe(1); // the first step after Start brings a sample
    expect(await page.$eval('#samples', (el) => el.textContent?.length ?? 0)).toBeGreaterThan(20);
    // The facts line follows the steps while training, not only on pause.
    expect(await page.$eval('#facts', (el) => el.textContent)).toContain(`step ${v.info!.step}`);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('draws the attention map of a chosen head', async () => {
    await setField('attn-prompt', '12+34=46');
    await setField('attn-layer', '1');
    await setField('attn-head', '3');
    await page.click('#attn-show');
    await waitFor('no attention map', "document.getElementById('attn').style.width !== ''");
    // Causal attention: the first query sees only itself (dark), nothing to its right (white).
    const [first, right] = await page.$eval('#attn', (c) => {
      const canvas = c as HTMLCanvasElement;
      const g = canvas.getContext('2d')!;
      const scale = canvas.width / parseFloat(canvas.style.width);
      const at = (x: number, y: number) => Array.from(g.getImageData(Math.round(x * scale), Math.round(y * scale), 1, 1).data);
      const cell = (parseFloat(canvas.style.width) - 28) / 8;
      return [at(28 + cell / 2, 28 + cell / 2), at(28 + 1.5 * cell, 28 + cell / 2)];
    });
    expect(first[0]).toBeLessThan(100);
    expect(right.slice(0, 3)).toEqual([255, 255, 255]);
  });

  it('saves a checkpoint as a .safetensors download', async () => {
    savedStep = (await demo()).info!.step;
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`gpt-tiny-step${savedStep}\\.safetensors$`));
    expect((await stat(saved)).size).toBeGreaterThan(4 * 100_000);
    // What the saved model does next: the loss of the next step on the next batch, and a greedy sample.
    greedy = await greedySample();
    nextLoss = await stepOnce();
    expect(Number.isFinite(nextLoss)).toBe(true);
  });

  it('after a reload, loading the checkpoint continues exactly where it stopped', async () => {
    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another batch size: the page must rebuild the model the checkpoint was trained as.
    await setField('batch', '8');
    await waitFor('the batch-8 model was not built', 'window.__demo.ready && window.__demo.info.config.batch === 8');
    const input = await page.$('input#load-file');
    await input!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.info.step === ${savedStep} && window.__demo.ready`);
    timings.reloadAndLoad = performance.now() - t0;
    expect((await demo()).info!.config.batch).toBe(16);
    expect(await page.$eval('#batch', (el) => (el as HTMLInputElement).value)).toBe('16');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`step ${savedStep}`);
    expect(await greedySample()).toBe(greedy);
    const loss = await stepOnce();
    Object.assign(losses, { nextStepSaved: nextLoss, nextStepLoaded: loss });
    expect(Math.abs(loss - nextLoss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(nextLoss)));
  });

  it('says why an empty, binary or huge upload, a file that is not a checkpoint or one of another model is refused', async () => {
    const uploads: [string, string | Uint8Array, string][] = [
      ['empty.txt', '', 'empty'],
      ['binary.txt', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256), 'binary'],
      ['huge.txt', 'a'.repeat(9 * 1024 * 1024), 'the limit is 8.0 MB'],
    ];
    for (const [name, content, says] of uploads) {
      await chooseFile(page, 'file', downloads, name, content);
      await waitFor(`no message for ${name}`, `document.querySelector('#message.error')?.textContent.includes(${JSON.stringify(says)})`);
      expect(await page.$eval('#message', (el) => el.textContent)).toContain(name === 'huge.txt' ? name : 'training text cannot be used');
    }

    await chooseFile(page, 'load-file', downloads, 'junk.safetensors', 'this is not a checkpoint');
    await waitFor('no message for a bad checkpoint', "document.querySelector('#message.error')?.textContent.includes('junk.safetensors')");
    const text = await page.$eval('#message', (el) => el.textContent ?? '');
    expect(text).toContain('not a valid checkpoint');

    // Another model's checkpoint: one line that says so, its tensor names behind a closed toggle.
    const unet = writeSafetensors(Array.from({ length: 25 }, (_, i) => ({ name: `unet.down.${i}.weight`, shape: [1], data: new Float32Array(1) })));
    await chooseFile(page, 'load-file', downloads, 'unet.safetensors', unet);
    await waitFor('no message for another model', "document.querySelector('#message.error')?.textContent.includes('unet.safetensors')");
    const banner = await page.$eval('#message', (el) => ({
      line: [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join(''),
      open: el.querySelector('details')?.open,
      names: [...el.querySelectorAll('details li')].map((li) => li.textContent),
    }));
    expect(banner.line).toMatch(/^unet\.safetensors was not loaded: the checkpoint does not fit this model\. The checkpoint has none of the model's \d+ tensors \(such as 'transformer\.wte\.weight'\): it was saved from another model\.$/);
    expect(banner.line).not.toMatch(/\n|Error/);
    expect(banner.open).toBe(false);
    expect(banner.names).toHaveLength(Number(/(\d+) tensors/.exec(banner.line)?.[1]));
    expect(banner.names).toContain('transformer.h.0.attn.c_attn.weight');
    expect((await demo()).info!.step).toBe(savedStep + 1); // the model in memory is untouched
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
    expect(Number.isFinite((await demo()).lastLoss)).toBe(true);
  });

  it('builds a mixed-precision model from the select: it steps, and the page shows its loss scale', async () => {
    const t0 = performance.now();
    const f32Bytes = (await demo()).info!.stepBytes;
    await page.$eval('#precision', (el) => {
      (el as HTMLSelectElement).value = 'mixed';
      el.dispatchEvent(new Event('change'));
    });
    await waitFor('the mixed model was not built', "window.__demo.ready && window.__demo.info.config.precision === 'mixed'", 90_000);
    const facts = await page.$eval('#facts', (el) => el.textContent ?? '');
    expect(facts).toMatch(/precision: mixed \(f16 matmul operands and activations, stored two per 32-bit word, every sum in f32: it runs with or without shader-f16, which this adapter lacks\)/);
    // The same model in mixed precision keeps its activations in about half the bytes.
    const mixedBytes = (await demo()).info!.stepBytes;
    expect(mixedBytes).toBeGreaterThan(0);
    expect(mixedBytes).toBeLessThan(0.9 * f32Bytes);
    expect(facts).toContain(`step memory: ${fmtBytes(mixedBytes)} of activations and gradients`);
    expect(Number.isFinite(await stepOnce())).toBe(true);
    await waitFor('no loss scale shown', "!document.getElementById('scaler').hidden && window.__demo.steps >= 1");
    expect(await page.$eval('#scaler', (el) => el.textContent)).toMatch(/^Loss scale 2\^15; 0 steps skipped because f16 overflowed/);
    expect((await demo()).scaler).toEqual({ lossScale: 2 ** 15, overflowSteps: 0 });
    timings.mixed = performance.now() - t0;
  });

  it('builds a model over a byte-level BPE of the text from the select: more than 256 tokens, and it steps', async () => {
    await page.$eval('#precision', (el) => {
      (el as HTMLSelectElement).value = 'f32';
      el.dispatchEvent(new Event('change'));
    });
    await setField('bpe-vocab', '300', 'input');
    await page.$eval('#tokenizer', (el) => {
      (el as HTMLSelectElement).value = 'bpe';
      el.dispatchEvent(new Event('change'));
    });
    await waitFor('the BPE model was not built', "window.__demo.ready && window.__demo.info.config.tokenizer === 'bpe'", 90_000);
    const info = (await demo()).info!;
    expect(info.config.bpeVocab).toBe(300);
    expect(info.vocabSize).toBeGreaterThan(256);
    expect(info.vocabSize).toBeLessThanOrEqual(300);
    expect(Number.isFinite(await stepOnce())).toBe(true);
  });
});
