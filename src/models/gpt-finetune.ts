// Fine-tuning a (pretrained) GPT: which weights learn. Three strategies, as the field names them:
//   full        every weight is trained (the most memory: gradients and two AdamW moments each);
//   partial     the backbone is frozen and only the last N blocks (and ln_f; the head, which is
//               the tied token embedding, optionally) are trained;
//   lora        every weight is frozen and low-rank adapters (nn/lora.ts) on chosen projections
//               are trained: a few percent of the values, a few percent of the memory.
// Frozen weights get no gradient and no optimizer state (the optimizer never sees them), which
// finetuneMemory counts and the tests measure. A LoRA model is exported either merged (the
// update folded into each weight, in GPT-2's own names and layout, loadable with no adapter code)
// or as its adapters alone, in PEFT's names and layout (adapter_model.safetensors and
// adapter_config.json), which load back onto the same base here or in PyTorch with `peft`.
// Not here: reading pretrained files (gpt2-import.ts), the training loop (gpt.ts, tasks/).

import { CheckpointError, ConfigError, DeviceLimitError, fmtShape } from '../errors.js';
import type { Engine } from '../engine.js';
import { decodeTensor, parseSafetensors, writeSafetensors, type SafetensorsTensor } from '../checkpoint/safetensors.js';
import { checkLoraConfig, loraAdapter, loraDefaults, mergeLora, type LoraConfig } from '../nn/lora.js';
import { paramsOf, type Linear } from '../nn/layers.js';
import type { Tensor } from '../tensor.js';
import { createGpt, gptLinears, type Gpt, type GptConfig } from './gpt.js';

/** The projections of a block that can carry an adapter, by their names in GPT-2's state_dict. */
export const LORA_TARGETS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export type FinetuneStrategy =
  | { kind: 'full' }
  | { kind: 'partial'; /** Blocks trained, counted from the last. */ lastBlocks: number; /** Also train the head (the tied token embedding). */ head: boolean }
  | ({ kind: 'lora'; targets: readonly LoraTarget[] } & LoraConfig);

/** LoRA on the attention's packed q, k, v projection (c_attn), rank 8, alpha 16: a common first choice. */
export const loraStrategyDefaults: FinetuneStrategy = { kind: 'lora', targets: ['attn.c_attn'], ...loraDefaults };

export interface Finetune {
  model: Gpt;
  strategy: FinetuneStrategy;
  /** What the optimizer updates. */
  trainable: Tensor[];
  /** Model weights that stay as loaded. */
  frozen: Tensor[];
}

/** The Linear of block l named `target`. */
function linearOf(model: Gpt, l: number, target: LoraTarget): Linear {
  const b = model.blocks[l];
  return { 'attn.c_attn': b.attn.cAttn, 'attn.c_proj': b.attn.cProj, 'mlp.c_fc': b.mlp.cFc, 'mlp.c_proj': b.mlp.cProj }[target];
}

/**
 * Sets `model` up for `strategy`: attaches LoRA adapters to the chosen Linears (their factors
 * are new parameters, seeded from the model's seed) and splits the parameters into trained and
 * frozen. Call it before creating the trainer.
 */
export function prepareFinetune(model: Gpt, strategy: FinetuneStrategy): Finetune {
  const L = model.config.nLayer;
  if (strategy.kind === 'full') return { model, strategy, trainable: [...model.params], frozen: [] };
  if (strategy.kind === 'partial') {
    const n = strategy.lastBlocks;
    if (!(Number.isInteger(n) && n >= 0 && n <= L)) throw new ConfigError(`Train the last 0 to ${L} blocks; ${n} was asked for.`);
    const learn = new Set([...model.blocks.slice(L - n).flatMap((b) => [b.ln1, b.attn.cAttn, b.attn.cProj, b.ln2, b.mlp.cFc, b.mlp.cProj].flatMap(paramsOf)), ...paramsOf(model.lnF)]);
    if (strategy.head) learn.add(model.wte);
    return { model, strategy, trainable: model.params.filter((p) => learn.has(p)), frozen: model.params.filter((p) => !learn.has(p)) };
  }
  checkLoraConfig(strategy);
  if (strategy.targets.length === 0) throw new ConfigError(`Choose at least one projection for LoRA: ${LORA_TARGETS.join(', ')}.`);
  for (const t of strategy.targets) {
    if (!LORA_TARGETS.includes(t)) throw new ConfigError(`LoRA target '${t}' is not a projection of a GPT-2 block; use ${LORA_TARGETS.join(', ')}.`);
  }
  const adapters: Tensor[] = [];
  let stream = 1000; // after every stream the base model's initialisation draws from
  for (let l = 0; l < L; l++) {
    for (const target of LORA_TARGETS.filter((t) => strategy.targets.includes(t))) {
      const lin = linearOf(model, l, target);
      if (lin.lora) throw new ConfigError(`transformer.h.${l}.${target} already has an adapter; prepare a model once.`);
      const [cIn, cOut] = lin.weight.shape;
      lin.lora = loraAdapter(`transformer.h.${l}.${target}`, cIn, cOut, strategy, model.config.seed, stream++);
      adapters.push(lin.lora.a, lin.lora.b);
    }
  }
  return { model, strategy, trainable: adapters, frozen: [...model.params] };
}

/** Bytes a strategy holds on the device, besides the activations of a step (which depend on batch and context). */
export interface FinetuneMemory {
  /** The model's own weights (f32). */
  weights: number;
  /** The adapters' factors (LoRA). */
  adapters: number;
  /** One gradient per trained value. */
  gradients: number;
  /** The optimizer's moments (two per trained value for AdamW and LAMB, one for SGD). */
  optimizerState: number;
  /** Trained values, and every value. */
  trainableParameters: number;
  parameters: number;
  total: number;
  /** The largest single buffer: the trained values sit in one arena, which one binding must hold. */
  largestBuffer: number;
}

/** The memory of `strategy` for a model of `config`, counted from the model it would build (nothing is allocated). */
export function finetuneMemory(config: GptConfig, strategy: FinetuneStrategy, optimizerSlots = 2): FinetuneMemory {
  const f = prepareFinetune(createGpt(config), strategy);
  const count = (ts: Tensor[]) => ts.reduce((a, t) => a + t.size, 0);
  const trained = count(f.trainable);
  const all = count(f.model.params);
  const adapters = strategy.kind === 'lora' ? trained : 0;
  const m = { weights: 4 * all, adapters: 4 * adapters, gradients: 4 * trained, optimizerState: 4 * optimizerSlots * trained };
  const largestFrozen = Math.max(0, ...f.frozen.map((t) => 4 * t.size));
  return {
    ...m,
    trainableParameters: trained,
    parameters: all + adapters,
    total: m.weights + m.adapters + m.gradients + m.optimizerState,
    largestBuffer: Math.max(largestFrozen, 4 * trained),
  };
}

/** A few strategies to offer when one does not fit, smallest memory last. */
const alternatives: [string, FinetuneStrategy][] = 
[
  ['full fine-tuning', { kind: 'full' }],
  ['the last block and ln_f', { kind: 'partial', lastBlocks: 1, head: false }],
  ['LoRA rank 8 on c_attn', loraStrategyDefaults],
];

const mb = (b: number) => `${(b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 1 : 0)} MB`;

/**
 * Refuses, before anything is allocated, a strategy whose buffers this device cannot hold: its
 * trained values share one buffer, which must fit the device's largest binding, and the total
 * must fit `budgetBytes` when the engine has one. The message says what would fit.
 */
export function checkFinetuneFits(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>, config: GptConfig, strategy: FinetuneStrategy, budgetBytes?: number): FinetuneMemory {
  const m = finetuneMemory(config, strategy);
  const maxBuffer = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const fits = (x: FinetuneMemory) => x.largestBuffer <= maxBuffer && (budgetBytes === undefined || x.total <= budgetBytes);
  if (fits(m)) return m;
  const others = alternatives.filter(([, s]) => fits(finetuneMemory(config, s)) && JSON.stringify(s) !== JSON.stringify(strategy));
  const why = m.largestBuffer > maxBuffer
    ? `needs one buffer of ${mb(m.largestBuffer)} for its ${m.largestBuffer === 4 * m.trainableParameters ? 'trained weights' : 'largest weight'}; this device's largest is ${mb(maxBuffer)}`
    : `needs ${mb(m.total)} of weights, gradients and optimizer state; the memory budget is ${mb(budgetBytes!)}`;
  const instead = others.length ? ` ${others.map(([n]) => n).join(' or ')} would fit.` : ' Use a smaller model.';
  throw new DeviceLimitError(`This strategy ${why}.${instead}`);
}

/** The model's weights with every adapter folded in: GPT-2's names and (C_in, C_out) layout, f32. */
export async function mergedWeights(engine: Engine, model: Gpt): Promise<SafetensorsTensor[]> {
  const merged = new Map<Tensor, Float32Array>();
  for (const lin of gptLinears(model)) {
    if (!lin.lora) continue;
    const [cIn, cOut] = lin.weight.shape;
    const [w, a, b] = await Promise.all([lin.weight, lin.lora.a, lin.lora.b].map((t) => engine.readParameter(t)));
    merged.set(lin.weight, mergeLora(w, a, b, cIn, cOut, lin.lora.a.shape[1], lin.lora.scale));
  }
  const out: SafetensorsTensor[] = [];
  for (const p of model.params) out.push({ name: p.label, shape: p.shape, data: merged.get(p) ?? (await engine.readParameter(p)) });
  return out;
}

/** A config.json for the weights, in Hugging Face's GPT2Config keys, so `transformers` loads them as they are. */
export function gpt2ConfigJson(config: GptConfig): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: config.vocabSize,
    n_positions: config.blockSize,
    n_ctx: config.blockSize,
    n_embd: config.nEmbd,
    n_layer: config.nLayer,
    n_head: config.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    tie_word_embeddings: true,
  };
}

/** The merged model as files: model.safetensors (F32) and config.json. */
export async function exportMerged(engine: Engine, model: Gpt): Promise<{ weights: Uint8Array; config: string }> {
  if (!model.config.bias) {
    // GPT-2's Conv1D always has a bias: a bias-free model is not a GPT2LMHeadModel.
    throw new ConfigError('This model has no biases, which GPT-2\'s layout always has; save it as a checkpoint instead.');
  }
  return {
    weights: writeSafetensors(await mergedWeights(engine, model), { format: 'pt' }),
    config: JSON.stringify(gpt2ConfigJson(model.config), null, 2),
  };
}

/** PEFT's name of an adapter factor: base_model.model.transformer.h.0.attn.c_attn.lora_A.weight. */
const peftName = (linear: string, factor: 'A' | 'B') => `base_model.model.${linear}.lora_${factor}.weight`;

/** Each adapted Linear with the name of its weight's module ("transformer.h.0.attn.c_attn"). */
function adapted(model: Gpt): { module: string; lin: Linear }[] {
  return gptLinears(model).filter((l) => l.lora).map((lin) => ({ module: lin.weight.label.slice(0, -'.weight'.length), lin }));
}

/**
 * The adapters alone, as PEFT saves them: adapter_model.safetensors with lora_A (r, C_in) and
 * lora_B (C_out, r) per module (PEFT's nn.Linear layout; transposed from this engine's), and
 * adapter_config.json. Small: r (C_in + C_out) values per adapted projection.
 */
export async function exportAdapters(engine: Engine, f: Finetune): Promise<{ weights: Uint8Array; config: string }> {
  if (f.strategy.kind !== 'lora') throw new ConfigError('Only a LoRA fine-tune has adapters to export; export the merged weights instead.');
  const tensors: SafetensorsTensor[] = [];
  for (const { module, lin } of adapted(f.model)) {
    const { a, b } = lin.lora!;
    const [cIn, r] = a.shape;
    const cOut = b.shape[1];
    tensors.push({ name: peftName(module, 'A'), shape: [r, cIn], data: transposed(await engine.readParameter(a), cIn, r) });
    tensors.push({ name: peftName(module, 'B'), shape: [cOut, r], data: transposed(await engine.readParameter(b), r, cOut) });
  }
  const s = f.strategy;
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: s.rank,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: [...s.targets],
    fan_in_fan_out: true, // GPT-2's Conv1D weights are (C_in, C_out)
    bias: 'none',
    base_model_name_or_path: null,
  };
  return { weights: writeSafetensors(tensors, { format: 'pt' }), config: JSON.stringify(config, null, 2) };
}

/**
 * Reads adapters written by exportAdapters (or by PEFT for the same base) into a model prepared
 * with the same LoRA strategy. Every name and shape is checked before a value is written.
 */
export async function loadAdapters(engine: Engine, f: Finetune, weights: Uint8Array): Promise<void> {
  const file = parseSafetensors(weights);
  const writes: [Tensor, Float32Array][] = [];
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const { module, lin } of adapted(f.model)) {
    const { a, b } = lin.lora!;
    const [cIn, r] = a.shape;
    const cOut = b.shape[1];
    for (const [factor, t, shape] of [['A', a, [r, cIn]], ['B', b, [cOut, r]]] as const) {
      const name = peftName(module, factor);
      expected.add(name);
      const info = file.tensors.get(name);
      if (!info) problems.push(`'${name}' is missing`);
      else if (fmtShape(info.shape) !== fmtShape(shape)) problems.push(`'${name}' has shape ${fmtShape(info.shape)}; this model's adapter is ${fmtShape(shape)}`);
      else writes.push([t, transposed(decodeTensor(file, name) as Float32Array, shape[0], shape[1])]);
    }
  }
  for (const n of file.tensors.keys()) if (!expected.has(n)) problems.push(`'${n}' is not an adapter of this model`);
  if (problems.length) {
    throw new CheckpointError(
      `These adapters do not fit this model and strategy: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}. Choose the rank and projections they were trained with, on the same base model.`,
      problems[0].includes('missing') ? 'missing' : 'shape', null, problems,
    );
  }
  for (const [t, v] of writes) await engine.writeParameter(t, v);
}

/** (rows, cols) row-major -> (cols, rows). */
export function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}
