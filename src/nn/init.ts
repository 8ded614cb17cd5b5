// Weight initialisation schemes: Xavier/Glorot and He/Kaiming (uniform and normal) and the
// GPT-2 normal(0.02) with scaled residual projections. Each returns a random-fill tensor for
// `parameter(name, init)`, drawn on the GPU by randomUniform/randomNormal from an explicit
// seed, so the same seed gives the same bits on every run and every adapter.
//
// Fans follow this engine's weight layout, (..., C_in, C_out) as used by matmul(x, w): for a
// rank-2 weight fanIn = C_in and fanOut = C_out; leading axes are a receptive field that
// multiplies both (a (kh, kw, C_in, C_out) convolution kernel). Weights laid out otherwise
// pass fanIn/fanOut explicitly.
// Not here: the random generator (ops/random.ts) or biases and norms (which start at 0 and 1:
// use full()).

import { ConfigError, ShapeError, fmtShape } from '../errors.js';
import { randomNormal, randomUniform, type Seed } from '../ops/random.js';
import type { Shape, Tensor } from '../tensor.js';

/** The activation that follows a layer, which sets the gain that keeps activations at unit scale. */
export type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'gelu';

/**
 * 1 / sqrt(E[gelu(z)^2]) for z ~ N(0, 1): the criterion that gives relu its sqrt(2)
 * (E[relu(z)^2] = 1/2), evaluated by quadrature (0.42522; the tanh approximation agrees to 5e-5).
 */
const GELU_GAIN = 1.5335;

/**
 * The recommended gain for a nonlinearity, as PyTorch's calculate_gain: 1 for linear and
 * sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leakyRelu; gelu, which
 * PyTorch leaves out, by the same second-moment criterion that gives relu sqrt(2).
 */
export function calculateGain(nonlinearity: Nonlinearity, slope = 0.01): number {
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu':
      return Math.sqrt(2 / (1 + slope * slope));
    case 'gelu':
      return GELU_GAIN;
    default:
      throw new ConfigError(
        `calculateGain: unknown nonlinearity '${String(nonlinearity)}'; use linear, sigmoid, tanh, relu, leakyRelu or gelu.`,
      );
  }
}

export interface Fans {
  fanIn: number;
  fanOut: number;
}

/** Fans of a weight in the (..., C_in, C_out) layout; leading axes multiply both. */
export function fans(shape: Shape): Fans {
  if (shape.length < 2) {
    throw new ShapeError(
      `fans: a weight of shape ${fmtShape(shape)} has no (C_in, C_out) axes; pass fanIn and fanOut explicitly.`,
    );
  }
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: receptive * shape[shape.length - 2], fanOut: receptive * shape[shape.length - 1] };
}

/** Fields every scheme shares. */
export interface FanOptions {
  /** Overrides the fan-in computed from the shape (for other weight layouts). */
  fanIn?: number;
  /** Overrides the fan-out computed from the shape. */
  fanOut?: number;
  /** Stream of the seed to draw from: parameters that share a seed need different offsets. */
  offset?: number;
}

function resolveFans(op: string, shape: Shape, o: FanOptions): Fans {
  const f = o.fanIn !== undefined && o.fanOut !== undefined ? { fanIn: o.fanIn, fanOut: o.fanOut } : fans(shape);
  const r = { fanIn: o.fanIn ?? f.fanIn, fanOut: o.fanOut ?? f.fanOut };
  for (const [k, v] of Object.entries(r)) {
    if (!(Number.isInteger(v) && v >= 1)) throw new ConfigError(`${op}: ${k} must be an integer >= 1, got ${v}.`);
  }
  return r;
}

function checkScale(op: string, field: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new ConfigError(`${op}: ${field} must be a finite number > 0, got ${v}.`);
}

/** U(-bound, bound) with bound = sqrt(3) std: the uniform law of standard deviation std. */
const uniformWithStd = (shape: Shape, seed: Seed, std: number, offset: number) =>
  randomUniform(shape, seed, -Math.sqrt(3) * std, Math.sqrt(3) * std, offset);

// ---------------------------------------------------------------------------------------------
// Xavier / Glorot: std = gain * sqrt(2 / (fanIn + fanOut)), keeping forward and backward
// variances balanced.

export interface XavierConfig extends FanOptions {
  /** Multiplies the std; calculateGain(nonlinearity) for the activation that follows (default 1). */
  gain?: number;
}

function xavierStd(op: string, shape: Shape, c: XavierConfig): number {
  const { fanIn, fanOut } = resolveFans(op, shape, c);
  const gain = c.gain ?? 1;
  checkScale(op, 'gain', gain);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform(shape: Shape, seed: Seed, config: XavierConfig = {}): Tensor {
  return uniformWithStd(shape, seed, xavierStd('xavierUniform', shape, config), config.offset ?? 0);
}

/** Glorot normal: N(0, gain^2 * 2 / (fanIn + fanOut)). */
export function xavierNormal(shape: Shape, seed: Seed, config: XavierConfig = {}): Tensor {
  return randomNormal(shape, seed, 0, xavierStd('xavierNormal', shape, config), config.offset ?? 0);
}

// ---------------------------------------------------------------------------------------------
// He / Kaiming: std = gain / sqrt(fan), keeping the forward (fanIn) or backward (fanOut)
// variance constant through the nonlinearity.

export interface KaimingConfig extends FanOptions {
  /** 'fanIn' preserves activations' variance in the forward pass, 'fanOut' gradients' (default 'fanIn'). */
  mode?: 'fanIn' | 'fanOut';
  /** The activation that follows the layer (default 'relu'). */
  nonlinearity?: Nonlinearity;
  /** Negative slope, for 'leakyRelu' only (default 0.01). */
  slope?: number;
}

function kaimingStd(op: string, shape: Shape, c: KaimingConfig): number {
  const { fanIn, fanOut } = resolveFans(op, shape, c);
  const mode = c.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new ConfigError(`${op}: mode must be 'fanIn' or 'fanOut', got '${String(mode)}'.`);
  return calculateGain(c.nonlinearity ?? 'relu', c.slope ?? 0.01) / Math.sqrt(mode === 'fanIn' ? fanIn : fanOut);
}

/** He uniform: U(-b, b) with b = gain * sqrt(3 / fan). */
export function kaimingUniform(shape: Shape, seed: Seed, config: KaimingConfig = {}): Tensor {
  return uniformWithStd(shape, seed, kaimingStd('kaimingUniform', shape, config), config.offset ?? 0);
}

/** He normal: N(0, gain^2 / fan). */
export function kaimingNormal(shape: Shape, seed: Seed, config: KaimingConfig = {}): Tensor {
  return randomNormal(shape, seed, 0, kaimingStd('kaimingNormal', shape, config), config.offset ?? 0);
}

// ---------------------------------------------------------------------------------------------
// GPT-2: every weight N(0, 0.02^2); the projections that write into the residual stream
// (attention output, MLP output) use std / sqrt(2 nLayers), because each of the 2 nLayers
// residual additions adds its variance to the stream.

export interface GptInitConfig {
  /** Standard deviation of ordinary weights (default 0.02). */
  std?: number;
  /** Layers of the model when this weight is a residual projection (default 0: it is not). */
  residualLayers?: number;
  /** Stream of the seed to draw from: parameters that share a seed need different offsets. */
  offset?: number;
}

/** The std gptNormal uses: std, or std / sqrt(2 residualLayers) for a residual projection. */
export function gptStd(config: GptInitConfig = {}): number {
  const std = config.std ?? 0.02;
  const layers = config.residualLayers ?? 0;
  checkScale('gptNormal', 'std', std);
  if (!(Number.isInteger(layers) && layers >= 0)) {
    throw new ConfigError(`gptNormal: residualLayers must be an integer >= 0, got ${layers}.`);
  }
  return layers > 0 ? std / Math.sqrt(2 * layers) : std;
}

/** GPT-2 normal init: N(0, 0.02^2), or scaled for residual projections (see GptInitConfig). */
export function gptNormal(shape: Shape, seed: Seed, config: GptInitConfig = {}): Tensor {
  return randomNormal(shape, seed, 0, gptStd(config), config.offset ?? 0);
}
