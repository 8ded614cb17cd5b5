// Reading a task's config back from a checkpoint, the same way for every task: its section of the
// metadata 'config' (CheckpointError for JSON that does not parse), the fields a checkpoint brings
// with it over the config in force (the model and its training; cadences and display sizes stay
// the page's), and a config that the task's own checks refuse turned into a CheckpointError.
// Not here: which fields a task saves (its protocol.ts), its checks (its config function).

import { CheckpointError, ConfigError } from '../errors.js';

/**
 * The section `key` of a checkpoint's metadata 'config' (null when the file has none, which is
 * loaded into a model like `current`; with no current model either, a CheckpointError).
 */
export function savedSection<T>(metadata: Record<string, string>, key: string, current: object | null): Partial<T> | null {
  let saved: Record<string, unknown> | null;
  try {
    saved = metadata.config === undefined ? null : JSON.parse(metadata.config);
  } catch {
    throw new CheckpointError("The checkpoint's metadata 'config' is not valid JSON.", 'metadata');
  }
  const section = saved?.[key];
  if (typeof section === 'object' && section !== null) return section as Partial<T>;
  if (!current) throw new CheckpointError(`The checkpoint has no ${key} config, and there is no model to load it into.`, 'metadata');
  return null;
}

/** The fields `keys` of a saved section, where it has them. */
export function pickSaved<C>(theirs: Partial<C> | null, keys: readonly (keyof C)[]): Partial<C> {
  const picked: Partial<C> = {};
  for (const k of keys) if (theirs && Object.hasOwn(theirs, k)) picked[k] = theirs[k];
  return picked;
}

/** The config `check` makes, a ConfigError becoming a CheckpointError that says the file's config is at fault. */
export function usableConfig<C>(check: () => C): C {
  try {
    return check();
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(`The checkpoint's config cannot be used: ${e.message}`, 'metadata');
    throw e;
  }
}
