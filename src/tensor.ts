// Tensor: a shape, a dtype and where its value comes from (an op node, a fed input, a constant
// or a parameter). Tensors are lazy graph nodes: building them does no GPU work, so the same
// graph can be run eagerly op by op or compiled into a replayable plan by an Engine.
// Not here: storage. A tensor's GPU buffer belongs to the engine or plan that runs it.

import { DTypeError, InputError, ShapeError, fmtShape } from './errors.js';
import type { OpDef } from './ops/types.js';
import { halfWords, roundToHalf } from './half.js';

/** f16 is a storage format (mixed-precision matmul operands, src/ops/half.ts), packed two per word. */
export type DType = 'f32' | 'i32' | 'f16';
export type Shape = readonly number[];
export type HostArray = Float32Array | Int32Array;

export interface TensorSpec {
  shape: Shape;
  dtype: DType;
}

/** The application of one op to its inputs; owns the tensors it produced. */
export interface OpNode {
  def: OpDef<any>;
  inputs: Tensor[];
  attrs: object;
  outputs: Tensor[];
}

export type Source =
  | { kind: 'op'; node: OpNode; index: number }
  | { kind: 'input'; name: string }
  | { kind: 'constant'; data: HostArray }
  | { kind: 'parameter'; name: string; init: Tensor | HostArray };

let nextId = 0;
let noGradDepth = 0;

export class Tensor implements TensorSpec {
  readonly id = nextId++;
  /** True when a gradient can flow to this tensor (parameters and what depends on them). */
  requiresGrad: boolean;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    readonly source: Source,
    requiresGrad: boolean,
  ) {
    this.requiresGrad = requiresGrad && noGradDepth === 0;
  }

  /** Number of elements (1 for a scalar of shape []). */
  get size(): number {
    return numel(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  /** The op name, input name, 'constant' or parameter name: for messages and plan listings. */
  get label(): string {
    const s = this.source;
    if (s.kind === 'op') return s.node.def.name;
    if (s.kind === 'constant') return 'constant';
    return s.name;
  }
  toString(): string {
    return `Tensor(${this.label}, ${fmtShape(this.shape)}, ${this.dtype})`;
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) {
      throw new ShapeError(`${what}: shape ${fmtShape(shape)} must contain positive integers.`);
    }
  }
}

/** Runs `fn` with gradient tracking off: tensors built inside do not require grad. */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
  }
}

/** Applies an op: checks shapes through its rule and returns its output tensors. */
export function apply<A extends object>(def: OpDef<A>, inputs: Tensor[], attrs: A): Tensor[] {
  const half = def.f16 ? undefined : inputs.find((t) => t.dtype === 'f16');
  if (half) {
    throw new DTypeError(
      `${def.name}: ${half} is f16, which only cast, reshape, matmul and attention read (f16 holds their operands); ` +
        `convert it with cast(x, 'f32') first.`,
    );
  }
  const specs = def.shape(inputs, attrs);
  for (const s of specs) checkShape(s.shape, def.name);
  const differentiable = def.backward !== 'none';
  const requiresGrad = differentiable && inputs.some((t) => t.requiresGrad);
  const node: OpNode = { def, inputs, attrs, outputs: [] };
  node.outputs = specs.map(
    (s, index) => new Tensor(s.shape, s.dtype, { kind: 'op', node, index }, requiresGrad),
  );
  return node.outputs;
}

/** A value fed at every run by name (a batch of data, a learning rate, a seed). */
export function input(name: string, shape: Shape, dtype: DType = 'f32'): Tensor {
  checkShape(shape, `input '${name}'`);
  if (dtype === 'f16') {
    throw new DTypeError(`input '${name}': inputs are fed as f32 or i32; feed f32 and cast(x, 'f16') in the graph.`);
  }
  return new Tensor(shape, dtype, { kind: 'input', name }, false);
}

function toHost(data: ArrayLike<number>, dtype: DType): HostArray {
  if (dtype === 'i32') return data instanceof Int32Array ? data : Int32Array.from(data);
  if (dtype === 'f16') return Float32Array.from(data, roundToHalf);
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Bytes of a tensor's storage: 4 per f32 or i32 value, 2 per f16 value in whole 4-byte words. */
export const storageBytes = (t: TensorSpec): number => (t.dtype === 'f16' ? halfWords(numel(t.shape)) : numel(t.shape)) * 4;

function checkLength(data: ArrayLike<number>, shape: Shape, what: string): void {
  if (data.length !== numel(shape)) {
    throw new InputError(
      `${what}: ${data.length} values given for shape ${fmtShape(shape)} (${numel(shape)} needed).`,
    );
  }
}

/**
 * A constant uploaded once; `data` is copied so later changes to it do not leak in. An f16
 * constant keeps its values rounded to f16 (as f32) and is packed when uploaded.
 */
export function constant(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
  checkShape(shape, 'constant');
  checkLength(data, shape, 'constant');
  if (dtype !== 'f32' && dtype !== 'i32' && dtype !== 'f16') throw new DTypeError(`constant: unsupported dtype '${dtype}'.`);
  const host = toHost(data, dtype);
  return new Tensor(shape, dtype, { kind: 'constant', data: host === data ? host.slice() : host }, false);
}

/**
 * A trainable f32 tensor. `init` is either its initial values or a tensor (for example a
 * random fill) that the engine evaluates once, on the GPU, when it first needs the parameter.
 */
export function parameter(name: string, init: Tensor | ArrayLike<number>, shape?: Shape): Tensor {
  if (init instanceof Tensor) {
    if (init.dtype !== 'f32') throw new DTypeError(`parameter '${name}': init must be f32.`);
    return new Tensor(init.shape, 'f32', { kind: 'parameter', name, init }, true);
  }
  const s = shape ?? [init.length];
  checkShape(s, `parameter '${name}'`);
  checkLength(init, s, `parameter '${name}'`);
  return new Tensor(s, 'f32', { kind: 'parameter', name, init: Float32Array.from(init) }, true);
}

/** Every tensor `roots` depends on, inputs before users (a topological order). */
export function topoOrder(roots: Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: graphs of real models are deep enough to overflow recursion.
  const stack: [Tensor, boolean][] = roots.map((t) => [t, false]);
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    if (t.source.kind === 'op') {
      // Sibling outputs of a multi-output node are computed together: visit them all.
      for (const o of t.source.node.outputs) if (o !== t && !seen.has(o)) stack.push([o, false]);
      for (let i = t.source.node.inputs.length - 1; i >= 0; i--) {
        const x = t.source.node.inputs[i];
        if (!seen.has(x)) stack.push([x, false]);
      }
    }
  }
  return order;
}
