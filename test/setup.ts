// Runs in every test process before its test file: without a GPU, Dawn gets SwiftShader.
// Not here: engines (each test file creates its own) or browser launching.

import { useSwiftShaderWithoutGpu } from './support/vulkan.js';

useSwiftShaderWithoutGpu();
