// The safetensors file format, read and written with no engine involved: an 8-byte
// little-endian header length N, N bytes of JSON header (padded with spaces to a multiple of
// 8), then one dense byte buffer holding every tensor. The header maps each tensor name to
// { dtype, shape, data_offsets: [begin, end] } (offsets relative to the byte buffer) and may
// hold "__metadata__", an object of string -> string.
// Reading validates everything before a single tensor is decoded, and checks every length
// against the bytes at hand before using it, so a hostile file can neither read out of bounds
// nor make us allocate more than its own size.
// Not here: parameters, GPUs, or what the metadata means (checkpoint.ts).

import { CheckpointError, fmtShape } from '../errors.js';
import type { HostArray, Shape } from '../tensor.js';

/** Bytes per element of every dtype the format defines; any other dtype string is rejected. */
const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type SafetensorsDType = keyof typeof DTYPE_BYTES;

/** The dtypes `decodeTensor` turns into f32; F64 is rounded to the nearest f32. */
export const FLOAT_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16', 'F64'];
/** The dtypes `decodeTensor` turns into i32; an I64 value outside the i32 range is an error. */
export const INT_DTYPES: readonly SafetensorsDType[] = ['I32', 'I64'];

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range in the data buffer: [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  /** Every tensor, in the order the header lists them. */
  tensors: Map<string, TensorInfo>;
  /** The "__metadata__" object ({} when the file has none). */
  metadata: Record<string, string>;
  /** The byte buffer after the header; `begin`/`end` index into it. */
  data: Uint8Array;
}

/** One tensor to write; its dtype follows from the array (F32 or I32). */
export interface SafetensorsTensor {
  name: string;
  shape: Shape;
  data: HostArray;
}

const METADATA = '__metadata__';
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Parses and validates a whole file; throws CheckpointError naming the tensor and the fault. */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  const { tensors, metadata, dataStart } = parseSafetensorsHeader(bytes, bytes.length);
  return { tensors, metadata, data: bytes.subarray(dataStart) };
}

/** A file's header without its data: where each tensor lies, relative to `dataStart`. */
export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Byte offset of the data buffer in the file. */
  dataStart: number;
}

/** Bytes of the length prefix plus the header a file starts with, read from its first 8 bytes. */
export function headerExtent(first8: Uint8Array, fileBytes: number): number {
  if (fileBytes < 8 || first8.length < 8) {
    throw new CheckpointError(`Not a safetensors file: ${fileBytes} bytes, shorter than the 8-byte header length.`, 'truncated');
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileBytes - 8)) {
    throw new CheckpointError(
      `The header claims ${n} bytes but the file has only ${fileBytes - 8} after the length: truncated or not safetensors.`,
      'header-length',
    );
  }
  return 8 + Number(n);
}

/**
 * Parses and validates the header at the start of `prefix` (at least headerExtent bytes) of a
 * file of `fileBytes` bytes: every entry is checked against the data the file holds, so a
 * reader may then fetch one tensor's bytes at a time (a large model need not sit in memory).
 */
export function parseSafetensorsHeader(prefix: Uint8Array, fileBytes: number): SafetensorsHeader {
  const dataStart = headerExtent(prefix, fileBytes);
  if (prefix.length < dataStart) throw new CheckpointError(`The header needs ${dataStart} bytes; ${prefix.length} were read.`, 'truncated');
  const header = parseHeader(prefix.subarray(8, dataStart));
  const dataBytes = fileBytes - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of header) {
    if (name === METADATA) metadata = checkMetadata(value);
    else tensors.set(name, checkEntry(name, value, dataBytes));
  }
  checkLayout([...tensors.values()], dataBytes);
  return { tensors, metadata, dataStart };
}

/** The header's top-level entries in file order, after checking it is one JSON object without repeated keys. */
function parseHeader(raw: Uint8Array): [string, unknown][] {
  let text: string;
  let value: unknown;
  try {
    // fatal: invalid UTF-8 is an error rather than silently replaced characters.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
    value = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`The header is not valid UTF-8 JSON: ${(e as Error).message}`, 'header-json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CheckpointError(`The header must be a JSON object; it is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`, 'header-json');
  }
  const keys = objectKeysInOrder(text);
  const obj = value as Record<string, unknown>;
  return keys.map((k) => [k, obj[k]]);
}

/**
 * The top-level keys of valid JSON text in the order written, throwing on a key repeated in any
 * object. JSON.parse keeps the last of repeated keys silently, which would let two readers of
 * one file see different tensors; and it enumerates integer-like keys first, not in file order.
 */
function objectKeysInOrder(text: string): string[] {
  const top: string[] = [];
  const open: (Set<string> | null)[] = []; // one entry per open container; null for arrays
  let entry = ''; // the top-level key whose value is being scanned
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') open.push(new Set());
    else if (c === '[') open.push(null);
    else if (c === '}' || c === ']') open.pop();
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      let j = i + 1;
      while (j < text.length && ' \t\n\r'.includes(text[j])) j++;
      if (text[j] !== ':') continue; // a string value, not a key
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      const keys = open[open.length - 1]!;
      if (open.length === 1) entry = key;
      if (keys.has(key)) {
        const where = open.length === 1 ? '' : ` inside the entry '${entry}'`;
        throw new CheckpointError(`The header repeats the key '${key}'${where}: the file is ambiguous.`, 'duplicate', entry);
      }
      keys.add(key);
      if (open.length === 1) top.push(key);
    }
  }
  return top;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CheckpointError(`"${METADATA}" must be an object of strings.`, 'metadata');
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new CheckpointError(`Metadata '${k}' is ${showValue(v)}; metadata values must be strings.`, 'metadata');
    }
  }
  return value as Record<string, string>;
}

/**
 * A header value as a message shows it: short and never recursive. JSON.stringify would recurse
 * into a hostile file's nesting (a stack overflow instead of a CheckpointError) and could copy
 * megabytes of it into the message.
 */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) {
    const flat = v.length <= 8 && v.every((x) => typeof x !== 'object' || x === null);
    return flat ? `[${v.map(showValue).join(', ')}]` : `a list of ${v.length}`;
  }
  return typeof v === 'object' && v !== null ? 'an object' : String(v);
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function checkEntry(name: string, value: unknown, dataBytes: number): TensorInfo {
  const fail = (why: string, reason: CheckpointError['reason']) => {
    throw new CheckpointError(`Tensor '${name}': ${why}`, reason, name);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('its header entry is not an object.', 'entry');
  }
  const e = value as Record<string, unknown>;
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(e, field)) fail(`its header entry has no ${field}.`, 'entry');
  }
  const { dtype, shape, data_offsets: offsets } = e;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    return fail(`unknown dtype ${showValue(dtype)}; safetensors defines ${Object.keys(DTYPE_BYTES).join(', ')}.`, 'dtype');
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    return fail(`shape ${showValue(shape)} is not a list of non-negative integers.`, 'entry');
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    return fail(`data_offsets ${showValue(offsets)} is not [begin, end] in non-negative integers.`, 'entry');
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    fail(`data_offsets [${begin}, ${end}] lie outside the ${dataBytes}-byte data buffer.`, 'offsets');
  }
  const size = DTYPE_BYTES[dtype as SafetensorsDType];
  // Zero anywhere makes it empty; otherwise a product past 2^53 cannot match an in-file range.
  const count = shape.includes(0) ? 0 : shape.reduce((a: number, d: number) => a * d, 1);
  if (!Number.isSafeInteger(count * size) || count * size !== end - begin) {
    fail(`shape ${showValue(shape)} of ${dtype} needs ${count * size} bytes; data_offsets [${begin}, ${end}] hold ${end - begin}.`, 'size');
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

/** The tensors must tile the data buffer exactly: no overlap, no gap, nothing after the last. */
function checkLayout(infos: TensorInfo[], dataBytes: number): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | null = null;
  for (const t of sorted) {
    if (t.begin < pos) {
      throw new CheckpointError(
        `Tensor '${t.name}' at [${t.begin}, ${t.end}] overlaps '${prev!.name}' at [${prev!.begin}, ${prev!.end}].`, 'overlap', t.name);
    }
    if (t.begin > pos) {
      throw new CheckpointError(
        `Tensor '${t.name}' starts at byte ${t.begin}, leaving a gap after byte ${pos}; safetensors data must be dense.`, 'gap', t.name);
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataBytes) {
    throw new CheckpointError(
      `${dataBytes - pos} bytes follow the last tensor${prev ? ` ('${prev.name}')` : ''}; safetensors data must be dense.`, 'gap', prev?.name ?? null);
  }
}

/** A tensor's values as f32 (float dtypes) or i32 (integer dtypes); see FLOAT_DTYPES and INT_DTYPES. */
export function decodeTensor(file: SafetensorsFile, name: string): HostArray {
  const t = file.tensors.get(name);
  if (!t) throw new CheckpointError(`No tensor '${name}' in the file.`, 'missing', name);
  return decodeTensorBytes(t, file.data.subarray(t.begin, t.end));
}

/** The values of tensor `t` from its own bytes (end - begin of them), as decodeTensor gives them. */
export function decodeTensorBytes(t: TensorInfo, bytes: Uint8Array): HostArray {
  const name = t.name;
  if (bytes.length !== t.end - t.begin) {
    throw new CheckpointError(`Tensor '${name}': ${bytes.length} bytes were read where the file holds ${t.end - t.begin}.`, 'truncated', name);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / DTYPE_BYTES[t.dtype];
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(littleEndianCopy(bytes, 4));
    case 'I32':
      return new Int32Array(littleEndianCopy(bytes, 4));
    case 'F16': {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) {
        const h = view.getUint16(2 * i, true);
        const sign = (h & 0x8000) << 16;
        const exp = (h >> 10) & 0x1f;
        const mant = h & 0x3ff;
        if (exp === 0x1f) bits[i] = sign | 0x7f800000 | (mant << 13); // inf, or NaN with its payload
        else if (exp !== 0) bits[i] = sign | ((exp + 127 - 15) << 23) | (mant << 13);
        else out[i] = (sign ? -mant : mant) * 2 ** -24; // zero (signed) or subnormal: exact in f32
      }
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of an f32: exact.
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(out.buffer);
    }
    case 'F64': {
      const out = new Float32Array(n); // rounds to the nearest f32
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -0x80000000n || v > 0x7fffffffn) {
          throw new CheckpointError(`Tensor '${name}': element ${i} is ${v}, outside the i32 range; it cannot be loaded as i32.`, 'value', name);
        }
        out[i] = Number(v);
      }
      return out;
    }
    default:
      throw new CheckpointError(
        `Tensor '${name}' is ${t.dtype}; only ${[...FLOAT_DTYPES, ...INT_DTYPES].join(', ')} can be loaded.`, 'dtype', name);
  }
}

/** A fresh, aligned copy of little-endian words in host byte order (a no-op swap on every common host). */
function littleEndianCopy(bytes: Uint8Array, width: number): ArrayBuffer {
  const copy = bytes.slice();
  if (!HOST_LITTLE_ENDIAN) for (let i = 0; i < copy.length; i += width) copy.subarray(i, i + width).reverse();
  return copy.buffer;
}

/** Writes tensors (F32 or I32, in the order given, densely) and metadata as one safetensors file. */
export function writeSafetensors(tensors: SafetensorsTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const seen = new Set<string>();
  // The header is written by hand, not JSON.stringify'd as one object: object key order puts
  // integer-like names first, and the header order must match the data order.
  const parts: string[] = [];
  const meta = Object.entries(metadata);
  for (const [k, v] of meta) {
    if (typeof v !== 'string') throw new CheckpointError(`Metadata '${k}' must be a string; got ${typeof v}.`, 'metadata');
  }
  if (meta.length) parts.push(`${JSON.stringify(METADATA)}:${JSON.stringify(Object.fromEntries(meta))}`);
  let offset = 0;
  for (const { name, shape, data } of tensors) {
    if (name === METADATA || name === '') throw new CheckpointError(`'${name}' cannot name a tensor.`, 'name', name);
    if (seen.has(name)) throw new CheckpointError(`Two tensors are named '${name}'.`, 'duplicate', name);
    seen.add(name);
    if (!shape.every(isCount) || shape.reduce((a, d) => a * d, 1) !== data.length) {
      throw new CheckpointError(`Tensor '${name}': shape ${fmtShape(shape)} does not hold its ${data.length} values.`, 'size', name);
    }
    const dtype = data instanceof Int32Array ? 'I32' : 'F32';
    const entry = { dtype, shape: [...shape], data_offsets: [offset, offset + data.byteLength] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes); // pad with spaces, as the format says
  let pos = 8 + headerBytes;
  for (const { data } of tensors) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    if (!HOST_LITTLE_ENDIAN) for (let i = pos; i < pos + data.byteLength; i += 4) out.subarray(i, i + 4).reverse();
    pos += data.byteLength;
  }
  return out;
}
