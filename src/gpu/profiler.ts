// GPU timestamp profiling of prepared dispatches: each dispatch in its own compute pass with
// timestamp writes at its start and end. Only for measuring: splitting passes costs time of
// its own, and timestamps may be quantised by the implementation, so time loops of many
// dispatches when a single one is short. Needs the 'timestamp-query' feature.
// Also the loop that benchmarks time a kernel with: many back-to-back dispatches in one pass,
// timed by timestamps around the pass, or by the wall clock from submit to completion.

import { EngineError } from '../errors.js';
import type { Dispatch } from '../ops/types.js';
import type { GpuContext } from './device.js';
import { packParams, type BoundBuffer, type KernelCache, type PreparedDispatch } from './kernels.js';

export type TimingSource = 'timestamp' | 'wall-clock';

/** Runs each dispatch once and returns its GPU time in milliseconds. */
export async function profileDispatches(
  gpu: GpuContext,
  list: PreparedDispatch[],
): Promise<{ label: string; ms: number }[]> {
  if (!gpu.features.has('timestamp-query')) {
    throw new EngineError('This adapter has no timestamp-query feature; time with the wall clock instead.');
  }
  const { device } = gpu;
  const count = Math.max(2, list.length * 2);
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder();
    list.forEach((p, i) => {
      const pass = encoder.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.bindGroup);
      pass.dispatchWorkgroups(...p.workgroups);
      pass.end();
    });
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    return list.map((p, i) => ({ label: p.label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
}

/** Runs one prepared kernel `count` times back to back and returns the milliseconds taken. */
export interface DispatchTimer {
  timing: TimingSource;
  run(count: number): Promise<number>;
  destroy(): void;
}

function encodeLoop(device: GPUDevice, p: PreparedDispatch, count: number, desc: GPUComputePassDescriptor = {}): GPUCommandEncoder {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass(desc);
  pass.setPipeline(p.pipeline);
  pass.setBindGroup(0, p.bindGroup);
  for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...p.workgroups);
  pass.end();
  return encoder;
}

/** A timer for dispatch `d` over the given buffers: timestamps when the device has them. */
export async function dispatchTimer(
  gpu: GpuContext,
  kernels: KernelCache,
  d: Dispatch,
  reads: BoundBuffer[],
  writes: BoundBuffer[],
  wallClock = false,
): Promise<DispatchTimer> {
  const { device } = gpu;
  const words = packParams(d.params ?? []);
  const uniform = device.createBuffer({ size: words.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniform, 0, words);
  const p = await kernels.prepare(d, reads, writes, d.params ? { buffer: uniform, size: words.byteLength } : undefined);
  if (wallClock || !gpu.features.has('timestamp-query')) {
    return {
      timing: 'wall-clock',
      async run(count) {
        // Drain earlier work so it is not counted.
        await device.queue.onSubmittedWorkDone();
        const t0 = performance.now();
        device.queue.submit([encodeLoop(device, p, count).finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      },
      destroy: () => uniform.destroy(),
    };
  }
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  return {
    timing: 'timestamp',
    async run(count) {
      const encoder = encodeLoop(device, p, count, {
        timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
      });
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const [t0, t1] = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      return Number(t1 - t0) / 1e6;
    },
    destroy() {
      uniform.destroy();
      querySet.destroy();
      resolve.destroy();
      read.destroy();
    },
  };
}

/** How a timed loop runs (timeLoop). */
export interface MeasureOptions {
  /** Timed submits after the warm-up (default 5). */
  reps?: number;
  /** Fewer submits (at least 3) when `reps` of them would take longer than this. */
  maxMs?: number;
  /** Aim for submits of about this long, by the number of dispatches in each (default 50 ms). */
  targetMs?: number;
  /** Most dispatches in one submit (default 256). */
  maxPerRep?: number;
  /** Use the wall clock even when timestamps exist. */
  wallClock?: boolean;
  /**
   * When the warm-up dispatch alone takes longer than this (ms), it is the measurement: one
   * dispatch that slow says enough to choose by, and more would cost seconds on a CPU adapter.
   */
  slowMs?: number;
}

export interface LoopTime {
  /** Median over the timed submits of the time per dispatch. */
  ms: number;
  /** Dispatches per timed submit, and timed submits (1 and 1 when the warm-up was the measurement). */
  perRep: number;
  reps: number;
}

/**
 * Times a dispatch with `timer`: a warm-up of one dispatch (it pays for lazy compilation and
 * allocation, and sizes the loops), then the median of several submits of many dispatches.
 */
export async function timeLoop(timer: Pick<DispatchTimer, 'run'>, opts: MeasureOptions = {}): Promise<LoopTime> {
  const first = await timer.run(1);
  if (opts.slowMs !== undefined && first > opts.slowMs) return { ms: first, perRep: 1, reps: 1 };
  const perRep = Math.max(1, Math.min(opts.maxPerRep ?? 256, Math.round((opts.targetMs ?? 50) / Math.max(first, 1e-3))));
  const want = opts.reps ?? 5;
  const fit = opts.maxMs === undefined ? want : Math.floor(opts.maxMs / (first * perRep));
  const reps = Math.max(Math.min(want, 3), Math.min(want, fit));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) times.push((await timer.run(perRep)) / perRep);
  times.sort((x, y) => x - y);
  const h = reps >> 1;
  return { ms: reps % 2 ? times[h] : (times[h - 1] + times[h]) / 2, perRep, reps };
}

/** Times dispatch `d` over the given buffers with timeLoop, on a timer made for it and destroyed after. */
export async function timeDispatch(
  gpu: GpuContext,
  kernels: KernelCache,
  d: Dispatch,
  reads: BoundBuffer[],
  writes: BoundBuffer[],
  opts: MeasureOptions = {},
): Promise<LoopTime & { timing: TimingSource }> {
  const timer = await dispatchTimer(gpu, kernels, d, reads, writes, opts.wallClock);
  try {
    return { ...(await timeLoop(timer, opts)), timing: timer.timing };
  } finally {
    timer.destroy();
  }
}
