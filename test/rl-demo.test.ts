// The reinforcement-learning demo page, end to end in headless Chromium on SwiftShader, with
// small sizes from the query string (4 CartPoles × 16 steps per update, 2 epochs of 2
// minibatches, 16 hidden units, a time limit of 100 steps, a greedy episode every 2 updates):
// the page builds the policy in its worker and draws the cart-pole from its first episode;
// trains through its Start button while finite returns are charted, episodes play on the canvas
// and the main thread stays free; saves a checkpoint through the Save button (a real download),
// reloads the page, switches the algorithm, loads the file through the Load button and gets the
// saved policy back (its algorithm, its update and the very same greedy episode from a fixed
// start: its length and every action); refuses a corrupt or truncated checkpoint with a message
// while the policy in memory stays as it was; offers its autosave when reopened and comes back by
// itself from a lost GPU (test/support/demo-page.ts, as every page). Also: the message without
// WebGPU.
// Not here: the session in Node, the algorithms and CartPole (test/rl.test.ts).

import { readFile } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, type PageServer, waitForPage } from './support/browser.js';
import {
  checkResumeAndRecovery, chooseFile, closeDemoBrowser, expectBlockingCaught, expectFreeMainThread, openDemoBrowser, openWithoutWebGPU,
  waitForDownload, watchMainThread, type MainThreadWindow, setField as setFieldOf, expectColoured
} from './support/demo-page.js';

// No autosave (autosaveEvery=0): a reload finds nothing to offer and builds the policy again, until the last test.
const QUERY = '?envs=4&horizon=16&minibatches=2&epochs=2&hidden=16&maxEpisodeSteps=100&episodeEvery=2&metricsIntervalMs=200&autosaveEvery=0';
/** (4·16 + 16) + (16·16 + 16) + (16·2 + 2): two tanh layers of 16 and the two logits. */
const POLICY_PARAMS = 386;
/** The start of the greedy episodes compared across the save and the load. */
const START = 3;

interface DemoView {
  ready: boolean;
  steps: number;
  info: { state: string; step: number; policyParams: number; config: { algorithm: string } } | null;
  returns: number;
  lastReturn: number;
  nonFinite: number;
  episodes: number;
  stage: { played: number; frames: number; length: number; ended: string };
  greedy: { seed: number; length: number; actions: string; ended: string } | null;
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

/** Opens the page and waits for the policy and the replay of its first episode. */
async function openPage(query = QUERY): Promise<void> {
  const t0 = performance.now();
  await page.goto(`${server.url}demos/rl/index.html${query}`);
  await waitFor('the policy was not built', 'window.__demo?.ready === true && window.__demo.stage.played >= 1 && window.__demo.stage.frames >= 1', 120_000);
  timings.build ??= performance.now() - t0;
}

const setField = (id: string, value: string, event?: string) => setFieldOf(page, id, value, event);

/** The greedy episode from START, asked for with the page's button. */
async function greedyEpisode(): Promise<NonNullable<DemoView['greedy']>> {
  await page.evaluate(() => ((window as DemoWindow).__demo!.greedy = null));
  await setField('episode-seed', String(START));
  await page.click('#play-greedy');
  await waitFor('no greedy episode', 'window.__demo.greedy !== null');
  const g = (await demo()).greedy!;
  expect(g.seed).toBe(START);
  return g;
}


beforeAll(async () => {
  ({ server, browser, page, logs, downloads } = await openDemoBrowser({
    prefix: 'webgpu-train-rl-', viewport: { width: 1300, height: 1000 }, beforePage: watchMainThread,
  }));
}, 120_000);

afterAll(() => closeDemoBrowser({ server, browser, downloads }, 'rl demo', timings));

describe('RL demo page (headless Chromium, SwiftShader)', () => {
  let saved = '';
  let savedStep = 0;
  let before: NonNullable<DemoView['greedy']>;

  it('builds the policy and draws the cart-pole from its first episode', async () => {
    await openPage();
    const v = await demo();
    expect(v.info?.state).toBe('paused');
    expect(v.info?.config.algorithm).toBe('ppo');
    expect(v.info?.policyParams).toBe(POLICY_PARAMS);
    expect(await page.$eval('#facts', (el) => el.textContent)).toMatch(/Adapter:.*policy 386 and value 369 parameters.*PPO: 4 CartPoles × 16 steps/);
    expect(v.stage.length).toBeGreaterThan(0);
    expect(await page.$eval('#stage-readout', (el) => el.textContent)).toMatch(/^Update 0, greedy from start 0: step \d+ of \d+\./);
    await expectColoured(page, 'stage', 300); // the blue cart and the orange pole
    expect(await page.$eval('#play-greedy', (el) => (el as HTMLButtonElement).disabled)).toBe(false);
  });

  it('says what to enable in a browser without WebGPU', async () => {
    const bare = await openWithoutWebGPU(browser.browser, `${server.url}demos/rl/index.html`);
    expect(bare.message).toMatch(/no WebGPU/);
    expect(bare.startDisabled).toBe(true);
  });

  it('trains: finite returns are charted, episodes play on the canvas, the main thread stays free', async () => {
    await page.evaluate(() => (window as DemoWindow).__mainThread!.reset());
    const played = (await demo()).stage.played;
    const t0 = performance.now();
    await page.click('#start');
    await waitFor('no returns charted or no episode played', `window.__demo.returns >= 4 && window.__demo.episodes >= 3 && window.__demo.stage.played > ${played}`, 180_000);
    timings.train = performance.now() - t0;
    await page.click('#start'); // now labelled Pause
    await waitFor('training did not pause', "window.__demo.info.state === 'paused'");
    const v = await demo();
    timings.updates = v.info!.step;
    expect(Number.isFinite(v.lastReturn)).toBe(true);
    expect(v.lastReturn).toBeGreaterThanOrEqual(1); // every step earns 1, the last one too
    expect(v.nonFinite).toBe(0);
    expect(v.stage.frames).toBeGreaterThan(v.stage.played);
    expect(v.stage.ended).toMatch(/pole fell|ran off the track|time limit/);
    expect(await page.$eval('#stage-readout', (el) => el.textContent)).toMatch(/^Update [1-9]\d*, greedy from start 0: step \d+ of \d+\./);
    // While it plays, the readout says what the critic expects from the state shown (or, at the end, how it ended).
    await waitFor('no value estimate in the readout', "/critic expects a return of -?\\d+\\.\\d/.test(document.getElementById('stage-readout').textContent)");
    expect(await page.$eval('#state', (el) => el.textContent)).toMatch(/^Paused.*: .*mean return [\d.]+ over the last \d+ episodes/);
    const use = await expectFreeMainThread(page);
    timings.pageScriptShare = use.share;
    timings.longestPageScript = use.longestMs;
    await expectBlockingCaught(page, waitFor);
  });

  it('saves a checkpoint as a .safetensors download', async () => {
    before = await greedyEpisode();
    expect(before.length).toBeGreaterThan(0);
    // The readout follows at the stage's next animation frame, which a loaded machine may delay.
    await waitFor('the readout does not show the greedy episode', `/^Greedy at update \\d+, from start ${START}:/.test(document.getElementById('stage-readout').textContent)`);
    savedStep = (await demo()).info!.step;
    await page.click('#save');
    saved = await waitForDownload(downloads);
    expect(saved).toMatch(new RegExp(`rl-cartpole-ppo-step${savedStep}\\.safetensors$`));
    // Two networks' weights and Adam's two moments of each: four copies of 755 floats, and the header.
    expect((await readFile(saved)).length).toBeGreaterThan(4 * 4 * (POLICY_PARAMS + 369));
  });

  it('after a reload, loading the checkpoint brings back the saved policy: the same greedy episode, action for action', async () => {
    const t0 = performance.now();
    await openPage();
    expect((await demo()).info!.step).toBe(0);
    // Another algorithm: the checkpoint must bring its own back.
    await setField('algorithm', 'reinforce');
    await waitFor('the REINFORCE policy was not built', "window.__demo.ready && window.__demo.info.config.algorithm === 'reinforce'");
    await (await page.$('input#load-file'))!.uploadFile(saved);
    await waitFor('the checkpoint did not load', `window.__demo.ready && window.__demo.info.step === ${savedStep} && window.__demo.info.config.algorithm === 'ppo'`);
    timings.reloadAndLoad = performance.now() - t0;
    expect(await page.$eval('#algorithm', (el) => (el as HTMLSelectElement).value)).toBe('ppo');
    expect(await page.$eval('#message', (el) => el.textContent)).toContain(`PPO at update ${savedStep}`);
    const after = await greedyEpisode();
    expect(after.length).toBe(before.length);
    expect(after.actions).toBe(before.actions);
    expect(after.ended).toBe(before.ended);
  });

  it('refuses a corrupt or truncated checkpoint with a message, keeping the policy', async () => {
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
      expect(v.info!.step).toBe(savedStep); // the policy in memory is untouched
      expect(v.info!.config.algorithm).toBe('ppo');
    }
    // And it still acts as it did.
    const after = await greedyEpisode();
    expect([after.length, after.actions]).toEqual([before.length, before.actions]);
  });

  it('offers to resume an autosave when reopened, and comes back from a lost GPU by itself from the last autosave', async () => {
    timings.resumeAndRecovery = await checkResumeAndRecovery({ page, waitFor, open: () => openPage(QUERY.replace('autosaveEvery=0', 'autosaveEvery=2')) });
  });
});
