// Training metrics without stalling the GPU: each step's read-back (a promise from Plan.run) is
// handed over as it is submitted and turned into a record when it resolves, a few steps
// behind, while later steps are already queued. Records carry loss, perplexity, gradient
// norm, learning rate, step time and throughput; per-kernel GPU time comes from a profile.
// Not here: running steps (the caller's loop or the worker trainer) or drawing charts.

import type { HostArray } from './tensor.js';

export interface StepRecord {
  step: number;
  /** Mean training loss of the step (NaN when the step did not read it). */
  loss: number;
  /** exp(loss): for a language model, the effective number of choices per token. */
  perplexity: number;
  /** Global gradient norm before clipping (NaN when not read). */
  gradNorm: number;
  lr: number;
  /** Wall time between this step's result and the previous one's, in ms. */
  stepMs: number;
  /** Items (tokens or samples) per second over the recent window. */
  throughput: number;
}

export interface MetricsOptions {
  /** Tokens or samples each step processes, for throughput. */
  itemsPerStep: number;
  /** Steps averaged for throughput. */
  window?: number;
  /** Records kept in `history` (oldest dropped first). */
  keep?: number;
  /** Clock in ms (performance.now by default; tests pass their own). */
  now?: () => number;
}

export class TrainingMetrics {
  readonly history: StepRecord[] = [];
  private listeners = new Set<(r: StepRecord) => void>();
  private pending: Promise<void> = Promise.resolve();
  private lastDone: number;
  private recent: number[] = [];
  private readonly opts: Required<MetricsOptions>;

  constructor(opts: MetricsOptions) {
    this.opts = { window: 20, keep: 10_000, now: () => performance.now(), ...opts };
    this.lastDone = this.opts.now();
  }

  /**
   * Records step `step`, whose results `run` will deliver (keys 'loss' and 'gradNorm' are used
   * when present). Returns at once; records are made in step order as results arrive.
   */
  record(step: number, lr: number, run: Promise<Record<string, HostArray>>): void {
    // A failed step surfaces from flush(), whenever that is called; until then it is not an
    // unhandled rejection (the step and the chain's end are marked handled; awaiting still throws).
    run.catch(() => {});
    this.pending = this.pending.then(async () => {
      const r = await run;
      const now = this.opts.now();
      const stepMs = now - this.lastDone;
      this.lastDone = now;
      this.recent.push(stepMs);
      if (this.recent.length > this.opts.window) this.recent.shift();
      const meanMs = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
      const loss = r.loss?.[0] ?? NaN;
      const rec: StepRecord = {
        step,
        loss,
        perplexity: Math.exp(loss),
        gradNorm: r.gradNorm?.[0] ?? NaN,
        lr,
        stepMs,
        throughput: meanMs > 0 ? (this.opts.itemsPerStep * 1000) / meanMs : 0,
      };
      this.history.push(rec);
      if (this.history.length > this.opts.keep) this.history.shift();
      for (const l of this.listeners) l(rec);
    });
    this.pending.catch(() => {});
  }

  /** Calls `fn` with every new record; returns a function that stops it. */
  subscribe(fn: (r: StepRecord) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves once every recorded step has its record (the end of training, a test). */
  flush(): Promise<void> {
    return this.pending;
  }
}

/** Per-kernel GPU time from a profile (Plan.profile): total ms and calls, slowest first. */
export function kernelTimes(profile: { label: string; ms: number }[]): { label: string; ms: number; calls: number }[] {
  const by = new Map<string, { label: string; ms: number; calls: number }>();
  for (const p of profile) {
    const e = by.get(p.label) ?? { label: p.label, ms: 0, calls: 0 };
    e.ms += p.ms;
    e.calls++;
    by.set(p.label, e);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}
