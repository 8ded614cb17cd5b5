// detach: the identity that stops gradients. It shares its input's buffer (no GPU work),
// and its output does not require grad, so autodiff treats it as a constant.

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

export const identityOps = { detach: detachDef };
