// 2D resampling of NCHW tensors by an integer factor k, the down and up steps of a U-Net:
// avgPool2d (k x k windows, stride k) and upsampleNearest2d (each pixel repeated k x k times).
// Both carry a `scale` attribute: avgPool2d is scale * (window sum), scale = 1 / k^2 for an
// average; upsampleNearest2d is scale * (repeated pixel), scale = 1 for a plain upsample. With
// equal k and scale the two are exact adjoints (transposes) of each other, so each one's
// backward is a single application of the other, with no extra scaling op, and both can be
// differentiated any number of times.
// Not here: strided or padded pooling, max pooling, bilinear upsampling, or layouts other than
// NCHW; convolutions (conv.ts).

import { DTypeError, EngineError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { resampleShader } from '../../shaders/resample.js';
import { grid1d } from './grid.js';
import { f32 as word, type Dispatch, type HostTensor, type KernelEnv, type OpDef } from './types.js';

export interface ResampleAttrs {
  /** The factor: window side of the pool, block side of the upsample. */
  k: number;
  /** Multiplies the result: 1 / k^2 makes the pool an average; 1 is a plain upsample. */
  scale: number;
}

/** Invocations per workgroup. */
const WG = 256;

function checkResample(op: string, x: TensorSpec, { k, scale }: ResampleAttrs, pool: boolean): void {
  if (x.dtype !== 'f32') {
    throw new DTypeError(`${op}: x must be f32, got ${x.dtype} ${fmtShape(x.shape)}. Convert it with cast(x, 'f32').`);
  }
  if (x.shape.length !== 4) {
    throw new ShapeError(`${op}: x ${fmtShape(x.shape)} must be (N, C, H, W); reshape it to rank 4 (NCHW).`);
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new EngineError(`${op}: k must be a positive integer (2 halves or doubles H and W), got ${k}.`);
  }
  if (!Number.isFinite(scale)) {
    throw new EngineError(`${op}: scale must be a finite number, got ${scale}.`);
  }
  const [, , H, W] = x.shape;
  if (pool && (H % k !== 0 || W % k !== 0)) {
    throw new ShapeError(
      `${op}: H = ${H} and W = ${W} of x ${fmtShape(x.shape)} must both be multiples of k = ${k}; ` +
        `pad or crop x to (${Math.ceil(H / k) * k}, ${Math.ceil(W / k) * k}) or (${Math.floor(H / k) * k}, ` +
        `${Math.floor(W / k) * k}) first.`,
    );
  }
}

/** The one dispatch of either op; `small` is the pooled side's shape (N, C, Hs, Ws). */
function resampleDispatch(entry: string, small: readonly number[], { k, scale }: ResampleAttrs, env: KernelEnv): Dispatch {
  const n = numel(small);
  const ws = small[3];
  return {
    shader: resampleShader,
    entry,
    constants: { WG, K: k },
    reads: [{ in: 0 }],
    writes: [{ out: 0 }],
    params: [n, ws, ws * k, word(scale)],
    workgroups: grid1d(n, WG, env.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** y = scale * window sums (pool) or x = repeated y times scale (upsample), on the host. */
function resampleCpu(src: HostTensor, { k, scale }: ResampleAttrs, pool: boolean): HostTensor {
  const [N, C, h, w] = src.shape;
  const [H, W] = pool ? [h, w] : [h * k, w * k]; // the large side
  const [Hs, Ws] = [H / k, W / k];
  const xs = src.data as Float64Array;
  const out = new Float64Array(N * C * (pool ? Hs * Ws : H * W));
  for (let p = 0; p < N * C; p++) {
    for (let i = 0; i < Hs; i++) {
      for (let j = 0; j < Ws; j++) {
        const small = (p * Hs + i) * Ws + j;
        let s = 0;
        for (let a = 0; a < k; a++) {
          for (let b = 0; b < k; b++) {
            const large = (p * H + i * k + a) * W + j * k + b;
            if (pool) s += xs[large];
            else out[large] = scale * xs[small];
          }
        }
        if (pool) out[small] = scale * s;
      }
    }
  }
  return { shape: pool ? [N, C, Hs, Ws] : [N, C, H, W], dtype: 'f32', data: out };
}

const f32 = (...shape: number[]): TensorSpec => ({ shape, dtype: 'f32' });

// ---------------------------------------------------------------------------------------------
// avgPool2d

export const avgPool2dDef: OpDef<ResampleAttrs> = {
  name: 'avgPool2d',
  shape: ([x], attrs) => {
    checkResample('avgPool2d', x, attrs, true);
    const [N, C, H, W] = x.shape;
    return [f32(N, C, H / attrs.k, W / attrs.k)];
  },
  kernel: (_ins, [y], attrs, env) => ({ dispatches: [resampleDispatch('pool_sum', y.shape, attrs, env)] }),
  cpu: ([x], attrs) => [resampleCpu(x, attrs, true)],
  // The adjoint of a scaled window sum spreads each gradient over its window with that scale.
  backward: ({ attrs }, [dy]) => [dy && apply(upsampleNearest2dDef, [dy], attrs)[0]],
  cases: [
    { inputs: [f32(1, 1, 2, 2)], attrs: { k: 2, scale: 0.25 } },
    { inputs: [f32(2, 3, 4, 6)], attrs: { k: 2, scale: 0.25 } },
    { inputs: [f32(1, 6, 8, 8)], attrs: { k: 2, scale: 0.25 } },
    { inputs: [f32(2, 1, 6, 3)], attrs: { k: 3, scale: 1 / 9 } },
    // k = 1 is a copy; a plain window sum (scale 1).
    { inputs: [f32(2, 3, 5, 5)], attrs: { k: 1, scale: 1 } },
    { inputs: [f32(1, 3, 4, 4)], attrs: { k: 2, scale: 1 } },
  ],
};

/** Average over k x k windows with stride k: x (N, C, H, W) -> (N, C, H / k, W / k). */
export function avgPool2d(x: Tensor, k = 2): Tensor {
  return apply(avgPool2dDef, [x], { k, scale: 1 / (k * k) })[0];
}

// ---------------------------------------------------------------------------------------------
// upsampleNearest2d

export const upsampleNearest2dDef: OpDef<ResampleAttrs> = {
  name: 'upsampleNearest2d',
  shape: ([x], attrs) => {
    checkResample('upsampleNearest2d', x, attrs, false);
    const [N, C, H, W] = x.shape;
    return [f32(N, C, H * attrs.k, W * attrs.k)];
  },
  kernel: ([x], _outs, attrs, env) => ({ dispatches: [resampleDispatch('upsample_nearest', x.shape, attrs, env)] }),
  cpu: ([x], attrs) => [resampleCpu(x, attrs, false)],
  // The adjoint of repeating a pixel over a block is summing the block, with the same scale.
  backward: ({ attrs }, [dy]) => [dy && apply(avgPool2dDef, [dy], attrs)[0]],
  cases: [
    { inputs: [f32(1, 1, 1, 1)], attrs: { k: 2, scale: 1 } },
    { inputs: [f32(2, 3, 3, 5)], attrs: { k: 2, scale: 1 } },
    { inputs: [f32(1, 6, 8, 8)], attrs: { k: 2, scale: 1 } },
    { inputs: [f32(2, 1, 5, 5)], attrs: { k: 3, scale: 1 } },
    { inputs: [f32(1, 3, 3, 3)], attrs: { k: 1, scale: 1 } },
    // The backward of avgPool2d(k = 2) is this op with scale 1 / 4.
    { inputs: [f32(2, 3, 4, 3)], attrs: { k: 2, scale: 0.25 } },
  ],
};

/** Nearest-neighbour upsampling by k: x (N, C, H, W) -> (N, C, H * k, W * k). */
export function upsampleNearest2d(x: Tensor, k = 2): Tensor {
  return apply(upsampleNearest2dDef, [x], { k, scale: 1 })[0];
}

export const resampleOps = { avgPool2d: avgPool2dDef, upsampleNearest2d: upsampleNearest2dDef };
