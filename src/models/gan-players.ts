// The two networks of a GAN, as players the training (gan.ts) can drive without knowing their
// insides: MLPs for points (generator ReLU, discriminator leaky ReLU 0.2) and a DCGAN-style pair
// for small images (generator: linear to a 4x-smaller map, then transposed convolutions of
// kernel 4, stride 2, each doubling the side, group norm + ReLU between, tanh out; discriminator:
// strided convolutions of kernel 4 with leaky ReLU, a linear logit). Each player lists the
// weights spectral normalisation may divide, with the matrix view its power iteration uses.
// Not here: losses, steps and spectral normalisation itself (gan.ts).

import { kaimingUniform } from '../nn/init.js';
import { add } from '../ops/binary.js';
import { conv2d, convTranspose2d } from '../ops/conv.js';
import { groupNorm } from '../ops/groupnorm.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal } from '../ops/random.js';
import { reshape } from '../ops/shape.js';
import { full, leakyRelu, relu, tanh } from '../ops/unary.js';
import { parameter, type Tensor } from '../tensor.js';

/** A weight spectral normalisation may divide: seen as a (rows, cols) matrix, with its state u (cols, 1). */
export interface SpectralWeight {
  w: Tensor;
  rows: number;
  cols: number;
  u: Tensor;
}

export interface GanPlayer {
  /** Trainable parameters, by state_dict name through their labels. */
  params: Tensor[];
  /** The spectrally normalised weights (empty when the option is off). */
  spectral: SpectralWeight[];
  /** Shape of one input without the batch axis. */
  inShape: number[];
  /** The output for x (B, ...inShape); `swap` gives the tensor to use in place of a weight. */
  apply(x: Tensor, swap?: Map<Tensor, Tensor>): Tensor;
}

/** The discriminator's leaky slope, as in DCGAN. */
const SLOPE = 0.2;

/** Draws layers' weights from one seed, each from its own stream. */
class Builder {
  private stream = 0;
  readonly params: Tensor[] = [];
  readonly spectral: SpectralWeight[] = [];
  constructor(
    private seed: number,
    private sn: boolean,
  ) {}

  weight(name: string, shape: number[], fanIn: number, fanOut: number, view: [number, number]): Tensor {
    const w = parameter(`${name}.weight`, kaimingUniform(shape, this.seed, { fanIn, fanOut, offset: this.stream++ }));
    this.params.push(w);
    if (this.sn) this.spectral.push({ w, rows: view[0], cols: view[1], u: parameter(`${name}.sn_u`, randomNormal([view[1], 1], this.seed, 0, 1, this.stream++)) });
    return w;
  }

  bias(name: string, n: number): Tensor {
    const b = parameter(`${name}.bias`, full([n], 0));
    this.params.push(b);
    return b;
  }

  norm(name: string, c: number): { gain: Tensor; bias: Tensor } {
    const gain = parameter(`${name}.weight`, full([c], 1));
    this.params.push(gain);
    return { gain, bias: this.bias(name, c) };
  }
}

const use = (w: Tensor, swap?: Map<Tensor, Tensor>) => swap?.get(w) ?? w;
const perChannel = (b: Tensor) => reshape(b, [b.shape[0], 1, 1]);

/** An MLP from `sizes[0]` to `sizes[last]`; hidden activation ReLU (generator) or leaky ReLU (discriminator). */
export function mlpPlayer(name: string, sizes: number[], role: 'generator' | 'discriminator', seed: number, sn: boolean): GanPlayer {
  const b = new Builder(seed, sn);
  const layers = sizes.slice(1).map((out, i) => ({
    w: b.weight(`${name}.${i}`, [sizes[i], out], sizes[i], out, [sizes[i], out]),
    b: b.bias(`${name}.${i}`, out),
  }));
  return {
    params: b.params,
    spectral: b.spectral,
    inShape: [sizes[0]],
    apply(x, swap) {
      let h = x;
      layers.forEach((l, i) => {
        const last = i === layers.length - 1;
        if (role === 'generator') h = matmul(h, use(l.w, swap), { bias: l.b, activation: last ? 'none' : 'relu' });
        else {
          h = matmul(h, use(l.w, swap), { bias: l.b });
          if (!last) h = leakyRelu(h, SLOPE);
        }
      });
      return h;
    },
  };
}

export interface ImageShape {
  channels: number;
  /** Side of the square images; divisible by 4. */
  size: number;
  /** Feature channels of the widest full-resolution layer (F); the 4x-smaller map has 2F. */
  width: number;
}

/** DCGAN generator: z (B, latent) -> (B, 2F, S/4, S/4) -> (B, F, S/2, S/2) -> (B, channels, S, S) in [-1, 1]. */
export function dcganGenerator(name: string, latent: number, img: ImageShape, seed: number): GanPlayer {
  const b = new Builder(seed, false);
  const { channels: C, size: S, width: F } = img;
  const s0 = S / 4;
  const fc = { w: b.weight(`${name}.fc`, [latent, 2 * F * s0 * s0], latent, 2 * F * s0 * s0, [latent, 2 * F * s0 * s0]), b: b.bias(`${name}.fc`, 2 * F * s0 * s0) };
  const n0 = b.norm(`${name}.norm0`, 2 * F);
  // convTranspose2d weights are (C_in, C_out, k, k); each output pixel sees C_in * k * k / stride^2 taps.
  const up1 = { w: b.weight(`${name}.up1`, [2 * F, F, 4, 4], 2 * F * 4, F * 16, [2 * F, F * 16]), b: b.bias(`${name}.up1`, F) };
  const n1 = b.norm(`${name}.norm1`, F);
  const up2 = { w: b.weight(`${name}.up2`, [F, C, 4, 4], F * 4, C * 16, [F, C * 16]), b: b.bias(`${name}.up2`, C) };
  const groups = Math.min(8, F);
  return {
    params: b.params,
    spectral: b.spectral,
    inShape: [latent],
    apply(z) {
      let h = reshape(matmul(z, fc.w, { bias: fc.b }), [z.shape[0], 2 * F, s0, s0]);
      h = relu(groupNorm(h, n0.gain, n0.bias, groups));
      h = add(convTranspose2d(h, up1.w, { stride: 2, padding: 1 }), perChannel(up1.b)); // (B, F, S/2, S/2)
      h = relu(groupNorm(h, n1.gain, n1.bias, groups));
      return tanh(add(convTranspose2d(h, up2.w, { stride: 2, padding: 1 }), perChannel(up2.b))); // (B, C, S, S)
    },
  };
}

/** DCGAN discriminator: (B, channels, S, S) -> (B, F, S/2, S/2) -> (B, 2F, S/4, S/4) -> a logit (B, 1). */
export function dcganDiscriminator(name: string, img: ImageShape, seed: number, sn: boolean): GanPlayer {
  const b = new Builder(seed, sn);
  const { channels: C, size: S, width: F } = img;
  const s0 = S / 4;
  const d1 = { w: b.weight(`${name}.down1`, [F, C, 4, 4], C * 16, F * 16, [F, C * 16]), b: b.bias(`${name}.down1`, F) };
  const d2 = { w: b.weight(`${name}.down2`, [2 * F, F, 4, 4], F * 16, 2 * F * 16, [2 * F, F * 16]), b: b.bias(`${name}.down2`, 2 * F) };
  const flat = 2 * F * s0 * s0;
  const fc = { w: b.weight(`${name}.fc`, [flat, 1], flat, 1, [flat, 1]), b: b.bias(`${name}.fc`, 1) };
  return {
    params: b.params,
    spectral: b.spectral,
    inShape: [C, S, S],
    apply(x, swap) {
      let h = leakyRelu(add(conv2d(x, use(d1.w, swap), { stride: 2, padding: 1 }), perChannel(d1.b)), SLOPE);
      h = leakyRelu(add(conv2d(h, use(d2.w, swap), { stride: 2, padding: 1 }), perChannel(d2.b)), SLOPE);
      return matmul(reshape(h, [x.shape[0], flat]), use(fc.w, swap), { bias: fc.b }); // (B, 1)
    },
  };
}
