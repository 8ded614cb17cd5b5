// Pretrained GPT-2-family weights into this engine's GPT (gpt.ts): the safetensors layout that
// Hugging Face `transformers` writes (wte, wpe, h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2,
// mlp.c_fc, mlp.c_proj}, ln_f; with or without the "transformer." prefix; Conv1D weights laid out
// (C_in, C_out); lm_head.weight absent or equal to wte) with its config.json, and nanoGPT's
// layout (the same names, nn.Linear weights laid out (C_out, C_in), transposed on the way in).
// F32, F16, BF16 and F64 tensors are read as f32.
// openGpt2 reads only the header and checks every name and shape against the config before
// anything is allocated; load() then reads one tensor at a time from the file and writes it to
// the GPU, so the file is never held in memory.
// Not here: reading byte ranges (checkpoint/source.ts), the tokenizer files (data/bpe.ts),
// strategies and adapters (gpt-finetune.ts).

import { CheckpointError, ConfigError, fmtShape } from '../errors.js';
import type { Engine } from '../engine.js';
import { FLOAT_DTYPES, type TensorInfo } from '../checkpoint/safetensors.js';
import { openSafetensors, type ByteSource } from '../checkpoint/source.js';
import { createGpt, gptConfig, gptParameterCount, type Gpt, type GptConfig } from './gpt.js';
import { transposed } from './gpt-finetune.js';

/** How a file lays out the four Linear weights of a block. */
export type Gpt2Layout = 'conv1d' | 'linear';

export interface Gpt2Checkpoint {
  /** The model the file holds (dropout 0, f32; change dropout before building if wanted). */
  config: GptConfig;
  layout: Gpt2Layout;
  /** The dtypes the file stores its weights in. */
  dtypes: string[];
  /** Parameters of the model, and bytes of the file. */
  parameters: number;
  fileBytes: number;
  /** The model's weights in the file's own names: for messages ("h.0.attn.c_attn.weight"). */
  fileName(param: string): string;
  /** Writes every weight of the file into `model` (built from `config`), one tensor at a time. */
  load(engine: Engine, model: Gpt): Promise<void>;
}

/** Config keys of Hugging Face's GPT2Config and of nanoGPT's GPTConfig, read from config.json. */
interface Gpt2ConfigJson {
  model_type?: string;
  n_layer?: number;
  n_head?: number;
  n_embd?: number;
  n_positions?: number;
  n_ctx?: number;
  block_size?: number;
  vocab_size?: number;
  layer_norm_epsilon?: number;
  activation_function?: string;
  n_inner?: number | null;
  scale_attn_by_inverse_layer_idx?: boolean;
  bias?: boolean;
}

/** The activations that are this engine's GELU (the tanh form): GPT-2's own and its aliases. */
const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

/**
 * The architecture a config.json describes (without bias, which the file's tensors tell).
 * Throws ConfigError for a model family or setting this engine's GPT does not compute.
 */
export function gpt2ConfigFromJson(json: unknown): Pick<GptConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd'> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('config.json must be a JSON object such as the one a GPT-2 model comes with.');
  }
  const j = json as Gpt2ConfigJson;
  if (j.model_type !== undefined && j.model_type !== 'gpt2') {
    throw new ConfigError(`config.json describes a '${j.model_type}' model; only GPT-2-family models ('gpt2') can be loaded.`);
  }
  const blockSize = j.n_positions ?? j.block_size ?? j.n_ctx;
  const need = { n_layer: j.n_layer, n_head: j.n_head, n_embd: j.n_embd, vocab_size: j.vocab_size, n_positions: blockSize };
  for (const [k, v] of Object.entries(need)) {
    if (!(Number.isInteger(v) && (v as number) > 0)) {
      throw new ConfigError(`config.json: ${k} must be a positive integer, got ${JSON.stringify(v)}; give the config.json that came with the weights.`);
    }
  }
  // nanoGPT's config has block_size and no activation: its MLP is nn.GELU(), the exact (erf) form.
  const nanoGpt = j.block_size !== undefined && j.n_positions === undefined;
  const act = j.activation_function ?? (nanoGpt ? 'gelu' : 'gelu_new');
  if (!TANH_GELUS.includes(act)) {
    const why = nanoGpt && j.activation_function === undefined
      ? "a nanoGPT model's MLP uses the exact (erf) GELU, and this engine computes GPT-2's tanh form; if the model was trained with the tanh form, add \"activation_function\": \"gelu_new\" to config.json"
      : `this engine's GELU is GPT-2's tanh form (${TANH_GELUS.join(', ')})`;
    throw new ConfigError(`config.json: activation_function '${act}' is not computed here: ${why}.`);
  }
  const eps = j.layer_norm_epsilon ?? 1e-5;
  if (Math.abs(eps - 1e-5) > 1e-12) throw new ConfigError(`config.json: layer_norm_epsilon ${eps} is not GPT-2's 1e-5, the only one computed here.`);
  if (j.n_inner != null && j.n_inner !== 4 * j.n_embd!) {
    throw new ConfigError(`config.json: n_inner ${j.n_inner} is not 4 x n_embd (${4 * j.n_embd!}), the MLP width computed here.`);
  }
  if (j.scale_attn_by_inverse_layer_idx) throw new ConfigError('config.json: scale_attn_by_inverse_layer_idx is not computed here.');
  return { vocabSize: j.vocab_size!, blockSize: blockSize!, nLayer: j.n_layer!, nHead: j.n_head!, nEmbd: j.n_embd! };
}

/** HF's per-block causal-mask buffers: not weights, and rebuilt by every reader. */
const MASK_BUFFER = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;
const LINEAR_WEIGHT = /\.(c_attn|c_proj|c_fc)\.weight$/;

/**
 * Reads and checks the header of GPT-2 weights (a safetensors file) against `configJson` (the
 * parsed config.json). Nothing is allocated; every problem is a CheckpointError or ConfigError
 * naming the tensor, the shape found and the shape expected.
 */
export async function openGpt2(weights: ByteSource, configJson: unknown): Promise<Gpt2Checkpoint> {
  const shape = gpt2ConfigFromJson(configJson);
  const file = await openSafetensors(weights);
  const names = [...file.tensors.keys()];
  const prefix = file.tensors.has('transformer.wte.weight') ? 'transformer.' : file.tensors.has('wte.weight') ? '' : null;
  if (prefix === null) {
    throw new CheckpointError(
      `The weights have no token embedding ('wte.weight' or 'transformer.wte.weight'): this is not a GPT-2 checkpoint (it holds ${names.length} tensors, such as '${names[0] ?? 'none'}').`,
      'missing', 'wte.weight', names,
    );
  }
  const fileName = (param: string) => prefix + param.slice('transformer.'.length);
  const bias = file.tensors.has(fileName('transformer.h.0.attn.c_attn.bias'));
  const config = gptConfig({ ...shape, bias, dropout: 0 });
  const model = createGpt(config); // the graph only: names and shapes, nothing on a GPU
  const C = config.nEmbd;
  const attn = file.tensors.get(fileName('transformer.h.0.attn.c_attn.weight'));
  const layout: Gpt2Layout = attn && attn.shape[0] === 3 * C && attn.shape[1] === C ? 'linear' : 'conv1d';

  const problems: string[] = [];
  const expected = new Map<string, TensorInfo>();
  for (const p of model.params) {
    const name = fileName(p.label);
    const t = file.tensors.get(name);
    const want = layout === 'linear' && LINEAR_WEIGHT.test(name) ? [p.shape[1], p.shape[0]] : [...p.shape];
    if (!t) problems.push(`'${name}' is missing (expected shape ${fmtShape(want)})`);
    else if (fmtShape(t.shape) !== fmtShape(want)) problems.push(`'${name}' has shape ${fmtShape(t.shape)}; the config says ${fmtShape(want)}`);
    else if (!FLOAT_DTYPES.includes(t.dtype)) problems.push(`'${name}' is ${t.dtype}; weights must be one of ${FLOAT_DTYPES.join(', ')}`);
    else expected.set(p.label, t);
  }
  const head = file.tensors.get('lm_head.weight');
  if (head && fmtShape(head.shape) !== fmtShape([config.vocabSize, C])) {
    problems.push(`'lm_head.weight' has shape ${fmtShape(head.shape)}; the config says ${fmtShape([config.vocabSize, C])}`);
  }
  const known = new Set([...model.params.map((p) => fileName(p.label)), 'lm_head.weight']);
  const extra = names.filter((n) => !known.has(n) && !MASK_BUFFER.test(n));
  for (const n of extra) problems.push(`'${n}' is not a weight of a GPT-2 language model`);
  if (problems.length) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new CheckpointError(
      `These weights do not fit the config.json given with them: ${problems[0]}${more}. Give the config.json and model.safetensors of one model.`,
      problems[0].includes('missing') ? 'missing' : extra.length && problems.length === extra.length ? 'unexpected' : 'shape',
      null, problems,
    );
  }

  const infos = [...expected.values()];
  return {
    config,
    layout,
    dtypes: [...new Set(infos.map((t) => t.dtype))],
    parameters: gptParameterCount(config),
    fileBytes: file.size,
    fileName,
    async load(engine, target) {
      const fields = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'bias'] as const;
      const off = fields.find((k) => target.config[k] !== config[k]);
      if (off) throw new ConfigError(`load: the model's ${off} is ${target.config[off]}, the checkpoint's ${config[off]}; build it from checkpoint.config.`);
      const phase = engine.progress.phase('loading the model', 'tensors', target.params.length);
      for (const p of target.params) {
        let values = (await file.read(fileName(p.label))) as Float32Array;
        if (layout === 'linear' && LINEAR_WEIGHT.test(p.label)) values = transposed(values, p.shape[1], p.shape[0]);
        // The engine's head is the token embedding: a file whose head differs is another model.
        if (p === target.wte && head && !sameBits((await file.read('lm_head.weight')) as Float32Array, values)) {
          throw new CheckpointError(
            "The weights' output head 'lm_head.weight' differs from the token embedding 'wte.weight'; this engine's GPT ties the two, so it cannot compute this model.",
            'value', 'lm_head.weight',
          );
        }
        await engine.writeParameter(p, values);
        phase.advance();
      }
    },
  };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
