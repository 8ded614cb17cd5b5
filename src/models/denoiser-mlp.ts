// The denoiser for low-dimensional data (2D point clouds): an MLP that reads x_t next to a
// sinusoidal embedding of the timestep (plus a learned class embedding when conditional),
// `layers` hidden layers of `hidden` units with SiLU, and a linear head predicting eps or v.
// Every layer is one matmul with its bias and activation fused into the epilogue.
// Not here: the diffusion process around it (diffusion.ts) or images (unet.ts).

import { ConfigError } from '../errors.js';
import { kaimingUniform } from '../nn/init.js';
import { add } from '../ops/binary.js';
import { embedding } from '../ops/embedding.js';
import { matmul } from '../ops/matmul.js';
import { randomNormal } from '../ops/random.js';
import { concat } from '../ops/shape.js';
import { full } from '../ops/unary.js';
import { parameter, type Tensor } from '../tensor.js';
import { timestepTable, type Denoiser } from './diffusion.js';

export interface MlpDenoiserConfig {
  /** Dimensions of a data point (D). */
  dims: number;
  /** Units per hidden layer. */
  hidden: number;
  /** Hidden layers. */
  layers: number;
  /** Width of the timestep (and class) embedding. */
  embDim: number;
  /** Diffusion steps T. */
  timesteps: number;
  /** Classes of the conditioning label (0: unconditional). */
  classes: number;
  /** Seed of the initial weights. */
  seed: number;
}

export const mlpDenoiserDefaults: MlpDenoiserConfig = { dims: 2, hidden: 128, layers: 3, embDim: 32, timesteps: 100, classes: 0, seed: 1 };

/** Builds the denoiser; weights are drawn on the GPU from `seed` when an engine first needs them. */
export function createMlpDenoiser(overrides: Partial<MlpDenoiserConfig> = {}): Denoiser & { config: MlpDenoiserConfig } {
  const c = { ...mlpDenoiserDefaults, ...overrides };
  for (const k of ['dims', 'hidden', 'layers', 'embDim', 'timesteps'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 1)) throw new ConfigError(`mlpDenoiser: ${k} must be a positive integer, got ${c[k]}.`);
  }
  if (!(Number.isInteger(c.classes) && c.classes >= 0)) throw new ConfigError(`mlpDenoiser: classes must be an integer >= 0, got ${c.classes}.`);
  const { dims: D, hidden: H, embDim: E } = c;
  let stream = 0;
  const weights: Record<string, Tensor> = {};
  const layer = (name: string, cin: number, cout: number) => {
    weights[`${name}.weight`] = parameter(`${name}.weight`, kaimingUniform([cin, cout], c.seed, { offset: stream++ }));
    weights[`${name}.bias`] = parameter(`${name}.bias`, full([cout], 0));
  };
  layer('in', D + E, H);
  for (let l = 1; l < c.layers; l++) layer(`hidden.${l}`, H, H);
  layer('out', H, D);
  // Row `classes` is the "no label" embedding that classifier-free guidance trains and samples with.
  if (c.classes > 0) weights['label_emb.weight'] = parameter('label_emb.weight', randomNormal([c.classes + 1, E], c.seed, 0, 1, stream++));
  const steps = timestepTable(c.timesteps, E);

  const apply = (w: Record<string, Tensor>, name: string, x: Tensor, silu: boolean) =>
    matmul(x, w[`${name}.weight`], { bias: w[`${name}.bias`], activation: silu ? 'silu' : 'none' });

  return {
    config: c,
    sampleShape: [D],
    classes: c.classes,
    timesteps: c.timesteps,
    weights,
    predict(w, xt, t, label) {
      let emb = embedding(steps, t); // (B, E)
      if (label) emb = add(emb, embedding(w['label_emb.weight'], label));
      let h = apply(w, 'in', concat([xt, emb], -1), true); // (B, H)
      for (let l = 1; l < c.layers; l++) h = apply(w, `hidden.${l}`, h, true);
      return apply(w, 'out', h, false); // (B, D)
    },
  };
}
