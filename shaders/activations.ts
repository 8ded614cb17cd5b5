// WGSL for the activations that two kernel families compute, each with its derivative: the
// unary ops (elementwise.ts) and the fused epilogue of the matrix products (matmul.ts). Also
// GELU's constants, written once: the CPU references (src/ops/unary.ts, src/ops/matmul.ts)
// compute with the same numbers the kernels are built with.
// Not here: which code selects which activation (UNARY_OP in elementwise.ts, MATMUL_ACT in
// matmul.ts), or the float64 references themselves (src/ops/unary.ts).

/** GELU's tanh approximation (GPT-2's): gelu(x) = 0.5 x (1 + tanh(K (x + C x^3))), K = sqrt(2 / pi). */
export const GELU = { K: Math.sqrt(2 / Math.PI), C: 0.044715 } as const;

/** A number as a WGSL float literal (always with a point or an exponent, so never an integer). */
const floatLiteral = (x: number): string => (/[.e]/.test(String(x)) ? String(x) : `${x}.0`);

/** safe_tanh, sigmoid, and gelu and silu with their derivatives, as WGSL functions of an f32. */
export const activationsWgsl = /* wgsl */ `
const GELU_K: f32 = ${floatLiteral(GELU.K)};
const GELU_C: f32 = ${floatLiteral(GELU.C)};

// tanh of large arguments is inf/inf on some drivers; |x| > 15 is +-1 in f32 anyway.
fn safe_tanh(v: f32) -> f32 { return tanh(clamp(v, -15.0, 15.0)); }
fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

fn gelu(v: f32) -> f32 { return 0.5 * v * (1.0 + safe_tanh(GELU_K * (v + GELU_C * v * v * v))); }
fn gelu_grad(v: f32) -> f32 {
  let t = safe_tanh(GELU_K * (v + GELU_C * v * v * v));
  return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
}

fn silu(v: f32) -> f32 { return v * sigmoid(v); }
fn silu_grad(v: f32) -> f32 { let s = sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
`;
