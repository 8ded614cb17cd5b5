// Binary elementwise ops with numpy broadcasting (add, sub, mul, div, pow, maximum, minimum),
// compares that produce f32 0/1 masks, where(cond, a, b), and the broadcast op that
// materialises a tensor repeated along new or size-1 dims. The broadcasting rules and the
// uniform layout of strided launches live here and are shared by reduce.ts.
// Gradients of broadcast operands are summed back to the operand's shape with sumToShape.
// Not here: unary math and scalar ops (unary.ts), reductions (reduce.ts), WGSL (shaders/).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type DType, type Shape, type Tensor, type TensorSpec } from '../tensor.js';
import { BCAST4_ENTRIES, BINARY_OP, binaryShader, broadcastShader, whereShader } from '../../shaders/elementwise.js';
import { grid1d } from './grid.js';
import { full, log, neg, addScalar } from './unary.js';
import { sum, sumToShape } from './reduce.js';
import { stridesOf } from './shape.js';
import type { HostTensor, OpCase, OpDef, ParamWord } from './types.js';

/** Invocations per workgroup of the elementwise kernels. */
export const ELEMENTWISE_WG = 256;
/** Dims a strided launch can describe after merging (array<vec4<u32>, 2> in the uniform). */
export const MAX_STRIDED_RANK = 8;

// ---------------------------------------------------------------------------------------------
// Broadcasting rules

/** The numpy broadcast of `shapes` (aligned at the right); ShapeError naming `op` otherwise. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + k] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && v !== d) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} do not broadcast: at axis ${k - rank} ` +
            `the sizes are ${d} and ${v}; aligned from the right, sizes must be equal or 1. ` +
            `Reshape an operand so its dims line up, or use broadcastTo.`,
        );
      }
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** Strides of `shape` in the coordinates of `out` (aligned at the right), 0 where repeated. */
export function alignedStrides(shape: Shape, out: Shape): number[] {
  const own = stridesOf(shape);
  const lead = out.length - shape.length;
  return out.map((_, k) => (k < lead || shape[k - lead] === 1 ? 0 : own[k - lead]));
}

/**
 * Drops size-1 dims and merges neighbouring dims that every operand walks contiguously, so a
 * bias add over (B, T, C) + (C) becomes a rank-2 walk. Keeps at least one dim.
 */
export function collapseDims(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let k = 0; k < shape.length; k++) {
    if (shape[k] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((st, j) => outStrides[j][last] === st[k] * shape[k])) {
      outShape[last] *= shape[k];
      strides.forEach((st, j) => (outStrides[j][last] = st[k]));
    } else {
      outShape.push(shape[k]);
      strides.forEach((st, j) => outStrides[j].push(st[k]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/** collapseDims, checked against what the uniform can hold (called by shape rules too). */
export function stridedLayout(op: string, out: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const c = collapseDims(out, strides);
  if (c.shape.length > MAX_STRIDED_RANK) {
    throw new ShapeError(
      `${op}: output ${fmtShape(out)} needs ${c.shape.length} dims after merging, more than the ` +
        `${MAX_STRIDED_RANK} a broadcast kernel supports. Merge dims with a reshape first.`,
    );
  }
  return c;
}

/**
 * Uniform words of a strided launch: n, rank, 2 pad words, then the output shape and each
 * operand's strides, 8 words each (two vec4<u32>).
 */
export function stridedParams(op: string, out: Shape, strides: number[][]): ParamWord[] {
  const c = stridedLayout(op, out, strides);
  const pad = (v: number[]) => [...v, ...new Array<number>(MAX_STRIDED_RANK - v.length).fill(0)];
  return [numel(out), c.shape.length, 0, 0, ...pad(c.shape), ...c.strides.flatMap(pad)];
}

/**
 * binary_bcast's entry for a merged layout: a 4-wide one (BCAST4_ENTRIES) where the innermost
 * dim comes in fours and each operand either runs along it with stride 1 (and every other
 * stride a multiple of 4, so that its four words start a vec4) or is constant along it.
 */
function bcastEntry({ shape, strides }: { shape: number[]; strides: number[][] }): string {
  const last = shape.length - 1;
  const wide = strides.map((st) => st[last] === 1 && st.every((v, k) => k === last || v % 4 === 0));
  const repeated = strides.map((st) => st[last] === 0);
  if (shape[last] % 4 !== 0 || !strides.every((_, j) => wide[j] || repeated[j])) return 'binary_bcast';
  return BCAST4_ENTRIES.find(([, wideA, wideB]) => wideA === wide[0] && wideB === wide[1])?.[0] ?? 'binary_bcast';
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** CPU reference of a broadcast elementwise op over `ins` with strides `strides` (in out coords). */
export function cpuStrided(
  out: Shape,
  dtype: DType,
  ins: HostTensor[],
  strides: number[][],
  fn: (vals: number[]) => number,
): HostTensor {
  const n = numel(out);
  const data = dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
  const vals = new Array<number>(ins.length);
  for (let i = 0; i < n; i++) {
    let rem = i;
    const offs = new Array<number>(ins.length).fill(0);
    for (let k = out.length - 1; k >= 0; k--) {
      const c = rem % out[k];
      rem = Math.floor(rem / out[k]);
      strides.forEach((st, j) => (offs[j] += c * st[k]));
    }
    ins.forEach((t, j) => (vals[j] = t.data[offs[j]]));
    data[i] = fn(vals);
  }
  return { shape: out, dtype, data };
}

/** Draws a host tensor of `spec` from `draw`. */
export function hostOf(spec: TensorSpec, draw: () => number): HostTensor {
  const n = numel(spec.shape);
  const data = spec.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = draw();
  return { shape: spec.shape, dtype: spec.dtype, data };
}

const f32s = (...shapes: Shape[]): TensorSpec[] => shapes.map((shape) => ({ shape, dtype: 'f32' }));

// ---------------------------------------------------------------------------------------------
// Arithmetic and compares

type NoAttrs = Record<string, never>;

interface BinarySpec {
  name: string;
  /** OP code in shaders/elementwise.ts binaryShader (BINARY_OP). */
  code: number;
  /** The float64 specification. */
  f: (a: number, b: number) => number;
  /** i32 semantics (wrapping); absent when the op takes f32 only. */
  int?: (a: number, b: number) => number;
  /** Compares write an f32 0/1 mask and have no gradient. */
  compare?: boolean;
  backward: OpDef<NoAttrs>['backward'];
  gen?: OpCase<NoAttrs>['gen'];
}

/** Shapes every binary op is tested on: equal, row, column, outer, scalar, rank 3, four-wide, 1, rank 8. */
const binaryShapes: [Shape, Shape][] = [
  [[37], [37]],
  [[5, 7], [7]],
  [[6, 1], [1, 9]],
  [[], [129]],
  [[2, 1, 3], [4, 1]],
  // A per-channel bias over images: (B, C, H*W) after merging, walked at rank 3, four at a time
  // (the bias repeated along H*W).
  [[2, 3, 4, 5], [3, 1, 1]],
  // Four at a time: equal shapes; both operands along the innermost dim; a repeated along it.
  [[4, 6], [4, 6]],
  [[2, 3, 4], [3, 4]],
  [[3, 1], [3, 8]],
  [[1], [1]],
  // Nothing merges: all 8 dims of the strided uniform are used.
  [
    [2, 1, 3, 1, 2, 1, 3, 1],
    [2, 1, 3, 1, 2, 1, 3],
  ],
];

function binaryDef(s: BinarySpec): OpDef<NoAttrs> {
  const intCases: OpCase<NoAttrs>[] = s.int
    ? [{ name: 'i32', inputs: [{ shape: [3, 5], dtype: 'i32' }, { shape: [5], dtype: 'i32' }], attrs: {} }]
    : [];
  return {
    name: s.name,
    shape: ([a, b]) => {
      if (a.dtype !== b.dtype) {
        throw new DTypeError(
          `${s.name}: operands have different dtypes (${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ` +
            `${fmtShape(b.shape)}). Convert one with cast(x, '${a.dtype}').`,
        );
      }
      if (a.dtype === 'i32' && !s.int) {
        throw new DTypeError(`${s.name}: takes f32 operands, got i32. Convert them with cast(x, 'f32').`);
      }
      const out = broadcastShapes(s.name, a.shape, b.shape);
      stridedLayout(s.name, out, [alignedStrides(a.shape, out), alignedStrides(b.shape, out)]);
      return [{ shape: out, dtype: s.compare ? 'f32' : a.dtype }];
    },
    kernel: ([a, b], [y]) => {
      const n = numel(y.shape);
      const same = sameShape(a.shape, y.shape) && sameShape(b.shape, y.shape);
      const strides = [alignedStrides(a.shape, y.shape), alignedStrides(b.shape, y.shape)];
      const params = same ? [n] : stridedParams(s.name, y.shape, strides);
      // The merged rank (params[1]) picks the walk: constant indices up to rank 3.
      const rank = same ? 0 : (params[1] as number);
      const constants = { OP: s.code, INT: a.dtype === 'i32' ? 1 : 0, WG: ELEMENTWISE_WG, ...(same ? {} : { RANK: rank <= 3 ? rank : 0 }) };
      const entry = same ? (n % 4 === 0 ? 'binary_same4' : 'binary_same') : bcastEntry(stridedLayout(s.name, y.shape, strides));
      const perInvocation = entry === 'binary_same' || entry === 'binary_bcast' ? 1 : 4;
      return {
        dispatches: [
          {
            shader: binaryShader,
            entry,
            constants,
            reads: [{ in: 0 }, { in: 1 }],
            writes: [{ out: 0 }],
            params,
            workgroups: grid1d(n / perInvocation, ELEMENTWISE_WG),
          },
        ],
      };
    },
    cpu: ([a, b]) => {
      const out = broadcastShapes(s.name, a.shape, b.shape);
      const isInt = a.dtype === 'i32';
      const fn = isInt && s.int ? s.int : s.f;
      const dtype: DType = s.compare ? 'f32' : a.dtype;
      const st = [alignedStrides(a.shape, out), alignedStrides(b.shape, out)];
      return [cpuStrided(out, dtype, [a, b], st, ([u, v]) => fn(u, v))];
    },
    backward: s.backward,
    cases: [
      ...binaryShapes.map(([sa, sb]) => ({ inputs: f32s(sa, sb), attrs: {}, gen: s.gen })),
      ...intCases,
    ],
  };
}

/** Backward of a binary op from (a, b, out, dy); null dy means no gradient reached the output. */
function binaryGrad(
  rule: (a: Tensor, b: Tensor, out: Tensor, dy: Tensor) => [Tensor, Tensor],
): OpDef<NoAttrs>['backward'] {
  return ({ inputs: [a, b], outputs: [out] }, [dy]) => {
    if (!dy || a.dtype !== 'f32') return [null, null];
    const [da, db] = rule(a, b, out, dy);
    return [sumToShape(da, a.shape), sumToShape(db, b.shape)];
  };
}

// Values where equality is likely, so compares see all three outcomes.
const coarse: OpCase<NoAttrs>['gen'] = (_i, spec, rand) =>
  hostOf(spec, () => Math.round(rand() * 4) / 2 - 1);
// Divisors kept away from zero: +-[0.5, 1.5].
const awayFromZero: OpCase<NoAttrs>['gen'] = (i, spec, rand) =>
  hostOf(spec, () => (i === 0 ? rand() * 2 - 1 : (rand() < 0.5 ? -1 : 1) * (0.5 + rand())));
// maximum/minimum: a on odd and b on even hundredths, so a finite-difference step never
// crosses a tie.
const apart: OpCase<NoAttrs>['gen'] = (i, spec, rand) =>
  hostOf(spec, () => (2 * Math.floor(rand() * 100) + (i === 0 ? 1 : 0)) / 100 - 1);
// pow: positive bases in [0.5, 2] (so log(a) exists), exponents in [-2, 2].
const powDomain: OpCase<NoAttrs>['gen'] = (i, spec, rand) =>
  hostOf(spec, () => (i === 0 ? 0.5 + 1.5 * rand() : 4 * rand() - 2));

const wrap = (v: number) => v | 0;

export const addDef = binaryDef({
  name: 'add',
  code: BINARY_OP.add,
  f: (a, b) => a + b,
  int: (a, b) => wrap(a + b),
  backward: binaryGrad((_a, _b, _o, dy) => [dy, dy]),
});

export const subDef = binaryDef({
  name: 'sub',
  code: BINARY_OP.sub,
  f: (a, b) => a - b,
  int: (a, b) => wrap(a - b),
  backward: ({ inputs: [a, b] }, [dy]) =>
    !dy || a.dtype !== 'f32' ? [null, null] : [sumToShape(dy, a.shape), neg(sumToShape(dy, b.shape))],
});

export const mulDef = binaryDef({
  name: 'mul',
  code: BINARY_OP.mul,
  f: (a, b) => a * b,
  int: (a, b) => Math.imul(a, b),
  backward: binaryGrad((a, b, _o, dy) => [mul(dy, b), mul(dy, a)]),
});

export const divDef = binaryDef({
  name: 'div',
  code: BINARY_OP.div,
  f: (a, b) => a / b,
  // d(a/b)/db = -a/b^2 = -out/b
  backward: ({ inputs: [a, b], outputs: [out] }, [dy]) =>
    !dy
      ? [null, null]
      : [sumToShape(div(dy, b), a.shape), neg(sumToShape(div(mul(dy, out), b), b.shape))],
  gen: awayFromZero,
});

export const powDef = binaryDef({
  name: 'pow',
  code: BINARY_OP.pow,
  f: Math.pow,
  // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log(a) (defined for a > 0)
  backward: binaryGrad((a, b, out, dy) => [mul(dy, mul(b, pow(a, addScalar(b, -1)))), mul(dy, mul(out, log(a)))]),
  gen: powDomain,
});

// Ties send the whole gradient to `a` (the masks a >= b and a < b partition every element).
export const maximumDef = binaryDef({
  name: 'maximum',
  code: BINARY_OP.maximum,
  f: (a, b) => Math.max(a, b),
  int: (a, b) => Math.max(a, b),
  backward: binaryGrad((a, b, _o, dy) => [mul(dy, greaterEqual(a, b)), mul(dy, less(a, b))]),
  gen: apart,
});

export const minimumDef = binaryDef({
  name: 'minimum',
  code: BINARY_OP.minimum,
  f: (a, b) => Math.min(a, b),
  int: (a, b) => Math.min(a, b),
  backward: binaryGrad((a, b, _o, dy) => [mul(dy, lessEqual(a, b)), mul(dy, greater(a, b))]),
  gen: apart,
});

function compareDef(name: string, code: number, test: (a: number, b: number) => boolean): OpDef<NoAttrs> {
  const f = (a: number, b: number) => (test(a, b) ? 1 : 0);
  return binaryDef({ name, code, f, int: f, compare: true, backward: 'none', gen: coarse });
}

export const greaterDef = compareDef('greater', BINARY_OP.greater, (a, b) => a > b);
export const lessDef = compareDef('less', BINARY_OP.less, (a, b) => a < b);
export const equalDef = compareDef('equal', BINARY_OP.equal, (a, b) => a === b);
export const greaterEqualDef = compareDef('greaterEqual', BINARY_OP.greaterEqual, (a, b) => a >= b);
export const lessEqualDef = compareDef('lessEqual', BINARY_OP.lessEqual, (a, b) => a <= b);

/** a + b with numpy broadcasting (f32 or i32). */
export function add(a: Tensor, b: Tensor): Tensor {
  return apply(addDef, [a, b], {})[0];
}
/** a - b with numpy broadcasting (f32 or i32). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return apply(subDef, [a, b], {})[0];
}
/** a * b with numpy broadcasting (f32 or i32, which wraps). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return apply(mulDef, [a, b], {})[0];
}
/** a / b with numpy broadcasting (f32). */
export function div(a: Tensor, b: Tensor): Tensor {
  return apply(divDef, [a, b], {})[0];
}
/** a ** b with numpy broadcasting (f32); negative a only with integer b. */
export function pow(a: Tensor, b: Tensor): Tensor {
  return apply(powDef, [a, b], {})[0];
}
/** Elementwise maximum; on ties the gradient goes to a. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return apply(maximumDef, [a, b], {})[0];
}
/** Elementwise minimum; on ties the gradient goes to a. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return apply(minimumDef, [a, b], {})[0];
}
/** f32 mask: 1 where a > b, else 0. */
export function greater(a: Tensor, b: Tensor): Tensor {
  return apply(greaterDef, [a, b], {})[0];
}
/** f32 mask: 1 where a < b, else 0. */
export function less(a: Tensor, b: Tensor): Tensor {
  return apply(lessDef, [a, b], {})[0];
}
/** f32 mask: 1 where a == b, else 0 (f32 or i32 operands, e.g. argmax against labels). */
export function equal(a: Tensor, b: Tensor): Tensor {
  return apply(equalDef, [a, b], {})[0];
}
/** f32 mask: 1 where a >= b, else 0. */
export function greaterEqual(a: Tensor, b: Tensor): Tensor {
  return apply(greaterEqualDef, [a, b], {})[0];
}
/** f32 mask: 1 where a <= b, else 0. */
export function lessEqual(a: Tensor, b: Tensor): Tensor {
  return apply(lessEqualDef, [a, b], {})[0];
}

// ---------------------------------------------------------------------------------------------
// where

export const whereDef: OpDef<NoAttrs> = {
  name: 'where',
  shape: ([c, a, b]) => {
    if (a.dtype !== b.dtype) {
      throw new DTypeError(
        `where: the two branches have different dtypes (${a.dtype} ${fmtShape(a.shape)} and ` +
          `${b.dtype} ${fmtShape(b.shape)}). Convert one with cast(x, '${a.dtype}').`,
      );
    }
    const out = broadcastShapes('where', c.shape, a.shape, b.shape);
    stridedLayout('where', out, [c, a, b].map((t) => alignedStrides(t.shape, out)));
    return [{ shape: out, dtype: a.dtype }];
  },
  kernel: ([c, a, b], [y]) => {
    const same = [c, a, b].every((t) => sameShape(t.shape, y.shape));
    const st = [c, a, b].map((t) => alignedStrides(t.shape, y.shape));
    return {
      dispatches: [
        {
          shader: whereShader,
          entry: same ? 'where_same' : 'where_bcast',
          constants: { COND_INT: c.dtype === 'i32' ? 1 : 0, WG: ELEMENTWISE_WG },
          reads: [{ in: 0 }, { in: 1 }, { in: 2 }],
          writes: [{ out: 0 }],
          params: same ? [numel(y.shape)] : stridedParams('where', y.shape, st),
          workgroups: grid1d(numel(y.shape), ELEMENTWISE_WG),
        },
      ],
    };
  },
  cpu: ([c, a, b]) => {
    const out = broadcastShapes('where', c.shape, a.shape, b.shape);
    const st = [c, a, b].map((t) => alignedStrides(t.shape, out));
    return [cpuStrided(out, a.dtype, [c, a, b], st, ([u, v, w]) => (u !== 0 ? v : w))];
  },
  // The gradient flows to the branch each element was taken from; the condition has none.
  backward: ({ inputs: [c, a, b] }, [dy]) => {
    if (!dy || a.dtype !== 'f32') return [null, null, null];
    const zero = full([], 0);
    return [null, sumToShape(where(c, dy, zero), a.shape), sumToShape(where(c, zero, dy), b.shape)];
  },
  cases: (
    [
      { inputs: f32s([37], [37], [37]), attrs: {} },
      { name: 'broadcast', inputs: f32s([4, 1], [1, 7], []), attrs: {} },
      { name: 'i32 cond', inputs: [{ shape: [5, 3], dtype: 'i32' }, ...f32s([3], [5, 1])], attrs: {} },
    ] as OpCase<NoAttrs>[]
  ).map((c) => ({
    ...c,
    // A 0/1 condition; the gradient check of an f32 condition expects zeros.
    gen: (i, spec, rand) => hostOf(spec, () => (i === 0 ? (rand() < 0.5 ? 0 : 1) : rand() * 2 - 1)),
  })),
};

/** Elementwise choice: a where cond is nonzero, else b, with numpy broadcasting of all three. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return apply(whereDef, [cond, a, b], {})[0];
}

// ---------------------------------------------------------------------------------------------
// broadcast

export interface BroadcastAttrs {
  /** The output shape. */
  shape: Shape;
  /** dims[i]: the output axis that input axis i becomes (strictly increasing). */
  dims: number[];
}

/** Strides of x in the coordinates of the output of a broadcast. */
function broadcastStrides(x: Shape, a: BroadcastAttrs): number[] {
  const own = stridesOf(x);
  const st = new Array<number>(a.shape.length).fill(0);
  a.dims.forEach((d, i) => (st[d] = x[i] === 1 ? 0 : own[i]));
  return st;
}

export const broadcastDef: OpDef<BroadcastAttrs> = {
  name: 'broadcast',
  shape: ([x], { shape, dims }) => {
    const ok =
      dims.length === x.shape.length &&
      dims.every((d, i) => Number.isInteger(d) && d >= 0 && d < shape.length && (i === 0 || d > dims[i - 1])) &&
      dims.every((d, i) => x.shape[i] === 1 || x.shape[i] === shape[d]);
    if (!ok) {
      throw new ShapeError(
        `broadcast: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)} with input axes ` +
          `mapped to output axes ${fmtShape(dims)}: the mapping must be increasing and each input ` +
          `size must be 1 or equal the output size it maps to.`,
      );
    }
    stridedLayout('broadcast', shape, [broadcastStrides(x.shape, { shape, dims })]);
    return [{ shape, dtype: x.dtype }];
  },
  // Same number of elements: only size-1 dims were inserted, so the data is already right.
  kernel: ([x], [y], attrs) =>
    numel(x.shape) === numel(y.shape)
      ? { alias: 0 }
      : {
          dispatches: [
            {
              shader: broadcastShader,
              entry: 'broadcast',
              constants: { WG: ELEMENTWISE_WG },
              reads: [{ in: 0 }],
              writes: [{ out: 0 }],
              params: stridedParams('broadcast', y.shape, [broadcastStrides(x.shape, attrs)]),
              workgroups: grid1d(numel(y.shape), ELEMENTWISE_WG),
            },
          ],
        },
  cpu: ([x], attrs) => [cpuStrided(attrs.shape, x.dtype, [x], [broadcastStrides(x.shape, attrs)], ([v]) => v)],
  // Sum over the output axes that were added or stretched; the rest is a reshape.
  backward: ({ inputs: [x], attrs }, [dy]) => {
    if (!dy || x.dtype !== 'f32') return [null];
    const axes = attrs.shape
      .map((_, k) => k)
      .filter((k) => {
        const i = attrs.dims.indexOf(k);
        return i < 0 || (x.shape[i] === 1 && attrs.shape[k] !== 1);
      });
    const kept = attrs.dims.filter((d) => !axes.includes(d));
    const r = sum(dy, axes);
    const rDims = kept.map((d) => attrs.dims.indexOf(d));
    return [broadcastInDim(r, x.shape, rDims)];
  },
  cases: [
    { name: 'row', inputs: f32s([7]), attrs: { shape: [5, 7], dims: [1] } },
    { name: 'middle', inputs: f32s([3, 1, 4]), attrs: { shape: [2, 3, 37, 4], dims: [1, 2, 3] } },
    { name: 'reshape', inputs: f32s([6]), attrs: { shape: [1, 6, 1], dims: [1] } },
    { name: 'scalar', inputs: f32s([]), attrs: { shape: [129], dims: [] } },
  ],
};

/** x repeated so that input axis i becomes output axis dims[i] (XLA's broadcast_in_dim). */
export function broadcastInDim(x: Tensor, shape: Shape, dims: number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  return apply(broadcastDef, [x], { shape: [...shape], dims })[0];
}

/** x repeated to `shape` by numpy rules (dims aligned at the right). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0) {
    throw new ShapeError(
      `broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}, which has fewer dims. ` +
        `Sum over the extra axes or reshape instead.`,
    );
  }
  return broadcastInDim(x, shape, x.shape.map((_, i) => lead + i));
}

export const binaryOps = {
  add: addDef,
  sub: subDef,
  mul: mulDef,
  div: divDef,
  pow: powDef,
  maximum: maximumDef,
  minimum: minimumDef,
  greater: greaterDef,
  less: lessDef,
  equal: equalDef,
  greaterEqual: greaterEqualDef,
  lessEqual: lessEqualDef,
  where: whereDef,
  broadcast: broadcastDef,
};
