// Reductions: sum, mean and max over any set of axes (all of them by default), argmax along
// one axis, and sumToShape, which undoes numpy broadcasting in gradients.
// The kernel sees the input as alternating runs of kept and reduced dims (merged on the host)
// and runs either one invocation per output or one workgroup per output; see pickStrategy. A
// sum over several runs of reduced dims runs one pass a run instead (splitSum).
// Max sends the gradient to every element equal to the maximum, split evenly between ties
// (as PyTorch's amax does); argmax returns the first maximum (as numpy does).
// Not here: the broadcast op that sum's backward uses (binary.ts), WGSL (shaders/reduce.ts).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Shape, type Tensor, type TensorSpec } from '../tensor.js';
import { REDUCE_OP, reduceShader } from '../../shaders/reduce.js';
import { grid1d } from './grid.js';
import { broadcastInDim, div, equal, hostOf, mul } from './binary.js';
import { stridesOf } from './shape.js';
import { mulScalar } from './unary.js';
import { f32, type HostTensor, type KernelEnv, type OpCase, type OpDef, type Slot } from './types.js';

export interface ReduceAttrs {
  /** Axes to reduce, non-negative, sorted, unique. */
  axes: number[];
  /** Keep reduced axes as size-1 dims. */
  keepdims: boolean;
}

export interface ArgmaxAttrs {
  axis: number;
  keepdims: boolean;
}

/** The single f32 input of a test case. */
const f32In = (shape: number[]): TensorSpec[] => [{ shape, dtype: 'f32' }];

/** Runs of kept or reduced dims a reduction kernel can describe (one vec4<u32> each). */
const MAX_RUNS = 4;

// ---------------------------------------------------------------------------------------------
// Axes and shapes

/** Axes as non-negative, sorted, unique numbers; undefined means every axis. */
export function normalizeAxes(op: string, shape: Shape, axes?: number | number[]): number[] {
  if (axes === undefined) return shape.map((_, k) => k);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -shape.length || a >= shape.length) {
      throw new ShapeError(
        `${op}: axis ${a} is out of range for shape ${fmtShape(shape)}; use -${shape.length}..${shape.length - 1}.`,
      );
    }
    return a < 0 ? a + shape.length : a;
  });
  if (new Set(out).size !== out.length) {
    throw new ShapeError(`${op}: axes ${fmtShape(list)} name the same axis twice for shape ${fmtShape(shape)}.`);
  }
  return out.sort((p, q) => p - q);
}

function reducedShape(shape: Shape, axes: number[], keepdims: boolean): number[] {
  return keepdims ? shape.map((d, k) => (axes.includes(k) ? 1 : d)) : shape.filter((_, k) => !axes.includes(k));
}

function checkInput(op: string, x: TensorSpec, axes: number[]): void {
  if (x.dtype !== 'f32') {
    throw new DTypeError(
      `${op}: takes an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}. Convert it with cast(x, 'f32').`,
    );
  }
  const ok = axes.every((a, i) => Number.isInteger(a) && a >= 0 && a < x.shape.length && (i === 0 || a > axes[i - 1]));
  if (!ok) {
    throw new ShapeError(
      `${op}: axes ${fmtShape(axes)} must be sorted, unique and within 0..${x.shape.length - 1} for ` +
        `shape ${fmtShape(x.shape)}; the user-facing function normalises negative axes.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel plan

interface Runs {
  nout: number;
  nred: number;
  kshape: number[];
  kstride: number[];
  rshape: number[];
  rstride: number[];
}

/** Splits x into runs of kept and reduced dims, merging neighbours of one kind. */
function runsOf(op: string, shape: Shape, axes: number[]): Runs {
  const st = stridesOf(shape);
  const r: Runs = { nout: 1, nred: 1, kshape: [], kstride: [], rshape: [], rstride: [] };
  let lastKind: 'k' | 'r' | null = null;
  shape.forEach((d, k) => {
    if (d === 1) return;
    const kind = axes.includes(k) ? 'r' : 'k';
    const [sz, str] = kind === 'r' ? [r.rshape, r.rstride] : [r.kshape, r.kstride];
    // Size-1 dims are skipped above, so neighbours of one kind are always contiguous.
    if (kind === lastKind) {
      sz[sz.length - 1] *= d;
      str[str.length - 1] = st[k];
    } else {
      sz.push(d);
      str.push(st[k]);
    }
    lastKind = kind;
    if (kind === 'r') r.nred *= d;
    else r.nout *= d;
  });
  if (r.kshape.length > MAX_RUNS || r.rshape.length > MAX_RUNS) {
    throw new ShapeError(
      `${op}: reducing axes ${fmtShape(axes)} of ${fmtShape(shape)} alternates between kept and reduced ` +
        `dims more than ${MAX_RUNS} times. Reduce in two steps.`,
    );
  }
  return r;
}

/**
 * One workgroup per output pays off when rows are long and contiguous (coalesced loads and a
 * short tree); otherwise one invocation per output avoids barriers entirely. On CPU-emulated
 * adapters barriers are so costly that the workgroup form only wins with few, very long rows.
 * Measured on SwiftShader (2 cores), ms per row sum, one invocation per row vs 64-wide groups:
 * (1, 2^20) 291 vs 71; (16, 65536) 72 vs 76; (256, 4096) 55 vs 78; (4096, 768) 83 vs 373.
 */
function pickStrategy(r: Runs, env: KernelEnv): 'wg' | 'loop' {
  const contiguous = r.rstride.length > 0 && r.rstride[r.rstride.length - 1] === 1;
  if (!contiguous) return 'loop';
  if (env.isSoftware) return r.nred >= 4096 && r.nout <= 16 ? 'wg' : 'loop';
  return r.nred >= 64 ? 'wg' : 'loop';
}

function reduceKernel(op: string, code: number, x: TensorSpec, axes: number[], scale: number, env: KernelEnv) {
  const r = runsOf(op, x.shape, axes);
  if (code === REDUCE_OP.sum && r.rshape.length > 1 && pickStrategy(r, env) === 'loop') {
    return splitSum(op, x.shape, axes, scale, env);
  }
  return { dispatches: [reducePass(code, r, scale, env, { in: 0 }, { out: 0 })] };
}

/** One reduce dispatch over runs r, from `read` into `write`. */
function reducePass(code: number, r: Runs, scale: number, env: KernelEnv, read: Slot, write: Slot) {
  const pad = (v: number[]) => [...v, ...new Array<number>(MAX_RUNS - v.length).fill(0)];
  const params = [
    r.nout,
    r.nred,
    f32(scale),
    r.kshape.length,
    r.rshape.length,
    0,
    0,
    0,
    ...pad(r.kshape),
    ...pad(r.kstride),
    ...pad(r.rshape),
    ...pad(r.rstride),
  ];
  const wg = pickStrategy(r, env) === 'wg';
  const size = wg ? (env.isSoftware ? 64 : 256) : 64;
  return {
    shader: reduceShader,
    entry: wg ? 'reduce_wg' : 'reduce_loop',
    constants: { OP: code, WG: size },
    reads: [read],
    writes: [write],
    params,
    workgroups: wg ? grid1d(r.nout, 1) : grid1d(r.nout, size),
  };
}

/**
 * A sum over several runs of reduced dims as one pass a run, innermost run first, each into a
 * scratch buffer of the dims still left (the last pass into the output, scaled). Every pass then
 * reads its run with one stride, where a single pass decomposes every reduced index with
 * divisions: on SwiftShader a bias gradient, (B, C, H, W) summed over B, H and W, took ~6 ms at
 * 32 x 32 x 16 x 16 in one pass (U-Net profile, GPU timestamps).
 */
function splitSum(op: string, shape: Shape, axes: number[], scale: number, env: KernelEnv) {
  // The dims as merged runs, each marked reduced or kept.
  let dims: { size: number; reduced: boolean }[] = [];
  shape.forEach((size, k) => {
    if (size === 1) return;
    const reduced = axes.includes(k);
    const last = dims[dims.length - 1];
    if (last?.reduced === reduced) last.size *= size;
    else dims.push({ size, reduced });
  });
  const dispatches = [];
  const tmp: number[] = [];
  let read: Slot = { in: 0 };
  for (;;) {
    const reducedAt = dims.flatMap((d, k) => (d.reduced ? [k] : []));
    const final = reducedAt.length === 1;
    const inner = reducedAt[reducedAt.length - 1];
    const runs = runsOf(op, dims.map((d) => d.size), final ? reducedAt : [inner]);
    const write: Slot = final ? { out: 0 } : { tmp: tmp.length };
    dispatches.push(reducePass(REDUCE_OP.sum, runs, final ? scale : 1, env, read, write));
    if (final) return { tmp, dispatches };
    tmp.push(runs.nout * 4);
    read = write;
    dims = dims.filter((_, k) => k !== inner);
  }
}

/** Plain-loop reference: fold(acc, value, reducedIndex) over each output's elements in order. */
function cpuReduce(
  x: HostTensor,
  axes: number[],
  outShape: Shape,
  init: () => number[],
  fold: (acc: number[], v: number, r: number) => void,
  finish: (acc: number[]) => number,
  outDtype: 'f32' | 'i32',
): HostTensor {
  const nout = numel(outShape);
  const accs = Array.from({ length: nout }, init);
  const counters = new Array<number>(nout).fill(0);
  const shape = x.shape;
  for (let i = 0; i < x.data.length; i++) {
    let rem = i;
    let o = 0;
    let oMul = 1;
    for (let k = shape.length - 1; k >= 0; k--) {
      const c = rem % shape[k];
      rem = Math.floor(rem / shape[k]);
      if (!axes.includes(k)) {
        o += c * oMul;
        oMul *= shape[k];
      }
    }
    // Elements of one output arrive in row-major order of the reduced axes: count them.
    fold(accs[o], x.data[i], counters[o]++);
  }
  const data = outDtype === 'i32' ? new Int32Array(nout) : new Float64Array(nout);
  accs.forEach((a, o) => (data[o] = finish(a)));
  return { shape: outShape, dtype: outDtype, data };
}

// ---------------------------------------------------------------------------------------------
// sum, mean, max

function reduceDef(
  name: string,
  code: number,
  cpu: OpDef<ReduceAttrs>['cpu'],
  backward: OpDef<ReduceAttrs>['backward'],
  cases: OpCase<ReduceAttrs>[],
): OpDef<ReduceAttrs> {
  return {
    name,
    shape: ([x], { axes, keepdims }) => {
      checkInput(name, x, axes);
      runsOf(name, x.shape, axes);
      return [{ shape: reducedShape(x.shape, axes, keepdims), dtype: 'f32' }];
    },
    kernel: ([x], _out, { axes }, env) => {
      const nred = axes.reduce((n, a) => n * x.shape[a], 1);
      // One element per output: sum, mean and max are the identity, so reinterpret x.
      if (nred === 1) return { alias: 0 };
      return reduceKernel(name, code, x, axes, name === 'mean' ? 1 / nred : 1, env);
    },
    cpu,
    backward,
    cases,
  };
}

/** The axes of x that survive a reduction, as output dims of broadcastInDim. */
function keptAxes(rank: number, axes: number[], keepdims: boolean): number[] {
  const all = Array.from({ length: rank }, (_, k) => k);
  return keepdims ? all : all.filter((k) => !axes.includes(k));
}

const sumCases: OpCase<ReduceAttrs>[] = [
  { name: 'all', inputs: f32In([37]), attrs: { axes: [0], keepdims: false } },
  { name: 'rows', inputs: f32In([3, 129]), attrs: { axes: [1], keepdims: false } },
  { name: 'columns', inputs: f32In([129, 3]), attrs: { axes: [0], keepdims: true } },
  { name: 'interleaved', inputs: f32In([2, 3, 5, 7]), attrs: { axes: [0, 2], keepdims: true } },
  { name: 'size-1 axis', inputs: f32In([4, 1, 5]), attrs: { axes: [1], keepdims: false } },
  // Four runs of kept and four of reduced dims: every slot of the uniform's vec4s.
  { name: 'alternating', inputs: f32In([2, 3, 2, 3, 2, 3, 2, 3]), attrs: { axes: [1, 3, 5, 7], keepdims: false } },
  // Long enough for one workgroup per row on every adapter; the backward is checked above.
  { name: 'long rows', inputs: f32In([2, 4099]), attrs: { axes: [1], keepdims: false }, gradInputs: [] },
];

export const sumDef = reduceDef(
  'sum',
  REDUCE_OP.sum,
  ([x], { axes, keepdims }) => [
    cpuReduce(x, axes, reducedShape(x.shape, axes, keepdims), () => [0], (a, v) => (a[0] += v), (a) => a[0], 'f32'),
  ],
  ({ inputs: [x], attrs: { axes, keepdims } }, [dy]) => [
    dy ? broadcastInDim(dy, x.shape, keptAxes(x.rank, axes, keepdims)) : null,
  ],
  sumCases,
);

export const meanDef = reduceDef(
  'mean',
  REDUCE_OP.sum,
  ([x], { axes, keepdims }) => {
    const nred = axes.reduce((n, a) => n * x.shape[a], 1);
    const out = reducedShape(x.shape, axes, keepdims);
    return [cpuReduce(x, axes, out, () => [0], (a, v) => (a[0] += v), (a) => a[0] / nred, 'f32')];
  },
  ({ inputs: [x], attrs: { axes, keepdims } }, [dy]) => {
    if (!dy) return [null];
    const nred = axes.reduce((n, a) => n * x.shape[a], 1);
    // Scale the small tensor, then broadcast.
    return [broadcastInDim(mulScalar(dy, 1 / nred), x.shape, keptAxes(x.rank, axes, keepdims))];
  },
  [
    { name: 'rows', inputs: f32In([3, 129]), attrs: { axes: [1], keepdims: false } },
    { name: 'all keepdims', inputs: f32In([5, 6]), attrs: { axes: [0, 1], keepdims: true } },
    { name: 'middle', inputs: f32In([4, 37, 2]), attrs: { axes: [1], keepdims: false } },
    // Three runs of reduced dims: three passes, the scale in the last one only.
    { name: 'three runs', inputs: f32In([3, 2, 5, 3, 4, 2]), attrs: { axes: [0, 2, 4], keepdims: true } },
  ],
);

// Values on a coarse grid, so ties are common.
const coarse: OpCase<object>['gen'] = (_i, spec, rand) => hostOf(spec, () => Math.round(rand() * 4) / 2 - 1);
// Shuffled, evenly spaced values: no two closer than 2/n, so a finite-difference step never
// turns the runner-up into the maximum.
const distinct: OpCase<object>['gen'] = (_i, spec, rand) => {
  const n = numel(spec.shape);
  const vals = Array.from({ length: n }, (_, k) => -1 + (2 * k + 1) / n);
  for (let k = n - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [vals[k], vals[j]] = [vals[j], vals[k]];
  }
  let next = 0;
  return hostOf(spec, () => vals[next++]);
};

export const maxDef = reduceDef(
  'max',
  REDUCE_OP.max,
  ([x], { axes, keepdims }) => [
    cpuReduce(
      x,
      axes,
      reducedShape(x.shape, axes, keepdims),
      () => [-Infinity],
      (a, v) => (a[0] = Math.max(a[0], v)),
      (a) => a[0],
      'f32',
    ),
  ],
  // dx = dy / (number of maxima) at every maximum, 0 elsewhere.
  ({ inputs: [x], outputs: [out], attrs: { axes, keepdims } }, [dy]) => {
    if (!dy) return [null];
    const keepShape = reducedShape(x.shape, axes, true);
    const kept = keptAxes(x.rank, axes, keepdims);
    // Reinsert the reduced axes as size-1 dims (a reshape), then broadcast by numpy rules.
    const mask = equal(x, broadcastInDim(out, keepShape, kept)); // (x.shape)
    const count = sum(mask, axes, true); // (keepShape)
    return [mul(mask, div(broadcastInDim(dy, keepShape, kept), count))];
  },
  [
    { name: 'rows', inputs: f32In([3, 129]), attrs: { axes: [1], keepdims: false }, gen: distinct },
    { name: 'outer axes', inputs: f32In([6, 5, 4]), attrs: { axes: [0, 2], keepdims: true }, gen: distinct },
    { name: 'all', inputs: f32In([37]), attrs: { axes: [0], keepdims: false }, gen: distinct },
    // Finite differences of a tie are one-sided, so only the forward is checked.
    { name: 'ties', inputs: f32In([7, 5]), attrs: { axes: [1], keepdims: false }, gen: coarse, gradInputs: [] },
  ],
);

/** Sum over `axes` (every axis when omitted; negative axes count from the end). */
export function sum(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const a = normalizeAxes('sum', x.shape, axes);
  return a.length === 0 ? x : apply(sumDef, [x], { axes: a, keepdims })[0];
}

/** Mean over `axes` (every axis when omitted). */
export function mean(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const a = normalizeAxes('mean', x.shape, axes);
  return a.length === 0 ? x : apply(meanDef, [x], { axes: a, keepdims })[0];
}

/** Maximum over `axes` (every axis when omitted); ties share the gradient evenly. */
export function max(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const a = normalizeAxes('max', x.shape, axes);
  return a.length === 0 ? x : apply(maxDef, [x], { axes: a, keepdims })[0];
}

// ---------------------------------------------------------------------------------------------
// argmax

export const argmaxDef: OpDef<ArgmaxAttrs> = {
  name: 'argmax',
  shape: ([x], { axis, keepdims }) => {
    checkInput('argmax', x, [axis]);
    runsOf('argmax', x.shape, [axis]);
    return [{ shape: reducedShape(x.shape, [axis], keepdims), dtype: 'i32' }];
  },
  kernel: ([x], _out, { axis }, env) => reduceKernel('argmax', REDUCE_OP.argmax, x, [axis], 1, env),
  cpu: ([x], { axis, keepdims }) => [
    cpuReduce(
      x,
      [axis],
      reducedShape(x.shape, [axis], keepdims),
      () => [-Infinity, 0],
      (a, v, r) => {
        if (v > a[0]) [a[0], a[1]] = [v, r];
      },
      (a) => a[1],
      'i32',
    ),
  ],
  backward: 'none',
  cases: [
    { name: 'rows', inputs: f32In([3, 129]), attrs: { axis: 1, keepdims: false } },
    { name: 'columns', inputs: f32In([7, 5]), attrs: { axis: 0, keepdims: true } },
    { name: 'ties', inputs: f32In([4, 37]), attrs: { axis: 1, keepdims: false }, gen: coarse },
    { name: 'size-1 axis', inputs: f32In([5, 1]), attrs: { axis: 1, keepdims: false } },
    { name: 'long rows, ties', inputs: f32In([2, 4099]), attrs: { axis: 1, keepdims: false }, gen: coarse },
  ],
};

/** Index of the first maximum along `axis` (default the last), as i32. */
export function argmax(x: Tensor, axis = -1, keepdims = false): Tensor {
  const [a] = normalizeAxes('argmax', x.shape, axis);
  return apply(argmaxDef, [x], { axis: a, keepdims })[0];
}

// ---------------------------------------------------------------------------------------------
// sumToShape

/**
 * x summed down to `shape`, the inverse of numpy broadcasting: sums the leading axes x has
 * beyond `shape` and the axes where `shape` has 1. Returns x itself when nothing is summed.
 */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  const lead = x.rank - shape.length;
  if (lead < 0 || shape.some((d, i) => d !== 1 && d !== x.shape[lead + i])) {
    throw new ShapeError(
      `sumToShape: ${fmtShape(x.shape)} cannot be summed to ${fmtShape(shape)}: it must be a shape that ` +
        `broadcasts to ${fmtShape(x.shape)} (aligned at the right, each size equal or 1).`,
    );
  }
  const axes = x.shape
    .map((_, k) => k)
    .filter((k) => k < lead || (shape[k - lead] === 1 && x.shape[k] !== 1));
  if (axes.length === 0) return x;
  const remaining = x.shape.map((_, k) => k).filter((k) => !axes.includes(k));
  // The summed tensor has the elements of `shape` in order: this is a reshape.
  return broadcastInDim(sum(x, axes), shape, remaining.map((k) => k - lead));
}

export const reduceOps = {
  sum: sumDef,
  mean: meanDef,
  max: maxDef,
  argmax: argmaxDef,
};
