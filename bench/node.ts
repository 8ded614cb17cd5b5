// The Node benchmark runner: the matmul suite on Dawn (the `webgpu` package), on the machine's
// GPU when it has one, else on SwiftShader. Prints a table and writes JSON to bench/results/.
// Usage: npm run bench:node [-- --sizes=256,512]
// Not here: the suite (bench/suite.ts) or the browser runner (bench/browser.ts).

import { useSwiftShaderWithoutGpu } from '../test/support/vulkan.js';
import { createEngine } from '../src/engine.js';
import { formatSuite, runMatmulSuite, SIZES } from './suite.js';
import { saveResult } from './save.js';

const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
const sizes = sizesArg ? sizesArg.slice('--sizes='.length).split(',').map(Number) : SIZES;

// Before the first adapter request: the Vulkan loader reads VK_ICD_FILENAMES once.
const icd = useSwiftShaderWithoutGpu();
const engine = await createEngine({ powerPreference: 'high-performance' });
console.log(`Dawn (Node ${process.version})${icd ? `, no GPU found: SwiftShader via ${icd}` : ''}`);
const result = await runMatmulSuite(engine, {
  runner: 'node',
  environment: `Node ${process.version}, webgpu (Dawn)`,
  sizes,
  log: (line) => console.log(line),
});
console.log(`\n${formatSuite(result)}\n`);
console.log(`wrote ${await saveResult(result)}`);
engine.destroy();
// Dawn keeps the event loop alive after the device is gone.
process.exit(0);
