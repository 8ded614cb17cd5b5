// The op registry: every op the engine knows, by name, and the functions users call.
// Tests loop over `registry`, so adding an op's definition here adds its GPU-vs-CPU and
// finite-difference checks automatically.

import type { OpDef } from './types.js';

// Each family file exports its definitions as one record; keys equal each def's `name`.
// FAMILY-IMPORTS (one line per family, kept sorted)
import { attentionOps } from './attention.js';
import { augmentOps } from './augment.js';
import { binaryOps } from './binary.js';
import { convOps } from './conv.js';
import { crossEntropyOps } from './crossentropy.js';
import { embeddingOps } from './embedding.js';
import { groupNormOps } from './groupnorm.js';
import { halfOps } from './half.js';
import { identityOps } from './identity.js';
import { layerNormOps } from './layernorm.js';
import { lossOps } from './losses.js';
import { matmulOps } from './matmul.js';
import { randomOps } from './random.js';
import { reduceOps } from './reduce.js';
import { resampleOps } from './resample.js';
import { shapeOps } from './shape.js';
import { softmaxOps } from './softmax.js';
import { unaryOps } from './unary.js';

export const registry: Record<string, OpDef<any>> = {
  // FAMILY-SPREAD (one line per family, kept sorted)
  ...attentionOps,
  ...augmentOps,
  ...binaryOps,
  ...convOps,
  ...crossEntropyOps,
  ...embeddingOps,
  ...groupNormOps,
  ...halfOps,
  ...identityOps,
  ...layerNormOps,
  ...lossOps,
  ...matmulOps,
  ...randomOps,
  ...reduceOps,
  ...resampleOps,
  ...shapeOps,
  ...softmaxOps,
  ...unaryOps,
};

// FAMILY-EXPORTS (one line per family: export * from './family.js';)
export * from './attention.js';
export * from './augment.js';
export * from './binary.js';
export * from './conv.js';
export * from './crossentropy.js';
export * from './embedding.js';
export * from './groupnorm.js';
export * from './half.js';
export * from './identity.js';
export * from './layernorm.js';
export * from './losses.js';
export * from './matmul.js';
export * from './random.js';
export * from './reduce.js';
export * from './resample.js';
export * from './shape.js';
export * from './softmax.js';
export * from './unary.js';
