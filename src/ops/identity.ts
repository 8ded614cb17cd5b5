// detach: the identity that stops gradients; watch: the identity that starts them. Both share
// their input's buffer (no GPU work). detach's output does not require grad, so autodiff treats
// it as a constant; watch's output does, even when its input is data (an input, a constant, a
// detached value), so a gradient can be asked for with respect to it, as a gradient penalty
// asks for the critic's gradient at its input points.

import { apply, type Tensor } from '../tensor.js';
import type { OpDef } from './types.js';

export const detachDef: OpDef<object> = {
  name: 'detach',
  shape: ([x]) => [{ shape: x.shape, dtype: x.dtype }],
  kernel: () => ({ alias: 0 }),
  cpu: ([x]) => [{ shape: x.shape, dtype: x.dtype, data: x.data.slice() }],
  backward: 'none',
  cases: [
    { inputs: [{ shape: [37], dtype: 'f32' }], attrs: {} },
    { inputs: [{ shape: [3, 5], dtype: 'i32' }], attrs: {} },
  ],
};

/** The same values with no gradient flowing back through them. */
export function detach(x: Tensor): Tensor {
  return apply(detachDef, [x], {})[0];
}

export const watchDef: OpDef<object> = {
  name: 'watch',
  shape: ([x]) => [{ shape: x.shape, dtype: x.dtype }],
  kernel: () => ({ alias: 0 }),
  cpu: ([x]) => [{ shape: x.shape, dtype: x.dtype, data: x.data.slice() }],
  backward: (_ctx, [dy]) => [dy],
  cases: [{ inputs: [{ shape: [2, 7], dtype: 'f32' }], attrs: {} }],
};

/** The same values, requiring a gradient: gradients with respect to the result can be asked for. */
export function watch(x: Tensor): Tensor {
  const [y] = apply(watchDef, [x], {});
  y.requiresGrad = x.dtype === 'f32';
  return y;
}

export const identityOps = { detach: detachDef, watch: watchDef };
