// Workgroup-count helpers shared by kernels. A dimension of the dispatch grid may not exceed
// maxComputeWorkgroupsPerDimension (65535 by default), so large 1D launches fold into 2D;
// the WGSL side recovers the linear index with `flatIndex` below.

/** Workgroups for `threads` invocations in groups of `wg`, folded into (x, y) when needed. */
export function grid1d(threads: number, wg = 64, maxPerDim = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/**
 * WGSL for the linear invocation index of a grid1d launch. Use as
 * `let i = flat_index(gid, nwg, WG);` with `@builtin(global_invocation_id) gid` and
 * `@builtin(num_workgroups) nwg`; guard with `if (i >= n) { return; }`.
 */
export const flatIndexWgsl = /* wgsl */ `
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}`;

/** Same for workgroup ids, when one workgroup handles one row: `flat_group(wid, nwg)`. */
export const flatGroupWgsl = /* wgsl */ `
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}`;
