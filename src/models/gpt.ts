// A GPT language model in the manner of nanoGPT / GPT-2: token and position embeddings,
// nLayer pre-LayerNorm blocks (causal multi-head flash attention, then a 4x GELU MLP, each
// added back to the residual stream), a final LayerNorm and a head tied to the token embedding
// (logits = x @ wte^T). Parameter names follow GPT-2's state_dict (transformer.wte.weight,
// transformer.h.0.attn.c_attn.weight, ...) with Linear weights laid out (C_in, C_out) as in
// GPT-2's Conv1D checkpoints. Dropout (embeddings, attention weights, residual branches) draws
// from a seed fed as an i32 input, so one compiled step drops differently at every step.
// Not here: text and batches (data/), sampling (sample.ts), checkpoints (checkpoint/), the
// kernels (ops/).

import { ConfigError, DTypeError, ShapeError, fmtShape } from '../errors.js';
import { createOptimizer, type FusedOptimizer, type OptimizerConfig } from '../optim/fused.js';
import type { Engine } from '../engine.js';
import type { Feeds, Plan } from '../executor.js';
import { gptNormal } from '../nn/init.js';
import { applyLayerNorm, applyLinear, layerNormLayer, linear, paramsOf, type LayerNorm, type Linear } from '../nn/layers.js';
import { attentionPacked } from '../ops/attention.js';
import { add } from '../ops/binary.js';
import { crossEntropyMean } from '../ops/crossentropy.js';
import { embedding } from '../ops/embedding.js';
import { matmul } from '../ops/matmul.js';
import { dropout } from '../ops/random.js';
import { constant, input, parameter, type Tensor } from '../tensor.js';
import { ATTENTION_MAX_HS } from '../../shaders/attention.js';
import type { Batch } from '../data/batches.js';

export interface GptConfig {
  /** Tokens in the vocabulary (V): the tokenizer's vocabSize. */
  vocabSize: number;
  /** Longest context in tokens (T max): the size of the position embedding. */
  blockSize: number;
  /** Transformer blocks. */
  nLayer: number;
  /** Attention heads per block; nEmbd / nHead (the head size hs) must be at most 64. */
  nHead: number;
  /** Width of the residual stream (C). */
  nEmbd: number;
  /** Dropout probability on embeddings, attention weights and residual branches while training. */
  dropout: number;
  /** Biases in Linear layers and LayerNorms (GPT-2: true; a little faster and better: false). */
  bias: boolean;
  /** Seed of the initial weights (and the base of the per-step dropout seeds). */
  seed: number;
  /**
   * 'mixed': every Linear and the head multiply f16 copies of their inputs and weights, summing
   * in f32, and the activations between two products (q, k, v, the attention output, the MLP's
   * hidden layer) are stored f16; weights, optimizer state, gradients, the residual stream and
   * the normalisations stay f32. Training then uses dynamic loss scaling unless the optimizer
   * config says otherwise. 'f32': f32 throughout.
   */
  precision: GptPrecision;
}

export type GptPrecision = 'f32' | 'mixed';

/** The architecture of a preset: a config without vocabulary, dropout, bias or seed. */
export type GptShape = Pick<GptConfig, 'nLayer' | 'nHead' | 'nEmbd' | 'blockSize'>;

/**
 * Presets, smallest first. Parameter counts at vocabSize 65 with biases (gptParameterCount,
 * position embeddings and the tied head counted once; checked by the tests):
 *   tiny   106,304  trains in minutes on a CPU-emulated adapter (SwiftShader)
 *   mini   413,312  a small character model (~0.41M)
 *   base 3,208,960  a laptop GPU
 *   small 10,770,816 a real GPU; nanoGPT's shakespeare_char shape (10.65M without biases
 *                    and position embeddings, as nanoGPT reports it)
 */
export const gptPresets = {
  tiny: { nLayer: 2, nHead: 4, nEmbd: 64, blockSize: 32 },
  mini: { nLayer: 2, nHead: 4, nEmbd: 128, blockSize: 64 },
  base: { nLayer: 4, nHead: 4, nEmbd: 256, blockSize: 128 },
  small: { nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256 },
} as const satisfies Record<string, GptShape>;

export type GptPresetName = keyof typeof gptPresets;

export const gptDefaults: GptConfig = { vocabSize: 65, ...gptPresets.tiny, dropout: 0, bias: true, seed: 1, precision: 'f32' };

/** A full config from a preset (default 'tiny') and overrides; checks every field. */
export function gptConfig(overrides: Partial<GptConfig> & { preset?: GptPresetName } = {}): GptConfig {
  const { preset, ...rest } = overrides;
  if (preset !== undefined && !(preset in gptPresets)) {
    throw new ConfigError(`gptConfig: unknown preset '${preset}'; use one of ${Object.keys(gptPresets).join(', ')}.`);
  }
  const c: GptConfig = { ...gptDefaults, ...(preset ? gptPresets[preset] : {}), ...rest };
  for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) throw new ConfigError(`gptConfig: ${k} must be a positive integer, got ${c[k]}.`);
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new ConfigError(`gptConfig: nEmbd ${c.nEmbd} is not a multiple of nHead ${c.nHead}; pick a width divisible by the heads.`);
  }
  if (c.nEmbd / c.nHead > ATTENTION_MAX_HS) {
    throw new ConfigError(
      `gptConfig: head size nEmbd / nHead = ${c.nEmbd / c.nHead} exceeds the attention kernel's ${ATTENTION_MAX_HS}; use more heads.`,
    );
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ConfigError(`gptConfig: dropout must be in [0, 1), got ${c.dropout}.`);
  if (!Number.isInteger(c.seed)) throw new ConfigError(`gptConfig: seed must be an integer, got ${c.seed}.`);
  if (c.precision !== 'f32' && c.precision !== 'mixed') {
    throw new ConfigError(`gptConfig: precision must be 'f32' or 'mixed', got ${JSON.stringify(c.precision)}.`);
  }
  if (c.precision === 'mixed' && (c.nEmbd / c.nHead) % 2 !== 0) {
    // f16 rows are whole 32-bit words: an f16 q, k, v or attention output needs an even head size.
    throw new ConfigError(`gptConfig: mixed precision needs an even head size, got nEmbd / nHead = ${c.nEmbd / c.nHead}; change nHead or use 'f32'.`);
  }
  return c;
}

/** Parameters of a model with this config (the tied head counted once), without building it. */
export function gptParameterCount(c: GptConfig): number {
  const C = c.nEmbd;
  const b = c.bias ? 1 : 0;
  const norm = C + b * C;
  const block = 2 * norm + (C * 3 * C + b * 3 * C) + (C * C + b * C) + (C * 4 * C + b * 4 * C) + (4 * C * C + b * C);
  return c.vocabSize * C + c.blockSize * C + c.nLayer * block + norm;
}

export interface GptBlock {
  ln1: LayerNorm;
  attn: { cAttn: Linear; cProj: Linear };
  ln2: LayerNorm;
  mlp: { cFc: Linear; cProj: Linear };
}

export interface Gpt {
  readonly config: GptConfig;
  /** Token embedding (V, C), also the output head. */
  readonly wte: Tensor;
  /** Position embedding (T max, C). */
  readonly wpe: Tensor;
  readonly blocks: GptBlock[];
  readonly lnF: LayerNorm;
  /** Every parameter, in state_dict order. */
  readonly params: Tensor[];
}

/**
 * The model's parameters, initialised as GPT-2: weights N(0, 0.02), residual projections
 * (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 nLayer)), biases 0, norm gains 1. The values are
 * drawn on the GPU when an engine first needs them; the seed and each weight's stream fix them.
 */
export function createGpt(config: Partial<GptConfig> & { preset?: GptPresetName } = {}): Gpt {
  const c = gptConfig(config);
  const { nEmbd: C, nLayer: L, bias } = c;
  let stream = 0;
  const normal = (shape: number[], residual = false) =>
    gptNormal(shape, c.seed, { offset: stream++, residualLayers: residual ? L : 0 });
  const wte = parameter('transformer.wte.weight', normal([c.vocabSize, C]));
  const wpe = parameter('transformer.wpe.weight', normal([c.blockSize, C]));
  const blocks: GptBlock[] = [];
  for (let l = 0; l < L; l++) {
    const h = `transformer.h.${l}`;
    blocks.push({
      ln1: layerNormLayer(`${h}.ln_1`, C, bias),
      attn: {
        cAttn: linear(`${h}.attn.c_attn`, normal([C, 3 * C]), bias),
        cProj: linear(`${h}.attn.c_proj`, normal([C, C], true), bias),
      },
      ln2: layerNormLayer(`${h}.ln_2`, C, bias),
      mlp: {
        cFc: linear(`${h}.mlp.c_fc`, normal([C, 4 * C]), bias),
        cProj: linear(`${h}.mlp.c_proj`, normal([4 * C, C], true), bias),
      },
    });
  }
  const lnF = layerNormLayer('transformer.ln_f', C, bias);
  const params = [
    wte,
    wpe,
    ...blocks.flatMap((b) => [b.ln1, b.attn.cAttn, b.attn.cProj, b.ln2, b.mlp.cFc, b.mlp.cProj].flatMap(paramsOf)),
    ...paramsOf(lnF),
  ];
  return { config: c, wte, wpe, blocks, lnF, params };
}

/** Parameters by state_dict name, the form saveCheckpoint and loadCheckpoint take. */
export function gptStateDict(model: Gpt): Record<string, Tensor> {
  return Object.fromEntries(model.params.map((p) => [p.label, p]));
}

export interface GptForwardOptions {
  /** Targets (B, T) i32: adds the mean cross-entropy as `loss`. */
  targets?: Tensor;
  /** An i32 scalar seed: turns dropout on (at config.dropout). Omit it to evaluate. */
  dropoutSeed?: Tensor;
}

export interface GptOutput {
  logits: Tensor; // (B, T, V)
  loss: Tensor | null; // ()
}

/**
 * gptForward's stages, for a forward that stops inside the model or looks into it
 * (gpt-inspect.ts): the embeddings, one block, a block's packed q k v, and the head. The
 * residual stream x is (B, T, C).
 */
export interface GptStages {
  /** Token plus position embeddings of token ids idx (B, T): the stream x. */
  embed(idx: Tensor): Tensor;
  /** Block l's packed q, k, v (B, T, 3C) from the stream x: its first LayerNorm and projection. */
  qkv(l: number, x: Tensor): Tensor;
  /** The stream after block l (attention, then the MLP, each added back to x). */
  block(l: number, x: Tensor): Tensor;
  /** The final LayerNorm and the head tied to the token embedding: logits (B, T, V). */
  head(x: Tensor): Tensor;
}

export interface GptStageOptions {
  /** An i32 scalar seed: turns dropout on (at config.dropout). Omit it to evaluate. */
  dropoutSeed?: Tensor;
  /** Overrides config.precision ('f32' computes a mixed model's graph in f32). */
  precision?: GptPrecision;
}

/** The stages of `model`'s forward, with dropout when a seed is given. */
export function gptStages(model: Gpt, opts: GptStageOptions = {}): GptStages {
  const c = model.config;
  const H = c.nHead;
  const seed = opts.dropoutSeed;
  const p = seed ? c.dropout : 0;
  // Dropout sites share the seed; each draws from its own stream (offset) of it.
  const drop = (x: Tensor, offset: number) => (p > 0 ? dropout(x, p, seed!, offset) : x);
  const f16 = (opts.precision ?? c.precision) === 'mixed';
  // LoRA adapters' dropout (nn/lora.ts) draws from streams after the model's own: 4 per block.
  const adapter = (l: number, k: number) => (seed ? { lora: { dropout: { seed, offset: 1 + 3 * c.nLayer + 4 * l + k } } } : {});
  // Mixed precision: what feeds a product (a normalised x, q k v, the MLP's hidden layer) is stored f16.
  const half = { f16Output: f16 };
  // A residual branch: fused into the projection's epilogue when nothing sits in between.
  const branch = (x: Tensor, proj: Linear, h: Tensor, offset: number, l: number, k: number) =>
    p > 0 ? add(x, drop(applyLinear(proj, h, { f16, ...adapter(l, k) }), offset)) : applyLinear(proj, h, { residual: x, f16, ...adapter(l, k) });
  const qkv = (l: number, x: Tensor) => {
    const blk = model.blocks[l];
    return applyLinear(blk.attn.cAttn, applyLayerNorm(blk.ln1, x, half), { f16, ...half, ...adapter(l, 0) }); // (B, T, 3C)
  };
  return {
    embed(idx) {
      const T = idx.shape[1];
      const pos = constant(Int32Array.from({ length: T }, (_, t) => t), [T], 'i32');
      return drop(add(embedding(model.wte, idx), embedding(model.wpe, pos)), 0); // (B, T, C)
    },
    qkv,
    block(l, x) {
      const blk = model.blocks[l];
      // The heads are read out of qkv in place and written side by side: no permutes.
      const y = attentionPacked(qkv(l, x), H, { causal: true, dropout: p > 0 ? { p, seed: seed!, offset: 1 + 3 * l } : undefined }); // (B, T, C)
      x = branch(x, blk.attn.cProj, y, 2 + 3 * l, l, 1);
      const hidden = applyLinear(blk.mlp.cFc, applyLayerNorm(blk.ln2, x, half), { activation: 'gelu', f16, ...half, ...adapter(l, 2) }); // (B, T, 4C)
      return branch(x, blk.mlp.cProj, hidden, 3 + 3 * l, l, 3);
    },
    head: (x) => matmul(applyLayerNorm(model.lnF, x, half), model.wte, { transB: true, f16 }), // (B, T, V)
  };
}

/** The forward graph for token ids idx (B, T) i32, T <= blockSize. */
export function gptForward(model: Gpt, idx: Tensor, opts: GptForwardOptions = {}): GptOutput {
  const c = model.config;
  if (idx.dtype !== 'i32') throw new DTypeError(`gptForward: idx must be i32 token ids, got ${idx.dtype}.`);
  if (idx.rank !== 2 || idx.shape[1] > c.blockSize) {
    throw new ShapeError(
      `gptForward: idx must be (B, T) with T <= blockSize ${c.blockSize}, got ${fmtShape(idx.shape)}; crop the context.`,
    );
  }
  const g = gptStages(model, { dropoutSeed: opts.dropoutSeed });
  let x = g.embed(idx); // (B, T, C)
  for (let l = 0; l < c.nLayer; l++) x = g.block(l, x);
  const logits = g.head(x); // (B, T, V)
  return { logits, loss: opts.targets ? crossEntropyMean(logits, opts.targets) : null };
}

export interface GptTrainConfig {
  /** Windows per step (B). */
  batch: number;
  /** Tokens per window (T); default blockSize. */
  block?: number;
  /** The fused optimizer; default AdamW, lr 1e-3, betas (0.9, 0.99), weight decay 0.1, clip 1. */
  optimizer?: Partial<OptimizerConfig>;
  /**
   * The parameters to train (default: every one of model.params). The others are frozen: no
   * gradient is computed for them and they get no optimizer state (gpt-finetune.ts).
   */
  trainable?: Tensor[];
}

/** The Linears of a model's blocks, in block order. */
export function gptLinears(model: Gpt): Linear[] {
  return model.blocks.flatMap((b) => [b.attn.cAttn, b.attn.cProj, b.mlp.cFc, b.mlp.cProj]);
}

/** Whether a training step draws dropout: the model's own, or a LoRA adapter's. */
export function gptDropsOut(model: Gpt): boolean {
  return model.config.dropout > 0 || gptLinears(model).some((l) => (l.lora?.dropout ?? 0) > 0);
}

export const gptTrainDefaults: OptimizerConfig = { kind: 'adamw', lr: 1e-3, beta2: 0.99, weightDecay: 0.1, maxGradNorm: 1 };

export interface StepResult {
  loss: number;
  /** The global gradient norm, before clipping. */
  gradNorm: number;
  /** 1 when the optimizer skipped this update because the gradient was not finite, else 0. */
  skipped: number;
  /** The loss scale after this step: lowered after an overflow, raised after a run of good steps (1 without loss scaling). */
  lossScale: number;
}

/** A compiled training step: forward, backward and the fused update, replayed per batch. */
export class GptTrainer {
  /** Steps run; each feeds a fresh dropout seed derived from it and config.seed. */
  steps = 0;

  /** Whether each step feeds a dropout seed (the model's dropout or a LoRA adapter's). */
  private readonly seeded: boolean;

  constructor(
    readonly model: Gpt,
    readonly plan: Plan,
    readonly optimizer: FusedOptimizer,
  ) {
    this.seeded = gptDropsOut(model);
  }

  /**
   * Runs one step on `batch`. With `read` (default), resolves to its loss, gradient norm and
   * loss-scaler state (one small read-back); without, reads nothing back and resolves to null,
   * so a loop can queue several steps and read only every n-th.
   */
  async step(batch: Batch, read = true): Promise<StepResult | null> {
    const feeds: Feeds = { idx: batch.x, targets: batch.y };
    if (this.seeded) feeds['dropoutSeed'] = dropoutSeedFor(this.model.config.seed, this.steps);
    this.steps++;
    const out = await this.plan.run(feeds, read ? ['loss', 'gradNorm', 'skipped', 'lossScale'] : []);
    return read ? { loss: out['loss'][0], gradNorm: out['gradNorm'][0], skipped: out['skipped'][0], lossScale: out['lossScale'][0] } : null;
  }

  dispose(): void {
    this.plan.dispose();
    this.optimizer.dispose();
  }
}

/**
 * The dropout seed GptTrainer feeds at `step` (0 for the first): a multiplicative hash of the
 * model's seed and the step, so that neighbouring steps differ in every bit.
 */
export function dropoutSeedFor(seed: number, step: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) | 0;
}

/**
 * Creates the optimizer over every parameter and compiles the training step. Call it before
 * compiling or running anything else that reads the model's parameters: the optimizer places
 * them in its arena.
 */
export async function createGptTrainer(engine: Engine, model: Gpt, config: GptTrainConfig): Promise<GptTrainer> {
  const T = config.block ?? model.config.blockSize;
  const idx = input('idx', [config.batch, T], 'i32');
  const targets = input('targets', [config.batch, T], 'i32');
  // Without dropout the graph reads no seed, and the plan would refuse one fed to it.
  const dropoutSeed = gptDropsOut(model) ? input('dropoutSeed', [], 'i32') : undefined;
  const { loss } = gptForward(model, idx, { targets, dropoutSeed });
  // Mixed precision rounds gradients to f16 inside the backward: scale the loss so they neither
  // vanish nor overflow there (a step that overflows is skipped and the scale lowered).
  const lossScale = model.config.precision === 'mixed' ? { lossScale: {} } : {};
  const trainable = config.trainable ?? model.params;
  const optimizer = await createOptimizer(engine, trainable, { ...gptTrainDefaults, ...lossScale, ...config.optimizer } as OptimizerConfig);
  const plan = await engine.compile({ outputs: { loss: loss! }, optimizer: optimizer.minimize(loss!), label: 'the training step' });
  return new GptTrainer(model, plan, optimizer);
}

/** An evaluation plan: the mean loss of (batch, block) windows, without dropout. */
export class GptEvaluator {
  constructor(readonly plan: Plan) {}

  /** The mean of the batches' losses (batches of equal size, so the mean over all tokens). */
  async loss(batches: Batch[]): Promise<number> {
    let total = 0;
    for (const b of batches) total += (await this.plan.run({ idx: b.x, targets: b.y }))['loss'][0];
    return total / batches.length;
  }

  dispose(): void {
    this.plan.dispose();
  }
}

export async function compileGptEval(engine: Engine, model: Gpt, batch: number, block = model.config.blockSize): Promise<GptEvaluator> {
  const idx = input('idx', [batch, block], 'i32');
  const targets = input('targets', [batch, block], 'i32');
  const { loss } = gptForward(model, idx, { targets });
  return new GptEvaluator(await engine.compile({ outputs: { loss: loss! }, label: 'the evaluation' }));
}

/** Logits (1, blockSize, V) of one window fed as `idx` (1, blockSize): the plan sampling replays. */
export function compileGptLogits(engine: Engine, model: Gpt): Promise<Plan> {
  const idx = input('idx', [1, model.config.blockSize], 'i32');
  return engine.compile({ outputs: { logits: gptForward(model, idx).logits }, label: 'sampling' });
}
