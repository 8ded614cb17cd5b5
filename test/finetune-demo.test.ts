// The fine-tuning page end to end in headless Chromium on SwiftShader, on the tiny random GPT-2
// of test/support/finetune-base.ts written to a folder as a model's files, with small sizes from
// the query string (batch 2, windows of 16 tokens, perplexity every 5 steps): the files go in
// through the page's pickers, a config.json that is not JSON gets its message and the good one
// the summary with each strategy's memory; the user's text comes as a file; Prepare measures the
// pretrained model's perplexity and samples; a LoRA run trains through Start while the loss and
// the held-out perplexity fall and the main thread stays free; the samples before and after sit
// side by side from the same prompts; the adapters export as PEFT's two files (real downloads);
// reopened, the page offers its autosave once the same files are given again, resumes it, and
// comes back by itself from a lost GPU.
// Not here: the session in Node (finetune-session.test.ts), the core's recovery (sessions.test.ts).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../src/checkpoint/safetensors.js';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  closeDemoBrowser, expectBlockingCaught, expectFreeMainThread, openDemoBrowser, waitForDownload, watchMainThread, type MainThreadWindow,
} from './support/demo-page.js';
import { finetuneBase } from './support/finetune-base.js';

const QUERY = '?batch=2&block=16&evalEvery=5&sampleEvery=10&sampleLength=8&evalBatches=1&lr=0.01&warmup=2&totalSteps=400&metricsIntervalMs=200&autosaveEvery=0';
const STEPS = 20;

interface DemoView {
  ready: boolean;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  evals: number;
  perplexityBefore: number;
  lastPerplexity: number;
  samplesBefore: number;
  samplesAfter: number;
  samplesStep: number;
  exports: number;
  info: { state: string; step: number; trainableParameters: number; base: { vocabSize: number; strategies: { fits: boolean }[] } | null } | null;
}

type DemoWindow = MainThreadWindow & { __demo?: DemoView };

let server: PageServer;
let browser: LaunchedBrowser;
let page: Page;
let logs: string[];
let downloads: string;
let folder: string;
const timings: Record<string, number> = {};
const base = finetuneBase();

const demo = (): Promise<DemoView> => page.evaluate(() => (window as DemoWindow).__demo!);
const waitFor = (what: string, fn: string, timeout?: number) => waitForPage(page, logs, what, fn, timeout);
const message = () => page.$eval('#message', (el) => el.textContent ?? '');

/** Gives the model's files and the text through the page's pickers, and prepares the run. */
async function prepareRun(): Promise<void> {
  await choose('base-weights', 'model.safetensors');
  await choose('base-config', 'config.json');
  await choose('base-tokenizer', 'vocab.json', 'merges.txt');
  await waitFor('no summary', 'window.__demo.info.base !== null', 60_000);
  await choose('text-file', 'cats.txt');
  await waitFor('Prepare is not enabled', "!document.querySelector('#create').disabled");
  await page.click('#create');
  await waitFor('the run was not prepared', 'window.__demo.ready && window.__demo.samplesBefore === 2', 300_000);
}

/** Gives the files at `paths` (in the model folder) to the file input `id`. */
async function choose(id: string, ...paths: string[]): Promise<void> {
  await (await page.$(`input#${id}`))!.uploadFile(...paths.map((p) => join(folder, p)));
}

beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-finetune-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
  }));
  folder = await mkdtemp(join(tmpdir(), 'webgpu-train-finetune-model-'));
  await writeFile(join(folder, 'model.safetensors'), base.weights);
  await writeFile(join(folder, 'config.json'), base.config);
  await writeFile(join(folder, 'vocab.json'), base.vocab);
  await writeFile(join(folder, 'merges.txt'), base.merges);
  await writeFile(join(folder, 'cats.txt'), base.text);
  await writeFile(join(folder, 'bad-config.json'), '{ "n_layer": 2,');
}, 120_000);

afterAll(async () => {
  await closeDemoBrowser({ server, browser, downloads }, 'finetune demo', timings);
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('fine-tuning demo page (headless Chromium, SwiftShader)', () => {
  it('takes the model\'s files through its pickers: a bad config.json gets its message, the good one the summary', async () => {
    await page.goto(`${server.url}demos/finetune/index.html${QUERY}`);
    await waitFor('the page did not start', 'window.__demo?.info !== null && window.__demo.info !== undefined', 60_000);
    // The banner is written a moment after the page's state is published.
    await waitFor('no prompt for the files', "document.querySelector('#message').textContent.includes(\"Choose or drop the pretrained model's files\")");
    await choose('base-weights', 'model.safetensors');
    await choose('base-tokenizer', 'vocab.json', 'merges.txt');
    await waitFor('the tokenizer files are not listed', "document.querySelector('#base-files').textContent.includes('merges: merges.txt')");
    expect(await page.$eval('#base-files', (el) => el.textContent)).toMatch(/weights: model\.safetensors .*config: missing.*vocab: vocab\.json.*merges: merges\.txt/);
    await (await page.$('input#base-config'))!.uploadFile(join(folder, 'bad-config.json'));
    await waitFor('no message for the bad config.json', "document.querySelector('#message.error')?.textContent.includes('config.json is not JSON')", 60_000);
    expect(await message()).toMatch(/^The model's files were not used: config\.json is not JSON \(.*\); choose the config\.json that came with the weights\.$/);
    expect((await demo()).info!.base).toBeNull();

    await choose('base-config', 'config.json');
    await waitFor('no summary', 'window.__demo.info.base !== null', 60_000);
    expect((await demo()).info!.base!.vocabSize).toBe(base.vocabSize);
    expect(await page.$eval('#summary-section', (el) => (el as HTMLElement).hidden)).toBe(false);
    expect(await page.$eval('#summary', (el) => el.textContent)).toMatch(/^model\.safetensors: 36\.10K parameters, 2 layers, 2 heads, width 32, a context of 32 tokens; Hugging Face's layout in F32.*300 tokens with <\|endoftext\|>/);
    const rows = await page.$$eval('#memory-table tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows).toHaveLength(4);
    expect(rows.every((r) => r.endsWith('fits'))).toBe(true);
    expect(rows[0]).toMatch(/^full fine-tuning36\.10K \(100\.0%\)/);
  });

  it('prepares a LoRA run on the text: the pretrained model\'s perplexity and samples come first', async () => {
    expect(await page.$eval('#create', (el) => (el as HTMLButtonElement).disabled)).toBe(true); // no text yet
    await choose('text-file', 'cats.txt');
    // The page reads the file before it names it, so the name comes a moment after the change event.
    await waitFor('the text was not taken', "document.querySelector('#text-name').textContent.startsWith('Using cats.txt')");
    await waitFor('Prepare is not enabled', "!document.querySelector('#create').disabled");
    const t0 = performance.now();
    await page.click('#create');
    await waitFor('the run was not prepared', 'window.__demo.ready && window.__demo.samplesBefore === 2 && Number.isFinite(window.__demo.perplexityBefore)', 300_000);
    timings.prepare = performance.now() - t0;
    const v = await demo();
    expect(v.info).toMatchObject({ state: 'paused', step: 0, trainableParameters: 2 * 8 * (32 + 96) });
    expect(await page.$$eval('#samples-before .sample', (els) => els.map((e) => e.querySelector('.prompt')!.textContent))).toEqual(['the cat looked at', 'the dog looked at']);
    expect(await page.$eval('#perplexity-readout', (el) => el.textContent)).toMatch(/^Before fine-tuning: \d/);
    expect(await page.$eval('#export-adapters', (el) => (el as HTMLButtonElement).disabled)).toBe(false);
  });

  it('trains: the loss and the held-out perplexity fall, samples after sit beside those before, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const t0 = performance.now();
    await page.click('#start');
    await waitFor(`fewer than ${STEPS} steps`, `window.__demo.steps >= ${STEPS} && window.__demo.evals >= 4 && window.__demo.samplesStep >= 10`, 300_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.steps = v.info!.step;
    console.log(`page: held-out perplexity ${v.perplexityBefore.toFixed(1)} before, ${v.lastPerplexity.toFixed(1)} after ${v.steps} steps; loss ${v.firstLoss.toFixed(3)} -> ${v.lastLoss.toFixed(3)}`);
    expect(v.lastPerplexity).toBeLessThan(v.perplexityBefore);
    expect(v.lastLoss).toBeLessThan(v.firstLoss);
    expect(await page.$eval('#perplexity-readout', (el) => el.textContent)).toMatch(/^Before: \d.*; at step \d+: \d/);
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/loss \d.*held-out perplexity \d/);
    const prompts = (id: string) => page.$$eval(`#${id} .sample .prompt`, (els) => els.map((e) => e.textContent));
    expect(await prompts('samples-after')).toEqual(await prompts('samples-before'));
    expect(await page.$eval('#samples-after-title', (el) => el.textContent)).toMatch(/^After \d+ steps$/);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('exports the adapters as PEFT\'s two files', async () => {
    await page.click('#export-adapters');
    const weights = await waitForDownload(downloads);
    expect(weights).toMatch(/adapter_model\.safetensors$/);
    const file = parseSafetensors(new Uint8Array(await readFile(weights)));
    expect([...file.tensors.keys()].sort()).toEqual([0, 1].flatMap((l) => ['A', 'B'].map((f) => `base_model.model.transformer.h.${l}.attn.c_attn.lora_${f}.weight`)).sort());
    await waitFor('no adapter_config.json', 'window.__demo.exports === 1');
    const config = await waitForDownload(downloads, 30_000, (f) => f === 'adapter_config.json');
    expect(config).toMatch(/adapter_config\.json$/);
    expect(JSON.parse(await readFile(config, 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['attn.c_attn'] });
  });

  it('offers its autosave once the same files are given again, resumes it, and comes back from a lost GPU by itself', async () => {
    const t0 = performance.now();
    await page.goto(`${server.url}demos/finetune/index.html${QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')}`);
    await waitFor('the page did not start', 'window.__demo?.info != null', 60_000);
    await prepareRun();
    for (let i = 1; i <= 2; i++) {
      await page.click('#step');
      await waitFor(`step ${i} was not run`, `window.__demo.info.step === ${i}`, 60_000);
    }
    await waitFor('no autosave at step 2', 'window.__demo.autosavedStep === 2', 60_000);

    await page.reload();
    await waitFor('the page did not start again', 'window.__demo?.info != null', 60_000);
    expect(await message()).toMatch(/A LoRA rank 8 fine-tuned model saved at step 2 is in this browser's storage: give the files of the base it was fine-tuned from to resume it\./);
    await choose('base-weights', 'model.safetensors');
    await choose('base-config', 'config.json');
    await choose('base-tokenizer', 'vocab.json', 'merges.txt');
    await waitFor('no offer to resume', "[...document.querySelectorAll('#message button')].some((b) => b.textContent === 'Resume it')", 60_000);
    await page.$$eval('#message button', (bs) => bs.find((b) => b.textContent === 'Resume it')!.click());
    await waitFor('the autosave was not restored', 'window.__demo.ready && window.__demo.info.step === 2 && window.__demo.samplesBefore === 2', 300_000);
    // The page reads the file before it names it, so the name comes a moment after the change event.
    await waitFor('the text was not taken', "document.querySelector('#text-name').textContent.startsWith('Using cats.txt')");

    await page.click('#start');
    await waitFor('no autosave while running', 'window.__demo.autosavedStep >= 4', 120_000);
    await waitFor('the button is not enabled while running', "!document.querySelector('#lose-gpu').disabled");
    await page.click('#lose-gpu');
    await waitFor('training did not come back', 'window.__demo.resumedAt >= 4', 120_000);
    const resumedAt = await page.evaluate(() => {
      const v = (window as DemoWindow).__demo! as DemoView & { resumedAt: number };
      v.steps = -1; // records of the lost run came before the event; from here on only the new run's
      return v.resumedAt;
    });
    await waitFor('no steps after the recovery', `window.__demo.steps >= ${resumedAt + 3}`, 120_000);
    await page.click('#start'); // Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    expect(await page.$('#message.error')).toBeNull();
    expect(await message()).toMatch(new RegExp(`GPU was lost at step \\d+.*autosave of step ${resumedAt}`));
    timings.resumeAndRecovery = performance.now() - t0;
  });
});
