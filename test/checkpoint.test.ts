// Checkpoints: saving and loading round-trips parameters bit for bit; the bytes are the
// safetensors format as an independent strict parser here reads it; a file written by hand, as
// another library would write it (F16, BF16, F64, I64, metadata, unaligned data), loads; every
// kind of corrupt file gives its typed error and leaves the parameters untouched; and training
// resumed from a checkpoint on a fresh engine repeats the loss curve exactly.

import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_FORMAT, CheckpointError, add, createEngine, crossEntropyMean, decodeTensor, full, grad, input,
  loadCheckpoint, matmul, mulScalar, parameter, parseSafetensors, randomNormal, saveCheckpoint, sgd, tanh,
  writeSafetensors, type Engine, type Tensor,
} from '../src/index.js';
import { seededRandom } from './support/opchecks.js';
import { testEngine } from './support/engine.js';

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const floatsFromBits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);
const utf8 = (s: string) => new TextEncoder().encode(s);

/**
 * An independent, strict reader of what saveCheckpoint writes: header length as two u32 words,
 * a space-padded header that is a multiple of 8, F32 entries laid out densely in header order.
 */
function strictParse(bytes: Uint8Array) {
  expect(bytes.length).toBeGreaterThanOrEqual(8);
  const u32 = (o: number) => bytes[o] + bytes[o + 1] * 2 ** 8 + bytes[o + 2] * 2 ** 16 + bytes[o + 3] * 2 ** 24;
  expect(u32(4)).toBe(0); // high word of the u64
  const n = u32(0);
  expect(n % 8).toBe(0);
  expect(8 + n).toBeLessThanOrEqual(bytes.length);
  const raw = bytes.subarray(8, 8 + n);
  const close = raw.lastIndexOf(0x7d); // '}'
  expect(raw[0]).toBe(0x7b); // '{'
  expect(Array.from(raw.subarray(close + 1)).every((b) => b === 0x20)).toBe(true);
  expect(n - (close + 1)).toBeLessThan(8); // no more padding than needed
  const text = new TextDecoder('utf-8', { fatal: true }).decode(raw.subarray(0, close + 1));
  const header = JSON.parse(text) as Record<string, any>;
  const data = bytes.subarray(8 + n);
  let pos = 0;
  const tensors: Record<string, { shape: number[]; bytes: Uint8Array }> = {};
  for (const [name, e] of Object.entries(header)) {
    expect(text.split(JSON.stringify(name) + ':').length).toBe(2); // named exactly once
    if (name === '__metadata__') {
      expect(Object.values(e).every((v) => typeof v === 'string')).toBe(true);
      continue;
    }
    expect(Object.keys(e).sort()).toEqual(['data_offsets', 'dtype', 'shape']);
    expect(e.dtype).toBe('F32');
    expect(e.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)).toBe(true);
    const [b, end] = e.data_offsets;
    expect(b).toBe(pos); // dense, in header order
    expect(end - b).toBe(4 * e.shape.reduce((a: number, d: number) => a * d, 1));
    tensors[name] = { shape: e.shape, bytes: data.subarray(b, end) };
    pos = end;
  }
  expect(pos).toBe(data.length);
  return { metadata: header.__metadata__ as Record<string, string>, tensors, names: Object.keys(tensors) };
}

/** A file as another writer would make it: header text padded with spaces, then the data. */
function handFile(header: string | object | Uint8Array, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const json = header instanceof Uint8Array ? header : utf8(typeof header === 'string' ? header : JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(n), true);
  out.set(json, 8);
  out.set(data, 8 + n);
  return out;
}

/** Little-endian bytes of values written through a DataView setter. */
function le(values: (number | bigint)[], width: number, set: (v: DataView, o: number, x: any) => void): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => set(v, i * width, x));
  return out;
}
const f32le = (xs: number[]) => le(xs, 4, (v, o, x) => v.setFloat32(o, x, true));
const u16le = (xs: number[]) => le(xs, 2, (v, o, x) => v.setUint16(o, x, true));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

const rand = seededRandom(5);
const shapes: Record<string, number[]> = {
  'transformer.wte.weight': [7, 5],
  'transformer.h.0.ln_1.bias': [5],
  'transformer.h.0.attn.c_attn.weight': [1, 3, 1],
  'lm_head.scale': [],
};
function makeParams(scale: number): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(shapes).map(([name, shape]) => {
    const n = shape.reduce((a, d) => a * d, 1);
    return [name, parameter(name, Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale), shape)];
  }));
}
async function readAll(engine: Engine, params: Record<string, Tensor>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of Object.entries(params)) out[name] = bitsOf(await engine.readParameter(p));
  return out;
}

describe('checkpoints', () => {
  it('round-trips parameters, optimizer state, step, RNG state and config bit for bit', async () => {
    const engine = await testEngine();
    const a = makeParams(1);
    // Values a float conversion could disturb: -0, a NaN payload, infinities, a subnormal, the largest f32.
    const special = [0x80000000, 0x7fc00001, 0x7f800000, 0xff800000, 0x00000001, 0x7f7fffff, 0x3f800000];
    await engine.writeParameter(a['transformer.wte.weight'], floatsFromBits(Array.from({ length: 35 }, (_, i) => special[i % 7])));
    const expAvg = parameter('exp_avg.w', Float32Array.from({ length: 5 }, () => rand()), [5]);
    const host = Float32Array.from({ length: 3 }, () => rand());
    const saved = await saveCheckpoint(engine, {
      params: a,
      state: { 'exp_avg.transformer.h.0.ln_1.bias': expAvg, 'lr_history': host },
      step: 42,
      rng: { seed: 7, offset: 123456789 },
      config: { n_layer: 2, name: 'tiny', dropout: 0.1 },
    });
    const before = await readAll(engine, a);
    expect(before['transformer.wte.weight'].slice(0, 7)).toEqual(special);

    const b = makeParams(3);
    const expAvg2 = parameter('exp_avg.w2', new Float32Array(5), [5]);
    const host2 = new Float32Array(3);
    const r = await loadCheckpoint(engine, saved, {
      params: b,
      state: { 'exp_avg.transformer.h.0.ln_1.bias': expAvg2, 'lr_history': host2 },
    });
    expect(await readAll(engine, b)).toEqual(before);
    expect(bitsOf(await engine.readParameter(expAvg2))).toEqual(bitsOf(await engine.readParameter(expAvg)));
    expect(bitsOf(host2)).toEqual(bitsOf(host));
    expect(r.state.lr_history).toBe(host2);
    expect(r).toMatchObject({ step: 42, rng: { seed: 7, offset: 123456789 }, config: { n_layer: 2, name: 'tiny', dropout: 0.1 } });
    expect(r.missing).toEqual([]);
    expect(r.unexpected).toEqual([]);

    // Without a state list, every state tensor comes back as a host array.
    const c = makeParams(2);
    const r2 = await loadCheckpoint(engine, saved, { params: c });
    expect(Object.keys(r2.state).sort()).toEqual(['exp_avg.transformer.h.0.ln_1.bias', 'lr_history']);
    expect(bitsOf(r2.state['exp_avg.transformer.h.0.ln_1.bias'])).toEqual(bitsOf(await engine.readParameter(expAvg)));
    expect(await readAll(engine, c)).toEqual(before);
  });

  it('writes exactly the safetensors format: u64 header length, padded JSON header, dense little-endian data', async () => {
    const engine = await testEngine();
    const a = makeParams(1);
    const host = Float32Array.from([1.5, -2.25]);
    const bytes = await saveCheckpoint(engine, { params: a, state: { 'exp_avg.x': host }, step: 3, rng: { seed: 1 }, config: { d: 4 } });
    const f = strictParse(bytes);
    expect(f.names).toEqual([...Object.keys(shapes), 'optimizer.exp_avg.x']);
    expect(f.metadata).toEqual({ format: CHECKPOINT_FORMAT, step: '3', rng: '{"seed":1}', config: '{"d":4}' });
    for (const [name, p] of Object.entries(a)) {
      expect(f.tensors[name].shape).toEqual(shapes[name]);
      const values = await engine.readParameter(p);
      expect(Array.from(f.tensors[name].bytes)).toEqual(Array.from(f32le(Array.from(values))));
    }
    expect(f.tensors['optimizer.exp_avg.x'].shape).toEqual([2]);
    expect(Array.from(f.tensors['optimizer.exp_avg.x'].bytes)).toEqual([0, 0, 0xc0, 0x3f, 0, 0, 0x10, 0xc0]);
  });

  it('writes I32 tensors, odd names and empty tensors in the given order, and reads them back', () => {
    const tensors = [
      { name: 'b', shape: [2, 2], data: Int32Array.from([1, -2, 2147483647, -2147483648]) },
      { name: '10', shape: [0, 3], data: new Float32Array(0) },
      { name: '2', shape: [3], data: Float32Array.from([0.5, -0, 7]) },
      { name: 'é "quoted" \\ name', shape: [], data: Float32Array.from([9]) },
    ];
    const bytes = writeSafetensors(tensors, { note: 'x' });
    const file = parseSafetensors(bytes);
    expect([...file.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    expect(file.metadata).toEqual({ note: 'x' });
    expect(file.tensors.get('b')!.dtype).toBe('I32');
    for (const t of tensors) {
      const got = decodeTensor(file, t.name);
      expect(got.constructor).toBe(t.data.constructor);
      expect(Array.from(new Uint32Array(got.buffer, got.byteOffset, got.length))).toEqual(Array.from(new Uint32Array(t.data.buffer)));
    }
    expect(() => writeSafetensors([tensors[0], tensors[0]])).toThrow(/Two tensors are named 'b'/);
    expect(() => writeSafetensors([{ name: 'x', shape: [4], data: new Float32Array(3) }])).toThrow(CheckpointError);
    expect(() => writeSafetensors([{ name: '__metadata__', shape: [1], data: new Float32Array(1) }])).toThrow(CheckpointError);
  });

  it('decodes every F16 bit pattern exactly, BF16 exactly, F64 rounded and I64 in the i32 range', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const file = parseSafetensors(handFile({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } }, u16le(all)));
    const got = decodeTensor(file, 'h') as Float32Array;
    for (const h of all) {
      const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      const want = e === 31 ? (m ? NaN : sign * Infinity) : e === 0 ? sign * m * 2 ** -24 : sign * 2 ** (e - 15) * (1 + m / 1024);
      if (Number.isNaN(want)) expect(Number.isNaN(got[h])).toBe(true);
      else if (Object.is(got[h], want) === false) expect.fail(`f16 0x${h.toString(16)}: ${got[h]} != ${want}`);
    }
    const i64 = (xs: bigint[]) => le(xs, 8, (v, o, x) => v.setBigInt64(o, x, true));
    const f64 = le([0.1, -3, 1e300], 8, (v, o, x) => v.setFloat64(o, x, true));
    const mixed = parseSafetensors(handFile({
      bf: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] },
      d: { dtype: 'F64', shape: [3], data_offsets: [6, 30] },
      i: { dtype: 'I64', shape: [2], data_offsets: [30, 46] },
      big: { dtype: 'I64', shape: [1], data_offsets: [46, 54] },
      u8: { dtype: 'U8', shape: [2], data_offsets: [54, 56] },
    }, concat(u16le([0x3fc0, 0xbe20, 0x7f80]), f64, i64([-5n, 2147483647n]), i64([2n ** 40n]), Uint8Array.from([1, 2]))));
    expect(Array.from(decodeTensor(mixed, 'bf'))).toEqual([1.5, -0.15625, Infinity]);
    expect(Array.from(decodeTensor(mixed, 'd'))).toEqual([Math.fround(0.1), -3, Infinity]);
    expect(Array.from(decodeTensor(mixed, 'i'))).toEqual([-5, 2147483647]);
    expect(decodeTensor(mixed, 'i')).toBeInstanceOf(Int32Array);
    expect(() => decodeTensor(mixed, 'big')).toThrow(/element 0 is 1099511627776, outside the i32 range/);
    expect(() => decodeTensor(mixed, 'u8')).toThrow(/'u8' is U8; only F32, F16, BF16, F64, I32, I64/);
  });

  it('loads a file written by hand as another library would: F16, BF16, F64, metadata, unaligned data, another order', async () => {
    const engine = await testEngine();
    // Data order differs from header order, and the F32 tensor starts at an odd 2-byte offset.
    const header =
      '{"head.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[6,22]},' +
      '"__metadata__":{"format":"pt","source":"hand"},' +
      '"emb.weight":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},' +
      '"norm.weight":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]},' +
      '"proj.bias":{"dtype":"F64","shape":[2],"data_offsets":[26,42]},' +
      '"num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[42,50]}}';
    const data = concat(
      u16le([0x3c00, 0xc000, 0x7bff]), // 1, -2, 65504
      f32le([0.25, -1, 3.5, 1e-3]),
      u16le([0x3fc0, 0xbe20]), // 1.5, -0.15625
      le([0.1, 3], 8, (v, o, x) => v.setFloat64(o, x, true)),
      le([7n], 8, (v, o, x) => v.setBigInt64(o, x, true)),
    );
    const bytes = handFile(header, data);
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)) + 6) % 4).not.toBe(0);
    const params = {
      'emb.weight': parameter('emb', new Float32Array(3), [3]),
      'head.weight': parameter('head', new Float32Array(4), [2, 2]),
      'norm.weight': parameter('norm', new Float32Array(2), [2]),
      'proj.bias': parameter('proj', new Float32Array(2), [2]),
    };
    const before = await readAll(engine, params);
    await expect(loadCheckpoint(engine, bytes, { params })).rejects.toThrow(/num_batches_tracked.*strict: false/);
    expect(await readAll(engine, params)).toEqual(before);

    const r = await loadCheckpoint(engine, bytes, { params, strict: false });
    expect(r).toMatchObject({ step: null, rng: null, config: null, missing: [], unexpected: ['num_batches_tracked'] });
    expect(r.metadata).toEqual({ format: 'pt', source: 'hand' });
    expect(Array.from(await engine.readParameter(params['emb.weight']))).toEqual([1, -2, 65504]);
    expect(Array.from(await engine.readParameter(params['head.weight']))).toEqual(Array.from(Float32Array.from([0.25, -1, 3.5, 1e-3])));
    expect(Array.from(await engine.readParameter(params['norm.weight']))).toEqual([1.5, -0.15625]);
    expect(Array.from(await engine.readParameter(params['proj.bias']))).toEqual([Math.fround(0.1), 3]);
  });

  it('rejects every kind of corrupt or mismatched file with a typed error, leaving the parameters untouched', async () => {
    const engine = await testEngine();
    const params = { a: parameter('a', [1, 2, 3, 4, 5, 6], [2, 3]), b: parameter('b', [7, 8, 9, 10], [4]) };
    const before = await readAll(engine, params);
    const A = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };
    const B = { dtype: 'F32', shape: [4], data_offsets: [24, 40] };
    const data = f32le([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10]);
    const good = handFile({ a: A, b: B }, data);
    const meta = (m: object) => ({ __metadata__: m, a: A, b: B });
    const withB = (b: object) => handFile({ a: A, b: { ...B, ...b } }, data);
    const noField = (f: string) => handFile({ a: A, b: Object.fromEntries(Object.entries(B).filter(([k]) => k !== f)) }, data);
    const goodHeaderLength = new DataView(good.buffer).getBigUint64(0, true);
    const cases: [string, Uint8Array, CheckpointError['reason'], string | null, RegExp][] = [
      ['shorter than 8 bytes', good.slice(0, 5), 'truncated', null, /5 bytes/],
      ['header length past the end', handFile({ a: A, b: B }, data, goodHeaderLength + 41n), 'header-length', null, /truncated/],
      ['header length of 2^64 - 1', handFile({ a: A, b: B }, data, 2n ** 64n - 1n), 'header-length', null, /18446744073709551615/],
      ['header not JSON', handFile('{"a": {"dtype": "F32", ', data), 'header-json', null, /not valid UTF-8 JSON/],
      ['header not UTF-8', handFile(Uint8Array.from([0x7b, 0xff, 0x7d]), data), 'header-json', null, /UTF-8/],
      ['header an array', handFile('[1, 2]', data), 'header-json', null, /an array/],
      ['entry not an object', handFile({ a: A, b: 3 }, data), 'entry', 'b', /not an object/],
      ['entry without dtype', noField('dtype'), 'entry', 'b', /no dtype/],
      ['entry without shape', noField('shape'), 'entry', 'b', /no shape/],
      ['entry without data_offsets', noField('data_offsets'), 'entry', 'b', /no data_offsets/],
      ['negative shape', withB({ shape: [-4] }), 'entry', 'b', /non-negative integers/],
      ['unknown dtype', withB({ dtype: 'F31' }), 'dtype', 'b', /unknown dtype "F31"/],
      ['offsets past the buffer', withB({ data_offsets: [24, 44] }), 'offsets', 'b', /outside the 40-byte/],
      ['offsets reversed', withB({ data_offsets: [40, 24] }), 'offsets', 'b', /\[40, 24\]/],
      ['truncated data', good.slice(0, good.length - 4), 'offsets', 'b', /outside the 36-byte/],
      ['overlap', handFile({ a: A, b: { ...B, data_offsets: [20, 36] } }, data.subarray(0, 36)), 'overlap', 'b', /overlaps 'a'/],
      ['size not shape x dtype', withB({ shape: [5] }), 'size', 'b', /needs 20 bytes.*hold 16/],
      ['size of F16 for F32 bytes', withB({ dtype: 'F16' }), 'size', 'b', /needs 8 bytes/],
      ['gap between tensors', handFile({ a: A, b: { ...B, data_offsets: [28, 44] } }, concat(data, new Uint8Array(4))), 'gap', 'b', /gap after byte 24/],
      ['bytes after the last tensor', handFile({ a: A, b: B }, concat(data, new Uint8Array(8))), 'gap', 'b', /8 bytes follow/],
      ['non-string metadata', handFile(meta({ step: 3 }), data), 'metadata', null, /'step' is 3/],
      ['metadata not an object', handFile(meta(['x']), data), 'metadata', null, /object of strings/],
      ['duplicate name', handFile(`{"a":${JSON.stringify(A)},"b":${JSON.stringify(B)},"b":${JSON.stringify(B)}}`, data), 'duplicate', 'b', /repeats the key 'b'/],
      ['duplicate field', handFile(`{"a":${JSON.stringify(A)},"b":{"dtype":"F32","dtype":"I32","shape":[4],"data_offsets":[24,40]}}`, data), 'duplicate', 'b', /repeats the key 'dtype' inside the entry 'b'/],
      ['missing tensor', handFile({ a: A }, data.subarray(0, 24)), 'missing', 'b', /lacks the model's tensor 'b'/],
      ['unexpected tensor', handFile({ a: A, b: B, c: { ...B, data_offsets: [40, 56] } }, concat(data, data.subarray(0, 16))), 'unexpected', 'c', /a tensor the model does not have: 'c'/],
      ['shape mismatch', withB({ shape: [2, 2] }), 'shape', 'b', /\[2, 2\] in the file; the model expects shape \[4\]/],
      ['integer dtype for f32', withB({ dtype: 'I32' }), 'dtype', 'b', /I32 in the file/],
      ['bad step JSON', handFile(meta({ format: CHECKPOINT_FORMAT, step: 'x' }), data), 'metadata', null, /'step' is not valid JSON/],
      ['negative step', handFile(meta({ format: CHECKPOINT_FORMAT, step: '-1' }), data), 'metadata', null, /non-negative integer/],
      ['non-numeric RNG state', handFile(meta({ format: CHECKPOINT_FORMAT, rng: '{"seed":"x"}' }), data), 'metadata', null, /finite numbers/],
      ['newer format', handFile(meta({ format: 'webgpu-train/2' }), data), 'metadata', null, /webgpu-train\/2/],
    ];
    for (const [what, bytes, reason, tensor, message] of cases) {
      const err = await loadCheckpoint(engine, bytes, { params }).then(() => null, (e) => e);
      expect(err, what).toBeInstanceOf(CheckpointError);
      expect({ what, reason: err.reason, tensor: err.tensor }).toEqual({ what, reason, tensor });
      expect(err.message, what).toMatch(message);
      if (tensor) expect(err.message, what).toContain(tensor);
      expect(await readAll(engine, params), what).toEqual(before);
    }
    // The uncorrupted file does load, so each case above failed for its one change.
    await loadCheckpoint(engine, good, { params });
    expect(Array.from(await engine.readParameter(params.b))).toEqual([-7, -8, -9, -10]);
  });

  it('says a file of another model in one line, counting the names and listing them all in details', async () => {
    const engine = await testEngine();
    const params = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`h.${i}.w`, parameter(`h.${i}.w`, [1], [1])]));
    const other = writeSafetensors(Array.from({ length: 25 }, (_, i) => ({ name: `down.${i}.conv`, shape: [1], data: new Float32Array(1) })));
    const none = await loadCheckpoint(engine, other, { params }).catch((e) => e);
    expect(none).toBeInstanceOf(CheckpointError);
    expect(none.message).toBe("The checkpoint has none of the model's 30 tensors (such as 'h.0.w'): it was saved from another model.");
    expect(none.details).toEqual(Object.keys(params));
    const half = writeSafetensors(Array.from({ length: 20 }, (_, i) => ({ name: `h.${i}.w`, shape: [1], data: new Float32Array(1) })));
    const some = await loadCheckpoint(engine, half, { params }).catch((e) => e);
    expect([some.reason, some.message]).toEqual(['missing', "The checkpoint lacks 10 of the model's 30 tensors, such as 'h.20.w'."]);
    expect(some.details).toHaveLength(10);
    const extra = await loadCheckpoint(engine, other, { params: {} }).catch((e) => e);
    expect([extra.reason, extra.details.length]).toEqual(['unexpected', 25]);
    expect(extra.message).toMatch(/^The checkpoint has 25 tensors the model does not have, such as 'down\.0\.conv'\. [^\n]*$/);
    for (const e of [none, some, extra]) expect(e.message).not.toMatch(/\n|CheckpointError/);
  });

  it('in non-strict mode fills what matches and reports missing and unexpected names', async () => {
    const engine = await testEngine();
    const params = { a: parameter('a', [1, 2], [2]), b: parameter('b', [3], [1]) };
    const bytes = writeSafetensors([
      { name: 'a', shape: [2], data: Float32Array.from([5, 6]) },
      { name: 'extra', shape: [1], data: Float32Array.from([0]) },
    ]);
    const r = await loadCheckpoint(engine, bytes, { params, strict: false });
    expect(r.missing).toEqual(['b']);
    expect(r.unexpected).toEqual(['extra']);
    expect(Array.from(await engine.readParameter(params.a))).toEqual([5, 6]);
    expect(Array.from(await engine.readParameter(params.b))).toEqual([3]);
  });

  it('refuses to save what it could not load back', async () => {
    const engine = await testEngine();
    const p = parameter('p', [1], [1]);
    const save = (c: Parameters<typeof saveCheckpoint>[1]) => saveCheckpoint(engine, c);
    await expect(save({ params: { 'optimizer.x': p } })).rejects.toThrow(/kept for optimizer state/);
    await expect(save({ params: { p: mulScalar(p, 2) } })).rejects.toThrow(/only f32 parameters/);
    await expect(save({ params: { p }, step: 1.5 })).rejects.toThrow(/step must be a non-negative integer/);
    await expect(save({ params: { p }, rng: { seed: NaN } })).rejects.toThrow(/finite numbers/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    await expect(save({ params: { p }, config: loop })).rejects.toThrow(CheckpointError);
  });

  it('resumes training on a fresh engine with bit-identical losses', async () => {
    const N = 12, D = 5, H = 9, V = 3, dataSeed = 1000;
    const engineA = await testEngine();
    // A fresh engine with the same kernel choices: a different matmul tiling would sum in another order.
    const engineB = await createEngine({ tuning: { ...engineA.tuning } });
    const build = async (engine: Engine, seed: number) => {
      const x = input('x', [N, D]);
      const y = input('y', [N], 'i32');
      const lr = input('lr', []);
      const params = {
        'net.0.weight': parameter(`w1.${seed}`, mulScalar(randomNormal([D, H], seed), 0.5)),
        'net.0.bias': parameter(`b1.${seed}`, full([H], 0.01)),
        'net.2.weight': parameter(`w2.${seed}`, mulScalar(randomNormal([H, V], seed + 1), 0.5)),
      };
      const logits = matmul(tanh(add(matmul(x, params['net.0.weight']), params['net.0.bias'])), params['net.2.weight']); // (N, V)
      const loss = crossEntropyMean(logits, y);
      const list = Object.values(params);
      const plan = await engine.compile({ outputs: { loss }, updates: sgd(list, grad(loss, list), lr) });
      return { params, plan };
    };
    // The batch of a step depends only on the data seed and the step: resuming needs both.
    const batch = (seed: number, step: number) => {
      const r = seededRandom(seed + step);
      return {
        x: Float32Array.from({ length: N * D }, () => r() * 2 - 1),
        y: Int32Array.from({ length: N }, () => Math.floor(r() * V)),
        lr: 0.3,
      };
    };
    const train = async (plan: Awaited<ReturnType<typeof build>>['plan'], seed: number, from: number, steps: number) => {
      const losses: number[] = [];
      for (let s = from; s < from + steps; s++) losses.push(bitsOf((await plan.run(batch(seed, s))).loss as Float32Array)[0]);
      return losses;
    };

    const a = await build(engineA, 1);
    await train(a.plan, dataSeed, 0, 10);
    const ckpt = await saveCheckpoint(engineA, { params: a.params, step: 10, rng: { dataSeed }, config: { N, D, H, V } });
    const expected = await train(a.plan, dataSeed, 10, 10);

    const b = await build(engineB, 7);
    const fresh = await train(b.plan, dataSeed, 10, 1);
    const r = await loadCheckpoint(engineB, ckpt, { params: b.params });
    expect(r.config).toEqual({ N, D, H, V });
    const resumed = await train(b.plan, r.rng!.dataSeed, r.step!, 10);
    console.log(`resume: losses ${Array.from(floatsFromBits(expected)).map((l) => l.toFixed(5)).join(' ')}`);
    expect(fresh[0]).not.toBe(expected[0]); // the load is what makes them agree
    expect(resumed).toEqual(expected);
    a.plan.dispose();
    b.plan.dispose();
  });
});
