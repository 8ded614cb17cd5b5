// Progress of the engine's long waits: measuring kernel variants (autotuning) and compiling a
// plan's pipelines. Each is a phase with a count of units done out of a total and the time since
// it began, sent to whoever listens: a session forwards it to its page's bar, a Node script
// prints it on stderr (stderrProgress). Reports are plain data and cost nothing with no listener.
// Not here: what a page draws (demos/shared/session-page.ts), what the phases measure or compile
// (engine.ts, executor.ts).

/** Where one phase of a wait stands. */
export interface Progress {
  /** What is being done, in words: 'tuning matmul', 'compiling the training step'. */
  phase: string;
  /** The units of the phase: 'size classes', 'kernels'. */
  unit: string;
  done: number;
  total: number;
  /** Since the phase began, in ms. */
  elapsedMs: number;
}

export type ProgressListener = (p: Progress) => void;

/** The listeners of one engine's waits, and the phases that report to them. */
export class ProgressReporter {
  private readonly listeners = new Set<ProgressListener>();

  /** Calls `listener` with every report until the returned function is called. */
  listen(listener: ProgressListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A phase of `total` units, reported at once with none done; `advance` after each unit. */
  phase(phase: string, unit: string, total: number): { advance(): void } {
    const t0 = performance.now();
    let done = 0;
    const report = () => {
      const p = { phase, unit, done, total, elapsedMs: performance.now() - t0 };
      for (const l of this.listeners) l(p);
    };
    report();
    return {
      advance() {
        done++;
        report();
      },
    };
  }
}

/** A phase in one line of words: 'tuning matmul: 3 of 7 size classes (12 s, about 16 s left)'. */
export function describeProgress(p: Progress): string {
  const s = (ms: number) => `${Math.round(ms / 1000)} s`;
  // Units take about as long as the ones before them: the same kernels, the next sizes.
  const left = p.done > 0 && p.done < p.total ? `, about ${s((p.elapsedMs / p.done) * (p.total - p.done))} left` : '';
  return `${p.phase}: ${p.done} of ${p.total} ${p.unit} (${s(p.elapsedMs)}${left})`;
}

/**
 * A listener that prints a phase on stderr once it has run for `afterMs` (default 1 s), then at
 * most once per `everyMs` (default 2 s) and when it ends, so that a long first build in Node
 * does not look like a hang while a quick one stays silent.
 */
export function stderrProgress(opts: { afterMs?: number; everyMs?: number; write?: (line: string) => void } = {}): ProgressListener {
  const { afterMs = 1000, everyMs = 2000 } = opts;
  const write = opts.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let phase = '';
  let lastAt = -Infinity;
  return (p) => {
    if (p.phase !== phase || p.elapsedMs < lastAt) {
      phase = p.phase; // a new phase, or the same one begun again
      lastAt = -Infinity;
    }
    const ended = p.done === p.total;
    if (p.elapsedMs < afterMs || (!ended && p.elapsedMs - lastAt < everyMs)) return;
    lastAt = p.elapsedMs;
    write(`webgpu-train: ${describeProgress(p)}`);
  };
}

/** Node's main thread, where stderr is the place for progress (not a page or a worker). */
export const inNode = (): boolean =>
  typeof process !== 'undefined' && typeof process.versions?.node === 'string' && typeof process.stderr?.write === 'function';
