// The matmul benchmark suite, shared by the Node runner (bench/node.ts) and the browser page
// (bench/page.ts, run headless by bench/browser.ts): GFLOP/s of matrix products for each tiling
// and for the autotuner's pick, on whatever adapter the engine has, in three tables:
// - square products (M = N = K), by size;
// - the transformer's real products: every matmul of one GPT training step (src/models/gpt.ts)
//   at the transformer demo's default preset and batch: the qkv, attention output, MLP up and
//   down projections and the LM head tied to the embedding (x wte^T), each forward with its
//   input gradient dX = dY W^T (b transposed) and weight gradient dW = X^T dY (a transposed);
// - the transpositions A^T.B, A.B^T and A^T.B^T against A.B at one square size, each also as a
//   ratio to A.B's GFLOP/s with the same tiling: what reading an operand transposed costs.
// The tuner runs first, always measuring (its caches neither read nor written): its pick per
// size class and how much the pick won over the other tiling at the class's representative
// product. A product's pick is its size class's. Each figure is the median of several timed
// submits after a warm-up, each submit a loop of back-to-back dispatches (GPU timestamps when
// the adapter has them, else the wall clock); figures are also given as a share of the
// adapter's arithmetic peak (bench/peak.ts). Products are timed bare: the bias, activation or
// residual a model's matmul fuses into its epilogue is left out.
// Quick mode (--quick): size 128 only, two of the tiny preset's products, the transpositions at
// 64, three short submits per figure, and the tuner on the small and medium classes (the large
// one's 1024^3 takes seconds on SwiftShader): every figure of the suite in seconds on
// SwiftShader, for CI, not for numbers.
// Not here: the TensorFlow.js peer (bench/peer-tfjs.ts), launching anything, or writing files.

import type { Engine } from '../src/engine.js';
import type { PeerMeasurement } from './peer-tfjs.js';
import { calibratePeak, shareOfPeak } from './peak.js';
import { measuredOn, reporters, resultHeader, type ResultHeader, type SuiteOptionsBase } from './common.js';
import {
  MATMUL_SIZE_CLASSES,
  MATMUL_BLOCK_TILINGS,
  matmulTilingsFor,
  matmulSizeClass,
  MATMUL_CHOICES,
  type MatmulSizeClass,
  type MatmulTiling,
} from '../src/ops/matmul.js';
import { matmulCandidates, measureMatmul, tuneMatmul, type MatmulMeasurement, type TimingSource } from '../src/ops/matmul-tune.js';
import { gptPresets, type GptPresetName } from '../src/models/gpt.js';
import { trainerDefaults } from '../src/tasks/gpt/protocol.js';
import { GPT_BENCH_SHAPE } from './gpt.js';

export const SIZES = [256, 512, 1024] as const;
/** Quick mode's size: big enough that every tiling runs full tiles. */
export const QUICK_SIZES = [128] as const;

/** Timing loop sizes: submits of ~200 ms; quick mode's are short and few. */
const TIMING = {
  full: { reps: 7, targetMs: 200, maxPerRep: 1024, maxMs: 10_000 },
  quick: { reps: 3, targetMs: 20, maxPerRep: 64, maxMs: 1000 },
} as const;

/** One product op(A) op(B) of the shapes and transpositions tables: (M x K) times (K x N). */
export interface MatmulProduct {
  /** What it is, then its operands as stored ('^T': read transposed): 'gpt-tiny fc up dW (512x64^T . 512x256)'. */
  name: string;
  M: number;
  N: number;
  K: number;
  /** a is stored (K, M). */
  transA: boolean;
  /** b is stored (N, K). */
  transB: boolean;
}

/** The transformer whose training step's products the shapes table times. */
export interface GptMatmulShape {
  /** A preset of src/models/gpt.ts: C is its nEmbd, T its blockSize. */
  preset: GptPresetName;
  /** Windows per step (B): the products' rows are B T tokens. */
  batch: number;
  /** Vocabulary (V): the LM head's width. */
  vocabSize: number;
}

/** The transformer demo's defaults (preset and batch), with the gpt suite's character vocabulary. */
export const GPT_MATMUL_SHAPE: GptMatmulShape = { preset: trainerDefaults.preset, batch: trainerDefaults.batch, vocabSize: GPT_BENCH_SHAPE.vocabSize };
/** Quick mode's transformer: the tiny preset, whatever the demo defaults to. */
export const GPT_MATMUL_QUICK_SHAPE: GptMatmulShape = { ...GPT_MATMUL_SHAPE, preset: 'tiny' };
/** Quick mode's products of it (in gptMatmulProducts' order): one with a and one with b transposed. */
export const GPT_MATMUL_QUICK_PRODUCTS: readonly string[] = ['fc up dW', 'lm head fwd'];

/** The square size of the transpositions table, and quick mode's. */
export const TRANSPOSE_SIZE = 256;
export const QUICK_TRANSPOSE_SIZE = 64;

function product(what: string, M: number, N: number, K: number, transA: boolean, transB: boolean): MatmulProduct {
  const a = transA ? `${K}x${M}^T` : `${M}x${K}`;
  const b = transB ? `${N}x${K}^T` : `${K}x${N}`;
  return { name: `${what} (${a} . ${b})`, M, N, K, transA, transB };
}

/**
 * The matmuls of one training step of `g` as gpt.ts builds it (the (B, T, C) activations fold
 * into B T rows), each layer's forward, input gradient and weight gradient. `only` keeps the
 * products named so ('fc up dW'); default all.
 */
export function gptMatmulProducts(g: GptMatmulShape, only?: readonly string[]): MatmulProduct[] {
  const { nEmbd: C, blockSize: T } = gptPresets[g.preset];
  const [BT, V] = [g.batch * T, g.vocabSize];
  const all: [string, MatmulProduct][] = [];
  const add = (what: string, ...mnk: [number, number, number, boolean, boolean]) => all.push([what, product(`gpt-${g.preset} ${what}`, ...mnk)]);
  // Linear weights are (C_in, C_out): y = x W, dX = dY W^T, dW = X^T dY.
  const linears: [string, number, number][] = [['qkv', C, 3 * C], ['attn proj', C, C], ['fc up', C, 4 * C], ['fc down', 4 * C, C]];
  for (const [layer, cin, cout] of linears) {
    add(`${layer} fwd`, BT, cout, cin, false, false); // (BT, cin) . (cin, cout)
    add(`${layer} dX`, BT, cin, cout, false, true); // (BT, cout) . (cin, cout)^T
    add(`${layer} dW`, cin, cout, BT, true, false); // (BT, cin)^T . (BT, cout)
  }
  // The head is tied to wte (V, C): logits = x wte^T, dX = dLogits wte, dWte = dLogits^T x.
  add('lm head fwd', BT, V, C, false, true);
  add('lm head dX', BT, C, V, false, false);
  add('lm head dW', V, C, BT, true, false);
  return all.filter(([what]) => !only || only.includes(what)).map(([, p]) => p);
}

/** A.B, A^T.B, A.B^T and A^T.B^T at n^3, A.B first. */
export function transposedProducts(n: number): MatmulProduct[] {
  return [[false, false], [true, false], [false, true], [true, true]].map(([ta, tb]) =>
    product(`${ta ? 'A^T' : 'A'}.${tb ? 'B^T' : 'B'}`, n, n, n, ta, tb),
  );
}

/** The products of the shapes and transpositions tables for these options (the peer times the same). */
export function matmulProducts(opts: Pick<SuiteOptions, 'quick' | 'gpt' | 'transposeSize'> = {}): { shapes: MatmulProduct[]; transpositions: MatmulProduct[] } {
  const gpt = opts.gpt ?? (opts.quick ? GPT_MATMUL_QUICK_SHAPE : GPT_MATMUL_SHAPE);
  return {
    shapes: gptMatmulProducts(gpt, opts.quick ? GPT_MATMUL_QUICK_PRODUCTS : undefined),
    transpositions: transposedProducts(opts.transposeSize ?? (opts.quick ? QUICK_TRANSPOSE_SIZE : TRANSPOSE_SIZE)),
  };
}

/** One product timed with one tiling. */
export interface ProductMeasurement extends MatmulMeasurement {
  name: string;
  transA: boolean;
  transB: boolean;
  /** The product's size class. */
  sizeClass: MatmulSizeClass;
  /** The autotuner's tiling for that class: the row whose tiling is this one is the engine's figure. */
  pick: MatmulTiling;
  /** GFLOP/s over the adapter's arithmetic peak (bench/peak.ts). */
  shareOfPeak: number;
}

/** A transposition variant timed with one tiling. */
export interface TranspositionMeasurement extends ProductMeasurement {
  /** GFLOP/s over A.B's with the same tiling (1 for A.B itself): what the transposition costs. */
  ratio: number;
}

export interface SuiteResult extends ResultHeader<'matmul'> {
  timing: TimingSource;
  tuner: TunerSummary;
  /** One row per size and tiling (`size` is M = N = K). */
  results: (MatmulMeasurement & { size: number })[];
  /** GFLOP/s of the picked tiling by size. */
  pick: Record<string, number>;
  /** The adapter's arithmetic peak (bench/peak.ts), and the pick's share of it by size. */
  peakGflops: number;
  shareOfPeak: Record<string, number>;
  /** The transformer whose products `shapes` holds. */
  gpt: GptMatmulShape;
  /** One row per product of its training step and tiling. */
  shapes: ProductMeasurement[];
  /** The square size (M = N = K) of `transpositions`. */
  transposeSize: number;
  /** One row per transposition variant and tiling. */
  transpositions: TranspositionMeasurement[];
  /** TensorFlow.js on the same machine and products, when the runner measured it (browser only). */
  peer?: PeerMeasurement[];
}

/** The autotuner as the suite ran it: per size class, the pick and by how much it won. */
export interface TunerSummary {
  /** The picks in words: one tiling when every class took it, else 'small register, medium shared'. */
  pick: string;
  /** Time the tuner took over every class it measured. */
  ms: number;
  /** Time each class took (every tiling, warm-ups and pipeline builds included). */
  classMs: Partial<Record<MatmulSizeClass, number>>;
  /** The tiling picked for each class measured. */
  picks: Partial<Record<MatmulSizeClass, MatmulTiling>>;
  /** The representative product measured for each class, 'MxNxK'. */
  shapes: Partial<Record<MatmulSizeClass, string>>;
  /** GFLOP/s of each tiling at each class's product: gflops[tiling][class]. */
  gflops: Partial<Record<MatmulTiling, Partial<Record<MatmulSizeClass, number>>>>;
  /** Each class's pick over the slowest tiling there (GFLOP/s over GFLOP/s): by how much it won. */
  speedup: Partial<Record<MatmulSizeClass, number>>;
}

/** Every suite's options, and this suite's own; a progress item is the tuner, then each size or product and tiling. */
export interface SuiteOptions extends SuiteOptionsBase {
  /** Sizes (default SIZES, or QUICK_SIZES in quick mode). */
  sizes?: readonly number[];
  /** The transformer of the shapes table (default GPT_MATMUL_SHAPE; quick: two products of GPT_MATMUL_QUICK_SHAPE's). */
  gpt?: GptMatmulShape;
  /** The transpositions table's size (default TRANSPOSE_SIZE, or QUICK_TRANSPOSE_SIZE in quick mode). */
  transposeSize?: number;
}

/** The tuner, measuring each class anew; quick mode leaves out the large class unless a size needs it. */
async function runTuner(engine: Engine, classes: MatmulSizeClass[], step: (c: MatmulSizeClass) => void): Promise<TunerSummary> {
  const t: TunerSummary = { pick: '', ms: 0, classMs: {}, picks: {}, shapes: {}, gflops: {}, speedup: {} };
  for (const c of classes) {
    step(c);
    const t0 = performance.now();
    const [r] = await tuneMatmul(engine, { classes: [c], force: true, cache: false });
    t.classMs[c] = performance.now() - t0;
    t.ms += t.classMs[c]!;
    t.picks[c] = r.pick;
    t.shapes[c] = r.shape.join('x');
    t.speedup[c] = r.speedup;
    for (const tiling of matmulCandidates(engine.gpu.adapter.isSoftware, engine.gpu.features)) (t.gflops[tiling] ??= {})[c] = r.gflops[tiling];
  }
  const picked = classes.map((c) => t.picks[c]!);
  t.pick = new Set(picked).size === 1 ? picked[0] : classes.map((c, i) => `${c} ${picked[i]}`).join(', ');
  return t;
}

export async function runMatmulSuite(engine: Engine, opts: SuiteOptions): Promise<SuiteResult> {
  const { log, progress } = reporters(opts);
  const sizes = opts.sizes ?? (opts.quick ? QUICK_SIZES : SIZES);
  const timing = opts.quick ? TIMING.quick : TIMING.full;
  const gpt = opts.gpt ?? (opts.quick ? GPT_MATMUL_QUICK_SHAPE : GPT_MATMUL_SHAPE);
  const transposeSize = opts.transposeSize ?? (opts.quick ? QUICK_TRANSPOSE_SIZE : TRANSPOSE_SIZE);
  const products = matmulProducts({ ...opts, gpt, transposeSize });
  const all = [...products.shapes, ...products.transpositions];
  const classOf = (p: Pick<MatmulProduct, 'M' | 'N' | 'K'>) => matmulSizeClass(p.M, p.N, p.K);
  const needed = new Set([...sizes.map((s) => classOf({ M: s, N: s, K: s })), ...all.map(classOf)]);
  const classes = MATMUL_SIZE_CLASSES.filter((c) => !opts.quick || c !== 'large' || needed.has(c));
  // The block tilings this adapter runs as themselves ('quad' needs subgroups).
  const tilings = matmulTilingsFor(engine.gpu.features);
  const total = classes.length + (sizes.length + all.length) * tilings.length;
  let item = 0;
  const tuner = await runTuner(engine, classes, (c) => progress(++item, total, `autotuner: ${c}`));
  for (const c of classes) {
    const others = matmulCandidates(engine.gpu.adapter.isSoftware, engine.gpu.features).filter((x) => x !== tuner.picks[c]).join(', ');
    log(`tuner: ${c.padEnd(6)} (${tuner.shapes[c]}) picked '${tuner.picks[c]}', ${tuner.speedup[c]!.toFixed(2)}x the GFLOP/s of ${others} (${(tuner.classMs[c]! / 1000).toFixed(1)} s)`);
  }
  // The pick for a product is its class's (the engine's choice for a class the tuner left out).
  const pickFor = (c: MatmulSizeClass) => tuner.picks[c] ?? MATMUL_CHOICES.choose(engine.env, c);
  const results: SuiteResult['results'] = [];
  for (const size of sizes) {
    for (const tiling of tilings) {
      progress(++item, total, `${tiling} ${size}`);
      // Submits of ~200 ms amortise their overhead; a long warm-up means a slow tiling on a
      // slow adapter, where three submits of one dispatch are enough.
      const r = await measureMatmul(engine, tiling, [size, size, size], timing);
      results.push({ ...r, size });
      log(`${tiling.padEnd(8)} ${String(size).padStart(5)}  ${r.gflops.toFixed(2).padStart(8)} GFLOP/s  (${r.reps} x ${r.perRep} dispatches, ${r.timing})`);
    }
  }
  // Shares of peak come after the peak, measured once every product has been.
  const measured: Omit<ProductMeasurement, 'shareOfPeak'>[] = [];
  for (const p of all) {
    for (const tiling of tilings) {
      progress(++item, total, `${tiling} ${p.name}`);
      const r = await measureMatmul(engine, tiling, [p.M, p.N, p.K], timing, p);
      measured.push({ ...r, name: p.name, transA: p.transA, transB: p.transB, sizeClass: classOf(p), pick: pickFor(classOf(p)) });
      log(`${tiling.padEnd(8)} ${p.name}  ${r.gflops.toFixed(2)} GFLOP/s  (${r.reps} x ${r.perRep} dispatches)`);
    }
  }
  const pick: Record<string, number> = {};
  for (const r of results) if (r.tiling === pickFor(classOf(r))) pick[String(r.size)] = r.gflops;
  const peak = await calibratePeak(engine, { quick: opts.quick });
  const shares = Object.fromEntries(Object.entries(pick).map(([size, g]) => [size, shareOfPeak(g, peak.gflops)]));
  const rows = measured.map((m) => ({ ...m, shareOfPeak: shareOfPeak(m.gflops, peak.gflops) }));
  const names = new Set(products.transpositions.map((p) => p.name));
  const transpositions = rows.filter((m) => names.has(m.name));
  const plainAt = (t: MatmulTiling) => transpositions.find((m) => !m.transA && !m.transB && m.tiling === t)!.gflops;
  return {
    ...resultHeader('matmul', engine, opts),
    timing: results[0]?.timing ?? rows[0].timing,
    tuner,
    results,
    pick,
    peakGflops: peak.gflops,
    shareOfPeak: shares,
    gpt,
    shapes: rows.filter((m) => !names.has(m.name)),
    transposeSize,
    transpositions: transpositions.map((m) => ({ ...m, ratio: m.gflops / plainAt(m.tiling) })),
  };
}

const percent = (share: number | undefined) => (share === undefined ? '-' : `${(100 * share).toFixed(1)}%`);

/**
 * A table of products, one line each: every tiling's GFLOP/s, the pick's (and which it is) with
 * its share of peak, `extra`'s column, and TensorFlow.js per backend with the pick's ratio to it.
 */
function productTable<R extends ProductMeasurement>(
  rows: R[],
  peer: PeerMeasurement[] | undefined,
  extra?: { title: string; cell: (pick: R) => string },
): string[] {
  const backends = [...new Set((peer ?? []).map((p) => p.backend))];
  const lines = [
    ['product', 'class', ...MATMUL_BLOCK_TILINGS, 'pick', 'of peak', ...(extra ? [extra.title] : []), ...backends.flatMap((b) => [`tfjs-${b}`, `pick/tfjs-${b}`])].join('\t'),
  ];
  for (const name of new Set(rows.map((x) => x.name))) {
    const own = rows.filter((x) => x.name === name);
    const pick = own.find((x) => x.tiling === x.pick);
    const peers = backends.flatMap((b) => {
      const g = peer?.find((p) => p.backend === b && p.name === name)?.gflops;
      return [g?.toFixed(2) ?? '-', g && pick ? `${(pick.gflops / g).toFixed(2)}x` : '-'];
    });
    lines.push(
      [
        name,
        own[0].sizeClass,
        ...MATMUL_BLOCK_TILINGS.map((t) => own.find((x) => x.tiling === t)?.gflops.toFixed(2) ?? '-'),
        pick ? `${pick.gflops.toFixed(2)} (${pick.tiling})` : '-',
        percent(pick?.shareOfPeak),
        ...(extra ? [pick ? extra.cell(pick) : '-'] : []),
        ...peers,
      ].join('\t'),
    );
  }
  return lines;
}

/**
 * A plain-text table of a result: the tuner's line per size class (each tiling's GFLOP/s at the
 * class's product, the pick and by how much it won), then one row per size, one column per
 * tiling, the pick, and, when the peer ran, TensorFlow.js per backend and the pick's ratio to
 * each; then the same for the transformer's products and for the transpositions, the latter
 * with the pick's GFLOP/s as a ratio to A.B's.
 */
export function formatSuite(r: SuiteResult): string {
  const sizes = [...new Set(r.results.map((x) => x.size))];
  const backends = [...new Set((r.peer ?? []).filter((p) => p.size !== undefined).map((p) => p.backend))];
  const peerAt = (b: string, s: number) => r.peer?.find((p) => p.backend === b && p.size === s)?.gflops;
  const { nEmbd: C, blockSize: T } = gptPresets[r.gpt.preset];
  const lines = [
    `matmul GFLOP/s, ${measuredOn(r)}, timing: ${r.timing}, ${r.date}`,
    `tuner: ${r.tuner.pick} (${(r.tuner.ms / 1000).toFixed(1)} s, measured anew)`,
    ['class', 'product', ...MATMUL_BLOCK_TILINGS, 'pick', 'won by'].join('\t'),
    ...(Object.keys(r.tuner.picks) as MatmulSizeClass[]).map((c) =>
      [
        c,
        r.tuner.shapes[c] ?? '-',
        ...MATMUL_BLOCK_TILINGS.map((t) => r.tuner.gflops[t]?.[c]?.toFixed(2) ?? '-'),
        r.tuner.picks[c],
        `${r.tuner.speedup[c]?.toFixed(2) ?? '-'}x`,
      ].join('\t'),
    ),
    '',
    `arithmetic peak: ${r.peakGflops.toFixed(2)} GFLOP/s`,
    ['size', ...MATMUL_BLOCK_TILINGS, 'pick', 'of peak', ...backends.flatMap((b) => [`tfjs-${b}`, `pick/tfjs-${b}`])].join('\t'),
  ];
  for (const s of sizes) {
    const cell = (t: MatmulTiling) => r.results.find((x) => x.size === s && x.tiling === t)?.gflops.toFixed(2) ?? '-';
    const pick = r.pick[String(s)];
    const peers = backends.flatMap((b) => {
      const g = peerAt(b, s);
      return [g?.toFixed(2) ?? '-', g && pick ? `${(pick / g).toFixed(2)}x` : '-'];
    });
    lines.push([String(s), ...MATMUL_BLOCK_TILINGS.map(cell), pick?.toFixed(2) ?? '-', percent(r.shareOfPeak[String(s)]), ...peers].join('\t'));
  }
  lines.push('', `the transformer's products: gpt-${r.gpt.preset} (B ${r.gpt.batch}, T ${T}, C ${C}, V ${r.gpt.vocabSize}), one training step`);
  lines.push(...productTable(r.shapes, r.peer));
  lines.push('', `transpositions at ${r.transposeSize}^3 ('^T': the operand is read transposed)`);
  lines.push(...productTable(r.transpositions, r.peer, { title: 'pick/A.B', cell: (p) => `${p.ratio.toFixed(2)}x` }));
  return lines.join('\n');
}
