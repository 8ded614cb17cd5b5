// Building blocks with named parameters: Linear (a weight (C_in, C_out) and an optional bias,
// applied by one matmul with its fused bias/activation/residual epilogue) and LayerNorm (a gain
// and an optional bias). Each is a plain record of tensors plus a function that applies it, so
// a model is a tree of records whose parameter names read like PyTorch's state_dict keys. A
// Linear may carry a LoRA adapter (lora.ts), added to its output by applyLinear.
// Not here: initialisation schemes (init.ts; callers pass the weight's init tensor), attention
// or any model (models/).

import { constant, parameter, type Tensor } from '../tensor.js';
import { matmul, type MatmulActivation } from '../ops/matmul.js';
import { layerNorm, type LayerNormOptions } from '../ops/layernorm.js';
import { add } from '../ops/binary.js';
import { full, gelu, relu, silu } from '../ops/unary.js';
import { loraDelta, type Lora, type LoraApplyOptions } from './lora.js';

/** y = x @ weight + bias; weight is (C_in, C_out), the layout of GPT-2's Conv1D checkpoints. */
export interface Linear {
  weight: Tensor; // (C_in, C_out)
  bias: Tensor | null; // (C_out)
  /** A low-rank update trained beside a frozen weight (attachLora in models/gpt-finetune.ts). */
  lora?: Lora;
}

/** A Linear named `${name}.weight` / `${name}.bias`; the bias starts at zero. */
export function linear(name: string, weightInit: Tensor, bias: boolean): Linear {
  const cOut = weightInit.shape[weightInit.rank - 1];
  return {
    weight: parameter(`${name}.weight`, weightInit),
    bias: bias ? parameter(`${name}.bias`, full([cOut], 0)) : null,
  };
}

export interface LinearOptions {
  /** Applied after the bias, inside the matmul. */
  activation?: MatmulActivation;
  /** Added last, inside the matmul (a residual connection). */
  residual?: Tensor;
  /** Mixed precision: multiply f16 copies of x and the weight, summing in f32. */
  f16?: boolean;
  /** Store the output (and what the activation's backward keeps) as f16; the width must be even. */
  f16Output?: boolean;
  /** The adapter's dropout seed, if the Linear has one and is training. */
  lora?: LoraApplyOptions;
}

const activations = { none: (x: Tensor) => x, relu, gelu, silu } satisfies Record<MatmulActivation, (x: Tensor) => Tensor>;

/**
 * (..., C_in) -> (..., C_out), as one matmul dispatch with its epilogue. With an adapter its
 * update rides in the epilogue's residual slot, or, under an activation (which the epilogue
 * applies before the residual), is added to the pre-activation.
 */
export function applyLinear(l: Linear, x: Tensor, opts: LinearOptions = {}): Tensor {
  const { lora, ...mm } = opts;
  const bias = l.bias ?? undefined;
  if (!l.lora) return matmul(x, l.weight, { ...mm, bias });
  const delta = loraDelta(l.lora, x, { ...lora, f16: mm.f16 });
  const { activation, residual } = mm;
  if (!activation || activation === 'none') return matmul(x, l.weight, { ...mm, bias, residual: residual ? add(residual, delta) : delta });
  const y = activations[activation](matmul(x, l.weight, { f16: mm.f16, bias, residual: delta }));
  return residual ? add(y, residual) : y;
}

/** Normalisation over the last axis with a gain (starts at 1) and an optional bias (at 0). */
export interface LayerNorm {
  weight: Tensor; // (C)
  bias: Tensor | null; // (C)
  eps: number;
}

export function layerNormLayer(name: string, channels: number, bias: boolean, eps = 1e-5): LayerNorm {
  return {
    weight: parameter(`${name}.weight`, full([channels], 1)),
    bias: bias ? parameter(`${name}.bias`, full([channels], 0)) : null,
    eps,
  };
}

/** (..., C) -> (..., C). A bias-free norm passes a zero constant, which receives no gradient. */
export function applyLayerNorm(ln: LayerNorm, x: Tensor, opts: LayerNormOptions = {}): Tensor {
  const c = ln.weight.shape[0];
  return layerNorm(x, ln.weight, ln.bias ?? constant(new Float32Array(c), [c]), ln.eps, opts);
}

/** The parameters of a Linear or LayerNorm, weight first. */
export function paramsOf(layer: Linear | LayerNorm): Tensor[] {
  return layer.bias ? [layer.weight, layer.bias] : [layer.weight];
}
