// Fused softmax + cross-entropy over the last axis of logits (..., V) with integer targets
// (...): loss = logsumexp(row) - row[target], per row or averaged over rows, and its backward
// as one op that writes (softmax(row) - onehot(target)) * dloss straight from the logits (no
// probability tensor is stored). Targets are GPU data, so their range cannot be checked when
// the graph is built: a target outside [0, V) is ignored, giving loss 0 and gradient 0 and not
// counting towards the mean; -1 is the conventional ignore index. A mean over no valid rows is 0.
// Label smoothing (attr `smoothing`, eps) trains against the target distribution
// (1 - eps) * onehot + eps / V: loss = (1 - eps) * nll + eps * mean over classes of -log p, and
// the gradient is softmax - ((1 - eps) * onehot + eps / V). Ignored rows still give 0.
// Not here: class weights, or a standalone log-softmax.

import { EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { crossEntropyShader } from '../../shaders/crossentropy.js';
import { rowCheck, rowDispatch, rowsOf } from './rows.js';
import { f32 as f32w, type Dispatch, type HostTensor, type KernelEnv, type KernelPlan, type OpCase, type OpDef } from './types.js';

export interface CrossEntropyAttrs {
  /** 'none': one loss per row, shaped like the targets; 'mean': their mean over valid rows. */
  reduction: 'none' | 'mean';
  /** Label smoothing weight eps in [0, 1]; 0 is plain cross-entropy. */
  smoothing: number;
}

/** Options of the user-facing functions. */
export interface CrossEntropyOptions {
  /** Label smoothing weight eps in [0, 1] (default 0: none). */
  smoothing?: number;
}

/** Invocations of the single workgroup that sums rows for the mean (a power of two). */
const MEAN_WG = 64;

function checkSmoothing(op: string, smoothing: number): void {
  if (!(smoothing >= 0 && smoothing <= 1)) {
    throw new ShapeError(`${op}: smoothing must be in [0, 1], got ${smoothing}. 0.1 is the usual choice.`);
  }
}

function checkLogitsTargets(op: string, logits: TensorSpec, targets: TensorSpec): void {
  rowCheck(op, 'logits', logits, 'f32', true);
  rowCheck(op, 'targets', targets, 'i32');
  const lead = logits.shape.slice(0, -1);
  if (fmtShape(targets.shape) !== fmtShape(lead)) {
    throw new ShapeError(
      `${op}: targets ${fmtShape(targets.shape)} must be ${fmtShape(lead)}, the shape of logits ` +
        `${fmtShape(logits.shape)} without its last (class) axis.`,
    );
  }
}

const isValid = (t: number, V: number) => t >= 0 && t < V;

function countValid(targets: Int32Array, V: number): number {
  let n = 0;
  for (const t of targets) if (isValid(t, V)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// crossEntropy

function crossEntropyCpu([logits, targets]: HostTensor[], { reduction, smoothing: eps }: CrossEntropyAttrs): HostTensor[] {
  const { rows, cols: V } = rowsOf(logits.shape);
  const x = logits.data as Float64Array;
  const t = targets.data as Int32Array;
  const loss = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (!isValid(t[r], V)) continue;
    const o = r * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, x[o + j]);
    let s = 0;
    let sx = 0;
    for (let j = 0; j < V; j++) {
      s += Math.exp(x[o + j] - m);
      sx += x[o + j];
    }
    // -log p_j = lse - x_j, so the mean over classes of -log p is lse - mean(x).
    const lse = m + Math.log(s);
    loss[r] = (1 - eps) * (lse - x[o + t[r]]) + eps * (lse - sx / V);
  }
  if (reduction === 'none') return [{ shape: targets.shape, dtype: 'f32', data: loss }];
  const total = loss.reduce((a, b) => a + b, 0);
  return [{ shape: [], dtype: 'f32', data: Float64Array.of(total / Math.max(1, countValid(t, V))) }];
}

function crossEntropyKernel([logits]: TensorSpec[], { reduction, smoothing }: CrossEntropyAttrs, env: KernelEnv): KernelPlan {
  const { rows, cols } = rowsOf(logits.shape);
  const params = [rows, cols, f32w(smoothing)];
  const perRow = rowDispatch(rows, cols, env, {
    shader: crossEntropyShader,
    entry: 'ce_fwd',
    reads: [{ in: 0 }, { in: 1 }],
    writes: [reduction === 'none' ? { out: 0 } : { tmp: 0 }],
    params,
  });
  if (reduction === 'none') return { dispatches: [perRow] };
  const mean: Dispatch = {
    shader: crossEntropyShader,
    entry: 'ce_mean',
    constants: { WG: MEAN_WG },
    reads: [{ tmp: 0 }, { in: 1 }],
    writes: [{ out: 0 }],
    params,
    workgroups: [1],
  };
  return { tmp: [rows * 4], dispatches: [perRow, mean] };
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });
const i32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'i32' });

/**
 * Inputs for logits (...lead, V): logits uniform in [-scale, scale] (other floats in [-1, 1]);
 * targets in [0, V), except that with `ignore` about a fifth are -1 and a tenth are V + 3.
 */
function ceGen(V: number, scale: number, ignore: boolean) {
  return (i: number, spec: TensorSpec, rand: () => number): HostTensor => {
    const n = numel(spec.shape);
    if (spec.dtype === 'f32') {
      const s = i === 0 ? scale : 1;
      return { ...spec, data: Float64Array.from({ length: n }, () => (rand() * 2 - 1) * s) };
    }
    const target = () => {
      const u = rand();
      if (ignore && u < 0.2) return -1;
      if (ignore && u < 0.3) return V + 3;
      return Math.min(V - 1, Math.floor(rand() * V));
    };
    return { ...spec, data: Int32Array.from({ length: n }, target) };
  };
}

function ceCase(
  lead: number[],
  V: number,
  reduction: CrossEntropyAttrs['reduction'],
  opts: { scale?: number; ignore?: boolean; name?: string; smoothing?: number } = {},
): OpCase<CrossEntropyAttrs> {
  return {
    name: opts.name,
    inputs: [f32(...lead, V), i32(...lead)],
    attrs: { reduction, smoothing: opts.smoothing ?? 0 },
    gen: ceGen(V, opts.scale ?? 2, opts.ignore ?? false),
  };
}

export const crossEntropyDef: OpDef<CrossEntropyAttrs> = {
  name: 'crossEntropy',
  shape: ([logits, targets], { reduction, smoothing }) => {
    checkLogitsTargets('crossEntropy', logits, targets);
    checkSmoothing('crossEntropy', smoothing);
    if (reduction !== 'none' && reduction !== 'mean') {
      throw new ShapeError(`crossEntropy: reduction must be 'none' or 'mean', got '${String(reduction)}'.`);
    }
    return [{ shape: reduction === 'mean' ? [] : targets.shape, dtype: 'f32' }];
  },
  kernel: (ins, _outs, attrs, env) => crossEntropyKernel(ins, attrs, env),
  cpu: crossEntropyCpu,
  backward: ({ inputs: [logits, targets], attrs }, [dloss]) => [
    crossEntropyBackward(logits, targets, dloss!, attrs.reduction, attrs.smoothing),
    null,
  ],
  cases: [
    // One class: the loss is always 0.
    ceCase([1], 1, 'none'),
    ceCase([], 37, 'none', { name: 'one row, scalar target' }),
    ceCase([5], 37, 'none', { ignore: true, name: 'ignored and out-of-range targets [5,37]' }),
    ceCase([2, 3], 7, 'none'),
    ceCase([67], 5, 'none', { ignore: true }),
    ceCase([3], 129, 'none', { scale: 50, name: 'large logits [3,129]' }),
    ceCase([4], 129, 'mean'),
    ceCase([2, 9], 11, 'mean', { ignore: true, name: 'mean over valid rows [2,9,11]' }),
    ceCase([67], 3, 'mean', { ignore: true }),
    // Label smoothing: a single class (loss 0 whatever eps), ignored rows, large logits, both
    // reductions, and eps = 1 (the uniform target alone).
    ceCase([3], 1, 'none', { smoothing: 0.1, name: 'smoothing, one class [3,1]' }),
    ceCase([5], 37, 'none', { smoothing: 0.1, ignore: true, name: 'smoothing, ignored targets [5,37]' }),
    ceCase([2, 3], 7, 'mean', { smoothing: 0.2, name: 'smoothing, mean [2,3,7]' }),
    ceCase([67], 5, 'mean', { smoothing: 0.1, ignore: true, name: 'smoothing, mean over valid rows [67,5]' }),
    ceCase([3], 129, 'none', { smoothing: 0.1, scale: 50, name: 'smoothing, large logits [3,129]' }),
    ceCase([4], 11, 'none', { smoothing: 1, name: 'smoothing 1 [4,11]' }),
  ],
};

/** Cross-entropy of each row of logits (..., V) against integer targets (...): shape (...). */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const attrs: CrossEntropyAttrs = { reduction: 'none', smoothing: opts.smoothing ?? 0 };
  return apply(crossEntropyDef, [logits, targets], attrs)[0];
}

/** Mean cross-entropy over the rows whose target is in [0, V): a scalar (0 when there are none). */
export function crossEntropyMean(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const attrs: CrossEntropyAttrs = { reduction: 'mean', smoothing: opts.smoothing ?? 0 };
  return apply(crossEntropyDef, [logits, targets], attrs)[0];
}

// ---------------------------------------------------------------------------------------------
// crossEntropyBackward

function crossEntropyBackwardCpu(
  [logits, targets, dloss]: HostTensor[],
  { reduction, smoothing: eps }: CrossEntropyAttrs,
): HostTensor[] {
  const { rows, cols: V } = rowsOf(logits.shape);
  const x = logits.data as Float64Array;
  const t = targets.data as Int32Array;
  const d = dloss.data as Float64Array;
  const dx = new Float64Array(x.length);
  const meanScale = d[0] / Math.max(1, countValid(t, V));
  for (let r = 0; r < rows; r++) {
    if (!isValid(t[r], V)) continue;
    const o = r * V;
    const scale = reduction === 'mean' ? meanScale : d[r];
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, x[o + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x[o + j] - m);
    for (let j = 0; j < V; j++) {
      const target = (j === t[r] ? 1 - eps : 0) + eps / V;
      dx[o + j] = (Math.exp(x[o + j] - m) / s - target) * scale;
    }
  }
  return [{ shape: logits.shape, dtype: 'f32', data: dx }];
}

function crossEntropyBackwardKernel([logits]: TensorSpec[], { reduction, smoothing }: CrossEntropyAttrs, env: KernelEnv): KernelPlan {
  const { rows, cols } = rowsOf(logits.shape);
  const params = [rows, cols, f32w(smoothing)];
  const ins = [{ in: 0 }, { in: 1 }, { in: 2 }];
  if (reduction === 'none') {
    return { dispatches: [rowDispatch(rows, cols, env, { shader: crossEntropyShader, entry: 'ce_bwd', reads: ins, writes: [{ out: 0 }], params })] };
  }
  return {
    tmp: [4],
    dispatches: [
      {
        shader: crossEntropyShader,
        entry: 'ce_count',
        constants: { WG: MEAN_WG },
        reads: [{ in: 1 }],
        writes: [{ tmp: 0 }],
        params,
        workgroups: [1],
      },
      rowDispatch(rows, cols, env, { shader: crossEntropyShader, entry: 'ce_bwd_mean', reads: [...ins, { tmp: 0 }], writes: [{ out: 0 }], params }),
    ],
  };
}

export const crossEntropyBackwardDef: OpDef<CrossEntropyAttrs> = {
  name: 'crossEntropyBackward',
  shape: ([logits, targets, dloss], { reduction, smoothing }) => {
    const op = 'crossEntropyBackward';
    checkLogitsTargets(op, logits, targets);
    checkSmoothing(op, smoothing);
    rowCheck(op, 'dloss', dloss, 'f32');
    const want = reduction === 'mean' ? [] : targets.shape;
    if (fmtShape(dloss.shape) !== fmtShape(want)) {
      throw new ShapeError(
        `${op}: dloss ${fmtShape(dloss.shape)} must be ${fmtShape(want)} for reduction '${reduction}' ` +
          `and logits ${fmtShape(logits.shape)}.`,
      );
    }
    return [{ shape: logits.shape, dtype: 'f32' }];
  },
  kernel: (ins, _outs, attrs, env) => crossEntropyBackwardKernel(ins, attrs, env),
  cpu: crossEntropyBackwardCpu,
  // Second derivatives (the softmax Hessian) are not implemented; first-order training does not need them.
  backward: () => {
    throw new EngineError(
      'crossEntropyBackward: second derivatives of crossEntropy are not implemented. ' +
        'Differentiate the loss once, or detach() the logits before taking a gradient of a gradient.',
    );
  },
  cases: [
    // The gradient check of crossEntropy covers the math; these run the kernels on odd inputs.
    { ...ceCase([1], 1, 'none'), inputs: [f32(1, 1), i32(1), f32(1)], gradInputs: [] },
    { ...ceCase([67], 5, 'none', { ignore: true }), inputs: [f32(67, 5), i32(67), f32(67)], gradInputs: [] },
    { ...ceCase([3], 37, 'mean', { ignore: true }), inputs: [f32(3, 37), i32(3), f32()], gradInputs: [] },
    // Every target ignored: no valid rows, so the gradient is all zeros.
    { ...ceCase([4], 6, 'mean'), inputs: [f32(4, 6), i32(4), f32()], gen: allIgnored, gradInputs: [] },
    // Smoothing with every target ignored: still all zeros, not -eps / V.
    { ...ceCase([4], 6, 'mean', { smoothing: 0.1 }), inputs: [f32(4, 6), i32(4), f32()], gen: allIgnored, gradInputs: [] },
    {
      ...ceCase([67], 5, 'none', { ignore: true, smoothing: 0.1 }),
      inputs: [f32(67, 5), i32(67), f32(67)],
      gradInputs: [],
    },
  ],
};

function allIgnored(_i: number, spec: TensorSpec, rand: () => number): HostTensor {
  const n = numel(spec.shape);
  if (spec.dtype === 'i32') return { ...spec, data: new Int32Array(n).fill(-1) };
  return { ...spec, data: Float64Array.from({ length: n }, () => rand() * 2 - 1) };
}

/** d loss / d logits of crossEntropy (reduction 'none', dloss (...)) or crossEntropyMean (dloss []). */
export function crossEntropyBackward(
  logits: Tensor,
  targets: Tensor,
  dloss: Tensor,
  reduction: CrossEntropyAttrs['reduction'],
  smoothing = 0,
): Tensor {
  return apply(crossEntropyBackwardDef, [logits, targets, dloss], { reduction, smoothing })[0];
}

export const crossEntropyOps = { crossEntropy: crossEntropyDef, crossEntropyBackward: crossEntropyBackwardDef };
