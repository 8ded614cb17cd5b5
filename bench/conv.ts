// The convolution benchmark suite, shared by the Node runner (bench/node.ts) and the browser page
// (bench/page.ts), chosen with --suite=conv: GFLOP/s of conv2d, conv2dBackwardInput and
// conv2dBackwardWeight (src/ops/conv.ts) on U-Net- and DCGAN-like layer shapes, each op in both
// of its lowerings (its direct kernels; im2col and the tuned matmul, src/ops/conv-gemm.ts), next
// to the single matmul its im2col form would be, with the same arithmetic (M N K equal),
// measured in the same process with the autotuner's tiling:
//   conv2d               y (M x O) = x_cols (M x K) w^T (K x O)     -> matmul [M, O, K]
//   conv2dBackwardInput  dx_cols (M x K) = dy (M x O) w (O x K)      -> matmul [M, K, O]
//   conv2dBackwardWeight dw (O x K) = dy^T (O x M) x_cols (M x K)    -> matmul [O, K, M]
// with M = N Ho Wo, O output channels, K = C kh kw. The headline figure of each op is that of the
// lowering the engine picks for its class on this adapter (src/ops/conv-tune.ts). FLOPs are
// nominal: 2 M O K, taps that fall on padding counted, as for the matmul; each op's GFLOP/s is
// also given as a share of the adapter's arithmetic peak (bench/peak.ts, measured in the same
// run). The transposed-conv row (a DCGAN generator layer) is given by the conv it transposes:
// its forward is that conv's conv2dBackwardInput.
// Each figure is the median of several timed submits after a warm-up, each submit a loop of
// back-to-back dispatches of one kernel (GPU timestamps when the adapter has them, else the wall
// clock); an op of several dispatches is timed per dispatch and the times added (conv-tune.ts's
// measureConv, which the tuner also uses).
// Quick mode (--quick): one small shape (N 2, 8 -> 8 channels, 8x8, 3x3) for all three ops,
// three short submits per figure: every figure of the suite in seconds on SwiftShader, for CI,
// not for numbers.
// Not here: launching anything, or writing files (the runners do).

import type { Engine } from '../src/engine.js';
import type { TimingSource } from '../src/gpu/profiler.js';
import { CONV_LOWERINGS, type ConvLowering, type ConvRole } from '../src/ops/conv.js';
import { convCase, convProblemClass, convTunable, measureConv, type ConvProblem } from '../src/ops/conv-tune.js';
import { matmulSizeClass, type MatmulTiling } from '../src/ops/matmul.js';
import { measureMatmul, tuneMatmul } from '../src/ops/matmul-tune.js';
import { calibratePeak, shareOfPeak } from './peak.js';
import { measuredOn, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';

/** One convolution's sizes, as conv2d sees them: x (N, C, H, W), w (O, C, k, k), stride, padding. */
export interface ConvGeometry extends ConvProblem {
  name: string;
  /** The layer is the transposed conv of this geometry: its forward is conv2dBackwardInput, its input gradient conv2d. */
  transposed?: boolean;
}

export const CONV_SHAPES: readonly ConvGeometry[] = [
  { name: 'unet 32->32 16x16 3x3', N: 16, C: 32, H: 16, W: 16, O: 32, k: 3, stride: 1, padding: 1 },
  { name: 'unet 64->64 8x8 3x3', N: 16, C: 64, H: 8, W: 8, O: 64, k: 3, stride: 1, padding: 1 },
  { name: 'conv_in 1->32 28x28 3x3', N: 16, C: 1, H: 28, W: 28, O: 32, k: 3, stride: 1, padding: 1 },
  // convTranspose2d (16, 64, 8, 8) -> (16, 32, 16, 16), kernel 4, stride 2, padding 1: the
  // transpose of this conv from (16, 32, 16, 16) to (16, 64, 8, 8).
  { name: 'convT 64->32 8->16 4x4 s2', N: 16, C: 32, H: 16, W: 16, O: 64, k: 4, stride: 2, padding: 1, transposed: true },
];

/** Quick mode's shape: each op once, small enough for CI on SwiftShader. */
export const CONV_QUICK_SHAPES: readonly ConvGeometry[] = [
  { name: 'quick 8->8 8x8 3x3', N: 2, C: 8, H: 8, W: 8, O: 8, k: 3, stride: 1, padding: 1 },
];

export type ConvOpName = 'conv2d' | 'conv2dBackwardInput' | 'conv2dBackwardWeight';
export const CONV_OPS: readonly ConvOpName[] = ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight'];
const ROLE: Record<ConvOpName, ConvRole> = { conv2d: 'forward', conv2dBackwardInput: 'inputGrad', conv2dBackwardWeight: 'weightGrad' };

/** One lowering of one op, as measured. */
export interface LoweringFigures {
  ms: number;
  gflops: number;
  dispatches: number;
}

export interface ConvMeasurement {
  shape: string;
  op: ConvOpName;
  /** The lowering the engine picks for the op's class on this adapter; the next three figures are its. */
  lowering: ConvLowering;
  /** Median ms per op (summed over its dispatches). */
  ms: number;
  gflops: number;
  /** Dispatches the op is made of. */
  dispatches: number;
  /** Each lowering's figures, both measured here whatever the pick. */
  lowerings: Record<ConvLowering, LoweringFigures>;
  /** The matmul of the same arithmetic: [M, N, K] of an (M, K) x (K, N) product. */
  gemm: [number, number, number];
  /** Its tiling: the autotuner's pick for its size class on this adapter. */
  matmulTiling: MatmulTiling;
  matmulMs: number;
  matmulGflops: number;
  /** conv GFLOP/s / matmul GFLOP/s. */
  ratio: number;
  /** conv GFLOP/s / the adapter's arithmetic peak (bench/peak.ts). */
  shareOfPeak: number;
}

export interface ConvSuiteResult extends ResultHeader<'conv'> {
  timing: TimingSource;
  shapes: readonly ConvGeometry[];
  /** The adapter's arithmetic peak, measured in the same run. */
  peakGflops: number;
  results: ConvMeasurement[];
}

/** Every suite's options, and this suite's own; a progress item is one shape and op. */
export interface ConvSuiteOptions extends SuiteOptionsBase {
  /** Shapes (default CONV_SHAPES, or CONV_QUICK_SHAPES in quick mode). */
  shapes?: readonly ConvGeometry[];
}

/** Timing loop sizes: submits of ~150 ms, 5 of them unless a slow kernel would pass 5 s; quick mode's are short. */
const TIMINGS = {
  full: { reps: 5, targetMs: 150, maxPerRep: 256, maxMs: 5000 },
  quick: { reps: 3, targetMs: 10, maxPerRep: 16, maxMs: 300 },
} as const;

export async function runConvSuite(engine: Engine, opts: ConvSuiteOptions): Promise<ConvSuiteResult> {
  const { log, progress } = reporters(opts);
  const shapes = opts.shapes ?? (opts.quick ? CONV_QUICK_SHAPES : CONV_SHAPES);
  const loops = opts.quick ? TIMINGS.quick : TIMINGS.full;
  const results: ConvMeasurement[] = [];
  let timing: TimingSource = 'wall-clock';
  const peak = await calibratePeak(engine, { quick: opts.quick });
  for (const g of shapes) {
    for (const op of CONV_OPS) {
      progress(results.length + 1, shapes.length * CONV_OPS.length, `${g.name} ${op}`);
      const role = ROLE[op];
      const { gemm } = convCase(role, g);
      const flops = 2 * gemm[0] * gemm[1] * gemm[2];
      // The tiling the engine would use for this product: measured once per size class, then cached.
      const [{ pick: tiling }] = await tuneMatmul(engine, { classes: [matmulSizeClass(...gemm)] });
      const mm = await measureMatmul(engine, tiling, gemm, loops);
      const lowerings = {} as Record<ConvLowering, LoweringFigures>;
      for (const lowering of CONV_LOWERINGS) {
        // The gemm lowering's product runs the engine's tiling for its own size class.
        const r = await measureConv(engine, lowering, role, g, loops, engine.tuning);
        lowerings[lowering] = { ms: r.ms, gflops: flops / (r.ms * 1e6), dispatches: r.dispatches };
        timing = r.timing;
      }
      const [{ pick: lowering }] = await convTunable.tune(engine, { classes: [convProblemClass(role, g)] });
      const { ms, gflops, dispatches } = lowerings[lowering];
      results.push({ shape: g.name, op, lowering, ms, gflops, dispatches, lowerings, gemm, matmulTiling: tiling, matmulMs: mm.ms, matmulGflops: mm.gflops, ratio: gflops / mm.gflops, shareOfPeak: shareOfPeak(gflops, peak.gflops) });
      log(
        `${g.name.padEnd(26)} ${op.padEnd(21)} ${CONV_LOWERINGS.map((l) => `${l} ${lowerings[l].gflops.toFixed(2).padStart(6)} GFLOP/s (${lowerings[l].ms.toFixed(3)} ms)`).join('  ')}  ` +
          `picked ${lowering}  matmul [${gemm.join(', ')}] ${mm.gflops.toFixed(2).padStart(6)} GFLOP/s  ratio ${(gflops / mm.gflops).toFixed(2)}`,
      );
    }
  }
  return {
    ...resultHeader('conv', engine, opts),
    timing,
    shapes,
    peakGflops: peak.gflops,
    results,
  };
}

/** A plain-text table: one row per (shape, op), the conv's GFLOP/s next to its matmul's, and the ratio. */
export function formatConvSuite(r: ConvSuiteResult): string {
  const lines = [
    `conv GFLOP/s against matmul of the same arithmetic (the tuned tiling of its size class), ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    `arithmetic peak: ${r.peakGflops.toFixed(2)} GFLOP/s`,
    ['shape', 'x (N,C,H,W) w (O,C,k,k) s/p', 'op', 'picked', 'ms', 'GFLOP/s', 'of peak', 'direct ms', 'gemm ms', 'matmul [M,N,K]', 'tiling', 'matmul GFLOP/s', 'conv/matmul'].join('\t'),
  ];
  for (const m of r.results) {
    const g = r.shapes.find((s) => s.name === m.shape);
    const geo = g ? `(${g.N},${g.C},${g.H},${g.W}) (${g.O},${g.C},${g.k},${g.k}) ${g.stride}/${g.padding}` : '-';
    const role = g?.transposed ? ({ conv2d: ' (convT dx)', conv2dBackwardInput: ' (convT forward)', conv2dBackwardWeight: ' (convT dw)' } as const)[m.op] : '';
    lines.push([
      m.shape, geo, m.op + role, m.lowering, m.ms.toFixed(3), m.gflops.toFixed(2), `${(100 * m.shareOfPeak).toFixed(1)}%`,
      m.lowerings.direct.ms.toFixed(3), m.lowerings.gemm.ms.toFixed(3), `[${m.gemm.join(',')}]`, m.matmulTiling, m.matmulGflops.toFixed(2), `${m.ratio.toFixed(2)}x`,
    ].join('\t'));
  }
  const geo = Math.exp(r.results.reduce((s, m) => s + Math.log(m.ratio), 0) / Math.max(1, r.results.length));
  lines.push(`geometric mean of conv/matmul: ${geo.toFixed(2)}x`);
  return lines.join('\n');
}
