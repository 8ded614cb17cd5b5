// Learning-rate schedules: pure functions from the step number (0 for the first optimizer
// step) to a learning rate, each built from a typed config with defaults. A compiled training
// step takes its learning rate as a scalar input, so a schedule is applied by feeding
// `plan.run({ ...batch, lr: schedule(step) })` every step; the plan is never rebuilt.
// Not here: the optimizers that consume the rate (sgd.ts and its neighbours), or any state:
// the same step always gives the same rate, so resuming from a checkpoint needs only the step.

import { ConfigError, InputError } from '../errors.js';

/** The learning rate at a step (an integer >= 0). */
export type Schedule = (step: number) => number;

function checkRate(name: string, field: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) {
    throw new ConfigError(`${name}: ${field} must be a finite number >= 0, got ${v}.`);
  }
}

function checkSteps(name: string, field: string, v: number, min = 0): void {
  if (!(Number.isInteger(v) && v >= min)) {
    throw new ConfigError(`${name}: ${field} must be an integer >= ${min}, got ${v}.`);
  }
}

/** Wraps a schedule so that a step that is not a count fails loudly instead of giving NaN. */
function schedule(name: string, fn: (step: number) => number): Schedule {
  return (step) => {
    if (!(Number.isInteger(step) && step >= 0)) {
      throw new InputError(`${name}: the step must be an integer >= 0 (0 is the first step), got ${step}.`);
    }
    return fn(step);
  };
}

/** Cosine interpolation from `from` (t = 0) to `to` (t = 1), flat at both ends. */
const cosineBetween = (from: number, to: number, t: number) => to + ((from - to) * (1 + Math.cos(Math.PI * t))) / 2;

// ---------------------------------------------------------------------------------------------
// constant

export interface ConstantConfig {
  /** The learning rate at every step. */
  lr: number;
}

export const constantDefaults: ConstantConfig = { lr: 1e-3 };

/** The same rate at every step. */
export function constantLr(config: Partial<ConstantConfig> = {}): Schedule {
  const { lr } = { ...constantDefaults, ...config };
  checkRate('constantLr', 'lr', lr);
  return schedule('constantLr', () => lr);
}

// ---------------------------------------------------------------------------------------------
// linear warmup

export interface WarmupConfig {
  /** The rate reached at the end of warmup and held afterwards. */
  lr: number;
  /** Steps of the ramp: step s < warmupSteps gets lr * (s + 1) / warmupSteps, never 0. */
  warmupSteps: number;
}

export const warmupDefaults: WarmupConfig = { lr: 1e-3, warmupSteps: 100 };

/** A linear ramp to `lr` over `warmupSteps` steps, then constant. */
export function linearWarmup(config: Partial<WarmupConfig> = {}): Schedule {
  const { lr, warmupSteps } = { ...warmupDefaults, ...config };
  checkRate('linearWarmup', 'lr', lr);
  checkSteps('linearWarmup', 'warmupSteps', warmupSteps);
  return schedule('linearWarmup', (s) => (s < warmupSteps ? (lr * (s + 1)) / warmupSteps : lr));
}

// ---------------------------------------------------------------------------------------------
// cosine decay

export interface CosineConfig {
  /** The peak rate, reached at the end of warmup. */
  lr: number;
  /** The floor the rate decays to and keeps after totalSteps. */
  minLr: number;
  /** Linear warmup steps before the decay starts (as in linearWarmup). */
  warmupSteps: number;
  /** The step at which the decay reaches minLr, counted from 0 and including warmup. */
  totalSteps: number;
}

export const cosineDefaults: CosineConfig = { lr: 1e-3, minLr: 0, warmupSteps: 0, totalSteps: 1000 };

/** Linear warmup to `lr`, then a half cosine down to `minLr` at `totalSteps`, then `minLr`. */
export function cosineDecay(config: Partial<CosineConfig> = {}): Schedule {
  const { lr, minLr, warmupSteps, totalSteps } = { ...cosineDefaults, ...config };
  checkRate('cosineDecay', 'lr', lr);
  checkRate('cosineDecay', 'minLr', minLr);
  checkSteps('cosineDecay', 'warmupSteps', warmupSteps);
  checkSteps('cosineDecay', 'totalSteps', totalSteps, warmupSteps);
  if (minLr > lr) throw new ConfigError(`cosineDecay: minLr ${minLr} is above lr ${lr}; the floor must not exceed the peak.`);
  return schedule('cosineDecay', (s) => {
    if (s < warmupSteps) return (lr * (s + 1)) / warmupSteps;
    if (s >= totalSteps) return minLr;
    return cosineBetween(lr, minLr, (s - warmupSteps) / (totalSteps - warmupSteps));
  });
}

// ---------------------------------------------------------------------------------------------
// step decay

export interface StepDecayConfig {
  /** The rate of the first `stepSize` steps. */
  lr: number;
  /** Steps between decays. */
  stepSize: number;
  /** Factor applied at every decay: lr * gamma^floor(step / stepSize). */
  gamma: number;
}

export const stepDecayDefaults: StepDecayConfig = { lr: 1e-3, stepSize: 1000, gamma: 0.1 };

/** The rate multiplied by `gamma` every `stepSize` steps. */
export function stepDecay(config: Partial<StepDecayConfig> = {}): Schedule {
  const { lr, stepSize, gamma } = { ...stepDecayDefaults, ...config };
  checkRate('stepDecay', 'lr', lr);
  checkSteps('stepDecay', 'stepSize', stepSize, 1);
  checkRate('stepDecay', 'gamma', gamma);
  return schedule('stepDecay', (s) => lr * gamma ** Math.floor(s / stepSize));
}

// ---------------------------------------------------------------------------------------------
// one-cycle

export interface OneCycleConfig {
  /** The peak rate, reached after pctStart of the steps. */
  maxLr: number;
  /** Steps in the cycle; later steps keep the final rate. */
  totalSteps: number;
  /** Fraction of the steps spent rising from the initial rate to maxLr. */
  pctStart: number;
  /** The initial rate is maxLr / divFactor. */
  divFactor: number;
  /** The final rate is the initial rate / finalDivFactor. */
  finalDivFactor: number;
  /** The shape of both phases: a half cosine or a straight line. */
  anneal: 'cos' | 'linear';
}

export const oneCycleDefaults: OneCycleConfig = {
  maxLr: 1e-2,
  totalSteps: 1000,
  pctStart: 0.3,
  divFactor: 25,
  finalDivFactor: 1e4,
  anneal: 'cos',
};

/**
 * The one-cycle policy (Smith and Topin): up from maxLr / divFactor to maxLr over the first
 * pctStart of totalSteps, then down to maxLr / (divFactor * finalDivFactor) at the last step,
 * with the phases' end points placed as PyTorch's OneCycleLR places them.
 */
export function oneCycle(config: Partial<OneCycleConfig> = {}): Schedule {
  const { maxLr, totalSteps, pctStart, divFactor, finalDivFactor, anneal } = { ...oneCycleDefaults, ...config };
  checkRate('oneCycle', 'maxLr', maxLr);
  checkSteps('oneCycle', 'totalSteps', totalSteps, 2);
  if (!(pctStart > 0 && pctStart < 1)) throw new ConfigError(`oneCycle: pctStart must be in (0, 1), got ${pctStart}.`);
  for (const [field, v] of [['divFactor', divFactor], ['finalDivFactor', finalDivFactor]] as const) {
    if (!(Number.isFinite(v) && v >= 1)) throw new ConfigError(`oneCycle: ${field} must be a finite number >= 1, got ${v}.`);
  }
  if (anneal !== 'cos' && anneal !== 'linear') {
    throw new ConfigError(`oneCycle: anneal must be 'cos' or 'linear', got '${String(anneal)}'.`);
  }
  const initial = maxLr / divFactor;
  const final = initial / finalDivFactor;
  // The peak sits at step pctStart * totalSteps - 1 and the floor at the last step.
  const peak = Math.max(0, pctStart * totalSteps - 1);
  const last = totalSteps - 1;
  const between = (from: number, to: number, t: number) =>
    anneal === 'cos' ? cosineBetween(from, to, t) : from + (to - from) * t;
  return schedule('oneCycle', (s) => {
    if (s >= last) return final;
    if (s <= peak) return peak === 0 ? maxLr : between(initial, maxLr, s / peak);
    return between(maxLr, final, (s - peak) / (last - peak));
  });
}
