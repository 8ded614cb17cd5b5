// The Node benchmark runner: the matmul suite (or, with --suite=attention, the attention suite;
// with --suite=gpt, the GPT training step; with --suite=diffusion, the 2D denoiser's and the
// U-Net's training steps; with --suite=gan, the 2D GAN's iteration; with --suite=conv, the
// convolution kernels against matmul; with --suite=all, each of them in turn on one engine) on
// Dawn (the `webgpu` package), on the machine's GPU when it has one, else on SwiftShader.
// Prints a table per suite and writes its JSON to bench/results/ (or --out=PATH). On a terminal
// a status line shows the suite, the item running and the time so far (bench/progress.ts).
// No TensorFlow.js peer here (bench/browser.ts has it).
// Usage: npm run bench:node [-- --sizes=256,512] [-- --suite=matmul|attention|gpt|diffusion|gan|conv|all] [-- --presets=tiny,mini]
//        [-- --models=mlp,unet] (the diffusion suite's rows)
//        [-- --profile=1] (the diffusion and gan suites add a per-kernel profile of a step, given timestamps)
//        [-- --quick] (each suite's smallest sizes and fewest repetitions: every figure, in seconds; see each suite's header)
//        [-- --out=PATH] (the JSON's path; with --suite=all, PATH with each suite's name before the extension)
// Not here: the suites (bench/suite.ts and the others) or the browser runner (bench/browser.ts).

import { useSwiftShaderWithoutGpu } from '../test/support/vulkan.js';
import { createEngine, type Engine } from '../src/engine.js';
import { formatSuite, runMatmulSuite } from './suite.js';
import { formatAttentionSuite, runAttentionSuite } from './attention.js';
import { formatGptSuite, parseGptPresets, runGptSuite } from './gpt.js';
import { formatDiffusionSuite, parseDiffusionModels, runDiffusionSuite } from './diffusion.js';
import { formatGanSuite, runGanSuite } from './gan.js';
import { formatConvSuite, runConvSuite } from './conv.js';
import { arg, flag, outPath, parseSuites, type SuiteName } from './args.js';
import { createProgress, type ProgressFn } from './progress.js';
import { saveResult } from './save.js';

const sizes = arg('sizes')?.split(',').map(Number);
const suites = parseSuites(arg('suite'));
const quick = flag('quick');
const profile = flag('profile');
const out = arg('out');
const models = parseDiffusionModels(arg('models'));
const presets = parseGptPresets(arg('presets'));

interface Common {
  runner: 'node';
  environment: string;
  quick: boolean;
  log: (line: string) => void;
  progress: ProgressFn;
}

/** Runs one suite; returns its result and its table. */
async function run(engine: Engine, suite: SuiteName, common: Common): Promise<{ result: { suite: string; runner: string; date: string }; table: string }> {
  switch (suite) {
    case 'matmul': {
      const result = await runMatmulSuite(engine, { ...common, sizes });
      return { result, table: formatSuite(result) };
    }
    case 'attention': {
      const result = await runAttentionSuite(engine, { ...common, sizes });
      return { result, table: formatAttentionSuite(result) };
    }
    case 'gpt': {
      const result = await runGptSuite(engine, { ...common, presets });
      return { result, table: formatGptSuite(result) };
    }
    case 'diffusion': {
      const result = await runDiffusionSuite(engine, { ...common, profile, models });
      return { result, table: formatDiffusionSuite(result) };
    }
    case 'gan': {
      const result = await runGanSuite(engine, { ...common, profile });
      return { result, table: formatGanSuite(result) };
    }
    case 'conv': {
      const result = await runConvSuite(engine, common);
      return { result, table: formatConvSuite(result) };
    }
  }
}

// Before the first adapter request: the Vulkan loader reads VK_ICD_FILENAMES once.
const icd = useSwiftShaderWithoutGpu();
const engine = await createEngine({ powerPreference: 'high-performance' });
console.log(`Dawn (Node ${process.version})${icd ? `, no GPU found: SwiftShader via ${icd}` : ''}${quick ? ', quick mode' : ''}`);
const t0 = performance.now();
for (const suite of suites) {
  const progress = createProgress(suites.length > 1 ? `${suite} (${suites.indexOf(suite) + 1}/${suites.length})` : suite);
  const common = { runner: 'node', environment: `Node ${process.version}, webgpu (Dawn)`, quick, log: progress.log, progress: progress.update } as const;
  let done: Awaited<ReturnType<typeof run>>;
  try {
    done = await run(engine, suite, common);
  } finally {
    progress.done();
  }
  console.log(`\n${done.table}\n`);
  console.log(`wrote ${await saveResult(done.result, outPath(out, suite, suites.length > 1))}`);
}
if (suites.length > 1) console.log(`${suites.length} suites in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
engine.destroy();
// Dawn keeps the event loop alive after the device is gone.
process.exit(0);
