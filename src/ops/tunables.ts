// The kernel families the engine tunes, in the order it tunes them. A family whose variant is
// chosen by measurement implements Tunable (tunable.ts) and is listed here, and nowhere else:
// the engine iterates this list and names none of them.

import { attentionTunable } from './attention-tune.js';
import { convTunable } from './conv-tune.js';
import { matmulTunable } from './matmul-tune.js';
import type { Tunable } from './tunable.js';

export const TUNABLES: readonly Tunable[] = [matmulTunable, attentionTunable, convTunable];
