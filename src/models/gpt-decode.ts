// Incremental decoding of a Gpt with a key/value cache: one compiled plan takes one token id and
// its position, runs it through the model's own embeddings, LayerNorms and Linears (applyLinear,
// so LoRA adapters apply), writes that position's keys and values into per-layer caches that
// persist between runs, attends over cache positions 0..pos only, and returns the next-token
// logits (V). A prompt is fed token by token through the same plan (prefill), so a token costs
// one position's work instead of a whole window's.
// The caches are parameters outside the model (never trained, never saved): each run computes
// the cache with this position's row replaced, attends over it, and the plan's `updates` copy
// it back into the parameter's storage at the end of the run. Positions past pos hold stale
// rows from earlier text; the mask gives them no weight.
// The maths is the model's causal attention, softmax(q k^T / sqrt(hs)) v over positions <= pos,
// written with existing ops (matmuls over heads as a batch dim, where, softmax): no new kernel.
// Per layer that is 11 dispatches: the cache row written by one where over k and v together,
// the mask added in the scores' matmul epilogue, k and v read out of the cache as views (and
// q, k, v out of the projection as views too when C is a multiple of 64).
// Cached keys and values belong to the weights they were computed with: after the weights
// change (a training step), reset and prefill again (sampleTokensCached does, every call).
// A mixed-precision model decodes in f32 (its weights are f32; only training rounds operands).
// When the cache is full (pos = blockSize), the most recent `keep` tokens are fed again from
// position 0 (a re-prefill) and decoding goes on from there.
// Not here: choosing tokens (sample.ts), batched decoding, the model (gpt.ts).

import { ConfigError, InputError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Plan } from '../executor.js';
import { applyLayerNorm, applyLinear } from '../nn/layers.js';
import { add, equal, lessEqual, where } from '../ops/binary.js';
import { embedding } from '../ops/embedding.js';
import { matmul } from '../ops/matmul.js';
import { reshape, sliceAxis } from '../ops/shape.js';
import { softmax } from '../ops/softmax.js';
import { mulScalar } from '../ops/unary.js';
import { constant, input, noGrad, parameter, type Tensor } from '../tensor.js';
import type { TokenDecoder } from '../sample.js';
import { gptStages, type Gpt } from './gpt.js';

export interface GptDecoderOptions {
  /**
   * Tokens fed again when the cache is full, the most recent ones (0 to blockSize - 1; default
   * floor(blockSize / 2)). A re-prefill costs `keep` runs and buys blockSize - keep cheap
   * tokens: half the window keeps at least half a window of context for about one extra run
   * per generated token. blockSize - 1 gives exactly the sliding window of full recomputation
   * (every token then costs a whole re-prefill).
   */
  keep?: number;
}

/** One layer's keys and values, heads first so that no permute is needed: (2, H, T, hs), k then v. */
export type KvCache = Tensor;

/** The graph of one decoding step: logits (1, 1, V) and the caches' new values. */
export interface GptDecodeGraph {
  logits: Tensor; // (1, 1, V)
  updates: [Tensor, Tensor][];
}

/** Zeroed caches for every layer of `model`, named decode.h.<l>.kv_cache. */
export function createKvCaches(model: Gpt): KvCache[] {
  const { nHead: H, nEmbd: C, blockSize: T } = model.config;
  const hs = C / H;
  return model.blocks.map((_, l) => parameter(`decode.h.${l}.kv_cache`, new Float32Array(2 * H * T * hs), [2, H, T, hs]));
}

/**
 * One step for `token` (1, 1) i32 at position `pos` (1, 1) i32 over `caches`: the model's
 * forward for that position, as gptForward computes it for a window whose earlier positions
 * the caches hold.
 */
export function gptDecodeStep(model: Gpt, token: Tensor, pos: Tensor, caches: KvCache[]): GptDecodeGraph {
  const { nHead: H, nEmbd: C, blockSize: T } = model.config;
  const hs = C / H;
  return noGrad(() => {
    const g = gptStages(model, { precision: 'f32' });
    const iota = (shape: number[]) => constant(Int32Array.from({ length: T }, (_, t) => t), shape, 'i32');
    const p = reshape(pos, [1, 1, 1]);
    const atPos = equal(iota([T, 1]), p); // (1, T, 1): the cache row this token writes
    // Added to the scores inside their matmul: 0 where a head may attend (rows 0..pos), else -1e30.
    const seen = lessEqual(iota([1, 1, T]), p); // (1, 1, T)
    const mask = where(seen, constant(new Float32Array(H * T), [H, 1, T]), constant([-1e30], [])); // (H, 1, T)
    let x = add(embedding(model.wte, token), embedding(model.wpe, pos)); // (1, 1, C)
    const updates: [Tensor, Tensor][] = [];
    model.blocks.forEach((blk, l) => {
      const qkv = g.qkv(l, x); // (1, 1, 3C)
      // One position's q and (k, v) are (1, 1, H hs): as (H, 1, hs) each head is a batch row.
      const q = mulScalar(reshape(sliceAxis(qkv, 2, 0, C), [H, 1, hs]), 1 / Math.sqrt(hs)); // (H, 1, hs)
      const kv = where(atPos, reshape(sliceAxis(qkv, 2, C, 3 * C), [2, H, 1, hs]), caches[l]); // (2, H, T, hs)
      updates.push([caches[l], kv]);
      const k = reshape(sliceAxis(kv, 0, 0, 1), [H, T, hs]); // (H, T, hs)
      const v = reshape(sliceAxis(kv, 0, 1, 2), [H, T, hs]); // (H, T, hs)
      const att = softmax(matmul(q, k, { transB: true, residual: mask })); // (H, 1, T)
      const y = reshape(matmul(att, v), [1, 1, C]); // (1, 1, C): heads side by side, as attentionPacked
      x = applyLinear(blk.attn.cProj, y, { residual: x }); // (1, 1, C)
      const hidden = applyLinear(blk.mlp.cFc, applyLayerNorm(blk.ln2, x), { activation: 'gelu' }); // (1, 1, 4C)
      x = applyLinear(blk.mlp.cProj, hidden, { residual: x }); // (1, 1, C)
    });
    return { logits: g.head(x), updates }; // (1, 1, V)
  });
}

/** A compiled decoding step with its caches and the tokens they hold. */
export class GptDecoder implements TokenDecoder {
  /** Re-prefills done since creation (each when a token arrived with the cache full). */
  refills = 0;
  /** The tokens whose keys and values the caches hold, oldest first. */
  private held: number[] = [];
  readonly keep: number;

  constructor(
    readonly engine: Engine,
    readonly model: Gpt,
    readonly plan: Plan,
    readonly caches: KvCache[],
    opts: GptDecoderOptions = {},
  ) {
    this.keep = decoderKeep(model, opts);
  }

  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  get blockSize(): number {
    return this.model.config.blockSize;
  }

  /** Tokens in the cache: the position the next token is written at. */
  get position(): number {
    return this.held.length;
  }

  /** The tokens the cache holds, oldest first. */
  get tokens(): Int32Array {
    return Int32Array.from(this.held);
  }

  /**
   * Feeds one token at the next position and returns the logits (V) for the token after it.
   * With the cache full, first feeds the most recent `keep` tokens again from position 0.
   */
  async feed(token: number): Promise<Float32Array> {
    this.checkTokens([token], 'feed');
    return this.feedChecked([token]);
  }

  /** Feeds `tokens` in order (one run each, reading back only the last) and returns the last logits (V). */
  async prefill(tokens: ArrayLike<number>): Promise<Float32Array> {
    if (tokens.length === 0) throw new InputError('GptDecoder.prefill: no tokens given; pass at least one token id.');
    this.checkTokens(tokens, 'prefill');
    return this.feedChecked(Array.from(tokens));
  }

  /** Forgets every token: the next one goes to position 0, over zeroed caches. */
  async reset(): Promise<void> {
    this.held = [];
    for (const c of this.caches) await this.engine.writeParameter(c, new Float32Array(c.size));
  }

  /** Returns the plan's buffers and the caches' storage; the model's parameters stay. */
  dispose(): void {
    this.plan.dispose();
    for (const c of this.caches) this.engine.freeParameter(c);
  }

  private checkTokens(tokens: ArrayLike<number>, what: string): void {
    const V = this.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!(Number.isInteger(t) && t >= 0 && t < V)) {
        const at = tokens.length > 1 ? ` at index ${i}` : '';
        throw new InputError(`GptDecoder.${what}: token id ${t}${at} is not in the vocabulary 0..${V - 1}; encode text with the model's tokenizer.`);
      }
    }
  }

  /** Feeds checked, non-empty `tokens`, reading back the logits after the last. */
  private async feedChecked(tokens: number[]): Promise<Float32Array> {
    let logits: Float32Array | null = null;
    for (let i = 0; i < tokens.length; i++) {
      if (this.held.length === this.blockSize) {
        const kept = this.keep > 0 ? this.held.slice(-this.keep) : [];
        this.held = [];
        this.refills++;
        for (const t of kept) await this.run(t, false);
      }
      logits = await this.run(tokens[i], i === tokens.length - 1);
    }
    return logits!;
  }

  private async run(token: number, read: boolean): Promise<Float32Array | null> {
    const feeds = { token: [token], pos: [this.held.length] };
    const out = await this.plan.run(feeds, read ? ['logits'] : []);
    this.held.push(token);
    return read ? (out['logits'] as Float32Array) : null;
  }
}

/**
 * Compiles `model`'s decoding step (inputs 'token' and 'pos', (1, 1) i32; output 'logits'
 * (1, 1, V)) with fresh caches. Parameters the model has not placed yet get storage now, so
 * create a trainer's optimizer first if one is coming.
 */
export async function createGptDecoder(engine: Engine, model: Gpt, opts: GptDecoderOptions = {}): Promise<GptDecoder> {
  decoderKeep(model, opts); // checked before anything is built
  const caches = createKvCaches(model);
  const token = input('token', [1, 1], 'i32');
  const pos = input('pos', [1, 1], 'i32');
  const { logits, updates } = gptDecodeStep(model, token, pos, caches);
  const plan = await engine.compile({ outputs: { logits }, updates, label: 'sampling' });
  return new GptDecoder(engine, model, plan, caches, opts);
}

/** The checked `keep` of `opts` for `model`. */
function decoderKeep(model: Gpt, opts: GptDecoderOptions): number {
  const T = model.config.blockSize;
  const keep = opts.keep ?? Math.floor(T / 2);
  if (!(Number.isInteger(keep) && keep >= 0 && keep < T)) {
    throw new ConfigError(`GptDecoder: keep must be an integer from 0 to blockSize - 1 = ${T - 1}, got ${opts.keep}.`);
  }
  return keep;
}
