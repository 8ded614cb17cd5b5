// WGSL for the embedding lookup out[n, c] = weight[ids[n], c] and its backward, the
// scatter-add dweight[v, c] = sum over n with ids[n] == v of dout[n, c]. The backward is
// deterministic without float atomics: each invocation owns one vocabulary row v and a block
// of COLS columns of it, scans every id in order and adds the matching rows of dout, so the
// sums run in the same order on every run. Cost: V * ceil(C / COLS) invocations each reading
// all N ids, O(V * N * C / COLS) id reads plus O(N * C) adds: fine for the small vocabularies
// trained here (V * N up to about 1e6), not for 50k-token vocabularies (that wants a sort).
// An id outside [0, V) reads nothing: its output row is zeros and it adds to no row.
// Not here: the choice of COLS (src/ops/embedding.ts) or padding-index handling.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

export const embeddingShader: ShaderModuleDef = {
  label: 'embedding',
  code: () => wgsl`
${flatIndexWgsl}

override WG: u32 = 64u;
// Columns of one vocabulary row owned by one backward invocation.
override COLS: u32 = 8u;

struct Emb { n: u32, cols: u32, vocab: u32 }

// ---- forward: one invocation per output element.
@group(0) @binding(0) var<storage, read> weight: array<f32>;   // (V, C)
@group(0) @binding(1) var<storage, read> ids: array<i32>;      // (N)
@group(0) @binding(2) var<storage, read_write> emb_out: array<f32>; // (N, C)
@group(0) @binding(3) var<uniform> fp: Emb;

@compute @workgroup_size(WG)
fn emb_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let C = fp.cols;
  if (i >= fp.n * C) { return; }
  let id = ids[i / C];
  var v = 0.0;
  if (id >= 0 && u32(id) < fp.vocab) { v = weight[u32(id) * C + i % C]; }
  emb_out[i] = v;
}

// ---- backward: one invocation per (vocabulary row v, block of COLS columns).
@group(0) @binding(0) var<storage, read> bids: array<i32>;       // (N)
@group(0) @binding(1) var<storage, read> dout: array<f32>;       // (N, C)
@group(0) @binding(2) var<storage, read_write> dweight: array<f32>; // (V, C)
@group(0) @binding(3) var<uniform> bp: Emb;

@compute @workgroup_size(WG)
fn emb_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  let C = bp.cols;
  let blocks = (C + COLS - 1u) / COLS;
  if (i >= bp.vocab * blocks) { return; }
  let v = i / blocks;
  let c0 = (i % blocks) * COLS;
  let c1 = min(c0 + COLS, C);
  let row = v * C;
  // The pool does not zero buffers: this invocation's block starts from 0 itself.
  for (var c = c0; c < c1; c++) { dweight[row + c] = 0.0; }
  for (var n = 0u; n < bp.n; n++) {
    if (bids[n] == i32(v)) {
      for (var c = c0; c < c1; c++) { dweight[row + c] += dout[n * C + c]; }
    }
  }
}
`,
};
