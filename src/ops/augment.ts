// Seeded image augmentations of NCHW batches, the random views of contrastive learning
// (SimCLR, Chen et al. 2020): randomShift2d (translate by up to k pixels, zero fill),
// randomRotate2d (a small rotation, bilinear, zero outside) and randomCutout2d (a random square
// zeroed). Each image draws its own parameters from one Philox block of the (seed, offset)
// stream, counter (n, offset, 0, 0) for image n (shaders/augment.ts), with the seed an i32 input
// as for randomNormal, so a compiled step takes a fresh augmentation every step. Two views of
// one batch are the same op with two offsets. Additive Gaussian noise needs no op of its own:
// add(x, randomNormal(x.shape, seed, 0, std, offset)).
//
// The augmentations act on data: nothing upstream of them trains, so, like the random fills,
// they have no gradient (backward 'none'); a seed is not differentiable either.
// Not here: the generator itself (random.ts), the choice of offsets and magnitudes (the task).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type Tensor, type TensorSpec } from '../tensor.js';
import { augmentShader } from '../../shaders/augment.js';
import { grid1d } from './grid.js';
import { checkSeedSpec, philox4x32, seedTensor, type Seed } from './random.js';
import { f32 as word, type HostTensor, type KernelEnv, type KernelPlan, type OpCase, type OpDef } from './types.js';

/** Invocations per workgroup. */
const WG = 64;

/** The shader's unit_float (philoxWgsl): the top 24 bits of a word as a float in [0, 1). */
const unitFloat = (w: number): number => (w >>> 8) * 2 ** -24;

export interface ShiftAttrs {
  /** Most pixels moved along each axis; each image moves by integers dx, dy uniform in [-k, k]. */
  k: number;
  /** Stream selector for the same seed: two views take two offsets. */
  offset: number;
}

export interface RotateAttrs {
  /** Largest angle in radians; each image turns by an angle uniform in [-maxAngle, maxAngle]. */
  maxAngle: number;
  offset: number;
}

export interface CutoutAttrs {
  /** Side of the zeroed square, in pixels (clipped where its centre lies near an edge). */
  size: number;
  offset: number;
}

function checkImages(op: string, [x, seed]: TensorSpec[], offset: number): TensorSpec[] {
  if (x.dtype !== 'f32') throw new DTypeError(`${op}: x must be f32, got ${x.dtype} ${fmtShape(x.shape)}.`);
  if (x.shape.length !== 4) throw new ShapeError(`${op}: x ${fmtShape(x.shape)} must be (N, C, H, W); reshape it to rank 4 (NCHW).`);
  checkSeedSpec(op, seed);
  if (!Number.isInteger(offset) || offset < 0 || offset >= 2 ** 32) throw new ShapeError(`${op}: offset must be an integer in [0, 2^32), got ${offset}.`);
  return [{ shape: x.shape, dtype: 'f32' }];
}

function checkInt(op: string, what: string, v: number, lo: number): void {
  if (!Number.isInteger(v) || v < lo || v > 4096) throw new ShapeError(`${op}: ${what} must be an integer in [${lo}, 4096], got ${v}.`);
}

/** The one dispatch: entry point, x's shape, and the op's integer and angle parameters. */
function augmentPlan(entry: string, x: TensorSpec, offset: number, a: number, angle: number, env: KernelEnv): KernelPlan {
  const [, C, H, W] = x.shape;
  const n = numel(x.shape);
  return {
    dispatches: [
      {
        shader: augmentShader,
        entry,
        constants: { WG },
        reads: [{ in: 0 }, { in: 1 }],
        writes: [{ out: 0 }],
        params: [n, H, W, C * H * W, offset, a, word(angle), 0],
        workgroups: grid1d(n, WG, env.limits.maxComputeWorkgroupsPerDimension),
      },
    ],
  };
}

/**
 * Plain loops over the images of x (N, C, H, W): `pixel(words, i, j)` says where output (i, j)
 * of an image whose Philox block is `words` reads from, as a value given a reader of the plane.
 */
function augmentCpu(
  [x, seed]: HostTensor[],
  offset: number,
  pixel: (w: number[], i: number, j: number, read: (r: number, c: number) => number) => number,
): HostTensor[] {
  const [N, C, H, W] = x.shape;
  const xs = x.data as Float64Array;
  const out = new Float64Array(xs.length);
  const key = [seed.data[0] >>> 0, 0];
  for (let n = 0; n < N; n++) {
    const w = philox4x32([n, offset, 0, 0], key);
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      const read = (r: number, q: number) => (r < 0 || r >= H || q < 0 || q >= W ? 0 : xs[base + r * W + q]);
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) out[base + i * W + j] = pixel(w, i, j, read);
    }
  }
  return [{ shape: x.shape, dtype: 'f32', data: out }];
}

// Awkward sizes: one pixel, primes, non-square images, several channels that must move alike.
const imageCases = <A>(attrs: (i: number) => A, tol?: number): OpCase<A>[] =>
  [[1, 1, 1, 1], [3, 1, 16, 16], [2, 3, 7, 5], [5, 2, 9, 13], [67, 1, 4, 4]].map((shape, i) => ({
    name: `[${shape}]`,
    inputs: [{ shape, dtype: 'f32' }, { shape: [], dtype: 'i32' }],
    attrs: attrs(i),
    ...(tol === undefined ? {} : { tol }),
  }));

// ---------------------------------------------------------------------------------------------
// randomShift2d

export const randomShift2dDef: OpDef<ShiftAttrs> = {
  name: 'randomShift2d',
  shape: (inputs, { k, offset }) => {
    checkInt('randomShift2d', 'k', k, 0);
    return checkImages('randomShift2d', inputs, offset);
  },
  kernel: ([x], _outs, { k, offset }, env) => augmentPlan('shift', x, offset, k, 0, env),
  cpu: (inputs, { k, offset }) =>
    augmentCpu(inputs, offset, (w, i, j, read) => {
      const dx = (w[0] % (2 * k + 1)) - k, dy = (w[1] % (2 * k + 1)) - k;
      return read(i - dy, j - dx);
    }),
  backward: 'none',
  cases: imageCases((i) => ({ k: [0, 2, 1, 3, 2][i], offset: i })),
};

/** Each image of x (N, C, H, W) translated by integers dx, dy uniform in [-k, k], zeros moving in. */
export function randomShift2d(x: Tensor, k: number, seed: Seed, offset = 0): Tensor {
  return apply(randomShift2dDef, [x, seedTensor('randomShift2d', seed)], { k, offset })[0];
}

// ---------------------------------------------------------------------------------------------
// randomRotate2d

export const randomRotate2dDef: OpDef<RotateAttrs> = {
  name: 'randomRotate2d',
  shape: (inputs, { maxAngle, offset }) => {
    if (!(Number.isFinite(maxAngle) && maxAngle >= 0 && maxAngle <= Math.PI)) {
      throw new ShapeError(`randomRotate2d: maxAngle must be in [0, pi] radians (0.26 is 15 degrees), got ${maxAngle}.`);
    }
    return checkImages('randomRotate2d', inputs, offset);
  },
  kernel: ([x], _outs, { maxAngle, offset }, env) => augmentPlan('rotate', x, offset, 0, maxAngle, env),
  cpu: (inputs, { maxAngle, offset }) => {
    const [, , H, W] = inputs[0].shape;
    const cy = (H - 1) / 2, cx = (W - 1) / 2;
    return augmentCpu(inputs, offset, (w, i, j, read) => {
      const theta = maxAngle * (2 * unitFloat(w[0]) - 1);
      const [cs, sn] = [Math.cos(theta), Math.sin(theta)];
      const u = j - cx, v = i - cy;
      const sx = cs * u + sn * v + cx, sy = -sn * u + cs * v + cy;
      const c0 = Math.floor(sx), r0 = Math.floor(sy);
      const fx = sx - c0, fy = sy - r0;
      const top = (1 - fx) * read(r0, c0) + fx * read(r0, c0 + 1);
      const bottom = (1 - fx) * read(r0 + 1, c0) + fx * read(r0 + 1, c0 + 1);
      return (1 - fy) * top + fy * bottom;
    });
  },
  backward: 'none',
  // WGSL's cos and sin may be off by ~2^-11, moving a sample point by up to ~half a side times that.
  cases: imageCases((i) => ({ maxAngle: [0.3, 0.26, 3, 0.5, 1][i], offset: i }), 5e-3),
};

/** Each image of x (N, C, H, W) rotated about its centre by an angle uniform in [-maxAngle, maxAngle], bilinear. */
export function randomRotate2d(x: Tensor, maxAngle: number, seed: Seed, offset = 0): Tensor {
  return apply(randomRotate2dDef, [x, seedTensor('randomRotate2d', seed)], { maxAngle, offset })[0];
}

// ---------------------------------------------------------------------------------------------
// randomCutout2d

export const randomCutout2dDef: OpDef<CutoutAttrs> = {
  name: 'randomCutout2d',
  shape: (inputs, { size, offset }) => {
    checkInt('randomCutout2d', 'size', size, 0);
    return checkImages('randomCutout2d', inputs, offset);
  },
  kernel: ([x], _outs, { size, offset }, env) => augmentPlan('cutout', x, offset, size, 0, env),
  cpu: (inputs, { size, offset }) => {
    const [, , H, W] = inputs[0].shape;
    return augmentCpu(inputs, offset, (w, i, j, read) => {
      const r0 = (w[0] % H) - Math.floor(size / 2), c0 = (w[1] % W) - Math.floor(size / 2);
      return i >= r0 && i < r0 + size && j >= c0 && j < c0 + size ? 0 : read(i, j);
    });
  },
  backward: 'none',
  cases: imageCases((i) => ({ size: [1, 6, 3, 4, 0][i], offset: i })),
};

/** Each image of x (N, C, H, W) with a size x size square zeroed around a uniformly drawn centre. */
export function randomCutout2d(x: Tensor, size: number, seed: Seed, offset = 0): Tensor {
  return apply(randomCutout2dDef, [x, seedTensor('randomCutout2d', seed)], { size, offset })[0];
}

export const augmentOps = {
  randomShift2d: randomShift2dDef,
  randomRotate2d: randomRotate2dDef,
  randomCutout2d: randomCutout2dDef,
};
