// Comparing two benchmark results (JSON files from bench/results/) so a regression shows: every
// figure both files have, matched by what it measures (suite, rows keyed by their identifying
// fields such as shape, tiling, preset or backend), with the ratio and whether it got better.
// Times (ms) are better lower; rates (GFLOP/s, tokens or samples per second) better higher.
// Results from different adapters are compared too, with a warning: the ratio then says more
// about the machines than about the code.
// Usage: npm run bench:compare -- old.json new.json [--threshold=0.05]
// Not here: measuring (the suites) or saving results (save.ts).

import { readFile } from 'node:fs/promises';

/** Fields that name what a row of a result measures, in the order they appear in a key. */
const IDENTIFYING = ['name', 'shape', 'op', 'tiling', 'size', 'preset', 'model', 'loss', 'backend', 'T', 'label'];

/** A value that names a row (a shape, a backend, a size), not one that it measures (a loss). */
const isName = (v: unknown) => typeof v === 'string' || Number.isInteger(v);

/** Figures worth comparing and which way is better. */
function direction(key: string): 'lower' | 'higher' | null {
  if (/(^|\.)(ms|msPer\w*|\w*Ms)$/.test(key)) return 'lower';
  if (/(gflops|gbps|PerSecond|perSecond)$/i.test(key)) return 'higher';
  return null;
}

/** Numeric figures of a result by a stable key (path, with array rows named by their identifying fields). */
export function figures(result: unknown): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'number') {
      if (Number.isFinite(v) && direction(path) !== null) out.set(path, v);
    } else if (Array.isArray(v)) {
      v.forEach((row, i) => {
        const id = typeof row === 'object' && row !== null
          ? IDENTIFYING.filter((k) => isName((row as Record<string, unknown>)[k])).map((k) => `${k}=${(row as Record<string, unknown>)[k]}`).join(',')
          : '';
        walk(row, `${path}[${id || i}]`);
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) if (k !== 'adapter') walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(result, '');
  return out;
}

export interface ComparisonRow {
  key: string;
  before: number;
  after: number;
  /** after / before. */
  ratio: number;
  /** 'better' or 'worse' when the change passes the threshold, else 'same'. */
  verdict: 'better' | 'worse' | 'same';
}

export interface Comparison {
  rows: ComparisonRow[];
  /** Figures only one side has. */
  onlyBefore: string[];
  onlyAfter: string[];
  /** Set when the two results come from different suites or adapters. */
  warnings: string[];
}

interface ResultHead {
  suite?: string;
  adapter?: { description?: string; architecture?: string; vendor?: string };
  environment?: string;
}

const adapterName = (r: ResultHead) => [r.adapter?.vendor, r.adapter?.architecture, r.adapter?.description].filter(Boolean).join(' ') || 'unknown adapter';

/** Matches the figures of two results; `threshold` is the relative change that counts (default 5%). */
export function compareResults(before: unknown, after: unknown, threshold = 0.05): Comparison {
  const a = figures(before), b = figures(after);
  const ha = before as ResultHead, hb = after as ResultHead;
  const warnings: string[] = [];
  if (ha.suite !== hb.suite) warnings.push(`different suites: '${ha.suite}' and '${hb.suite}'; only figures with the same key are compared.`);
  if (adapterName(ha) !== adapterName(hb) || ha.environment !== hb.environment) {
    warnings.push(`different machines: ${adapterName(ha)} (${ha.environment}) and ${adapterName(hb)} (${hb.environment}).`);
  }
  const rows: ComparisonRow[] = [];
  for (const [key, x] of a) {
    const y = b.get(key);
    if (y === undefined || x === 0) continue;
    const ratio = y / x;
    const improved = direction(key) === 'lower' ? ratio < 1 : ratio > 1;
    const verdict = Math.abs(ratio - 1) <= threshold ? 'same' : improved ? 'better' : 'worse';
    rows.push({ key, before: x, after: y, ratio, verdict });
  }
  return {
    rows,
    onlyBefore: [...a.keys()].filter((k) => !b.has(k)),
    onlyAfter: [...b.keys()].filter((k) => !a.has(k)),
    warnings,
  };
}

export function formatComparison(c: Comparison): string {
  const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));
  const width = Math.max(20, ...c.rows.map((r) => r.key.length));
  const lines = c.warnings.map((w) => `warning: ${w}`);
  lines.push(`${'figure'.padEnd(width)}  ${'before'.padStart(10)}  ${'after'.padStart(10)}  ratio`);
  for (const r of c.rows) {
    const mark = r.verdict === 'same' ? '' : `  ${r.verdict}`;
    lines.push(`${r.key.padEnd(width)}  ${num(r.before).padStart(10)}  ${num(r.after).padStart(10)}  ${r.ratio.toFixed(3)}${mark}`);
  }
  const count = (v: ComparisonRow['verdict']) => c.rows.filter((r) => r.verdict === v).length;
  lines.push(`${c.rows.length} figures compared: ${count('better')} better, ${count('worse')} worse, ${count('same')} within the threshold.`);
  if (c.onlyBefore.length || c.onlyAfter.length) lines.push(`not in both: ${c.onlyBefore.length} only before, ${c.onlyAfter.length} only after.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const files = args.filter((a) => !a.startsWith('--'));
  const t = args.find((a) => a.startsWith('--threshold='));
  const threshold = t ? Number(t.split('=')[1]) : 0.05;
  if (files.length !== 2 || !(threshold >= 0)) {
    console.error('usage: npm run bench:compare -- before.json after.json [--threshold=0.05]');
    process.exit(2);
  }
  const [before, after] = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as unknown));
  const c = compareResults(before, after, threshold);
  console.log(formatComparison(c));
  process.exitCode = c.rows.some((r) => r.verdict === 'worse') ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
