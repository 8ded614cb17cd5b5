// Compiling a graph into a plan and replaying it. Compile once: order the op nodes, lower each
// into dispatches, give every intermediate a buffer by liveness (a buffer whose last reader
// has run serves a later tensor), build every pipeline and bind group and pack every uniform.
// Replay many times: write the fed inputs, encode every dispatch into one command encoder,
// submit once, read back only what was asked for.
// Eager mode is the same plan built without reuse and submitted one op at a time.
// Not here: where parameters and constants live (engine.ts), gradients (autograd.ts).

import { DeviceLimitError, DeviceLostError, InputError, NonFiniteError, fmtShape } from './errors.js';
import { packParams, encodeDispatches, type BoundBuffer, type PreparedDispatch } from './gpu/kernels.js';
import { sizeClass } from './gpu/buffers.js';
import type { Dispatch, KernelPlan, Slot } from './ops/types.js';
import { checkFiniteDispatch } from './debug.js';
import { numel, topoOrder, type HostArray, type OpNode, type Tensor } from './tensor.js';
import type { Engine } from './engine.js';

export type FeedValue = ArrayLike<number> | number;
export type Feeds = Record<string, FeedValue>;

/** Where a tensor's bytes live: a buffer and a byte offset into it. */
export interface Place {
  buffer: GPUBuffer;
  offset: number;
}

/**
 * A fused optimizer as a plan sees it: the gradients it consumes, placed by the plan in one
 * arena at the optimizer's offsets, and the dispatches it adds after the backward pass.
 */
export interface PlanOptimizer {
  /** One gradient per parameter, in the optimizer's order. */
  grads: Tensor[];
  /** Byte offset of each gradient in the arena (aligned for storage bindings). */
  offsets: number[];
  arenaBytes: number;
  /** Called once per plan with the filled gradient arena. */
  bind(gradArena: GPUBuffer): Promise<BoundOptimizer>;
}

export interface BoundOptimizer {
  /** This step's dispatches; called once per run, in run order (it may count steps). */
  step(): PreparedDispatch[];
  /** Values a run can read back by name (for example the gradient norm). */
  outputs: Record<string, { place: Place; size: number }>;
}

export interface CompileSpec {
  /** Values that `run` can read back, by name (a loss, an accuracy, logits). */
  outputs?: Record<string, Tensor>;
  /** Assignments made at the end of each run: parameter <- new value (an optimizer step). */
  updates?: [param: Tensor, value: Tensor][];
  /** A fused optimizer that updates its parameters in place after the backward pass. */
  optimizer?: PlanOptimizer;
  /** Debug: after every op, check its f32 outputs for NaN/Inf and name the first op that made one. */
  checkFinite?: boolean;
  /** Eager mode: no buffer reuse, and one submit per op. */
  eager?: boolean;
}

export interface PlanStats {
  ops: number;
  dispatches: number;
  /** Bytes of the buffers the plan allocated for intermediates after liveness reuse. */
  peakBytes: number;
  /** What the intermediates would take with one buffer each. */
  naiveBytes: number;
}

const bytesOf = (t: Tensor) => numel(t.shape) * 4;

/** One lowered op: its node and the dispatches ready to encode. */
interface Step {
  node: OpNode;
  prepared: PreparedDispatch[];
}

/** Everything compilePlan builds for a Plan. */
interface PlanParts {
  steps: Step[];
  places: Map<Tensor, Place>;
  /** Pool buffers the plan holds (inputs, intermediates, the gradient arena). */
  owned: GPUBuffer[];
  /** Buffers outside the pool (the uniform arena). */
  extra: GPUBuffer[];
  outputs: Record<string, Tensor>;
  updates: [Tensor, Tensor][];
  flags: { buffer: GPUBuffer; labels: string[] } | null;
  eager: boolean;
  /** Gradients copied into the optimizer's arena because their storage is not their own. */
  gathers: { from: Place; to: Place; bytes: number }[];
  optimizer: BoundOptimizer | null;
  inputs: Map<string, Tensor>;
  stats: PlanStats;
}

export class Plan {
  readonly stats: PlanStats;
  /** Names of the inputs the plan reads, with their tensors. */
  readonly inputs: Map<string, Tensor>;
  private disposed = false;
  private staging = new Map<string, GPUBuffer[]>();
  /** Staging buffers copied into by a submitted run and not yet read. */
  private busy = new Set<GPUBuffer>();

  constructor(
    private engine: Engine,
    private parts: PlanParts,
  ) {
    this.inputs = parts.inputs;
    this.stats = parts.stats;
  }

  /** Writes the feeds, runs every dispatch in one submit, and reads back `read` (default: all outputs). */
  async run(feeds: Feeds = {}, read: string[] = Object.keys(this.parts.outputs)): Promise<Record<string, HostArray>> {
    if (this.disposed) throw new InputError('This plan was disposed; compile the step again.');
    const readable = { ...this.parts.outputs, ...this.parts.optimizer?.outputs };
    const { device } = this.engine.gpu;
    if (this.engine.gpu.isLost()) throw await this.engine.gpu.lost;
    this.writeFeeds(feeds, read);
    if (this.parts.flags) device.queue.writeBuffer(this.parts.flags.buffer, 0, new Uint32Array(this.parts.flags.labels.length));
    let encoder = device.createCommandEncoder();
    if (this.parts.eager) {
      // One submit per op, as eager frameworks do; the same dispatches as the compiled plan.
      for (const s of this.parts.steps) {
        const pass = encoder.beginComputePass();
        encodeDispatches(pass, s.prepared);
        pass.end();
        device.queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
      }
    } else {
      const pass = encoder.beginComputePass();
      for (const s of this.parts.steps) encodeDispatches(pass, s.prepared);
      pass.end();
    }
    for (const g of this.parts.gathers) copy(encoder, g.from, g.to, g.bytes);
    if (this.parts.optimizer) {
      const pass = encoder.beginComputePass();
      encodeDispatches(pass, this.parts.optimizer.step());
      pass.end();
    }
    for (const [p, v] of this.parts.updates) copy(encoder, this.parts.places.get(v)!, this.parts.places.get(p)!, bytesOf(p));
    const reads = read.map((name) => {
      const r = readable[name];
      const [place, bytes, dtype] = 'place' in r ? [r.place, r.size, 'f32'] : [this.parts.places.get(r)!, bytesOf(r), r.dtype];
      const staging = this.takeStaging(name, bytes);
      copy(encoder, place, { buffer: staging, offset: 0 }, bytes);
      return { name, dtype, staging, bytes };
    });
    const flagStaging = this.parts.flags ? this.takeStaging('\0flags', this.parts.flags.labels.length * 4) : null;
    if (flagStaging) encoder.copyBufferToBuffer(this.parts.flags!.buffer, 0, flagStaging, 0, this.parts.flags!.labels.length * 4);
    device.queue.submit([encoder.finish()]);

    const lost = this.engine.gpu.lost.then((e) => Promise.reject(e));
    // A run that reads nothing never awaits `lost`: mark it handled so a later loss is not unhandled.
    lost.catch(() => {});
    const result: Record<string, HostArray> = {};
    if (flagStaging) {
      const f = new Uint32Array(await this.mapped(flagStaging, '\0flags', lost));
      const first = f.findIndex((v) => v !== 0);
      if (first >= 0) {
        const label = this.parts.flags!.labels[first];
        throw new NonFiniteError(`A NaN or infinity first appeared in the output of ${label}.`, label.split(' ')[0]);
      }
    }
    for (const { name, dtype, staging, bytes: n } of reads) {
      const bytes = (await this.mapped(staging, name, lost)).slice(0, n);
      result[name] = dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
    }
    return result;
  }

  private writeFeeds(feeds: Feeds, read: string[]): void {
    const readable = [...Object.keys(this.parts.outputs), ...Object.keys(this.parts.optimizer?.outputs ?? {})];
    for (const name of read) {
      if (!readable.includes(name)) {
        throw new InputError(`No output named '${name}'; the plan has: ${readable.join(', ') || 'none'}.`);
      }
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.has(name)) {
        throw new InputError(`No input named '${name}'; the plan reads: ${[...this.inputs.keys()].join(', ') || 'none'}.`);
      }
    }
    // Check every feed before writing any, so a bad feed changes nothing.
    const data = [...this.inputs].map(([name, t]) => [t, toFeedArray(name, t, feeds[name])] as const);
    for (const [t, arr] of data) this.engine.pool.write(this.parts.places.get(t)!.buffer, arr, this.parts.places.get(t)!.offset);
  }

  private takeStaging(name: string, bytes: number): GPUBuffer {
    const list = this.staging.get(name) ?? [];
    this.staging.set(name, list);
    const free = list.find((b) => !this.busy.has(b));
    const buf =
      free ??
      this.engine.gpu.device.createBuffer({ size: Math.max(16, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (!free) list.push(buf);
    this.busy.add(buf);
    return buf;
  }

  private async mapped(buf: GPUBuffer, name: string, lost: Promise<never>): Promise<ArrayBuffer> {
    try {
      await Promise.race([buf.mapAsync(GPUMapMode.READ), lost]);
    } catch (e) {
      if (e instanceof DeviceLostError) throw e;
      throw new DeviceLostError(`Reading back '${name}' failed: ${(e as Error).message}`);
    }
    const copy = buf.getMappedRange().slice(0);
    buf.unmap();
    this.busy.delete(buf);
    return copy;
  }

  /** Per-dispatch GPU times in ms (needs 'timestamp-query'); feeds as for `run`. */
  async profile(feeds: Feeds = {}): Promise<{ label: string; ms: number }[]> {
    const { profileDispatches } = await import('./gpu/profiler.js');
    this.writeFeeds(feeds, []);
    return profileDispatches(this.engine.gpu, this.parts.steps.flatMap((s) => s.prepared));
  }

  /** Returns the plan's buffers to the engine's pool. Parameters are not touched. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.parts.owned) this.engine.pool.release(b);
    for (const b of this.parts.extra) b.destroy();
    for (const list of this.staging.values()) for (const b of list) b.destroy();
    // Drop the graph too: a disposed plan kept by its caller must not keep tensors (and the
    // constants they own) alive.
    this.parts.places.clear();
    this.parts.steps.length = 0;
    this.parts.inputs.clear();
    this.parts.outputs = {};
    this.parts.updates = [];
    this.parts.optimizer = null;
  }
}

function copy(encoder: GPUCommandEncoder, from: Place, to: Place, bytes: number): void {
  encoder.copyBufferToBuffer(from.buffer, from.offset, to.buffer, to.offset, bytes);
}

function toFeedArray(name: string, t: Tensor, v: FeedValue | undefined): HostArray {
  if (v === undefined) throw new InputError(`Missing feed for input '${name}' ${fmtShape(t.shape)} ${t.dtype}.`);
  const arr = typeof v === 'number' ? [v] : v;
  if (arr.length !== t.size) {
    throw new InputError(
      `Input '${name}' expects ${t.size} values (shape ${fmtShape(t.shape)}), got ${arr.length}.`,
    );
  }
  if (t.dtype === 'i32') {
    if (arr instanceof Float32Array || arr instanceof Float64Array) {
      throw new InputError(`Input '${name}' is i32; pass an Int32Array or plain integers, not floats.`);
    }
    return arr instanceof Int32Array ? arr : Int32Array.from(arr);
  }
  if (arr instanceof Int32Array) throw new InputError(`Input '${name}' is f32; got an Int32Array.`);
  return arr instanceof Float32Array ? arr : Float32Array.from(arr);
}

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

/** Compiles a graph into a Plan on `engine`. */
export async function compilePlan(engine: Engine, spec: CompileSpec): Promise<Plan> {
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
  const env = engine.env;

  // Leaves: inputs get a buffer each, written by every run; constants and parameters live in the engine.
  const places = new Map<Tensor, Place>();
  const owned: GPUBuffer[] = [];
  const inputs = new Map<string, Tensor>();
  for (const t of order) {
    const s = t.source;
    if (s.kind === 'input') {
      const prev = inputs.get(s.name);
      if (prev && prev !== t) throw new InputError(`Two different inputs are named '${s.name}'.`);
      inputs.set(s.name, t);
      const b = engine.pool.acquire(bytesOf(t), `input '${s.name}' ${fmtShape(t.shape)}`);
      owned.push(b);
      places.set(t, { buffer: b, offset: 0 });
    } else if (s.kind === 'constant') places.set(t, { buffer: engine.constantBuffer(t), offset: 0 });
    else if (s.kind === 'parameter') places.set(t, await engine.parameterPlace(t));
  }
  for (const [p] of updates) places.set(p, await engine.parameterPlace(p));

  // Lower every node; aliases (reshapes) share their input's storage.
  const plans = nodes.map((node) => {
    const k = node.def.kernel(node.inputs, node.outputs, node.attrs, env);
    for (const o of node.outputs) checkLimit(engine, node, bytesOf(o));
    if ('alias' in k) return { node, kernel: null as KernelPlan | null, alias: k.alias };
    for (const b of k.tmp ?? []) checkLimit(engine, node, b);
    return { node, kernel: k, alias: -1 };
  });
  const root = new Map<Tensor, Tensor>();
  const rootOf = (t: Tensor): Tensor => root.get(t) ?? t;
  for (const p of plans) if (p.alias >= 0) root.set(p.node.outputs[0], rootOf(p.node.inputs[p.alias]));

  // Liveness: a storage root is free after the last node that reads it, unless it must survive the run.
  const lastUse = new Map<Tensor, number>();
  plans.forEach((p, i) => p.node.inputs.forEach((x) => lastUse.set(rootOf(x), i)));
  const pinned = new Set<Tensor>(roots.map(rootOf));

  // The optimizer's gradients are written straight into its arena by the ops that make them.
  // A gradient whose storage is not its own (a leaf, or shared with another gradient) is
  // copied into the arena after the backward pass instead.
  const gradArena = opt ? engine.pool.acquire(opt.arenaBytes, 'gradient arena') : null;
  if (gradArena) owned.push(gradArena);
  const arenaPlace = new Map<Tensor, Place>();
  const gatherFrom: { grad: Tensor; to: Place }[] = [];
  opt?.grads.forEach((g, i) => {
    const r = rootOf(g);
    const to = { buffer: gradArena!, offset: opt.offsets[i] };
    if (r.source.kind === 'op' && !arenaPlace.has(r)) arenaPlace.set(r, to);
    else gatherFrom.push({ grad: g, to });
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
    for (const o of p.node.outputs) if (!root.has(o) && !arenaPlace.has(o)) slotOf.set(o, takeSlot(bytesOf(o)));
    const tmps = (p.kernel?.tmp ?? []).map(takeSlot);
    tmpSlots.push(tmps);
    tmps.forEach(freeSlot);
    // Outputs nobody reads are dead at once (for example a sibling output left unused).
    for (const o of p.node.outputs) if (!root.has(o) && !lastUse.has(o) && !pinned.has(o)) freeSlot(slotOf.get(o)!);
    for (const x of new Set(p.node.inputs.map(rootOf))) {
      if (lastUse.get(x) === i && slotOf.has(x) && !pinned.has(x)) freeSlot(slotOf.get(x)!);
    }
  });
  const slotBuffers = slots.map((s) => {
    const b = engine.pool.acquire(s.size);
    owned.push(b);
    return b;
  });
  for (const [t, slot] of slotOf) places.set(t, { buffer: slotBuffers[slot], offset: 0 });
  for (const [t, place] of arenaPlace) places.set(t, place);
  for (const [t, r] of root) places.set(t, places.get(r)!);
  const gathers = gatherFrom.map(({ grad, to }) => ({ from: places.get(grad)!, to, bytes: bytesOf(grad) }));

  // Debug flags: one word per checked output.
  const flagLabels: string[] = [];
  const extra: GPUBuffer[] = [];
  const flagBytes = 4 * Math.max(1, order.length);
  const flagBuffer = spec.checkFinite ? engine.pool.acquire(flagBytes, 'non-finite flags') : null;
  if (flagBuffer) owned.push(flagBuffer);

  // Uniforms: one arena, each dispatch at an aligned offset.
  const align = engine.gpu.limits.minUniformBufferOffsetAlignment;
  const uniformWords: { d: Dispatch; offset: number; data: ArrayBuffer }[] = [];
  let arenaBytes = 0;
  // Checks run right after the op that produced each f32 output, before its buffer is reused.
  const checks = plans.map((p) =>
    !flagBuffer || !p.kernel
      ? []
      : p.node.outputs.flatMap((o, j) => {
          if (o.dtype !== 'f32') return [];
          flagLabels.push(`${p.node.def.name} (output ${j}, ${fmtShape(o.shape)})`);
          return [{ j, d: checkFiniteDispatch(o.size, flagLabels.length - 1) }];
        }),
  );
  const stepsDispatches = plans.map((p, i) => [...(p.kernel?.dispatches ?? []), ...checks[i].map((c) => c.d)]);
  for (const ds of stepsDispatches) {
    for (const d of ds) {
      if (!d.params) continue;
      const data = packParams(d.params);
      uniformWords.push({ d, offset: arenaBytes, data });
      arenaBytes += Math.ceil(data.byteLength / align) * align;
    }
  }
  const arena = engine.gpu.device.createBuffer({
    size: Math.max(16, arenaBytes),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  extra.push(arena);
  const uniformOf = new Map<Dispatch, BoundBuffer>();
  for (const u of uniformWords) {
    engine.gpu.device.queue.writeBuffer(arena, u.offset, u.data);
    uniformOf.set(u.d, { buffer: arena, offset: u.offset, size: u.data.byteLength });
  }

  const steps: Step[] = await Promise.all(
    plans.map(async (p, i) => {
      const { node } = p;
      const tmpBufs = tmpSlots[i].map((s, k) => ({ buffer: slotBuffers[s], size: p.kernel!.tmp![k] }));
      const resolve = (slot: Slot): BoundBuffer => {
        if ('in' in slot) return { ...places.get(node.inputs[slot.in])!, size: bytesOf(node.inputs[slot.in]) };
        if ('out' in slot) return { ...places.get(node.outputs[slot.out])!, size: bytesOf(node.outputs[slot.out]) };
        return tmpBufs[slot.tmp];
      };
      const kernelDispatches = (p.kernel?.dispatches ?? []).map((d) =>
        engine.kernels.prepare(d, d.reads.map(resolve), d.writes.map(resolve), uniformOf.get(d)),
      );
      const checkDispatches = checks[i].map(({ j, d }) =>
        engine.kernels.prepare(d, [resolve({ out: j })], [{ buffer: flagBuffer!, size: flagBytes }], uniformOf.get(d)),
      );
      const prepared = await Promise.all([...kernelDispatches, ...checkDispatches]);
      return { node, prepared };
    }),
  );

  const peakBytes = slots.reduce((a, s) => a + s.size, 0);
  const stats: PlanStats = {
    ops: nodes.length,
    dispatches: steps.reduce((a, s) => a + s.prepared.length, 0),
    peakBytes,
    naiveBytes,
  };
  const flags = flagBuffer ? { buffer: flagBuffer, labels: flagLabels } : null;
  const bound = opt ? await opt.bind(gradArena!) : null;
  return new Plan(engine, { steps, places, owned, extra, outputs, updates, flags, eager: !!spec.eager, gathers, optimizer: bound, inputs, stats });
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
