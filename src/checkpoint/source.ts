// Reading a large safetensors file a piece at a time: a ByteSource says how big the file is and
// reads a byte range of it, from bytes in memory, a Blob or File (a page's upload: a slice is
// read, the rest stays on disk) or a Node file handle (`await fs.open(path)`). openSafetensors
// reads and checks the header only; each tensor's bytes are read when asked for, so a 500 MB
// model is never held twice (or at all) in memory.
// Not here: the format's rules (safetensors.ts), or what the tensors mean (checkpoint.ts, models).

import { CheckpointError } from '../errors.js';
import type { HostArray } from '../tensor.js';
import { decodeTensorBytes, headerExtent, parseSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from './safetensors.js';

/** A file's size and a way to read any byte range of it. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes from `offset` (a short read is an error). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** A Blob or File (for example from an <input type="file"> or a drop): slices are read on demand. */
export function blobSource(blob: Blob): ByteSource {
  return { size: blob.size, read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()) };
}

/** What ByteSource needs of a Node `fs/promises` FileHandle (so this module imports nothing of Node). */
export interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
}

/** A Node file handle (`await open(path)` from 'node:fs/promises'); the caller closes it. */
export async function fileHandleSource(handle: FileHandleLike): Promise<ByteSource> {
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out;
    },
  };
}

/** A safetensors file whose header has been read and checked; tensors are read one by one. */
export interface SafetensorsReader extends SafetensorsHeader {
  /** A tensor's values (f32 for float dtypes, i32 for integer ones), read from the source now. */
  read(name: string): Promise<HostArray>;
  /** Bytes of the whole file. */
  readonly size: number;
}

export async function openSafetensors(source: ByteSource): Promise<SafetensorsReader> {
  const extent = headerExtent(await readExactly(source, 0, Math.min(8, source.size)), source.size);
  const header = parseSafetensorsHeader(await readExactly(source, 0, extent), source.size);
  return {
    ...header,
    size: source.size,
    async read(name) {
      const t: TensorInfo | undefined = header.tensors.get(name);
      if (!t) throw new CheckpointError(`No tensor '${name}' in the file.`, 'missing', name);
      return decodeTensorBytes(t, await readExactly(source, header.dataStart + t.begin, t.end - t.begin));
    },
  };
}

async function readExactly(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) {
    throw new CheckpointError(`The file ended early: ${bytes.length} of ${length} bytes at byte ${offset} could be read.`, 'truncated');
  }
  return bytes;
}
