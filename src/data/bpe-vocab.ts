// Checks the parts of a byte-level BPE tokenizer (token strings with their ids, merges in
// priority order, special tokens) against each other, and builds the tables encoding and
// decoding read: the bytes of every id, the id of every byte, and each mergeable pair's rank and
// result. Every inconsistency is a DataError that names the file, the entry and what to do.
// Not here: reading files (bpe-files.ts) or encoding text (bpe.ts).

import { DataError } from '../errors.js';
import { BYTE_CHARS, CHAR_BYTES, utf8Bytes } from './bpe-bytes.js';

/** One merge as read: the two tokens it joins and where it was read, for messages. */
export interface MergeEntry {
  left: string;
  right: string;
  /** Where the merge was written, e.g. 'merges.txt line 7'. */
  at: string;
}

/** The parts of a tokenizer as read from its files, before they are checked. */
export interface BpeParts {
  /** Token strings (byte alphabet; specials as written) and their ids. */
  vocab: ReadonlyArray<readonly [string, number]>;
  /** Merges in priority order, the first merged first. */
  merges: readonly MergeEntry[];
  /** Vocabulary entries that are special tokens. */
  specials: readonly string[];
  /** What the vocabulary was read from, for messages ('vocab.json', 'tokenizer.json'). */
  vocabSource: string;
}

/** The checked tokenizer: every table the encoder and the decoder need. */
export interface BpeTables {
  /** Token strings, index = id. */
  tokens: string[];
  /** The bytes of each token, index = id (a special's UTF-8 bytes). */
  tokenBytes: Uint8Array[];
  /** Id of each token string. */
  ids: Map<string, number>;
  /** The id of the single-byte token of each byte value. */
  byteIds: Int32Array;
  /** Rank of the merge of (left, right), keyed by left * tokens.length + right; the first merge wins. */
  pairRanks: Map<number, number>;
  /** The merges as id pairs and the id each makes, index = rank. */
  mergeLeft: Int32Array;
  mergeRight: Int32Array;
  mergeResult: Int32Array;
  /** The merges as strings, index = rank. */
  merges: Array<readonly [string, string]>;
  /** Special tokens and their ids. */
  specialIds: Map<string, number>;
}

const quote = (s: string) => JSON.stringify(s);

/** Checks `parts` and builds the tables; throws DataError naming the first inconsistency. */
export function checkBpeParts(parts: BpeParts): BpeTables {
  const src = parts.vocabSource;
  const tokens = denseTokens(parts.vocab, src);
  const n = tokens.length;
  const ids = new Map<string, number>();
  tokens.forEach((t, id) => {
    const other = ids.get(t);
    if (other !== undefined) {
      throw new DataError(`${src} has the token ${quote(t)} twice, as ids ${other} and ${id}; each token must have one id.`, 'format');
    }
    ids.set(t, id);
  });

  const specialIds = new Map<string, number>();
  for (const s of parts.specials) {
    const id = ids.get(s);
    if (id === undefined) {
      throw new DataError(`The special token ${quote(s)} is not in ${src}; name only tokens the vocabulary has.`, 'format');
    }
    if (s.length === 0) throw new DataError(`${src} names an empty special token; remove it.`, 'format');
    specialIds.set(s, id);
  }

  const byteIds = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = ids.get(BYTE_CHARS[b]);
    if (id === undefined || specialIds.has(BYTE_CHARS[b])) {
      throw new DataError(
        `${src} has no token for the byte 0x${b.toString(16).padStart(2, '0')} (written ${quote(BYTE_CHARS[b])}), so it is ` +
          'not a byte-level BPE vocabulary (GPT-2 style) and could not spell every text; use the files of a GPT-2-family model.',
        'format',
      );
    }
    byteIds[b] = id;
  }

  const tokenBytes = tokens.map((t, id) => {
    if (specialIds.has(t)) return utf8Bytes(t);
    const bytes = new Uint8Array(t.length);
    let k = 0;
    for (const ch of t) {
      const b = CHAR_BYTES.get(ch);
      if (b === undefined) {
        throw new DataError(
          `The token ${quote(t)} (id ${id}) in ${src} has the character ${quote(ch)}, which is outside GPT-2's byte alphabet, so ` +
            'this is not a byte-level BPE vocabulary (perhaps a SentencePiece or WordPiece one); use the files of a ' +
            'GPT-2-family model, or name the token as a special token if it is one.',
          'format',
        );
      }
      bytes[k++] = b;
    }
    return bytes.subarray(0, k);
  });

  const m = parts.merges.length;
  const mergeLeft = new Int32Array(m);
  const mergeRight = new Int32Array(m);
  const mergeResult = new Int32Array(m);
  const pairRanks = new Map<number, number>();
  const merges: Array<readonly [string, string]> = [];
  const made = new Set<number>();
  parts.merges.forEach(({ left, right, at }, rank) => {
    for (const side of [left, right]) {
      if (!ids.has(side) || specialIds.has(side)) {
        throw new DataError(
          `${at} merges ${quote(left)} and ${quote(right)}, but ${quote(side)} is not ${ids.has(side) ? 'an ordinary' : 'a'} ` +
            `token of ${src}; the merges and the vocabulary are not from the same tokenizer: take both from the same model folder.`,
          'format',
        );
      }
    }
    const result = ids.get(left + right);
    if (result === undefined || specialIds.has(left + right)) {
      throw new DataError(
        `${at} merges ${quote(left)} and ${quote(right)} into ${quote(left + right)}, which is not a token of ${src}; the ` +
          'merges and the vocabulary are not from the same tokenizer: take both from the same model folder.',
        'format',
      );
    }
    const l = ids.get(left)!;
    const r = ids.get(right)!;
    mergeLeft[rank] = l;
    mergeRight[rank] = r;
    mergeResult[rank] = result;
    merges.push([left, right]);
    const key = l * n + r;
    if (!pairRanks.has(key)) pairRanks.set(key, rank);
    made.add(result);
  });

  const ordinary = n - specialIds.size;
  const reachable = 256 + made.size; // a merge's result has two bytes or more, so it is never a byte token
  if (ordinary !== reachable) {
    throw new DataError(
      `${src} has ${ordinary} ordinary tokens, but the 256 bytes and the ${m} merges make ${reachable}: the vocabulary and the ` +
        'merges do not match in size, so they are not from the same tokenizer (or a special token is not named as one); ' +
        'take both from the same model folder.',
      'format',
    );
  }
  return { tokens, tokenBytes, ids, byteIds, pairRanks, mergeLeft, mergeRight, mergeResult, merges, specialIds };
}

/** The token strings by id; throws unless the ids are exactly 0..N-1, each once. */
function denseTokens(vocab: ReadonlyArray<readonly [string, number]>, src: string): string[] {
  if (vocab.length === 0) throw new DataError(`${src} has no tokens; choose the vocabulary file of a model.`, 'empty');
  const tokens: Array<string | undefined> = new Array(vocab.length);
  for (const [token, id] of vocab) {
    if (!Number.isInteger(id) || id < 0) {
      throw new DataError(
        `The token ${quote(token)} in ${src} has the id ${quote(String(id))}; ids must be whole numbers from 0. Is this a vocabulary file?`,
        'format',
      );
    }
    if (id >= vocab.length) {
      throw new DataError(
        `The token ${quote(token)} in ${src} has the id ${id}, but there are only ${vocab.length} tokens, so the ids are not ` +
          `0 to ${vocab.length - 1}; the file is incomplete or edited: take it again from the model folder.`,
        'format',
      );
    }
    const other = tokens[id];
    if (other !== undefined) {
      throw new DataError(
        `The tokens ${quote(other)} and ${quote(token)} in ${src} both have the id ${id}; each id must name one token.`,
        'format',
      );
    }
    tokens[id] = token;
  }
  return tokens as string[];
}
