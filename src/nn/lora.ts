// LoRA (low-rank adaptation, Hu et al. 2021): a frozen Linear y = x W + b learns through a
// low-rank update beside it, y = x W + b + (alpha / r) * dropout(x) A B, with A (C_in, r) drawn
// as PEFT draws its lora_A (uniform in +-1/sqrt(C_in)) and B (r, C_out) zero, so a freshly
// adapted layer computes exactly what the base layer did. Only A and B are trained: r (C_in +
// C_out) values in place of C_in C_out. Merging folds the update into the weight,
// W' = W + (alpha / r) A B, after which the layer needs no adapter code.
// Not here: which layers of a model get adapters and the files they are saved in
// (models/gpt-finetune.ts), or the Linear itself (layers.ts).

import { ConfigError } from '../errors.js';
import { matmul } from '../ops/matmul.js';
import { dropout, randomUniform } from '../ops/random.js';
import { mulScalar } from '../ops/unary.js';
import { parameter, type Tensor } from '../tensor.js';

export interface LoraConfig {
  /** The rank r of the update (the width of A's columns and B's rows). */
  rank: number;
  /** The update is scaled by alpha / rank (PEFT's lora_alpha): a rank can change without retuning the learning rate. */
  alpha: number;
  /** Dropout on the adapter's input while training (PEFT's lora_dropout). */
  dropout: number;
}

export const loraDefaults: LoraConfig = { rank: 8, alpha: 16, dropout: 0 };

/** The adapter of one Linear: its two factors and its scale. */
export interface Lora {
  a: Tensor; // (C_in, r)
  b: Tensor; // (r, C_out)
  /** alpha / rank. */
  scale: number;
  dropout: number;
}

export function checkLoraConfig(c: LoraConfig): LoraConfig {
  if (!(Number.isInteger(c.rank) && c.rank >= 1)) throw new ConfigError(`LoRA rank must be a positive integer, got ${c.rank}.`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) throw new ConfigError(`LoRA alpha must be a positive number, got ${c.alpha}.`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ConfigError(`LoRA dropout must be in [0, 1), got ${c.dropout}.`);
  return c;
}

/** An adapter for a (C_in, C_out) weight named `${name}.weight`: parameters `${name}.lora_a` and `${name}.lora_b`. */
export function loraAdapter(name: string, cIn: number, cOut: number, config: LoraConfig, seed: number, stream: number): Lora {
  const c = checkLoraConfig(config);
  const bound = 1 / Math.sqrt(cIn);
  return {
    a: parameter(`${name}.lora_a`, randomUniform([cIn, c.rank], seed, -bound, bound, stream)),
    b: parameter(`${name}.lora_b`, new Float32Array(c.rank * cOut), [c.rank, cOut]),
    scale: c.alpha / c.rank,
    dropout: c.dropout,
  };
}

export interface LoraApplyOptions {
  /** An i32 scalar seed and its stream: turns the adapter's dropout on while training. */
  dropout?: { seed: Tensor; offset: number };
  f16?: boolean;
}

/** The update (alpha / r) dropout(x) A B of x (..., C_in): (..., C_out). */
export function loraDelta(l: Lora, x: Tensor, opts: LoraApplyOptions = {}): Tensor {
  const d = opts.dropout;
  const xin = d && l.dropout > 0 ? dropout(x, l.dropout, d.seed, d.offset) : x;
  // The scale goes on the narrow (..., r) middle: r values per row instead of C_out.
  return matmul(mulScalar(matmul(xin, l.a, { f16: opts.f16 }), l.scale), l.b, { f16: opts.f16 });
}

/** W + scale A B on the host, in float64 sums: the merged weight (C_in, C_out). */
export function mergeLora(weight: Float32Array, a: Float32Array, b: Float32Array, cIn: number, cOut: number, rank: number, scale: number): Float32Array {
  const out = new Float32Array(weight.length);
  for (let i = 0; i < cIn; i++) {
    for (let j = 0; j < cOut; j++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += a[i * rank + k] * b[k * cOut + j];
      out[i * cOut + j] = weight[i * cOut + j] + scale * s;
    }
  }
  return out;
}
