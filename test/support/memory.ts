// Counting GPU bytes in tests: a forced garbage collection (constant buffers belong to their
// tensors and go back to the pool when those are collected), and how many bytes may stay behind
// after a model is freed without that counting as a leak.
// Not here: the pool's accounting itself (src/gpu/buffers.ts).

import v8 from 'node:v8';
import vm from 'node:vm';

// Ten one-value graph constants (16 bytes each, such as attention's seed when it has no dropout)
// were seen to outlive a forced collection: 160 bytes against the megabytes a tiny model holds.
// Anything more is a leak.
export const STRAY_BYTES = 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collects garbage a few times, letting finalizers run in between. */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}
