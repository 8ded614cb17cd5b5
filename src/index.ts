// webgpu-train: the public ES module. Everything a user imports comes from here: the engine
// (device, eager runs, compiled plans), tensors and every op, autodiff, optimizers, data
// generators and the typed errors.

export { createEngine, Engine, type EngineOptions } from './engine.js';
export { Plan, type CompileSpec, type Feeds, type FeedValue, type PlanStats } from './executor.js';
export { acquireDevice, type DeviceOptions, type GpuContext, type AdapterSummary, type OptionalFeature } from './gpu/device.js';
export { BufferPool } from './gpu/buffers.js';
export {
  Tensor,
  input,
  constant,
  parameter,
  noGrad,
  numel,
  type DType,
  type Shape,
  type HostArray,
  type TensorSpec,
} from './tensor.js';
export * from './ops/index.js';
export type { OpDef, OpCase, Dispatch, KernelPlan, KernelEnv, HostTensor, ShaderModuleDef } from './ops/types.js';
export { grad, gradients } from './autograd.js';
export { sgd } from './optim/sgd.js';
export { spirals, moons, mulberry32, type Labelled2D } from './data/toy2d.js';
export * from './errors.js';
