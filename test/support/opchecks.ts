// Registry-driven op checks, shared by the Node tests and the browser page and worker:
// every case of every op runs on the GPU and is compared with the op's float64 CPU reference,
// and its backward rule (run on the GPU) is compared with central finite differences of that
// reference. Returns results instead of asserting, so each environment reports its own way.
//
// Tolerances. Forward: |gpu - cpu| <= tol * (1 + |cpu|) elementwise, tol = 1e-4 by default:
// inputs are f32-rounded before the reference runs, so the only difference is f32 arithmetic
// (relative error ~1e-7 per op, growing with reduction length and transcendental accuracy).
// Gradient: max|analytic - numeric| <= gradTol * max(1, max|numeric|), gradTol = 2e-3 by
// default: the numeric side is float64 with step 1e-3 (truncation error ~1e-6 on smooth ops),
// the analytic side is f32 through a chain of kernels.

import { registry } from '../../src/ops/index.js';
import type { HostTensor, OpCase, OpDef } from '../../src/ops/types.js';
import { gradients } from '../../src/autograd.js';
import { apply, constant, numel, type Tensor, type TensorSpec } from '../../src/tensor.js';
import type { Engine } from '../../src/engine.js';
import { mulberry32 } from '../../src/data/random.js';
import { roundToHalf } from '../../src/half.js';

export interface CheckResult {
  op: string;
  case: string;
  ok: boolean;
  detail: string;
}

export interface CheckOptions {
  filter?: (opName: string) => boolean;
  grad?: boolean;
  seed?: number;
}

/** Cases draw from a seeded generator, so failures reproduce. */
export { mulberry32 as seededRandom } from '../../src/data/random.js';

function defaultInput(spec: TensorSpec, rand: () => number): HostTensor {
  const n = numel(spec.shape);
  if (spec.dtype === 'i32') {
    return { ...spec, data: Int32Array.from({ length: n }, () => Math.floor(rand() * 8)) };
  }
  return { ...spec, data: Float64Array.from({ length: n }, () => rand() * 2 - 1) };
}

/** d loss / d x[k] for every k by central differences, nudging x in place (restored after). */
export function centralDifferences(x: Float64Array, loss: () => number, h = 1e-3): Float64Array {
  return Float64Array.from(x, (keep, k) => {
    x[k] = keep + h;
    const up = loss();
    x[k] = keep - h;
    const down = loss();
    x[k] = keep;
    return (up - down) / (2 * h);
  });
}

/** Draws a case's inputs, with floats rounded to f32 (or f16) so GPU and CPU see the same values. */
export function drawInputs(c: OpCase<object>, rand: () => number): HostTensor[] {
  return c.inputs.map((spec, i) => {
    const h = c.gen ? c.gen(i, spec, rand) : defaultInput(spec, rand);
    if (h.data instanceof Float64Array) h.data = h.data.map(spec.dtype === 'f16' ? roundToHalf : Math.fround);
    return h;
  });
}

const toConstant = (h: HostTensor): Tensor => constant(h.data, h.shape, h.dtype);

function caseName(c: OpCase<object>, i: number): string {
  return c.name ?? `#${i} ${c.inputs.map((s) => `[${s.shape.join(',')}]${s.dtype === 'i32' ? 'i' : ''}`).join(' ')}`;
}

function maxErr(gpu: ArrayLike<number>, cpu: ArrayLike<number>, tol: number): { bad: number; worst: string } {
  let bad = -1;
  let worstRatio = 0;
  for (let k = 0; k < cpu.length; k++) {
    // Equal values match, infinities included (a cast past f16's range must give one).
    const r = gpu[k] === cpu[k] ? 0 : Math.abs(gpu[k] - cpu[k]) / (tol * (1 + Math.abs(cpu[k])));
    if (!(r <= worstRatio)) {
      worstRatio = r;
      bad = k;
    }
  }
  return {
    bad: worstRatio > 1 || Number.isNaN(worstRatio) ? bad : -1,
    worst: bad >= 0 ? `at ${bad}: gpu ${gpu[bad]} vs cpu ${cpu[bad]}` : '',
  };
}

async function checkForward(engine: Engine, def: OpDef<object>, c: OpCase<object>, ins: HostTensor[]): Promise<string> {
  const expected = def.cpu(ins, c.attrs);
  const outs = apply(def, ins.map(toConstant), c.attrs);
  const got = await engine.run(outs);
  for (let j = 0; j < expected.length; j++) {
    const e = expected[j];
    if (outs[j].shape.join() !== e.shape.join()) return `output ${j}: shape [${outs[j].shape}] vs reference [${e.shape}]`;
    const { bad, worst } = maxErr(got[j], e.data, c.tol ?? 1e-4);
    if (bad >= 0) return `output ${j} ${worst}`;
  }
  return '';
}

async function checkGradient(engine: Engine, def: OpDef<object>, c: OpCase<object>, ins: HostTensor[], rand: () => number): Promise<string> {
  const which = c.gradInputs ?? ins.flatMap((h, i) => (h.dtype === 'f32' ? [i] : []));
  if (which.length === 0) return '';
  const specs = def.shape(ins, c.attrs);
  const seeded = c.gradOutputs ?? specs.flatMap((s, j) => (s.dtype === 'f32' ? [j] : []));
  const seeds = specs.map((s) => Float64Array.from({ length: numel(s.shape) }, () => Math.fround(rand() * 2 - 1)));

  // Analytic: the backward rule on the GPU, seeded with the random weights.
  const xs = ins.map(toConstant);
  for (const i of which) xs[i].requiresGrad = true;
  const outs = apply(def, xs, c.attrs);
  const grads = gradients(
    seeded.map((j) => outs[j]),
    which.map((i) => xs[i]),
    seeded.map((j) => constant(seeds[j], specs[j].shape)),
  );
  const analytic = await engine.run(grads);

  // Numeric: central differences of L = sum_j <out_j, seed_j> on the float64 reference.
  const loss = (hs: HostTensor[]) => {
    const o = def.cpu(hs, c.attrs);
    let l = 0;
    for (const j of seeded) for (let k = 0; k < o[j].data.length; k++) l += o[j].data[k] * seeds[j][k];
    return l;
  };
  for (const [w, i] of which.entries()) {
    const numeric = centralDifferences(ins[i].data as Float64Array, () => loss(ins));
    const scale = Math.max(1, ...Array.from(numeric, Math.abs));
    let worst = 0;
    let at = 0;
    for (let k = 0; k < numeric.length; k++) {
      const e = Math.abs(analytic[w][k] - numeric[k]);
      if (!(e <= worst)) {
        worst = e;
        at = k;
      }
    }
    if (!(worst <= (c.gradTol ?? 2e-3) * scale)) {
      return `d/d input ${i} at ${at}: analytic ${analytic[w][at]} vs numeric ${numeric[at]} (scale ${scale.toFixed(3)})`;
    }
  }
  return '';
}

/** Runs every case of every registered op (or those `filter` keeps). */
export async function runOpChecks(engine: Engine, opts: CheckOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, def] of Object.entries(registry)) {
    if (opts.filter && !opts.filter(name)) continue;
    for (const [i, c] of def.cases.entries()) {
      const rand = mulberry32((opts.seed ?? 1234) + i);
      const ins = drawInputs(c, rand);
      let detail = '';
      try {
        detail = await checkForward(engine, def, c, ins);
        if (!detail && opts.grad && def.backward !== 'none') {
          detail = await checkGradient(engine, def, c, ins, rand);
        }
      } catch (e) {
        detail = `threw ${(e as Error).name}: ${(e as Error).message}`;
      }
      results.push({ op: name, case: caseName(c, i), ok: detail === '', detail });
    }
  }
  return results;
}
