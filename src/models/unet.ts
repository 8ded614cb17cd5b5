// The denoiser for small images: a U-Net in the manner of DDPM's, shrunk to run in a page. A 3x3
// convolution in; per resolution level `blocks` residual blocks (GroupNorm, SiLU, 3x3 conv, the
// time-and-class embedding added per channel, GroupNorm, SiLU, 3x3 conv, a 1x1 conv on the skip
// when the width changes) and a 2x average-pool down; a residual block at the bottom; back up
// with nearest 2x upsampling + 3x3 conv, each level's blocks reading the matching skip
// concatenated along channels; GroupNorm, SiLU and a 3x3 conv out. The output conv starts at
// zero, so an untrained model predicts zero noise. Layout NCHW; weights (O, C, kh, kw).
// Not here: attention blocks (kept out for speed on CPU-emulated adapters), the diffusion
// process (diffusion.ts), or the image data (data/glyphs.ts).

import { ConfigError } from '../errors.js';
import { kaimingUniform } from '../nn/init.js';
import { add } from '../ops/binary.js';
import { conv2d } from '../ops/conv.js';
import { embedding } from '../ops/embedding.js';
import { groupNorm } from '../ops/groupnorm.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal } from '../ops/random.js';
import { avgPool2d, upsampleNearest2d } from '../ops/resample.js';
import { concat, reshape } from '../ops/shape.js';
import { full, silu } from '../ops/unary.js';
import { parameter, type Tensor } from '../tensor.js';
import { timestepTable, type Denoiser } from './diffusion.js';

export interface UnetConfig {
  /** Image channels (1 for grayscale). */
  channels: number;
  /** Height and width; divisible by 2^(levels - 1). */
  size: number;
  /** Feature channels at the top level. */
  base: number;
  /** Width multiplier of each level, top first: [1, 2] halves the resolution once. */
  mults: number[];
  /** Residual blocks per level on the way down (the way up has one more, as in DDPM). */
  blocks: number;
  /** GroupNorm groups; must divide every level's width. */
  groups: number;
  /** Width of the timestep (and class) embedding. */
  embDim: number;
  /** Diffusion steps T. */
  timesteps: number;
  /** Classes of the conditioning label (0: unconditional). */
  classes: number;
  /** Seed of the initial weights. */
  seed: number;
}

export const unetDefaults: UnetConfig = {
  channels: 1, size: 16, base: 32, mults: [1, 2], blocks: 1, groups: 8, embDim: 64, timesteps: 400, classes: 10, seed: 1,
};

function checkConfig(c: UnetConfig): void {
  for (const k of ['channels', 'size', 'base', 'blocks', 'groups', 'embDim', 'timesteps'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) throw new ConfigError(`unet: ${k} must be a positive integer, got ${c[k]}.`);
  }
  if (!(Number.isInteger(c.classes) && c.classes >= 0)) throw new ConfigError(`unet: classes must be an integer >= 0, got ${c.classes}.`);
  if (!(c.mults.length >= 1 && c.mults.every((m) => Number.isInteger(m) && m >= 1))) {
    throw new ConfigError(`unet: mults must be a non-empty list of positive integers, got [${c.mults.join(', ')}].`);
  }
  const scale = 2 ** (c.mults.length - 1);
  if (c.size % scale !== 0) throw new ConfigError(`unet: size ${c.size} is not divisible by 2^(levels - 1) = ${scale}; use fewer levels or pad the images.`);
  for (const m of c.mults) {
    if ((c.base * m) % c.groups !== 0) throw new ConfigError(`unet: groups ${c.groups} must divide every width; ${c.base * m} is not a multiple.`);
  }
}

/** Builds the U-Net; weights are drawn on the GPU from `seed` when an engine first needs them. */
export function createUnet(overrides: Partial<UnetConfig> = {}): Denoiser & { config: UnetConfig } {
  const c: UnetConfig = { ...unetDefaults, ...overrides };
  checkConfig(c);
  const weights: Record<string, Tensor> = {};
  let stream = 0;
  const E = c.embDim;
  const convLayer = (name: string, cin: number, cout: number, k: number, zero = false) => {
    const shape = [cout, cin, k, k];
    weights[`${name}.weight`] = parameter(
      `${name}.weight`,
      zero ? full(shape, 0) : kaimingUniform(shape, c.seed, { fanIn: cin * k * k, fanOut: cout * k * k, offset: stream++ }),
    );
    weights[`${name}.bias`] = parameter(`${name}.bias`, full([cout], 0));
  };
  const linearLayer = (name: string, cin: number, cout: number) => {
    weights[`${name}.weight`] = parameter(`${name}.weight`, kaimingUniform([cin, cout], c.seed, { offset: stream++ }));
    weights[`${name}.bias`] = parameter(`${name}.bias`, full([cout], 0));
  };
  const normLayer = (name: string, ch: number) => {
    weights[`${name}.weight`] = parameter(`${name}.weight`, full([ch], 1));
    weights[`${name}.bias`] = parameter(`${name}.bias`, full([ch], 0));
  };
  const resLayer = (name: string, cin: number, cout: number) => {
    normLayer(`${name}.norm1`, cin);
    convLayer(`${name}.conv1`, cin, cout, 3);
    linearLayer(`${name}.emb`, E, cout);
    normLayer(`${name}.norm2`, cout);
    convLayer(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) convLayer(`${name}.skip`, cin, cout, 1);
  };

  // The plan of the network: widths per level, and the skips the way up will read.
  const widths = c.mults.map((m) => c.base * m);
  linearLayer('time.0', E, E);
  linearLayer('time.1', E, E);
  if (c.classes > 0) weights['label_emb.weight'] = parameter('label_emb.weight', randomNormal([c.classes + 1, E], c.seed, 0, 1, stream++));
  convLayer('conv_in', c.channels, c.base, 3);
  const skips: number[] = [c.base];
  let ch = c.base;
  widths.forEach((w, l) => {
    for (let b = 0; b < c.blocks; b++) {
      resLayer(`down.${l}.${b}`, ch, w);
      ch = w;
      skips.push(ch);
    }
    if (l < widths.length - 1) skips.push(ch);
  });
  resLayer('mid', ch, ch);
  for (let l = widths.length - 1; l >= 0; l--) {
    for (let b = 0; b <= c.blocks; b++) {
      resLayer(`up.${l}.${b}`, ch + skips.pop()!, widths[l]);
      ch = widths[l];
    }
    if (l > 0) convLayer(`up.${l}.upsample`, ch, ch, 3);
  }
  normLayer('norm_out', ch);
  convLayer('conv_out', ch, c.channels, 3, true);
  const steps = timestepTable(c.timesteps, E);

  const predict = (w: Record<string, Tensor>, xt: Tensor, t: Tensor, label: Tensor | null): Tensor => {
    const B = xt.shape[0];
    const perChannel = (v: Tensor) => reshape(v, [v.shape[v.rank - 1], 1, 1]);
    const conv = (name: string, x: Tensor, k: number) =>
      add(conv2d(x, w[`${name}.weight`], { padding: (k - 1) / 2 }), perChannel(w[`${name}.bias`]));
    const norm = (name: string, x: Tensor) => silu(groupNorm(x, w[`${name}.weight`], w[`${name}.bias`], c.groups));
    const linear = (name: string, x: Tensor, act: 'silu' | 'none') =>
      matmul(x, w[`${name}.weight`], { bias: w[`${name}.bias`], activation: act });
    const res = (name: string, x: Tensor, emb: Tensor) => {
      let h = conv(`${name}.conv1`, norm(`${name}.norm1`, x), 3); // (B, Cout, H, W)
      h = add(h, reshape(linear(`${name}.emb`, emb, 'none'), [B, h.shape[1], 1, 1]));
      h = conv(`${name}.conv2`, norm(`${name}.norm2`, h), 3);
      return add(h, w[`${name}.skip.weight`] ? conv(`${name}.skip`, x, 1) : x);
    };

    let e = embedding(steps, t); // (B, E)
    if (label) e = add(e, embedding(w['label_emb.weight'], label));
    // SiLU of the embedding MLP's output: every block reads it through its own linear map.
    const emb = silu(linear('time.1', linear('time.0', e, 'silu'), 'none')); // (B, E)
    let h = conv('conv_in', xt, 3); // (B, base, S, S)
    const saved: Tensor[] = [h];
    widths.forEach((_, l) => {
      for (let b = 0; b < c.blocks; b++) saved.push((h = res(`down.${l}.${b}`, h, emb)));
      if (l < widths.length - 1) saved.push((h = avgPool2d(h, 2)));
    });
    h = res('mid', h, emb);
    for (let l = widths.length - 1; l >= 0; l--) {
      for (let b = 0; b <= c.blocks; b++) h = res(`up.${l}.${b}`, concat([h, saved.pop()!], 1), emb);
      if (l > 0) h = conv(`up.${l}.upsample`, upsampleNearest2d(h, 2), 3);
    }
    return conv('conv_out', norm('norm_out', h), 3); // (B, channels, S, S)
  };

  return { config: c, sampleShape: [c.channels, c.size, c.size], classes: c.classes, timesteps: c.timesteps, weights, predict };
}

/** Parameters of a U-Net with this config (counted from the built weights). */
export function unetParameterCount(overrides: Partial<UnetConfig> = {}): number {
  return Object.values(createUnet(overrides).weights).reduce((n, p) => n + p.size, 0);
}
