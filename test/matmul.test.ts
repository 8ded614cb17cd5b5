// Every matmul tiling against the float64 CPU reference on awkward shapes (1, primes, sizes that
// are not multiples of any tile), every transposition, batch broadcasting and each epilogue;
// the shape errors. The registry test (ops.test.ts) checks gradients, but only
// through the tiling this device picks, so the forward of each tiling is checked here.
// Also the register tiling built without subgroups (a second device with them disabled).
// Not here: gradient checks (the registry test covers the backward rule once for all tilings,
// since it is built from the same kernels), or the tuner and size classes (matmul-tune.test.ts).

import { afterAll, describe, expect, it } from 'vitest';
import { MATMUL_TILINGS, matmul, matmulDef, plainMatmulAttrs, type MatmulAttrs, type MatmulTiling } from '../src/ops/matmul.js';
import { createEngine, type Engine } from '../src/engine.js';
import { ShapeError } from '../src/errors.js';
import { apply, constant, input, parameter, type Shape, type Tensor } from '../src/tensor.js';
import { gradients } from '../src/autograd.js';
import type { HostTensor } from '../src/ops/types.js';
import { testEngine } from './support/engine.js';
import { seededRandom } from './support/opchecks.js';

const plain = plainMatmulAttrs;

interface Case {
  name: string;
  shapes: Shape[];
  attrs: MatmulAttrs;
}

const c = (name: string, shapes: Shape[], attrs: Partial<MatmulAttrs> = {}): Case => ({ name, shapes, attrs: { ...plain, ...attrs } });

const cases: Case[] = [
  c('1x1x1', [[1, 1], [1, 1]]),
  c('row times column', [[1, 37], [37, 1]]),
  c('column times row', [[37, 1], [1, 33]]),
  c('129x37x67', [[129, 37], [37, 67]]),
  c('K not a multiple of 4', [[33, 38], [38, 65]]),
  c('A.B^T', [[37, 29], [41, 29]], { transB: true }),
  c('A^T.B', [[29, 37], [29, 41]], { transA: true }),
  c('A^T.B^T', [[29, 37], [41, 29]], { transA: true, transB: true }),
  c('(B, T, C) x (C, N)', [[3, 37, 17], [17, 5]]),
  c('batch broadcast both ways', [[2, 1, 7, 5], [3, 5, 9]]),
  c('shared a, batched b^T', [[7, 5], [3, 9, 5]], { transB: true }),
  c('batched a^T, shared b', [[3, 5, 7], [5, 9]], { transA: true }),
  c('batched both, broadcast 1s', [[2, 3, 1, 6, 5], [2, 1, 4, 5, 7]]),
  c('bias relu residual', [[37, 13], [13, 19], [19], [37, 19]], { bias: true, act: 'relu', residual: true }),
  c('bias gelu, pre kept', [[2, 9, 13], [13, 19], [19]], { bias: true, act: 'gelu', savePre: true }),
  c('gelu residual, transB', [[9, 13], [19, 13], [9, 19]], { transB: true, act: 'gelu', residual: true }),
  c('relu gate', [[37, 13], [13, 19], [37, 19]], { gate: 'relu' }),
  c('gelu gate, transB, batched', [[2, 9, 13], [19, 13], [2, 9, 19]], { transB: true, gate: 'gelu' }),
  // Contiguous dims in fours, others not multiples of any block: the wide tiling's vec4 reads
  // (every other shape above runs it as 'shared'), with a second k step and ragged blocks.
  c('vec4 runs: 132x36x68', [[132, 36], [36, 68]]),
  c('vec4 runs: A^T.B^T', [[12, 132], [135, 12]], { transA: true, transB: true }),
  c('vec4 runs: A^T.B, batched a', [[2, 20, 8], [20, 140]], { transA: true }),
  c('vec4 runs: A.B^T, bias gelu, pre kept', [[2, 9, 16], [131, 16], [131]], { transB: true, bias: true, act: 'gelu', savePre: true }),
  c('vec4 runs: gate, rows fold', [[3, 50, 12], [12, 8], [3, 50, 8]], { gate: 'silu' }),
];

function draw(shape: Shape, rand: () => number): HostTensor {
  const n = shape.reduce((x, y) => x * y, 1);
  return { shape, dtype: 'f32', data: Float64Array.from({ length: n }, () => Math.fround(rand() * 2 - 1)) };
}

// The register tiling has a subgroup build (on devices with 'subgroups') and a plain one; 'quad'
// on a device without subgroups runs as the plain one.
let plainEngine: Promise<Engine> | undefined;
const variants: { name: string; engine: () => Promise<Engine>; tiling: MatmulTiling }[] = [
  ...MATMUL_TILINGS.map((tiling) => ({ name: tiling, engine: testEngine, tiling })),
  {
    name: 'quad without subgroups',
    engine: () => (plainEngine ??= createEngine({ disable: ['subgroups'], tune: false })),
    tiling: 'quad',
  },
];

afterAll(async () => (await plainEngine)?.destroy());

describe('matmul tilings match the CPU reference', () => {
  for (const v of variants) {
    for (const [i, tc] of cases.entries()) {
      it(`${v.name}: ${tc.name}`, async () => {
        const engine = await v.engine();
        engine.tuning.matmul = v.tiling;
        const rand = seededRandom(100 + i);
        const ins = tc.shapes.map((s) => draw(s, rand));
        const expected = matmulDef.cpu(ins, tc.attrs);
        const outs = apply(matmulDef, ins.map((h) => constant(h.data, h.shape)), tc.attrs);
        const got = await engine.run(outs);
        expect(got.length).toBe(expected.length);
        expected.forEach((e, j) => {
          expect(outs[j].shape).toEqual(e.shape);
          let worst = 0;
          for (let k = 0; k < e.data.length; k++) {
            worst = Math.max(worst, Math.abs(got[j][k] - e.data[k]) / (1 + Math.abs(e.data[k])));
          }
          expect(worst).toBeLessThan(1e-4);
        });
      });
    }
  }
});

describe('quad sharing', () => {
  it("gives the register tiling's sums exactly, so a switch between them changes no result", async () => {
    const engine = await testEngine();
    const rand = seededRandom(7);
    // Several 32x16 blocks per quad and a ragged edge on every side; a fused epilogue.
    const ins = [draw([150, 37], rand), draw([37, 70], rand), draw([70], rand)];
    const attrs: MatmulAttrs = { ...plainMatmulAttrs, bias: true, act: 'gelu' };
    const run = async (tiling: MatmulTiling) => {
      engine.tuning.matmul = tiling;
      return engine.read(apply(matmulDef, ins.map((h) => constant(h.data, h.shape)), attrs)[0]);
    };
    try {
      const [register, quad] = [await run('register'), await run('quad')];
      expect(quad.length).toBe(150 * 70);
      expect(Array.from(quad)).toEqual(Array.from(register));
    } finally {
      delete engine.tuning.matmul;
    }
  });
});

describe('matmul graph building', () => {
  it('keeps the pre-activation only when a gradient can flow', () => {
    const x = input('x', [4, 3]);
    const w = parameter('w', new Float32Array(6), [3, 2]);
    const frozen = constant(new Float32Array(6), [3, 2]);
    const trained = matmul(x, w, { activation: 'gelu' });
    expect(trained.source.kind === 'op' && trained.source.node.outputs.length).toBe(2);
    const inference = matmul(x, frozen, { activation: 'gelu' });
    expect(inference.source.kind === 'op' && inference.source.node.outputs.length).toBe(1);
  });

  it("fuses an activation's backward into the matmul that delivers its gradient", () => {
    // x -> gelu(x W1 + b1) -> (.) W2: dW1 needs dz1 = (dy W2^T) * gelu'(z1), one gated matmul.
    const x = input('x', [4, 3]);
    const w1 = parameter('w1', new Float32Array(15), [3, 5]);
    const b1 = parameter('b1', new Float32Array(5), [5]);
    const w2 = parameter('w2', new Float32Array(10), [5, 2]);
    const y = matmul(matmul(x, w1, { bias: b1, activation: 'gelu' }), w2);
    const [dw1] = gradients([y], [w1], [constant(new Float32Array(8), [4, 2])]);
    const ops: string[] = [];
    const seen = new Set<Tensor>();
    const walk = (t: Tensor) => {
      if (seen.has(t) || t.source.kind !== 'op') return;
      seen.add(t);
      const { def, attrs, inputs } = t.source.node;
      ops.push(def.name === 'matmul' ? `matmul gate=${(attrs as MatmulAttrs).gate}` : def.name);
      inputs.forEach(walk);
    };
    walk(dw1);
    expect(ops).toContain('matmul gate=gelu');
    expect(ops).not.toContain('geluGrad');
  });

  it('names the shapes when they do not fit', () => {
    const a = input('a', [4, 3]);
    expect(() => matmul(a, input('b', [4, 2]))).toThrow(ShapeError);
    expect(() => matmul(a, input('b', [4, 2]))).toThrow(/\[4, 3\].*\[4, 2\]/);
    expect(() => matmul(input('a3', [2, 4, 3]), input('b3', [3, 3, 2]))).toThrow(/batch dims/);
    expect(() => matmul(a, input('b', [3, 2]), { bias: input('bias', [3]) })).toThrow(/bias must have shape \[2\]/);
    expect(() => matmul(a, input('b', [3, 2]), { residual: input('r', [2]) })).toThrow(/residual/);
    expect(() => matmul(input('v', [3]), input('b', [3, 2]))).toThrow(/at least 2 dims/);
  });
});
