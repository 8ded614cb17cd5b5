// Random numbers: uniform and normal fills and inverted dropout, all drawn from the
// counter-based Philox4x32-10 stream defined in shaders/random.ts. This file holds the exact
// TypeScript twin of that generator, which is both the CPU reference and the specification:
// element i of a (seed, offset) stream is word i % 4 of philox((i / 4, offset, 0, 0), (seed, 0)).
//
// A seed is a number or an i32 scalar tensor. Internally it is always a tensor input (a
// number becomes a constant), so there is one kernel per op and a compiled training step can
// take a fresh seed every step by feeding an `input('seed', [], 'i32')`. The offset selects an
// independent stream for the same seed, so several dropout layers can share one seed tensor.
//
// Not here: generator state. Nothing advances between calls; the same seed and offset always
// give the same numbers.

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, constant, numel, Tensor } from '../tensor.js';
import type { Shape, TensorSpec } from '../tensor.js';
import { dropoutShader, randomShader } from '../../shaders/random.js';
import { grid1d } from './grid.js';
import { f32 } from './types.js';
import type { HostTensor, KernelPlan, OpCase, OpDef } from './types.js';

// ---------------------------------------------------------------------------------------------
// Philox4x32-10 in exact u32 arithmetic (Math.imul and >>> 0), matching the WGSL bit for bit.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High word of the 64-bit product of two u32, from 16-bit halves as the shader computes it. */
function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox4x32-10 block: four u32 words from a 4-word counter and a 2-word key. */
export function philox4x32(ctr: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi32(M0, c0);
    const hi1 = mulhi32(M1, c2);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The first n words of the (seed, offset) stream: what the kernels see as `w[j]`. */
export function randomBits(seed: number, offset: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let b = 0; b * 4 < n; b++) {
    const w = philox4x32([b, offset, 0, 0], [seed, 0]);
    for (let j = 0; j < 4 && b * 4 + j < n; j++) out[b * 4 + j] = w[j];
  }
  return out;
}

/** The top 24 bits as a float in [0, 1), exactly as the shader's `unit_float`. */
const unitFloat = (w: number): number => (w >>> 8) * 2 ** -24;

// ---------------------------------------------------------------------------------------------
// Seeds and attribute checks.

/** A seed: an integer in [-2^31, 2^32) (taken as its u32 bits), or an i32 scalar tensor. */
export type Seed = number | Tensor;

function checkU32(op: string, what: string, v: number, lo = 0): void {
  if (!Number.isInteger(v) || v < lo || v >= 2 ** 32) {
    throw new ShapeError(`${op}: ${what} must be an integer in [${lo}, 2^32), got ${v}.`);
  }
}

/** A seed as the i32 scalar tensor every random kernel reads. */
export function seedTensor(op: string, seed: Seed): Tensor {
  if (seed instanceof Tensor) return seed;
  checkU32(op, 'a number seed', seed, -(2 ** 31));
  return constant([seed | 0], [], 'i32');
}

/** Shape rule for a seed input: one i32 value. */
export function checkSeedSpec(op: string, s: TensorSpec): void {
  if (s.dtype !== 'i32') {
    throw new DTypeError(`${op}: the seed tensor must be i32, got ${s.dtype}. Feed it as input(name, [], 'i32').`);
  }
  if (numel(s.shape) !== 1) {
    throw new ShapeError(`${op}: the seed tensor must hold one value, got shape ${fmtShape(s.shape)}. Use shape [].`);
  }
}

const seedOf = (t: HostTensor): number => t.data[0] >>> 0;

// ---------------------------------------------------------------------------------------------
// Fills.

export interface FillAttrs {
  shape: number[];
  /** (low, high) for uniform, (mean, std) for normal. */
  a: number;
  b: number;
  /** Stream selector for the same seed (counter word 1). */
  offset: number;
}

function fillShape(op: string, [seed]: TensorSpec[], attrs: FillAttrs): TensorSpec[] {
  checkSeedSpec(op, seed);
  checkU32(op, 'offset', attrs.offset);
  return [{ shape: attrs.shape, dtype: 'f32' }];
}

function fillKernel(entry: string, n: number, attrs: FillAttrs): KernelPlan {
  return {
    dispatches: [
      {
        shader: randomShader,
        entry,
        constants: { WG: 64 },
        reads: [{ in: 0 }],
        writes: [{ out: 0 }],
        params: [n, attrs.offset, f32(attrs.a), f32(attrs.b)],
        workgroups: grid1d(Math.ceil(n / 4), 64),
      },
    ],
  };
}

// Small ints are fine seeds, so the default generator suits the seed input.
const fillCases = (a: number, b: number): OpCase<FillAttrs>[] => [
  { inputs: [{ shape: [], dtype: 'i32' }], attrs: { shape: [1], a, b, offset: 0 } },
  { inputs: [{ shape: [], dtype: 'i32' }], attrs: { shape: [37], a, b, offset: 3 } },
  { inputs: [{ shape: [1], dtype: 'i32' }], attrs: { shape: [3, 129], a, b, offset: 0 } },
];

export const randomUniformDef: OpDef<FillAttrs> = {
  name: 'randomUniform',
  shape: (inputs, attrs) => fillShape('randomUniform', inputs, attrs),
  kernel: (_inputs, [out], attrs) => fillKernel('uniform_fill', numel(out.shape), attrs),
  cpu: ([seed], { shape, a, b, offset }) => {
    const w = randomBits(seedOf(seed), offset, numel(shape));
    const data = Float64Array.from(w, (v) => a + (b - a) * unitFloat(v));
    return [{ shape, dtype: 'f32', data }];
  },
  backward: 'none',
  cases: fillCases(-2, 3),
};

export const randomNormalDef: OpDef<FillAttrs> = {
  name: 'randomNormal',
  shape: (inputs, attrs) => fillShape('randomNormal', inputs, attrs),
  kernel: (_inputs, [out], attrs) => fillKernel('normal_fill', numel(out.shape), attrs),
  cpu: ([seed], { shape, a, b, offset }) => {
    const n = numel(shape);
    const w = randomBits(seedOf(seed), offset, Math.ceil(n / 4) * 4);
    const data = new Float64Array(n);
    for (let j = 0; j < n; j += 2) {
      const r = Math.sqrt(-2 * Math.log(unitFloat(w[j]) + 2 ** -24));
      const theta = Math.PI * (2 * unitFloat(w[j + 1]) - 1);
      data[j] = a + b * r * Math.cos(theta);
      if (j + 1 < n) data[j + 1] = a + b * r * Math.sin(theta);
    }
    return [{ shape, dtype: 'f32', data }];
  },
  backward: 'none',
  // GPU log, cos and sin are approximate (WGSL allows ~2^-11 absolute error for cos and sin).
  cases: fillCases(0.5, 2).map((c) => ({ ...c, tol: 2e-3 })),
};

/** Uniform floats in [low, high). Same seed and offset, same numbers, on any adapter. */
export function randomUniform(shape: Shape, seed: Seed, low = 0, high = 1, offset = 0): Tensor {
  const attrs = { shape: [...shape], a: low, b: high, offset };
  return apply(randomUniformDef, [seedTensor('randomUniform', seed)], attrs)[0];
}

/** Normal floats (Box-Muller) with the given mean and standard deviation. */
export function randomNormal(shape: Shape, seed: Seed, mean = 0, std = 1, offset = 0): Tensor {
  const attrs = { shape: [...shape], a: mean, b: std, offset };
  return apply(randomNormalDef, [seedTensor('randomNormal', seed)], attrs)[0];
}

// ---------------------------------------------------------------------------------------------
// Dropout.

export interface DropoutAttrs {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
  offset: number;
}

/** Keep threshold on the u32 word: P(word >= t) = 1 - p up to 2^-32. Integer, so CPU == GPU. */
export const keepThreshold = (p: number): number => Math.min(Math.floor(p * 2 ** 32), 2 ** 32 - 1);

export const dropoutDef: OpDef<DropoutAttrs> = {
  name: 'dropout',
  shape: ([x, seed], { p, offset }) => {
    if (x.dtype !== 'f32') throw new DTypeError(`dropout: x must be f32, got ${x.dtype}.`);
    checkSeedSpec('dropout', seed);
    checkU32('dropout', 'offset', offset);
    if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${p}.`);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  kernel: ([x], _outputs, { p, offset }) => {
    const n = numel(x.shape);
    return {
      dispatches: [
        {
          shader: dropoutShader,
          entry: 'dropout',
          constants: { WG: 64 },
          reads: [{ in: 0 }, { in: 1 }],
          writes: [{ out: 0 }],
          params: [n, offset, keepThreshold(p), f32(1 / (1 - p))],
          workgroups: grid1d(Math.ceil(n / 4), 64),
        },
      ],
    };
  },
  cpu: ([x, seed], { p, offset }) => {
    const w = randomBits(seedOf(seed), offset, x.data.length);
    const t = keepThreshold(p);
    const scale = 1 / (1 - p);
    const data = Float64Array.from(x.data, (v, i) => (w[i] >= t ? v * scale : 0));
    return [{ shape: x.shape, dtype: 'f32', data }];
  },
  // The mask is regenerated from (seed, offset) rather than stored: Philox costs a few integer
  // multiplies per four elements, while a stored mask would hold activation-sized memory from
  // forward to backward. dropout is linear in x for a fixed mask, so dx = dropout(dy).
  backward: ({ inputs: [, seed], attrs }, [dy]) => [dy && apply(dropoutDef, [dy, seed], attrs)[0], null],
  cases: [
    { inputs: [{ shape: [1], dtype: 'f32' }, { shape: [], dtype: 'i32' }], attrs: { p: 0.3, offset: 0 } },
    { inputs: [{ shape: [37], dtype: 'f32' }, { shape: [], dtype: 'i32' }], attrs: { p: 0.5, offset: 1 } },
    { inputs: [{ shape: [5, 129], dtype: 'f32' }, { shape: [], dtype: 'i32' }], attrs: { p: 0.1, offset: 0 } },
    { inputs: [{ shape: [2, 3, 7], dtype: 'f32' }, { shape: [1], dtype: 'i32' }], attrs: { p: 0.9, offset: 7 } },
  ],
};

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p),
 * so the expectation is unchanged and evaluation needs no rescaling. p = 0 returns x itself.
 * Give layers that share a seed different offsets, or they drop the same positions.
 */
export function dropout(x: Tensor, p: number, seed: Seed, offset = 0): Tensor {
  if (p === 0) return x;
  return apply(dropoutDef, [x, seedTensor('dropout', seed)], { p, offset })[0];
}

export const randomOps = {
  randomUniform: randomUniformDef,
  randomNormal: randomNormalDef,
  dropout: dropoutDef,
};
