// The entry points of shaders/conv.ts that are generated rather than written: the wide and quad
// forward (fwdWide), the wide and quad weight gradient (bwdWeightWide) and the weight gradient
// over a row of taps (bwdWeightTaps). Their blocks unroll into named accumulators, which WGSL can
// only spell out: SwiftShader runs a dynamically indexed private array as per-lane gathers, and
// an override constant cannot name a variable. Each returns WGSL text that uses the helpers,
// bindings and uniforms of shaders/conv.ts's module, where it is spliced in.
// A finding all of them rely on: every trip of a loop costs SwiftShader a masked copy of all the
// loop-carried accumulators (its JIT code, read with perf), so fwdWide and bwdWeightTaps run
// their reductions as one loop, stepping their indices by hand, not as nested loops (bwdWeightWide,
// which now serves only strided and 1x1 layers, still nests rows and columns).
// Not here: the helpers and the kernels written out by hand (shaders/conv.ts).

/** conv_fwd_wide's block: groups of four output pixels, and of four output channels. */
export const WIDE_PIXEL_GROUPS = 8;
export const WIDE_CHANNEL_GROUPS = 4;
/** conv_fwd_quad's block (subgroups only): fewer pixels, more channels, the weights shared in a quad. */
export const QUAD_PIXEL_GROUPS = 4;
export const QUAD_CHANNEL_GROUPS = 8;
/** One generated line per item, indented to sit in the kernel body. */
const each = (items: number[], line: (i: number) => string, indent = 2) => items.map(line).join(`\n${' '.repeat(indent)}`);

/** Taps of one kernel row that conv_bwd_weight_taps computes together (stride 1, KW a multiple). */
export const TAPS_PER_BLOCK = 3;

/**
 * The first lines of a generated entry point: its builtins (the quad lane with `quad`), the
 * geometry from uniform `u`, and which invocation it is (t0) and whether it stores (live).
 */
const entryHead = (name: string, quad: boolean, u: string) => `@compute @workgroup_size(WG)
fn ${name}(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${quad ? ', @builtin(subgroup_invocation_id) sg_lane: u32' : ''}) {
  set_geometry(${u}.kh, ${u}.kw, ${u}.s, ${u}.p);
  let t0 = flat_index(gid, nwg, WG);
  let live = t0 < ${u}.tiles;`;

/**
 * A forward entry in wide blocks: 4 P pixels x 4 Q output channels per invocation as P x Q
 * blocks of 4x4 in named accumulators (a<p>_<q>: pixel group p, pixels m + 4p.., by channel group
 * q, channels o + 4q..), the reduction four input channels a step as 4x4 matrix products.
 * With `quad`, where the four invocations of a subgroup quad have the same channels (on
 * SwiftShader a quad is one SIMD group of consecutive invocations, so consecutive pixel blocks;
 * the blocks are counted in fours so that every quad does), they share the weights: each loads
 * Q / 4 of the channel groups and broadcasts them to the others, so a step loads 4 P + Q values
 * of x and w per invocation instead of 4 P + 4 Q. Elsewhere each loads all its own. The sums are
 * the same either way, in the same order.
 */
export function fwdWide(name: string, P: number, Q: number, quad: boolean): string {
  const pix = [...Array(P).keys()];
  const ch = [...Array(Q).keys()];
  const own = [...Array(Q / 4).keys()];
  const weights = quad
    ? [
        each(own, (j) => `let u${j} = fwd_w4(w_own${j} + a * KW + b, cc);`, 4),
        each(ch, (q) => `let v${q} = from_lane${Math.floor(q / (Q / 4))}(u${q % (Q / 4)});`, 4),
      ].join('\n    ')
    : each(ch, (q) => `let v${q} = fwd_w4(w${q} + a * KW + b, cc);`, 4);
  // One loop over taps and channels: every trip of a loop costs SwiftShader a masked copy of all
  // the accumulators, so nested loops over a, b and c cost that again at each inner loop's exit.
  const reduction = `var a = 0u;
  var b = 0u;
  var c = 0u;
  for (var steps = KH * KW * ((C + 3u) / 4u); steps > 0u; steps--) {
    let cc = min(vec4<u32>(c) + STEP, vec4<u32>(C - 1u));
    let in_c = vec4<u32>(c) + STEP < vec4<u32>(C);
    ${weights}
    ${each(pix, (p) => `let x${p} = fwd_x4(fwd_tap(px${p}, a, b), cc, in_c, HW); ${ch.map((q) => `a${p}_${q} += v${q} * x${p};`).join(' ')}`, 4)}
    c += 4u;
    if (c >= C) {
      c = 0u;
      b++;
      if (b == KW) {
        b = 0u;
        a++;
      }
    }
  }`;
  return `
${entryHead(name, quad, 'fp')}
  let t = min(t0, fp.tiles - 1u);
  let C = fp.C;
  let HW = fp.H * fp.W;
  let m = (t % fp.blocks) * ${4 * P}u;
  let o = (t / fp.blocks) * ${4 * Q}u;
  ${each(pix, (p) => `let px${p} = fwd_pixels(m + ${4 * p}u);`)}
  ${quad ? '' : each(ch, (q) => `let w${q} = channel_offsets(o + ${4 * q}u, fp.O, C * KH * KW);`)}
  ${each(pix, (p) => ch.map((q) => `var a${p}_${q} = mat4x4<f32>();`).join(' '))}
  ${quad ? each(own, (j) => `let w_own${j} = channel_offsets(o + 4u * (${Q / 4}u * (sg_lane % 4u) + ${j}u), fp.O, C * KH * KW);`) : ''}
  ${reduction}
  ${each(pix, (p) => [...Array(Q / 2).keys()].map((h) => `fwd_store4(live, m + ${4 * p}u, px${p}, o + ${8 * h}u, a${p}_${2 * h}, a${p}_${2 * h + 1});`).join(' '))}
}
`;
}

/**
 * A weight-gradient entry in wide blocks: 16 output x 16 input channels at one tap per
 * invocation as 4 x 4 blocks of 4x4 (a<p>_<q>: output-channel group p, column k output channel
 * o + 4p + k, by input-channel group q), the reduction four columns of dy a step. With `quad`,
 * where quads are in order and the input-channel blocks come in fours (so the four invocations
 * of a quad have the same output channels, tap and rows, and consecutive input channels), they
 * share dy: each loads one of the four output-channel groups and broadcasts it,
 * so a step loads 64 + 16 values per invocation instead of 64 + 64.
 */
export function bwdWeightWide(name: string, quad: boolean): string {
  const groups = [...Array(WIDE_CHANNEL_GROUPS).keys()];
  const accumulate = (p: number) => groups.map((q) => `a${p}_${q} += x${q} * d${p};`).join(' ');
  const dy = quad
    ? `let d_own = dw_d4(yo_own + yr + step, j, tl.cols.y);
      ${each(groups, (p) => `let d${p} = from_lane${p}(d_own); ${accumulate(p)}`, 6)}`
    : each(groups, (p) => `let d${p} = dw_d4(yo${p} + yr + step, j, tl.cols.y); ${accumulate(p)}`, 6);
  return `
${entryHead(name, quad, 'wp')}
  let tl = bwd_w_tile(t0, ${4 * WIDE_CHANNEL_GROUPS}u);
  let HW = wp.H * wp.W;
  let HWo = wp.Ho * wp.Wo;
  ${each(groups, (q) => `let xc${q} = channel_offsets(tl.c + ${4 * q}u, wp.C, HW);`)}
  ${quad ? 'let yo_own = channel_offsets(tl.o + 4u * (sg_lane % 4u), wp.O, HWo);' : each(groups, (p) => `let yo${p} = channel_offsets(tl.o + ${4 * p}u, wp.O, HWo);`)}
  ${each(groups, (p) => groups.map((q) => `var a${p}_${q} = mat4x4<f32>();`).join(' '))}
  let first = tl.chunk * wp.R;
  for (var r = first; r < min(first + wp.R, wp.N * wp.Ho); r++) {
    let n = r / wp.Ho;
    let i = r % wp.Ho;
    if (i < tl.rows.x || i >= tl.rows.y || tl.cols.x >= tl.cols.y) { continue; }
    // Column cols.x of dy row i meets column cols.x S - P + b of x row i S - P + a (tl holds them).
    let xr = n * wp.C * HW + (i * S + tl.a - P) * wp.W + tl.cols.x * S + tl.b - P;
    let yr = n * wp.O * HWo + i * wp.Wo + tl.cols.x;
    for (var j = tl.cols.x; j < tl.cols.y; j += 4u) {
      let step = (j - tl.cols.x);
      ${each(groups, (q) => `let x${q} = dw_x4(xc${q} + xr + step * S, j, tl.cols.y);`, 6)}
      ${dy}
    }
  }
  let base = ((tl.chunk * wp.O + tl.o) * wp.C + tl.c) * KH * KW + tl.tap;
  ${each(groups, (p) => [0, 1].map((h) => `bwd_w_store4(live, base + ${4 * p}u * wp.C * KH * KW + ${8 * h}u * KH * KW, tl.o + ${4 * p}u, tl.c + ${8 * h}u, a${p}_${2 * h}, a${p}_${2 * h + 1});`).join(' '))}
}
`;
}

/**
 * A stride-1 weight-gradient entry over three taps of one kernel row at once: 16 output x 8 input
 * channels x 3 taps per invocation (a<t>_<p>_<q>: tap b0 + t, output-channel group p, input-channel
 * group q), the reduction four columns of dy a step. The three taps read x at columns shifted by
 * one, so a step loads 6 columns of x, not 12, and dy once for all three: 48 + 64 loads for 1536
 * multiply-adds, against conv_bwd_weight_wide's 128 for 1024. With `quad` (the input-channel
 * blocks in fours, quads in order) the four invocations of a quad share dy as in
 * conv_bwd_weight_quad: 48 + 16 loads.
 */
export function bwdWeightTaps(name: string, quad: boolean): string {
  const taps = [...Array(TAPS_PER_BLOCK).keys()];
  const og = [0, 1, 2, 3];
  const cg = [0, 1];
  const cols = [...Array(TAPS_PER_BLOCK + 3).keys()];
  const accumulate = (p: number) => taps.flatMap((t) => cg.map((q) =>
    `a${t}_${p}_${q} += mat4x4<f32>(x${q}_${t}, x${q}_${t + 1}, x${q}_${t + 2}, x${q}_${t + 3}) * d${p};`)).join(' ');
  const dy = quad
    ? `let d_own = dw_d4(yo_own + yr + j, j, wp.Wo);
    ${each(og, (p) => `let d${p} = from_lane${p}(d_own); ${accumulate(p)}`, 4)}`
    : each(og, (p) => `let d${p} = dw_d4(yo${p} + yr + j, j, wp.Wo); ${accumulate(p)}`, 4);
  return `
${entryHead(name, quad, 'wp')}
  var rem = min(t0, wp.tiles - 1u);
  let c = (rem % wp.CQ) * 8u;
  rem /= wp.CQ;
  let groups = KW / ${TAPS_PER_BLOCK}u;
  let g = rem % (KH * groups);
  rem /= KH * groups;
  let o = (rem % wp.OQ) * 16u;
  let chunk = rem / wp.OQ;
  let a = g / groups;
  let b0 = (g % groups) * ${TAPS_PER_BLOCK}u;
  let rows = tap_range(a, wp.H, wp.Ho);
  let HW = wp.H * wp.W;
  let HWo = wp.Ho * wp.Wo;
  ${each(cg, (q) => `let xc${q} = channel_offsets(c + ${4 * q}u, wp.C, HW);`)}
  ${quad ? 'let yo_own = channel_offsets(o + 4u * (sg_lane % 4u), wp.O, HWo);' : each(og, (p) => `let yo${p} = channel_offsets(o + ${4 * p}u, wp.O, HWo);`)}
  ${each(taps, (t) => og.flatMap((p) => cg.map((q) => `var a${t}_${p}_${q} = mat4x4<f32>();`)).join(' '))}
  // The chunk's rows are counted among those the tap row meets (rows.x..rows.y of each image),
  // and its steps of four columns run as one loop: a loop's every trip costs SwiftShader a
  // masked copy of all 384 accumulators, so a nested row loop cost as much as a step per row.
  let nr = max(rows.y - rows.x, 1u);
  let first = min(chunk * wp.R, wp.N * (rows.y - rows.x));
  let last = min(first + wp.R, wp.N * (rows.y - rows.x));
  var n = first / nr;
  var i = rows.x + first % nr;
  var j = 0u;
  for (var k = (last - first) * ((wp.Wo + 3u) / 4u); k > 0u; k--) {
    // Row i of dy meets row i - P + a of x; column j + k, through tap b0 + t, column j + k + b0 + t - P.
    let xr = n * wp.C * HW + (i + a - P) * wp.W;
    let yr = n * wp.O * HWo + i * wp.Wo;
    let u = i32(j + b0) - i32(P);
    ${each(cg, (q) => cols.map((s) => `let x${q}_${s} = dw_xcol(xc${q} + xr, u + ${s});`).join(' '), 4)}
    ${dy}
    j += 4u;
    if (j >= wp.Wo) {
      j = 0u;
      i++;
      if (i == rows.y) {
        i = rows.x;
        n++;
      }
    }
  }
  let base = ((chunk * wp.O + o) * wp.C + c) * KH * KW + a * KW + b0;
  ${each(taps, (t) => og.map((p) => `bwd_w_store4(live, base + ${t}u + ${4 * p}u * wp.C * KH * KW, o + ${4 * p}u, c, a${t}_${p}_0, a${t}_${p}_1);`).join(' '))}
}
`;
}
