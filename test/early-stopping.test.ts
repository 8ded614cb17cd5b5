// Early stopping: best value and step, patience counting, minDelta, both modes, NaN handling
// and config checks.

import { describe, expect, it } from 'vitest';
import { ConfigError, EarlyStopping, InputError } from '../src/index.js';

/** Feeds values at steps 0, 100, 200, ... and returns the step at which shouldStop first held. */
function run(es: EarlyStopping, values: number[]): number {
  for (const [i, v] of values.entries()) {
    es.update(v, i * 100);
    if (es.shouldStop) return i * 100;
  }
  return -1;
}

describe('EarlyStopping', () => {
  it("in 'min' mode tracks the lowest value and stops after `patience` evaluations without one", () => {
    const es = new EarlyStopping({ patience: 3 });
    expect(es.best).toBe(Infinity);
    expect(es.bestStep).toBe(-1);
    expect(es.shouldStop).toBe(false);
    expect(run(es, [1.0, 0.8, 0.9, 0.7, 0.75, 0.71, 0.72, 0.6])).toBe(600);
    expect(es.best).toBe(0.7);
    expect(es.bestStep).toBe(300);
    expect(es.sinceBest).toBe(3);
  });

  it('resets its patience on every improvement', () => {
    const es = new EarlyStopping({ patience: 2 });
    expect(run(es, [5, 6, 4, 6, 3, 6, 2, 6, 1])).toBe(-1);
    expect(es.best).toBe(1);
    expect(es.bestStep).toBe(800);
  });

  it("in 'max' mode tracks the highest value", () => {
    const es = new EarlyStopping({ mode: 'max', patience: 2 });
    expect(es.best).toBe(-Infinity);
    expect(es.update(0.5, 10)).toBe(true);
    expect(es.update(0.4, 20)).toBe(false);
    expect(es.update(0.7, 30)).toBe(true);
    expect(es.update(0.7, 40)).toBe(false);
    expect(es.shouldStop).toBe(false);
    expect(es.update(0.65, 50)).toBe(false);
    expect(es.shouldStop).toBe(true);
    expect([es.best, es.bestStep]).toEqual([0.7, 30]);
  });

  it('counts an improvement only when it beats the best by more than minDelta', () => {
    const es = new EarlyStopping({ patience: 2, minDelta: 0.1 });
    es.update(1, 0);
    expect(es.update(0.95, 1)).toBe(false); // better, but by less than minDelta
    expect(es.update(0.85, 2)).toBe(true);
    expect([es.best, es.bestStep]).toEqual([0.85, 2]);
    const max = new EarlyStopping({ mode: 'max', patience: 1, minDelta: 0.5 });
    max.update(1, 0);
    expect(max.update(1.4, 1)).toBe(false);
    expect(max.shouldStop).toBe(true);
  });

  it('never takes a NaN as the best: a diverged run runs out of patience', () => {
    const es = new EarlyStopping({ patience: 2 });
    es.update(0.5, 0);
    expect(es.update(NaN, 1)).toBe(false);
    expect(es.update(NaN, 2)).toBe(false);
    expect(es.shouldStop).toBe(true);
    expect(es.best).toBe(0.5);
  });

  it('rejects bad configs and steps', () => {
    expect(() => new EarlyStopping({ patience: 0 })).toThrow(ConfigError);
    expect(() => new EarlyStopping({ patience: 1.5 })).toThrow(/patience/);
    expect(() => new EarlyStopping({ minDelta: -1 })).toThrow(/minDelta/);
    expect(() => new EarlyStopping({ mode: 'lowest' as 'min' })).toThrow(/mode/);
    expect(() => new EarlyStopping().update(1, NaN)).toThrow(InputError);
    expect(new EarlyStopping().config).toEqual({ mode: 'min', patience: 10, minDelta: 0 });
  });
});
