// The browser benchmark runner: serves the repository with Vite, opens bench/index.html in
// headless Chromium (Debian's /usr/bin/chromium, or $CHROME_PATH) on SwiftShader unless the
// machine has a GPU, prints the page's progress and table, and writes JSON to bench/results/.
// Usage: npm run bench [-- --sizes=256,512] [-- --adapter=swiftshader|gpu] [-- --suite=matmul|attention|gpt|diffusion|gan|conv]
//        [-- --presets=tiny,mini] (the gpt suite's presets) [-- --models=mlp,unet] (the diffusion suite's rows)
//        [-- --profile=1] (the diffusion and gan suites add a per-kernel profile of a step, given timestamps)
//        [-- --peer=none] (the matmul, gpt, diffusion and gan suites measure TensorFlow.js in the same page unless told not to)
// Not here: the suite (bench/suite.ts, run by bench/page.ts inside the page).

import { launchBrowser, startPageServer, type BrowserAdapter } from '../test/support/browser.js';
import { formatSuite, type SuiteResult } from './suite.js';
import { formatAttentionSuite, type AttentionSuiteResult } from './attention.js';
import { formatGptSuite, type GptSuiteResult } from './gpt.js';
import { formatDiffusionSuite, type DiffusionSuiteResult } from './diffusion.js';
import { formatGanSuite, type GanSuiteResult } from './gan.js';
import { formatConvSuite, type ConvSuiteResult } from './conv.js';
import { saveResult } from './save.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const sizes = arg('sizes');
const adapter = arg('adapter') as BrowserAdapter | undefined;
const suite = arg('suite');
const peer = arg('peer');
const presets = arg('presets');
const profile = arg('profile');
const models = arg('models');
// SwiftShader needs minutes for the 1024 products of the slower tiling.
const WAIT_MS = 1_800_000;

const server = await startPageServer();
const browser = await launchBrowser({ adapter });
let failed = false;
try {
  const version = await browser.browser.version();
  console.log(`${version} (${browser.executable}), WebGPU adapter: ${browser.adapter}`);
  const page = await browser.browser.newPage();
  page.on('console', (m) => console.log(`  [page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`  [page error] ${e instanceof Error ? e.message : String(e)}`));
  const query = new URLSearchParams({ ...(sizes ? { sizes } : {}), ...(suite ? { suite } : {}), ...(peer ? { peer } : {}), ...(presets ? { presets } : {}), ...(profile ? { profile } : {}), ...(models ? { models } : {}) }).toString();
  await page.goto(`${server.url}bench/index.html${query ? `?${query}` : ''}`);
  await page.waitForFunction(() => window.__bench !== undefined, { timeout: WAIT_MS, polling: 1000 });
  const got = (await page.evaluate(() => window.__bench))!;
  if ('error' in got) throw new Error(`the benchmark page failed: ${got.error}`);
  const result: SuiteResult | AttentionSuiteResult | GptSuiteResult | DiffusionSuiteResult | GanSuiteResult | ConvSuiteResult = {
    ...got,
    environment: `${version}, adapter flag: ${browser.adapter}`,
  };
  const table =
    result.suite === 'attention'
      ? formatAttentionSuite(result)
      : result.suite === 'gpt'
        ? formatGptSuite(result)
        : result.suite === 'diffusion'
          ? formatDiffusionSuite(result)
          : result.suite === 'gan'
            ? formatGanSuite(result)
            : result.suite === 'conv'
              ? formatConvSuite(result)
              : formatSuite(result);
  console.log(`\n${table}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} catch (e) {
  failed = true;
  console.error(e instanceof Error ? e.message : e);
} finally {
  await browser.close();
  await server.close();
}
process.exit(failed ? 1 : 0);
