// The elementwise ops in one import: unary math, activations, scalar ops, casts and fills
// (unary.ts), and broadcasting binary ops, compares, where and broadcast (binary.ts).
// Not here: any definitions (they live in the two files) or reductions (reduce.ts).

export * from './unary.js';
export * from './binary.js';
