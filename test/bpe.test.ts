// The byte-level BPE tokenizer: loaded from GPT-2's real files (rebuilt from js-tiktoken's ranks),
// it gives js-tiktoken's GPT-2 ids token for token on prose, whitespace, contractions, numbers,
// code, accented, CJK and emoji text, special tokens and seeded random Unicode; decode inverts
// encode and replaces invalid UTF-8 as Python does; tokenizer.json and the saved JSON give the same
// ids; every bad file is refused in words. Training: the most frequent pair first, ties to the
// smaller pair, the same merges as a full recount, round trips and shorter encodings.

import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import { BYTE_CHARS, splitWords } from '../src/data/bpe-bytes.js';
import { BpeTokenizer, tokenizerFromJSON } from '../src/data/bpe.js';
import { trainBpe } from '../src/data/bpe-train.js';
import { mulberry32 } from '../src/data/random.js';
import { CharTokenizer } from '../src/data/tokenizer.js';
import { ConfigError, DataError } from '../src/errors.js';
import { gpt2Files } from './support/gpt2-files.js';

const files = gpt2Files();
const gpt2 = BpeTokenizer.fromVocabAndMerges(files.vocabJson, files.mergesTxt);
const reference = getEncoding('gpt2');
/** js-tiktoken's ids with special tokens read as ordinary text. */
const tiktokenIds = (text: string) => reference.encode(text, [], []);

function expectGpt2(text: string): void {
  const ids = gpt2.encode(text);
  expect(Array.from(ids)).toEqual(tiktokenIds(text));
  expect(gpt2.decode(ids)).toBe(text);
}

/** A string of `n` code points from a seeded mix of scripts, whitespace, emoji and unassigned points. */
function randomUnicode(seed: number, n: number): string {
  const rand = mulberry32(seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const spaces = [' ', ' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u2028', '\u000b', '\u000c', '\u2009'];
  const points: number[] = [];
  while (points.length < n) {
    const r = rand();
    let cp: number;
    if (r < 0.3) cp = pick(0x20, 0x7e);
    else if (r < 0.42) cp = spaces[pick(0, spaces.length - 1)].codePointAt(0)!;
    else if (r < 0.55) cp = pick(0xa0, 0x24f);
    else if (r < 0.65) cp = pick(0x4e00, 0x9fff);
    else if (r < 0.72) cp = pick(0x300, 0x36f); // combining marks
    else if (r < 0.8) cp = [0x200d, 0xfe0f, pick(0x1f300, 0x1faff)][pick(0, 2)];
    else if (r < 0.92) cp = pick(0, 0xffff);
    else cp = pick(0x10000, 0x10ffff);
    // Surrogates are not characters; U+0085 and U+FEFF are where JavaScript's \s (js-tiktoken)
    // and Python's (GPT-2) disagree, checked on their own below.
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0x85 || cp === 0xfeff) continue;
    points.push(cp);
  }
  return String.fromCodePoint(...points);
}

describe('GPT-2 encoding', () => {
  it('gives the ids GPT-2 gives a known sentence', () => {
    expect(Array.from(gpt2.encode('Hello world'))).toEqual([15496, 995]);
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.specialTokens).toEqual(['<|endoftext|>']);
    expect(gpt2.covers('any text ✓')).toBe(true);
    expect(gpt2.vocab[995]).toBe('Ġworld');
    expect(gpt2.decode([995])).toBe(' world');
  });

  it.each([
    ['prose', 'The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.'],
    ['whitespace runs', 'a  b   c\t\td\n\ne \n \n\t x   \n\n\n   trailing spaces   '],
    ['only whitespace', '   \t\n  '],
    ['contractions', "I'm sure you'll see they've said it's what we'd do, and you're right: don't."],
    ['uppercase contractions', "IT'S I'M WE'LL THEY'RE YOU'VE HE'D DON'T 'S 'T"],
    ['numbers', '0 1 12 123 1234 12345 3.14159 1,000,000 -42 +7 0x1F 2024-12-07 ٣٤٥ ½'],
    ['punctuation', '!!! ??? ... --- ((())) [[x]] {"a": 1} <tag/> @#$%^&*_+=|\\~`'],
    ['code', 'def f(x):\n    return x ** 2  # square\n\nfor (let i = 0; i < n; i++) {\n\tsum += a[i];\n}\n'],
    ['accented', 'Café naïve façade résumé Ærøskøbing Łódź Ἀθῆναι Москва'],
    ['CJK', '日本語のテキストです。中文文本，还有标点。한국어 문장도 있습니다.'],
    ['emoji and ZWJ sequences', '👍🏽 👩‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 ❤️ 🧑🏿‍💻'],
    ['combining marks', 'e\u0301 a\u0308\u0323 Z\u0351\u0352\u0353 n\u0303o'],
    ['special token as text', 'one<|endoftext|>two <|endoftext|> <|endof'],
  ])('matches js-tiktoken on %s', (_, text) => expectGpt2(text));

  it("treats only lowercase 's as a contraction", () => {
    expect(Array.from(gpt2.encode("'s"))).toEqual([files.vocab["'s"]]);
    expect(Array.from(gpt2.encode("'S"))).toEqual([files.vocab["'"], files.vocab['S']]);
  });

  it('matches js-tiktoken on seeded random Unicode', () => {
    for (const seed of [1, 2, 3]) {
      const text = randomUnicode(seed, 3000);
      expectGpt2(text);
      expectGpt2(text.slice(1000, 1500));
    }
  });

  it("counts U+0085 as whitespace and U+FEFF as not, as GPT-2's Python regex does", () => {
    // Python: regex.findall(GPT-2's pattern, 'x\x85!') == ['x', '\x85', '!'] and 'x\ufeff!' gives ['x', '\ufeff!'].
    expect(splitWords('x\u0085!')).toEqual(['x', '\u0085', '!']);
    expect(splitWords('x\ufeff!')).toEqual(['x', '\ufeff!']);
    expect(splitWords('x \u0085\u0085y')).toEqual(['x', ' \u0085', '\u0085', 'y']);
    const byWords = (words: string[]) => words.flatMap((w) => tiktokenIds(w));
    expect(Array.from(gpt2.encode('x\u0085!'))).toEqual(byWords(['x', '\u0085', '!']));
    expect(Array.from(gpt2.encode('x\ufeff!'))).toEqual(byWords(['x', '\ufeff!']));
  });

  it('recognises <|endoftext|> only where allowed', () => {
    const text = 'end<|endoftext|>start';
    expect(Array.from(gpt2.encode(text))).toEqual(tiktokenIds(text));
    expect(gpt2.encode(text)).not.toContain(50256);
    const allowed = Array.from(gpt2.encode(text, { allowedSpecial: 'all' }));
    expect(allowed).toEqual(reference.encode(text, 'all'));
    expect(allowed).toContain(50256);
    expect(Array.from(gpt2.encode(text, { allowedSpecial: ['<|endoftext|>'] }))).toEqual(allowed);
    expect(gpt2.decode(allowed)).toBe(text);
    expect(gpt2.specialTokenId('<|endoftext|>')).toBe(50256);
    expect(() => gpt2.encode(text, { allowedSpecial: ['<|pad|>'] })).toThrow(/does not have; it has "<\|endoftext\|>"/);
    expect(() => gpt2.specialTokenId('<|pad|>')).toThrow(DataError);
  });
});

describe('GPT-2 decoding', () => {
  const byteId = (b: number) => files.vocab[BYTE_CHARS[b]];
  const ids = (...bytes: number[]) => bytes.map(byteId);

  it('returns the raw bytes of ids', () => {
    expect(Array.from(gpt2.decodeBytes(ids(0xe2, 0x82)))).toEqual([0xe2, 0x82]);
    expect(new TextDecoder().decode(gpt2.decodeBytes(gpt2.encode('héllo 👋')))).toBe('héllo 👋');
  });

  it.each([
    ['a lone continuation byte', [0x80], '\ufffd'],
    ['a truncated 3-byte sequence between letters', [0x61, 0xe2, 0x82, 0x62], 'a\ufffdb'],
    ['a truncated 3-byte sequence at the end', [0xe2, 0x82], '\ufffd'],
    ['a truncated 4-byte sequence', [0xf0, 0x9f, 0x98], '\ufffd'],
    ['an encoded surrogate (each byte)', [0xed, 0xa0, 0x80], '\ufffd\ufffd\ufffd'],
    ['an overlong encoding of "/"', [0xc0, 0xaf], '\ufffd\ufffd'],
    ['a byte never in UTF-8', [0xff], '\ufffd'],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], '\ufffd\ufffd\ufffd\ufffd'],
    ['a stray continuation after a whole character', [0xe2, 0x82, 0xac, 0x80], '€\ufffd'],
  ])("replaces %s as Python's errors='replace' does", (_, bytes, expected) => {
    expect(gpt2.decode(ids(...bytes))).toBe(expected);
  });

  it('names an id outside the vocabulary and its size', () => {
    for (const bad of [50257, -1, 1.5]) {
      expect(() => gpt2.decode([15496, bad])).toThrow(new RegExp(`id ${bad} at position 1 is outside the vocabulary of 50257 tokens`));
    }
  });
});

describe('other forms of the same tokenizer', () => {
  const texts = ['Hello world', "It's 2024!\n\n  x", randomUnicode(9, 500), 'a<|endoftext|>b'];
  const same = (tok: BpeTokenizer) => {
    for (const t of texts) {
      expect(Array.from(tok.encode(t))).toEqual(Array.from(gpt2.encode(t)));
      expect(Array.from(tok.encode(t, { allowedSpecial: 'all' }))).toEqual(Array.from(gpt2.encode(t, { allowedSpecial: 'all' })));
    }
    expect(tok.vocabSize).toBe(gpt2.vocabSize);
  };

  it('tokenizer.json with "left right" merges, as text or bytes', () => {
    same(BpeTokenizer.fromTokenizerJson(files.tokenizerJson));
    same(BpeTokenizer.fromTokenizerJson(new TextEncoder().encode(files.tokenizerJson)));
  });

  it('tokenizer.json with [left, right] merges', () => {
    const json = JSON.parse(files.tokenizerJson);
    json.model.merges = files.merges;
    same(BpeTokenizer.fromTokenizerJson(JSON.stringify(json)));
  });

  it('the saved JSON form, also through tokenizerFromJSON', () => {
    const saved = JSON.parse(JSON.stringify(gpt2.toJSON()));
    expect(saved.kind).toBe('bpe');
    same(BpeTokenizer.fromJSON(saved));
    const restored = tokenizerFromJSON(saved);
    expect(restored).toBeInstanceOf(BpeTokenizer);
    same(restored as BpeTokenizer);
    expect(tokenizerFromJSON(CharTokenizer.fromText('abc').toJSON())).toBeInstanceOf(CharTokenizer);
    expect(() => tokenizerFromJSON({ kind: 'word' })).toThrow(/kind "word"; expected "char" or "bpe"/);
    expect(() => BpeTokenizer.fromJSON({ kind: 'bpe', vocab: [] })).toThrow(/pass the object that toJSON\(\) wrote/);
  });
});

/** A small byte-level vocabulary: the 256 bytes, the results of `merges`, then `extra` tokens. */
function smallVocab(merges: string[], extra: string[] = []): Record<string, number> {
  const tokens = [...BYTE_CHARS, ...merges.map((m) => m.replace(' ', '')), ...extra];
  return Object.fromEntries(tokens.map((t, i) => [t, i]));
}
const mergesTxt = (merges: string[]) => ['#version: 0.2', ...merges].join('\n') + '\n';

describe('bad tokenizer files', () => {
  const merges = ['Ġ t', 'h e', 'Ġt he'];
  const vocabJson = JSON.stringify(smallVocab(merges));

  it('loads the small well-formed files', () => {
    const tok = BpeTokenizer.fromVocabAndMerges(vocabJson, mergesTxt(merges));
    expect(tok.vocabSize).toBe(259);
    expect(tok.decode(tok.encode(' the'))).toBe(' the');
    expect(tok.encode(' the')).toEqual(Int32Array.from([258]));
  });

  const refused = (load: () => unknown, message: RegExp, reason: DataError['reason'] = 'format') => {
    let error: unknown;
    try {
      load();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).message).toMatch(message);
    expect((error as DataError).reason).toBe(reason);
  };
  const load = (vocab: string | Uint8Array, merges: string, specials?: string[]) => () =>
    BpeTokenizer.fromVocabAndMerges(vocab, merges, specials);

  it('empty, not JSON, not UTF-8', () => {
    refused(load('', mergesTxt(merges)), /vocab\.json is empty/, 'empty');
    refused(load(vocabJson, ' \n'), /merges\.txt is empty/, 'empty');
    refused(load('{"a": 0,', mergesTxt(merges)), /vocab\.json is not JSON/);
    refused(load(Uint8Array.from([0x7b, 0xff, 0x7d]), mergesTxt(merges)), /vocab\.json is not valid UTF-8/, 'encoding');
    refused(() => BpeTokenizer.fromTokenizerJson(''), /tokenizer\.json is empty/, 'empty');
  });

  it('files swapped or of the wrong kind', () => {
    refused(load('["a", "b"]', mergesTxt(merges)), /should map each token to its id/);
    refused(load(files.tokenizerJson, mergesTxt(merges)), /looks like a tokenizer\.json/);
    refused(load(vocabJson, vocabJson), /merges\.txt looks like JSON/);
    refused(() => BpeTokenizer.fromTokenizerJson(vocabJson), /no "model" object.*looks like a vocab\.json/);
  });

  it('a merge line that is not two tokens', () => {
    refused(load(vocabJson, mergesTxt(['Ġ t', 'he'])), /merges\.txt line 3 is "he".*two tokens separated by one space/);
  });

  it('a merge naming a token missing from the vocabulary, or making one', () => {
    refused(load(vocabJson, mergesTxt([...merges, 'Ġthe zz'])), /merges\.txt line 5 merges "Ġthe" and "zz", but "zz" is not a token/);
    const short = JSON.stringify(smallVocab(['Ġ t', 'h e']));
    refused(load(short, mergesTxt(merges)), /line 4 merges "Ġt" and "he" into "Ġthe", which is not a token of vocab\.json/);
  });

  it('a vocabulary that is not byte-level', () => {
    refused(load(JSON.stringify(smallVocab(merges, ['▁the'])), mergesTxt(merges)), /"▁the" \(id 259\).*outside GPT-2's byte alphabet/);
    const noNewline = smallVocab([]);
    delete noNewline['Ċ'];
    const ids = Object.fromEntries(Object.keys(noNewline).map((t, i) => [t, i]));
    refused(load(JSON.stringify(ids), mergesTxt([])), /no token for the byte 0x0a/);
  });

  it('sizes and ids that do not match', () => {
    const real = load(files.vocabJson, files.mergesTxt.split('\n').slice(0, 101).join('\n'));
    refused(real, /has 50256 ordinary tokens, but the 256 bytes and the 100 merges make 356/);
    refused(load(JSON.stringify({ ...smallVocab(merges), extra: 500 }), mergesTxt(merges)), /id 500, but there are only 260 tokens/);
    refused(load(JSON.stringify({ ...smallVocab(merges), extra: 3 }), mergesTxt(merges)), /both have the id 3/);
    refused(load(JSON.stringify({ ...smallVocab(merges), extra: '7' }), mergesTxt(merges)), /maps "extra" to "7" rather than to an id/);
  });

  it('special tokens the vocabulary lacks', () => {
    refused(load(vocabJson, mergesTxt(merges), ['<|pad|>']), /special token "<\|pad\|>" is not in vocab\.json/);
  });

  it('tokenizer.json of another kind of tokenizer', () => {
    const edit = (change: (j: Record<string, any>) => void) => () => {
      const j = JSON.parse(files.tokenizerJson);
      change(j);
      return BpeTokenizer.fromTokenizerJson(JSON.stringify(j));
    };
    refused(edit((j) => (j.model.type = 'WordPiece')), /"WordPiece" tokenizer, not BPE/);
    refused(edit((j) => (j.pre_tokenizer = { type: 'Metaspace' })), /pre-tokenizer is "Metaspace", not GPT-2's ByteLevel/);
    refused(edit((j) => (j.pre_tokenizer.add_prefix_space = true)), /"ByteLevel" with a prefix space/);
    refused(edit((j) => (j.normalizer = { type: 'NFC' })), /normalises text \("NFC"\)/);
    refused(edit((j) => (j.model.merges[2] = 'abc')), /model\.merges\[2\] is "abc"/);
    refused(edit((j) => (j.added_tokens[0].id = 7)), /added token "<\|endoftext\|>" the id 7, but model\.vocab gives it 50256/);
  });
});

/** BPE training the slow way: count every pair afresh before each merge. */
function trainByRecount(text: string, merges: number): Array<[string, string]> {
  let words = splitWords(text).map((w) => Array.from(new TextEncoder().encode(w), (b) => BYTE_CHARS[b]));
  const out: Array<[string, string]> = [];
  const idOf = new Map(BYTE_CHARS.map((c, i) => [c, i]));
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, { n: number; l: string; r: string }>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const k = `${w[i]}\u0000${w[i + 1]}`;
        const c = counts.get(k) ?? { n: 0, l: w[i], r: w[i + 1] };
        c.n++;
        counts.set(k, c);
      }
    }
    let best: { n: number; l: string; r: string } | null = null;
    for (const c of counts.values()) {
      const order = best === null ? 1 : c.n - best.n || idOf.get(best.l)! - idOf.get(c.l)! || idOf.get(best.r)! - idOf.get(c.r)!;
      if (order > 0) best = c;
    }
    if (best === null || best.n < 2) break;
    const { l, r } = best;
    out.push([l, r]);
    idOf.set(l + r, BYTE_CHARS.length + m);
    words = words.map((w) => {
      const next: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === l && w[i + 1] === r) next.push(w[i++] + r);
        else next.push(w[i]);
      }
      return next;
    });
  }
  return out;
}

describe('training a BPE', () => {
  // 300 made-up words, drawn with Zipf-like frequencies, with punctuation, digits and newlines.
  const rand = mulberry32(7);
  const letters = 'etaoinshrdlucmfwypvbgkqjxz';
  const made = Array.from({ length: 300 }, () =>
    Array.from({ length: 2 + Math.floor(rand() * 7) }, () => letters[Math.floor(letters.length * rand() ** 2)]).join(''),
  );
  const words = [...made, "it's", '42', '!', '.\n', 'Über', '日本'];
  const text = Array.from({ length: 4000 }, () => words[Math.floor(words.length * rand() ** 3)]).join(' ') + '\n';

  it('merges the most frequent pair first, and ties to the smaller pair of ids', () => {
    const progress: Array<[number, number]> = [];
    const tok = trainBpe('abababab cd cd', { vocabSize: 300, onProgress: (d, t) => progress.push([d, t]) });
    // (a,b) 4 times; then (ab,ab) 3; then (Ġ,c) and (c,d) 2 each, Ġ (0x20) before c; (Ġc,d) 2; (abab,abab) once only.
    expect(tok.merges).toEqual([['a', 'b'], ['ab', 'ab'], ['Ġ', 'c'], ['Ġc', 'd']]);
    expect(tok.vocabSize).toBe(260);
    expect(progress.at(-1)).toEqual([4, 4]);
    expect(Array.from(tok.encode('abababab cd'))).toEqual([257, 257, 259]);
  });

  it('is deterministic and gives the merges a full recount gives', () => {
    const a = trainBpe(text, { vocabSize: 400 });
    expect(trainBpe(text, { vocabSize: 400 }).toJSON()).toEqual(a.toJSON());
    expect(a.merges).toHaveLength(400 - 256);
    expect(a.merges).toEqual(trainByRecount(text, 400 - 256));
  });

  it('round-trips any text and shortens its training text', () => {
    const tok = trainBpe(text, { vocabSize: 600, specialTokens: ['<|endoftext|>'] });
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(text).length / 2);
    for (const seed of [11, 12]) {
      const other = randomUnicode(seed, 2000);
      expect(tok.decode(tok.encode(other))).toBe(other);
    }
  });

  it('gives special tokens the last ids and never merges across them', () => {
    const tok = trainBpe('ab<|endoftext|>ab<|endoftext|>ab', { vocabSize: 300, specialTokens: ['<|endoftext|>'] });
    expect(tok.merges).toEqual([['a', 'b']]);
    expect(tok.specialTokenId('<|endoftext|>')).toBe(tok.vocabSize - 1);
    expect(Array.from(tok.encode('ab<|endoftext|>', { allowedSpecial: 'all' }))).toEqual([256, 257]);
    expect(BpeTokenizer.fromJSON(tok.toJSON()).encode('ab<|endoftext|>', { allowedSpecial: 'all' })).toEqual(Int32Array.from([256, 257]));
  });

  it('reports progress up to the merges planned', () => {
    const progress: Array<[number, number]> = [];
    trainBpe(text, { vocabSize: 356, onProgress: (d, t) => progress.push([d, t]) });
    expect(progress.at(-1)).toEqual([100, 100]);
    for (let i = 1; i < progress.length; i++) expect(progress[i][0]).toBeGreaterThan(progress[i - 1][0]);
  });

  it('refuses settings and text it cannot train on', () => {
    expect(() => trainBpe(text, { vocabSize: 256, specialTokens: ['<|endoftext|>'] })).toThrow(ConfigError);
    expect(() => trainBpe(text, { vocabSize: 256, specialTokens: ['<|endoftext|>'] })).toThrow(/at least 256.*= 257/);
    expect(() => trainBpe(text, { vocabSize: 300, specialTokens: ['a'] })).toThrow(/spelled like a byte token/);
    expect(() => trainBpe('', { vocabSize: 300 })).toThrow(DataError);
  });
});
