// Checks the trainer makes off its main path, on the host or by re-running work: whether a text
// is long enough to train on (said in characters and context, before any sampler is built), the
// config a checkpoint was made with, whether a checkpoint is of this model (its shape and its
// vocabulary, said in those words before any tensor is compared), and which op first made a
// non-finite value in a step that went wrong.
// Not here: the trainer that calls them (session.ts, config.ts, run.ts).

import { parseSafetensors } from '../../checkpoint/safetensors.js';
import type { Batch } from '../../data/batches.js';
import { BpeTokenizer, tokenizerFromJSON, type AnyTokenizer } from '../../data/bpe.js';
import { grad } from '../../autograd.js';
import type { Engine } from '../../engine.js';
import { CheckpointError, DataError, NonFiniteError } from '../../errors.js';
import { gptForward, gptPresets, type Gpt, type GptConfig } from '../../models/gpt.js';
import { input } from '../../tensor.js';
import { savedSection } from '../../worker/saved-config.js';
import type { TrainerConfig } from './protocol.js';

/** What a checkpoint's metadata 'config' holds besides the tensors. */
export interface SavedConfig {
  /** The trainer config; an uploaded text is not in it (its bytes travel beside the checkpoint). */
  trainer: TrainerConfig;
  tokenizer: unknown;
  gpt: GptConfig;
}

/**
 * The trainer config a checkpoint was made with, its uploaded text put back in (`text`: what an
 * autosave keeps beside it); a checkpoint of an upload without its text cannot rebuild the data.
 */
export function savedTrainerConfig(metadata: Record<string, string>, text: Uint8Array | null): TrainerConfig {
  const trainer = savedSection<TrainerConfig>(metadata, 'trainer', null) as TrainerConfig;
  const { data } = trainer;
  if (data.kind === 'text' && !text) {
    const name = data.name ? ` (${data.name})` : '';
    throw new CheckpointError(`This model was trained on your own text${name}: create a model on that text first, then load the checkpoint.`, 'metadata');
  }
  return { ...trainer, data: data.kind === 'text' ? { ...data, bytes: text! } : data };
}

/**
 * The fewest characters a text of `valFraction` held out can train on: both its training head
 * and its validation tail must hold one window of the context plus the next character.
 */
export function shortestText(blockSize: number, valFraction: number): number {
  const fits = (n: number) => {
    const train = Math.round(n * (1 - valFraction));
    return train > blockSize && n - train > blockSize;
  };
  let n = 2 * (blockSize + 1);
  while (!fits(n)) n++;
  return n;
}

/** DataError ('too-short') for a text that cannot fill a training and a validation window, in characters and context. */
export function checkTextLength(characters: number, config: Pick<TrainerConfig, 'preset' | 'valFraction'>): void {
  const { blockSize } = gptPresets[config.preset];
  const least = shortestText(blockSize, config.valFraction);
  if (characters >= least) return;
  const val = Math.round(config.valFraction * 100);
  const shorter = Object.entries(gptPresets).filter(([, p]) => p.blockSize < blockSize).map(([name, p]) => `${name} (a context of ${p.blockSize})`);
  const way = shorter.length ? `, or choose a preset with a shorter context: ${shorter.join(', ')}` : '';
  throw new DataError(
    `The text has ${characters} character${characters === 1 ? '' : 's'}; training needs at least ${least}: the context of ${blockSize} ` +
      `plus the next character, both in the first ${100 - val}% (to train on) and in the last ${val}% (to validate on). ` +
      `Use a longer text${way}.`,
    'too-short',
  );
}

/** How a message names a value of the config fields that decide a GPT's tensors. */
const SHAPE_WORDS = {
  nLayer: (v: number) => `${v} layer${v === 1 ? '' : 's'}`,
  nHead: (v: number) => `${v} head${v === 1 ? '' : 's'} per layer`,
  nEmbd: (v: number) => `a width of ${v}`,
  blockSize: (v: number) => `a context of ${v}`,
  bias: (v: boolean) => (v ? 'biases' : 'no biases'),
  vocabSize: (v: number) => `a vocabulary of ${v} characters`,
} as const;

/**
 * A checkpoint of this model, checked in words before its tensors are: a GPT of another shape
 * (the config fields that differ, and the preset that fits it), or of another text (its
 * vocabulary: another size, or the same size with other characters, which would load and mean
 * nothing). A file with no config of ours passes here; its tensors are checked when loaded.
 */
export function checkFits(bytes: Uint8Array, model: GptConfig, tokenizer: AnyTokenizer): void {
  const meta = parseSafetensors(bytes).metadata;
  let saved: Partial<SavedConfig> | null = null;
  try {
    saved = meta.config ? (JSON.parse(meta.config) as Partial<SavedConfig>) : null;
  } catch {
    return; // loadCheckpoint reports bad metadata JSON in its own words
  }
  let theirs: AnyTokenizer | null = null;
  try {
    theirs = saved?.tokenizer ? tokenizerFromJSON(saved.tokenizer) : null;
  } catch {
    throw new CheckpointError("The checkpoint's vocabulary cannot be read: the file is damaged, or was not saved by this page.", 'metadata');
  }
  const kind = (t: AnyTokenizer) => (t instanceof BpeTokenizer ? 'byte-level BPE tokens' : 'characters');
  if (theirs && kind(theirs) !== kind(tokenizer)) {
    throw new CheckpointError(
      `The checkpoint's model reads ${kind(theirs)}; this model reads ${kind(tokenizer)}. Choose the tokenizer it was trained with, then load the checkpoint again.`,
      'metadata',
    );
  }
  if (saved?.gpt) checkShape(saved as Partial<SavedConfig> & { gpt: Partial<GptConfig> }, model, tokenizer instanceof BpeTokenizer ? 'tokens' : 'characters');
  if (!theirs) return;
  const ours = tokenizer.vocab;
  const other = theirs.vocab;
  if (other.length === ours.length && other.some((tok, i) => tok !== ours[i])) {
    const which = theirs instanceof BpeTokenizer ? '' : ` (${JSON.stringify(other.join(''))} vs ${JSON.stringify(ours.join(''))})`;
    throw new CheckpointError(
      `The checkpoint's ${other.length}-token vocabulary differs from this model's${which}: it was trained on another text. ` +
        'Build the model on that text first, then load the checkpoint again.',
      'metadata',
    );
  }
}

function checkShape(saved: Partial<SavedConfig> & { gpt: Partial<GptConfig> }, model: GptConfig, unit: string): void {
  const keys = (Object.keys(SHAPE_WORDS) as (keyof typeof SHAPE_WORDS)[]).filter((k) => k in saved.gpt && saved.gpt[k] !== model[k]);
  if (!keys.length) return;
  if (keys.length === 1 && keys[0] === 'vocabSize') {
    throw new CheckpointError(
      `This transformer checkpoint was trained on another text: its vocabulary has ${saved.gpt.vocabSize} ${unit}, this model's ` +
        `${model.vocabSize}. Build the model on that text first, then load the checkpoint again.`,
      'shape',
    );
  }
  const say = (c: Partial<GptConfig>) => listed(keys.map((k) => (SHAPE_WORDS[k] as (v: unknown) => string)(c[k])));
  const preset = saved.trainer?.preset ??
    Object.entries(gptPresets).find(([, p]) => (['nLayer', 'nHead', 'nEmbd', 'blockSize'] as const).every((k) => p[k] === saved.gpt[k]))?.[0];
  const build = preset ? `Choose the preset it was trained with (${preset})` : 'Build a model of that shape';
  const text = keys.includes('vocabSize') ? ' and the text it was trained on' : '';
  throw new CheckpointError(
    `This transformer checkpoint is of another shape: ${say(saved.gpt)}, where this model has ${say(model)}. ` +
      `${build}${text} first, then load the checkpoint again.`,
    'shape',
  );
}

/** 'a', 'a and b', 'a, b and c'. */
function listed(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A step whose loss or gradient norm was not finite, with the batch it ran on. */
export interface NonFiniteStep {
  step: number;
  loss: number;
  gradNorm: number;
  batch: Batch;
}

/**
 * The NonFiniteError for a step, naming the first op whose output was not finite: the step's
 * forward and backward re-run op by op on the same batch and weights (its update was skipped,
 * so they are the ones it saw), without dropout.
 */
export async function diagnoseNonFinite(engine: Engine, model: Gpt, at: NonFiniteStep): Promise<Error> {
  const T = model.config.blockSize;
  const B = at.batch.x.length / T;
  const idx = input('idx', [B, T], 'i32');
  const { loss } = gptForward(model, idx, { targets: input('targets', [B, T], 'i32') });
  const what = `Step ${at.step} gave loss ${at.loss} and gradient norm ${at.gradNorm}; its update was skipped, so the weights are those before it.`;
  const fix = 'Lower the learning rate (or raise warmup) and continue, or set nonFinite to skip.';
  try {
    await engine.run([loss!, ...grad(loss!, model.params)], { idx: at.batch.x, targets: at.batch.y }, { checkFinite: true });
  } catch (e) {
    if (e instanceof NonFiniteError) return new NonFiniteError(`${what} ${e.message} ${fix}`, e.op);
    return e as Error;
  }
  return new NonFiniteError(`${what} Re-run op by op without dropout it stayed finite. ${fix}`, 'unknown');
}
