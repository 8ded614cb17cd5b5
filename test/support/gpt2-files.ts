// GPT-2's real tokenizer files, rebuilt from the rank table js-tiktoken ships, so the tokenizer
// tests read the same vocab.json, merges.txt and tokenizer.json a user downloads, with no
// download. A token's rank is its id; each token of rank 256 and up was made by one merge, found
// by running rank-ordered BPE on its bytes with only the tokens ranked below it: what is left is
// the two halves it was merged from. Tokens are written in GPT-2's byte alphabet (bpe-bytes.ts).
// Not here: any check of the files (the tests do that).

import gpt2 from 'js-tiktoken/ranks/gpt2';
import { BYTE_CHARS } from '../../src/data/bpe-bytes.js';

export interface Gpt2Files {
  /** vocab.json: token → id, 50257 entries with `<|endoftext|>` last. */
  vocabJson: string;
  /** merges.txt: the `#version` line, then the 50000 merges in rank order. */
  mergesTxt: string;
  /** tokenizer.json in Hugging Face's layout, merges as "left right" strings. */
  tokenizerJson: string;
  /** The vocabulary as an object, for tests that look tokens up. */
  vocab: Record<string, number>;
  /** The merges as pairs, in rank order. */
  merges: Array<[string, string]>;
}

let built: Gpt2Files | null = null;

/** GPT-2's tokenizer files (built once, then shared). */
export function gpt2Files(): Gpt2Files {
  if (built) return built;
  const tokens = gpt2.bpe_ranks.split('\n').filter(Boolean).flatMap((line) => {
    const [, offset, ...b64] = line.split(' ');
    if (Number(offset) !== 0 && b64.length > 0) throw new Error('gpt2 ranks: expected one run of ranks from 0');
    return b64.map((t) => new Uint8Array(Buffer.from(t, 'base64')));
  });
  const rankOf = new Map(tokens.map((bytes, rank) => [key(bytes), rank]));
  const merges: Array<[string, string]> = [];
  for (let rank = 256; rank < tokens.length; rank++) {
    const [left, right] = halves(tokens[rank], rank, rankOf);
    merges.push([spell(left), spell(right)]);
  }
  const entries: Array<[string, number]> = tokens.map((bytes, rank) => [spell(bytes), rank]);
  for (const [special, id] of Object.entries(gpt2.special_tokens)) entries.push([special, id]);
  const vocab = Object.fromEntries(entries);
  const vocabJson = JSON.stringify(vocab);
  const mergesTxt = ['#version: 0.2', ...merges.map(([l, r]) => `${l} ${r}`)].join('\n') + '\n';
  const tokenizerJson = JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(gpt2.special_tokens).map(([content, id]) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([l, r]) => `${l} ${r}`),
    },
  });
  built = { vocabJson, mergesTxt, tokenizerJson, vocab, merges };
  return built;
}

const key = (bytes: Uint8Array) => bytes.join(',');
const spell = (bytes: Uint8Array) => Array.from(bytes, (b) => BYTE_CHARS[b]).join('');

/** The two parts BPE with ranks below `rank` leaves of `bytes`: the merge that made the token. */
function halves(bytes: Uint8Array, rank: number, rankOf: Map<string, number>): [Uint8Array, Uint8Array] {
  const cuts = Array.from({ length: bytes.length + 1 }, (_, i) => i); // part i is bytes[cuts[i], cuts[i + 1])
  while (cuts.length > 3) {
    let best = -1;
    let bestRank = rank;
    for (let i = 0; i + 2 < cuts.length; i++) {
      const r = rankOf.get(key(bytes.subarray(cuts[i], cuts[i + 2])));
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) break;
    cuts.splice(best + 1, 1);
  }
  if (cuts.length !== 3) throw new Error(`gpt2 ranks: the token of rank ${rank} is not one merge of two lower-ranked tokens`);
  return [bytes.subarray(0, cuts[1]), bytes.subarray(cuts[1])];
}
