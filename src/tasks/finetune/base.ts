// The pretrained model the user brings, checked and held: config.json parsed, the weights' header
// read and checked against it (openGpt2: every name and shape, nothing allocated), the tokenizer
// read from vocab.json + merges.txt or tokenizer.json and checked against the model's vocabulary;
// each problem is a typed error that names the file, and only files that all pass replace the
// ones held. What the summary says of each strategy (its memory, whether this device holds it),
// and the base's identity: its shape and a fingerprint of its bytes, which a fine-tuning
// checkpoint records so that it is only ever loaded over the same base.
// Not here: reading GPT-2 weights (models/gpt2-import.ts), the strategies and their memory
// (models/gpt-finetune.ts), what a run does with the base (run.ts).

import { blobSource, bytesSource, type ByteSource } from '../../checkpoint/source.js';
import { BpeTokenizer } from '../../data/bpe.js';
import { fileText } from '../../data/bpe-files.js';
import { CheckpointError, DataError, DeviceLimitError, InputError } from '../../errors.js';
import { checkFinetuneFits, finetuneMemory, type FinetuneStrategy } from '../../models/gpt-finetune.js';
import type { GptConfig } from '../../models/gpt.js';
import { openGpt2, type Gpt2Checkpoint } from '../../models/gpt2-import.js';
import type { BaseFiles, BaseSummary, StrategyFit } from './protocol.js';

/** What a checkpoint records of the base it was fine-tuned from. */
export interface BaseIdentity {
  /** The weights' file name as given. */
  name: string;
  fileBytes: number;
  /** FNV-1a of the file's header and of slices spread over its data: another file of the same shape differs. */
  fingerprint: string;
  shape: Pick<GptConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd' | 'bias'>;
}

/** The files, checked: what the weights hold, how to read them, and the tokenizer. */
export interface HeldBase {
  source: ByteSource;
  checkpoint: Gpt2Checkpoint;
  tokenizer: BpeTokenizer;
  identity: BaseIdentity;
  names: BaseSummary['names'];
}

/** Checks the files, in the order a user fixes them: config.json, the weights, the tokenizer, then the two against each other. */
export async function openBase(files: BaseFiles): Promise<HeldBase> {
  if (!files || typeof files !== 'object') throw new InputError('base: give the model\'s files: { weights, config, vocab + merges or tokenizer }.');
  const weightsName = files.weightsName ?? (files.weights instanceof File ? files.weights.name : 'model.safetensors');
  if (!(files.weights instanceof Blob || files.weights instanceof Uint8Array)) {
    throw new InputError('Choose the model\'s weights (model.safetensors) as well as its config.json and tokenizer files.');
  }
  if (files.config === undefined) throw new InputError(`Choose the config.json that came with ${weightsName}.`);
  const haveTokenizer = files.tokenizer !== undefined || (files.vocab !== undefined && files.merges !== undefined);
  if (!haveTokenizer) {
    const half = files.vocab !== undefined ? 'vocab.json needs its merges.txt' : files.merges !== undefined ? 'merges.txt needs its vocab.json' : 'the tokenizer is missing';
    throw new InputError(`Choose the model's tokenizer: ${half} (or give tokenizer.json instead).`);
  }
  const configJson = parseConfigJson(files.config);
  const size = files.weights instanceof Blob ? files.weights.size : files.weights.length;
  if (size === 0) throw new DataError(`${weightsName} is empty; choose the model.safetensors from the model's folder.`, 'empty');
  const source = files.weights instanceof Blob ? blobSource(files.weights) : bytesSource(files.weights);
  const checkpoint = await openGpt2(source, configJson); // CheckpointError or ConfigError naming the tensor or the key
  const tokenizer = files.tokenizer !== undefined
    ? BpeTokenizer.fromTokenizerJson(files.tokenizer)
    : BpeTokenizer.fromVocabAndMerges(files.vocab!, files.merges!);
  const tokenizerName = files.tokenizer !== undefined ? 'tokenizer.json' : 'vocab.json and merges.txt';
  const V = checkpoint.config.vocabSize;
  if (tokenizer.vocabSize !== V) {
    throw new DataError(
      `The tokenizer (${tokenizerName}) has ${tokenizer.vocabSize.toLocaleString('en-US')} tokens, but the model reads ${V.toLocaleString('en-US')} ` +
        `(vocab_size in config.json, the rows of its token embedding): they are not one model's files. Choose the tokenizer from the weights' own folder.`,
      'vocabulary',
    );
  }
  const { vocabSize, blockSize, nLayer, nHead, nEmbd, bias } = checkpoint.config;
  const identity: BaseIdentity = {
    name: weightsName, fileBytes: size, fingerprint: await fingerprintOf(source), shape: { vocabSize, blockSize, nLayer, nHead, nEmbd, bias },
  };
  return { source, checkpoint, tokenizer, identity, names: { weights: weightsName, tokenizer: tokenizerName } };
}

function parseConfigJson(data: BaseFiles['config']): unknown {
  const text = fileText(data, 'config.json'); // DataError for an empty file or one that is not UTF-8
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`config.json is not JSON (${(e as Error).message}); choose the config.json that came with the weights.`, 'format');
  }
}

/** Slices of the file hashed for its fingerprint, and the bytes of each. */
const SLICES = 16;
const SLICE_BYTES = 512;

/** FNV-1a over the first bytes (the header) and slices spread evenly to the end: cheap on a 500 MB file, and another model's bytes differ. */
async function fingerprintOf(source: ByteSource): Promise<string> {
  let h = 0x811c9dc5;
  const n = Math.min(SLICE_BYTES, source.size);
  for (let i = 0; i < SLICES; i++) {
    const at = Math.floor(((source.size - n) * i) / (SLICES - 1));
    const bytes = await source.read(at, n);
    for (let j = 0; j < bytes.length; j++) h = Math.imul(h ^ bytes[j], 0x01000193);
  }
  return `${source.size.toString(16)}-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** The strategies the summary offers, by name. */
function offered(nLayer: number): [string, FinetuneStrategy][] {
  const out: [string, FinetuneStrategy][] = [
    ['full fine-tuning', { kind: 'full' }],
    ['the last block and ln_f', { kind: 'partial', lastBlocks: 1, head: false }],
  ];
  if (nLayer > 2) out.push([`the last ${Math.ceil(nLayer / 2)} blocks and ln_f`, { kind: 'partial', lastBlocks: Math.ceil(nLayer / 2), head: false }]);
  out.push(
    ['LoRA rank 8 on c_attn', { kind: 'lora', targets: ['attn.c_attn'], rank: 8, alpha: 16, dropout: 0 }],
    ['LoRA rank 8 on every projection', { kind: 'lora', targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rank: 8, alpha: 16, dropout: 0 }],
  );
  return out;
}

/** Each offered strategy's memory, and whether a device of `limits` (and `budget` bytes, if set) holds it. */
export function strategyFits(limits: GPUSupportedLimits, budget: number | undefined, config: GptConfig): StrategyFit[] {
  return offered(config.nLayer).map(([name, strategy]) => {
    try {
      return { name, strategy, memory: checkFinetuneFits(limits, config, strategy, budget), fits: true, why: '' };
    } catch (e) {
      if (!(e instanceof DeviceLimitError)) throw e;
      return { name, strategy, memory: finetuneMemory(config, strategy), fits: false, why: e.message };
    }
  });
}

/** The summary of a held base on a device. */
export function summaryOf(base: HeldBase, limits: GPUSupportedLimits, budget: number | undefined): BaseSummary {
  const { checkpoint: c, tokenizer } = base;
  return {
    names: base.names,
    parameters: c.parameters,
    fileBytes: c.fileBytes,
    layout: c.layout,
    dtypes: c.dtypes,
    vocabSize: c.config.vocabSize,
    context: c.config.blockSize,
    nLayer: c.config.nLayer,
    nHead: c.config.nHead,
    nEmbd: c.config.nEmbd,
    bias: c.config.bias,
    specials: tokenizer.specialTokens,
    strategies: strategyFits(limits, budget, c.config),
  };
}

const SHAPE_WORDS: Record<keyof BaseIdentity['shape'], (v: number | boolean) => string> = {
  vocabSize: (v) => `a vocabulary of ${v}`,
  blockSize: (v) => `a context of ${v}`,
  nLayer: (v) => `${v} layers`,
  nHead: (v) => `${v} heads`,
  nEmbd: (v) => `a width of ${v}`,
  bias: (v) => (v ? 'biases' : 'no biases'),
};

/**
 * Refuses a checkpoint fine-tuned from another base than `held`: by shape (the fields that
 * differ, in words) or, for the same shape, by the weights' name and fingerprint. A fine-tuning
 * checkpoint holds only what training changed, so it means nothing over another base.
 */
export function checkSameBase(saved: BaseIdentity | undefined, held: HeldBase | null): void {
  const what = saved ? `'${saved.name}' (${(saved.fileBytes / 2 ** 20).toFixed(1)} MB)` : 'a base model';
  if (!held) {
    throw new CheckpointError(
      `This checkpoint holds only what fine-tuning changed over ${what}: choose that model's files first, then load it again.`,
      'metadata',
    );
  }
  if (!saved || typeof saved !== 'object' || !saved.shape) {
    throw new CheckpointError('This checkpoint does not say which base model it was fine-tuned from: it was not saved by this page.', 'metadata');
  }
  const keys = (Object.keys(SHAPE_WORDS) as (keyof BaseIdentity['shape'])[]).filter((k) => saved.shape[k] !== held.identity.shape[k]);
  if (keys.length) {
    const say = (s: BaseIdentity['shape']) => keys.map((k) => SHAPE_WORDS[k](s[k])).join(', ');
    throw new CheckpointError(
      `This checkpoint was fine-tuned from ${what}, a model with ${say(saved.shape)}; the base held now, '${held.identity.name}', has ${say(held.identity.shape)}. ` +
        'Choose the files of the base it was fine-tuned from, then load it again.',
      'shape',
    );
  }
  if (saved.fingerprint !== held.identity.fingerprint) {
    throw new CheckpointError(
      `This checkpoint was fine-tuned from ${what}; the base held now, '${held.identity.name}', has the same shape but other weights. ` +
        'Choose the files of the base it was fine-tuned from, then load it again.',
      'name',
    );
  }
}
