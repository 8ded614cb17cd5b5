// What the bench page draws for each suite: a chart adapter per suite name turns a result into
// chart specs (categories along x, one series per thing compared), and plot.ts draws them. A
// suite without an adapter just shows its table; adding one is a small function in ADAPTERS.
// Any suite whose rows carry `shareOfPeak` also gets a share-of-peak chart, whatever its name.
// Not here: drawing (plot.ts), measuring (bench/), or the page (main.ts).

import type { BenchResult } from '../../bench/registry.js';
import type { SuiteResult } from '../../bench/suite.js';
import type { AttentionSuiteResult } from '../../bench/attention.js';
import type { ConvSuiteResult } from '../../bench/conv.js';
import type { GptSuiteResult } from '../../bench/gpt.js';
import type { DiffusionSuiteResult } from '../../bench/diffusion.js';
import type { GanSuiteResult } from '../../bench/gan.js';
import type { OptimizerSuiteResult } from '../../bench/optimizer.js';
import type { KernelsSuiteResult } from '../../bench/kernels.js';
import type { ColdStartSuiteResult } from '../../bench/coldstart.js';

export interface ChartSeries {
  label: string;
  /** One value per category; null where the series has none. */
  values: (number | null)[];
}

export interface ChartSpec {
  title: string;
  /** One sentence on how to read it. */
  note: string;
  /** 'lines': a quantity against sizes, points joined (bars when there is one size: plot.ts); 'bars': one group of bars per category. */
  kind: 'lines' | 'bars';
  xLabel: string;
  categories: string[];
  yLabel: string;
  series: ChartSeries[];
}

/** The engine's name in legends, next to the TF.js backends. */
export const ENGINE = 'webgpu-train';

const unique = <T>(xs: T[]) => [...new Set(xs)];
const tfjs = (backend: string) => `TF.js ${backend}`;

/** Erases an adapter's own result type so the table can hold every suite's. */
const adapter = <R>(f: (r: R) => ChartSpec[]) => f as unknown as (r: BenchResult) => ChartSpec[];

function matmul(r: SuiteResult): ChartSpec[] {
  const sizes = unique(r.results.map((m) => m.M)).sort((a, b) => a - b);
  const tilings = unique(r.results.map((m) => m.tiling));
  const backends = unique((r.peer ?? []).map((p) => p.backend));
  return [{
    title: 'Matrix products',
    note: `GFLOP/s of n × n by n × n products (higher is better): each tiling, the one the autotuner picked (${r.tuner.pick}) and TensorFlow.js on each backend it could start.`,
    kind: 'lines',
    xLabel: 'n',
    categories: sizes.map(String),
    yLabel: 'GFLOP/s',
    series: [
      ...tilings.map((t) => ({ label: `${t} tiling`, values: sizes.map((s) => r.results.find((m) => m.M === s && m.tiling === t)?.gflops ?? null) })),
      { label: `autotuned pick (${r.tuner.pick})`, values: sizes.map((s) => r.pick[String(s)] ?? null) },
      ...backends.map((b) => ({ label: tfjs(b), values: sizes.map((s) => r.peer?.find((p) => p.backend === b && p.size === s)?.gflops ?? null) })),
    ],
  }];
}

function attention(r: AttentionSuiteResult): ChartSpec[] {
  const Ts = unique(r.results.map((m) => m.T)).sort((a, b) => a - b);
  const at = (impl: string, T: number) => r.results.find((m) => m.impl === impl && m.T === T);
  const both = (f: (m: AttentionSuiteResult['results'][number]) => number, what: string) =>
    (['fused', 'unfused'] as const).map((impl) => ({ label: `${impl} ${what}`, values: Ts.map((T) => { const m = at(impl, T); return m ? f(m) : null; }) }));
  const { B, H, hs } = r.shape;
  return [
    {
      title: 'Causal attention, time',
      note: `Milliseconds per pass at B ${B}, H ${H}, hs ${hs} (lower is better): the fused kernels (${r.layout} layout) against matmul, mask, softmax and matmul as separate ops.`,
      kind: 'lines',
      xLabel: 'sequence length T',
      categories: Ts.map(String),
      yLabel: 'ms',
      series: [...both((m) => m.fwdMs, 'forward'), ...both((m) => m.fwdBwdMs, 'forward + backward')],
    },
    {
      title: 'Causal attention, memory',
      note: 'MiB of intermediates each compiled plan holds at its peak: the unfused form keeps the T × T scores; the fused one never writes them out.',
      kind: 'lines',
      xLabel: 'sequence length T',
      categories: Ts.map(String),
      yLabel: 'MiB',
      series: [...both((m) => m.fwdPeakBytes / 2 ** 20, 'forward'), ...both((m) => m.fwdBwdPeakBytes / 2 ** 20, 'forward + backward')],
    },
  ];
}

const CONV_OP = { conv2d: 'forward', conv2dBackwardInput: 'dx', conv2dBackwardWeight: 'dw' } as const;

function conv(r: ConvSuiteResult): ChartSpec[] {
  return [{
    title: 'Convolutions against their matmul',
    note: `GFLOP/s of each convolution op (forward, input gradient dx, weight gradient dw) in both of its lowerings, its direct kernels and im2col into the tuned matmul, next to the single matmul of the same arithmetic (the tuned tiling of its size class): a conv bar near its matmul means the kernel loses little to its gather.`,
    kind: 'bars',
    xLabel: 'shape and op',
    categories: r.results.map((m) => `${m.shape} ${CONV_OP[m.op]}`),
    yLabel: 'GFLOP/s',
    series: [
      { label: 'direct kernels', values: r.results.map((m) => m.lowerings.direct.gflops) },
      { label: 'im2col + matmul', values: r.results.map((m) => m.lowerings.gemm.gflops) },
      { label: 'matmul, same M N K', values: r.results.map((m) => m.matmulGflops) },
    ],
  }];
}

/** A step's ms by row for the engine and each TF.js backend: the shape of the three model suites. */
function stepBars<Row, Peer extends { backend: string }>(
  title: string, note: string, xLabel: string,
  rows: Row[], label: (m: Row) => string, ms: (m: Row) => number,
  peer: Peer[] | undefined, peerMs: (p: Peer, m: Row) => number | null,
): ChartSpec {
  const backends = unique((peer ?? []).map((p) => p.backend));
  return {
    title,
    note: `${note} Lower is better.`,
    kind: 'bars',
    xLabel,
    categories: rows.map(label),
    yLabel: 'ms',
    series: [
      { label: ENGINE, values: rows.map(ms) },
      ...backends.map((b) => ({
        label: tfjs(b),
        values: rows.map((m) => (peer ?? []).filter((p) => p.backend === b).map((p) => peerMs(p, m)).find((v) => v !== null) ?? null),
      })),
    ],
  };
}

const gpt = (r: GptSuiteResult) => [stepBars(
  'GPT training step', `Milliseconds per training step (forward, backward, AdamW) at batch ${r.shape.batch}, per model preset.`, 'preset',
  r.results, (m) => `${m.preset} ${m.precision} (${m.nLayer} layers, C ${m.nEmbd})`, (m) => m.msPerStep,
  // The peer is an f32 model: it stands beside the f32 rows only.
  r.peer, (p, m) => (p.preset === m.preset && m.precision === 'f32' ? p.msPerStep : null),
)];

const diffusion = (r: DiffusionSuiteResult) => [stepBars(
  'Diffusion training step', 'Milliseconds per denoiser training step; TensorFlow.js has the 2D MLP only.', 'model',
  r.results, (m) => `${m.model ?? 'mlp'} batch ${m.batch ?? r.shape.batch}`, (m) => m.msPerStep,
  r.peer, (p, m) => ((m.model ?? 'mlp') === 'mlp' ? p.msPerStep : null),
)];

const gan = (r: GanSuiteResult) => [stepBars(
  'GAN training iteration', `Milliseconds per iteration (one discriminator and one generator step at batch ${r.shape.batch}), per loss.`, 'loss',
  r.results, (m) => m.loss, (m) => m.msPerIteration,
  r.peer, (p, m) => (p.loss === m.loss ? p.msPerIteration : null),
)];

function optimizer(r: OptimizerSuiteResult): ChartSpec[] {
  // Rows are named '<kind> <count>' ('adamw 5M'): the count is the x axis, the kind a series.
  const count = (name: string) => name.split(' ').slice(1).join(' ');
  const counts = unique(r.results.map((m) => count(m.name)));
  const kinds = unique(r.results.map((m) => m.kind));
  return [{
    title: 'Optimizer updates',
    note: 'GB/s of each fused update (parameters, gradients and moments read and written once, higher is better) by parameter count, under the copy bandwidth measured on this adapter.',
    kind: 'lines',
    xLabel: 'parameters',
    categories: counts,
    yLabel: 'GB/s',
    series: [
      ...kinds.map((k) => ({ label: k, values: counts.map((c) => r.results.find((m) => m.kind === k && count(m.name) === c)?.gbPerSecond ?? null) })),
      { label: 'copy peak', values: counts.map(() => r.peakGbPerSecond) },
    ],
  }];
}

function kernels(r: KernelsSuiteResult): ChartSpec[] {
  const backends = unique((r.peer ?? []).map((p) => p.backend));
  return [{
    title: 'Row kernels',
    note: 'GB/s of softmax, layer norm and cross-entropy, each at the least traffic its pass must make (higher is better), beside TensorFlow.js on the same shapes.',
    kind: 'bars',
    xLabel: 'kernel and shape',
    categories: r.results.map((m) => `${m.name} ${m.shape}`),
    yLabel: 'GB/s',
    series: [
      { label: ENGINE, values: r.results.map((m) => m.gbPerSecond) },
      ...backends.map((b) => ({
        label: tfjs(b),
        values: r.results.map((m) => r.peer?.find((p) => p.backend === b && p.name === m.name && p.shape === m.shape)?.gbPerSecond ?? null),
      })),
    ],
  }];
}

const coldstart = (r: ColdStartSuiteResult): ChartSpec[] => [{
  title: 'Cold start',
  note: `Seconds from createEngine(), nothing cached, to the ${r.preset} GPT's first step, its second and the plan settled on the kernels it keeps, per tuning mode. Lower is better.`,
  kind: 'bars',
  xLabel: 'tune',
  categories: r.results.map((m) => m.mode),
  yLabel: 's',
  series: [
    { label: 'first step', values: r.results.map((m) => m.firstStepMs / 1000) },
    { label: 'second step', values: r.results.map((m) => m.secondStepMs / 1000) },
    { label: 'settled', values: r.results.map((m) => m.settledMs / 1000) },
  ],
}];

/** Chart adapters by suite name (the peak suite's two figures go to the adapter panel instead: see peakOf). */
export const ADAPTERS: Record<string, (r: BenchResult) => ChartSpec[]> = {
  matmul: adapter(matmul),
  attention: adapter(attention),
  conv: adapter(conv),
  gpt: adapter(gpt),
  coldstart: adapter(coldstart),
  diffusion: adapter(diffusion),
  gan: adapter(gan),
  optimizer: adapter(optimizer),
  kernels: adapter(kernels),
};

/**
 * The adapter's measured peak, from any result that carries it: the peak suite's own figures, or
 * the calibration a suite makes for its shares of peak (`peak` in kernels, `peakGflops` in
 * matmul and conv, `peakGbPerSecond` in optimizer).
 */
export function peakOf(r: BenchResult): { gflops?: number; gbPerSecond?: number } | null {
  const x = r as unknown as {
    gflops?: unknown; gbPerSecond?: unknown; peak?: { gflops?: unknown; gbPerSecond?: unknown }; peakGflops?: unknown; peakGbPerSecond?: unknown;
  };
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const found = r.suite === 'peak' ? { gflops: num(x.gflops), gbPerSecond: num(x.gbPerSecond) }
    : { gflops: num(x.peak?.gflops) ?? num(x.peakGflops), gbPerSecond: num(x.peak?.gbPerSecond) ?? num(x.peakGbPerSecond) };
  return found.gflops !== undefined || found.gbPerSecond !== undefined ? found : null;
}

/** Fields that name a row, as bench/compare.ts keys them. */
const IDENTIFYING = ['name', 'shape', 'op', 'tiling', 'size', 'preset', 'model', 'loss', 'backend', 'T', 'label'];

type Row = Record<string, unknown>;
/** A row's identifying fields, each left out when an earlier one already says it ('softmax forward', then op 'softmax'). */
function rowLabel(row: Row, i: number): string {
  let label = '';
  for (const v of IDENTIFYING.map((k) => row[k])) {
    if ((typeof v === 'string' || typeof v === 'number') && !label.includes(String(v))) label = label ? `${label} ${v}` : String(v);
  }
  return label || `row ${i + 1}`;
}

/** A chart of every row's share of the adapter's measured peak, for results whose rows have one. */
function shareOfPeak(r: BenchResult): ChartSpec[] {
  const rows = Object.values(r)
    .filter((v): v is Row[] => Array.isArray(v))
    .flat()
    .filter((row): row is Row => typeof row === 'object' && row !== null && typeof (row as Row).shareOfPeak === 'number');
  if (!rows.length) return [];
  return [{
    title: 'Share of peak',
    note: "Each row's rate as a percentage of what this adapter was measured to reach at best (arithmetic or memory bandwidth, whichever bounds the kernel).",
    kind: 'bars',
    xLabel: 'row',
    categories: rows.map(rowLabel),
    yLabel: '% of peak',
    series: [{ label: 'share of peak', values: rows.map((row) => 100 * (row.shareOfPeak as number)) }],
  }];
}

/** Every chart for a result: its suite's own (none for a suite without an adapter) and share of peak. */
export function chartsFor(r: BenchResult): ChartSpec[] {
  return [...(ADAPTERS[r.suite]?.(r) ?? []), ...shareOfPeak(r)];
}
