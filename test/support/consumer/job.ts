// The op both the page and its worker run through the installed package: x (4, 3) times
// w (3, 2) on navigator.gpu, with inputs the test can rebuild to multiply on the CPU. `offset`
// shifts x so the page and the worker give different answers, and each is checked as its own.
// Not here: talking to the page or the worker (main.ts, w.ts).

import { createEngine, input, matmul, parameter, type Engine, type Tensor } from 'webgpu-train';

export interface OpResult {
  adapter: string;
  y: number[];
}

export async function runOp(offset: number): Promise<OpResult> {
  const engine: Engine = await createEngine({ tune: false });
  const x: Tensor = input('x', [4, 3]);                                             // (B, C_in)
  const w = parameter('w', Float32Array.from({ length: 6 }, (_, i) => (i - 2) / 4), [3, 2]);
  const xData = Float32Array.from({ length: 12 }, (_, i) => i / 8 - 0.5 + offset);
  const y = await engine.read(matmul(x, w), { x: xData });                          // (B, C_out)
  return { adapter: engine.gpu.adapter.description, y: Array.from(y) };
}
