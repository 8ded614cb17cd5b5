// Early stopping: tracks a validation metric over evaluations and says when it has stopped
// improving. The caller evaluates, reports the value with its step, and stops (or restores
// the best checkpoint) when `shouldStop` turns true.
// Not here: evaluation, checkpoints, or the learning rate (schedules.ts); this is bookkeeping.

import { ConfigError, InputError } from '../errors.js';

export interface EarlyStoppingConfig {
  /** 'min' for a loss (lower is better), 'max' for an accuracy (higher is better). */
  mode: 'min' | 'max';
  /** Evaluations in a row without improvement after which shouldStop turns true. */
  patience: number;
  /** An improvement must beat the best value by more than this (in the metric's units). */
  minDelta: number;
}

export const earlyStoppingDefaults: EarlyStoppingConfig = { mode: 'min', patience: 10, minDelta: 0 };

export class EarlyStopping {
  readonly config: EarlyStoppingConfig;
  private bestValue: number;
  private bestAt = -1;
  private stale = 0;

  constructor(config: Partial<EarlyStoppingConfig> = {}) {
    this.config = { ...earlyStoppingDefaults, ...config };
    const { mode, patience, minDelta } = this.config;
    if (mode !== 'min' && mode !== 'max') throw new ConfigError(`EarlyStopping: mode must be 'min' or 'max', got '${String(mode)}'.`);
    if (!(Number.isInteger(patience) && patience >= 1)) {
      throw new ConfigError(`EarlyStopping: patience must be an integer >= 1 (evaluations), got ${patience}.`);
    }
    if (!(Number.isFinite(minDelta) && minDelta >= 0)) {
      throw new ConfigError(`EarlyStopping: minDelta must be a finite number >= 0, got ${minDelta}.`);
    }
    this.bestValue = mode === 'min' ? Infinity : -Infinity;
  }

  /**
   * Records the metric of an evaluation at `step`; returns true when it is a new best.
   * A NaN never improves: a diverged run counts towards patience rather than resetting it.
   */
  update(value: number, step: number): boolean {
    if (!Number.isFinite(step)) throw new InputError(`EarlyStopping.update: step must be a number, got ${step}.`);
    const { mode, minDelta } = this.config;
    const improved = mode === 'min' ? value < this.bestValue - minDelta : value > this.bestValue + minDelta;
    if (improved) {
      this.bestValue = value;
      this.bestAt = step;
      this.stale = 0;
    } else {
      this.stale++;
    }
    return improved;
  }

  /** True once `patience` evaluations in a row have not improved on the best. */
  get shouldStop(): boolean {
    return this.stale >= this.config.patience;
  }

  /** The best value so far (Infinity for 'min', -Infinity for 'max' before any update). */
  get best(): number {
    return this.bestValue;
  }

  /** The step of the best value (-1 before any improvement). */
  get bestStep(): number {
    return this.bestAt;
  }

  /** Evaluations since the last improvement. */
  get sinceBest(): number {
    return this.stale;
  }
}
