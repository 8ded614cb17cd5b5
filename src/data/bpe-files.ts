// Reads the files a pretrained GPT-2-style model ships its tokenizer in, in the Hugging Face
// layout: `vocab.json` (token → id) with `merges.txt` (one "left right" merge a line, in priority
// order, after an optional `#version` line), or a single `tokenizer.json`. Each reader returns the
// parts unchecked; bpe-vocab.ts checks them against each other.
// Not here: tokenizers whose pre-tokeniser is not GPT-2's byte level (SentencePiece, WordPiece,
// other split patterns): they are refused with a message, not approximated.

import { DataError } from '../errors.js';
import type { BpeParts, MergeEntry } from './bpe-vocab.js';

/** A file's contents as the page has them: text, or the raw bytes of the file. */
export type FileContents = string | Uint8Array | ArrayBuffer;

const quote = (s: string) => JSON.stringify(s);

/** The text of a file; DataError if it is empty or not UTF-8. A byte-order mark is dropped. */
export function fileText(data: FileContents, name: string): string {
  let text: string;
  if (typeof data === 'string') text = data;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      throw new DataError(`${name} is not valid UTF-8 text; choose the ${name} from the model's folder.`, 'encoding');
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim().length === 0) throw new DataError(`${name} is empty; choose the ${name} from the model's folder.`, 'empty');
  return text;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? ` (${e.message})` : '';
    throw new DataError(`${name} is not JSON${why}; choose the ${name} from the model's folder.`, 'format');
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The token → id entries of a vocabulary object, each id checked to be a number. */
function vocabEntries(v: unknown, name: string): Array<[string, number]> {
  if (!isRecord(v)) {
    throw new DataError(`${name} should map each token to its id ({"!": 0, ...}), but it holds ${Array.isArray(v) ? 'a list' : typeof v}.`, 'format');
  }
  if (isRecord(v.model) && Array.isArray(v.added_tokens ?? [])) {
    throw new DataError(`${name} holds a "model" object, so it looks like a tokenizer.json: load it as one.`, 'format');
  }
  const entries = Object.entries(v);
  for (const [token, id] of entries) {
    if (typeof id !== 'number') {
      throw new DataError(
        `${name} maps ${quote(token)} to ${JSON.stringify(id) ?? String(id)} rather than to an id; ` +
          'choose the vocabulary file (vocab.json) of the model.',
        'format',
      );
    }
  }
  return entries as Array<[string, number]>;
}

/** The entries of a `vocab.json`. */
export function readVocabJson(data: FileContents, name = 'vocab.json'): Array<[string, number]> {
  return vocabEntries(parseJson(fileText(data, name), name), name);
}

/** The merges of a `merges.txt`, in file order. */
export function readMergesTxt(data: FileContents, name = 'merges.txt'): MergeEntry[] {
  const text = fileText(data, name);
  if (/^\s*[{[]/.test(text)) {
    throw new DataError(`${name} looks like JSON, not a list of merges; choose the merges.txt from the model's folder.`, 'format');
  }
  const lines = text.split(/\r?\n/);
  const merges: MergeEntry[] = [];
  lines.forEach((line, i) => {
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new DataError(
        `${name} line ${i + 1} is ${quote(line.length > 60 ? line.slice(0, 60) + '…' : line)}, but each line must be two tokens ` +
          'separated by one space; choose the merges.txt from the model folder.',
        'format',
      );
    }
    merges.push({ left: parts[0], right: parts[1], at: `${name} line ${i + 1}` });
  });
  return merges;
}

/**
 * The parts of a `vocab.json` and `merges.txt` pair. `specialTokens` names the vocabulary entries
 * that are special; by default `<|endoftext|>` where the vocabulary has it, as in GPT-2.
 */
export function readVocabAndMerges(vocab: FileContents, merges: FileContents, specialTokens?: readonly string[]): BpeParts {
  const entries = readVocabJson(vocab);
  const specials = specialTokens ?? (entries.some(([t]) => t === '<|endoftext|>') ? ['<|endoftext|>'] : []);
  return { vocab: entries, merges: readMergesTxt(merges), specials, vocabSource: 'vocab.json' };
}

/**
 * The parts of a Hugging Face `tokenizer.json`: model.type "BPE", model.vocab, model.merges as
 * "left right" strings or [left, right] pairs, and added_tokens as the special tokens (an added
 * token missing from model.vocab joins it with its id). Refuses a normaliser, or a pre-tokeniser
 * other than GPT-2's byte level, since such a tokenizer would encode differently.
 */
export function readTokenizerJson(data: FileContents, name = 'tokenizer.json'): BpeParts {
  const json = parseJson(fileText(data, name), name);
  if (!isRecord(json) || !isRecord(json.model)) {
    throw new DataError(
      `${name} has no "model" object, so it is not a Hugging Face tokenizer.json` +
        (isRecord(json) && typeof Object.values(json)[0] === 'number' ? ' (it looks like a vocab.json: load it with merges.txt)' : '') +
        '; choose the tokenizer.json from the model folder.',
      'format',
    );
  }
  const model = json.model;
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new DataError(
      `${name} describes a ${quote(String(model.type))} tokenizer, not BPE; only byte-level BPE tokenizers (the GPT-2 family) can be loaded.`,
      'format',
    );
  }
  checkPreTokenizer(json.pre_tokenizer, name);
  if (json.normalizer !== undefined && json.normalizer !== null) {
    const type = isRecord(json.normalizer) ? String(json.normalizer.type) : typeof json.normalizer;
    throw new DataError(
      `${name} normalises text (${quote(type)}) before it is split, which GPT-2 does not; only GPT-2-style tokenizers can be loaded.`,
      'format',
    );
  }
  const entries = vocabEntries(model.vocab, `${name}'s model.vocab`);
  if (!Array.isArray(model.merges)) {
    throw new DataError(`${name} has no model.merges list; choose the tokenizer.json of a BPE model.`, 'format');
  }
  const merges = model.merges.map((m: unknown, i: number): MergeEntry => {
    const at = `${name} model.merges[${i}]`;
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((p) => typeof p !== 'string' || p === '')) {
      throw new DataError(
        `${at} is ${JSON.stringify(m) ?? String(m)}, but a merge must be "left right" or ["left", "right"].`,
        'format',
      );
    }
    return { left: pair[0], right: pair[1], at };
  });
  const specials: string[] = [];
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw new DataError(`${name}'s added_tokens is not a list; choose an unedited tokenizer.json.`, 'format');
  const idOf = new Map(entries);
  for (const a of added) {
    if (!isRecord(a) || typeof a.content !== 'string' || typeof a.id !== 'number') {
      throw new DataError(`${name} has an added token without a "content" string and an "id" number; choose an unedited tokenizer.json.`, 'format');
    }
    const known = idOf.get(a.content);
    if (known === undefined) entries.push([a.content, a.id]);
    else if (known !== a.id) {
      throw new DataError(
        `${name} gives the added token ${quote(a.content)} the id ${a.id}, but model.vocab gives it ${known}; choose an unedited tokenizer.json.`,
        'format',
      );
    }
    specials.push(a.content);
  }
  return { vocab: entries, merges, specials, vocabSource: name };
}

/** Refuses any pre-tokeniser but GPT-2's: ByteLevel with its split pattern and no added prefix space. */
function checkPreTokenizer(pre: unknown, name: string): void {
  const ok = isRecord(pre) && pre.type === 'ByteLevel' && pre.use_regex !== false && pre.add_prefix_space !== true;
  if (!ok) {
    const what = isRecord(pre) ? `${quote(String(pre.type))}${pre.add_prefix_space === true ? ' with a prefix space' : ''}` : 'none';
    throw new DataError(
      `${name}'s pre-tokenizer is ${what}, not GPT-2's ByteLevel split, so this tokenizer would cut text differently; ` +
        'only GPT-2-style tokenizers can be loaded.',
      'format',
    );
  }
}
