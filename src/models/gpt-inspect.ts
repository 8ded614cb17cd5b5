// Looking inside a trained GPT: the attention weights of one layer and head on a prompt. The
// fused attention kernel never materialises the (T, T) weights, so they are recomputed here with
// the unfused composition softmax(q k^T / sqrt(hs) + causal mask) from the model's own
// parameters, after running the blocks below the chosen layer exactly as gptForward does
// (without dropout).
// Not here: the training forward (gpt.ts), drawing the map (the page).

import { InputError, fmtShape } from '../errors.js';
import type { Engine } from '../engine.js';
import { applyLayerNorm, applyLinear } from '../nn/layers.js';
import { attentionPacked } from '../ops/attention.js';
import { add } from '../ops/binary.js';
import { embedding } from '../ops/embedding.js';
import { matmul } from '../ops/matmul.js';
import { permute, reshape, sliceAxis } from '../ops/shape.js';
import { softmax } from '../ops/softmax.js';
import { mulScalar } from '../ops/unary.js';
import { constant, type Tensor } from '../tensor.js';
import type { Gpt } from './gpt.js';

/** Far below any real score: exp of it underflows to exactly 0, unlike a NaN-prone -Infinity. */
const MASKED = -1e30;

/** q, k, v of a block's input x (B, T, C), each (B, H, T, hs), as gptForward splits them. */
function headsOf(model: Gpt, l: number, x: Tensor): Tensor[] {
  const [B, T, C] = x.shape;
  const H = model.config.nHead;
  const hs = C / H;
  const blk = model.blocks[l];
  const qkv = applyLinear(blk.attn.cAttn, applyLayerNorm(blk.ln1, x)); // (B, T, 3C)
  const heads = permute(reshape(qkv, [B, T, 3, H, hs]), [2, 0, 3, 1, 4]); // (3, B, H, T, hs)
  return [0, 1, 2].map((i) => reshape(sliceAxis(heads, 0, i, i + 1), [B, H, T, hs])); // (B, H, T, hs)
}

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
  const hs = c.nEmbd / c.nHead;
  const pos = constant(Int32Array.from({ length: T }, (_, t) => t), [T], 'i32');
  let x = add(embedding(model.wte, idx), embedding(model.wpe, pos)); // (B, T, C)
  for (let l = 0; l < layer; l++) {
    const blk = model.blocks[l];
    const qkv = applyLinear(blk.attn.cAttn, applyLayerNorm(blk.ln1, x)); // (B, T, 3C)
    x = applyLinear(blk.attn.cProj, attentionPacked(qkv, c.nHead, { causal: true }), { residual: x });
    const hidden = applyLinear(blk.mlp.cFc, applyLayerNorm(blk.ln2, x), { activation: 'gelu' }); // (B, T, 4C)
    x = applyLinear(blk.mlp.cProj, hidden, { residual: x });
  }
  const [q, k] = headsOf(model, layer, x);
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
