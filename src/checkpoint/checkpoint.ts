// Saving and loading training checkpoints as safetensors files that PyTorch users can open:
// parameters under the caller's names ("transformer.h.0.attn.c_attn.weight"), optimizer state
// under "optimizer.<name>" ("optimizer.exp_avg.<param>"), and the step, RNG state and model
// config as JSON strings in the header metadata, beside "format": "webgpu-train/1" and the name
// of the task that wrote it.
// Loading checks the whole file against the model (every name, shape and dtype, every value
// decoded) before it writes a single parameter, so a bad file leaves the model as it was.
// Not here: the byte format itself (safetensors.ts), or deciding what the state of an optimizer is.

import { CheckpointError, fmtShape } from '../errors.js';
import type { Engine } from '../engine.js';
import type { Tensor } from '../tensor.js';
import {
  FLOAT_DTYPES, decodeTensor, parseSafetensors, showValue, writeSafetensors, type SafetensorsFile,
} from './safetensors.js';

/** The "format" metadata value of files written here; other values of the family are refused. */
export const CHECKPOINT_FORMAT = 'webgpu-train/1';
/** Prefix of optimizer state tensors in the file ("optimizer.exp_avg.w" for state "exp_avg.w"). */
export const STATE_PREFIX = 'optimizer.';

export interface CheckpointContents {
  /** Parameters by the name they get in the file. */
  params: Record<string, Tensor>;
  /** Optimizer state by name (stored as STATE_PREFIX + name): parameters on the engine or host arrays. */
  state?: Record<string, Tensor | Float32Array>;
  /** Optimizer steps taken so far. */
  step?: number;
  /** Generator state needed to continue identically (seeds, counters, data order). */
  rng?: Record<string, number>;
  /** Anything JSON can hold: usually the model config, to rebuild the model before loading. */
  config?: object;
  /** The task that wrote it ('gpt', 'diffusion', ...; see tasks/registry.ts), so another task's session can refuse it by name. */
  task?: string;
}

export interface LoadOptions {
  /** Parameters to fill, by the name they have in the file. */
  params: Record<string, Tensor>;
  /**
   * Optimizer state to fill: a Tensor (a parameter on the engine) is written on the GPU, a
   * Float32Array is filled in place. Omit it to get every state tensor of the file as host
   * arrays in the result instead.
   */
  state?: Record<string, Tensor | Float32Array>;
  /**
   * true (default): every tensor named above must be in the file, and nothing else. false: fill
   * what the file has, leave the rest untouched and list both kinds of names in the result.
   * Shapes and dtypes must match either way.
   */
  strict?: boolean;
}

export interface LoadedCheckpoint {
  /** The saved step, or null when the file has none (for example one written by another library). */
  step: number | null;
  rng: Record<string, number> | null;
  config: unknown;
  /** State tensors read to the host: the Float32Array ones asked for, or all of them if none were named. */
  state: Record<string, Float32Array>;
  /** Names asked for but not in the file (always empty when strict). */
  missing: string[];
  /** Names in the file that were not asked for (always empty when strict). */
  unexpected: string[];
  /** The raw header metadata, for keys other than the ones above. */
  metadata: Record<string, string>;
}

/** A tensor name in the file and what it belongs to in memory. */
interface Binding {
  name: string;
  target: Tensor | Float32Array;
}

function bindings(params: Record<string, Tensor>, state: Record<string, Tensor | Float32Array> = {}): Binding[] {
  const out: Binding[] = [];
  for (const [name, t] of Object.entries(params)) {
    if (name.startsWith(STATE_PREFIX)) {
      throw new CheckpointError(`Parameter '${name}': names starting with '${STATE_PREFIX}' are kept for optimizer state.`, 'name', name);
    }
    out.push({ name, target: checkParameter(name, t) });
  }
  for (const [name, v] of Object.entries(state)) {
    const file = STATE_PREFIX + name;
    out.push({ name: file, target: v instanceof Float32Array ? v : checkParameter(file, v) });
  }
  return out;
}

function checkParameter(name: string, t: Tensor): Tensor {
  if (t.source.kind !== 'parameter' || t.dtype !== 'f32') {
    throw new CheckpointError(`'${name}' is ${t}; only f32 parameters can be saved and loaded.`, 'name', name);
  }
  return t;
}

/** Reads every parameter from the GPU and returns the checkpoint as safetensors bytes. */
export async function saveCheckpoint(engine: Engine, c: CheckpointContents): Promise<Uint8Array> {
  const bound = bindings(c.params, c.state);
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT };
  if (c.step !== undefined) {
    if (!Number.isSafeInteger(c.step) || c.step < 0) throw new CheckpointError(`step must be a non-negative integer; got ${c.step}.`, 'metadata');
    metadata.step = JSON.stringify(c.step);
  }
  if (c.rng !== undefined) metadata.rng = JSON.stringify(checkRng(c.rng));
  if (c.task !== undefined) metadata.task = c.task;
  if (c.config !== undefined) {
    try {
      metadata.config = JSON.stringify(c.config);
    } catch (e) {
      throw new CheckpointError(`config cannot be written as JSON: ${(e as Error).message}`, 'metadata');
    }
  }
  const values = await Promise.all(
    bound.map(({ target }) => (target instanceof Float32Array ? target : engine.readParameter(target))),
  );
  return writeSafetensors(
    bound.map(({ name, target }, i) => ({
      name,
      shape: target instanceof Float32Array ? [target.length] : target.shape,
      data: values[i],
    })),
    metadata,
  );
}

function checkRng(rng: unknown): Record<string, number> {
  const ok = typeof rng === 'object' && rng !== null && !Array.isArray(rng) &&
    Object.values(rng).every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!ok) throw new CheckpointError(`rng must be an object of finite numbers; got ${showValue(rng)}.`, 'metadata');
  return rng as Record<string, number>;
}

/**
 * Checks `bytes` against the parameters and state named in `opts`, then writes them all.
 * Any problem throws CheckpointError before the first write: the model in memory stays intact.
 */
export async function loadCheckpoint(engine: Engine, bytes: Uint8Array, opts: LoadOptions): Promise<LoadedCheckpoint> {
  const strict = opts.strict ?? true;
  const file = parseSafetensors(bytes);
  const meta = readMetadata(file.metadata);
  const bound = bindings(opts.params, opts.state);

  const missing = bound.filter((b) => !file.tensors.has(b.name)).map((b) => b.name);
  const asked = new Set(bound.map((b) => b.name));
  // Without a state list, state tensors are returned rather than unexpected.
  const unexpected = [...file.tensors.keys()].filter(
    (n) => !asked.has(n) && !(opts.state === undefined && n.startsWith(STATE_PREFIX)),
  );
  // One line that counts the names and shows the first; the whole list goes in `details`.
  if (strict && missing.length) {
    const what = missing.length === 1 ? `lacks the model's tensor '${missing[0]}'`
      : missing.length === bound.length ? `has none of the model's ${bound.length} tensors (such as '${missing[0]}'): it was saved from another model`
      : `lacks ${missing.length} of the model's ${bound.length} tensors, such as '${missing[0]}'`;
    throw new CheckpointError(`The checkpoint ${what}.`, 'missing', missing[0], missing);
  }
  if (strict && unexpected.length) {
    const what = unexpected.length === 1
      ? `a tensor the model does not have: '${unexpected[0]}'. Load with strict: false to ignore it`
      : `${unexpected.length} tensors the model does not have, such as '${unexpected[0]}'. Load with strict: false to ignore them`;
    throw new CheckpointError(`The checkpoint has ${what}.`, 'unexpected', unexpected[0], unexpected);
  }

  // Decode everything first: a conversion or shape error must not leave a half-loaded model.
  const writes = bound.filter((b) => file.tensors.has(b.name)).map((b) => ({ ...b, values: decodeFor(file, b) }));
  const state: Record<string, Float32Array> = {};
  // Names come from the file: define them as own entries, so "__proto__" cannot set the prototype.
  const keep = (name: string, v: Float32Array) =>
    Object.defineProperty(state, name.slice(STATE_PREFIX.length), { value: v, enumerable: true, writable: true, configurable: true });
  if (opts.state === undefined) {
    for (const n of file.tensors.keys()) {
      if (n.startsWith(STATE_PREFIX)) keep(n, decodeFor(file, { name: n, target: null }));
    }
  }

  await Promise.all(
    writes.map(async ({ name, target, values }) => {
      if (target instanceof Float32Array) {
        target.set(values);
        keep(name, target);
      } else await engine.writeParameter(target, values);
    }),
  );
  return { ...meta, state, missing: strict ? [] : missing, unexpected: strict ? [] : unexpected, metadata: file.metadata };
}

/** A tensor's values as f32, after checking its dtype and shape fit `target` (null: any shape). */
function decodeFor(file: SafetensorsFile, b: { name: string; target: Tensor | Float32Array | null }): Float32Array {
  const info = file.tensors.get(b.name)!;
  if (!FLOAT_DTYPES.includes(info.dtype)) {
    throw new CheckpointError(
      `Tensor '${b.name}' is ${info.dtype} in the file; f32 values need one of ${FLOAT_DTYPES.join(', ')}.`, 'dtype', b.name);
  }
  const { target } = b;
  const fits = target === null ? true
    : target instanceof Float32Array ? info.shape.reduce((a, d) => a * d, 1) === target.length
    : fmtShape(info.shape) === fmtShape(target.shape);
  if (!fits) {
    const want = target instanceof Float32Array ? `${target.length} values` : `shape ${fmtShape(target!.shape)}`;
    throw new CheckpointError(`Tensor '${b.name}' has shape ${fmtShape(info.shape)} in the file; the model expects ${want}.`, 'shape', b.name);
  }
  return decodeTensor(file, b.name) as Float32Array;
}

/** Step, RNG state and config from a file of this format; nulls for a file written elsewhere. */
function readMetadata(m: Record<string, string>): Pick<LoadedCheckpoint, 'step' | 'rng' | 'config'> {
  const none = { step: null, rng: null, config: null };
  if (m.format !== CHECKPOINT_FORMAT) {
    if (m.format?.startsWith('webgpu-train/')) {
      throw new CheckpointError(`The checkpoint's format is '${m.format}'; this version reads '${CHECKPOINT_FORMAT}'.`, 'metadata');
    }
    return none;
  }
  const json = (key: string): unknown => {
    if (!Object.hasOwn(m, key)) return null;
    try {
      return JSON.parse(m[key]);
    } catch (e) {
      throw new CheckpointError(`Metadata '${key}' is not valid JSON: ${(e as Error).message}`, 'metadata');
    }
  };
  const step = json('step');
  if (step !== null && (!Number.isSafeInteger(step) || (step as number) < 0)) {
    throw new CheckpointError(`Metadata 'step' is ${m.step}; it must be a non-negative integer.`, 'metadata');
  }
  const rng = json('rng');
  return { step: step as number | null, rng: rng === null ? null : checkRng(rng), config: json('config') };
}
