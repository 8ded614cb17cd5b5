// The browser benchmark runner: serves the repository with Vite, opens bench/index.html in
// headless Chromium (Debian's /usr/bin/chromium, or $CHROME_PATH) on SwiftShader unless the
// machine has a GPU, prints the page's progress and table, and writes JSON to bench/results/
// (or --out=PATH). With several suites (comma-separated, or all), each in turn in a fresh page
// of one browser.
// On a terminal a status line shows the suite, the item running and the time so far.
// Usage: npm run bench [-- --sizes=256,512] [-- --adapter=swiftshader|gpu] [-- --suite=matmul|attention|gpt|diffusion|gan|conv|...|all]
//        [-- --presets=tiny,mini] (the gpt suite's presets) [-- --models=mlp,unet] (the diffusion suite's rows)
//        [-- --profile=1] (the diffusion and gan suites add a per-kernel profile of a step, given timestamps)
//        [-- --peer=none] (the matmul, gpt, diffusion and gan suites measure TensorFlow.js in the same page unless told not to)
//        [-- --quick] (each suite's smallest sizes and fewest repetitions, the peer's too: every figure, in seconds)
//        [-- --out=PATH] (the JSON's path; with --suite=all, PATH with each suite's name before the extension)
// Not here: the suites (bench/registry.ts, run by bench/page.ts inside the page).

import { launchBrowser, startPageServer, type BrowserAdapter } from '../test/support/browser.js';
import { formatResult, type BenchResult } from './registry.js';
import { arg, outPath, parseSuites } from './args.js';
import { createProgress } from './progress.js';
import { saveResult } from './save.js';

const suites = parseSuites(arg('suite'));
const adapter = arg('adapter') as BrowserAdapter | undefined;
const out = arg('out');
// Passed on to the page's query string, where bench/registry.ts reads them as the Node runner does.
const passed: Record<string, string | undefined> = Object.fromEntries(['sizes', 'peer', 'presets', 'models', 'profile', 'quick'].map((n) => [n, arg(n)]));
// SwiftShader needs minutes for the 1024 products of the slower tiling.
const WAIT_MS = 1_800_000;

const server = await startPageServer();
const browser = await launchBrowser({ adapter });
let failed = false;
try {
  const version = await browser.browser.version();
  console.log(`${version} (${browser.executable}), WebGPU adapter: ${browser.adapter}`);
  for (const [i, suite] of suites.entries()) {
    const progress = createProgress(suites.length > 1 ? `${suite} (${i + 1}/${suites.length})` : suite);
    const page = await browser.browser.newPage();
    try {
      page.on('console', (m) => progress.log(`  [page] ${m.text()}`));
      page.on('pageerror', (e) => progress.log(`  [page error] ${e instanceof Error ? e.message : String(e)}`));
      await page.exposeFunction('__benchProgress', progress.update);
      const given = Object.entries({ ...passed, suite: suite as string }).filter((e): e is [string, string] => e[1] !== undefined);
      await page.goto(`${server.url}bench/index.html?${new URLSearchParams(given).toString()}`);
      await page.waitForFunction(() => window.__bench !== undefined, { timeout: WAIT_MS, polling: 1000 });
      const got = (await page.evaluate(() => window.__bench))!;
      if ('error' in got) throw new Error(`the ${suite} benchmark page failed: ${got.error}`);
      progress.done();
      const result: BenchResult = { ...got, environment: `${version}, adapter flag: ${browser.adapter}` };
      console.log(`\n${formatResult(result)}\n`);
      console.log(`wrote ${await saveResult(result, outPath(out, suite, suites.length > 1))}`);
    } finally {
      progress.done();
      await page.close();
    }
  }
} catch (e) {
  failed = true;
  console.error(e instanceof Error ? e.message : e);
} finally {
  await browser.close();
  await server.close();
}
process.exit(failed ? 1 : 0);
