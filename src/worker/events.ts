// How a session's events leave it: the listeners (a page across comlink, a test, a script), the
// metrics outbox that batches step records (at most one metrics event per interval: a timer sends
// what waits once the interval allows, or everything when the session asks, on a pause or at the
// end of step(n)), so a fast loop does not flood the page with one message per step; and the
// yield to the event loop between two steps that lets the page's calls in.
// Not here: what the records and events hold (each task's protocol.ts), the session (session.ts).

/**
 * A session's event listeners by id. A listener that throws, or (across comlink) whose call
 * rejects because its page is gone, is dropped.
 */
export class Listeners<E> {
  private byId = new Map<number, (e: E) => void>();
  private next = 1;

  add(listener: (e: E) => void): number {
    const id = this.next++;
    this.byId.set(id, listener);
    return id;
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  emit(e: E): void {
    for (const [id, l] of this.byId) {
      try {
        const r = l(e) as unknown;
        if (r instanceof Promise) r.catch(() => this.byId.delete(id));
      } catch {
        this.byId.delete(id);
      }
    }
  }
}

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

  /** Sends every waiting record as soon as the interval allows (at once when it already does). */
  async deliver(): Promise<void> {
    const wait = this.lastSent + this.intervalMs() - performance.now();
    if (wait > 0 && this.waiting.length > 0) await new Promise((r) => setTimeout(r, wait));
    this.flush();
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

// A message to ourselves: a macrotask, so the page's messages get through between steps, without
// the 4 ms that browsers add to chained setTimeout(0) calls (a whole step on a fast GPU).
let channel: MessageChannel | null = null;
const waiting: (() => void)[] = [];

/** Resolves on the next turn of the event loop. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel!.port2.postMessage(null);
  });
}
