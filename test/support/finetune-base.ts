// A tiny pretrained-looking GPT-2 and the text to fine-tune it on, for the fine-tuning tests: a
// byte-level BPE trained on a short repetitive text (a few hundred tokens) written as the
// vocab.json and merges.txt a model folder holds, and a random GPT-2 checkpoint of that
// vocabulary (test/support/gpt2-checkpoint.ts) with its config.json. The weights are random, so
// the "pretrained" model knows nothing of the text: fine-tuning it has much to gain.
// Not here: any check (the tests do that).

import { trainBpe } from '../../src/data/bpe-train.js';
import { gpt2Files, type Gpt2Shape } from './gpt2-checkpoint.js';

/** Lines of a small world, repeated with variations: easy to learn, the same kind of line held out. */
export function repetitiveText(lines = 240): string {
  const who = ['the cat', 'the dog', 'a bird', 'the fox'];
  const did = ['sat on', 'ran to', 'looked at', 'slept by'];
  const what = ['the mat', 'the door', 'a tree', 'the fire'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`${who[i % 4]} ${did[(i >> 2) % 4]} ${what[(i >> 4) % 4]}.`);
  return out.join('\n') + '\n';
}

export interface FinetuneBase {
  /** model.safetensors bytes. */
  weights: Uint8Array;
  /** config.json, vocab.json and merges.txt as text. */
  config: string;
  vocab: string;
  merges: string;
  vocabSize: number;
  shape: Gpt2Shape;
  /** The weights as stored, by GPT-2's names without prefix ('h.0.attn.c_attn.weight'). */
  canonical: Map<string, { shape: number[]; data: Float64Array }>;
  /** The text's bytes. */
  text: Uint8Array;
}

/** The files of a tiny GPT-2 whose tokenizer was trained on `text`; `seed` draws its random weights. */
export function finetuneBase(opts: { seed?: number; context?: number; width?: number; vocab?: number; text?: string } = {}): FinetuneBase {
  const text = opts.text ?? repetitiveText();
  const tokenizer = trainBpe(text, { vocabSize: opts.vocab ?? 300, specialTokens: ['<|endoftext|>'] });
  const json = tokenizer.toJSON();
  const vocab = JSON.stringify(Object.fromEntries(json.vocab.map((t, id) => [t, id])));
  const merges = ['#version: 0.2', ...json.merges].join('\n') + '\n';
  const shape: Gpt2Shape = { vocabSize: tokenizer.vocabSize, nPositions: opts.context ?? 32, nLayer: 2, nHead: 2, nEmbd: opts.width ?? 32 };
  const files = gpt2Files(shape, { seed: opts.seed ?? 7 });
  return { weights: files.weights, config: JSON.stringify(files.config), vocab, merges, vocabSize: tokenizer.vocabSize, shape, canonical: files.canonical, text: new TextEncoder().encode(text) };
}
