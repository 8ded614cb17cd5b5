// A user's Node script: README's example as it stands (the package imported by name, one
// matmul on WebGPU through Dawn), then a few steps of training, printed as one line,
// RESULT {json}, for test/package.test.ts to check.
// Not here: the checks themselves (the test multiplies on the CPU from what is printed), and no
// path into the checkout: both packages must resolve inside this project's node_modules.

import { createEngine, createOptimizer, input, matmul, mse, parameter, randomNormal } from 'webgpu-train';

// README's example.
const engine = await createEngine();
const x = input('x', [4, 2]);                         // (B, C_in)
const w = parameter('w', randomNormal([2, 3], 1));     // (C_in, C_out), seed 1
const y = matmul(x, w);                                // (B, C_out)
const data = Float32Array.from({ length: 8 }, (_, i) => i);
const product = await engine.read(y, { x: data });     // Float32Array(12)

// Fitting v (2, 1) from zero to targets a known vector makes: the loss must fall.
const v = parameter('v', new Float32Array(2), [2, 1]);
const t = input('t', [4, 1]);
const loss = mse(matmul(x, v), t);
const opt = await createOptimizer(engine, [v], { kind: 'sgd', lr: 1 });
const step = await engine.compile({ outputs: { loss }, optimizer: opt.minimize(loss) });
const xs = Float32Array.from({ length: 8 }, (_, i) => i / 8 - 0.5);
const ts = Float32Array.from({ length: 4 }, (_, b) => xs[2 * b] - 2 * xs[2 * b + 1]);
const losses = [];
for (let s = 0; s < 5; s++) losses.push((await step.run({ x: xs, t: ts }, ['loss'])).loss[0]);

console.log('RESULT ' + JSON.stringify({
  resolved: { engine: import.meta.resolve('webgpu-train'), dawn: import.meta.resolve('webgpu') },
  adapter: engine.gpu.adapter.description,
  x: Array.from(data),
  w: Array.from(await engine.readParameter(w)),
  y: Array.from(product),
  losses,
}));
