// Typed errors: every failure the engine can foresee gets its own class and a message that
// names what went wrong (the op, the shapes, the limit) and what to do about it.
// Not here: recovery logic; callers decide what to do with an error.

/** Base class, so callers can catch everything the engine throws on purpose. */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No WebGPU in this environment, or no adapter/device could be obtained. */
export class WebGPUUnavailableError extends EngineError {}

/** Shapes that do not fit an op's rule, found while the graph is built. */
export class ShapeError extends EngineError {}

/** A dtype an op does not accept. */
export class DTypeError extends EngineError {}

/** A tensor or plan that exceeds a limit of the device at hand. */
export class DeviceLimitError extends EngineError {}

/**
 * Memory the engine cannot have: a plan over the engine's memory budget (found before anything
 * is allocated), or a buffer the device refused. Sizes are in bytes; `budget` is null when the
 * device itself ran out.
 */
export class OutOfMemoryError extends DeviceLimitError {
  constructor(
    message: string,
    readonly needed: number,
    readonly inUse: number,
    readonly budget: number | null,
  ) {
    super(message);
  }
}

/** Fed data of the wrong length or type, a missing feed, an unknown name. */
export class InputError extends EngineError {}

/** A configuration value outside its range: a schedule, an initialiser, a stopping rule. */
export class ConfigError extends EngineError {}

/** The debug check found a NaN or an infinity; `op` names the op that first produced one. */
export class NonFiniteError extends EngineError {
  constructor(message: string, readonly op: string) {
    super(message);
  }
}

/** The GPU device was lost (driver reset, tab backgrounded too long, out of memory). */
export class DeviceLostError extends EngineError {}

/**
 * A checkpoint that is not valid safetensors or does not fit the model it is loaded into.
 * `reason` says what is wrong, for code that reacts to it ('task': a file of another task);
 * `tensor` names the entry at fault. `details` is the whole list behind a message that only
 * counts it (every missing tensor's name), so the message stays one line and a page can show
 * the list on request.
 */
export class CheckpointError extends EngineError {
  constructor(
    message: string,
    readonly reason:
      | 'truncated' | 'header-length' | 'header-json' | 'entry' | 'dtype' | 'offsets' | 'overlap' | 'size'
      | 'gap' | 'metadata' | 'duplicate' | 'name' | 'value' | 'missing' | 'unexpected' | 'shape' | 'task',
    readonly tensor: string | null = null,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * Text or token data that cannot be used: an empty, binary, badly encoded or oversized upload,
 * a character outside a tokenizer's vocabulary, a corpus too short for the context, files that
 * are not images. `reason` says which, for code (a page) that reacts to it; `details` is the
 * whole list behind a message that only counts it (the names of the files passed over).
 */
export class DataError extends EngineError {
  constructor(
    message: string,
    readonly reason: 'empty' | 'binary' | 'encoding' | 'too-large' | 'too-short' | 'vocabulary' | 'format',
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Formats a shape the way every message prints it: [2, 3, 4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
