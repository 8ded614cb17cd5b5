// Laying out a plan before anything is acquired: the op nodes in order, each lowered into
// its kernel plan (or an alias), storage roots and their liveness, virtual buffers by size
// class (a buffer whose last reader has run serves a later tensor), the optimizer's gradient
// arena, and from all that the bytes the plan will add to the pool, checked against limits
// and the engine's memory budget.
// Not here: acquiring, creating or encoding anything (executor.ts).

import { DeviceLimitError, InputError, OutOfMemoryError, fmtShape } from './errors.js';
import { sizeClass } from './gpu/buffers.js';
import type { KernelPlan } from './ops/types.js';
import { storageBytes, topoOrder, type OpNode, type Tensor } from './tensor.js';
import type { Engine } from './engine.js';
import type { CompileSpec } from './executor.js';

/** Bytes of a tensor's storage. */
export const bytesOf = (t: Tensor) => storageBytes(t);

/** Op nodes needed for `roots`, in an order where every node follows its inputs' producers. */
function nodeOrder(order: Tensor[]): OpNode[] {
  const nodes: OpNode[] = [];
  const seen = new Set<OpNode>();
  for (const t of order) {
    if (t.source.kind !== 'op' || seen.has(t.source.node)) continue;
    const node = t.source.node;
    // A node runs once all its outputs' siblings are placed; topoOrder visits them together.
    seen.add(node);
    nodes.push(node);
  }
  return nodes;
}

/** What a plan adds to the engine's pool, in bytes by size class; known before anything is acquired. */
export interface MemoryEstimate {
  /** Intermediates and scratch after liveness reuse (and the debug flags, when checked). */
  intermediates: number;
  /** One buffer per fed input. */
  inputs: number;
  /** The fused optimizer's gradient arena (0 without one). */
  gradientArena: number;
  /** Parameters and constants the graph reads that have no storage yet. */
  leaves: number;
  /** The sum: how much compiling adds to engine.pool.bytesInUse. */
  total: number;
}

/** One node lowered: its kernel plan, or the input it aliases (and where in it, in bytes). */
export interface Lowered {
  node: OpNode;
  kernel: KernelPlan | null;
  alias: number;
  aliasBytes: number;
}

/** Everything about a plan that needs no GPU object: order, lowering, buffer reuse, the estimate. */
export interface Layout {
  order: Tensor[];
  nodes: OpNode[];
  inputs: Map<string, Tensor>;
  plans: Lowered[];
  /** Aliases (reshapes, contiguous slices) to the tensor whose storage they share. */
  root: Map<Tensor, Tensor>;
  /** Where in its root's storage an alias starts, in bytes (absent: at the start). */
  rootOffset: Map<Tensor, number>;
  /** Virtual buffers: each becomes one pool buffer. */
  slots: { size: number }[];
  slotOf: Map<Tensor, number>;
  tmpSlots: number[][];
  /** Gradients written straight into the optimizer's arena, at these byte offsets. */
  arenaOffset: Map<Tensor, number>;
  /** Gradients copied into the arena after the backward pass instead. */
  gatherFrom: { grad: Tensor; offset: number }[];
  naiveBytes: number;
  estimate: MemoryEstimate;
}

/** Orders, lowers and lays out a graph, checking it as it goes; acquires nothing. */
export function layoutPlan(engine: Engine, spec: CompileSpec): Layout {
  const outputs = spec.outputs ?? {};
  const updates = spec.updates ?? [];
  for (const [p, v] of updates) {
    if (p.source.kind !== 'parameter') throw new InputError(`updates: ${p} is not a parameter.`);
    if (fmtShape(p.shape) !== fmtShape(v.shape) || v.dtype !== 'f32') {
      throw new InputError(`updates: value ${v} does not match parameter ${p}.`);
    }
  }
  const opt = spec.optimizer;
  const roots = [...Object.values(outputs), ...updates.map(([, v]) => v), ...(opt?.grads ?? [])];
  const order = topoOrder(roots);
  const nodes = nodeOrder(order);
  const env = engine.lowering(spec);

  // Leaves: inputs get a buffer each; parameters and constants without storage get one on first use.
  const inputs = new Map<string, Tensor>();
  let inputBytes = 0;
  let leafBytes = 0;
  for (const t of new Set([...order, ...updates.map(([p]) => p)])) {
    const s = t.source;
    if (s.kind === 'input') {
      const prev = inputs.get(s.name);
      if (prev && prev !== t) throw new InputError(`Two different inputs are named '${s.name}'.`);
      if (!prev) inputBytes += sizeClass(bytesOf(t));
      inputs.set(s.name, t);
    } else if ((s.kind === 'constant' || s.kind === 'parameter') && !engine.hasStorage(t)) leafBytes += sizeClass(bytesOf(t));
  }

  // Lower every node; aliases (reshapes) share their input's storage.
  const plans: Lowered[] = nodes.map((node) => {
    const k = node.def.kernel(node.inputs, node.outputs, node.attrs, env);
    for (const o of node.outputs) checkLimit(engine, node, bytesOf(o));
    if ('alias' in k) return { node, kernel: null, alias: k.alias, aliasBytes: 4 * (k.offset ?? 0) };
    for (const b of k.tmp ?? []) checkLimit(engine, node, b);
    return { node, kernel: k, alias: -1, aliasBytes: 0 };
  });
  const root = new Map<Tensor, Tensor>();
  const rootOffset = new Map<Tensor, number>();
  const rootOf = (t: Tensor): Tensor => root.get(t) ?? t;
  for (const p of plans) {
    if (p.alias < 0) continue;
    const [out, x] = [p.node.outputs[0], p.node.inputs[p.alias]];
    root.set(out, rootOf(x));
    const at = (rootOffset.get(x) ?? 0) + p.aliasBytes;
    if (at) rootOffset.set(out, at);
  }

  // Liveness: a storage root is free after the last node that reads it, unless it must survive the run.
  const lastUse = new Map<Tensor, number>();
  plans.forEach((p, i) => p.node.inputs.forEach((x) => lastUse.set(rootOf(x), i)));
  const pinned = new Set<Tensor>(roots.map(rootOf));

  // The optimizer's gradients are written straight into its arena by the ops that make them.
  // A gradient whose storage is not its own (a leaf, or shared with another gradient) is
  // copied into the arena after the backward pass instead.
  const arenaOffset = new Map<Tensor, number>();
  const gatherFrom: { grad: Tensor; offset: number }[] = [];
  opt?.grads.forEach((g, i) => {
    const r = rootOf(g);
    // Only a gradient that is its root's whole storage can be placed by placing the root.
    const whole = !rootOffset.has(g) && bytesOf(r) === bytesOf(g);
    if (r.source.kind === 'op' && whole && !arenaOffset.has(r)) arenaOffset.set(r, opt.offsets[i]);
    else gatherFrom.push({ grad: g, offset: opt.offsets[i] });
  });

  // Virtual allocation by size class; each virtual buffer becomes one pool buffer.
  const slots: { size: number }[] = [];
  const freeSlots = new Map<number, number[]>();
  const slotOf = new Map<Tensor, number>();
  const tmpSlots: number[][] = [];
  let naiveBytes = 0;
  const takeSlot = (bytes: number): number => {
    const size = sizeClass(bytes);
    naiveBytes += size;
    const list = spec.eager ? undefined : freeSlots.get(size);
    const reused = list?.pop();
    if (reused !== undefined) return reused;
    slots.push({ size });
    return slots.length - 1;
  };
  const freeSlot = (slot: number) => {
    const size = slots[slot].size;
    const list = freeSlots.get(size) ?? [];
    freeSlots.set(size, list);
    list.push(slot);
  };
  plans.forEach((p, i) => {
    for (const o of p.node.outputs) if (!root.has(o) && !arenaOffset.has(o)) slotOf.set(o, takeSlot(bytesOf(o)));
    const tmps = (p.kernel?.tmp ?? []).map(takeSlot);
    tmpSlots.push(tmps);
    tmps.forEach(freeSlot);
    // Outputs nobody reads are dead at once (for example a sibling output left unused).
    for (const o of p.node.outputs) if (!root.has(o) && !lastUse.has(o) && !pinned.has(o)) freeSlot(slotOf.get(o)!);
    for (const x of new Set(p.node.inputs.map(rootOf))) {
      if (lastUse.get(x) === i && slotOf.has(x) && !pinned.has(x)) freeSlot(slotOf.get(x)!);
    }
  });

  const flags = spec.checkFinite ? sizeClass(flagBytesOf(order)) : 0;
  const intermediates = slots.reduce((a, sl) => a + sl.size, 0) + flags;
  const gradientArena = opt ? sizeClass(opt.arenaBytes) : 0;
  const estimate = {
    intermediates,
    inputs: inputBytes,
    gradientArena,
    leaves: leafBytes,
    total: intermediates + inputBytes + gradientArena + leafBytes,
  };
  return { order, nodes, inputs, plans, root, rootOffset, slots, slotOf, tmpSlots, arenaOffset, gatherFrom, naiveBytes, estimate };
}

/** The debug flag buffer's size: one word per tensor of the graph. */
export const flagBytesOf = (order: Tensor[]) => 4 * Math.max(1, order.length);

/** What compiling `spec` would add to the engine's pool; builds nothing. */
export function estimatePlan(engine: Engine, spec: CompileSpec): MemoryEstimate {
  return layoutPlan(engine, spec).estimate;
}

/** Refuses a plan that would take the pool past the engine's memory budget, if it has one. */
export function checkBudget(engine: Engine, e: MemoryEstimate): void {
  const budget = engine.memoryBudget;
  const inUse = engine.pool.bytesInUse;
  if (budget === undefined || inUse + e.total <= budget) return;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  throw new OutOfMemoryError(
    `This plan needs ${mib(e.total)} (intermediates ${mib(e.intermediates)}, inputs ${mib(e.inputs)}, ` +
      `gradient arena ${mib(e.gradientArena)}, new parameters and constants ${mib(e.leaves)}) with ${mib(inUse)} ` +
      `already in use, over the memory budget of ${mib(budget)}. Use a smaller batch, accumulate gradients over ` +
      'micro-batches (the optimizer\'s `accumulate`) or a smaller model preset.',
    e.total,
    inUse,
    budget,
  );
}

function checkLimit(engine: Engine, node: OpNode, bytes: number): void {
  const l = engine.gpu.limits;
  const max = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  if (bytes > max) {
    const shapes = node.inputs.map((t) => fmtShape(t.shape)).join(', ');
    throw new DeviceLimitError(
      `${node.def.name}(${shapes}) needs a buffer of ${bytes} bytes; this device allows ${max} ` +
        `(maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxBufferSize ${l.maxBufferSize}). ` +
        'Use a smaller batch, sequence length or model.',
    );
  }
}
