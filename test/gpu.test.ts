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
