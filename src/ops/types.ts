// The shape of an op: its shape rule, its GPU kernel binding, its plain-loop CPU reference,
// its backward rule and its test cases, all in one object so that an op is one findable unit.
// Kernels are described as data (which shader entry point, which buffers, which uniforms,
// how many workgroups), never encoded directly: the engine encodes them eagerly or records
// them once into a compiled plan.

import type { DType, Shape, Tensor, TensorSpec } from '../tensor.js';
import type { OptionalFeature } from '../gpu/device.js';

/** A WGSL module. `code` may specialise on device features (f16, subgroups) via wgsl-preprocessor. */
export interface ShaderModuleDef {
  label: string;
  code: (features: ReadonlySet<OptionalFeature>) => string;
}

/** A buffer seen from a kernel: one of the op's inputs, outputs, or scratch buffers. */
export type Slot = { in: number } | { out: number } | { tmp: number };

/** A 4-byte uniform word: a plain number is a u32; wrap floats and signed ints. */
export type ParamWord = number | { f32: number } | { i32: number };
export const f32 = (v: number): ParamWord => ({ f32: v });
export const i32 = (v: number): ParamWord => ({ i32: v });

/**
 * One compute dispatch. Bindings in @group(0): `reads` at 0..r-1 as `var<storage, read>`,
 * `writes` at r..r+w-1 as `var<storage, read_write>`, then `params` (if any) as one
 * `var<uniform>` struct of 4-byte words at binding r+w.
 */
export interface Dispatch {
  shader: ShaderModuleDef;
  entry: string;
  /** WGSL `override` constants (tile sizes, workgroup sizes, flags). */
  constants?: Record<string, number>;
  reads: Slot[];
  writes: Slot[];
  params?: ParamWord[];
  workgroups: [number, number?, number?];
}

export interface KernelPlan {
  /** Byte sizes of scratch buffers, addressed as { tmp: i }; contents start undefined. */
  tmp?: number[];
  /** Run in order; each sees the writes of the ones before. */
  dispatches: Dispatch[];
}

/** What a kernel may know about the device when it chooses a variant. */
export interface KernelEnv {
  features: ReadonlySet<OptionalFeature>;
  limits: GPUSupportedLimits;
  isSoftware: boolean;
  /** Subgroup quads are four consecutive invocations in order, in 1-D workgroups of the size src/gpu/quads.ts probes. */
  quadsInOrder: boolean;
  /** Choices measured on this adapter, by op family (for example matmul: 'register'). */
  tuning: Readonly<Record<string, string>>;
}

/** Host-side tensor for CPU references: float data is float64 so gradients can be checked. */
export interface HostTensor {
  shape: Shape;
  dtype: DType;
  data: Float64Array | Int32Array;
}

export interface GradContext<A> {
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: A;
}

/** One test of an op: input specs, attributes, and how to draw its inputs. */
export interface OpCase<A> {
  name?: string;
  inputs: TensorSpec[];
  attrs: A;
  /** Draws input i (default: uniform floats in [-1, 1], or small ints for i32). */
  gen?: (i: number, spec: TensorSpec, rand: () => number) => HostTensor;
  /** Inputs whose gradient is checked (default: every f32 input; [] to skip). */
  gradInputs?: number[];
  /** Outputs that receive a random gradient seed in the check (default: every f32 output). */
  gradOutputs?: number[];
  /** Absolute+relative tolerance of the GPU forward against the CPU reference (default 1e-4). */
  tol?: number;
  /** Tolerance of the gradient check (default 2e-3). */
  gradTol?: number;
}

export interface OpDef<A extends object = object> {
  name: string;
  /** Takes f16 inputs (cast, reshape, matmul, attention); any other op refuses them with a DTypeError. */
  f16?: boolean;
  /** Output specs from input specs; throws ShapeError or DTypeError naming the op and shapes. */
  shape(inputs: TensorSpec[], attrs: A): TensorSpec[];
  /**
   * The GPU work, or { alias } when output 0 is input `alias` reinterpreted: a reshape, or with
   * `offset` (elements; its bytes a multiple of minStorageBufferOffsetAlignment) a contiguous
   * run inside it, such as a slice along the first axis.
   */
  kernel(
    inputs: TensorSpec[],
    outputs: TensorSpec[],
    attrs: A,
    env: KernelEnv,
  ): KernelPlan | { alias: number; offset?: number };
  /** The specification: plain loops in float64. */
  cpu(inputs: HostTensor[], attrs: A): HostTensor[];
  /**
   * Gradients of the inputs from gradients of the outputs (null where no gradient flows),
   * built from ops so that they can be compiled and differentiated again.
   * 'none' marks ops with no gradient (argmax, compare, random fills).
   */
  backward: ((ctx: GradContext<A>, douts: (Tensor | null)[]) => (Tensor | null)[]) | 'none';
  /** Registry-driven tests. */
  cases: OpCase<A>[];
}
