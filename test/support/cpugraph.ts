// Evaluates a graph on the CPU by running each node's float64 reference: the specification
// of a whole model, for checking compiled plans and gradients of composite graphs.

import type { HostTensor } from '../../src/ops/types.js';
import { topoOrder, type Tensor } from '../../src/tensor.js';

/** Values of `targets`; inputs come from `feeds`, parameters from `params` (else their init data). */
export function evalCpu(
  targets: Tensor[],
  feeds: Record<string, ArrayLike<number>> = {},
  params = new Map<Tensor, ArrayLike<number>>(),
): HostTensor[] {
  const values = new Map<Tensor, HostTensor>();
  const host = (t: Tensor, data: ArrayLike<number>): HostTensor => ({
    shape: t.shape,
    dtype: t.dtype,
    data: t.dtype === 'i32' ? Int32Array.from(data) : Float64Array.from(data),
  });
  for (const t of topoOrder(targets)) {
    if (values.has(t)) continue;
    const s = t.source;
    if (s.kind === 'input') values.set(t, host(t, feeds[s.name]));
    else if (s.kind === 'constant') values.set(t, host(t, s.data));
    else if (s.kind === 'parameter') {
      const given = params.get(t) ?? (s.init instanceof Float32Array ? s.init : undefined);
      if (!given) throw new Error(`evalCpu: no values for parameter '${s.name}'`);
      values.set(t, host(t, given));
    } else {
      const outs = s.node.def.cpu(s.node.inputs.map((x) => values.get(x)!), s.node.attrs);
      s.node.outputs.forEach((o, j) => values.set(o, outs[j]));
    }
  }
  return targets.map((t) => values.get(t)!);
}
