// A pool of storage buffers in size classes, with exact accounting of the bytes in use.
// Buffers are rounded up to a size class so that a released buffer can serve a later request
// of a similar size; `bytesInUse` counts the rounded sizes actually held by callers.
// Not here: deciding when a buffer is free (the executor does that by liveness).

import { DeviceLimitError } from '../errors.js';

/** Size classes: powers of two up to 1 MiB, then steps of a quarter of the power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private held = new Map<GPUBuffer, number>();
  /** Bytes held by callers right now (by size class). */
  bytesInUse = 0;
  /** Bytes of every buffer the pool owns, held or free. */
  bytesAllocated = 0;
  /** The most bytesInUse has ever been. */
  peakBytesInUse = 0;

  constructor(
    private device: GPUDevice,
    private limits: GPUSupportedLimits,
  ) {}

  /** A storage buffer of at least `bytes` bytes; `what` names the tensor in a limit error. */
  acquire(bytes: number, what = 'a buffer'): GPUBuffer {
    const size = sizeClass(bytes);
    const max = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > max) {
      throw new DeviceLimitError(
        `${what} needs ${bytes} bytes, more than this device allows in one storage buffer ` +
          `(maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}, maxBufferSize ` +
          `${this.limits.maxBufferSize}). Use a smaller batch, sequence or model.`,
      );
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      // GPUBufferUsage is a global only once a WebGPU implementation is loaded: read it here.
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      buf = this.device.createBuffer({ size: Math.min(size, max), usage });
      this.bytesAllocated += size;
    }
    this.held.set(buf, size);
    this.bytesInUse += size;
    this.peakBytesInUse = Math.max(this.peakBytesInUse, this.bytesInUse);
    return buf;
  }

  /** Returns a buffer to the pool for reuse. Releasing a buffer twice is a bug and throws. */
  release(buf: GPUBuffer): void {
    const size = this.held.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer is not held (released twice?)');
    this.held.delete(buf);
    this.bytesInUse -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** Copies host data into a buffer (queued: ordered before any later submit). */
  write(buf: GPUBuffer, data: Float32Array | Int32Array | Uint32Array, byteOffset = 0): void {
    this.device.queue.writeBuffer(buf, byteOffset, data);
  }

  /** Reads `bytes` bytes of a buffer back as floats (waits for the GPU work queued before it). */
  async read(buf: GPUBuffer, bytes: number, byteOffset = 0): Promise<Float32Array> {
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(buf, byteOffset, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return new Float32Array(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
  }

  /** Destroys every free buffer (held ones stay valid). */
  trim(): void {
    for (const [size, list] of this.free) {
      for (const b of list) {
        b.destroy();
        this.bytesAllocated -= size;
      }
    }
    this.free.clear();
  }
}
