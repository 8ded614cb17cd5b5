// Kernel families whose variant is chosen by measurement, per size class: the one interface the
// engine tunes them through (Tunable), the choice space an op consults when it lowers
// (KernelChoices: where picks live in KernelEnv.tuning, whether a class has one, which one a
// kernel runs), and measuredTunable, which makes a Tunable from what a family measures: its
// candidates, one timing of a candidate on a class's representative problem, and what those
// figures cost. Every tuner is that loop: time each candidate, keep the cheapest, cache the pick
// with its figures per adapter and class (tune-cache.ts).
// Not here: the cache (tune-cache.ts), which families the engine tunes (tunables.ts), any
// family's kernels or measurement (matmul-tune.ts, attention-tune.ts), or when tuning runs
// (Engine.tuneForPlan, before a plan's layout).

import type { BufferPool } from '../gpu/buffers.js';
import type { GpuContext } from '../gpu/device.js';
import type { KernelCache } from '../gpu/kernels.js';
import type { TimingSource } from '../gpu/profiler.js';
import type { OpNode, Tensor } from '../tensor.js';
import { tuneClasses, type TuneFamily, type TuneOptions, type TuneSource, type Tuned } from './tune-cache.js';
import type { KernelEnv } from './types.js';

/** The choices of one kernel family, and where a choice for a size class is written. */
export interface KernelChoices<C extends string = string, V extends string = string> {
  /**
   * The family's name: KernelEnv.tuning[name] fixes one choice for every class (a user's),
   * tuning['<name>.<class>'] holds a class's pick; also the first segment of its cache keys.
   */
  readonly name: string;
  /** Size classes, smallest first: a pick is per class. */
  readonly classes: readonly C[];
  /** Every choice the family's kernels can run. */
  readonly choices: readonly V[];
  isChoice(v: unknown): v is V;
  /** The choice when nothing was measured, by adapter kind. */
  defaultChoice(isSoftware: boolean): V;
  /**
   * What a class lowers to while its measurement is still to come (tune: 'deferred'), by adapter
   * kind: a choice quick to build, since the plan's first run waits for its pipelines.
   */
  firstChoice(isSoftware: boolean): V;
  /** Where a class's pick lives in KernelEnv.tuning. */
  key(c: C): string;
  /** Whether `tuning` already says which choice a class takes (fixed for all, or the class's pick). */
  chosen(tuning: Readonly<Record<string, string>>, c: C): boolean;
  /** The choice a class runs: fixed for all, else the class's pick, else the adapter kind's default. */
  choose(env: KernelEnv, c: C): V;
}

export function kernelChoices<C extends string, V extends string>(spec: {
  name: string;
  classes: readonly C[];
  choices: readonly V[];
  defaultChoice: (isSoftware: boolean) => V;
  /** Default: defaultChoice. */
  firstChoice?: (isSoftware: boolean) => V;
}): KernelChoices<C, V> {
  const { name, classes, choices, defaultChoice, firstChoice = defaultChoice } = spec;
  const isChoice = (v: unknown): v is V => typeof v === 'string' && (choices as readonly string[]).includes(v);
  const key = (c: C) => `${name}.${c}`;
  return {
    name,
    classes,
    choices,
    isChoice,
    defaultChoice,
    firstChoice,
    key,
    chosen: (tuning, c) => isChoice(tuning[name]) || isChoice(tuning[key(c)]),
    choose(env, c) {
      const fixed = env.tuning[name];
      if (isChoice(fixed)) return fixed;
      const picked = env.tuning[key(c)];
      return isChoice(picked) ? picked : defaultChoice(env.isSoftware);
    },
  };
}

/** What measuring needs from an engine (an Engine has all three). */
export interface TuneTarget {
  gpu: GpuContext;
  kernels: KernelCache;
  pool: BufferPool;
}

/** One class's pick, as a tuner returns it and an engine records it. */
export interface TuneResult<C extends string = string, V extends string = string> {
  /** The family's name (KernelChoices.name). */
  family: string;
  sizeClass: C;
  pick: V;
  /** The dearest candidate's cost over the pick's: by how much it won. */
  speedup: number;
  timing: TimingSource;
  /** Measured by this call, or found in a cache. */
  source: TuneSource;
}

/** A kernel family the engine tunes: its choices, which classes a graph needs, and its tuner. */
export interface Tunable<C extends string = string, V extends string = string, R extends TuneResult<C, V> = TuneResult<C, V>>
  extends KernelChoices<C, V> {
  /** The size classes of this family's ops among the producers of `order` (a graph's tensors), in class order. */
  classesOf(order: readonly Tensor[]): C[];
  /**
   * Each class's pick on the target's adapter: from memory, then from the persistent cache, else
   * measured and cached (unless opts say otherwise). Set tuning[key(class)] to a pick to use it.
   */
  tune(target: TuneTarget, opts?: TuneOptions<C>): Promise<R[]>;
}

/** An env whose tuning fixes `choice` for every class of family `name` (what a measurement runs). */
export const fixedChoiceEnv = (gpu: GpuContext, name: string, choice: string): KernelEnv => ({
  features: gpu.features,
  limits: gpu.limits,
  isSoftware: gpu.adapter.isSoftware,
  quadsInOrder: gpu.quadsInOrder,
  tuning: { [name]: choice },
});

/** Operands to time kernels on: random, as uninitialised memory could hold denormals, which CPU-emulated adapters slow down on. */
export const randomOperand = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

/** What a family that picks by timing its candidates supplies (measuredTunable). */
export interface MeasuredFamily<C extends string, V extends string, F extends string, D extends object> {
  choices: KernelChoices<C, V>;
  /** The version of its cache keys: bump it when the kernels or the classes change (tune-cache.ts). */
  version: number;
  /** The size class of an op node of this family, read before it is lowered; undefined for other ops. */
  classOf(node: OpNode): C | undefined;
  /** The choices timed on an adapter, by its kind and features (default every choice); a single one is picked untimed. */
  candidates?(isSoftware: boolean, features: ReadonlySet<string>): readonly V[];
  /** The figures one timing gives, by name: a result and a cached entry hold one record of each, by choice. */
  figures: readonly F[];
  /** Times one candidate on class `c`'s representative problem. */
  measure(target: TuneTarget, choice: V, c: C): Promise<{ figures: Record<F, number>; timing: TimingSource }>;
  /** What a candidate costs by its figures (time, or time per unit of work); the cheapest is picked. */
  cost(figures: Record<F, number>): number;
  /** What a result says of a class's representative problem (e.g. { shape: [M, N, K] }). */
  describe(c: C): D;
}

/** Each figure's values, by the candidates timed. */
type FigureRecords<V extends string, F extends string> = Record<F, Partial<Record<V, number>>>;

export type MeasuredResult<C extends string, V extends string, F extends string, D extends object> = TuneResult<C, V> &
  D &
  FigureRecords<V, F>;

const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The Tunable of a family that times every candidate per class and keeps the cheapest. */
export function measuredTunable<C extends string, V extends string, F extends string, D extends object>(
  m: MeasuredFamily<C, V, F, D>,
): Tunable<C, V, MeasuredResult<C, V, F, D>> {
  // What is cached per adapter and class: the pick with the figures it was chosen by.
  type Entry = FigureRecords<V, F> & { pick: V; timing: TimingSource };
  const { choices: k, figures } = m;
  const candidates = (gpu: GpuContext) => m.candidates?.(gpu.adapter.isSoftware, gpu.features) ?? k.choices;
  const records = (make: (f: F) => Partial<Record<V, number>>) => Object.fromEntries(figures.map((f) => [f, make(f)])) as FigureRecords<V, F>;
  const figure = (e: FigureRecords<V, F>, f: F, x: V): number | undefined => (e[f] as Partial<Record<V, number>>)[x];
  const costOf = (e: Entry, x: V) => m.cost(Object.fromEntries(figures.map((f) => [f, figure(e, f, x)])) as Record<F, number>);
  /** The candidates an entry has figures for. */
  const timedIn = (e: FigureRecords<V, F>) => k.choices.filter((x) => figures.some((f) => figure(e, f, x) !== undefined));

  const family: TuneFamily<Entry> = {
    name: k.name,
    version: m.version,
    parse(v) {
      if (!isRecord(v)) return null;
      const { pick, timing } = v;
      if (!k.isChoice(pick) || (timing !== 'timestamp' && timing !== 'wall-clock')) return null;
      if (!figures.every((f) => isRecord(v[f]))) return null;
      const stored = v as FigureRecords<V, F>;
      // The candidates timed (those of the adapter's kind), each with every figure.
      const timed = timedIn(stored);
      if (!timed.includes(pick) || !timed.every((x) => figures.every((f) => positive(figure(stored, f, x))))) return null;
      return { pick, timing, ...records((f) => Object.fromEntries(timed.map((x) => [x, figure(stored, f, x)])) as Partial<Record<V, number>>) };
    },
  };

  async function measureClass(target: TuneTarget, c: C): Promise<Entry> {
    const timed = candidates(target.gpu);
    const e: Entry = { pick: timed[0], timing: 'wall-clock', ...records(() => ({})) };
    for (const x of timed) {
      const r = await m.measure(target, x, c);
      for (const f of figures) (e[f] as Partial<Record<V, number>>)[x] = r.figures[f];
      e.timing = r.timing;
    }
    e.pick = timed.reduce((best, x) => (costOf(e, x) < costOf(e, best) ? x : best));
    return e;
  }

  function result({ sizeClass: c, entry: e, source }: Tuned<C, Entry>): MeasuredResult<C, V, F, D> {
    const costs = timedIn(e).map((x) => costOf(e, x));
    const speedup = costs.length ? Math.max(...costs) / costOf(e, e.pick) : 1;
    const base: TuneResult<C, V> = { family: k.name, sizeClass: c, pick: e.pick, speedup, timing: e.timing, source };
    return { ...base, ...m.describe(c), ...records((f) => ({ ...e[f] })) };
  }

  return {
    ...k,
    classesOf(order) {
      const found = new Set<C>();
      for (const t of order) {
        const c = t.source.kind === 'op' ? m.classOf(t.source.node) : undefined;
        if (c !== undefined) found.add(c);
      }
      return k.classes.filter((c) => found.has(c));
    },
    async tune(target, opts = {}) {
      const timed = candidates(target.gpu);
      if (timed.length === 1) {
        // No choice on this adapter: its one candidate is each class's pick when one is asked
        // for, with nothing timed or cached (so nothing to take from a cache either).
        if (opts.measure === false) return [];
        return (opts.classes ?? k.classes).map((c) => {
          opts.onClass?.();
          return result({ sizeClass: c, entry: { pick: timed[0], timing: 'wall-clock', ...records(() => ({})) }, source: 'sole candidate' });
        });
      }
      const tuned = await tuneClasses(family, target.gpu.adapter, k.classes, opts, (c) => measureClass(target, c));
      return tuned.map(result);
    },
  };
}
