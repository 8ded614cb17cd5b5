// The op checks as one call that a page or a Web Worker makes: find the adapter, create an
// engine the way a user would (through the public module), run the registry's checks, and
// return a plain report that survives structured cloning back to the page and to Puppeteer.
// Not here: rendering (main.ts) or assertions (test/browser.test.ts).

import { createEngine, input, matmul, parameter } from '../../src/index.js';
import { runOpChecks, type CheckResult } from '../support/opchecks.js';

export interface CheckRequest {
  /** Op names to check; all registered ops when absent. */
  ops?: string[];
  /** Also check backward rules against finite differences (slow on SwiftShader). */
  grad?: boolean;
}

export interface ContextReport {
  context: 'page' | 'worker';
  /** What requestAdapter returned, or null when there was no navigator.gpu or no adapter. */
  adapter: { vendor: string; architecture: string; description: string } | null;
  results: CheckResult[];
  /** Set when the checks could not run at all (no WebGPU, engine creation failed). */
  error: string | null;
  ms: number;
}

declare global {
  interface Window {
    /** Set by the check page when both contexts have reported. */
    __results?: { page: ContextReport; worker: ContextReport; tuning: { first: TunedPick[]; second: TunedPick[] } };
  }
}

export async function runChecks(context: ContextReport['context'], req: CheckRequest): Promise<ContextReport> {
  const start = performance.now();
  const report: ContextReport = { context, adapter: null, results: [], error: null, ms: 0 };
  try {
    const found = await navigator.gpu?.requestAdapter();
    if (found) {
      const { vendor, architecture, description } = found.info;
      report.adapter = { vendor, architecture, description };
    }
    const engine = await createEngine();
    const keep = req.ops ? new Set(req.ops) : null;
    report.results = await runOpChecks(engine, {
      filter: keep ? (name) => keep.has(name) : undefined,
      grad: req.grad ?? false,
    });
    engine.destroy();
  } catch (e) {
    report.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  report.ms = Math.round(performance.now() - start);
  return report;
}

/** A tuned family's pick for a size class, and where the engine found it. */
export interface TunedPick {
  family: string;
  sizeClass: string;
  pick: string;
  source: string;
}

/**
 * The picks an engine made here takes for a small matmul step (measured once the plan settles,
 * its tuning being deferred by default, or found where an earlier engine kept them).
 */
export async function tunedPicks(): Promise<TunedPick[]> {
  const engine = await createEngine();
  const x = input('x', [16, 24]);
  const w = parameter('w', new Float32Array(24 * 8).fill(0.25), [24, 8]);
  const plan = await engine.compile({ outputs: { y: matmul(x, w) } });
  await plan.settled();
  plan.dispose();
  const picks = engine.tuneResults.map(({ family, sizeClass, pick, source }) => ({ family, sizeClass, pick, source }));
  engine.destroy();
  return picks;
}
