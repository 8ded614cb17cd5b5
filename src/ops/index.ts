// The op registry: every op the engine knows, by name, and the functions users call.
// Tests loop over `registry`, so adding an op's definition here adds its GPU-vs-CPU and
// finite-difference checks automatically.

import type { OpDef } from './types.js';

// Each family file exports its definitions as one record; keys equal each def's `name`.
// FAMILY-IMPORTS (one line per family, kept sorted)

export const registry: Record<string, OpDef<any>> = {
  // FAMILY-SPREAD (one line per family, kept sorted)
};

// FAMILY-EXPORTS (one line per family: export * from './family.js';)
