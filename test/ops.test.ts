// Registry-driven checks: for every registered op and each of its cases, the GPU forward
// against the float64 CPU reference and the backward rule against finite differences.
// Tolerances are stated and justified in test/support/opchecks.ts.

import { describe, expect, it } from 'vitest';
import { registry } from '../src/ops/index.js';
import { runOpChecks } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

describe('every op matches its CPU reference and finite differences', () => {
  for (const name of Object.keys(registry)) {
    it(name, async () => {
      const results = await runOpChecks(await testEngine(), { filter: (n) => n === name, grad: true });
      expect(results.length).toBeGreaterThan(0);
      expect(results.filter((r) => !r.ok).map((r) => `${r.case}: ${r.detail}`)).toEqual([]);
    });
  }
});
