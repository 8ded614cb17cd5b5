// A session's metrics outbox (the diffusion and GAN workers'): step records as they come back
// from the GPU, sent on in batches, at most one metrics event per interval (a timer sends what
// waits once the interval allows), or all at once when the session asks (a pause, a Step click). Keeps a fast loop from
// flooding the page with one message per step.
// Not here: what the records hold (metrics.ts, gan-protocol.ts), the sessions.

export class MetricsOutbox<R> {
  private waiting: R[] = [];
  private lastSent = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** Delivers a batch of records (one metrics event). */
    private readonly send: (steps: R[]) => void,
    /** The shortest time between two batches, read at each record (it may change during a run). */
    private readonly intervalMs: () => number,
  ) {}

  /** Adds a record: sent now, or by the timer when the interval allows. */
  push(r: R): void {
    this.waiting.push(r);
    if (this.timer !== null) return;
    const wait = this.lastSent + this.intervalMs() - performance.now();
    if (wait <= 0) this.sendNow();
    else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sendNow();
      }, wait);
    }
  }

  /** Forgets the records waiting (they belong to a session that was replaced). */
  clear(): void {
    this.waiting = [];
  }

  /** Sends every waiting record now. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.sendNow();
  }

  private sendNow(): void {
    if (this.waiting.length === 0) return;
    this.lastSent = performance.now();
    const steps = this.waiting;
    this.waiting = [];
    this.send(steps);
  }
}
