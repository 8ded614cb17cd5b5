// IEEE 754 binary16 (f16) on the host: rounding an f32 or float64 value to the nearest f16
// (ties to even, overflow to infinity, subnormals kept), and packing f16 values two to a
// 32-bit word, element 2i in the low half, the layout the engine's f16 tensors have on the GPU
// (WGSL's pack2x16float / unpack2x16float, which every adapter has, without shader-f16).
// The f16 tensors are matmul operands in mixed precision (src/ops/half.ts); the host side
// needs this to upload f16 constants, read f16 results back, and state what f16 rounding does
// in CPU references. Not here: any GPU code (shaders/half.ts).

/** The largest finite f16, and the smallest magnitude that rounds to infinity. */
export const HALF_MAX = 65504;
export const HALF_OVERFLOW = 65520;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (rounded to f32 first, as a GPU value would be). */
export function halfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, or a quiet NaN
  const e = exp - 127 + 15; // the f16 exponent field, before rounding
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero) in f16: shift the full significand right, rounding ties to even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  // Normal: keep 10 mantissa bits, round ties to even; a carry may bump the exponent (to inf).
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** The value of a binary16 bit pattern. */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** `x` rounded to the nearest f16 value (as a number). */
export const roundToHalf = (x: number): number => halfValue(halfBits(x));

/** Words holding `n` f16 values. */
export const halfWords = (n: number): number => Math.ceil(n / 2);

/** f16 values packed two per word, element 2i in the low half (a trailing odd half is 0). */
export function packHalves(values: ArrayLike<number>): Uint32Array {
  const words = new Uint32Array(halfWords(values.length));
  for (let i = 0; i < values.length; i++) words[i >> 1] |= halfBits(values[i]) << ((i & 1) * 16);
  return words;
}

/** The first `n` f16 values of packed words, as f32. */
export function unpackHalves(words: ArrayBuffer | Uint32Array, n: number): Float32Array {
  const w = words instanceof Uint32Array ? words : new Uint32Array(words);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfValue((w[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  return out;
}
