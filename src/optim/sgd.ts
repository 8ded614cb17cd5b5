// Plain stochastic gradient descent as graph updates: p <- p - lr * dp. The learning rate is
// a tensor (usually a scalar input fed every step), so schedules change it without
// recompiling. Kept for graph-level use; fused.ts updates every parameter in one dispatch.

import { mul, sub } from '../ops/elementwise.js';
import { constant, type Tensor } from '../tensor.js';

/** The update pairs for compile({ updates }): one new value per parameter. */
export function sgd(params: Tensor[], grads: Tensor[], lr: Tensor | number): [Tensor, Tensor][] {
  const rate = typeof lr === 'number' ? constant([lr], []) : lr;
  return params.map((p, i) => [p, sub(p, mul(grads[i], rate))]);
}
