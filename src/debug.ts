// The non-finite check used by compiled plans in debug mode: a kernel that raises a flag when
// any element of a tensor is NaN or infinite. The executor places one right after each op that
// writes an f32 tensor and reads the flags back after the run, to name the first culprit.
// Not here: anything a normal (non-debug) run pays for.

import { debugShader } from '../shaders/debug.js';
import { grid1d } from './ops/grid.js';
import type { Dispatch } from './ops/types.js';

const WG = 64;

/** Checks `n` floats (bound as read 0) and sets word `flag` of the flags buffer (write 0). */
export function checkFiniteDispatch(n: number, flag: number): Dispatch {
  return {
    shader: debugShader,
    entry: 'check_finite',
    constants: { WG },
    reads: [{ in: 0 }],
    writes: [{ out: 0 }],
    params: [n, flag],
    workgroups: grid1d(n, WG),
  };
}
