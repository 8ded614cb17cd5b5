// Progress of a benchmark run in a terminal, for the runners (bench/node.ts, bench/browser.ts):
// on a TTY one status line, rewritten in place (suite, item i of n and what it is, time since
// the suite began), with the suites' log lines printed above it; elsewhere (a pipe, a CI log)
// only the log lines, as they come, so saved output stays plain text.
// The suites report items through a ProgressFn in their options and know nothing of terminals.
// Not here: what an item is (each suite decides) or the page's own log (bench/page.ts).

/** Item `item` of `total` (1-based) is starting; `label` says what it measures (total 0: a step outside the count). */
export type ProgressFn = (item: number, total: number, label: string) => void;

export interface Progress {
  /** Reports the item now running (pass it to a suite as its `progress` option). */
  update: ProgressFn;
  /** A log line: above the status line on a terminal, as it is elsewhere. */
  log(line: string): void;
  /** Clears the status line and stops its clock. */
  done(): void;
}

interface Terminal {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const CLEAR = '\r\x1b[K';

/** A progress display for one suite, written to `out` (default stdout). */
export function createProgress(suite: string, out: Terminal = process.stdout): Progress {
  const t0 = performance.now();
  if (!out.isTTY) return { update: () => {}, log: (line) => void out.write(`${line}\n`), done: () => {} };
  let status = '';
  const draw = () => {
    if (!status) return;
    const line = `${status}  ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    // Wider than the terminal would wrap and break the in-place rewrite (a pseudo-terminal
    // with no size says 0 columns: take 80).
    out.write(CLEAR + line.slice(0, (out.columns || 80) - 1));
  };
  // The clock ticks between items too (one can take minutes); unref: it keeps nothing alive.
  const timer = setInterval(draw, 500);
  timer.unref?.();
  return {
    update(item, total, label) {
      status = total > 0 ? `${suite}  ${item}/${total}  ${label}` : `${suite}  ${label}`;
      draw();
    },
    log(line) {
      out.write(`${CLEAR}${line}\n`);
      draw();
    },
    done() {
      clearInterval(timer);
      if (status) out.write(CLEAR);
      status = '';
    },
  };
}
