// What the normalisation ops share (layernorm.ts, groupnorm.ts). Both normalise rows of M
// elements (layerNorm: a row of the last axis; groupNorm: the (C / G) * S elements of one
// sample's group), keep each row's mean and reciprocal standard deviation (rstd) as extra
// outputs for the backward, then scale and shift every element by its channel's gain and bias.
// Here: the float64 references of that forward and of its backward (dx, dgain, dbias) given
// which channel an element belongs to; the backward rule that routes gradients reaching the
// saved statistics; and the checks and test inputs both ops use.
// Not here: the kernels (shaders/layernorm.ts, shaders/groupnorm.ts), or what only one op has
// (layerNorm's f16 output, groupNorm's groups and second derivative).

import { EngineError, ShapeError, fmtShape } from '../errors.js';
import { numel, type Tensor, type TensorSpec } from '../tensor.js';
import { rowCheck } from './rows.js';
import { zerosLike } from './unary.js';
import type { GradContext, HostTensor } from './types.js';

/** The channel (index into gain and bias) of element j of row r. */
export type ChannelOf = (r: number, j: number) => number;

/** rows x M elements of x normalised per row, then gain[c] and bias[c] of each element's channel. */
export function normalizeCpu(
  [x, gain, bias]: HostTensor[],
  rows: number,
  M: number,
  eps: number,
  channel: ChannelOf,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const xs = x.data as Float64Array;
  const g = gain.data as Float64Array;
  const b = bias.data as Float64Array;
  const y = new Float64Array(xs.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * M;
    let s = 0;
    for (let j = 0; j < M; j++) s += xs[o + j];
    const mu = s / M;
    let q = 0;
    for (let j = 0; j < M; j++) q += (xs[o + j] - mu) ** 2;
    const rs = 1 / Math.sqrt(q / M + eps);
    for (let j = 0; j < M; j++) {
      const c = channel(r, j);
      y[o + j] = (xs[o + j] - mu) * rs * g[c] + b[c];
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/**
 * [dx, dgain (C), dbias (C)] of normalizeCpu from inputs (x, mean, rstd, gain, dy[, dmean,
 * drstd]): rows x M elements, C channels.
 */
export function normalizeBackwardCpu(
  [x, mean, rstd, gain, dy, dmean, drstd]: HostTensor[],
  rows: number,
  M: number,
  C: number,
  channel: ChannelOf,
): HostTensor[] {
  const xs = x.data as Float64Array;
  const mu = mean.data as Float64Array;
  const rs = rstd.data as Float64Array;
  const g = gain.data as Float64Array;
  const d = dy.data as Float64Array;
  const dx = new Float64Array(xs.length);
  const dgain = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    const o = r * M;
    const xh = (j: number) => (xs[o + j] - mu[r]) * rs[r];
    let a = 0;
    let b = 0;
    for (let j = 0; j < M; j++) {
      const c = channel(r, j);
      a += g[c] * d[o + j];
      b += g[c] * d[o + j] * xh(j);
      dgain[c] += d[o + j] * xh(j);
      dbias[c] += d[o + j];
    }
    const dm = dmean ? dmean.data[r] : 0;
    const dr = drstd ? drstd.data[r] : 0;
    for (let j = 0; j < M; j++) {
      const u = g[channel(r, j)] * d[o + j];
      dx[o + j] = rs[r] * (u - a / M - (xh(j) * b) / M) + dm / M - (dr * rs[r] * rs[r] * xh(j)) / M;
    }
  }
  return [
    { shape: x.shape, dtype: 'f32', data: dx },
    { shape: [C], dtype: 'f32', data: dgain },
    { shape: [C], dtype: 'f32', data: dbias },
  ];
}

/** A backward op's inputs; dmean and drstd (both or neither) are the gradients that reached the statistics. */
export type NormBackwardInputs = [x: Tensor, mean: Tensor, rstd: Tensor, gain: Tensor, dy: Tensor, ...stats: [] | [dmean: Tensor, drstd: Tensor]];

/** The op's backward: its inputs -> [dx, dgain, dbias]. */
type NormBackward = (...ins: NormBackwardInputs) => Tensor[];

/**
 * The backward rule of a normalisation with outputs (y, mean, rstd): its backward op, given the
 * saved statistics' gradients when any reached them (zeros for the missing one, or for dy).
 */
export const normBackwardRule =
  (backward: NormBackward) =>
  ({ inputs: [x, gain], outputs: [, mean, rstd] }: GradContext<unknown>, [dy, dmean, drstd]: (Tensor | null)[]): Tensor[] => {
    // dy is null when only the saved statistics were used downstream.
    const dyOrZero = dy ?? zerosLike(x);
    if (!dmean && !drstd) return backward(x, mean, rstd, gain, dyOrZero);
    return backward(x, mean, rstd, gain, dyOrZero, dmean ?? zerosLike(mean), drstd ?? zerosLike(rstd));
  };

export function checkEps(op: string, eps: number): void {
  if (!(eps >= 0 && Number.isFinite(eps))) {
    throw new EngineError(`${op}: eps must be a finite number >= 0 (1e-5 is usual), got ${eps}.`);
  }
}

/** gain and bias (when given) must be f32 [C], C being `axis` of x (named for the message). */
export function checkAffine(op: string, x: TensorSpec, C: number, axis: string, gain: TensorSpec, bias: TensorSpec | null): void {
  for (const [what, t] of [['gain', gain], ['bias', bias]] as const) {
    if (!t) continue;
    rowCheck(op, what, t, 'f32');
    if (t.shape.length !== 1 || t.shape[0] !== C) {
      throw new ShapeError(`${op}: ${what} ${fmtShape(t.shape)} must be [${C}], ${axis} of x ${fmtShape(x.shape)}.`);
    }
  }
}

/**
 * A backward op's inputs (x, mean, rstd, gain, dy[, dmean, drstd]): five or seven; then `check`
 * checks x and gain and says the channels C and the statistics' shape; every statistic (and
 * its gradient) must be f32 of that shape, dy of x's. Returns C.
 */
export function checkBackwardInputs(op: string, ins: TensorSpec[], check: () => { C: number; stat: readonly number[] }): number {
  if (ins.length !== 5 && ins.length !== 7) {
    throw new ShapeError(`${op}: takes (x, mean, rstd, gain, dy) or (x, mean, rstd, gain, dy, dmean, drstd); got ${ins.length} inputs.`);
  }
  const { C, stat } = check();
  const [x, mean, rstd, , dy, dmean, drstd] = ins;
  const named: [string, TensorSpec, readonly number[]][] = [
    ['mean', mean, stat],
    ['rstd', rstd, stat],
    ['dy', dy, x.shape],
    ...(ins.length === 7 ? ([['dmean', dmean, stat], ['drstd', drstd, stat]] as [string, TensorSpec, readonly number[]][]) : []),
  ];
  for (const [what, t, want] of named) {
    rowCheck(op, what, t, 'f32');
    if (fmtShape(t.shape) !== fmtShape(want)) {
      throw new ShapeError(`${op}: ${what} ${fmtShape(t.shape)} must be ${fmtShape(want)} for x ${fmtShape(x.shape)}.`);
    }
  }
  return C;
}

/** Test inputs of a backward op: rstd (input 2) positive; everything else uniform in [-1, 1]. */
export function normBackwardGen(i: number, spec: TensorSpec, rand: () => number): HostTensor {
  const n = numel(spec.shape);
  const draw = i === 2 ? () => 0.5 + rand() * 2 : () => rand() * 2 - 1;
  return { ...spec, data: Float64Array.from({ length: n }, draw) };
}
