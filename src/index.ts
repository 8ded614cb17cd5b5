// webgpu-train: the public ES module. Everything a user imports comes from here: the engine
// (device, eager runs, compiled plans), tensors and every op, autodiff, optimizers, data
// generators and the typed errors.

export { createEngine, Engine, type EngineOptions } from './engine.js';
export { Plan, type CompileSpec, type Feeds, type FeedValue, type PlanStats, type PlanOptimizer, type Place } from './executor.js';
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
export { createOptimizer, FusedOptimizer, type OptimizerConfig, type OptimizerKind } from './optim/fused.js';
export {
  constantLr, linearWarmup, cosineDecay, stepDecay, oneCycle,
  constantDefaults, warmupDefaults, cosineDefaults, stepDecayDefaults, oneCycleDefaults,
  type Schedule, type ConstantConfig, type WarmupConfig, type CosineConfig, type StepDecayConfig, type OneCycleConfig,
} from './optim/schedules.js';
export { EarlyStopping, earlyStoppingDefaults, type EarlyStoppingConfig } from './optim/early-stopping.js';
export {
  calculateGain, fans, xavierUniform, xavierNormal, kaimingUniform, kaimingNormal, gptNormal, gptStd,
  type Nonlinearity, type Fans, type FanOptions, type XavierConfig, type KaimingConfig, type GptInitConfig,
} from './nn/init.js';
export { TrainingMetrics, kernelTimes, type StepRecord, type MetricsOptions } from './metrics.js';
export { spirals, moons, mulberry32, type Labelled2D } from './data/toy2d.js';
export {
  saveCheckpoint, loadCheckpoint, CHECKPOINT_FORMAT, STATE_PREFIX,
  type CheckpointContents, type LoadOptions, type LoadedCheckpoint,
} from './checkpoint/checkpoint.js';
export {
  parseSafetensors, writeSafetensors, decodeTensor, FLOAT_DTYPES, INT_DTYPES,
  type SafetensorsFile, type SafetensorsTensor, type SafetensorsDType, type TensorInfo,
} from './checkpoint/safetensors.js';
export * from './errors.js';
