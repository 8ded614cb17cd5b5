// Learning-rate schedules: their values at the steps that define them, their shape between
// those steps, config checks, and a compiled SGD step whose lr input follows a schedule with
// the parameter trajectory matching a float64 CPU computation (the plan is compiled once).

import { describe, expect, it } from 'vitest';
import {
  ConfigError, InputError, constantLr, cosineDecay, grad, input, linearWarmup, mse, mul, oneCycle, parameter,
  sgd, stepDecay, type Schedule,
} from '../src/index.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const values = (s: Schedule, n: number) => Array.from({ length: n }, (_, i) => s(i));
const nonIncreasing = (v: number[]) => v.every((x, i) => i === 0 || x <= v[i - 1] + 1e-15);
const nonDecreasing = (v: number[]) => v.every((x, i) => i === 0 || x >= v[i - 1] - 1e-15);

describe('schedules', () => {
  it('constantLr gives its rate at every step, 1e-3 by default', () => {
    expect(values(constantLr({ lr: 0.3 }), 5)).toEqual([0.3, 0.3, 0.3, 0.3, 0.3]);
    expect(constantLr()(12345)).toBe(1e-3);
  });

  it('linearWarmup ramps lr * (s + 1) / W, reaching lr at step W - 1, then holds', () => {
    const s = linearWarmup({ lr: 0.8, warmupSteps: 4 });
    expect(values(s, 7)).toEqual([0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8, 0.8]);
    expect(linearWarmup({ lr: 0.5, warmupSteps: 0 })(0)).toBe(0.5);
  });

  it('cosineDecay warms up, decays by a half cosine to the floor at totalSteps, then stays there', () => {
    const lr = 1, minLr = 0.1, W = 10, T = 110;
    const s = cosineDecay({ lr, minLr, warmupSteps: W, totalSteps: T });
    expect(s(0)).toBeCloseTo(0.1, 15);
    expect(s(W - 1)).toBe(lr);
    expect(s(W)).toBe(lr);
    // Halfway through the decay: the mean of peak and floor; a quarter: cos(pi/4) of the way.
    expect(s(W + 50)).toBeCloseTo((lr + minLr) / 2, 12);
    expect(s(W + 25)).toBeCloseTo(minLr + ((lr - minLr) * (1 + Math.SQRT1_2)) / 2, 12);
    expect(s(T)).toBe(minLr);
    expect(s(T + 1000)).toBe(minLr);
    const v = values(s, T + 5);
    expect(nonDecreasing(v.slice(0, W))).toBe(true);
    expect(nonIncreasing(v.slice(W - 1))).toBe(true);
    expect(Math.min(...v.slice(W))).toBe(minLr);
  });

  it('stepDecay multiplies by gamma every stepSize steps', () => {
    const s = stepDecay({ lr: 1, stepSize: 3, gamma: 0.5 });
    expect(values(s, 8)).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]);
  });

  it('oneCycle rises from maxLr / div to maxLr, then falls to maxLr / (div * finalDiv)', () => {
    const maxLr = 0.5, T = 84, div = 25, finalDiv = 1e4;
    const s = oneCycle({ maxLr, totalSteps: T, pctStart: 0.25, divFactor: div, finalDivFactor: finalDiv });
    const peak = 0.25 * T - 1; // step 20, as PyTorch's OneCycleLR places it
    expect(s(0)).toBeCloseTo(maxLr / div, 15);
    expect(s(peak)).toBeCloseTo(maxLr, 15);
    expect(s(T - 1)).toBeCloseTo(maxLr / div / finalDiv, 15);
    expect(s(T + 7)).toBeCloseTo(maxLr / div / finalDiv, 15);
    // Cosine phases: halfway up is the mean of the initial rate and the peak.
    expect(s(peak / 2)).toBeCloseTo((maxLr / div + maxLr) / 2, 12);
    const v = values(s, T);
    expect(nonDecreasing(v.slice(0, peak + 1))).toBe(true);
    expect(nonIncreasing(v.slice(peak))).toBe(true);
    const lin = oneCycle({ maxLr: 1, totalSteps: 11, pctStart: 0.5, divFactor: 10, finalDivFactor: 1, anneal: 'linear' });
    // Peak at 4.5: step 2 is 2/4.5 of the way from 0.1 to 1; the fall runs from 4.5 to step 10.
    expect(lin(2)).toBeCloseTo(0.1 + 0.9 * (2 / 4.5), 12);
    expect(lin(7)).toBeCloseTo(1 - 0.9 * (2.5 / 5.5), 12);
  });

  it('is a pure function of the step: any order, same values', () => {
    const s = cosineDecay({ lr: 0.1, warmupSteps: 5, totalSteps: 50 });
    const forward = values(s, 60);
    const backward = Array.from({ length: 60 }, (_, i) => s(59 - i)).reverse();
    expect(backward).toEqual(forward);
  });

  it('rejects bad configs and steps with typed errors that name the field', () => {
    expect(() => cosineDecay({ lr: 0.1, minLr: 0.2 })).toThrow(ConfigError);
    expect(() => cosineDecay({ warmupSteps: 20, totalSteps: 10 })).toThrow(/totalSteps/);
    expect(() => linearWarmup({ warmupSteps: 2.5 })).toThrow(/warmupSteps/);
    expect(() => stepDecay({ stepSize: 0 })).toThrow(ConfigError);
    expect(() => constantLr({ lr: -1 })).toThrow(/lr/);
    expect(() => oneCycle({ pctStart: 1 })).toThrow(/pctStart/);
    expect(() => oneCycle({ divFactor: 0.5 })).toThrow(/divFactor/);
    expect(() => constantLr()(-1)).toThrow(InputError);
    expect(() => constantLr()(1.5)).toThrow(InputError);
  });
});

describe('a schedule drives a compiled plan through its lr input', () => {
  it('matches a float64 SGD trajectory step by step, with one compiled plan', async () => {
    const engine = await testEngine();
    const B = 7, C = 5, steps = 12;
    const rand = seededRandom(5);
    const xs = Float32Array.from({ length: B * C }, () => rand() * 2 - 1);
    const ys = Float32Array.from({ length: B * C }, () => rand() * 2 - 1);
    const w0 = Float32Array.from({ length: C }, () => rand() * 2 - 1);

    const x = input('x', [B, C]);
    const y = input('y', [B, C]);
    const lr = input('lr', []);
    const w = parameter('w', w0);
    const loss = mse(mul(x, w), y); // mean over (B, C) of (x w - y)^2
    const step = await engine.compile({ outputs: { loss }, updates: sgd([w], grad(loss, [w]), lr) });
    const schedule = cosineDecay({ lr: 0.9, minLr: 0.05, warmupSteps: 3, totalSteps: 10 });

    // The same training in float64: dL/dw_j = 2 / (B C) * sum_b (x_bj w_j - y_bj) x_bj.
    const wCpu = Float64Array.from(w0);
    const rates: number[] = [];
    for (let s = 0; s < steps; s++) {
      const rate = schedule(s);
      rates.push(rate);
      let lossCpu = 0;
      const g = new Float64Array(C);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < C; j++) {
          const d = xs[b * C + j] * wCpu[j] - ys[b * C + j];
          lossCpu += (d * d) / (B * C);
          g[j] += (2 / (B * C)) * d * xs[b * C + j];
        }
      }
      const r = await step.run({ x: xs, y: ys, lr: rate });
      for (let j = 0; j < C; j++) wCpu[j] -= rate * g[j];
      expect(r.loss[0]).toBeCloseTo(lossCpu, 5);
      const wGpu = await engine.readParameter(w);
      for (let j = 0; j < C; j++) expect(Math.abs(wGpu[j] - wCpu[j])).toBeLessThan(1e-5);
    }
    // The rates did change: warmup, decay and floor all took part.
    expect(new Set(rates).size).toBeGreaterThan(8);
    expect(rates[steps - 1]).toBe(0.05);
    step.dispose();
  });
});
