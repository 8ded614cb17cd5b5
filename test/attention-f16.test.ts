// Fused attention on f16 q, k, v (mixed precision), for what the registry cannot express: the f16
// output against the f32 kernel's output rounded by cast(), in every kernel variant; the gradient
// with respect to f16 inputs against central finite differences of the float64 reference on the
// same values in f32 (the registry's check would difference the rounding of o, see the f16
// cases in src/ops/attention.ts); the bytes an f16 o saves; and the errors.
// Not here: the registry's GPU-vs-CPU checks of the f16 cases, forward and backward (ops.test.ts),
// or the f32 paths (attention.test.ts).

import { describe, expect, it } from 'vitest';
import { DTypeError, ShapeError } from '../src/errors.js';
import {
  ATTENTION_VARIANT_NAMES, attention, attentionBackward, attentionDef, attentionPacked, attentionWithLse, cast,
  type AttentionAttrs, type AttentionOptions,
} from '../src/ops/index.js';
import type { HostTensor } from '../src/ops/types.js';
import { gradients } from '../src/autograd.js';
import { roundToHalf } from '../src/half.js';
import { constant, numel, storageBytes, type Tensor } from '../src/tensor.js';
import { centralDifferences, seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(16);
/** Values f16 holds exactly, so f32 and f16 tensors of them are the same numbers. */
const halves = (n: number, scale = 1) => Float32Array.from({ length: n }, () => roundToHalf((rand() * 2 - 1) * scale));

/** Tensors of the same values: f16 and f32. */
const both = (data: Float32Array, shape: number[]) => ({ data, h: constant(data, shape, 'f16'), f: constant(data, shape) });

interface Problem {
  name: string;
  shape: number[]; // (B, H, T, hs)
  heads: number; // 0: separate q, k, v
  opts: AttentionOptions;
}

const PROBLEMS: Problem[] = [
  { name: 'separate, dropout p=0.3', shape: [2, 3, 7, 8], heads: 0, opts: { dropout: { p: 0.3, seed: 21, offset: 2 } } },
  { name: 'packed, causal, T 37', shape: [2, 2, 37, 16], heads: 2, opts: { causal: true } },
];

/** q, k, v, or one packed qkv, as f16 and as f32 tensors of the same values. */
function inputsOf({ shape: [B, H, T, hs], heads }: Problem) {
  if (!heads) return [0, 1, 2].map((i) => both(halves(B * H * T * hs, i < 2 ? 2 : 1), [B, H, T, hs]));
  return [both(halves(B * T * 3 * H * hs, 2), [B, T, 3 * H * hs])];
}

const attend = (p: Problem, ins: Tensor[]) => (p.heads ? attentionPacked(ins[0], p.heads, p.opts) : attention(ins[0], ins[1], ins[2], p.opts));

describe('f16 attention', () => {
  it.each(ATTENTION_VARIANT_NAMES)("writes o as cast(f32 attention's o, 'f16') does ('%s')", async (variant) => {
    const engine = await testEngine();
    engine.tuning.attention = variant;
    for (const p of PROBLEMS) {
      const ins = inputsOf(p);
      const o16 = attend(p, ins.map((x) => x.h));
      expect(o16.dtype).toBe('f16');
      const [a, b] = await engine.run([o16, cast(attend(p, ins.map((x) => x.f)), 'f16')]);
      // The same f32 sums rounded by the same half_bits: equal but where a compiler contracts
      // the two modules' sums differently and a value sits on a rounding boundary.
      let same = 0;
      for (let e = 0; e < b.length; e++) {
        same += a[e] === b[e] ? 1 : 0;
        if (!(Math.abs(a[e] - b[e]) <= 2 ** -10 * Math.abs(b[e]) + 2 ** -24)) expect(`${p.name} at ${e}: ${a[e]} vs ${b[e]}`).toBe('');
      }
      expect(same / b.length).toBeGreaterThan(0.99);
      expect(b.some((x) => Math.abs(x) > 0.1)).toBe(true);
    }
  });

  for (const variant of ['thread', 'workgroup'] as const) {
    it(`takes gradients for f16 inputs, f32, matching finite differences in f32 ('${variant}')`, async () => {
      const engine = await testEngine();
      engine.tuning.attention = variant;
      const problems: Problem[] = [
        { ...PROBLEMS[0], shape: [2, 1, 7, 8] },
        { name: 'packed, causal', shape: [1, 2, 9, 8], heads: 2, opts: { causal: true, dropout: { p: 0.2, seed: 5 } } },
      ];
      for (const p of problems) {
        const ins = inputsOf(p);
        const xs = ins.map((x) => x.h);
        for (const x of xs) x.requiresGrad = true;
        const o = attend(p, xs);
        const dO = halves(numel(o.shape));
        const grads = gradients([o], xs, [constant(dO, o.shape)]);
        expect(grads.map((g) => g.dtype)).toEqual(xs.map(() => 'f32'));
        const analytic = await engine.run(grads);
        const numeric = finiteDifferences(p, ins.map((x) => Float64Array.from(x.data)), dO);
        numeric.forEach((want, i) => {
          const scale = Math.max(1, ...Array.from(want, Math.abs));
          let worst = 0;
          for (let e = 0; e < want.length; e++) worst = Math.max(worst, Math.abs(analytic[i][e] - want[e]));
          // o is rounded to f16 before D = rowsum(dO * o): a relative 2^-11 in D.
          expect(`${p.name} input ${i}: ${worst / scale < 2e-3 ? 'ok' : worst}`).toBe(`${p.name} input ${i}: ok`);
        });
      }
    });
  }

  it('keeps o in half the bytes', async () => {
    // (B, H, T, hs) = (2, 2, 16, 16): o is 1024 values, 4 KiB in f32, a power of two as the pool sizes buffers.
    const p: Problem = { name: 'o', shape: [2, 2, 16, 16], heads: 0, opts: { causal: true } };
    const ins = inputsOf(p);
    const [o16, lse16] = attentionWithLse(ins[0].h, ins[1].h, ins[2].h, p.opts);
    const [o32, lse32] = attentionWithLse(ins[0].f, ins[1].f, ins[2].f, p.opts);
    expect([o16.dtype, lse16.dtype, o32.dtype, lse32.dtype]).toEqual(['f16', 'f32', 'f32', 'f32']);
    expect(storageBytes(o16)).toBe(2048);
    expect(storageBytes(o32)).toBe(4096);
    // What a compiled plan would hold: the same but for o's 2 KiB.
    const engine = await testEngine();
    const spec = (o: Tensor, lse: Tensor) => ({ outputs: { o, lse } });
    expect(engine.estimate(spec(o32, lse32)).intermediates - engine.estimate(spec(o16, lse16)).intermediates).toBe(2048);
  });

  it('refuses mixed dtypes, an odd head size and an f16 dO, with the way out', () => {
    const t = (dtype: 'f32' | 'f16', ...shape: number[]) => constant(new Float32Array(numel(shape)), shape, dtype);
    const [h, f] = [t('f16', 1, 2, 4, 8), t('f32', 1, 2, 4, 8)];
    expect(() => attention(h, f, h)).toThrow(DTypeError);
    expect(() => attention(h, f, h)).toThrow(/attention: q, k, v must share one dtype .*q f16 and k f32 \[1, 2, 4, 8\].*cast\(x, 'f16'\)/);
    expect(() => attention(h, h, h)).not.toThrow();
    const odd = t('f16', 1, 1, 4, 7);
    expect(() => attention(odd, odd, odd)).toThrow(ShapeError);
    expect(() => attention(odd, odd, odd)).toThrow(/f16 inputs need an even head size, got 7 in \[1, 1, 4, 7\].*cast\(x, 'f32'\)/);
    expect(() => attentionPacked(t('f16', 1, 4, 3 * 2 * 5), 2)).toThrow(/even head size, got 5/);
    // The backward: o has q's dtype; dO is a gradient, f32.
    const attrs: AttentionAttrs = { causal: false, scale: 1, p: 0, offset: 0, heads: 0 };
    const [o, lse] = attentionWithLse(h, h, h);
    const seed = constant([0], [], 'i32');
    expect(() => attentionBackward([h, h, h], o, lse, f, seed, attrs)).not.toThrow();
    expect(() => attentionBackward([h, h, h], o, lse, h, seed, attrs)).toThrow(/attentionBackward: dO must be f32/);
    expect(() => attentionBackward([h, h, h], f, lse, f, seed, attrs)).toThrow(/q, k, v, o must share one dtype .*o f32/);
    const packed = { ...attrs, heads: 2 };
    const [qkv, po] = [t('f16', 1, 4, 48), t('f16', 1, 4, 16)];
    expect(() => attentionBackward([qkv], po, t('f32', 1, 2, 4), t('f32', 1, 4, 16), seed, packed)).not.toThrow();
    expect(() => attentionBackward([qkv], t('f32', 1, 4, 16), t('f32', 1, 2, 4), t('f32', 1, 4, 16), seed, packed)).toThrow(
      /qkv, o must share one dtype/,
    );
  });
});

/** d<o, dO>/d input by central differences of the float64 reference, inputs typed f32 (o unrounded). */
function finiteDifferences(p: Problem, data: Float64Array[], dO: Float32Array): Float64Array[] {
  const [, , , hs] = p.shape;
  const drop = p.opts.dropout;
  const attrs: AttentionAttrs = { causal: !!p.opts.causal, scale: 1 / Math.sqrt(hs), p: drop?.p ?? 0, offset: drop?.offset ?? 0, heads: p.heads };
  const shape = p.heads ? [p.shape[0], p.shape[2], 3 * p.shape[1] * hs] : p.shape;
  const ins: HostTensor[] = data.map((d) => ({ shape, dtype: 'f32', data: d }));
  const seed: HostTensor = { shape: [], dtype: 'i32', data: Int32Array.of(typeof drop?.seed === 'number' ? drop.seed : 0) };
  const loss = () => {
    const o = attentionDef.cpu([...ins, seed], attrs)[0].data;
    let l = 0;
    for (let e = 0; e < o.length; e++) l += o[e] * dO[e];
    return l;
  };
  return data.map((x) => centralDifferences(x, loss));
}
