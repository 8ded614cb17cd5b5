// Checks of fused attention that the registry cannot express: the fused op against the unfused
// composition of existing ops (matmul with transB, an additive causal mask, softmax, dropout,
// matmul) and that composition's autodiff, in both kernel layouts forced through the engine's
// tuning; both layouts against the float64 CPU reference on odd sizes; the dropout mask read
// off directly and shown to be the same in the forward and the backward; a seed fed per run;
// and the errors.
// Not here: the registry's GPU-vs-CPU and finite-difference checks (test/ops.test.ts runs them,
// including a dropout case, in the adapter's default layout).

import { describe, expect, it } from 'vitest';
import { EngineError, ShapeError } from '../src/errors.js';
import {
  add, attention, attentionBackward, attentionBackwardDef, attentionDef, attentionPacked, attentionWithLse, dropout,
  matmul, mulScalar, permute, randomBits, reshape, sliceAxis, softmax, type AttentionAttrs,
} from '../src/ops/index.js';
import type { HostTensor } from '../src/ops/types.js';
import { gradients } from '../src/autograd.js';
import { constant, input, numel, type Tensor } from '../src/tensor.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const rand = seededRandom(11);
const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/** |a - b| <= tol * (1 + |b|) everywhere; returns the first offender, or '' when all agree. */
function mismatch(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])))) return `at ${i}: ${a[i]} vs ${b[i]}`;
  }
  return '';
}

interface Setup {
  shape: [number, number, number, number]; // (B, H, T, hs)
  causal: boolean;
  p?: number;
  seed?: number;
  offset?: number;
}

/** q, k, v (wider spread for q and k so the weights are peaked) and a random dO. */
function draw(shape: number[]) {
  const n = numel(shape);
  return { q: floats(n, 2), k: floats(n, 2), v: floats(n), dO: floats(n) };
}

/** The composition of existing ops that fused attention replaces. */
function unfused(q: Tensor, k: Tensor, v: Tensor, s: Setup): Tensor {
  const [, , T, hs] = s.shape;
  let scores = mulScalar(matmul(q, k, { transB: true }), 1 / Math.sqrt(hs)); // (B, H, T, T)
  if (s.causal) {
    const mask = Float32Array.from({ length: T * T }, (_, e) => (e % T > Math.floor(e / T) ? -1e9 : 0));
    scores = add(scores, constant(mask, [T, T]));
  }
  const w = dropout(softmax(scores), s.p ?? 0, s.seed ?? 0, s.offset ?? 0);
  return matmul(w, v); // (B, H, T, hs)
}

/** Output and (dq, dk, dv) for the seed dO, fused or unfused, on the GPU. */
async function run(s: Setup, fused: boolean, data: ReturnType<typeof draw>): Promise<Float32Array[]> {
  const engine = await testEngine();
  const [q, k, v] = [data.q, data.k, data.v].map((d) => constant(d, s.shape));
  for (const t of [q, k, v]) t.requiresGrad = true;
  const o = fused
    ? attention(q, k, v, { causal: s.causal, dropout: s.p ? { p: s.p, seed: s.seed ?? 0, offset: s.offset } : undefined })
    : unfused(q, k, v, s);
  const grads = gradients([o], [q, k, v], [constant(data.dO, s.shape)]);
  return (await engine.run([o, ...grads])) as Float32Array[];
}

const SETUPS: Setup[] = [
  { shape: [1, 1, 1, 16], causal: false },
  { shape: [1, 2, 7, 16], causal: true },
  { shape: [2, 1, 37, 32], causal: false },
  { shape: [1, 1, 37, 64], causal: true },
  // Several query blocks and key tiles in the workgroup layout (32 rows per block).
  { shape: [1, 1, 70, 16], causal: true },
  { shape: [2, 2, 9, 32], causal: true, p: 0.25, seed: 99, offset: 3 },
  { shape: [1, 1, 33, 16], causal: false, p: 0.5, seed: -5 },
];

const label = (s: Setup) => `[${s.shape.join(',')}]${s.causal ? ' causal' : ''}${s.p ? ` dropout ${s.p}` : ''}`;

for (const layout of ['thread', 'workgroup'] as const) {
  describe(`fused attention, '${layout}' layout`, () => {
    it.each(SETUPS.map((s) => [label(s), s] as const))('matches the unfused composition and its autodiff: %s', async (_, s) => {
      const engine = await testEngine();
      engine.tuning.attention = layout;
      const data = draw(s.shape);
      const fused = await run(s, true, data);
      const plain = await run(s, false, data);
      ['o', 'dq', 'dk', 'dv'].forEach((name, i) => expect(`${name} ${mismatch(fused[i], plain[i], 2e-4)}`).toBe(`${name} `));
    });

    it('matches the float64 CPU reference, forward (o, lse) and backward', async () => {
      const engine = await testEngine();
      engine.tuning.attention = layout;
      for (const s of SETUPS) {
        const attrs: AttentionAttrs = { causal: s.causal, scale: 1 / Math.sqrt(s.shape[3]), p: s.p ?? 0, offset: s.offset ?? 0, heads: 0 };
        const data = draw(s.shape);
        const host = (d: Float32Array, shape = s.shape as readonly number[]): HostTensor => ({ shape, dtype: 'f32', data: Float64Array.from(d) });
        const seedHost: HostTensor = { shape: [], dtype: 'i32', data: Int32Array.of(s.seed ?? 0) };
        const [o, lse] = attentionDef.cpu([host(data.q), host(data.k), host(data.v), seedHost], attrs);
        // dq, dk, dv stacked (3, B, H, T, hs).
        const [stacked] = attentionBackwardDef.cpu(
          [host(data.q), host(data.k), host(data.v), o, lse, host(data.dO), seedHost],
          attrs,
        );
        const n = numel(s.shape);
        const want = [0, 1, 2].map((i) => ({ data: stacked.data.subarray(i * n, (i + 1) * n) }));
        const [q, k, v, dO] = [data.q, data.k, data.v, data.dO].map((d) => constant(d, s.shape));
        const seed = constant([s.seed ?? 0], [], 'i32');
        const [go, glse] = attentionWithLse(q, k, v, { causal: s.causal, dropout: s.p ? { p: s.p, seed, offset: s.offset } : undefined });
        const got = await engine.run([go, glse, ...attentionBackward([q, k, v], go, glse, dO, seed, attrs)]);
        [o, lse, ...want].forEach((w, i) => expect(`${label(s)} ${i}: ${mismatch(got[i], w.data, 1e-4)}`).toBe(`${label(s)} ${i}: `));
      }
    });
  });
}

describe('attention on a packed qkv projection', () => {
  for (const layout of ['thread', 'workgroup'] as const) {
    it(`matches splitting and permuting the heads out, forward and backward ('${layout}')`, async () => {
      const engine = await testEngine();
      engine.tuning.attention = layout;
      const [B, T, H, hs] = [2, 37, 3, 16];
      const C = H * hs;
      const qkv = constant(floats(B * T * 3 * C, 2), [B, T, 3 * C]);
      qkv.requiresGrad = true;
      const dO = constant(floats(B * T * C), [B, T, C]);
      const opts = { causal: true, dropout: { p: 0.2, seed: 7, offset: 4 } };
      const packed = attentionPacked(qkv, H, opts); // (B, T, C)
      const heads = permute(reshape(qkv, [B, T, 3, H, hs]), [2, 0, 3, 1, 4]); // (3, B, H, T, hs)
      const [q, k, v] = [0, 1, 2].map((i) => reshape(sliceAxis(heads, 0, i, i + 1), [B, H, T, hs]));
      const split = reshape(permute(attention(q, k, v, opts), [0, 2, 1, 3]), [B, T, C]);
      const [dPacked] = gradients([packed], [qkv], [dO]);
      const [dSplit] = gradients([split], [qkv], [dO]);
      const [a, b, da, db] = await engine.run([packed, split, dPacked, dSplit]);
      expect(packed.shape).toEqual([B, T, C]);
      expect(dPacked.shape).toEqual([B, T, 3 * C]);
      expect(`o ${mismatch(a, b, 1e-5)}`).toBe('o ');
      expect(`dqkv ${mismatch(da, db, 1e-5)}`).toBe('dqkv ');
      // Not vacuous: the output and every third of the gradient carry signal.
      expect(a.some((x) => Math.abs(x) > 0.1)).toBe(true);
      for (let part = 0; part < 3; part++) {
        expect(da.some((x, e) => Math.floor((e % (3 * C)) / C) === part && Math.abs(x) > 1e-3)).toBe(true);
      }
    });
  }
});

describe('dropout on the attention weights', () => {
  // With v = I (T = hs), o = (P * Z) is the dropped weight matrix itself, and with dO = I,
  // dv = (P * Z)^T: the forward's and the backward's masks can be read off and compared.
  for (const layout of ['thread', 'workgroup'] as const) {
    it(`drops the weights dropout() would drop, the same in forward and backward ('${layout}')`, async () => {
      const engine = await testEngine();
      engine.tuning.attention = layout;
      const [B, H, T] = [1, 2, 16];
      const shape = [B, H, T, T];
      const eye = Float32Array.from({ length: B * H * T * T }, (_, e) => (e % T === Math.floor(e / T) % T ? 1 : 0));
      const [q, k] = [floats(numel(shape)), floats(numel(shape))].map((d) => constant(d, shape));
      const v = constant(eye, shape);
      v.requiresGrad = true;
      const p = 0.4;
      const o = attention(q, k, v, { dropout: { p, seed: 2024, offset: 9 } });
      const [dv] = gradients([o], [v], [constant(eye, shape)]);
      const [fo, fdv] = await engine.run([o, dv]);
      const threshold = Math.floor(p * 2 ** 32);
      const bits = randomBits(2024, 9, B * H * T * T);
      let dropped = 0;
      for (let g = 0; g < B * H; g++) {
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) {
            const e = (g * T + i) * T + j;
            const keep = bits[e] >= threshold;
            dropped += keep ? 0 : 1;
            const back = fdv[(g * T + j) * T + i];
            expect(fo[e] !== 0).toBe(keep);
            expect(back !== 0).toBe(keep);
            expect(Math.abs(back - fo[e])).toBeLessThan(1e-5);
          }
        }
      }
      // About p of 512 weights: the mask is not trivially all-kept or all-dropped.
      expect(dropped).toBeGreaterThan(150);
      expect(dropped).toBeLessThan(260);
    });
  }

  it('takes a seed fed per run: same seed, same output; another seed, another mask', async () => {
    const engine = await testEngine();
    const shape = [1, 1, 8, 16];
    const [q, k, v] = [0, 1, 2].map(() => constant(floats(numel(shape)), shape));
    const seed = input('seed', [], 'i32');
    const plan = await engine.compile({ outputs: { o: attention(q, k, v, { dropout: { p: 0.5, seed } }) } });
    try {
      const a = (await plan.run({ seed: 1 })).o;
      const b = (await plan.run({ seed: 1 })).o;
      const c = (await plan.run({ seed: 2 })).o;
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(Array.from(c)).not.toEqual(Array.from(a));
    } finally {
      plan.dispose();
    }
  });
});

describe('attention errors', () => {
  const f = (...shape: number[]) => constant(new Float32Array(numel(shape)), shape);

  it('names the op and the shapes', () => {
    expect(() => attention(f(1, 2, 8, 16), f(1, 2, 9, 16), f(1, 2, 8, 16))).toThrow(/attention: k \[1, 2, 9, 16\].*q \[1, 2, 8, 16\]/);
    expect(() => attention(f(2, 8, 16), f(2, 8, 16), f(2, 8, 16))).toThrow(ShapeError);
    expect(() => attention(f(1, 1, 4, 96), f(1, 1, 4, 96), f(1, 1, 4, 96))).toThrow(/head size 96 .* exceeds 64/);
    expect(() => attention(f(1, 1, 4, 16), f(1, 1, 4, 16), f(1, 1, 4, 16), { dropout: { p: 1, seed: 0 } })).toThrow(/p must be in \[0, 1\)/);
    const big = input('q', [2, 1, 46341, 1]); // 2 * 46341^2 weights: more than 2^32 mask indices
    expect(() => attention(big, big, big, { dropout: { p: 0.1, seed: 0 } })).toThrow(/exceeds 2\^32 mask indices/);
    expect(() => attention(big, big, big)).not.toThrow();
    expect(() => attentionPacked(f(2, 8, 50), 4)).toThrow(/qkv must be \(B, T, 3 C\) with C a multiple of 4 heads, got \[2, 8, 50\]/);
    expect(() => attentionPacked(f(2, 8, 3 * 4 * 80), 4)).toThrow(/head size 80 .* exceeds 64/);
    const ints = constant(new Int32Array(64), [1, 1, 4, 16], 'i32');
    expect(() => attention(ints, f(1, 1, 4, 16), f(1, 1, 4, 16))).toThrow(/attention: q must be f32 or f16, got i32/);
  });

  it('is not twice differentiable, and says so', () => {
    const [q, k, v] = [0, 1, 2].map(() => f(1, 1, 4, 16));
    for (const t of [q, k, v]) t.requiresGrad = true;
    const o = attention(q, k, v);
    const [dq] = gradients([o], [q], [f(1, 1, 4, 16)]);
    expect(() => gradients([dq], [q], [f(1, 1, 4, 16)])).toThrow(EngineError);
    expect(() => gradients([dq], [q], [f(1, 1, 4, 16)])).toThrow(/not twice differentiable/);
  });
});
