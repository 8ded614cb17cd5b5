// GPU timestamp profiling of prepared dispatches: each dispatch in its own compute pass with
// timestamp writes at its start and end. Only for measuring: splitting passes costs time of
// its own, and timestamps may be quantised by the implementation, so time loops of many
// dispatches when a single one is short. Needs the 'timestamp-query' feature.
// Not here: wall-clock timing (bench/ does that when timestamps are missing).

import { EngineError } from '../errors.js';
import type { GpuContext } from './device.js';
import type { PreparedDispatch } from './kernels.js';

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
