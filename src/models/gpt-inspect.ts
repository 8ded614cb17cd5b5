// Looking inside a trained GPT: the attention weights of one layer and head on a prompt. The
// fused attention kernel never materialises the (T, T) weights, so they are recomputed here with
// the unfused composition softmax(q k^T / sqrt(hs) + causal mask) from the model's own
// parameters, after running the blocks below the chosen layer with gptForward's own stages
// (gptStages; in f32 and without dropout).
// Not here: the training forward (gpt.ts), drawing the map (the page).

import { InputError, fmtShape } from '../errors.js';
import type { Engine } from '../engine.js';
import { add } from '../ops/binary.js';
import { matmul } from '../ops/matmul.js';
import { permute, reshape, sliceAxis } from '../ops/shape.js';
import { softmax } from '../ops/softmax.js';
import { mulScalar } from '../ops/unary.js';
import { constant, type Tensor } from '../tensor.js';
import { gptStages, type Gpt } from './gpt.js';

/** Far below any real score: exp of it underflows to exactly 0, unlike a NaN-prone -Infinity. */
const MASKED = -1e30;

/**
 * The graph of the attention weights (1, H, T, T) of block `layer` for token ids idx (1, T):
 * row i holds query position i's weights over key positions 0..T-1 (zero after i).
 */
export function gptAttentionWeights(model: Gpt, idx: Tensor, layer: number): Tensor {
  const c = model.config;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < c.nLayer)) {
    throw new InputError(`gptAttentionWeights: layer ${layer} is outside [0, ${c.nLayer}); the model has ${c.nLayer} blocks.`);
  }
  if (idx.rank !== 2 || idx.shape[0] !== 1 || idx.shape[1] < 1 || idx.shape[1] > c.blockSize) {
    throw new InputError(
      `gptAttentionWeights: idx must be (1, T) with 1 <= T <= blockSize ${c.blockSize}, got ${fmtShape(idx.shape)}.`,
    );
  }
  const T = idx.shape[1];
  const H = c.nHead;
  const hs = c.nEmbd / H;
  // The blocks below `layer` as gptForward runs them, in f32 and without dropout.
  const g = gptStages(model, { precision: 'f32' });
  let x = g.embed(idx); // (B, T, C)
  for (let l = 0; l < layer; l++) x = g.block(l, x);
  const heads = permute(reshape(g.qkv(layer, x), [1, T, 3, H, hs]), [2, 0, 3, 1, 4]); // (3, B, H, T, hs)
  const [q, k] = [0, 1].map((i) => reshape(sliceAxis(heads, 0, i, i + 1), [1, H, T, hs])); // (B, H, T, hs)
  const scores = mulScalar(matmul(q, k, { transB: true }), 1 / Math.sqrt(hs)); // (B, H, T, T)
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = MASKED;
  return softmax(add(scores, constant(mask, [T, T]))); // (B, H, T, T)
}

/** The (T, T) attention weights of `head` in block `layer` on `tokens`, as rows of numbers. */
export async function attentionWeights(
  engine: Engine,
  model: Gpt,
  tokens: Int32Array,
  layer: number,
  head: number,
): Promise<number[][]> {
  const H = model.config.nHead;
  if (!(Number.isInteger(head) && head >= 0 && head < H)) {
    throw new InputError(`attentionWeights: head ${head} is outside [0, ${H}); each block has ${H} heads.`);
  }
  const T = tokens.length;
  const w = await engine.read(gptAttentionWeights(model, constant(tokens, [1, T], 'i32'), layer)); // (1, H, T, T)
  return Array.from({ length: T }, (_, i) => Array.from(w.subarray((head * T + i) * T, (head * T + i + 1) * T)));
}
