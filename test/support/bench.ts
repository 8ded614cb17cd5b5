// What every benchmark suite's quick-mode test checks: each figure of a result is produced and
// finite (times, rates, ratios and byte counts > 0), the saved JSON compares with itself in
// bench:compare, the table prints without holes, and progress counts up to its total.
// Not here: any suite's own rows (each suite's test says which it expects).

import { expect } from 'vitest';
import { compareResults } from '../../bench/compare.js';

/** A path segment naming a figure: a time, a rate, a ratio or a size in bytes (pick: GFLOP/s by size). */
const FIGURE = /^(ms|\w*Ms|msPer\w*|\w*[gG]flops|\w*PerSecond|ratio|\w*Bytes|pick)$/;

/** Every number of a result (the adapter's description left out) by path. */
function numbers(v: unknown, path = ''): [string, number][] {
  if (typeof v === 'number') return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => numbers(x, `${path}[${i}]`));
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v).flatMap(([k, x]) => (k === 'adapter' ? [] : numbers(x, path ? `${path}.${k}` : k)));
  }
  return [];
}

/**
 * Checks every number is finite and every figure > 0, except the paths in `unmeasured` (figures
 * a row does not have by design, recorded as NaN); returns how many figures there were.
 */
export function expectFigures(result: object, unmeasured: RegExp | null = null): number {
  let count = 0;
  for (const [path, v] of numbers(result)) {
    if (unmeasured?.test(path)) continue;
    expect(Number.isFinite(v), `${path} = ${v}`).toBe(true);
    if (path.split(/[.[\]]+/).some((s) => FIGURE.test(s))) {
      expect(v, path).toBeGreaterThan(0);
      count++;
    }
  }
  // The result as saved (NaN becomes null) still compares with itself, figure for figure.
  const saved = JSON.parse(JSON.stringify(result)) as unknown;
  const c = compareResults(saved, saved);
  expect(c.rows.length).toBeGreaterThan(0);
  expect(c.rows.every((r) => r.verdict === 'same')).toBe(true);
  return count;
}

export const expectTable = (table: string) => expect(table).not.toMatch(/NaN|undefined|Infinity|null/);

/** A progress callback that records each item and checks they count up to their total. */
export function recorder() {
  const items: [number, number][] = [];
  return {
    progress: (item: number, total: number) => void items.push([item, total]),
    expectCounted() {
      expect(items.length).toBeGreaterThan(0);
      items.forEach(([item, total], i) => expect([item, total]).toEqual([i + 1, items.length]));
    },
  };
}
