// One engine per test file: creating a device is slow on SwiftShader, and kernels compiled
// once are reused by every test in the file. It autotunes, before a plan that needs a class is
// compiled (tune: 'upfront', well under a second for the classes tests use), so that every run
// of a plan uses the same kernels; and in memory only: tests never read or write the user's
// tuning cache. Deferred tuning, the default, has tests of its own (test/deferred-tuning.test.ts).
// Memory is shared by the process, so another engine a test creates gets the same picks for
// the classes measured so far, and runs the same kernels (tests compare such runs bit for bit).

import { Engine, createEngine } from '../../src/engine.js';

let engine: Promise<Engine> | undefined;

export function testEngine(): Promise<Engine> {
  engine ??= createEngine({ tuningCache: false, tune: 'upfront' });
  return engine;
}

/**
 * An engine of its own on the test engine's device and options, for a test that counts the
 * bytes its pool holds over time: constants of earlier tests go back to the shared engine's pool
 * whenever the garbage collector takes them, which no test can foresee. It compiles its own kernels.
 */
export async function ownEngine(): Promise<Engine> {
  const { gpu, options } = await testEngine();
  return new Engine(gpu, options);
}
