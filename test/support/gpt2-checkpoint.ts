// Small GPT-2-shaped checkpoints built by the tests themselves, in the layouts pretrained files
// come in (Hugging Face's: Conv1D weights (C_in, C_out), names with or without "transformer.",
// causal-mask buffers, lm_head absent or tied; nanoGPT's: nn.Linear weights (C_out, C_in)), in
// F32, F16 or BF16, and a plain-loop float64 GPT-2 forward over the same named tensors: the
// reference the imported model's logits are checked against, written from GPT-2's definition
// rather than from the engine's graph.

import { mulberry32, gaussian } from '../../src/data/random.js';

export interface Gpt2Shape {
  vocabSize: number;
  nPositions: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

export interface Gpt2FileOptions {
  seed?: number;
  bias?: boolean;
  prefix?: '' | 'transformer.';
  layout?: 'conv1d' | 'linear';
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Write lm_head.weight equal to wte ('tied') or different ('untied'); default absent. */
  lmHead?: 'absent' | 'tied' | 'untied';
  /** Write HF's h.N.attn.bias / masked_bias buffers (default true for the HF layout). */
  maskBuffers?: boolean;
}

export interface Gpt2Files {
  /** model.safetensors bytes. */
  weights: Uint8Array;
  /** config.json as parsed JSON. */
  config: Record<string, unknown>;
  /** The weights in GPT-2's canonical form (Conv1D layout, names without prefix), as stored values. */
  canonical: Map<string, { shape: number[]; data: Float64Array }>;
}

/** Names and canonical (Conv1D) shapes of a GPT-2's weights, in state_dict order. */
export function gpt2Weights(s: Gpt2Shape, bias: boolean): [string, number[]][] {
  const C = s.nEmbd;
  const out: [string, number[]][] = [['wte.weight', [s.vocabSize, C]], ['wpe.weight', [s.nPositions, C]]];
  const lin = (n: string, cin: number, cout: number) => {
    out.push([`${n}.weight`, [cin, cout]]);
    if (bias) out.push([`${n}.bias`, [cout]]);
  };
  const norm = (n: string) => {
    out.push([`${n}.weight`, [C]]);
    if (bias) out.push([`${n}.bias`, [C]]);
  };
  for (let l = 0; l < s.nLayer; l++) {
    norm(`h.${l}.ln_1`);
    lin(`h.${l}.attn.c_attn`, C, 3 * C);
    lin(`h.${l}.attn.c_proj`, C, C);
    norm(`h.${l}.ln_2`);
    lin(`h.${l}.mlp.c_fc`, C, 4 * C);
    lin(`h.${l}.mlp.c_proj`, 4 * C, C);
  }
  norm('ln_f');
  return out;
}

/** Random weights (multiples of 1/128 below 1 in magnitude, exact in F16 and BF16) written as a file. */
export function gpt2Files(s: Gpt2Shape, o: Gpt2FileOptions = {}): Gpt2Files {
  const { seed = 1, bias = true, prefix = '', layout = 'conv1d', dtype = 'F32', lmHead = 'absent' } = o;
  const rand = mulberry32(seed);
  const q = (v: number) => Math.max(-127, Math.min(127, Math.round(v * 128))) / 128;
  const canonical = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [name, shape] of gpt2Weights(s, bias)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isGain = /ln_\w+\.weight$/.test(name);
    const std = name.endsWith('.bias') || /ln_/.test(name) ? 0.1 : 0.25;
    canonical.set(name, { shape, data: Float64Array.from({ length: n }, () => q((isGain ? 1 : 0) + std * gaussian(rand))) });
  }
  const entries: { name: string; shape: number[]; data: Float64Array }[] = [];
  for (const [name, t] of canonical) {
    const transpose = layout === 'linear' && /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
    entries.push({ name: prefix + name, ...(transpose ? transposedEntry(t) : t) });
  }
  if (o.maskBuffers ?? layout === 'conv1d') {
    const T = s.nPositions;
    for (let l = 0; l < s.nLayer; l++) {
      const mask = Float64Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) ? 1 : 0));
      entries.push({ name: `${prefix}h.${l}.attn.bias`, shape: [1, 1, T, T], data: mask });
      entries.push({ name: `${prefix}h.${l}.attn.masked_bias`, shape: [], data: Float64Array.of(-1e4) });
    }
  }
  if (lmHead !== 'absent') {
    const wte = canonical.get('wte.weight')!;
    const data = lmHead === 'tied' ? wte.data : wte.data.map((v) => q(v + 1 / 128));
    entries.push({ name: 'lm_head.weight', shape: wte.shape, data });
  }
  const config = {
    model_type: 'gpt2', vocab_size: s.vocabSize, n_positions: s.nPositions, n_ctx: s.nPositions,
    n_layer: s.nLayer, n_head: s.nHead, n_embd: s.nEmbd, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
  };
  return { weights: writeTensors(entries, dtype), config, canonical };
}

function transposedEntry(t: { shape: number[]; data: Float64Array }) {
  const [r, c] = t.shape;
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

/** A safetensors file in the given float dtype (the values must be exact in it). */
export function writeTensors(entries: { name: string; shape: number[]; data: ArrayLike<number> }[], dtype: 'F32' | 'F16' | 'BF16' | 'I32'): Uint8Array {
  const width = dtype === 'F32' || dtype === 'I32' ? 4 : 2;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype, shape: e.shape, data_offsets: [offset, offset + e.data.length * width] };
    offset += e.data.length * width;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const hb = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + hb + offset).fill(0x20, 8, 8 + hb);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hb), true);
  out.set(json, 8);
  let pos = 8 + hb;
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (const e of entries) {
    for (let i = 0; i < e.data.length; i++, pos += width) {
      if (dtype === 'I32') view.setInt32(pos, e.data[i], true);
      else if (dtype === 'F32') view.setFloat32(pos, e.data[i], true);
      else {
        f32[0] = e.data[i];
        const b = bits[0];
        if (dtype === 'BF16') view.setUint16(pos, b >>> 16, true);
        else {
          // Exact values only (normal in f16, or zero): rebias the exponent, keep the top 10 mantissa bits.
          const exp = (b >>> 23) & 0xff;
          const h = exp === 0 ? (b >>> 16) & 0x8000 : ((b >>> 16) & 0x8000) | ((exp - 127 + 15) << 10) | ((b >>> 13) & 0x3ff);
          view.setUint16(pos, h, true);
        }
      }
    }
  }
  return out;
}

const GELU_K = Math.sqrt(2 / Math.PI);
const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(GELU_K * (x + 0.044715 * x ** 3)));

/** GPT-2's forward in float64 from canonical weights: logits (T, V) of one sequence of ids. */
export function gpt2Reference(s: Gpt2Shape, w: Map<string, { data: Float64Array }>, ids: number[]): Float64Array {
  const C = s.nEmbd, T = ids.length, H = s.nHead, hs = C / H;
  const get = (n: string) => w.get(n)?.data;
  const layerNorm = (x: Float64Array, n: string) => {
    const g = get(`${n}.weight`)!, b = get(`${n}.bias`);
    const y = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      let m = 0, v = 0;
      for (let c = 0; c < C; c++) m += x[t * C + c];
      m /= C;
      for (let c = 0; c < C; c++) v += (x[t * C + c] - m) ** 2;
      const r = 1 / Math.sqrt(v / C + 1e-5);
      for (let c = 0; c < C; c++) y[t * C + c] = (x[t * C + c] - m) * r * g[c] + (b ? b[c] : 0);
    }
    return y;
  };
  const conv1d = (x: Float64Array, n: string, cin: number, cout: number) => {
    const W = get(`${n}.weight`)!, b = get(`${n}.bias`);
    const y = new Float64Array(T * cout);
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < cout; o++) {
        let acc = b ? b[o] : 0;
        for (let i = 0; i < cin; i++) acc += x[t * cin + i] * W[i * cout + o];
        y[t * cout + o] = acc;
      }
    }
    return y;
  };
  const wte = get('wte.weight')!, wpe = get('wpe.weight')!;
  let x = new Float64Array(T * C);
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) x[t * C + c] = wte[ids[t] * C + c] + wpe[t * C + c];
  for (let l = 0; l < s.nLayer; l++) {
    const qkv = conv1d(layerNorm(x, `h.${l}.ln_1`), `h.${l}.attn.c_attn`, C, 3 * C);
    const att = new Float64Array(T * C);
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          let d = 0;
          for (let k = 0; k < hs; k++) d += qkv[t * 3 * C + h * hs + k] * qkv[u * 3 * C + C + h * hs + k];
          scores.push(d / Math.sqrt(hs));
        }
        const m = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < hs; k++) {
          let acc = 0;
          for (let u = 0; u <= t; u++) acc += (e[u] / z) * qkv[u * 3 * C + 2 * C + h * hs + k];
          att[t * C + h * hs + k] = acc;
        }
      }
    }
    const a = conv1d(att, `h.${l}.attn.c_proj`, C, C);
    x = x.map((v, i) => v + a[i]);
    const hidden = conv1d(layerNorm(x, `h.${l}.ln_2`), `h.${l}.mlp.c_fc`, C, 4 * C).map(geluNew);
    const m = conv1d(hidden, `h.${l}.mlp.c_proj`, 4 * C, C);
    x = x.map((v, i) => v + m[i]);
  }
  const f = layerNorm(x, 'ln_f');
  const logits = new Float64Array(T * s.vocabSize);
  for (let t = 0; t < T; t++) {
    for (let v = 0; v < s.vocabSize; v++) {
      let acc = 0;
      for (let c = 0; c < C; c++) acc += f[t * C + c] * wte[v * C + c];
      logits[t * s.vocabSize + v] = acc;
    }
  }
  return logits;
}
