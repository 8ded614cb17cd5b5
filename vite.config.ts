// Vite configuration for serving the pages: the landing page (index.html), the demos, the bench
// page and the in-browser test page, all straight from the TypeScript sources.
// Not here: the library build (tsc, see tsconfig.build.json) or test settings (vitest.config.ts).

import { defineConfig } from 'vite';

export default defineConfig({
  root: '.',
  // Without discovery Vite never re-bundles and reloads a page mid-run, which would restart a
  // test or benchmark halfway. Most dependencies are ES modules that load as they are; the
  // benchmark's TensorFlow.js peer pulls in CommonJS helpers, so it is bundled up front.
  optimizeDeps: {
    noDiscovery: true,
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients.js',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-webgpu',
    ],
  },
  server: {
    // Pages need a secure context for navigator.gpu; localhost is one, a LAN address is not.
    host: 'localhost',
  },
  worker: {
    format: 'es',
  },
});
