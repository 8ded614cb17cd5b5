// Data-movement ops: reshape, permute (and transpose), slice, pad and concat. None of them
// computes anything; they rearrange 32-bit words, so each works on f32 and i32 alike. Their
// gradients are data movement too: reshape back, the inverse permutation, pad <-> slice, and
// concat -> one slice per input.
//
// Not here: broadcasting (an expand needs a sum over the broadcast axes in its backward, which
// belongs to the reductions), and gathers by index tensors (embedding lookups).

import { ShapeError, fmtShape } from '../errors.js';
import { apply, numel } from '../tensor.js';
import type { Shape, Tensor, TensorSpec } from '../tensor.js';
import { MAX_RANK, shapeShader } from '../../shaders/shape.js';
import { collapseDims } from './binary.js';
import { grid1d } from './grid.js';
import type { Dispatch, HostTensor, KernelPlan, OpDef, ParamWord, ShaderModuleDef } from './types.js';

// ---------------------------------------------------------------------------------------------
// Shared pieces.

/** Row-major strides of a contiguous tensor, in elements. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

function checkRank(op: string, shape: Shape): void {
  if (shape.length > MAX_RANK) {
    throw new ShapeError(
      `${op}: shape ${fmtShape(shape)} has rank ${shape.length}; at most ${MAX_RANK} is supported. ` +
        `Reshape to merge adjacent dimensions first.`,
    );
  }
}

/** A negative axis counts from the end, as in NumPy; anything outside the rank is an error. */
function normAxis(op: string, axis: number, rank: number, shape: Shape): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${fmtShape(shape)}.`);
  }
  return a;
}

/** `v` padded to MAX_RANK words, for one array<vec4<u32>, 2> field of a uniform. */
const words8 = (v: readonly number[], fill: number): number[] => [
  ...v,
  ...new Array<number>(MAX_RANK - v.length).fill(fill),
];

/**
 * One dispatch of shapeShader's gather or scatter over numel(shape) elements. Dimensions that
 * both sides walk contiguously are merged first (a slice along the first axis becomes one
 * run), which saves a division per dimension per element; and when the innermost run is
 * contiguous and everything is a multiple of 4 words, each invocation moves a vec4.
 */
function strided(entry: 'gather' | 'scatter', read: number, shape: Shape, strides: number[], base: number): Dispatch {
  const c = collapseDims(shape, [strides, stridesOf(shape)]);
  const [st] = c.strides;
  const last = c.shape.length - 1;
  const vec = c.shape[last] % 4 === 0 && st[last] === 1 && base % 4 === 0 && st.every((v, d) => d === last || v % 4 === 0);
  const q = vec ? 4 : 1;
  const vshape = c.shape.map((e, d) => (d === last ? e / q : e));
  const vstrides = st.map((v, d) => (d === last ? v : v / q)); // the last is 1 on the vec4 path
  const n = numel(vshape);
  const params: ParamWord[] = [n, vshape.length, base / q, 0, ...words8(vshape, 1), ...words8(vstrides, 0)];
  return copyDispatch(shapeShader, vec ? `${entry}4` : entry, read, n, params);
}

function copyDispatch(shader: ShaderModuleDef, entry: string, read: number, n: number, params: ParamWord[]): Dispatch {
  return {
    shader,
    entry,
    constants: { WG: 64 },
    reads: [{ in: read }],
    writes: [{ out: 0 }],
    params,
    workgroups: grid1d(n, 64),
  };
}

/** CPU twin of the gather kernel: out[i] = x[base + sum_d idx_d(i) * strides[d]]. */
function gatherCpu(x: HostTensor, shape: Shape, strides: number[], base: number): HostTensor {
  const n = numel(shape);
  const data = x.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = base;
    for (let d = shape.length - 1; d >= 0; d--) {
      off += (rem % shape[d]) * strides[d];
      rem = Math.floor(rem / shape[d]);
    }
    data[i] = x.data[off];
  }
  return { shape, dtype: x.dtype, data };
}

const f = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const i = (...shape: number[]): TensorSpec => ({ shape, dtype: 'i32' });

// ---------------------------------------------------------------------------------------------
// reshape: same data, new shape. No GPU work: the output aliases the input buffer.

export interface ReshapeAttrs {
  /** The new shape; at most one entry may be -1 (inferred from the others). */
  shape: number[];
}

function resolveShape(x: Shape, shape: readonly number[]): number[] {
  const n = numel(x);
  const holes = shape.filter((d) => d === -1).length;
  const known = shape.reduce((acc, d) => (d === -1 ? acc : acc * d), 1);
  const bad = shape.some((d) => d !== -1 && (!Number.isInteger(d) || d < 1));
  if (bad || holes > 1 || (holes === 1 && n % known !== 0) || (holes === 0 && known !== n)) {
    throw new ShapeError(
      `reshape: cannot view ${fmtShape(x)} (${n} elements) as ${fmtShape(shape)}. ` +
        `The new shape needs the same number of elements, positive sizes and at most one -1.`,
    );
  }
  return shape.map((d) => (d === -1 ? n / known : d));
}

export const reshapeDef: OpDef<ReshapeAttrs> = {
  name: 'reshape',
  f16: true,
  shape: ([x], { shape }) => [{ shape: resolveShape(x.shape, shape), dtype: x.dtype }],
  kernel: () => ({ alias: 0 }),
  cpu: ([x], { shape }) => [{ shape: resolveShape(x.shape, shape), dtype: x.dtype, data: x.data.slice() }],
  backward: ({ inputs: [x] }, [dy]) => [dy && reshape(dy, x.shape)],
  cases: [
    { inputs: [f(37)], attrs: { shape: [-1, 1] } },
    { inputs: [f(2, 3, 4)], attrs: { shape: [6, -1] } },
    { inputs: [f(1)], attrs: { shape: [] } },
    { inputs: [f()], attrs: { shape: [1, 1, 1] } },
    { inputs: [i(3, 5)], attrs: { shape: [5, 3] } },
  ],
};

/** The same elements in a new shape (row-major order kept); one dimension may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = resolveShape(x.shape, shape);
  if (s.length === x.rank && s.every((d, k) => d === x.shape[k])) return x;
  return apply(reshapeDef, [x], { shape: s })[0];
}

// ---------------------------------------------------------------------------------------------
// permute: out dimension d is input dimension perm[d].

export interface PermuteAttrs {
  perm: number[];
}

function checkPerm(x: Shape, perm: readonly number[]): void {
  const seen = new Set(perm);
  const ok =
    perm.length === x.length &&
    seen.size === perm.length &&
    perm.every((p) => Number.isInteger(p) && p >= 0 && p < x.length);
  if (!ok) {
    throw new ShapeError(
      `permute: [${perm.join(', ')}] is not a permutation of the ${x.length} axes of ${fmtShape(x)}. ` +
        `List every axis 0..${x.length - 1} exactly once.`,
    );
  }
  checkRank('permute', x);
}

export const permuteDef: OpDef<PermuteAttrs> = {
  name: 'permute',
  shape: ([x], { perm }) => {
    checkPerm(x.shape, perm);
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }];
  },
  kernel: ([x], [y], { perm }) => {
    const xs = stridesOf(x.shape);
    return { dispatches: [strided('gather', 0, y.shape, perm.map((p) => xs[p]), 0)] };
  },
  cpu: ([x], { perm }) => {
    const xs = stridesOf(x.shape);
    return [gatherCpu(x, perm.map((p) => x.shape[p]), perm.map((p) => xs[p]), 0)];
  },
  backward: ({ attrs: { perm } }, [dy]) => [dy && permute(dy, inversePerm(perm))],
  cases: [
    { inputs: [f(3, 5)], attrs: { perm: [1, 0] } },
    { inputs: [f(2, 3, 5, 7)], attrs: { perm: [0, 2, 1, 3] } }, // (B, T, H, hs) -> (B, H, T, hs)
    { inputs: [f(37, 1, 3)], attrs: { perm: [2, 0, 1] } },
    { inputs: [f(4, 129)], attrs: { perm: [1, 0] } },
    { inputs: [f(2, 1, 2, 1, 3, 1, 2, 2)], attrs: { perm: [7, 6, 5, 4, 3, 2, 1, 0] } },
    { inputs: [f()], attrs: { perm: [] } },
    { inputs: [i(3, 4, 5)], attrs: { perm: [2, 0, 1] } },
    // vec4 path: innermost axis stays contiguous and every stride is a multiple of 4 words
    { inputs: [f(2, 3, 5, 8)], attrs: { perm: [0, 2, 1, 3] } },
    { inputs: [f(2, 7, 3, 2, 4)], attrs: { perm: [2, 0, 3, 1, 4] } }, // (B, T, 3, H, hs) -> (3, B, H, T, hs)
  ],
};

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, d) => (inv[p] = d));
  return inv;
}

/** Reorders axes: output axis d is input axis perm[d]. Negative axes count from the end. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const p = perm.map((a) => (a < 0 ? a + x.rank : a));
  if (p.length === x.rank && p.every((a, d) => a === d)) return x;
  return apply(permuteDef, [x], { perm: p })[0];
}

/** Swaps two axes (negative axes count from the end): transpose(x, -2, -1) for matrices. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normAxis('transpose', dim0, x.rank, x.shape);
  const b = normAxis('transpose', dim1, x.rank, x.shape);
  const perm = x.shape.map((_, d) => (d === a ? b : d === b ? a : d));
  return permute(x, perm);
}

// ---------------------------------------------------------------------------------------------
// slice: the box starts[d] <= idx[d] < ends[d]. Its gradient pads with zeros back to x's shape.

export interface SliceAttrs {
  starts: number[];
  ends: number[];
}

function sliceShape(x: Shape, { starts, ends }: SliceAttrs): number[] {
  const inBox = (e: number, d: number) =>
    Number.isInteger(starts[d]) && Number.isInteger(ends[d]) && 0 <= starts[d] && starts[d] < ends[d] && ends[d] <= e;
  const ok = starts.length === x.length && ends.length === x.length && x.every(inBox);
  if (!ok) {
    throw new ShapeError(
      `slice: starts [${starts.join(', ')}] and ends [${ends.join(', ')}] do not select a non-empty box ` +
        `of ${fmtShape(x)}. Give one start and one exclusive end per axis with 0 <= start < end <= size.`,
    );
  }
  checkRank('slice', x);
  return x.map((_, d) => ends[d] - starts[d]);
}

const offsetOf = (starts: readonly number[], strides: readonly number[]): number =>
  starts.reduce((acc, s, d) => acc + s * strides[d], 0);

export const sliceDef: OpDef<SliceAttrs> = {
  name: 'slice',
  shape: ([x], attrs) => [{ shape: sliceShape(x.shape, attrs), dtype: x.dtype }],
  kernel: ([x], [y], { starts }, env) => {
    const xs = stridesOf(x.shape);
    const base = offsetOf(starts, xs);
    // A slice that is one contiguous run at an offset bindable on its own (a slice along the
    // first axis, say) moves nothing: it is a view of x.
    const run = collapseDims(y.shape, [xs, stridesOf(y.shape)]);
    if (run.shape.length === 1 && run.strides[0][0] === 1 && (4 * base) % env.limits.minStorageBufferOffsetAlignment === 0) {
      return { alias: 0, offset: base };
    }
    return { dispatches: [strided('gather', 0, y.shape, xs, base)] };
  },
  cpu: ([x], attrs) => {
    const xs = stridesOf(x.shape);
    return [gatherCpu(x, sliceShape(x.shape, attrs), xs, offsetOf(attrs.starts, xs))];
  },
  backward: ({ inputs: [x], attrs: { starts, ends } }, [dy]) => [
    dy && pad(dy, starts, x.shape.map((e, d) => e - ends[d])),
  ],
  cases: [
    { inputs: [f(7, 9)], attrs: { starts: [1, 2], ends: [6, 9] } },
    { inputs: [f(37)], attrs: { starts: [36], ends: [37] } },
    { inputs: [f(2, 3, 129)], attrs: { starts: [0, 1, 5], ends: [2, 3, 100] } },
    { inputs: [f(1)], attrs: { starts: [0], ends: [1] } },
    { inputs: [i(5, 4)], attrs: { starts: [2, 1], ends: [4, 4] } },
    { inputs: [f(3, 2, 5, 8)], attrs: { starts: [1, 0, 0, 0], ends: [2, 2, 5, 8] } }, // one contiguous run, vec4
    { inputs: [f(3, 2, 4, 8)], attrs: { starts: [2, 0, 0, 0], ends: [3, 2, 4, 8] } }, // at 128 floats: a view
    { inputs: [f(4, 12)], attrs: { starts: [1, 4], ends: [3, 12] } }, // vec4 rows
  ],
};

/**
 * The box starts[d] <= idx < ends[d] on every axis (ends exclusive; negative values count
 * from the end, as in Python). For one axis only, see sliceAxis.
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  const norm = (v: number, d: number) => (v < 0 ? v + x.shape[d] : v);
  return apply(sliceDef, [x], { starts: starts.map(norm), ends: ends.map(norm) })[0];
}

/** x[..., start:end, ...] on one axis (end exclusive; negatives count from the end). */
export function sliceAxis(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis('slice', axis, x.rank, x.shape);
  const starts = x.shape.map((_, d) => (d === a ? start : 0));
  const ends = x.shape.map((e, d) => (d === a ? end : e));
  return slice(x, starts, ends);
}

// ---------------------------------------------------------------------------------------------
// pad: zeros around x, before[d] in front of and after[d] behind each axis.

export interface PadAttrs {
  before: number[];
  after: number[];
}

function padShape(x: Shape, { before, after }: PadAttrs): number[] {
  const ok =
    before.length === x.length &&
    after.length === x.length &&
    [...before, ...after].every((v) => Number.isInteger(v) && v >= 0);
  if (!ok) {
    throw new ShapeError(
      `pad: before [${before.join(', ')}] and after [${after.join(', ')}] do not fit ${fmtShape(x)}. ` +
        `Give one non-negative amount per axis in each.`,
    );
  }
  checkRank('pad', x);
  return x.map((e, d) => before[d] + e + after[d]);
}

export const padDef: OpDef<PadAttrs> = {
  name: 'pad',
  shape: ([x], attrs) => [{ shape: padShape(x.shape, attrs), dtype: x.dtype }],
  // Zeros everywhere (pooled buffers are not zeroed), then x scattered into its window.
  kernel: ([x], [y], { before }): KernelPlan => {
    const n = numel(y.shape);
    const zero = copyDispatch(shapeShader, n % 4 === 0 ? 'zero4' : 'zero', 0, n % 4 === 0 ? n / 4 : n, [n % 4 === 0 ? n / 4 : n]);
    const ys = stridesOf(y.shape);
    return { dispatches: [zero, strided('scatter', 0, x.shape, ys, offsetOf(before, ys))] };
  },
  cpu: ([x], attrs) => {
    const shape = padShape(x.shape, attrs);
    const n = numel(shape);
    const data = x.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
    const xs = stridesOf(x.shape);
    for (let k = 0; k < n; k++) {
      let rem = k;
      let src = 0;
      let inside = true;
      for (let d = shape.length - 1; d >= 0; d--) {
        const idx = (rem % shape[d]) - attrs.before[d];
        inside &&= idx >= 0 && idx < x.shape[d];
        src += idx * xs[d];
        rem = Math.floor(rem / shape[d]);
      }
      data[k] = inside ? x.data[src] : 0;
    }
    return [{ shape, dtype: x.dtype, data }];
  },
  backward: ({ inputs: [x], attrs: { before } }, [dy]) => [
    dy && slice(dy, before, before.map((b, d) => b + x.shape[d])),
  ],
  cases: [
    { inputs: [f(3, 5)], attrs: { before: [1, 0], after: [2, 3] } },
    { inputs: [f(37)], attrs: { before: [0], after: [0] } },
    { inputs: [f(2, 3, 4)], attrs: { before: [1, 1, 1], after: [0, 2, 0] } },
    { inputs: [f(1)], attrs: { before: [5], after: [2] } },
    { inputs: [i(2, 3)], attrs: { before: [0, 2], after: [1, 0] } },
    { inputs: [f(1, 2, 5, 8)], attrs: { before: [1, 0, 0, 0], after: [1, 0, 0, 0] } }, // slice's gradient, vec4
    { inputs: [f(3, 4)], attrs: { before: [1, 4], after: [0, 8] } },
  ],
};

/** Zeros around x: before[d] in front of and after[d] behind axis d. */
export function pad(x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  return apply(padDef, [x], { before: [...before], after: [...after] })[0];
}

// ---------------------------------------------------------------------------------------------
// concat: inputs side by side along one axis. One scatter dispatch per input, each writing its
// own window, so together they write every output element once; per-input dispatches also keep
// the number of bound buffers at two, whatever the number of inputs.

export interface ConcatAttrs {
  /** Non-negative axis. */
  axis: number;
}

export const concatDef: OpDef<ConcatAttrs> = {
  name: 'concat',
  shape: (xs, { axis }) => {
    const [x0] = xs;
    const fits = (x: TensorSpec) =>
      x.dtype === x0.dtype &&
      x.shape.length === x0.shape.length &&
      x.shape.every((e, d) => d === axis || e === x0.shape[d]);
    if (!x0 || axis < 0 || axis >= x0.shape.length || !xs.every(fits)) {
      throw new ShapeError(
        `concat: cannot join ${xs.map((x) => `${fmtShape(x.shape)} ${x.dtype}`).join(', ')} along axis ${axis}. ` +
          `Inputs need one dtype, one rank, and equal sizes on every other axis.`,
      );
    }
    checkRank('concat', x0.shape);
    const shape = [...x0.shape];
    shape[axis] = xs.reduce((acc, x) => acc + x.shape[axis], 0);
    return [{ shape, dtype: x0.dtype }];
  },
  kernel: (xs, [y], { axis }) => {
    const ys = stridesOf(y.shape);
    let off = 0;
    const dispatches = xs.map((x, k) => {
      const d = strided('scatter', k, x.shape, ys, off * ys[axis]);
      off += x.shape[axis];
      return d;
    });
    return { dispatches };
  },
  cpu: (xs, { axis }) => {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((acc, x) => acc + x.shape[axis], 0);
    const outer = numel(shape.slice(0, axis));
    const inner = numel(shape.slice(axis + 1));
    const data = xs[0].dtype === 'i32' ? new Int32Array(numel(shape)) : new Float64Array(numel(shape));
    let off = 0;
    for (const x of xs) {
      const c = x.shape[axis];
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < c * inner; j++) data[(o * shape[axis] + off) * inner + j] = x.data[o * c * inner + j];
      }
      off += c;
    }
    return [{ shape, dtype: xs[0].dtype, data }];
  },
  backward: ({ inputs, attrs: { axis } }, [dy]) => {
    let off = 0;
    return inputs.map((x) => {
      const start = off;
      off += x.shape[axis];
      return dy && sliceAxis(dy, axis, start, off);
    });
  },
  cases: [
    { inputs: [f(2, 3), f(2, 5)], attrs: { axis: 1 } },
    { inputs: [f(1), f(37), f(4)], attrs: { axis: 0 } },
    { inputs: [f(2, 3, 4), f(2, 3, 4)], attrs: { axis: 2 } },
    { inputs: [f(3, 7, 2), f(3, 1, 2), f(3, 2, 2), f(3, 5, 2)], attrs: { axis: 1 } },
    { inputs: [f(5)], attrs: { axis: 0 } },
    { inputs: [i(2, 3), i(1, 3)], attrs: { axis: 0 } },
  ],
};

/** Joins tensors along `axis` (negative counts from the end). One input returns it unchanged. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: needs at least one input.');
  if (xs.length === 1) return xs[0];
  const a = normAxis('concat', axis, xs[0].rank, xs[0].shape);
  return apply(concatDef, [...xs], { axis: a })[0];
}

export const shapeOps = {
  reshape: reshapeDef,
  permute: permuteDef,
  slice: sliceDef,
  pad: padDef,
  concat: concatDef,
};
