// Getting the transformer page ready for a checkpoint file. Before the file goes to the worker,
// the page reads the trainer config saved in its metadata, so a checkpoint of another preset, precision,
// batch size or seed first gets the model it was trained as (the worker loads a checkpoint only
// into a model of its shape, and a run continues exactly only as the model it was trained as).
// Only the safetensors header is parsed here; the tensors are checked and loaded in the worker.
// Not here: loading (the worker's importCheckpoint) or the file format (src/checkpoint/).

import { parseSafetensors } from '../../src/checkpoint/safetensors.js';
import type { TrainerApi, TrainerConfig } from '../../src/tasks/gpt/protocol.js';
import type { Attempt } from '../shared/session-page.js';
import { showMessage } from '../shared/ui.js';

/** What getting a model ready for a checkpoint needs of the page. */
export interface LoadingPage {
  api: Pick<TrainerApi, 'create'>;
  attempt: Attempt;
  /** The config of the model in memory, if any. */
  current: TrainerConfig | null;
  banner: HTMLElement;
  /** Puts the form in line with the config of a model built. */
  showConfig: (c: TrainerConfig) => void;
}

/**
 * Makes sure the model in memory is one the checkpoint file loads into: when there is none, or
 * the file was trained as another, builds that one first. False when it could not (and said why).
 */
export async function modelForCheckpoint(p: LoadingPage, file: File, bytes: Uint8Array): Promise<boolean> {
  const saved = savedTrainerConfig(bytes);
  const current = p.current;
  if (!saved || (current && !needsOtherModel(saved, current))) return true;
  if (saved.data.kind === 'text' && current?.data.kind !== 'text') {
    const name = saved.data.name ? ` (${saved.data.name})` : '';
    showMessage(p.banner, 'warn', `${file.name} was trained on your own text${name}: choose that text under "Training text" first, then load it again.`);
    return false;
  }
  const data = saved.data.kind === 'text' ? current!.data : saved.data;
  const built = await p.attempt(() => p.api.create({ ...saved, data }), `Could not build the model ${file.name} needs`);
  if (built) p.showConfig(built.config!);
  return !!built;
}

/** The trainer config a checkpoint was saved with, or null when it has none we can read. */
function savedTrainerConfig(bytes: Uint8Array): TrainerConfig | null {
  try {
    const meta = parseSafetensors(bytes).metadata;
    const saved = JSON.parse(meta.config ?? 'null') as { trainer?: TrainerConfig } | null;
    const t = saved?.trainer;
    return t && typeof t.preset === 'string' && typeof t.data?.kind === 'string' ? t : null;
  } catch {
    return null; // not safetensors, or no config: the worker says what is wrong in its own words
  }
}

/** Whether a model built from `current` cannot take a checkpoint saved with `saved`. */
function needsOtherModel(saved: TrainerConfig, current: TrainerConfig): boolean {
  const a = saved.data;
  const b = current.data;
  const sameData =
    a.kind === b.kind && (a.kind === 'text' || (b.kind === 'builtin' && a.lines === b.lines && a.seed === b.seed));
  // Batch and seed do not change the weights' shapes, but the sampler's position in the text
  // depends on both: with either changed the run would continue on other batches. Precision
  // does not change them either (the weights are f32 both ways), but the other one would
  // continue on other rounding and another loss scale. Checkpoints from before it were f32.
  const samePrecision = (saved.precision ?? 'f32') === current.precision;
  return !sameData || !samePrecision || saved.preset !== current.preset || saved.batch !== current.batch || saved.seed !== current.seed;
}
