// WGSL that lays a convolution out for the tuned matmul (the 'gemm' lowering of src/ops/conv.ts),
// pixel-major: a row per output pixel (n, i, j), so that the batch and the image are one long M
// of the product and the channels its short side.
// - `conv_im2row`: cols (N Ho Wo, C KH KW) from x (N, C, H, W): column r = (c KH + a) KW + b of
//   the row of pixel (n, i, j) is x[n, c, i S - P + a, j S - P + b], and 0 where that falls on
//   the padding.
// - `conv_row2im`: dx (N, C, H, W) from the gradient of those cols: each input pixel sums the
//   entries of the taps that read it (a gather: no atomics, one writer per element, a fixed
//   order, so the sums are the same on every run).
// - `conv_to_nhwc`, `conv_to_nchw`: (N, O, Ho Wo) to (N Ho Wo, O) and back, for dy and y.
// One invocation per row: what finds a row (divisions) is paid once per row, and each
// invocation writes consecutive elements (on SwiftShader faster than consecutive invocations
// writing neighbours).
// Not here: which lowering a conv takes, or the products between these (src/ops/conv-gemm.ts).

import type { ShaderModuleDef } from '../src/ops/types.js';
import { flatIndexWgsl } from '../src/ops/grid.js';

export const im2colShader: ShaderModuleDef = {
  label: 'im2col',
  code: () => /* wgsl */ `
${flatIndexWgsl}

override WG: u32 = 64u;

// The words of every conv kernel's uniform (src/ops/conv.ts), then the rows to fill.
struct Geo { kh: u32, kw: u32, s: u32, p: u32, N: u32, C: u32, H: u32, W: u32, O: u32, Ho: u32, Wo: u32, rows: u32 }

@group(0) @binding(0) var<storage, read> rx: array<f32>;          // (N, C, H, W)
@group(0) @binding(1) var<storage, read_write> rcols: array<f32>; // (N Ho Wo, C KH KW)
@group(0) @binding(2) var<uniform> rp: Geo;

// Pixel-major cols: row n Ho Wo + q holds every tap of output pixel q of image n.
@compute @workgroup_size(WG)
fn conv_im2row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_index(gid, nwg, WG);
  if (row >= rp.rows) { return; }
  let HWo = rp.Ho * rp.Wo;
  let q = row % HWo;
  let n = row / HWo;
  let i = q / rp.Wo;
  let j = q % rp.Wo;
  let K = rp.C * rp.kh * rp.kw;
  var out = row * K;
  for (var c = 0u; c < rp.C; c++) {
    let base = (n * rp.C + c) * rp.H * rp.W;
    for (var a = 0u; a < rp.kh; a++) {
      let h = i32(i * rp.s + a) - i32(rp.p);
      for (var b = 0u; b < rp.kw; b++) {
        let w = i32(j * rp.s + b) - i32(rp.p);
        let ok = h >= 0 && h < i32(rp.H) && w >= 0 && w < i32(rp.W);
        rcols[out] = select(0.0, rx[base + u32(select(0, h * i32(rp.W) + w, ok))], ok);
        out++;
      }
    }
  }
}

@group(0) @binding(0) var<storage, read> ty: array<f32>;          // (N, Ho Wo, O)
@group(0) @binding(1) var<storage, read_write> tout: array<f32>;  // (N, O, Ho Wo)
@group(0) @binding(2) var<uniform> tp: Geo;

@compute @workgroup_size(WG)
fn conv_to_nchw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_index(gid, nwg, WG);
  if (row >= tp.rows) { return; }
  // row = n O + o
  let o = row % tp.O;
  let n = row / tp.O;
  let HWo = tp.Ho * tp.Wo;
  for (var q = 0u; q < HWo; q++) { tout[row * HWo + q] = ty[(n * HWo + q) * tp.O + o]; }
}

@group(0) @binding(0) var<storage, read> nx: array<f32>;          // (N, O, Ho Wo)
@group(0) @binding(1) var<storage, read_write> nout: array<f32>;  // (N Ho Wo, O)
@group(0) @binding(2) var<uniform> np: Geo;

@compute @workgroup_size(WG)
fn conv_to_nhwc(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_index(gid, nwg, WG);
  if (row >= np.rows) { return; }
  // row = n Ho Wo + q
  let HWo = np.Ho * np.Wo;
  let q = row % HWo;
  let n = row / HWo;
  for (var o = 0u; o < np.O; o++) { nout[row * np.O + o] = nx[(n * np.O + o) * HWo + q]; }
}

@group(0) @binding(0) var<storage, read> gcols: array<f32>;      // (N Ho Wo, C KH KW)
@group(0) @binding(1) var<storage, read_write> gdx: array<f32>;  // (N, C, H, W)
@group(0) @binding(2) var<uniform> gp: Geo;

@compute @workgroup_size(WG)
fn conv_row2im(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_index(gid, nwg, WG);
  if (row >= gp.rows) { return; }
  // row = (n C + c) H + h
  let h = row % gp.H;
  let nc = row / gp.H;
  let c = nc % gp.C;
  let n = nc / gp.C;
  let KK = gp.kh * gp.kw;
  let K = gp.C * KK;
  // Column of tap (0, 0) of channel c, in the rows of image n's pixels.
  let col0 = n * gp.Ho * gp.Wo * K + c * KK;
  for (var w = 0u; w < gp.W; w++) {
    var s = 0.0;
    for (var a = 0u; a < gp.kh; a++) {
      // Output row i reads input row h through tap a when i S = h + P - a.
      let ti = i32(h + gp.p) - i32(a);
      if (ti < 0 || ti % i32(gp.s) != 0 || ti / i32(gp.s) >= i32(gp.Ho)) { continue; }
      let i = u32(ti) / gp.s;
      for (var b = 0u; b < gp.kw; b++) {
        let tj = i32(w + gp.p) - i32(b);
        if (tj < 0 || tj % i32(gp.s) != 0 || tj / i32(gp.s) >= i32(gp.Wo)) { continue; }
        s += gcols[col0 + (i * gp.Wo + u32(tj) / gp.s) * K + a * gp.kw + b];
      }
    }
    gdx[row * gp.W + w] = s;
  }
}
`,
};
