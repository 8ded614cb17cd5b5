// One engine per test file: creating a device is slow on SwiftShader, and kernels compiled
// once are reused by every test in the file.

import { createEngine, type Engine } from '../../src/engine.js';

let engine: Promise<Engine> | undefined;

export function testEngine(): Promise<Engine> {
  engine ??= createEngine();
  return engine;
}
