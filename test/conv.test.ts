// Checks of the convolution ops that the registry's small cases cannot express, in both
// lowerings (the direct kernels, im2col into the matmul): the registry's cases, layers large
// enough to span several register blocks in every dimension and several weight-gradient chunks,
// a 1x1 convolution against the matmul it is, bit-identical weight gradients across runs, and
// the errors that name the op, the shapes and the way out.
// Not here: per-op GPU-vs-CPU and finite-difference checks on small cases (test/ops.test.ts).

import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/errors.js';
import {
  conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardInputDef, conv2dBackwardWeightDef,
  conv2dDef, convTranspose2d, convTranspose2dDef, matmul, reshape,
} from '../src/ops/index.js';
import { CONV_LOWERINGS, convOps, type ConvLowering } from '../src/ops/conv.js';
import type { Engine } from '../src/engine.js';
import type { HostTensor, OpDef } from '../src/ops/types.js';
import { apply, constant, type Tensor } from '../src/tensor.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(11);

function host(...shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, dtype: 'f32', data: Float64Array.from({ length: n }, () => Math.fround(rand() * 2 - 1)) };
}

const toTensor = (h: HostTensor): Tensor => constant(h.data, h.shape);

/** Runs `body` on the test engine with every conv taking `lowering`. */
async function lowered<T>(lowering: ConvLowering, body: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await testEngine();
  engine.tuning.conv = lowering;
  try {
    return await body(engine);
  } finally {
    delete engine.tuning.conv;
  }
}

async function expectMatchesCpu<A extends object>(lowering: ConvLowering, def: OpDef<A>, ins: HostTensor[], attrs: A, run: (ts: Tensor[]) => Tensor) {
  const [want] = def.cpu(ins, attrs);
  const out = run(ins.map(toTensor));
  expect(out.shape).toEqual(want.shape);
  const [got] = await lowered(lowering, (engine) => engine.run([out]));
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want.data[i]) / (1 + Math.abs(want.data[i])));
  expect(worst).toBeLessThan(1e-4);
}

describe.each(CONV_LOWERINGS)('conv layers spanning several blocks, lowered %s', (lowering) => {
  // Stride 2: 3 x 6 x 5 = 90 output pixels and 19 channels, tails in both block dimensions;
  // stride 1 (3 x 11 x 9 = 297 pixels): the wide forward blocks, and the input gradient as a
  // forward conv with the flipped kernel.
  for (const geo of [{ stride: 2, padding: 1 }, { stride: 1, padding: 1 }]) {
    const [Ho, Wo] = geo.stride === 2 ? [6, 5] : [11, 9];
    it(`conv2d, stride ${geo.stride}`, async () => {
      await expectMatchesCpu(lowering, conv2dDef, [host(3, 13, 11, 9), host(19, 13, 3, 3)], geo, ([x, w]) => conv2d(x, w, geo));
    });
    it(`conv2dBackwardInput, stride ${geo.stride}`, async () => {
      const at = { ...geo, H: 11, W: 9 };
      await expectMatchesCpu(lowering, conv2dBackwardInputDef, [host(3, 19, Ho, Wo), host(19, 13, 3, 3)], at, ([dy, w]) => conv2dBackwardInput(dy, w, at));
    });
  }
  // 2 x 7 x 9 = 126 pixels and 37 output channels: on an adapter whose quads are in order, the
  // forward and the input gradient (20 channels, as a forward conv) both in conv_fwd_quad's
  // 16 x 32 blocks, a pixel tail and a channel tail past one block.
  it('conv2d and its input gradient past one quad block of channels', async () => {
    const geo = { stride: 1, padding: 1 };
    await expectMatchesCpu(lowering, conv2dDef, [host(2, 20, 7, 9), host(37, 20, 3, 3)], geo, ([x, w]) => conv2d(x, w, geo));
    const at = { ...geo, H: 7, W: 9 };
    await expectMatchesCpu(lowering, conv2dBackwardInputDef, [host(2, 37, 7, 9), host(37, 20, 3, 3)], at, ([dy, w]) => conv2dBackwardInput(dy, w, at));
  });
  // 61 input channels, four 16-channel blocks with a tail (conv_bwd_weight_quad where quads are
  // in order), 19 output channels, stride 1 and 2.
  it('conv2dBackwardWeight over four blocks of input channels', async () => {
    for (const [stride, Ho, Wo] of [[1, 9, 7], [2, 5, 4]]) {
      const at = { stride, padding: 1, kh: 3, kw: 3 };
      await expectMatchesCpu(lowering, conv2dBackwardWeightDef, [host(2, 61, 9, 7), host(2, 19, Ho, Wo)], at, ([x, dy]) => conv2dBackwardWeight(x, dy, at));
    }
  });
  // Stride 1 by rows of taps: a 3 x 6 kernel (two groups of three in a row) with padding 2, 13
  // input channels (conv_bwd_weight_taps) over several chunks; and 32 (its quad form) with
  // padding 0, where the edge taps meet fewer rows and columns.
  it('conv2dBackwardWeight by rows of three taps', async () => {
    const wide = { stride: 1, padding: 2, kh: 3, kw: 6 };
    await expectMatchesCpu(lowering, conv2dBackwardWeightDef, [host(5, 13, 7, 9), host(5, 21, 9, 8)], wide, ([x, dy]) => conv2dBackwardWeight(x, dy, wide));
    const valid = { stride: 1, padding: 0, kh: 3, kw: 3 };
    await expectMatchesCpu(lowering, conv2dBackwardWeightDef, [host(2, 32, 6, 7), host(2, 17, 4, 5)], valid, ([x, dy]) => conv2dBackwardWeight(x, dy, valid));
  });
  it('conv2dBackwardWeight, over several chunks of rows', async () => {
    const at = { stride: 2, padding: 1, kh: 3, kw: 3 };
    await expectMatchesCpu(lowering, conv2dBackwardWeightDef, [host(9, 13, 11, 9), host(9, 19, 6, 5)], at, ([x, dy]) => conv2dBackwardWeight(x, dy, at));
  });
  it('convTranspose2d as in a DCGAN generator (kernel 4, stride 2, padding 1)', async () => {
    const at = { stride: 2, padding: 1, outputPadding: 0 };
    await expectMatchesCpu(lowering, convTranspose2dDef, [host(2, 17, 8, 8), host(17, 11, 4, 4)], at, ([x, w]) => convTranspose2d(x, w, at));
  });
  // The registry's awkward cases (test/ops.test.ts runs them on the default lowering, with finite differences).
  for (const def of Object.values(convOps) as OpDef<object>[]) {
    it(`${def.name}: every registry case`, async () => {
      for (const c of def.cases!) {
        const ins = c.inputs.map((t) => host(...t.shape));
        await expectMatchesCpu(lowering, def, ins, c.attrs, (ts) => apply(def, ts, c.attrs)[0]);
      }
    });
  }
});

describe('conv2d', () => {
  it("takes the quad kernels where the adapter's quads are in order and the channels fit their blocks", async () => {
    const { env, gpu } = await testEngine();
    const entries = (quadsInOrder: boolean, O: number, C = 8) => {
      const ins = [{ shape: [2, C, 9, 9], dtype: 'f32' as const }, { shape: [O, C, 3, 3], dtype: 'f32' as const }];
      const attrs = { stride: 1, padding: 1 };
      const plan = conv2dDef.kernel(ins, conv2dDef.shape(ins, attrs), attrs, { ...env, quadsInOrder, tuning: { conv: 'direct' } });
      return 'dispatches' in plan ? plan.dispatches.map((d) => d.entry) : [];
    };
    expect(entries(true, 17)).toEqual(['conv_fwd_quad']);
    expect(entries(false, 17)).toEqual(['conv_fwd_wide']);
    expect(entries(true, 16)).toEqual(['conv_fwd_wide']);
    expect(entries(true, 17, 3)).toEqual(['conv_fwd']);
    const weightEntries = (quadsInOrder: boolean, C: number, stride = 1, k = 3) => {
      const Ho = Math.floor((9 + 2 - k) / stride) + 1;
      const ins = [{ shape: [2, C, 9, 9], dtype: 'f32' as const }, { shape: [2, 19, Ho, Ho], dtype: 'f32' as const }];
      const attrs = { kh: k, kw: k, stride, padding: 1 };
      const plan = conv2dBackwardWeightDef.kernel(ins, conv2dBackwardWeightDef.shape(ins, attrs), attrs, { ...env, quadsInOrder, tuning: { conv: 'direct' } });
      return 'dispatches' in plan ? plan.dispatches[0].entry : '';
    };
    // Stride 1, rows of three taps: by rows of taps, in quads where the 8-channel blocks come in fours.
    expect(weightEntries(true, 61)).toBe('conv_bwd_weight_taps_quad');
    expect(weightEntries(true, 96)).toBe('conv_bwd_weight_taps_quad');
    expect(weightEntries(true, 41)).toBe('conv_bwd_weight_taps');
    expect(weightEntries(false, 64)).toBe('conv_bwd_weight_taps');
    // Strided or other kernels: tap by tap in 16 x 16 blocks, in quads where the 16-channel blocks come in fours.
    expect(weightEntries(true, 64, 2)).toBe('conv_bwd_weight_quad');
    expect(weightEntries(true, 96, 2)).toBe('conv_bwd_weight_wide');
    expect(weightEntries(true, 64, 1, 1)).toBe('conv_bwd_weight_quad');
    expect(weightEntries(false, 64, 2)).toBe('conv_bwd_weight_wide');
    // SwiftShader runs a subgroup quad as one SIMD group of four consecutive invocations, which
    // the probe must find (every conv test here then runs the quad kernel where it fits).
    if (gpu.adapter.architecture === 'swiftshader' && gpu.features.has('subgroups')) expect(gpu.quadsInOrder).toBe(true);
  });

  it('with a 1x1 kernel is a matmul over channels', async () => {
    const engine = await testEngine();
    const [N, C, O, H, W] = [3, 20, 17, 5, 7];
    const x = toTensor(host(N, C, H, W));
    const w = toTensor(host(O, C, 1, 1));
    const viaMatmul = reshape(matmul(reshape(w, [O, C]), reshape(x, [N, C, H * W])), [N, O, H, W]);
    const [a, b] = await engine.run([conv2d(x, w), viaMatmul]);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
  });

  it('gives bit-identical weight gradients on every run (no float atomics)', async () => {
    const engine = await testEngine();
    const x = toTensor(host(8, 5, 9, 9));
    const dy = toTensor(host(8, 6, 9, 9));
    const dw = conv2dBackwardWeight(x, dy, { kh: 3, kw: 3, stride: 1, padding: 1 });
    const [first] = await engine.run([dw]);
    const [second] = await engine.run([dw]);
    expect(Array.from(second)).toEqual(Array.from(first));
  });

  it('names the op, the shapes and the way out when shapes do not fit', () => {
    const t = (...shape: number[]) => constant(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    expect(() => conv2d(t(2, 3, 8, 8), t(5, 4, 3, 3))).toThrow(ShapeError);
    expect(() => conv2d(t(2, 3, 8, 8), t(5, 4, 3, 3))).toThrow(/conv2d: x \[2, ?3, ?8, ?8\] has 3 channels but w \[5, ?4, ?3, ?3\] expects 4/);
    expect(() => conv2d(t(3, 8, 8), t(5, 3, 3, 3))).toThrow(/conv2d: x must be 4-D \(N, C, H, W\).*Reshape/);
    expect(() => conv2d(t(1, 3, 2, 2), t(5, 3, 3, 3))).toThrow(/conv2d: a 3x3 kernel does not fit x .* padding 0/);
    expect(() => conv2d(t(1, 3, 8, 8), t(5, 3, 3, 3), { stride: 0 })).toThrow(/conv2d: stride must be an integer >= 1, got 0/);
    expect(() => conv2dBackwardInput(t(1, 5, 4, 4), t(5, 3, 3, 3), { H: 9, W: 9, stride: 1, padding: 0 })).toThrow(
      /conv2dBackwardInput: dy \[1, ?5, ?4, ?4\] must be \[1, ?5, ?7, ?7\]/,
    );
    expect(() => convTranspose2d(t(1, 3, 4, 4), t(3, 2, 4, 4), { stride: 2, padding: 1, outputPadding: 2 })).toThrow(
      /convTranspose2d: outputPadding 2 must be below stride 2/,
    );
    expect(() => convTranspose2d(t(1, 3, 4, 4), t(4, 2, 4, 4))).toThrow(/convTranspose2d: x \[1, ?3, ?4, ?4\] has 3 channels but w/);
  });
});
