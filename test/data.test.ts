// The text pipeline on the host: the generated corpus (deterministic, scoreable), the character
// tokenizer (round trip, JSON, unknown characters), the train/validation split, the seeded batch
// sampler (shifted targets, determinism), the unigram baseline and upload validation.

import { describe, expect, it } from 'vitest';
import {
  BatchSampler, CharTokenizer, DataError, evalBatches, generateCorpus, scoreArithmetic, splitTrainVal, unigramLoss,
  validateUserText,
} from '../src/index.js';

describe('generated corpus', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = generateCorpus({ seed: 3, lines: 200 });
    expect(generateCorpus({ seed: 3, lines: 200 })).toBe(a);
    expect(generateCorpus({ seed: 4, lines: 200 })).not.toBe(a);
    expect(a.split('\n').length).toBe(201); // 200 lines, each ending in a newline
  });

  it('holds only correct arithmetic lines and stories, in about the asked share', () => {
    const text = generateCorpus({ seed: 5, lines: 1000, arithmeticShare: 0.3 });
    const s = scoreArithmetic(text);
    expect(s.correct).toBe(s.lines);
    expect(s.lines).toBeGreaterThan(240);
    expect(s.lines).toBeLessThan(360);
    for (const line of text.split('\n').slice(0, -1)) expect(line).toMatch(/^(\d+[+-]\d+=\d+|[A-Z][A-Za-z .]+)$/);
  });

  it('scores generated lines: wrong results, other lines and an unterminated tail', () => {
    const s = scoreArithmetic('12+30=42\n7-9=2\nAda had a cat.\n5+5=10\n99+1=10');
    expect(s).toEqual({ lines: 3, correct: 2, fraction: 2 / 3 });
    expect(scoreArithmetic('no numbers here')).toEqual({ lines: 0, correct: 0, fraction: 0 });
  });
});

describe('character tokenizer', () => {
  const text = 'Zoe had a hat.\n3+4=7\nhé ✓ 𝄞';

  it('round-trips text, including characters outside the BMP, with a sorted vocabulary', () => {
    const tok = CharTokenizer.fromText(text);
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.vocab).toEqual([...tok.vocab].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
    expect(tok.vocabSize).toBe(new Set(Array.from(text)).size);
    expect(tok.encode('𝄞').length).toBe(1);
  });

  it('is restored from its JSON form and refuses malformed JSON', () => {
    const tok = CharTokenizer.fromText(text);
    const back = CharTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
    expect(back.vocab).toEqual(tok.vocab);
    expect(Array.from(back.encode(text))).toEqual(Array.from(tok.encode(text)));
    for (const bad of [null, {}, { kind: 'bpe', vocab: ['a'] }, { kind: 'char', vocab: ['a', 'a'] }, { kind: 'char', vocab: ['ab'] }]) {
      expect(() => CharTokenizer.fromJSON(bad)).toThrow(DataError);
    }
  });

  it('names an unknown character and an out-of-range id', () => {
    const tok = CharTokenizer.fromText('abc');
    expect(() => tok.encode('abd')).toThrow(/"d" at position 3/); // counted from 1, as the user reads
    expect(() => tok.decode([0, 3])).toThrow(/id 3 at position 1/);
    expect(tok.covers('cab')).toBe(true);
    expect(tok.covers('cat')).toBe(false);
  });
});

describe('split and batches', () => {
  const tokens = Int32Array.from({ length: 1000 }, (_, i) => (i * 7) % 13);

  it('splits head/tail by the fraction', () => {
    const { train, val } = splitTrainVal(tokens, 0.1);
    expect(train.length).toBe(900);
    expect(val.length).toBe(100);
    expect(val[0]).toBe(tokens[900]);
  });

  it('samples windows with targets shifted by one, the same for the same seed', () => {
    const a = new BatchSampler(tokens, { batch: 5, block: 8, seed: 11 });
    const b = new BatchSampler(tokens, { batch: 5, block: 8, seed: 11 });
    const c = new BatchSampler(tokens, { batch: 5, block: 8, seed: 12 });
    for (let step = 0; step < 20; step++) {
      const x = a.next();
      const y = b.next();
      expect(Array.from(x.x)).toEqual(Array.from(y.x));
      expect(Array.from(x.y)).toEqual(Array.from(y.y));
      for (let r = 0; r < 5; r++) {
        // The stream is i -> 7i mod 13, so the next token is the current one + 7 (mod 13).
        for (let t = 0; t < 8; t++) expect(x.y[r * 8 + t]).toBe((x.x[r * 8 + t] + 7) % 13);
      }
    }
    expect(Array.from(c.next().x)).not.toEqual(Array.from(new BatchSampler(tokens, { batch: 5, block: 8, seed: 11 }).next().x));
  });

  it('reaches the last window and refuses a stream shorter than a window', () => {
    const short = Int32Array.from({ length: 10 }, (_, i) => i);
    const s = new BatchSampler(short, { batch: 64, block: 9, seed: 1 });
    const { x, y } = s.next();
    expect(Array.from(x.subarray(0, 9))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(y[8]).toBe(9);
    expect(() => new BatchSampler(short, { batch: 1, block: 10 })).toThrow(DataError);
  });

  it('evaluation batches tile the stream once, in order', () => {
    const bs = evalBatches(tokens.subarray(0, 101), 3, 10); // 10 windows: 4 batches, the last padded
    expect(bs.length).toBe(4);
    expect(bs[0].x[10]).toBe(tokens[10]);
    expect(bs[3].x[0]).toBe(tokens[90]);
    expect(bs[3].y[9]).toBe(tokens[100]);
    expect(bs[3].x[10]).toBe(tokens[0]);
  });

  it('unigram loss is the entropy of the symbol frequencies', () => {
    const t = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
    // Add-one smoothing over 4 symbols keeps the distribution uniform here: ln 4.
    expect(unigramLoss(t, t, 4)).toBeCloseTo(Math.log(4), 12);
    const skew = Int32Array.from([...new Array(98).fill(0), 1, 1]);
    expect(unigramLoss(skew, skew, 2)).toBeLessThan(0.2);
  });
});

describe('uploaded text', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const reason = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(DataError);
      return (e as DataError).reason;
    }
    throw new Error('no error thrown');
  };

  it('accepts UTF-8 text and returns it', () => {
    expect(validateUserText(enc('First Citizen:\r\n\tBefore we proceed… ✓\n'))).toBe('First Citizen:\r\n\tBefore we proceed… ✓\n');
    expect(validateUserText(enc('abc').buffer as ArrayBuffer)).toBe('abc');
  });

  it('refuses empty, whitespace-only, oversized, binary and non-UTF-8 uploads with their reason', () => {
    expect(reason(() => validateUserText(new Uint8Array(0)))).toBe('empty');
    expect(reason(() => validateUserText(enc(' \n\t ')))).toBe('empty');
    expect(reason(() => validateUserText(enc('x'.repeat(101)), { maxBytes: 100 }))).toBe('too-large');
    expect(reason(() => validateUserText(Uint8Array.from([72, 105, 0, 33])))).toBe('binary');
    const controls = enc('hello world ' + '\x01\x02\x03'.repeat(5));
    expect(reason(() => validateUserText(controls))).toBe('binary');
    expect(reason(() => validateUserText(Uint8Array.from([0x68, 0x69, 0xc3, 0x28])))).toBe('encoding');
    expect(reason(() => validateUserText(Uint8Array.from([0xff, 0xfe, 0x41])))).toBe('encoding');
  });

  it('says what is wrong with a text in words that fit a paste as well as a file, led by no function name', () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('no error thrown');
    };
    expect(message(() => validateUserText(new Uint8Array(0)))).toBe('The text is empty; choose a file with some text in it, or paste some.');
    expect(message(() => validateUserText(enc(' \n ')))).toBe('The text is only whitespace; choose a file with some text in it, or paste some.');
    expect(message(() => validateUserText(Uint8Array.from([72, 105, 0, 33])))).toMatch(/^This looks like a binary file, not text \(byte 2 is NUL\)/);
    expect(message(() => CharTokenizer.fromText('ab').encode('abc'))).toBe(
      'The character "c" at position 3 is not in the model\'s vocabulary of 2 characters; use only characters of the training text.');
    for (const m of [new Uint8Array(0), enc(' '), enc('x'.repeat(9)), Uint8Array.from([0]), Uint8Array.from([0xff])].map((b) => message(() => validateUserText(b, { maxBytes: 8 })))) {
      expect(m).not.toMatch(/^[\w .]+: /);
    }
  });
});
