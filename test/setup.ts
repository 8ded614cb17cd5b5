// Runs in every test process before its test file: without a GPU, Dawn gets SwiftShader; and
// matmul picks persist in a cache of the run's own, never in the user's ~/.cache.
// Not here: engines (each test file creates its own) or browser launching.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useSwiftShaderWithoutGpu } from './support/vulkan.js';

useSwiftShaderWithoutGpu();
process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'webgpu-train-cache-'));
