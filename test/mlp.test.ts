// End to end: a small MLP trained by the compiled executor (forward, backward and SGD update
// replayed as one plan per step) on generated interleaved spirals reaches 95% accuracy.

import { describe, expect, it } from 'vitest';
import {
  add, argmax, crossEntropyMean, grad, input, matmul, mulScalar, parameter, randomNormal, sgd,
  spirals, tanh, full,
} from '../src/index.js';
import { testEngine } from './support/engine.js';

describe('training an MLP with the compiled executor', () => {
  it('classifies two spirals with at least 95% accuracy within 1500 steps', async () => {
    const engine = await testEngine();
    const data = spirals(100, 2, 0.02, 3); // 200 points, 1.5 turns per arm
    const N = 200, H = 48, V = 2;
    const x = input('x', [N, 2]);
    const y = input('y', [N], 'i32');
    const lr = input('lr', []);
    // He-style normal init on the GPU from a fixed seed.
    const layer = (name: string, i: number, o: number, seed: number) => {
      const w = parameter(`${name}.w`, mulScalar(randomNormal([i, o], seed), Math.sqrt(2 / i)));
      const b = parameter(`${name}.b`, full([o], 0));
      return { w, b, apply: (h: typeof x) => add(matmul(h, w), b) };
    };
    const l1 = layer('l1', 2, H, 1), l2 = layer('l2', H, H, 2), l3 = layer('l3', H, V, 3);
    const logits = l3.apply(tanh(l2.apply(tanh(l1.apply(x)))));
    const loss = crossEntropyMean(logits, y);
    const params = [l1.w, l1.b, l2.w, l2.b, l3.w, l3.b];
    const step = await engine.compile({ outputs: { loss }, updates: sgd(params, grad(loss, params), lr) });
    const evaluate = await engine.compile({ outputs: { pred: argmax(logits, -1) } });

    const feeds = { x: data.x, y: data.y, lr: 0.5 };
    const firstLoss = (await step.run(feeds)).loss[0];
    let accuracy = 0;
    let steps = 1;
    for (; steps <= 1500; steps++) {
      const read = steps % 100 === 0;
      const r = step.run(feeds, read ? ['loss'] : []);
      if (!read) continue;
      await r;
      const pred = (await evaluate.run({ x: data.x })).pred;
      accuracy = pred.filter((p, i) => p === data.y[i]).length / N;
      if (accuracy >= 0.95) break;
    }
    const lastLoss = (await step.run({ ...feeds, lr: 0 })).loss[0];
    expect(lastLoss).toBeLessThan(firstLoss);
    console.log(`spirals: accuracy ${accuracy} after ${steps} steps, loss ${firstLoss} -> ${lastLoss}`);
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    step.dispose();
    evaluate.dispose();
  });
});
