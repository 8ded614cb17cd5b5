// Checking a task's config field by field, the same way for every task, before any GPU work:
// each failure is a ConfigError that names the task's config, the field, what it must be and what
// it got; fields no default names are refused with the list of known ones.
// Not here: what a task's fields must be (its config function), defaults (its protocol.ts).

import { ConfigError } from '../errors.js';

/** The checks of config `c`, whose messages start with `label` ('gan config: ...'). */
export function fieldChecks<C extends object>(label: string, c: C) {
  const fail = (field: keyof C & string, want: string): never => {
    throw new ConfigError(`${label} config: ${field} must be ${want}, got ${JSON.stringify(c[field])}.`);
  };
  return {
    fail,
    /** Each [field, lo, hi]: an integer in [lo, hi]. */
    integers(table: [keyof C & string, number, number][]): void {
      for (const [k, lo, hi] of table) {
        const v = c[k];
        if (!(Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi)) fail(k, `an integer in [${lo}, ${hi}]`);
      }
    },
    /** A finite number >= 0 (a rate, an interval). */
    nonNegative(field: keyof C & string): void {
      const v = c[field];
      if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) fail(field, 'a finite number >= 0');
    },
  };
}

/** Refuses overrides that name a field `defaults` does not have. */
export function refuseUnknown(label: string, overrides: object, defaults: object): void {
  const unknown = Object.keys(overrides).filter((k) => !(k in defaults));
  if (unknown.length) throw new ConfigError(`${label} config: unknown field(s) ${unknown.join(', ')}; known: ${Object.keys(defaults).join(', ')}.`);
}
