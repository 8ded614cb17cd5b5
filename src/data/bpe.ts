// GPT-2's byte-level BPE tokenizer, exact: text is cut by GPT-2's pre-tokeniser, each word's UTF-8
// bytes start as byte tokens, and the adjacent pair whose merge ranks first is merged everywhere
// in the word until no pair has a merge. Special tokens such as `<|endoftext|>` are recognised in
// text only where the caller allows them; otherwise they are spelled as ordinary text. Loaded
// from a pretrained model's files or trained on the user's text (bpe-train.ts), and saved as JSON
// beside a checkpoint like CharTokenizer, with the same encode/decode/vocabSize surface.
// Not here: file parsing (bpe-files.ts), checks of the parts (bpe-vocab.ts), Hugging Face's
// normalisers or post-processors (GPT-2 has none), offsets into the text.

import { DataError } from '../errors.js';
import { splitSpecials, splitWords, utf8Bytes, utf8Text } from './bpe-bytes.js';
import { type FileContents, readTokenizerJson, readVocabAndMerges } from './bpe-files.js';
import { type BpeParts, type BpeTables, checkBpeParts } from './bpe-vocab.js';
import { CharTokenizer, type TokenizerJson } from './tokenizer.js';

/** The JSON form of a BPE tokenizer, stored with checkpoints. */
export interface BpeTokenizerJson {
  kind: 'bpe';
  /** Token strings, index = id: GPT-2's byte alphabet ('Ġ' for a space), specials as written. */
  vocab: string[];
  /** The merges in priority order, each "left right". */
  merges: string[];
  /** The vocabulary entries that are special tokens. */
  specials: string[];
}

/** The JSON form of either tokenizer, told apart by `kind`. */
export type AnyTokenizerJson = TokenizerJson | BpeTokenizerJson;

/** What encode may recognise. */
export interface EncodeOptions {
  /**
   * Special tokens to recognise in the text: 'all', or a list of their strings. Default none: a
   * special token's string in the text is encoded as ordinary text, so user text can never
   * inject one.
   */
  allowedSpecial?: 'all' | readonly string[];
}

/** Words remembered by the encoder before the cache starts over (bounds a worker's memory). */
const WORD_CACHE_LIMIT = 100_000;

export class BpeTokenizer {
  private readonly t: BpeTables;
  private readonly cache = new Map<string, Int32Array>();

  private constructor(parts: BpeParts) {
    this.t = checkBpeParts(parts);
  }

  /** A tokenizer from its checked parts; throws DataError naming the first inconsistency. */
  static fromParts(parts: BpeParts): BpeTokenizer {
    return new BpeTokenizer(parts);
  }

  /**
   * Loads GPT-2's `vocab.json` and `merges.txt` (text or bytes). `specialTokens` names the
   * vocabulary entries that are special; by default `<|endoftext|>` where the vocabulary has it.
   */
  static fromVocabAndMerges(vocabJson: FileContents, mergesTxt: FileContents, specialTokens?: readonly string[]): BpeTokenizer {
    return new BpeTokenizer(readVocabAndMerges(vocabJson, mergesTxt, specialTokens));
  }

  /** Loads a Hugging Face `tokenizer.json` of a byte-level BPE model; added_tokens are the specials. */
  static fromTokenizerJson(tokenizerJson: FileContents): BpeTokenizer {
    return new BpeTokenizer(readTokenizerJson(tokenizerJson));
  }

  /** Restores a tokenizer saved by toJSON; checks its form first. */
  static fromJSON(json: unknown): BpeTokenizer {
    const j = json as Partial<BpeTokenizerJson> | null;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
    if (j === null || typeof j !== 'object' || j.kind !== 'bpe' || !strings(j.vocab) || !strings(j.merges) || !strings(j.specials)) {
      throw new DataError(
        'BpeTokenizer.fromJSON: expected { kind: "bpe", vocab: [...], merges: [...], specials: [...] } of strings; ' +
          'pass the object that toJSON() wrote.',
        'format',
      );
    }
    const merges = j.merges.map((m, i) => {
      const [left, right, extra] = m.split(' ');
      if (!left || !right || extra !== undefined) {
        throw new DataError(`BpeTokenizer.fromJSON: merge ${i} is ${JSON.stringify(m)}, not "left right"; pass the object that toJSON() wrote.`, 'format');
      }
      return { left, right, at: `the saved tokenizer's merge ${i}` };
    });
    return new BpeTokenizer({
      vocab: j.vocab.map((t, id) => [t, id] as const),
      merges,
      specials: j.specials,
      vocabSource: 'the saved tokenizer',
    });
  }

  get vocabSize(): number {
    return this.t.tokens.length;
  }

  /**
   * Token strings, index = id, in GPT-2's byte alphabet (specials as written): 'Ġthe' is " the".
   * To show a token as text, decode([id]).
   */
  get vocab(): readonly string[] {
    return this.t.tokens;
  }

  /** The merges in priority order. */
  get merges(): ReadonlyArray<readonly [string, string]> {
    return this.t.merges;
  }

  /** The special tokens, in id order. */
  get specialTokens(): string[] {
    return [...this.t.specialIds].sort((a, b) => a[1] - b[1]).map(([s]) => s);
  }

  /** Whether `text` can be encoded: always, since every byte has a token (CharTokenizer's question). */
  covers(_text: string): boolean {
    return true;
  }

  /** The id of a special token such as '<|endoftext|>'; DataError if the tokenizer has no such token. */
  specialTokenId(token: string): number {
    const id = this.t.specialIds.get(token);
    if (id === undefined) throw new DataError(`The tokenizer has no special token ${JSON.stringify(token)}; it has ${this.describeSpecials()}.`, 'vocabulary');
    return id;
  }

  toJSON(): BpeTokenizerJson {
    return {
      kind: 'bpe',
      vocab: this.t.tokens.slice(),
      merges: this.t.merges.map(([l, r]) => `${l} ${r}`),
      specials: this.specialTokens,
    };
  }

  /**
   * The ids of `text`; special tokens only as `options.allowedSpecial` allows (default none). A
   * lone surrogate (not a character) is encoded as U+FFFD, as UTF-8 cannot hold it.
   */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const allowed = this.allowedSpecials(options.allowedSpecial);
    const out: number[] = [];
    for (const part of splitSpecials(text, allowed)) {
      if (part.special) {
        out.push(this.t.specialIds.get(part.text)!);
        continue;
      }
      for (const word of splitWords(part.text)) {
        const ids = this.encodeWord(word);
        for (let i = 0; i < ids.length; i++) out.push(ids[i]);
      }
    }
    return Int32Array.from(out);
  }

  /** The bytes of `ids`, concatenated; DataError on an id outside the vocabulary. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const n = this.vocabSize;
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= n) {
        throw new DataError(
          `BpeTokenizer.decode: id ${id} at position ${i} is outside the vocabulary of ${n} tokens (ids 0 to ${n - 1}); ` +
            'decode only ids this tokenizer or its model produced.',
          'vocabulary',
        );
      }
      length += this.t.tokenBytes[id].length;
    }
    const out = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.t.tokenBytes[ids[i]];
      out.set(bytes, at);
      at += bytes.length;
    }
    return out;
  }

  /**
   * The text of `ids`: their bytes read as UTF-8, an invalid sequence (a sample cut inside a
   * character) replaced by U+FFFD as GPT-2's decode(errors='replace') does.
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Text(this.decodeBytes(ids));
  }

  /** GPT-2's BPE on one pre-tokenised word: merge the best-ranked pair everywhere, until none has a merge. */
  private encodeWord(word: string): Int32Array {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const { byteIds, pairRanks, mergeLeft, mergeRight, mergeResult } = this.t;
    const n = this.vocabSize;
    let symbols = Array.from(utf8Bytes(word), (b) => byteIds[b]);
    while (symbols.length > 1) {
      let best = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = pairRanks.get(symbols[i] * n + symbols[i + 1]);
        if (rank !== undefined && (best < 0 || rank < best)) best = rank;
      }
      if (best < 0) break;
      const left = mergeLeft[best];
      const right = mergeRight[best];
      const merged: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(mergeResult[best]);
          i++;
        } else merged.push(symbols[i]);
      }
      symbols = merged;
    }
    const ids = Int32Array.from(symbols);
    if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private allowedSpecials(allowed: EncodeOptions['allowedSpecial']): string[] {
    if (allowed === undefined) return [];
    if (allowed === 'all') return [...this.t.specialIds.keys()];
    for (const s of allowed) {
      if (!this.t.specialIds.has(s)) {
        throw new DataError(
          `encode was allowed the special token ${JSON.stringify(s)}, which this tokenizer does not have; it has ${this.describeSpecials()}.`,
          'vocabulary',
        );
      }
    }
    return [...allowed];
  }

  private describeSpecials(): string {
    const s = this.specialTokens;
    return s.length === 0 ? 'none' : s.map((x) => JSON.stringify(x)).join(', ');
  }
}

/** Either tokenizer: both have vocabSize, encode(text) → Int32Array, decode(ids) and toJSON(). */
export type AnyTokenizer = CharTokenizer | BpeTokenizer;

/** A tokenizer of either kind from its saved JSON, chosen by `kind`. */
export function tokenizerFromJSON(json: unknown): AnyTokenizer {
  const kind = (json as { kind?: unknown } | null)?.kind;
  if (kind === 'bpe') return BpeTokenizer.fromJSON(json);
  if (kind === 'char') return CharTokenizer.fromJSON(json);
  throw new DataError(
    `The saved tokenizer has kind ${JSON.stringify(kind ?? null)}; expected "char" or "bpe": pass the object a tokenizer's toJSON() wrote.`,
    'format',
  );
}
