// The GPU runtime: device acquisition and its errors, the buffer pool's size classes and exact
// byte accounting, and the pipeline cache.

import { describe, expect, it } from 'vitest';
import { BufferPool, DeviceLimitError, WebGPUUnavailableError, acquireDevice } from '../src/index.js';
import { sizeClass } from '../src/gpu/buffers.js';
import { debugShader } from '../shaders/debug.js';
import { testEngine } from './support/engine.js';

describe('device', () => {
  it('reports the adapter, its optional features and limits', async () => {
    const engine = await testEngine();
    expect(engine.gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    for (const f of engine.gpu.features) expect(['shader-f16', 'subgroups', 'timestamp-query']).toContain(f);
    expect(typeof engine.gpu.adapter.isSoftware).toBe('boolean');
  });

  it('says what to install or enable when there is no adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const err = await acquireDevice({ gpu: noAdapter }).catch((e) => e);
    expect(err).toBeInstanceOf(WebGPUUnavailableError);
    expect(err.message).toMatch(/VK_ICD_FILENAMES|swiftshader/);
  });

  it('in Node, devices share one Dawn instance per set of flags, which is never let go', async () => {
    // A Dawn instance the garbage collector finalises crashes the process.
    const [a, b, bare] = [await acquireDevice(), await acquireDevice(), await acquireDevice({ robustness: false })];
    expect(a.gpu).toBe(b.gpu);
    expect(bare.gpu).not.toBe(a.gpu);
    expect(a.device).not.toBe(b.device);
    for (const c of [a, b, bare]) c.device.destroy();
  });

  it("in Node, robustness: false drops Dawn's bounds checks, for that device only", async () => {
    // A read four elements past a 16-byte binding of a 64-byte buffer holding 1..16: clamped to
    // the binding's last element (4) with the checks, the buffer's ninth element (9) without.
    const readPastBinding = async (robustness?: boolean) => {
      const { device } = await acquireDevice(robustness === undefined ? {} : { robustness });
      const module = device.createShaderModule({
        code: `@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1) fn main() { out[0] = a[arrayLength(&a) + 4u]; }`,
      });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const a = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(a, 0, Uint32Array.from({ length: 16 }, (_, i) => i + 1));
      const out = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      const staging = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const entries = [{ binding: 0, resource: { buffer: a, offset: 0, size: 16 } }, { binding: 1, resource: { buffer: out } }];
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
      pass.dispatchWorkgroups(1);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, staging, 0, 4);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const v = new Uint32Array(staging.getMappedRange())[0];
      device.destroy();
      return v;
    };
    expect(await readPastBinding()).toBe(4);
    expect(await readPastBinding(false)).toBe(9);
    expect(await readPastBinding(true)).toBe(4);
  });

  it('leaves out features it was asked to disable', async () => {
    const ctx = await acquireDevice({ disable: ['timestamp-query', 'subgroups', 'shader-f16'] });
    expect(ctx.features.size).toBe(0);
    ctx.device.destroy();
  });
});

describe('buffer pool', () => {
  it('rounds to size classes', () => {
    expect(sizeClass(1)).toBe(16);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass((1 << 20) + 1)).toBe((1 << 20) + (1 << 18));
    expect(sizeClass(3 << 20)).toBe(3 << 20);
  });

  it('accounts bytes exactly and reuses released buffers', async () => {
    const { gpu } = await testEngine();
    const pool = new BufferPool(gpu.device, gpu.limits);
    const a = pool.acquire(1000);
    const b = pool.acquire(5000);
    expect(pool.bytesInUse).toBe(1024 + 8192);
    pool.release(a);
    expect(pool.bytesInUse).toBe(8192);
    const c = pool.acquire(900); // same class as a: served from the free list
    expect(c).toBe(a);
    expect(pool.bytesAllocated).toBe(1024 + 8192);
    expect(pool.peakBytesInUse).toBe(1024 + 8192);
    pool.release(b);
    pool.release(c);
    expect(() => pool.release(c)).toThrow(/released twice/);
    pool.trim();
    expect(pool.bytesAllocated).toBe(0);
  });

  it('refuses a buffer beyond the device limit with the numbers in the message', async () => {
    const { gpu } = await testEngine();
    const pool = new BufferPool(gpu.device, gpu.limits);
    expect(() => pool.acquire(2 ** 40, 'tensor x')).toThrow(DeviceLimitError);
    expect(() => pool.acquire(2 ** 40, 'tensor x')).toThrow(/tensor x needs 1099511627776 bytes.*maxBufferSize/);
    expect(pool.bytesInUse).toBe(0);
  });
});

describe('pipeline cache', () => {
  it('builds a pipeline once per shader, entry point and constants', async () => {
    const engine = await testEngine();
    const d = { shader: debugShader, entry: 'check_finite', constants: { WG: 64 }, reads: [{ in: 0 }], writes: [{ out: 0 }], params: [1, 0], workgroups: [1] as [number] };
    const p1 = await engine.kernels.pipeline(d);
    const p2 = await engine.kernels.pipeline({ ...d, workgroups: [7] });
    const p3 = await engine.kernels.pipeline({ ...d, constants: { WG: 32 } });
    expect(p2).toBe(p1);
    expect(p3).not.toBe(p1);
  });
});
