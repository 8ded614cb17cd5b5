// Compiling a graph into a plan and replaying it. Compile once: order the op nodes, lower each
// into dispatches, give every intermediate a buffer by liveness (a buffer whose last reader
// has run serves a later tensor), build every pipeline and bind group and pack every uniform.
// Replay many times: write the fed inputs, encode every dispatch into one command encoder,
// submit once, read back only what was asked for.
// Memory is laid out before anything is acquired (layout.ts), so a plan's bytes are known up
// front (`estimatePlan`) and checked against the engine's budget; buffers and bind groups are made
// inside GPU error scopes, so a device failure is a typed error at compile time, never in run.
// Eager mode is the same plan built without reuse and submitted one op at a time.
// With deferred tuning a plan is built twice: first on the kernels quick to build, then, once
// its second run has measured the tuned ops, on the picks where they differ, in the background;
// a run swaps the rebuilt parts in, so the plan's owner never sees the change.
// Not here: where parameters and constants live (engine.ts), gradients (autograd.ts).

import { DeviceLostError, EngineError, InputError, NonFiniteError, OutOfMemoryError, fmtShape } from './errors.js';
import { packParams, encodeDispatches, type BoundBuffer, type PreparedDispatch } from './gpu/kernels.js';
import { bytesOf, checkBudget, flagBytesOf, layoutPlan, type Layout } from './layout.js';
import type { Dispatch, Slot } from './ops/types.js';
import { checkFiniteDispatch } from './debug.js';
import { unpackHalves } from './half.js';
import type { HostArray, OpNode, Tensor } from './tensor.js';
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
  /** What the plan is, in words, for the progress of its compile: 'the training step'. */
  label?: string;
}

export interface PlanStats {
  ops: number;
  dispatches: number;
  /** Bytes of the buffers the plan allocated for intermediates after liveness reuse. */
  peakBytes: number;
  /** What the intermediates would take with one buffer each. */
  naiveBytes: number;
}


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

/**
 * Tuning left to after a plan's first run (tune: 'deferred'): the spec to rebuild from and the
 * kernel choices the plan was lowered with.
 */
interface DeferredTuning {
  spec: CompileSpec;
  lowered: string;
}

/** A submitted run: what to read back once the GPU is done (lost: the device was lost before it could submit). */
interface Submitted {
  lost: boolean;
  reads: { name: string; dtype: string; count: number; staging: GPUBuffer; bytes: number }[];
  flags: { staging: GPUBuffer; labels: string[] } | null;
}

/**
 * The order an engine's runs submit in: the order they were called. A run that must wait before
 * it submits (for its deferred tuning) queues behind the waiting ones, and so does every run
 * called while any waits.
 */
class SubmitOrder {
  private queued = 0;
  private last: Promise<unknown> = Promise.resolve();

  /** Whether a run waits to submit. */
  get waiting(): boolean {
    return this.queued > 0;
  }

  /** Runs `submit` after every run queued before it has submitted (or failed to). */
  after<T>(submit: () => Promise<T>): Promise<T> {
    this.queued++;
    const turn = this.last.then(submit).finally(() => this.queued--);
    this.last = turn.catch(() => {});
    return turn;
  }
}

const submitOrders = new WeakMap<Engine, SubmitOrder>();

function submitOrderOf(engine: Engine): SubmitOrder {
  let order = submitOrders.get(engine);
  if (!order) submitOrders.set(engine, (order = new SubmitOrder()));
  return order;
}

export class Plan {
  private disposed = false;
  private staging = new Map<string, GPUBuffer[]>();
  /** Staging buffers copied into by a submitted run and not yet read. */
  private busy = new Set<GPUBuffer>();
  private runs = 0;
  /** The measurement deferred tuning waits for (from the second run, or settled()). */
  private retuning: Promise<void> | null = null;
  /** The rebuild on the picks, in the background. */
  private rebuilt: Promise<void> | null = null;
  /** Parts rebuilt on the picks, swapped in by the next run. */
  private next: PlanParts | null = null;

  constructor(
    private engine: Engine,
    private parts: PlanParts,
    private deferred: DeferredTuning | null = null,
  ) {}

  get stats(): PlanStats {
    return this.parts.stats;
  }

  /** Names of the inputs the plan reads, with their tensors. */
  get inputs(): Map<string, Tensor> {
    return this.parts.inputs;
  }

  /**
   * Resolves once the next run uses the kernels the plan will keep: at once, unless its tuning
   * was deferred (tune: 'deferred') and is still to come; then it measures now, unless a run is
   * already measuring, and waits for the rebuild on the picks. What benchmarks call before timing.
   */
  async settled(): Promise<void> {
    this.startRetune();
    await this.retuning;
    await this.rebuilt;
  }

  private startRetune(): void {
    if (!this.deferred) return;
    this.retuning = this.retune(this.deferred).finally(() => (this.retuning = null));
    this.deferred = null;
  }

  /**
   * Writes the feeds, runs every dispatch in one submit, and reads back `read` (default: all
   * outputs). Runs submit in the order they were called, across the engine's plans: a run that
   * waits for its deferred tuning holds back the runs called after it. With nothing waiting, the
   * run submits before this returns, so a caller may queue several.
   */
  async run(feeds: Feeds = {}, read: string[] = Object.keys(this.parts.outputs)): Promise<Record<string, HostArray>> {
    if (this.disposed) throw new InputError('This plan was disposed; compile the step again.');
    // The first run comes at once, on first choices; the second waits for the measurement.
    if (this.runs > 0) this.startRetune();
    const order = submitOrderOf(this.engine);
    const reads = this.retuning || order.waiting ? await order.after(async () => (await this.retuning, this.submit(feeds, read))) : this.submit(feeds, read);
    return this.readBack(reads);
  }

  /** Encodes and submits one run on the current parts; what to read back, once the GPU is done. */
  private submit(feeds: Feeds, read: string[]): Submitted {
    if (this.next && !this.disposed) this.swap(this.next);
    if (this.disposed) throw new InputError('This plan was disposed; compile the step again.');
    const readable = { ...this.parts.outputs, ...this.parts.optimizer?.outputs };
    this.runs++;
    const { device } = this.engine.gpu;
    if (this.engine.gpu.isLost()) return { lost: true, reads: [], flags: null };
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
      return { name, dtype, count: 'place' in r ? 0 : r.size, staging, bytes };
    });
    const { flags } = this.parts;
    const flagStaging = flags ? this.takeStaging('\0flags', flags.labels.length * 4) : null;
    if (flags) encoder.copyBufferToBuffer(flags.buffer, 0, flagStaging!, 0, flags.labels.length * 4);
    device.queue.submit([encoder.finish()]);
    return { lost: false, reads, flags: flags && { staging: flagStaging!, labels: flags.labels } };
  }

  /** Waits for a submitted run and reads its values back; the device's loss, if it was lost. */
  private async readBack(submitted: Submitted): Promise<Record<string, HostArray>> {
    if (submitted.lost) throw await this.engine.gpu.lost;
    const { reads, flags } = submitted;
    const lost = this.engine.gpu.lost.then((e) => Promise.reject(e));
    // A run that reads nothing never awaits `lost`: mark it handled so a later loss is not unhandled.
    lost.catch(() => {});
    const result: Record<string, HostArray> = {};
    if (flags) {
      const f = new Uint32Array(await this.mapped(flags.staging, '\0flags', lost));
      const first = f.findIndex((v) => v !== 0);
      if (first >= 0) {
        const label = flags.labels[first];
        throw new NonFiniteError(`A NaN or infinity first appeared in the output of ${label}.`, label.split(' ')[0]);
      }
    }
    for (const { name, dtype, count, staging, bytes: n } of reads) {
      const bytes = (await this.mapped(staging, name, lost)).slice(0, n);
      result[name] = dtype === 'i32' ? new Int32Array(bytes) : dtype === 'f16' ? unpackHalves(bytes, count) : new Float32Array(bytes);
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

  /**
   * Deferred tuning, at the second run: measures the classes the plan lowered on first choices,
   * with the first run's work finished so that it is not timed with the candidates. Where a pick
   * differs from what the plan runs, the plan is rebuilt on the picks in the background; a
   * rebuild that fails (say, past the memory budget beside the running plan) leaves the plan on
   * its first choices, which are correct, only slower.
   */
  private async retune({ spec, lowered }: DeferredTuning): Promise<void> {
    // On a lost device this settles either way; the loss surfaces from run.
    await this.engine.gpu.device.queue.onSubmittedWorkDone().catch(() => {});
    await this.engine.tuneForPlan(spec);
    if (this.disposed || this.engine.gpu.isLost() || this.engine.loweredChoices(spec) === lowered) return;
    const label = `${spec.label ?? 'a plan'} on the tuned kernels`;
    this.rebuilt = compileParts(this.engine, { ...spec, label }).then(
      (parts) => (this.disposed ? releaseParts(this.engine, parts) : void (this.next = parts)),
      () => {},
    );
  }

  /** Runs on `parts` from now on; the old parts' buffers go back (runs already submitted keep them until they finish). */
  private swap(parts: PlanParts): void {
    const old = this.parts;
    this.parts = parts;
    this.next = null;
    releaseParts(this.engine, old);
  }

  /** Returns the plan's buffers to the engine's pool. Parameters are not touched. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    releaseParts(this.engine, this.parts);
    if (this.next) releaseParts(this.engine, this.next);
    this.next = null;
    this.deferred = null;
    for (const list of this.staging.values()) for (const b of list) b.destroy();
  }
}

/**
 * Gives back the buffers of a plan's parts, and drops their graph: a disposed plan kept by its
 * caller must not keep tensors (and the constants they own) alive.
 */
function releaseParts(engine: Engine, parts: PlanParts): void {
  for (const b of parts.owned) engine.pool.release(b);
  for (const b of parts.extra) b.destroy();
  parts.owned = [];
  parts.extra = [];
  parts.places.clear();
  parts.steps.length = 0;
  parts.inputs.clear();
  parts.outputs = {};
  parts.updates = [];
  parts.optimizer = null;
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

/** Compiles a graph into a Plan on `engine`. */
export async function compilePlan(engine: Engine, spec: CompileSpec): Promise<Plan> {
  // Tuned kernels are measured the first time a plan needs a size class: before the plan is
  // laid out (tune: 'upfront'), or after its first run (deferred, the plan lowering such classes
  // on their families' first choices until then, Engine.lowering). Eager plans run once, so they
  // lower with the picks known so far (else the defaults) rather than wait for a measurement.
  const deferred = !spec.eager && engine.defersTuning(spec) ? { spec, lowered: engine.loweredChoices(spec) } : null;
  if (!spec.eager && !deferred) await engine.tuneForPlan(spec);
  return new Plan(engine, await compileParts(engine, spec), deferred);
}

/** Lays out and builds everything a plan of `spec` runs, on the kernel choices the engine has now. */
async function compileParts(engine: Engine, spec: CompileSpec): Promise<PlanParts> {
  const layout = layoutPlan(engine, spec);
  checkBudget(engine, layout.estimate);
  const owned: GPUBuffer[] = [];
  const extra: GPUBuffer[] = [];
  try {
    return await buildPlan(engine, spec, layout, owned, extra);
  } catch (e) {
    // Nothing half-built: a plan that fails to build gives back every buffer it took.
    for (const b of owned) engine.pool.release(b);
    for (const b of extra) b.destroy();
    // A buffer the device could not create is unusable: destroy every free buffer rather than
    // reuse it, which also gives the cached memory back to the device.
    if (e instanceof OutOfMemoryError && e.budget === null) engine.pool.trim();
    throw e;
  }
}

/** Acquires, creates and prepares everything a laid-out plan needs, recording its buffers as it goes. */
async function buildPlan(engine: Engine, spec: CompileSpec, layout: Layout, owned: GPUBuffer[], extra: GPUBuffer[]): Promise<PlanParts> {
  const outputs = spec.outputs ?? {};
  const updates = spec.updates ?? [];
  const opt = spec.optimizer;
  const { order, nodes, inputs, plans, root, rootOffset, slots, slotOf, tmpSlots, naiveBytes } = layout;
  const { device } = engine.gpu;
  // Buffers are created inside out-of-memory error scopes (compile time only, never in run).
  const oom: Promise<{ what: string; bytes: number; error: GPUError } | null>[] = [];
  const scoped = <T extends GPUBuffer>(what: string, bytes: number, create: () => T, list: GPUBuffer[]): T => {
    device.pushErrorScope('out-of-memory');
    try {
      const b = create();
      list.push(b);
      return b;
    } finally {
      oom.push(device.popErrorScope().then((error) => (error ? { what, bytes, error } : null)));
    }
  };
  const acquire = (bytes: number, what: string) => scoped(what, bytes, () => engine.pool.acquire(bytes, what), owned);

  // Leaves: inputs get a buffer each, written by every run; constants and parameters live in the engine.
  const places = new Map<Tensor, Place>();
  for (const [name, t] of inputs) {
    places.set(t, { buffer: acquire(bytesOf(t), `input '${name}' ${fmtShape(t.shape)}`), offset: 0 });
  }
  for (const t of order) {
    const s = t.source;
    if (s.kind === 'constant') places.set(t, { buffer: engine.constantBuffer(t), offset: 0 });
    else if (s.kind === 'parameter') places.set(t, await engine.parameterPlace(t));
  }
  for (const [p] of updates) places.set(p, await engine.parameterPlace(p));

  const gradArena = opt ? acquire(opt.arenaBytes, 'gradient arena') : null;
  // Name each intermediate buffer after the first tensor that lives in it.
  const firstOf = new Map<number, Tensor>();
  for (const [t, slot] of slotOf) if (!firstOf.has(slot)) firstOf.set(slot, t);
  const slotBuffers = slots.map((sl, i) => {
    const t = firstOf.get(i);
    const what = t?.source.kind === 'op' ? `the output of ${t.source.node.def.name} ${fmtShape(t.shape)}` : 'scratch space';
    return acquire(sl.size, what);
  });
  for (const [t, slot] of slotOf) places.set(t, { buffer: slotBuffers[slot], offset: 0 });
  for (const [t, offset] of layout.arenaOffset) places.set(t, { buffer: gradArena!, offset });
  for (const [t, r] of root) {
    const p = places.get(r)!;
    places.set(t, { buffer: p.buffer, offset: p.offset + (rootOffset.get(t) ?? 0) });
  }
  const gathers = layout.gatherFrom.map(({ grad, offset }) => ({
    from: places.get(grad)!,
    to: { buffer: gradArena!, offset },
    bytes: bytesOf(grad),
  }));

  // Debug flags: one word per checked output.
  const flagLabels: string[] = [];
  const flagBytes = flagBytesOf(order);
  const flagBuffer = spec.checkFinite ? acquire(flagBytes, 'non-finite flags') : null;

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
  const arena = scoped('uniforms', arenaBytes, () => device.createBuffer({
    size: Math.max(16, arenaBytes),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  }), extra);
  await checkOutOfMemory(engine, oom);
  const uniformOf = new Map<Dispatch, BoundBuffer>();
  for (const u of uniformWords) {
    device.queue.writeBuffer(arena, u.offset, u.data);
    uniformOf.set(u.d, { buffer: arena, offset: u.offset, size: u.data.byteLength });
  }

  // A first compile on a software adapter spends seconds per pipeline: its progress is reported.
  const dispatchCount = stepsDispatches.reduce((n, ds) => n + ds.length, 0);
  const compiling = spec.eager ? null : engine.progress.phase(`compiling ${spec.label ?? 'a plan'}`, 'kernels', dispatchCount);
  const counted = <T>(p: Promise<T>) => (compiling ? p.then((r) => (compiling.advance(), r)) : p);
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
        counted(engine.kernels.prepare(d, d.reads.map(resolve), d.writes.map(resolve), uniformOf.get(d))),
      );
      const checkDispatches = checks[i].map(({ j, d }) =>
        counted(engine.kernels.prepare(d, [resolve({ out: j })], [{ buffer: flagBuffer!, size: flagBytes }], uniformOf.get(d))),
      );
      const prepared = await Promise.all([...kernelDispatches, ...checkDispatches]).catch((e: Error) => {
        const shapes = node.inputs.map((t) => fmtShape(t.shape)).join(', ');
        throw new EngineError(`${node.def.name}(${shapes}) could not be prepared: ${e.message}`);
      });
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
  return { steps, places, owned, extra, outputs, updates, flags, eager: !!spec.eager, gathers, optimizer: bound, inputs, stats };
}

/** Waits for the out-of-memory scopes of a plan's buffers; the first failure throws. */
async function checkOutOfMemory(engine: Engine, scopes: Promise<{ what: string; bytes: number; error: GPUError } | null>[]): Promise<void> {
  const failed = (await Promise.all(scopes)).find((f) => f !== null);
  if (!failed) return;
  const inUse = engine.pool.bytesInUse;
  throw new OutOfMemoryError(
    `The device ran out of memory creating ${failed.what} (${failed.bytes} bytes) with ${inUse} bytes in use ` +
      `in the pool: ${failed.error.message} Use a smaller batch, accumulate gradients over micro-batches ` +
      "(the optimizer's `accumulate`) or a smaller model preset.",
    failed.bytes,
    inUse,
    null,
  );
}
