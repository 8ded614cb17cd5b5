// Vitest configuration: every test file under test/, run in Node (WebGPU through Dawn) and, for
// test/browser.test.ts, in headless Chromium driven from Node.
// Not here: which Vulkan driver Dawn uses (test/setup.ts) or how the browser is found
// (test/support/browser.ts).

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // Each file gets its own process and, inside it, one engine: Dawn's native state and the
    // GPU device are not shared between files.
    pool: 'forks',
    // Without a GPU every kernel runs on SwiftShader, a CPU emulation tens of times slower than
    // a GPU; two files at a time keep a small machine responsive.
    maxWorkers: 2,
    testTimeout: 600_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
