// Whether a device's subgroup quads are, in every 1-D workgroup of 64 invocations, the four
// consecutive invocations 4q..4q+3 in order (quad lane r is local invocation 4q + r). WGSL
// promises no relation between a subgroup's ids and the local ones; on SwiftShader a quad is one
// SIMD group of consecutive invocations. A kernel that gives the four invocations of a quad
// neighbouring blocks of work, and shares the operands they have in common through quad
// broadcasts (conv_fwd_quad in shaders/conv.ts), is right only where this holds, so it is
// measured once per device, by a probe, rather than assumed: a guard inside the kernel with a
// fallback path cost SwiftShader 3.5x the compile time and a quarter of the speed (measured).
// Not here: choosing kernels by it (src/ops/conv.ts reads KernelEnv.quadsInOrder).

/** The workgroup size the probe checks: the one the kernels that rely on it use. */
export const QUAD_PROBE_WORKGROUP = 64;

const probeWgsl = /* wgsl */ `
enable subgroups;
@group(0) @binding(0) var<storage, read_write> misplaced: atomic<u32>;

@compute @workgroup_size(${QUAD_PROBE_WORKGROUP})
fn probe(@builtin(local_invocation_index) i: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let first = i & ~3u;
  let r0 = quadBroadcast(i, 0u);
  let r1 = quadBroadcast(i, 1u);
  let r2 = quadBroadcast(i, 2u);
  let r3 = quadBroadcast(i, 3u);
  let ok = lane % 4u == i % 4u && r0 == first && r1 == first + 1u && r2 == first + 2u && r3 == first + 3u;
  if (!ok) { atomicAdd(&misplaced, 1u); }
}
`;

/** Runs the probe over a few workgroups on a device that has 'subgroups'; false on any error. */
export async function quadsInOrder(device: GPUDevice): Promise<boolean> {
  const counter = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.pushErrorScope('validation');
  let misplaced: number | null = null;
  try {
    const pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: probeWgsl }), entryPoint: 'probe' },
    });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: counter } }] });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(4);
    pass.end();
    encoder.copyBufferToBuffer(counter, 0, read, 0, 4);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    misplaced = new Uint32Array(read.getMappedRange())[0];
  } catch {
    // A device that cannot run the probe is treated as one whose quads are not in order.
  }
  const error = await device.popErrorScope();
  counter.destroy();
  read.destroy();
  return !error && misplaced === 0;
}
