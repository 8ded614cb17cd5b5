// The Node benchmark runner: the matmul suite (or, with --suite=attention, the attention suite;
// with --suite=gpt, the GPT training step; with --suite=diffusion, the 2D denoiser's and the
// U-Net's training steps; with --suite=gan, the 2D GAN's iteration; with --suite=conv, the
// convolution kernels against matmul) on Dawn (the `webgpu` package), on the machine's GPU when
// it has one, else on SwiftShader.
// Prints a table and writes JSON to bench/results/. No TensorFlow.js peer here (bench/browser.ts has it).
// Usage: npm run bench:node [-- --sizes=256,512] [-- --suite=matmul|attention|gpt|diffusion|gan|conv] [-- --presets=tiny,mini]
//        [-- --models=mlp,unet] (the diffusion suite's rows)
//        [-- --profile=1] (the diffusion and gan suites add a per-kernel profile of a step, given timestamps)
// Not here: the suite (bench/suite.ts) or the browser runner (bench/browser.ts).

import { useSwiftShaderWithoutGpu } from '../test/support/vulkan.js';
import { createEngine } from '../src/engine.js';
import { formatSuite, runMatmulSuite, SIZES } from './suite.js';
import { formatAttentionSuite, runAttentionSuite } from './attention.js';
import { formatGptSuite, parseGptPresets, runGptSuite } from './gpt.js';
import { formatDiffusionSuite, parseDiffusionModels, runDiffusionSuite } from './diffusion.js';
import { formatGanSuite, runGanSuite } from './gan.js';
import { formatConvSuite, runConvSuite } from './conv.js';
import { saveResult } from './save.js';

const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
const sizesGiven = sizesArg ? sizesArg.slice('--sizes='.length).split(',').map(Number) : undefined;
const suite = process.argv.find((a) => a.startsWith('--suite='))?.slice('--suite='.length) ?? 'matmul';
const profile = process.argv.some((a) => a === '--profile' || a === '--profile=1');
const models = parseDiffusionModels(process.argv.find((a) => a.startsWith('--models='))?.slice('--models='.length));
const presets = parseGptPresets(process.argv.find((a) => a.startsWith('--presets='))?.slice('--presets='.length));

// Before the first adapter request: the Vulkan loader reads VK_ICD_FILENAMES once.
const icd = useSwiftShaderWithoutGpu();
const engine = await createEngine({ powerPreference: 'high-performance' });
console.log(`Dawn (Node ${process.version})${icd ? `, no GPU found: SwiftShader via ${icd}` : ''}`);
const common = { runner: 'node', environment: `Node ${process.version}, webgpu (Dawn)`, log: (line: string) => console.log(line) } as const;
if (suite === 'attention') {
  const result = await runAttentionSuite(engine, { ...common, sizes: sizesGiven });
  console.log(`\n${formatAttentionSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} else if (suite === 'gpt') {
  const result = await runGptSuite(engine, { ...common, presets });
  console.log(`\n${formatGptSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} else if (suite === 'diffusion') {
  const result = await runDiffusionSuite(engine, { ...common, profile, models });
  console.log(`\n${formatDiffusionSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} else if (suite === 'gan') {
  const result = await runGanSuite(engine, { ...common, profile });
  console.log(`\n${formatGanSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} else if (suite === 'conv') {
  const result = await runConvSuite(engine, common);
  console.log(`\n${formatConvSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
} else {
  const result = await runMatmulSuite(engine, { ...common, sizes: sizesGiven ?? SIZES });
  console.log(`\n${formatSuite(result)}\n`);
  console.log(`wrote ${await saveResult(result)}`);
}
engine.destroy();
// Dawn keeps the event loop alive after the device is gone.
process.exit(0);
