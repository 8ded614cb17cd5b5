// The benchmark comparison: figures matched by what they measure (not by position), the right
// direction for times and rates, the threshold, and warnings for results from other machines.

import { describe, expect, it } from 'vitest';
import { compareResults, figures, formatComparison } from '../bench/compare.js';

const adapter = { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader' };
const run = (rows: object[], env = 'Node') => ({ suite: 'conv', runner: 'node', environment: env, adapter, date: '', results: rows });

describe('bench comparison', () => {
  it('keys rows by their identifying fields, so reordered rows still match', () => {
    const keys = [...figures(run([{ shape: 'a', op: 'conv2d', ms: 2, gflops: 5, loss: 0.41 }])).keys()];
    expect(keys).toEqual(['results[shape=a,op=conv2d].ms', 'results[shape=a,op=conv2d].gflops']);
  });

  it('calls a time that fell and a rate that rose better, past the threshold only', () => {
    const before = run([{ shape: 'a', ms: 10, gflops: 4 }, { shape: 'b', ms: 10, gflops: 4 }]);
    const after = run([{ shape: 'b', ms: 10.2, gflops: 3 }, { shape: 'a', ms: 8, gflops: 5 }]);
    const c = compareResults(before, after, 0.05);
    const verdict = Object.fromEntries(c.rows.map((r) => [r.key, r.verdict]));
    expect(verdict).toEqual({
      'results[shape=a].ms': 'better',
      'results[shape=a].gflops': 'better',
      'results[shape=b].ms': 'same',
      'results[shape=b].gflops': 'worse',
    });
    expect(c.rows.find((r) => r.key === 'results[shape=a].ms')!.ratio).toBeCloseTo(0.8, 12);
    expect(c.warnings).toEqual([]);
    expect(formatComparison(c)).toMatch(/4 figures compared: 2 better, 1 worse, 1 within the threshold/);
  });

  it('warns when the results come from different machines and lists unmatched figures', () => {
    const c = compareResults(run([{ shape: 'a', ms: 1 }]), run([{ shape: 'c', ms: 1 }], 'Chrome'));
    expect(c.warnings[0]).toMatch(/different machines/);
    expect(c.rows).toEqual([]);
    expect(c.onlyBefore).toEqual(['results[shape=a].ms']);
    expect(c.onlyAfter).toEqual(['results[shape=c].ms']);
  });
});
