// What a user's TypeScript learns from the package's declarations, checked by `tsc --noEmit` in
// the consumer project. Each `@ts-expect-error` is itself an error when the line below it
// type-checks, so this file fails both when the declarations are missing (everything `any`) and
// when they say less than they should.
// Not here: running anything; test/package.test.ts adds a file that must fail, to show that
// tsc reads these declarations at all.

import { createEngine, input, matmul, parameter, ShapeError, type Engine, type HostArray, type Tensor } from 'webgpu-train';

const x: Tensor = input('x', [4, 3]);                      // (B, C_in)
const w: Tensor = parameter('w', new Float32Array(6), [3, 2]);
export const shape: readonly number[] = matmul(x, w).shape; // (B, C_out)

// @ts-expect-error matmul multiplies tensors, not a tensor and a number.
matmul(x, 2);
// @ts-expect-error an input's shape is a list of sizes.
input('x', '4x3');
// @ts-expect-error createEngine takes options, not a device name.
void createEngine('swiftshader');

export async function product(): Promise<HostArray> {
  const engine: Engine = await createEngine();
  return engine.read(matmul(x, w), { x: new Float32Array(12) });
}

export const isShapeError = (e: unknown): boolean => e instanceof ShapeError;
