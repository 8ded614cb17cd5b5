// The Node benchmark runner: the suites of bench/registry.ts (matmul by default; --suite= names
// one, several comma-separated, or all) on Dawn (the `webgpu` package), on the machine's GPU
// when it has one, else on SwiftShader, one engine for every suite. Prints a table per suite and
// writes its JSON to bench/results/ (or --out=PATH). On a terminal a status line shows the
// suite, the item running and the time so far (bench/progress.ts).
// No TensorFlow.js peer here (its backends need a page: bench/browser.ts has it).
// Usage: npm run bench:node [-- --suite=matmul|attention|gpt|diffusion|gan|conv|...|all] [-- --sizes=256,512]
//        [-- --presets=tiny,mini] (the gpt suite's) [-- --models=mlp,unet] (the diffusion suite's rows)
//        [-- --profile=1] (the diffusion and gan suites add a per-kernel profile of a step, given timestamps)
//        [-- --quick] (each suite's smallest sizes and fewest repetitions: every figure, in seconds; see each suite's header)
//        [-- --out=PATH] (the JSON's path; with several suites, PATH with each suite's name before the extension)
//        [-- --require-gpu] (exit 2, naming the adapter, when it is a software one: bench/gpu.sh passes it)
//        [-- --robustness=off] (Dawn compiles shaders without its bounds checks, DeviceOptions.robustness;
//        the environment in every table says so)
// Not here: the suites (bench/registry.ts names them) or the browser runner (bench/browser.ts).

import { useSwiftShaderWithoutGpu } from '../test/support/vulkan.js';
import { createEngine } from '../src/engine.js';
import { arg, flag, outPath, parseSuites } from './args.js';
import { createProgress } from './progress.js';
import { formatResult, readParams, SUITE_TABLE } from './registry.js';
import { saveResult } from './save.js';
import { adapterName } from './common.js';

const suites = parseSuites(arg('suite'));
const out = arg('out');

// Before the first adapter request: the Vulkan loader reads VK_ICD_FILENAMES once.
const icd = useSwiftShaderWithoutGpu();
const robustness = arg('robustness') !== 'off';
const engine = await createEngine({ powerPreference: 'high-performance', tune: 'upfront', robustness });
const environment = `Node ${process.version}, webgpu (Dawn)${robustness ? '' : ', robustness off'}`;
console.log(`Dawn (Node ${process.version})${icd ? `, no GPU found: SwiftShader via ${icd}` : ''}${flag('quick') ? ', quick mode' : ''}, adapter: ${adapterName(engine.gpu.adapter)}`);
if (flag('require-gpu') && engine.gpu.adapter.isSoftware) {
  console.error(`--require-gpu: the adapter is a software one (${adapterName(engine.gpu.adapter)}), not a GPU; nothing measured.`);
  engine.destroy();
  process.exit(2);
}
const t0 = performance.now();
for (const [i, suite] of suites.entries()) {
  const progress = createProgress(suites.length > 1 ? `${suite} (${i + 1}/${suites.length})` : suite);
  const params = readParams(arg, { runner: 'node', environment, log: progress.log, progress: progress.update });
  let result;
  try {
    result = await SUITE_TABLE[suite].run(engine, params);
  } finally {
    progress.done();
  }
  console.log(`\n${formatResult(result)}\n`);
  console.log(`wrote ${await saveResult(result, outPath(out, suite, suites.length > 1))}`);
}
if (suites.length > 1) console.log(`${suites.length} suites in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
engine.destroy();
// Dawn keeps the event loop alive after the device is gone.
process.exit(0);
