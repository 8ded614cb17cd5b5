// The benchmark page: runs the matmul suite (or ?suite=attention, the attention suite,
// ?suite=gpt, the GPT training step, ?suite=diffusion, the 2D denoiser's and the U-Net's training
// steps, ?suite=gan, the 2D GAN's iteration, or ?suite=conv, the convolution kernels against
// matmul) on navigator.gpu, shows progress and the table, and leaves the result in
// window.__bench for Puppeteer (bench/browser.ts).
// Query string: ?sizes=256,512 measures only those sizes; ?suite=attention|gpt|diffusion|gan|conv
// picks the suite; ?presets=tiny,mini the gpt suite's presets; ?models=mlp,unet the diffusion
// suite's model rows (default both); ?profile=1 adds the diffusion
// step's or the GAN iteration's per-kernel profile (where the adapter has timestamps);
// ?peer=none leaves out TensorFlow.js, which otherwise runs after the matmul, gpt, diffusion and
// gan suites; ?quick=1 runs the suite (and the peer) at its smallest sizes and fewest repetitions.
// Progress: each item that starts goes to window.__benchProgress when the runner exposed one.
// Not here: the suite (bench/suite.ts) or saving results (the runner does, from Node).

import { createEngine } from '../src/engine.js';
import { formatSuite, QUICK_SIZES, runMatmulSuite, SIZES, type SuiteResult } from './suite.js';
import { formatAttentionSuite, runAttentionSuite, type AttentionSuiteResult } from './attention.js';
import { formatGptSuite, GPT_DEFAULT_PRESETS, GPT_QUICK_PRESETS, parseGptPresets, runGptSuite, type GptSuiteResult } from './gpt.js';
import { formatDiffusionSuite, parseDiffusionModels, runDiffusionSuite, type DiffusionSuiteResult } from './diffusion.js';
import { formatGanSuite, runGanSuite, type GanSuiteResult } from './gan.js';
import { formatConvSuite, runConvSuite, type ConvSuiteResult } from './conv.js';
import type { ProgressFn } from './progress.js';

declare global {
  interface Window {
    __bench?: SuiteResult | AttentionSuiteResult | GptSuiteResult | DiffusionSuiteResult | GanSuiteResult | ConvSuiteResult | { error: string };
    /** Exposed by bench/browser.ts for its status line. */
    __benchProgress?: ProgressFn;
  }
}

const logEl = document.getElementById('log')!;
const tableEl = document.getElementById('table')!;
const lines: string[] = [];
const log = (line: string) => {
  lines.push(line);
  logEl.textContent = lines.join('\n');
  // Puppeteer forwards console lines, so a headless run shows progress too.
  console.log(line);
};

const query = new URLSearchParams(location.search);
const sizesParam = query.get('sizes');
const sizes = sizesParam ? sizesParam.split(',').map(Number) : undefined;
const suite = query.get('suite') ?? 'matmul';
const peer = query.get('peer') !== 'none';
const profile = query.get('profile') === '1';
const quick = query.get('quick') === '1';
const progress: ProgressFn = (item, total, label) => void window.__benchProgress?.(item, total, label);

try {
  const engine = await createEngine({ powerPreference: 'high-performance' });
  log(`adapter: ${JSON.stringify(engine.gpu.adapter)}`);
  const common = { runner: 'browser', environment: navigator.userAgent, quick, log, progress } as const;
  const presets = parseGptPresets(query.get('presets')) ?? (quick ? GPT_QUICK_PRESETS : GPT_DEFAULT_PRESETS);
  const matmulSizes = sizes ?? (quick ? QUICK_SIZES : SIZES);
  const result =
    suite === 'attention'
      ? await runAttentionSuite(engine, { ...common, sizes })
      : suite === 'gpt'
        ? await runGptSuite(engine, { ...common, presets })
        : suite === 'diffusion'
          ? await runDiffusionSuite(engine, { ...common, profile, models: parseDiffusionModels(query.get('models')) })
          : suite === 'gan'
            ? await runGanSuite(engine, { ...common, profile })
            : suite === 'conv'
              ? await runConvSuite(engine, common)
              : await runMatmulSuite(engine, { ...common, sizes: matmulSizes });
  engine.destroy();
  if (peer && ['matmul', 'gpt', 'diffusion', 'gan'].includes(result.suite)) progress(0, 0, 'TensorFlow.js peer');
  if (result.suite === 'matmul' && peer) {
    const { runTfjsPeer } = await import('./peer-tfjs.js');
    result.peer = await runTfjsPeer(matmulSizes, log, quick);
  }
  if (result.suite === 'gpt' && peer) {
    const { runTfjsGptPeer } = await import('./peer-tfjs-gpt.js');
    result.peer = await runTfjsGptPeer(presets, { log });
  }
  if (result.suite === 'diffusion' && peer) {
    const { runTfjsDiffusionPeer } = await import('./peer-tfjs-diffusion.js');
    result.peer = await runTfjsDiffusionPeer({ log, quick });
  }
  if (result.suite === 'gan' && peer) {
    const { runTfjsGanPeer } = await import('./peer-tfjs-gan.js');
    result.peer = await runTfjsGanPeer({ log, quick });
  }
  tableEl.textContent =
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
  tableEl.hidden = false;
  window.__bench = result;
} catch (e) {
  const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  logEl.classList.add('bad');
  log(error);
  window.__bench = { error };
}
