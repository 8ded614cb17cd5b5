// The byte level under GPT-2's BPE: the reversible map from the 256 byte values to printable
// characters (so a vocabulary file can be plain JSON), the pre-tokeniser that cuts text into the
// words merges never cross, and the cut of text around special tokens.
// Not here: merges, vocabularies or files (bpe.ts, bpe-files.ts).

/**
 * GPT-2's byte alphabet: byte b is written as the character BYTE_CHARS[b]. Printable Latin-1
 * bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 (controls, space, soft
 * hyphen, ...) take the code points from U+0100 upwards in byte order, so a space is 'Ġ' and a
 * newline is 'Ċ'.
 */
export const BYTE_CHARS: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : next++));
  return chars;
})();

/** The byte each alphabet character stands for; the inverse of BYTE_CHARS. */
export const CHAR_BYTES: ReadonlyMap<string, number> = new Map(BYTE_CHARS.map((c, b) => [c, b]));

/**
 * GPT-2's pre-tokeniser: contractions, an optional space and letters, an optional space and
 * digits, an optional space and other symbols, whitespace not followed by non-whitespace (so the
 * last space of a run is left to lead the next word), and any other whitespace. Whitespace is the
 * Unicode White_Space property, as in the Python `regex` module GPT-2 was built with; JavaScript's
 * `\s` would differ on U+0085 (whitespace to Python) and U+FEFF (not).
 */
export const GPT2_SPLIT =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** The pre-tokenised words of `text`, in order; their concatenation is `text`. */
export function splitWords(text: string): string[] {
  return text.match(GPT2_SPLIT) ?? [];
}

/** A stretch of text to be byte-pair encoded, or a special token recognised in it. */
export interface TextPart {
  text: string;
  special: boolean;
}

/**
 * Cuts `text` at every occurrence of the given special tokens, leftmost first and, where two
 * start at the same place, the longest. With no specials the text is one ordinary part.
 */
export function splitSpecials(text: string, specials: readonly string[]): TextPart[] {
  if (specials.length === 0 || text.length === 0) return text.length === 0 ? [] : [{ text, special: false }];
  const escaped = [...specials].sort((a, b) => b.length - a.length).map((s) => s.replace(/[\\^$*+?.()|[\]{}]/g, '\\$&'));
  const re = new RegExp(escaped.join('|'), 'gu');
  const parts: TextPart[] = [];
  let start = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > start) parts.push({ text: text.slice(start, m.index), special: false });
    parts.push({ text: m[0], special: true });
    start = m.index + m[0].length;
  }
  if (start < text.length) parts.push({ text: text.slice(start), special: false });
  return parts;
}

const utf8 = new TextEncoder();
const replacingDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** The UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD's bytes, as TextEncoder does). */
export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/**
 * The text of UTF-8 `bytes`, each maximal invalid subsequence replaced by one U+FFFD: the
 * Unicode Standard's recommended practice, which is also what Python's
 * `bytes.decode('utf-8', errors='replace')` does. A leading byte-order mark is kept as text.
 */
export function utf8Text(bytes: Uint8Array): string {
  return replacingDecoder.decode(bytes);
}
