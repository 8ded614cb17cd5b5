// Reverse-mode automatic differentiation, graph to graph: from the graph of a value it builds
// the graph of its gradients out of ordinary ops, so gradients can be compiled into the same
// plan as the forward pass, and differentiated again (a gradient penalty needs that).
// Gradients of a tensor used several times are summed. Tensors built under noGrad() or
// through detach() do not carry gradients.
// Not here: running anything (the engine does), updating parameters (optim/).

import { InputError, ShapeError, fmtShape } from './errors.js';
import { add, onesLike, zerosLike } from './ops/elementwise.js';
import { cast } from './ops/unary.js';
import { topoOrder, type OpNode, type Tensor } from './tensor.js';

/**
 * Gradients of sum_i <outputs[i], seeds[i]> with respect to each of `wrt`. With one scalar
 * output and no seed this is d(output)/d(wrt). Tensors `outputs` do not depend on get zeros.
 */
export function gradients(outputs: Tensor[], wrt: Tensor[], seeds?: Tensor[]): Tensor[] {
  for (const x of wrt) {
    if (!x.requiresGrad) {
      throw new InputError(
        `gradients: ${x} does not carry gradients (data, a constant, or built under detach/noGrad); build the graph from watch(x) to ask for its gradient.`,
      );
    }
  }
  const grads = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    grads.set(t, prev ? add(prev, g) : g);
  };
  outputs.forEach((y, i) => {
    const seed = seeds?.[i] ?? onesLike(y);
    if (fmtShape(seed.shape) !== fmtShape(y.shape)) {
      throw new ShapeError(`gradients: seed ${fmtShape(seed.shape)} does not match output ${fmtShape(y.shape)}.`);
    }
    accumulate(y, seed);
  });

  // Visit op nodes from the outputs back towards the leaves.
  const nodes: OpNode[] = [];
  const seen = new Set<OpNode>();
  for (const t of topoOrder(outputs)) {
    if (t.source.kind === 'op' && t.requiresGrad && !seen.has(t.source.node)) {
      seen.add(t.source.node);
      nodes.push(t.source.node);
    }
  }
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n];
    const douts = node.outputs.map((o) => grads.get(o) ?? null);
    if (node.def.backward === 'none' || douts.every((d) => d === null)) continue;
    const dins = node.def.backward({ inputs: node.inputs, outputs: node.outputs, attrs: node.attrs }, douts);
    node.inputs.forEach((x, i) => {
      const dx = dins[i];
      if (!dx || !x.requiresGrad) return;
      if (fmtShape(dx.shape) !== fmtShape(x.shape)) {
        throw new ShapeError(
          `${node.def.name} backward: gradient ${fmtShape(dx.shape)} for input ${i} of shape ${fmtShape(x.shape)}.`,
        );
      }
      accumulate(x, dx);
    });
  }
  // Gradients are f32 throughout, those of f16 tensors included (src/ops/half.ts says why).
  return wrt.map((x) => grads.get(x) ?? zerosLike(x.dtype === 'f16' ? cast(x, 'f32') : x));
}

/** d(loss)/d(each of wrt) for a scalar loss. */
export function grad(loss: Tensor, wrt: Tensor[]): Tensor[] {
  if (loss.size !== 1) {
    throw new ShapeError(`grad: the loss must be a scalar, got shape ${fmtShape(loss.shape)}; reduce it first (mean or sum).`);
  }
  return gradients([loss], wrt);
}
