// A character tokenizer: the vocabulary is the set of distinct characters (Unicode code points)
// of the training text, sorted by code point, so the same text always gives the same ids. It is
// saved as JSON next to a checkpoint, since a model's ids mean nothing without it.
// Not here: subword merges (BPE), unknown-character fallback (an unknown character is an error:
// silently mapping it would train or sample on the wrong symbol).

import { DataError } from '../errors.js';

/** The JSON form of a tokenizer, stored with checkpoints. */
export interface TokenizerJson {
  kind: 'char';
  /** The characters, index = token id. */
  vocab: string[];
}

export class CharTokenizer {
  private readonly ids: Map<string, number>;

  private constructor(readonly vocab: readonly string[]) {
    this.ids = new Map(vocab.map((ch, i) => [ch, i]));
  }

  /** The vocabulary of `text`: its distinct code points in code-point order. */
  static fromText(text: string): CharTokenizer {
    const chars = [...new Set(Array.from(text))].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    if (chars.length === 0) throw new DataError('The text is empty, so there is no vocabulary; give some text.', 'empty');
    return new CharTokenizer(chars);
  }

  /** Restores a tokenizer saved by toJSON; checks its form first. */
  static fromJSON(json: unknown): CharTokenizer {
    const j = json as Partial<TokenizerJson> | null;
    const ok =
      j !== null && typeof j === 'object' && j.kind === 'char' && Array.isArray(j.vocab) && j.vocab.length > 0 &&
      j.vocab.every((c) => typeof c === 'string' && Array.from(c).length === 1) &&
      new Set(j.vocab).size === j.vocab.length;
    if (!ok) {
      throw new DataError(
        'CharTokenizer.fromJSON: expected { kind: "char", vocab: [...] } with distinct single characters; ' +
          'pass the object that toJSON() wrote.',
        'format',
      );
    }
    return new CharTokenizer(j!.vocab!.slice());
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  toJSON(): TokenizerJson {
    return { kind: 'char', vocab: this.vocab.slice() };
  }

  /** Ids of the characters of `text`; throws DataError naming the first unknown character. */
  encode(text: string): Int32Array {
    const chars = Array.from(text);
    const out = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      const id = this.ids.get(chars[i]);
      if (id === undefined) {
        throw new DataError(
          `The character ${JSON.stringify(chars[i])} at position ${i + 1} is not in the model's vocabulary of ${this.vocabSize} ` +
            'characters; use only characters of the training text.',
          'vocabulary',
        );
      }
      out[i] = id;
    }
    return out;
  }

  /** The text of `ids`; throws DataError on an id outside [0, vocabSize). */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const ch = this.vocab[ids[i]];
      if (ch === undefined) {
        throw new DataError(
          `CharTokenizer.decode: id ${ids[i]} at position ${i} is outside [0, ${this.vocabSize}).`,
          'vocabulary',
        );
      }
      s += ch;
    }
    return s;
  }

  /** Whether every character of `text` is in the vocabulary. */
  covers(text: string): boolean {
    return Array.from(text).every((c) => this.ids.has(c));
  }
}
