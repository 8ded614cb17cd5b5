// Checkpoint fuzzing: thousands of seeded mutations of valid safetensors files (bit flips, byte
// overwrites, truncations and extensions of every region, header-length edits, JSON edits with
// bad offsets, overflowing shapes, unknown dtypes, repeated keys, deep nesting and prototype
// keys) go through the pure reader, and a few hundred through loadCheckpoint on an engine.
// Every failure must be a CheckpointError with a reason; the reader may never allocate more than
// twice the file (F16 -> F32 doubles), never pollute Object.prototype, and a failed load never
// writes a parameter. A failing case prints its seed and mutation so it can be replayed.
// Not here: the well-formed round trips and named corrupt files (checkpoint.test.ts).

import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError, decodeTensor, loadCheckpoint, parameter, parseSafetensors, saveCheckpoint, writeSafetensors,
} from '../src/index.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

/** A file from header text and data bytes, with the length field and padding done right. */
function fileOf(header: string, data: Uint8Array): Uint8Array {
  const json = utf8(header);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.set(data, 8 + n);
  return out;
}

/** The header text and data of a file (for files whose length field is still valid). */
function split(bytes: Uint8Array): { header: string; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: new TextDecoder().decode(bytes.subarray(8, 8 + n)).trimEnd(), data: bytes.subarray(8 + n) };
}

/** Valid files to start from: every decodable dtype, metadata, an empty tensor, a scalar. */
function seeds(): Uint8Array[] {
  const rand = seededRandom(11);
  const floats = (n: number) => Float32Array.from({ length: n }, () => rand() * 4 - 2);
  const a = writeSafetensors(
    [
      { name: 'w', shape: [3, 4], data: floats(12) },
      { name: 'b', shape: [4], data: floats(4) },
      { name: 'idx', shape: [5], data: Int32Array.from([1, -2, 3, 0, 7]) },
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
      { name: 'scalar', shape: [], data: floats(1) },
    ],
    { format: 'webgpu-train/1', step: '12', rng: '{"seed":3}', config: '{"layers":2}' },
  );
  // As another library writes it: F16, BF16, F64, I64 and an undecodable U8, unaligned.
  const data = new Uint8Array(6 + 4 + 16 + 16 + 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
  new DataView(data.buffer).setBigInt64(26, -5n, true);
  new DataView(data.buffer).setBigInt64(34, 9n, true);
  const header = JSON.stringify({
    h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
    bf: { dtype: 'BF16', shape: [2, 1], data_offsets: [6, 10] },
    d: { dtype: 'F64', shape: [2], data_offsets: [10, 26] },
    l: { dtype: 'I64', shape: [2], data_offsets: [26, 42] },
    u: { dtype: 'U8', shape: [3], data_offsets: [42, 45] },
    __metadata__: { note: 'x' },
  });
  return [a, fileOf(header, data)];
}

/** Header text with `raw` (JSON text) as the metadata in place of any the header had. */
function meta(h: Header, raw: string): string {
  const { __metadata__: _, ...rest } = h;
  return `{"__metadata__":${raw},${JSON.stringify(rest).slice(1)}`;
}

/** Named JSON edits: each returns new header text for the parsed header `h` (first tensor `t`). */
type Header = Record<string, any>;
const hostile: [string, (h: Header, t: string, text: string) => string][] = [
  ['offsets past the end', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [h[t].data_offsets[0], 1e6] } })],
  ['overlapping', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: h[t].data_offsets.map((o: number) => o + 2) } })],
  ['negative offset', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [-4, h[t].data_offsets[1]] } })],
  ['reversed offsets', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [...h[t].data_offsets].reverse() } })],
  ['fractional offset', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [0.5, h[t].data_offsets[1]] } })],
  ['string offset', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: ['0', String(h[t].data_offsets[1])] } })],
  ['three offsets', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [0, 4, 8] } })],
  ['offset 2^53', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], data_offsets: [0, 2 ** 53] } })],
  ['offset 1e400', (_h, _t, text) => text.replace(/"data_offsets":\[(\d+),(\d+)\]/, '"data_offsets":[$1,1e400]')],
  ['shape product overflows', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: [2 ** 31, 2 ** 31, 2 ** 31, 2 ** 31] } })],
  ['shape of max safe integers', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: [2 ** 53 - 1, 2 ** 53 - 1] } })],
  ['shape with 0 and huge', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: [0, 2 ** 53 - 1] } })],
  ['shape 1e308', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: [1e308, 1e308] } })],
  ['negative dimension', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: [-1, -12] } })],
  ['shape not a list', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: 12 } })],
  ['long shape', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], shape: new Array(100000).fill(1) } })],
  ['lower-case dtype', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], dtype: 'f32' } })],
  ['dtype toString', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], dtype: 'toString' } })],
  ['dtype __proto__', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], dtype: '__proto__' } })],
  ['dtype number', (h, t) => JSON.stringify({ ...h, [t]: { ...h[t], dtype: 32 } })],
  ['no dtype', (h, t) => JSON.stringify({ ...h, [t]: { shape: h[t].shape, data_offsets: h[t].data_offsets } })],
  ['entry is an array', (h, t) => JSON.stringify({ ...h, [t]: [1, 2] })],
  ['entry is null', (h, t) => JSON.stringify({ ...h, [t]: null })],
  ['header is an array', () => '[1,2,3]'],
  ['header is a string', () => '"x"'],
  ['header empty', () => ''],
  ['duplicate tensor', (h, t, text) => text.replace('{', `{${JSON.stringify(t)}:${JSON.stringify(h[t])},`)],
  ['duplicate field', (_h, _t, text) => text.replace('"dtype":', '"dtype":"F32","dtype":')],
  ['duplicate metadata key', (_h, _t, text) => text.replace('"__metadata__":{', '"__metadata__":{"k":"1","k":"2",')],
  ['repeated metadata', (_h, _t, text) => text.replace('{', '{"__metadata__":{},')],
  ['deeply nested shape', (_h, _t, text) => text.replace(/"shape":\[[^\]]*\]/, `"shape":${'['.repeat(20000)}${']'.repeat(20000)}`)],
  ['deeply nested metadata', (h) => meta(h, `${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}`)],
  ['deeply nested entry', (_h, t, text) => text.replace(`${JSON.stringify(t)}:`, `${JSON.stringify(t)}:${'['.repeat(20000)}${']'.repeat(20000)},"x":`)],
  ['metadata not strings', (h) => meta(h, '{"a":{"b":[1,{"c":null}]}}')],
  ['metadata __proto__ object', (h) => meta(h, '{"__proto__":{"polluted":"yes"}}')],
  ['metadata __proto__ string', (h) => meta(h, '{"__proto__":"polluted","constructor":"x","prototype":"y","format":"webgpu-train/1"}')],
  ['config with __proto__', (h) =>
    meta(h, `{"format":"webgpu-train/1","config":${JSON.stringify('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}')},"rng":${JSON.stringify('{"__proto__":1}')}}`)],
  ['tensor named __proto__', (_h, t, text) => text.replace(JSON.stringify(t) + ':', '"__proto__":')],
  ['tensor named constructor', (_h, t, text) => text.replace(JSON.stringify(t) + ':', '"constructor":')],
  ['tensor named prototype', (_h, t, text) => text.replace(JSON.stringify(t) + ':', '"prototype":')],
  ['state named __proto__', (_h, t, text) => text.replace(JSON.stringify(t) + ':', '"optimizer.__proto__":')],
  ['entry fields polluting', (_h, _t, text) => text.replace('"dtype":', '"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"dtype":')],
  ['metadata format of a later version', (h) => meta(h, '{"format":"webgpu-train/9"}')],
  ['metadata step huge', (h) => meta(h, '{"format":"webgpu-train/1","step":"1e400"}')],
  ['metadata config deep', (h) =>
    meta(h, `{"format":"webgpu-train/1","config":${JSON.stringify('['.repeat(20000) + ']'.repeat(20000))}}`)],
  ['metadata rng deep', (h) =>
    meta(h, `{"format":"webgpu-train/1","rng":${JSON.stringify('{"a":'.repeat(20000) + '1' + '}'.repeat(20000))}}`)],
];

/** One random mutation of `base`; returns the new bytes and a description to replay it. */
function mutate(base: Uint8Array, rand: () => number): { bytes: Uint8Array; what: string } {
  const int = (n: number) => Math.floor(rand() * n);
  const n = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(0, true));
  // Regions: the length field, the header, the data.
  const region = [[0, 8], [8, 8 + n], [8 + n, base.length]][int(3)];
  const at = () => region[0] + int(Math.max(1, region[1] - region[0]));
  const b = base.slice();
  switch (int(7)) {
    case 0: {
      const k = 1 + int(8);
      for (let i = 0; i < k; i++) {
        const p = Math.min(at(), b.length - 1);
        b[p] ^= 1 << int(8);
      }
      return { bytes: b, what: `flip ${k} bits in [${region}]` };
    }
    case 1: {
      const k = 1 + int(4);
      const special = [0x00, 0x22, 0x2c, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x2d, 0x2e, 0x65, 0xff, 0xc3, 0x5c];
      for (let i = 0; i < k; i++) b[Math.min(at(), b.length - 1)] = rand() < 0.5 ? special[int(special.length)] : int(256);
      return { bytes: b, what: `overwrite ${k} bytes in [${region}]` };
    }
    case 2: {
      const cut = at();
      return { bytes: b.subarray(0, cut), what: `truncate at ${cut}` };
    }
    case 3: {
      const k = 1 + int(64);
      const out = new Uint8Array(b.length + k);
      out.set(b);
      for (let i = b.length; i < out.length; i++) out[i] = rand() < 0.5 ? 0x20 : int(256);
      return { bytes: out, what: `extend by ${k}` };
    }
    case 4: {
      const values = [0n, 1n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 32n + BigInt(n), BigInt(base.length)];
      const v = values[int(values.length)];
      new DataView(b.buffer).setBigUint64(0, v, true);
      return { bytes: b, what: `header length ${v}` };
    }
    default: {
      // JSON edits that keep the file well framed, so they reach the checks behind the framing.
      const { header, data } = split(base);
      const h = JSON.parse(header) as Header;
      const names = Object.keys(h).filter((k) => k !== '__metadata__');
      const [label, edit] = hostile[int(hostile.length)];
      const t = names[int(names.length)];
      return { bytes: fileOf(edit(h, t, header), data), what: `${label} (tensor ${t})` };
    }
  }
}

/**
 * Counts the bytes of every typed array and ArrayBuffer created through the globals while `f`
 * runs (the reader creates its arrays that way; `slice` copies are bounded by their source).
 */
function allocatedBy<T>(f: () => T): { value: T; bytes: number } {
  const names = ['ArrayBuffer', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'DataView'] as const;
  const g = globalThis as any;
  const saved = names.map((k) => g[k]);
  let bytes = 0;
  names.forEach((k, i) => {
    const target = saved[i];
    g[k] = new Proxy(target, {
      construct(tgt, args) {
        if (typeof args[0] === 'number') bytes += args[0] * (tgt.BYTES_PER_ELEMENT ?? 1);
        return Reflect.construct(tgt, args);
      },
    });
  });
  try {
    return { value: f(), bytes };
  } finally {
    names.forEach((k, i) => (g[k] = saved[i]));
  }
}

/** Parses and decodes every tensor; returns the bytes decoded (throws what the reader throws). */
function readAll(bytes: Uint8Array): number {
  const file = parseSafetensors(bytes);
  let decoded = 0;
  for (const [name, info] of file.tensors) {
    try {
      const v = decodeTensor(file, name);
      // Per tensor: at most 4 bytes out per 2 bytes in (F16/BF16 -> f32).
      expect(v.byteLength).toBeLessThanOrEqual(2 * (info.end - info.begin));
      decoded += v.byteLength;
    } catch (e) {
      // Undecodable dtypes and out-of-range I64 values are refused per tensor, not per file.
      if (!(e instanceof CheckpointError) || !['dtype', 'value'].includes(e.reason)) throw e;
    }
  }
  return decoded;
}

function expectCheckpointError(e: unknown, what: string): asserts e is CheckpointError {
  if (!(e instanceof CheckpointError) || !e.reason) {
    throw new Error(`${what}: threw ${(e as Error)?.constructor?.name} ${(e as Error)?.message?.slice(0, 300)}`);
  }
}

afterAll(() => {
  expect(({} as any).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort().join(',')).toBe(PROTO_NAMES);
});

describe('safetensors reader under mutation', () => {
  it('every named hostile header is refused or read, only ever with a CheckpointError', () => {
    const reasons = new Map<string, string>();
    for (const base of seeds()) {
      const { header, data } = split(base);
      const h = JSON.parse(header) as Header;
      for (const t of Object.keys(h).filter((k) => k !== '__metadata__')) {
        for (const [label, edit] of hostile) {
          const bytes = fileOf(edit(h, t, header), data);
          try {
            readAll(bytes);
            reasons.set(label, 'read');
          } catch (e) {
            expectCheckpointError(e, `${label} (tensor ${t})`);
            reasons.set(label, e.reason);
          }
          expect(({} as any).polluted, label).toBeUndefined();
        }
      }
    }
    // Spot checks that the edits reach the check they aim at.
    expect(reasons.get('offsets past the end')).toBe('offsets');
    expect(reasons.get('shape product overflows')).toBe('size');
    expect(reasons.get('lower-case dtype')).toBe('dtype');
    expect(reasons.get('duplicate field')).toBe('duplicate');
    expect(reasons.get('deeply nested shape')).toBe('entry');
    expect(reasons.get('metadata not strings')).toBe('metadata');
    expect(reasons.get('tensor named __proto__')).toBe('read');
  });

  it('10,000 seeded random mutations: typed errors, bounded allocation, no pollution', () => {
    const started = performance.now();
    const bases = seeds();
    const tally = new Map<string, number>();
    const N = 12000;
    for (let i = 0; i < N; i++) {
      const rand = seededRandom(1000 + i);
      const base = bases[i % bases.length];
      const { bytes, what } = mutate(base, rand);
      const label = `mutation ${i} (seed ${1000 + i}, base ${i % bases.length}): ${what}`;
      let outcome = 'read';
      try {
        const { value: decoded, bytes: allocated } = allocatedBy(() => readAll(bytes));
        expect(decoded, label).toBeLessThanOrEqual(2 * bytes.length);
        // Everything the reader allocates, decoded tensors included, fits in twice the file.
        expect(allocated, label).toBeLessThanOrEqual(2 * bytes.length);
      } catch (e) {
        expectCheckpointError(e, label);
        outcome = e.reason;
      }
      tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
    }
    expect(({} as any).polluted).toBeUndefined();
    const ms = performance.now() - started;
    console.log(`${N} mutated files in ${ms.toFixed(0)} ms:`, Object.fromEntries([...tally].sort()));
    // Most mutations are caught, and by more than one kind of check.
    expect(tally.size).toBeGreaterThan(8);
    expect(ms).toBeLessThan(30000);
  });
});

describe('loadCheckpoint under mutation', () => {
  it('a failed load never writes a parameter or a state array', async () => {
    const engine = await testEngine();
    const rand = seededRandom(7);
    const floats = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
    const w = parameter('w', floats(12), [3, 4]);
    const b = parameter('b', floats(4), [4]);
    const params = { 'layer.w': w, 'layer.b': b };
    const original = { w: await engine.readParameter(w), b: await engine.readParameter(b) };
    const base = await saveCheckpoint(engine, { params, state: { 'exp_avg.w': floats(12) }, step: 3, rng: { seed: 1 }, config: { d: 4 } });

    // Count writes: a failing load must make none.
    let writes = 0;
    const write = engine.writeParameter.bind(engine);
    engine.writeParameter = (p, data) => {
      writes++;
      return write(p, data);
    };
    // Every named edit on every tensor (these reach the metadata checks), then random ones.
    const { header, data } = split(base);
    const h = JSON.parse(header) as Header;
    const cases = Object.keys(h).filter((k) => k !== '__metadata__').flatMap((t) =>
      hostile.map(([label, edit]) => ({ bytes: fileOf(edit(h, t, header), data), label: `${label} (tensor ${t})` })));
    const named = cases.length;
    for (let i = 0; i < 400; i++) {
      const { bytes, what } = mutate(base, seededRandom(50000 + i));
      cases.push({ bytes, label: `load ${i} (seed ${50000 + i}): ${what}` });
    }
    let failed = 0;
    try {
      for (const [i, { bytes, label }] of cases.entries()) {
        const stateW = floats(12);
        const stateCopy = stateW.slice();
        writes = 0;
        try {
          await loadCheckpoint(engine, bytes, { params, state: { 'exp_avg.w': stateW } });
          // A mutation that still fits (a flipped data bit): put the original values back.
          await engine.writeParameter(w, original.w);
          await engine.writeParameter(b, original.b);
        } catch (e) {
          expectCheckpointError(e, label);
          failed++;
          expect(writes, label).toBe(0);
          expect(stateW, label).toEqual(stateCopy);
        }
        if (i % 50 === 49) {
          expect(await engine.readParameter(w)).toEqual(original.w);
          expect(await engine.readParameter(b)).toEqual(original.b);
        }
      }
    } finally {
      engine.writeParameter = write;
    }
    console.log(`${cases.length} loads (${named} named edits), ${failed} refused`);
    expect(failed).toBeGreaterThan(cases.length / 2);
    expect(({} as any).polluted).toBeUndefined();

    // A state tensor named "__proto__" comes back as an own entry, not as the result's prototype.
    const odd = fileOf(header.replace('"optimizer.exp_avg.w":', '"optimizer.__proto__":'), data);
    const r = await loadCheckpoint(engine, odd, { params });
    expect(Object.getPrototypeOf(r.state)).toBe(Object.prototype);
    expect(Object.keys(r.state)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(r.state, '__proto__')?.value).toBeInstanceOf(Float32Array);
  });
});
