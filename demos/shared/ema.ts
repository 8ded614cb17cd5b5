// A smoothed figure for a page to draw beside the raw one (a loss, the time per step): an
// exponential moving average, bias-corrected as Adam corrects its moments, so it is unbiased
// from the first value instead of rising from zero. Values that are not finite are passed over.
// Not here: drawing (live-chart.ts).

export class Ema {
  private sum = 0;
  private n = 0;

  /** `decay`: the weight of the past at each new value (0.97 follows about the last 30). */
  constructor(private readonly decay: number) {}

  push(x: number): void {
    if (!Number.isFinite(x)) return;
    this.sum = this.sum * this.decay + x * (1 - this.decay);
    this.n++;
  }

  /** The average so far; null before the first value. */
  get value(): number | null {
    return this.n ? this.sum / (1 - this.decay ** this.n) : null;
  }

  clear(): void {
    this.sum = 0;
    this.n = 0;
  }
}
