// Reading and writing a demo page's form, and the settings its query string names: the fields of
// config keys found by id; numbers from
// inputs with a fallback for an empty or unparsable field, change listeners that fire only for a
// value the field accepts, locking a group of fields, putting a config's values back into the
// fields that show them, and config fields read from the query string by their kind (a name, a
// number, a count, a flag), as each page's tests and slow adapters preset sizes too fine for the form.
// Not here: which fields a page has or what a change means to it (each page's controls.ts).

/** A form field that holds a setting. */
export type Field = HTMLInputElement | HTMLSelectElement;

/**
 * The form's fields for config keys, each found by its key in kebab case (sampleSteps:
 * #sample-steps), so that a record of them is keyed as the config is (fill, config reading).
 */
function byKey<F extends Field, K extends string>(keys: K[]): Record<K, F> {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return Object.fromEntries(keys.map((k) => [k, document.getElementById(kebab(k))])) as Record<K, F>;
}

/** The select fields of these config keys (see byKey). */
export const selectsOf = <K extends string>(...keys: K[]) => byKey<HTMLSelectElement, K>(keys);
/** The input fields of these config keys (see byKey). */
export const inputsOf = <K extends string>(...keys: K[]) => byKey<HTMLInputElement, K>(keys);

/** The input's number, or `fallback` when it is empty or not a number. */
export function numOf(el: HTMLInputElement, fallback: number): number {
  const v = el.valueAsNumber;
  return Number.isFinite(v) ? v : fallback;
}

/** The input's number rounded to an integer, or `fallback`. */
export function intOf(el: HTMLInputElement, fallback: number): number {
  return Math.round(numOf(el, fallback));
}

/** Calls `then` when any of the fields changes to a value it accepts (within its min, max and step). */
export function onValidChange(fields: Field[], then: () => void): void {
  for (const el of fields) {
    el.addEventListener('change', () => {
      if (el.checkValidity()) then();
    });
  }
}

/** Enables or disables every field given. */
export function setDisabled(fields: Field[], disabled: boolean): void {
  for (const el of fields) el.disabled = disabled;
}

/** Puts values into the fields named by the same keys: a checkbox is checked by a boolean, any other field shows the value. */
export function fill<K extends string>(fields: Partial<Record<K, Field>>, values: Partial<Record<K, unknown>>): void {
  for (const [k, el] of Object.entries(fields) as [K, Field | undefined][]) {
    if (!el || !(k in values)) continue;
    const v = values[k];
    if (el instanceof HTMLInputElement && el.type === 'checkbox') el.checked = Boolean(v);
    else el.value = String(v);
  }
}

/**
 * How a query-string value is read: 'name' as it stands (the name of a choice), 'number' when it
 * parses as a finite number, 'count' when it is a whole number 0 or more, 'flag' as true for
 * 'true' or '1' and false otherwise.
 */
export type QueryKind = 'name' | 'number' | 'count' | 'flag';

/** The kind of each field of `defaults`, by the type of its default: names, numbers and flags. */
export function kindsOf<T extends object>(defaults: T): { [K in keyof T]?: QueryKind } {
  const kind = (v: unknown): QueryKind | undefined =>
    typeof v === 'string' ? 'name' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'flag' : undefined;
  return Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, kind(v)])) as { [K in keyof T]?: QueryKind };
}

/** The fields of `kinds` that the page's query string names with a value of their kind; others are left out. */
export function fromQuery<T>(kinds: { [K in keyof T]?: QueryKind }): Partial<T> {
  const query = new URLSearchParams(location.search);
  const out: Record<string, string | number | boolean> = {};
  for (const [k, kind] of Object.entries(kinds) as [string, QueryKind | undefined][]) {
    const raw = query.get(k);
    if (raw === null || !kind) continue;
    const n = Number(raw);
    if (kind === 'name') out[k] = raw;
    else if (kind === 'flag') out[k] = raw === 'true' || raw === '1';
    else if (kind === 'number' ? Number.isFinite(n) : Number.isInteger(n) && n >= 0) out[k] = n;
  }
  return out as Partial<T>;
}
