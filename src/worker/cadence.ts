// When a task's periodic picture of the model (a text sample, say) is due: every `every` steps,
// and also once `seconds` have passed since the last one, so that a slow adapter still shows
// progress at a steady pace; and at the first step after the loop starts, so that the first
// picture comes right away rather than hundreds of steps later. Wall time decides only when a
// picture is drawn, never what the model learns: a run is the same whatever the clock says.
// Not here: what a picture is (the task's periodic hook), the session's own schedules (autosave).

export class Cadence {
  private lastAt: number;
  private fresh = false;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastAt = now();
  }

  /** The loop (re)starts: the next due() is true. */
  restart(): void {
    this.fresh = true;
  }

  /** Whether the picture is due at `step` (0 `every`: never); a true answer starts the clock again. */
  due(step: number, every: number, seconds: number): boolean {
    if (every <= 0) return false;
    const t = this.now();
    const due = this.fresh || step % every === 0 || (seconds > 0 && t - this.lastAt >= seconds * 1000);
    if (due) {
      this.lastAt = t;
      this.fresh = false;
    }
    return due;
  }
}
