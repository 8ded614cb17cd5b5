// The bench page's worker: runs the suites of bench/registry.ts off the page's main thread, as
// bench/page.ts runs one in the headless page: a fresh engine per suite, the suite, the engine
// destroyed, then (when asked and the suite has one) its TensorFlow.js peer with the GPU to
// itself. Log lines, progress and each finished suite's result with its table go to the page as
// events. A peer that fails here (TF.js's WebGL backend needs OffscreenCanvas in a worker) is
// reported in the log and the engine's figures stand; a suite that fails is reported and the
// run goes on with the next one.
// Not here: the page (main.ts) or the suites themselves (bench/).

import { createEngine } from '../../src/engine.js';
import { exposeInWorker } from '../../src/worker/rpc.js';
import { formatResult, readParams, SUITE_TABLE, withPeer } from '../../bench/registry.js';
import { LONG_SUITES, type SuiteName } from '../../bench/args.js';
import { BENCH_METHODS, KEY_LIMITS, type BenchApi, type BenchEvent, type BenchInfo, type RunRequest } from './protocol.js';


const describe = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

export class BenchRunner implements BenchApi {
  // Through comlink a call of the page's listener returns a promise of its handling.
  private listener: (e: BenchEvent) => void | Promise<void> = () => {};
  private running = false;

  async subscribe(listener: (e: BenchEvent) => void | Promise<void>): Promise<void> {
    this.listener = listener;
  }

  async info(): Promise<BenchInfo> {
    // No tuning: this device only answers questions; each suite gets its own engine.
    const engine = await createEngine({ powerPreference: 'high-performance', tune: false });
    try {
      const { adapter, features, limits } = engine.gpu;
      return {
        suites: Object.entries(SUITE_TABLE)
          .filter(([name]) => !LONG_SUITES.includes(name as SuiteName))
          .map(([name, e]) => ({ name, title: e.title, hasPeer: !!e.peer })),
        adapter,
        features: [...features],
        limits: Object.fromEntries(KEY_LIMITS.map((k) => [k, limits[k]])) as BenchInfo['limits'],
        timestamps: features.has('timestamp-query'),
        environment: navigator.userAgent,
      };
    } finally {
      engine.destroy();
    }
  }

  async run(req: RunRequest): Promise<void> {
    if (this.running) throw new Error('A run is already in progress.');
    this.running = true;
    try {
      for (const [i, name] of req.suites.entries()) await this.runSuite(name as SuiteName, i + 1, req);
    } finally {
      this.running = false;
    }
  }

  private async runSuite(suite: SuiteName, index: number, req: RunRequest): Promise<void> {
    const emit = this.listener;
    const entry = SUITE_TABLE[suite];
    // Results and failures are awaited: the listener's port is not the one run() replies on, and
    // the page must have every result before it sees the run end.
    if (!entry || LONG_SUITES.includes(suite)) return await emit({ type: 'failed', suite, error: `unknown suite '${suite}'` });
    const count = req.suites.length;
    const log = (line: string) => emit({ type: 'log', line: `${suite}: ${line}` });
    const progress = (item: number, total: number, label: string) => emit({ type: 'progress', suite, index, count, item, total, label });
    const params = readParams((n) => (n === 'quick' && req.quick ? '1' : null), { runner: 'browser', environment: navigator.userAgent, log, progress });
    let result;
    try {
      progress(0, 0, 'starting an engine (the first one measures the matmul tilings)');
      const engine = await createEngine({ powerPreference: 'high-performance', tune: 'upfront' });
      try {
        result = await entry.run(engine, params);
      } finally {
        // The peer gets the GPU to itself.
        engine.destroy();
      }
    } catch (e) {
      return await emit({ type: 'failed', suite, error: describe(e) });
    }
    if (req.peer && entry.peer) {
      progress(0, 0, 'TensorFlow.js peer');
      try {
        result = await withPeer(result, params);
      } catch (e) {
        log(`the TensorFlow.js peer failed in this worker, the engine's figures stand: ${describe(e)}`);
      }
    }
    await emit({ type: 'result', result, table: formatResult(result) });
  }
}

exposeInWorker(() => new BenchRunner(), BENCH_METHODS);
