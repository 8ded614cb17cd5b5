// The matmul op's registry cases (test/ops.test.ts runs each against the CPU reference and
// finite differences): transpositions, batch broadcasting, every epilogue, narrow products, f16
// operands and outputs. Also the plain attributes the cases and callers start from.
// Not here: the op itself (matmul.ts), or each tiling on awkward shapes (test/matmul.test.ts).

import type { TensorSpec } from '../tensor.js';
import type { MatmulAttrs } from './matmul.js';
import type { OpCase } from './types.js';

const f = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const h = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f16' });
// f16 operands: their gradients (f32) are checked too; the backward rounds dz to f16 (relative
// error 2^-11 per element), so the gradient tolerance is looser than f32's.
const half = { gradInputs: [0, 1], gradTol: 1e-2 };
/** A plain product: no transposition, epilogue or f16 output. */
export const plainMatmulAttrs: MatmulAttrs = { transA: false, transB: false, act: 'none', bias: false, residual: false, savePre: false, gate: 'none', halfOut: false };
const base = plainMatmulAttrs;
const with_ = (o: Partial<MatmulAttrs>): MatmulAttrs => ({ ...base, ...o });

export const matmulCases: OpCase<MatmulAttrs>[] = [
  { inputs: [f(1, 1), f(1, 1)], attrs: base },
  { inputs: [f(37, 29), f(29, 33)], attrs: base },
  { inputs: [f(5, 7), f(9, 7)], attrs: with_({ transB: true }) },
  { inputs: [f(7, 5), f(7, 9)], attrs: with_({ transA: true }) },
  { inputs: [f(7, 5), f(9, 7)], attrs: with_({ transA: true, transB: true }) },
  { name: 'rows fold (B, T, C) x (C, N)', inputs: [f(2, 3, 5, 4), f(4, 6)], attrs: base },
  { name: 'batch broadcast both ways', inputs: [f(2, 1, 5, 4), f(3, 4, 6)], attrs: base },
  { name: 'batched transA, shared b', inputs: [f(3, 4, 5), f(4, 6)], attrs: with_({ transA: true }) },
  { name: 'batched transB vs shared a', inputs: [f(5, 4), f(3, 6, 4)], attrs: with_({ transB: true }) },
  { name: 'bias relu', inputs: [f(6, 5), f(5, 7), f(7)], attrs: with_({ bias: true, act: 'relu', savePre: true }) },
  {
    name: 'bias gelu residual, pre kept',
    inputs: [f(2, 6, 5), f(5, 7), f(7), f(2, 6, 7)],
    attrs: with_({ bias: true, act: 'gelu', residual: true, savePre: true }),
  },
  {
    name: 'gelu recomputed in backward',
    inputs: [f(4, 6), f(5, 6), f(5)],
    attrs: with_({ transB: true, bias: true, act: 'gelu' }),
  },
  { name: 'residual only, transA', inputs: [f(6, 4), f(6, 5), f(4, 5)], attrs: with_({ transA: true, residual: true }) },
  { name: 'gelu gate, transB, batched', inputs: [f(2, 4, 5), f(7, 5), f(2, 4, 7)], attrs: with_({ transB: true, gate: 'gelu' }) },
  { name: 'bias silu residual', inputs: [f(6, 5), f(5, 7), f(7), f(6, 7)], attrs: with_({ bias: true, act: 'silu', residual: true }) },
  { name: 'silu gate', inputs: [f(5, 6), f(6, 3), f(5, 3)], attrs: with_({ gate: 'silu' }) },
  // Both sides past SMALL_EDGE: the 32x16 register block (the cases above are mostly narrow).
  { name: 'register block, bias relu residual, transB', inputs: [f(19, 6), f(10, 6), f(10), f(19, 10)], attrs: with_({ transB: true, bias: true, act: 'relu', residual: true }) },
  { name: 'narrow: one logit column', inputs: [f(70, 9), f(9, 1)], attrs: base },
  { name: 'narrow: 2-row weight gradient', inputs: [f(67, 2), f(67, 12)], attrs: with_({ transA: true }) },
  { name: 'f16 x f16, odd sizes', inputs: [h(37, 29), h(29, 33)], attrs: base, ...half },
  { name: 'f16 x f16, register block, bias gelu', inputs: [h(19, 7), h(7, 21), f(21)], attrs: with_({ bias: true, act: 'gelu', savePre: true }), ...half, gradInputs: [0, 1, 2] },
  { name: 'f32 x f16, transB, batched, residual', inputs: [f(2, 5, 9), h(11, 9), f(2, 5, 11)], attrs: with_({ transB: true, residual: true }), ...half, gradInputs: [0, 1, 2] },
  { name: 'f16 x f32, transA, odd element count', inputs: [h(5, 3), f(5, 7)], attrs: with_({ transA: true }), ...half },
  { name: 'f16 rows fold, shared f16 b', inputs: [h(2, 3, 5), h(5, 6)], attrs: base, ...half },
  // K and N multiples of 4: f16 runs read two words at a time (QUAD_A, QUAD_B), rows clamped past M.
  { name: 'f16 quad runs, register block, rows fold', inputs: [h(2, 37, 8), h(8, 20)], attrs: base, ...half },
  { name: 'f16 quad a only (transB), batched b', inputs: [h(6, 12), h(3, 7, 12)], attrs: with_({ transB: true }), ...half },
  { name: 'f16 quad b only (transA), narrow', inputs: [h(12, 5), h(12, 8)], attrs: with_({ transA: true }), ...half },
  // f16 outputs: the GPU rounds its f32 sums once, the reference its float64 ones, so the two
  // may differ by one f16 step (2^-11 relative). Finite differences of a rounded output are
  // meaningless: test/mixed-precision.test.ts checks these gradients against f32 outputs'.
  { name: 'f16 output, odd rows', inputs: [h(19, 7), h(7, 22)], attrs: with_({ halfOut: true }), tol: 1e-3, gradInputs: [] },
  { name: 'f16 output and pre, register block, bias gelu', inputs: [h(37, 9), h(9, 34), f(34)], attrs: with_({ bias: true, act: 'gelu', savePre: true, halfOut: true }), tol: 1e-3, gradInputs: [] },
  { name: 'f16 output, batched transB, residual', inputs: [f(2, 5, 9), h(12, 9), f(2, 5, 12)], attrs: with_({ transB: true, residual: true, halfOut: true }), tol: 1e-3, gradInputs: [] },
  { name: 'gelu gate reading an f16 z', inputs: [f(2, 4, 5), f(7, 5), h(2, 4, 7)], attrs: with_({ transB: true, gate: 'gelu' }) },
];
