// Trains a small byte-level BPE on the user's text: the 256 byte tokens (id = byte value), then,
// merge after merge, the adjacent pair that occurs most often inside GPT-2's pre-tokenised words
// (ties to the smaller pair of ids), then the special tokens. Pair counts are kept up to date
// incrementally: a merge touches only the distinct words that hold its pair, never a recount, so
// ~1 MB of text to a few thousand tokens is quick enough for a worker. The result is the same
// BpeTokenizer a pretrained model loads, so decode(encode(text)) === text for any text.
// Not here: merges across word boundaries or special tokens, dropout, dropping rare words
// (minFrequency is a floor on a pair's count, not a word's).

import { ConfigError, DataError } from '../errors.js';
import { BYTE_CHARS, splitSpecials, splitWords, utf8Bytes } from './bpe-bytes.js';
import { BpeTokenizer } from './bpe.js';
import type { MergeEntry } from './bpe-vocab.js';

export interface BpeTrainConfig {
  /** Tokens wanted in all: 256 bytes + merges + special tokens. */
  vocabSize: number;
  /** Special tokens, given the last ids; the text is cut at them, so no merge spans one. */
  specialTokens?: readonly string[];
  /** The fewest times a pair must occur to be merged; training stops early when none does. */
  minFrequency?: number;
  /** Called as training goes with the merges done and the merges planned (equal at the end). */
  onProgress?: (done: number, total: number) => void;
}

export const bpeTrainDefaults = { specialTokens: [] as readonly string[], minFrequency: 2 };

/** A byte-level BPE tokenizer of at most `config.vocabSize` tokens, trained on `text`. */
export function trainBpe(text: string, config: BpeTrainConfig): BpeTokenizer {
  const { vocabSize, onProgress } = config;
  const specialTokens = config.specialTokens ?? bpeTrainDefaults.specialTokens;
  const minFrequency = config.minFrequency ?? bpeTrainDefaults.minFrequency;
  checkConfig(vocabSize, specialTokens, minFrequency);
  if (text.length === 0) throw new DataError('The text to train the tokenizer on is empty; give some text.', 'empty');

  const { words, counts } = distinctWords(text, specialTokens);
  const planned = vocabSize - 256 - specialTokens.length;
  const pairs = new PairCounts(vocabSize);
  words.forEach((w, i) => pairs.addWord(w, counts[i], i));

  const tokens = BYTE_CHARS.slice();
  const merges: MergeEntry[] = [];
  const every = Math.max(1, Math.floor(planned / 100));
  while (merges.length < planned) {
    const best = pairs.popMostFrequent();
    if (best === null || best.count < minFrequency) break;
    const id = tokens.length;
    const [left, right] = [tokens[best.left], tokens[best.right]];
    tokens.push(left + right);
    merges.push({ left, right, at: `trained merge ${merges.length}` });
    for (const w of pairs.wordsWith(best.key)) {
      const before = words[w];
      const after = mergePair(before, best.left, best.right, id);
      if (after.length === before.length) continue; // the word lost this pair to an earlier merge
      pairs.removeWord(before, counts[w]);
      pairs.addWord(after, counts[w], w);
      words[w] = after;
    }
    pairs.forget(best.key);
    pairs.pushChanged();
    if (onProgress && merges.length % every === 0 && merges.length < planned) onProgress(merges.length, planned);
  }
  onProgress?.(merges.length, merges.length < planned ? merges.length : planned);

  const vocab: Array<readonly [string, number]> = tokens.map((t, i) => [t, i] as const);
  specialTokens.forEach((s, i) => vocab.push([s, tokens.length + i]));
  return BpeTokenizer.fromParts({ vocab, merges, specials: specialTokens, vocabSource: 'the trained vocabulary' });
}

function checkConfig(vocabSize: number, specials: readonly string[], minFrequency: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specials.length) {
    throw new ConfigError(
      `trainBpe: vocabSize ${vocabSize} is too small; it must be a whole number of at least 256 (one token per byte)` +
        (specials.length > 0 ? ` + ${specials.length} special tokens = ${256 + specials.length}.` : '.'),
    );
  }
  if (vocabSize > 1 << 20) throw new ConfigError(`trainBpe: vocabSize ${vocabSize} is over the ${1 << 20} this trainer supports; choose a smaller one.`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new ConfigError(`trainBpe: minFrequency ${minFrequency} must be a whole number of at least 1.`);
  }
  const seen = new Set<string>();
  for (const s of specials) {
    if (typeof s !== 'string' || s.length === 0 || seen.has(s)) {
      throw new ConfigError(`trainBpe: the special tokens must be distinct, non-empty strings; ${JSON.stringify(s)} is not.`);
    }
    if (BYTE_CHARS.includes(s)) {
      throw new ConfigError(`trainBpe: the special token ${JSON.stringify(s)} is spelled like a byte token; choose a longer one, such as "<|endoftext|>".`);
    }
    seen.add(s);
  }
}

/** The distinct pre-tokenised words of `text` (outside special tokens) as byte ids, with counts. */
function distinctWords(text: string, specials: readonly string[]): { words: number[][]; counts: number[] } {
  const index = new Map<string, number>();
  const counts: number[] = [];
  for (const part of splitSpecials(text, specials)) {
    if (part.special) continue;
    for (const word of splitWords(part.text)) {
      const i = index.get(word);
      if (i === undefined) {
        index.set(word, counts.length);
        counts.push(1);
      } else counts[i]++;
    }
  }
  const words = [...index.keys()].map((w) => Array.from(utf8Bytes(w)));
  return { words, counts };
}

/** `word` with every occurrence of (left, right), left to right, replaced by `id`. */
function mergePair(word: number[], left: number, right: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (i + 1 < word.length && word[i] === left && word[i + 1] === right) {
      out.push(id);
      i++;
    } else out.push(word[i]);
  }
  return out;
}

/**
 * How often each adjacent pair occurs (weighted by word counts), which words hold it, and a
 * max-heap to find the most frequent. The heap is lazy: an entry whose count is out of date is
 * re-pushed with the current count when it surfaces, so a decrement costs nothing up front.
 */
class PairCounts {
  private readonly count = new Map<number, number>();
  private readonly where = new Map<number, Set<number>>();
  private readonly changed = new Set<number>();
  private readonly heap = new PairHeap();

  constructor(private readonly base: number) {}

  addWord(word: number[], times: number, w: number): void {
    for (let i = 0; i + 1 < word.length; i++) {
      const key = word[i] * this.base + word[i + 1];
      this.count.set(key, (this.count.get(key) ?? 0) + times);
      let set = this.where.get(key);
      if (!set) this.where.set(key, (set = new Set()));
      set.add(w);
      this.changed.add(key);
    }
  }

  removeWord(word: number[], times: number): void {
    for (let i = 0; i + 1 < word.length; i++) {
      const key = word[i] * this.base + word[i + 1];
      this.count.set(key, this.count.get(key)! - times);
    }
  }

  /** Puts every pair whose count rose (or is new) since the last call into the heap. */
  pushChanged(): void {
    for (const key of this.changed) {
      const c = this.count.get(key) ?? 0;
      if (c > 0) this.heap.push(c, key);
    }
    this.changed.clear();
  }

  /** The words that may hold the pair (some may have lost it since; callers check). */
  wordsWith(key: number): number[] {
    return [...(this.where.get(key) ?? [])];
  }

  forget(key: number): void {
    this.count.delete(key);
    this.where.delete(key);
    this.changed.delete(key);
  }

  popMostFrequent(): { key: number; left: number; right: number; count: number } | null {
    if (this.changed.size > 0) this.pushChanged();
    for (;;) {
      const top = this.heap.pop();
      if (top === null) return null;
      const current = this.count.get(top.key) ?? 0;
      if (current === top.count) return { ...top, left: Math.floor(top.key / this.base), right: top.key % this.base };
      if (current > 0) this.heap.push(current, top.key); // out of date: back in at its current count
    }
  }
}

/** A binary max-heap of (count, key): larger count first, then the smaller key (the smaller pair of ids). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  private before(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    for (let i = this.counts.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } | null {
    const n = this.counts.length;
    if (n === 0) return null;
    const top = { count: this.counts[0], key: this.keys[0] };
    this.swap(0, n - 1);
    this.counts.pop();
    this.keys.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n - 1 && this.before(l, m)) m = l;
      if (r < n - 1 && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}
