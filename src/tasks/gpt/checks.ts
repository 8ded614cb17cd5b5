// Checks the trainer makes off its main path, on the host or by re-running work: the config a
// checkpoint was made with, whether a checkpoint's vocabulary is this model's, and which op first
// made a non-finite value in a step that went wrong.
// Not here: the trainer that calls them (session.ts).

import { parseSafetensors } from '../../checkpoint/safetensors.js';
import type { Batch } from '../../data/batches.js';
import { CharTokenizer } from '../../data/tokenizer.js';
import { grad } from '../../autograd.js';
import type { Engine } from '../../engine.js';
import { CheckpointError, NonFiniteError } from '../../errors.js';
import { gptForward, type Gpt, type GptConfig } from '../../models/gpt.js';
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

/** A checkpoint whose vocabulary has the model's size but other characters would load and mean nothing. */
export function checkTokenizer(bytes: Uint8Array, tokenizer: CharTokenizer): void {
  const meta = parseSafetensors(bytes).metadata;
  let saved: Partial<SavedConfig> | null = null;
  try {
    saved = meta.config ? (JSON.parse(meta.config) as Partial<SavedConfig>) : null;
  } catch {
    return; // loadCheckpoint reports bad metadata JSON in its own words
  }
  if (!saved?.tokenizer) return;
  let theirs: readonly string[];
  try {
    theirs = CharTokenizer.fromJSON(saved.tokenizer).vocab;
  } catch (e) {
    throw new CheckpointError(`The checkpoint's tokenizer cannot be read: ${(e as Error).message}`, 'metadata');
  }
  const ours = tokenizer.vocab;
  if (theirs.length === ours.length && theirs.some((ch, i) => ch !== ours[i])) {
    throw new CheckpointError(
      `The checkpoint's ${theirs.length}-character vocabulary differs from this model's (${JSON.stringify(theirs.join(''))} vs ` +
        `${JSON.stringify(ours.join(''))}); create the trainer on the text the checkpoint was trained on.`,
      'metadata',
    );
  }
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
