// Unary elementwise ops: math (neg, exp, log, sqrt, abs, sign), activations (relu, leakyRelu,
// gelu, silu, sigmoid, tanh) with fused derivative ops (reluGrad, geluGrad, ...), scalar ops
// (addScalar, mulScalar, powScalar), casts between f32 and i32 (f16's are half.ts), and fills (full, onesLike,
// zerosLike). All share one WGSL module whose override OP selects the function.
// The fused derivative ops compute dx = dy * f'(x) in one pass; their own gradients (needed
// only for second derivatives) are composed from ops, so they can be differentiated again.
// Not here: binary ops and broadcasting (binary.ts), reductions (reduce.ts), WGSL (shaders/).

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { apply, numel, type DType, type Shape, type Tensor, type TensorSpec } from '../tensor.js';
import { UNARY_OP, fillShader, unaryShader } from '../../shaders/elementwise.js';
import { GELU } from '../../shaders/activations.js';
import { grid1d } from './grid.js';
import { ELEMENTWISE_WG, add, div, hostOf, mul, sub } from './binary.js';
import { castHalf } from './half.js';
import { f32, i32, type HostTensor, type OpCase, type OpDef } from './types.js';

type NoAttrs = Record<string, never>;
type Gen = NonNullable<OpCase<object>['gen']>;

const { K: GELU_K, C: GELU_C } = GELU;

const sigmoidF = (v: number) => 1 / (1 + Math.exp(-v));

/** The activations in float64: the specification of their unary ops and of matmul's fused epilogue. */
export const activationCpu = {
  relu: (v: number) => Math.max(v, 0),
  gelu: (v: number) => 0.5 * v * (1 + Math.tanh(GELU_K * (v + GELU_C * v * v * v))),
  silu: (v: number) => v * sigmoidF(v),
} as const;

function requireF32(name: string, x: TensorSpec): void {
  if (x.dtype !== 'f32') {
    throw new DTypeError(
      `${name}: takes an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}. Convert it with cast(x, 'f32').`,
    );
  }
}

function mapHost(x: HostTensor, fn: (v: number, i: number) => number): HostTensor {
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = fn(x.data[i], i);
  return { shape: x.shape, dtype: 'f32', data };
}

function elementwiseDispatch(entry: string, code: number, reads: number, n: number, scalar: number) {
  // Four elements an invocation where they come in fours: one 16-byte load instead of four
  // per-lane gathers on SwiftShader (2.2x the GB/s of an add there, measured).
  const wide = n % 4 === 0;
  return {
    dispatches: [
      {
        shader: unaryShader,
        entry: wide ? `${entry}4` : entry,
        constants: { OP: code, WG: ELEMENTWISE_WG },
        reads: Array.from({ length: reads }, (_, i) => ({ in: i })),
        writes: [{ out: 0 }],
        params: [n, f32(scalar)],
        workgroups: grid1d(wide ? n / 4 : n, ELEMENTWISE_WG),
      },
    ],
  };
}

// Inputs uniform in [lo, hi], or with |x| in [lo, hi] and random sign when `signed`
// (kinks such as relu's at 0 would spoil finite differences).
const uniform =
  (lo: number, hi: number, signed = false): Gen =>
  (_i, spec, rand) =>
    hostOf(spec, () => (signed && rand() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rand()));

// Counts that are not multiples of 4 run one element an invocation; 132 runs four at a time.
const unaryShapes: Shape[] = [[1], [37], [3, 129], [2, 66]];

// ---------------------------------------------------------------------------------------------
// Fused derivatives: dx = dy * f'(x)

interface GradSpec<A extends object> {
  /** f'(x), the float64 specification. */
  df: (v: number, a: A) => number;
  /** f''(x) * gdy from ops, for second derivatives; null where f'' is 0 almost everywhere. */
  d2: (x: Tensor, gdy: Tensor, a: A) => Tensor | null;
}

function gradDef<A extends object>(
  name: string,
  code: number,
  scalar: (a: A) => number,
  g: GradSpec<A>,
  attrs: A,
  gen: Gen,
): OpDef<A> {
  const def: OpDef<A> = {
    name,
    shape: ([x, dy]) => {
      requireF32(name, x);
      requireF32(name, dy);
      if (x.shape.length !== dy.shape.length || x.shape.some((d, k) => d !== dy.shape[k])) {
        throw new ShapeError(`${name}: x ${fmtShape(x.shape)} and dy ${fmtShape(dy.shape)} must have one shape.`);
      }
      return [{ shape: x.shape, dtype: 'f32' }];
    },
    kernel: ([x], _out, a) => elementwiseDispatch('unary_bwd', code, 2, numel(x.shape), scalar(a)),
    cpu: ([x, dy], a) => [mapHost(x, (v, i) => dy.data[i] * g.df(v, a))],
    // d/dx (dy f'(x)) = dy f''(x); d/ddy = f'(x).
    backward: ({ inputs: [x, dy], attrs: a }, [gr]) =>
      gr ? [g.d2(x, mul(gr, dy), a), apply(def, [x, gr], a)[0]] : [null, null],
    cases: unaryShapes.map((shape) => ({
      inputs: [
        { shape, dtype: 'f32' },
        { shape, dtype: 'f32' },
      ],
      attrs,
      gen: (i, spec, rand) => (i === 0 ? gen(i, spec, rand) : hostOf(spec, () => 2 * rand() - 1)),
    })),
  };
  return def;
}

export const reluGradDef = gradDef<NoAttrs>(
  'reluGrad',
  UNARY_OP.relu,
  () => 0,
  { df: (v) => (v > 0 ? 1 : 0), d2: () => null },
  {},
  uniform(0.05, 1, true),
);

export const leakyReluGradDef = gradDef<{ slope: number }>(
  'leakyReluGrad',
  UNARY_OP.leakyRelu,
  (a) => a.slope,
  { df: (v, a) => (v > 0 ? 1 : a.slope), d2: () => null },
  { slope: 0.1 },
  uniform(0.05, 1, true),
);

// f = 0.5 x (1 + tanh(u)), u = k (x + c x^3):
// f'  = 0.5 (1 + t) + 0.5 x (1 - t^2) u'            with u' = k (1 + 3 c x^2)
// f'' = (1 - t^2) (u' - x t u'^2 + 3 k c x^2)
export const geluGradDef = gradDef<NoAttrs>(
  'geluGrad',
  UNARY_OP.gelu,
  () => 0,
  {
    df: (v) => {
      const t = Math.tanh(GELU_K * (v + GELU_C * v * v * v));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * v * v);
    },
    d2: (x, gdy) => {
      const x2 = mul(x, x);
      const u = mulScalar(mul(x, addScalar(mulScalar(x2, GELU_C), 1)), GELU_K);
      const du = addScalar(mulScalar(x2, 3 * GELU_C * GELU_K), GELU_K);
      const xt = mul(x, tanh(u));
      const bracket = add(sub(du, mul(xt, mul(du, du))), mulScalar(x2, 3 * GELU_K * GELU_C));
      return mul(tanhGrad(u, gdy), bracket);
    },
  },
  {},
  uniform(-3, 3),
);

// f = x s: f' = s (1 + x (1 - s)); f'' = s (1 - s) (2 + x (1 - 2 s))
export const siluGradDef = gradDef<NoAttrs>(
  'siluGrad',
  UNARY_OP.silu,
  () => 0,
  {
    df: (v) => {
      const s = sigmoidF(v);
      return s * (1 + v * (1 - s));
    },
    d2: (x, gdy) => mul(sigmoidGrad(x, gdy), addScalar(mul(x, addScalar(mulScalar(sigmoid(x), -2), 1)), 2)),
  },
  {},
  uniform(-3, 3),
);

// s' = s (1 - s); s'' = s (1 - s) (1 - 2 s)
export const sigmoidGradDef = gradDef<NoAttrs>(
  'sigmoidGrad',
  UNARY_OP.sigmoid,
  () => 0,
  {
    df: (v) => sigmoidF(v) * (1 - sigmoidF(v)),
    d2: (x, gdy) => mul(sigmoidGrad(x, gdy), addScalar(mulScalar(sigmoid(x), -2), 1)),
  },
  {},
  uniform(-3, 3),
);

// t' = 1 - t^2; t'' = -2 t (1 - t^2)
export const tanhGradDef = gradDef<NoAttrs>(
  'tanhGrad',
  UNARY_OP.tanh,
  () => 0,
  {
    df: (v) => 1 - Math.tanh(v) ** 2,
    d2: (x, gdy) => mul(tanhGrad(x, gdy), mulScalar(tanh(x), -2)),
  },
  {},
  uniform(-3, 3),
);

/** dy * relu'(x) in one pass. */
export function reluGrad(x: Tensor, dy: Tensor): Tensor {
  return apply(reluGradDef, [x, dy], {})[0];
}
/** dy * leakyRelu'(x) in one pass. */
export function leakyReluGrad(x: Tensor, dy: Tensor, slope: number): Tensor {
  return apply(leakyReluGradDef, [x, dy], { slope })[0];
}
/** dy * gelu'(x) in one pass (tanh approximation). */
export function geluGrad(x: Tensor, dy: Tensor): Tensor {
  return apply(geluGradDef, [x, dy], {})[0];
}
/** dy * silu'(x) in one pass. */
export function siluGrad(x: Tensor, dy: Tensor): Tensor {
  return apply(siluGradDef, [x, dy], {})[0];
}
/** dy * sigmoid'(x) in one pass. */
export function sigmoidGrad(x: Tensor, dy: Tensor): Tensor {
  return apply(sigmoidGradDef, [x, dy], {})[0];
}
/** dy * tanh'(x) in one pass. */
export function tanhGrad(x: Tensor, dy: Tensor): Tensor {
  return apply(tanhGradDef, [x, dy], {})[0];
}

// ---------------------------------------------------------------------------------------------
// Unary math

interface UnarySpec<A extends object> {
  name: string;
  /** OP code in shaders/elementwise.ts unaryShader (UNARY_OP). */
  code: number;
  /** The float64 specification. */
  f: (v: number, a: A) => number;
  /** The uniform's scalar word (slope, value, exponent). */
  scalar?: (a: A) => number;
  /** dx from (x, out, dy, attrs); 'none' for ops with no gradient. */
  grad: ((x: Tensor, out: Tensor, dy: Tensor, a: A) => Tensor | null) | 'none';
  /** Attributes the op is tested with. */
  attrs: A[];
  gen?: Gen;
  /** Cases beyond attrs x the usual shapes. */
  extra?: OpCase<A>[];
}

function unaryDef<A extends object>(s: UnarySpec<A>): OpDef<A> {
  const scalar = s.scalar ?? (() => 0);
  const grad = s.grad;
  return {
    name: s.name,
    shape: ([x]) => {
      requireF32(s.name, x);
      return [{ shape: x.shape, dtype: 'f32' }];
    },
    kernel: ([x], _out, a) => elementwiseDispatch('unary_fwd', s.code, 1, numel(x.shape), scalar(a)),
    cpu: ([x], a) => [mapHost(x, (v) => s.f(v, a))],
    backward:
      grad === 'none'
        ? 'none'
        : ({ inputs: [x], outputs: [out], attrs }, [dy]) => [dy ? grad(x, out, dy, attrs) : null],
    cases: [
      ...s.attrs.flatMap((attrs) =>
        unaryShapes.map((shape) => ({ inputs: [{ shape, dtype: 'f32' as const }], attrs, gen: s.gen })),
      ),
      ...(s.extra ?? []),
    ],
  };
}

export const negDef = unaryDef<NoAttrs>({
  name: 'neg',
  code: UNARY_OP.neg,
  f: (v) => -v,
  grad: (_x, _o, dy) => neg(dy),
  attrs: [{}],
});
export const expDef = unaryDef<NoAttrs>({
  name: 'exp',
  code: UNARY_OP.exp,
  f: Math.exp,
  grad: (_x, out, dy) => mul(dy, out),
  attrs: [{}],
  gen: uniform(-2, 2),
});
export const logDef = unaryDef<NoAttrs>({
  name: 'log',
  code: UNARY_OP.log,
  f: Math.log,
  grad: (x, _o, dy) => div(dy, x),
  attrs: [{}],
  gen: uniform(0.1, 2),
});
export const sqrtDef = unaryDef<NoAttrs>({
  name: 'sqrt',
  code: UNARY_OP.sqrt,
  f: Math.sqrt,
  grad: (_x, out, dy) => div(mulScalar(dy, 0.5), out),
  attrs: [{}],
  gen: uniform(0.1, 2),
});
export const reluDef = unaryDef<NoAttrs>({
  name: 'relu',
  code: UNARY_OP.relu,
  f: activationCpu.relu,
  grad: (x, _o, dy) => reluGrad(x, dy),
  attrs: [{}],
  gen: uniform(0.05, 1, true),
});
export const geluDef = unaryDef<NoAttrs>({
  name: 'gelu',
  code: UNARY_OP.gelu,
  f: activationCpu.gelu,
  grad: (x, _o, dy) => geluGrad(x, dy),
  attrs: [{}],
  gen: uniform(-4, 4),
});
export const siluDef = unaryDef<NoAttrs>({
  name: 'silu',
  code: UNARY_OP.silu,
  f: activationCpu.silu,
  grad: (x, _o, dy) => siluGrad(x, dy),
  attrs: [{}],
  gen: uniform(-4, 4),
});
export const sigmoidDef = unaryDef<NoAttrs>({
  name: 'sigmoid',
  code: UNARY_OP.sigmoid,
  f: sigmoidF,
  grad: (x, _o, dy) => sigmoidGrad(x, dy),
  attrs: [{}],
  gen: uniform(-4, 4),
});
export const tanhDef = unaryDef<NoAttrs>({
  name: 'tanh',
  code: UNARY_OP.tanh,
  f: Math.tanh,
  grad: (x, _o, dy) => tanhGrad(x, dy),
  attrs: [{}],
  gen: uniform(-4, 4),
});
export const absDef = unaryDef<NoAttrs>({
  name: 'abs',
  code: UNARY_OP.abs,
  f: Math.abs,
  grad: (x, _o, dy) => mul(dy, sign(x)),
  attrs: [{}],
  gen: uniform(0.05, 1, true),
});
export const signDef = unaryDef<NoAttrs>({ name: 'sign', code: UNARY_OP.sign, f: Math.sign, grad: 'none', attrs: [{}] });
export const leakyReluDef = unaryDef<{ slope: number }>({
  name: 'leakyRelu',
  code: UNARY_OP.leakyRelu,
  f: (v, a) => (v > 0 ? v : a.slope * v),
  scalar: (a) => a.slope,
  grad: (x, _o, dy, a) => leakyReluGrad(x, dy, a.slope),
  attrs: [{ slope: 0.2 }],
  gen: uniform(0.05, 1, true),
});
export const addScalarDef = unaryDef<{ value: number }>({
  name: 'addScalar',
  code: UNARY_OP.addScalar,
  f: (v, a) => v + a.value,
  scalar: (a) => a.value,
  grad: (_x, _o, dy) => dy,
  attrs: [{ value: 0.75 }],
});
export const mulScalarDef = unaryDef<{ value: number }>({
  name: 'mulScalar',
  code: UNARY_OP.mulScalar,
  f: (v, a) => v * a.value,
  scalar: (a) => a.value,
  grad: (_x, _o, dy, a) => mulScalar(dy, a.value),
  attrs: [{ value: -1.5 }],
});
export const powScalarDef = unaryDef<{ exponent: number }>({
  name: 'powScalar',
  code: UNARY_OP.powScalar,
  f: (v, a) => Math.pow(v, a.exponent),
  scalar: (a) => a.exponent,
  // d(x^p)/dx = p x^(p-1); x^0 is constant.
  grad: (x, _o, dy, a) =>
    a.exponent === 0 ? null : mul(dy, mulScalar(powScalar(x, a.exponent - 1), a.exponent)),
  attrs: [{ exponent: 2.5 }, { exponent: -1 }],
  gen: uniform(0.2, 1.5),
  // Integer exponents are defined for negative bases too.
  extra: [{ name: 'cube of negatives', inputs: [{ shape: [37], dtype: 'f32' }], attrs: { exponent: 3 } }],
});

/** The function users call for a unary op without attributes: x -> op(x). */
const elementwise = (def: OpDef<NoAttrs>) => (x: Tensor): Tensor => apply(def, [x], {})[0];

/** -x */
export const neg = elementwise(negDef);
/** e^x */
export const exp = elementwise(expDef);
/** Natural log. */
export const log = elementwise(logDef);
/** Square root. */
export const sqrt = elementwise(sqrtDef);
/** max(x, 0). */
export const relu = elementwise(reluDef);
/** GELU, tanh approximation (as GPT-2). */
export const gelu = elementwise(geluDef);
/** x * sigmoid(x) (swish). */
export const silu = elementwise(siluDef);
/** 1 / (1 + e^-x). */
export const sigmoid = elementwise(sigmoidDef);
/** Hyperbolic tangent. */
export const tanh = elementwise(tanhDef);
/** |x|; the gradient at 0 is 0. */
export const abs = elementwise(absDef);
/** -1, 0 or 1; no gradient. */
export const sign = elementwise(signDef);
/** x for x > 0, slope * x otherwise. */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return apply(leakyReluDef, [x], { slope })[0];
}
/** x + s for a number s. */
export function addScalar(x: Tensor, s: number): Tensor {
  return apply(addScalarDef, [x], { value: s })[0];
}
/** x * s for a number s. */
export function mulScalar(x: Tensor, s: number): Tensor {
  return apply(mulScalarDef, [x], { value: s })[0];
}
/** x ** p for a number p; negative x only with integer p. */
export function powScalar(x: Tensor, p: number): Tensor {
  return apply(powScalarDef, [x], { exponent: p })[0];
}

// ---------------------------------------------------------------------------------------------
// Casts and fills

/** f32 -> i32 truncates toward zero and saturates; NaN becomes 0. */
function toInt32(v: number): number {
  if (Number.isNaN(v)) return 0;
  return Math.max(-2147483648, Math.min(2147483647, Math.trunc(v)));
}

export const castDef: OpDef<{ dtype: DType }> = {
  name: 'cast',
  shape: ([x], { dtype }) => [{ shape: x.shape, dtype }],
  kernel: ([x], _out, { dtype }) =>
    elementwiseDispatch('unary_fwd', x.dtype === dtype ? UNARY_OP.copy : dtype === 'i32' ? UNARY_OP.castToI32 : UNARY_OP.castToF32, 1, numel(x.shape), 0),
  cpu: ([x], { dtype }) => {
    const n = x.data.length;
    const data = dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = dtype === 'i32' ? toInt32(x.data[i]) : Math.fround(x.data[i]);
    return [{ shape: x.shape, dtype, data }];
  },
  backward: 'none',
  cases: [
    {
      name: 'f32->i32',
      inputs: [{ shape: [3, 43], dtype: 'f32' }],
      attrs: { dtype: 'i32' },
      gen: uniform(0, 50, true),
    },
    { name: 'i32->f32', inputs: [{ shape: [4, 9], dtype: 'i32' }], attrs: { dtype: 'f32' } },
    { name: 'f32->f32', inputs: [{ shape: [5], dtype: 'f32' }], attrs: { dtype: 'f32' } },
  ],
};

/**
 * x converted to `dtype` (f32 -> i32 truncates toward zero; f32 -> f16 rounds to nearest, past
 * 65504 to infinity); x itself if already `dtype`.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return x.dtype === 'f16' || dtype === 'f16' ? castHalf(x, dtype) : apply(castDef, [x], { dtype })[0];
}

export interface FullAttrs {
  shape: Shape;
  value: number;
  dtype: DType;
}

export const fullDef: OpDef<FullAttrs> = {
  name: 'full',
  shape: (_in, { shape, value, dtype }) => {
    if (dtype === 'i32' && !Number.isInteger(value)) {
      throw new DTypeError(
        `full: ${value} is not an integer, so it cannot fill an i32 tensor of shape ${fmtShape(shape)}.`,
      );
    }
    return [{ shape, dtype }];
  },
  kernel: (_in, _out, { shape, value, dtype }) => ({
    dispatches: [
      {
        shader: fillShader,
        entry: 'fill',
        constants: { WG: ELEMENTWISE_WG },
        reads: [],
        writes: [{ out: 0 }],
        params: [numel(shape), dtype === 'i32' ? i32(value) : f32(value)],
        workgroups: grid1d(numel(shape), ELEMENTWISE_WG),
      },
    ],
  }),
  cpu: (_in, { shape, value, dtype }) => {
    const n = numel(shape);
    const data = dtype === 'i32' ? new Int32Array(n).fill(value) : new Float64Array(n).fill(Math.fround(value));
    return [{ shape, dtype, data }];
  },
  backward: 'none',
  cases: [
    { inputs: [], attrs: { shape: [37], value: 1.5, dtype: 'f32' } },
    { inputs: [], attrs: { shape: [3, 129], value: -0.1, dtype: 'f32' } },
    { inputs: [], attrs: { shape: [], value: -7, dtype: 'i32' } },
  ],
};

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  return apply(fullDef, [], { shape: [...shape], value, dtype })[0];
}
/** Ones with x's shape and dtype. */
export function onesLike(x: Tensor): Tensor {
  return full(x.shape, 1, x.dtype);
}
/** Zeros with x's shape and dtype. */
export function zerosLike(x: Tensor): Tensor {
  return full(x.shape, 0, x.dtype);
}

export const unaryOps = {
  neg: negDef,
  exp: expDef,
  log: logDef,
  sqrt: sqrtDef,
  relu: reluDef,
  gelu: geluDef,
  silu: siluDef,
  sigmoid: sigmoidDef,
  tanh: tanhDef,
  abs: absDef,
  sign: signDef,
  leakyRelu: leakyReluDef,
  addScalar: addScalarDef,
  mulScalar: mulScalarDef,
  powScalar: powScalarDef,
  reluGrad: reluGradDef,
  leakyReluGrad: leakyReluGradDef,
  geluGrad: geluGradDef,
  siluGrad: siluGradDef,
  sigmoidGrad: sigmoidGradDef,
  tanhGrad: tanhGradDef,
  cast: castDef,
  full: fullDef,
};
