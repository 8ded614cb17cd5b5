// Embedding lookup: weight (V, C) indexed by integer ids (...) gives (..., C); and its backward,
// embeddingBackward, a deterministic scatter-add of the output gradient into (V, C). An id
// outside [0, V) is never used as an index: its output row is zeros and its gradient is dropped
// (ids are GPU data, so the range cannot be checked when the graph is built).
// embeddingBackward is linear in dout, and its own gradient is a lookup again, so the pair can
// be differentiated any number of times.
// Not here: padding indices, max-norm renormalisation, or the nn.Embedding module (src/nn).

import { ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { embeddingShader } from '../../shaders/embedding.js';
import { grid1d } from './grid.js';
import { rowCheck } from './rows.js';
import type { HostTensor, KernelEnv, OpCase, OpDef } from './types.js';

export interface EmbeddingBackwardAttrs {
  /** Rows of the weight the gradient is for (V). */
  vocab: number;
}

const WG = 64;

/**
 * Columns per backward invocation. Each invocation rescans all ids, so fewer, wider blocks cost
 * fewer id reads; a GPU wants more invocations, a CPU-emulated adapter fewer (SwiftShader,
 * V 96, C 128, N 512: 5.4 ms with 32 columns, 52 ms with 4).
 */
const colsPerInvocation = (env: KernelEnv) => (env.isSoftware ? 32 : 4);

const isValid = (id: number, V: number) => id >= 0 && id < V;

// ---------------------------------------------------------------------------------------------
// embedding

function embeddingCpu([weight, ids]: HostTensor[]): HostTensor[] {
  const [V, C] = weight.shape;
  const w = weight.data as Float64Array;
  const idx = ids.data as Int32Array;
  const out = new Float64Array(idx.length * C);
  for (let n = 0; n < idx.length; n++) {
    if (!isValid(idx[n], V)) continue;
    for (let c = 0; c < C; c++) out[n * C + c] = w[idx[n] * C + c];
  }
  return [{ shape: [...ids.shape, C], dtype: 'f32', data: out }];
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const i32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'i32' });

/** Ids in [0, V), with an out-of-range one (V, or -1) at every seventh position. */
const idsIn = (V: number) => (_i: number, spec: TensorSpec, rand: () => number): HostTensor => {
  if (spec.dtype === 'f32') return { ...spec, data: Float64Array.from({ length: numel(spec.shape) }, () => rand() * 2 - 1) };
  const id = (k: number) => (k % 7 === 3 ? (k % 2 ? V : -1) : Math.min(V - 1, Math.floor(rand() * V)));
  return { ...spec, data: Int32Array.from({ length: numel(spec.shape) }, (_, k) => id(k)) };
};

const embeddingCases: OpCase<object>[] = [
  { inputs: [f32(1, 1), i32(1)], attrs: {}, gen: idsIn(1) },
  { inputs: [f32(7, 5), i32(3)], attrs: {}, gen: idsIn(7) },
  // Few rows, many lookups: every row is hit several times (the scatter-add accumulates).
  { inputs: [f32(5, 13), i32(2, 19)], attrs: {}, gen: idsIn(5) },
  { inputs: [f32(37, 129), i32(11)], attrs: {}, gen: idsIn(37) },
  { inputs: [f32(3, 2), i32()], attrs: {}, gen: idsIn(3), name: 'scalar id' },
];

export const embeddingDef: OpDef<object> = {
  name: 'embedding',
  shape: ([weight, ids]) => {
    rowCheck('embedding', 'weight', weight, 'f32');
    rowCheck('embedding', 'ids', ids, 'i32');
    if (weight.shape.length !== 2) {
      throw new ShapeError(`embedding: weight ${fmtShape(weight.shape)} must be (V, C): one row per id.`);
    }
    return [{ shape: [...ids.shape, weight.shape[1]], dtype: 'f32' }];
  },
  kernel: ([weight, ids], _outs, _attrs, env) => {
    const [V, C] = weight.shape;
    const n = numel(ids.shape);
    return {
      dispatches: [
        {
          shader: embeddingShader,
          entry: 'emb_fwd',
          constants: { WG },
          reads: [{ in: 0 }, { in: 1 }],
          writes: [{ out: 0 }],
          params: [n, C, V],
          workgroups: grid1d(n * C, WG, env.limits.maxComputeWorkgroupsPerDimension),
        },
      ],
    };
  },
  cpu: embeddingCpu,
  backward: ({ inputs: [weight, ids] }, [dout]) => [embeddingBackward(ids, dout!, weight.shape[0]), null],
  cases: embeddingCases,
};

/** Rows of weight (V, C) picked by integer ids (...): shape (..., C); out-of-range ids give zeros. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return apply(embeddingDef, [weight, ids], {})[0];
}

// ---------------------------------------------------------------------------------------------
// embeddingBackward

function embeddingBackwardCpu([ids, dout]: HostTensor[], { vocab: V }: EmbeddingBackwardAttrs): HostTensor[] {
  const C = dout.shape[dout.shape.length - 1];
  const idx = ids.data as Int32Array;
  const d = dout.data as Float64Array;
  const dw = new Float64Array(V * C);
  for (let n = 0; n < idx.length; n++) {
    if (!isValid(idx[n], V)) continue;
    for (let c = 0; c < C; c++) dw[idx[n] * C + c] += d[n * C + c];
  }
  return [{ shape: [V, C], dtype: 'f32', data: dw }];
}

export const embeddingBackwardDef: OpDef<EmbeddingBackwardAttrs> = {
  name: 'embeddingBackward',
  shape: ([ids, dout], { vocab }) => {
    const op = 'embeddingBackward';
    rowCheck(op, 'ids', ids, 'i32');
    rowCheck(op, 'dout', dout, 'f32');
    if (fmtShape(dout.shape.slice(0, -1)) !== fmtShape(ids.shape) || dout.shape.length !== ids.shape.length + 1) {
      throw new ShapeError(`${op}: dout ${fmtShape(dout.shape)} must be ids ${fmtShape(ids.shape)} plus one (C) axis.`);
    }
    if (!Number.isInteger(vocab) || vocab < 1) {
      throw new ShapeError(`${op}: vocab must be a positive integer, got ${vocab}.`);
    }
    return [{ shape: [vocab, dout.shape[dout.shape.length - 1]], dtype: 'f32' }];
  },
  kernel: ([ids, dout], _outs, { vocab }, env) => {
    const C = dout.shape[dout.shape.length - 1];
    const cols = colsPerInvocation(env);
    return {
      dispatches: [
        {
          shader: embeddingShader,
          entry: 'emb_bwd',
          constants: { WG, COLS: cols },
          reads: [{ in: 0 }, { in: 1 }],
          writes: [{ out: 0 }],
          params: [numel(ids.shape), C, vocab],
          workgroups: grid1d(vocab * Math.ceil(C / cols), WG, env.limits.maxComputeWorkgroupsPerDimension),
        },
      ],
    };
  },
  cpu: embeddingBackwardCpu,
  // Linear in dout: the gradient of <dweight, g> with respect to dout is g looked up at ids.
  backward: ({ inputs: [ids] }, [dw]) => [null, embedding(dw!, ids)],
  cases: [
    { inputs: [i32(4), f32(4, 3)], attrs: { vocab: 6 }, gen: idsIn(6) },
    { inputs: [i32(3, 23), f32(3, 23, 37)], attrs: { vocab: 5 }, gen: idsIn(5) },
    { inputs: [i32(1), f32(1, 1)], attrs: { vocab: 1 }, gen: idsIn(1) },
  ],
};

/** The gradient of embedding's weight: dout (..., C) summed into rows ids (...) of (vocab, C). */
export function embeddingBackward(ids: Tensor, dout: Tensor, vocab: number): Tensor {
  return apply(embeddingBackwardDef, [ids, dout], { vocab })[0];
}

export const embeddingOps = { embedding: embeddingDef, embeddingBackward: embeddingBackwardDef };
