// What the page reads from a checkpoint file before handing it to the worker: the trainer config
// saved in its metadata, so a checkpoint of another preset, precision, batch size or seed first
// gets the model it was trained as (the worker loads a checkpoint only into a model of its shape,
// and a run continues exactly only as the model it was trained as).
// Only the safetensors header is parsed here; the tensors are checked and loaded in the worker.
// Not here: loading (the worker's importCheckpoint) or the file format (src/checkpoint/).

import { parseSafetensors } from '../../src/checkpoint/safetensors.js';
import type { TrainerConfig } from '../../src/tasks/gpt/protocol.js';

/** The trainer config a checkpoint was saved with, or null when it has none we can read. */
export function savedTrainerConfig(bytes: Uint8Array): TrainerConfig | null {
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
export function needsOtherModel(saved: TrainerConfig, current: TrainerConfig): boolean {
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
