// webgpu-train: the public ES module. Everything a user imports comes from here: the engine
// (device, eager runs, compiled plans), tensors and every op, autodiff, optimizers, data
// generators and the typed errors.

export { createEngine, Engine, type EngineOptions } from './engine.js';
export { tuneMatmul, matmulTunable, type MatmulTuneResult } from './ops/matmul-tune.js';
export { tuneAttention, measureAttention, attentionTunable, ATTENTION_CLASS_PROBLEMS, type AttentionTuneResult, type AttentionProblem } from './ops/attention-tune.js';
export { TUNABLES } from './ops/tunables.js';
export type { KernelChoices, Tunable, TuneResult, TuneTarget } from './ops/tunable.js';
export { clearTuningMemory, defaultTuningCachePath, type TuneOptions, type TuneSource } from './ops/tune-cache.js';
export type { MemoryEstimate } from './layout.js';
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
export {
  spirals, moons, swissRoll, twoMoons2D, spiral2D, ringOfGaussians, ringCentres, ringDefaults,
  sample2D, samplers2D, modeCoverage,
  type Labelled2D, type RingOptions, type RingSample, type Sampler2DName, type ModeCoverageOptions, type ModeCoverage,
} from './data/toy2d.js';
export { SeededRandom, mulberry32, gaussian } from './data/random.js';
export { glyphs, glyphDefaults, type GlyphOptions, type GlyphSet } from './data/glyphs.js';
export {
  userImages, pickImageFiles, isImageFile, toGray, resizeArea, checkDimensions, undecodable, userImageLimits,
  type RgbaImage, type ImageFileInfo, type UserImageLimits, type UserImageSet, type UserImageOptions,
} from './data/user-images.js';
export {
  mmd, mmdDefaults, slicedWasserstein, slicedWassersteinDefaults, type MmdOptions, type SlicedWassersteinOptions,
} from './eval/distance.js';
export {
  frechetDistance, frechetFromStats, featureStats, symmetricEigen, type FeatureStats, type SymmetricEigen,
} from './eval/frechet.js';
export {
  Diffusion, diffusionConfig, diffusionDefaults, noiseSchedule, timestepTable,
  type Denoiser, type DiffusionConfig, type NoiseSchedule, type NoiseScheduleKind, type Prediction,
} from './models/diffusion.js';
export {
  DiffusionSampler, samplingTimesteps, stepCoefficients, type DiffusionSampleOptions, type SamplerKind,
} from './models/diffusion-sampler.js';
export { createMlpDenoiser, mlpDenoiserDefaults, type MlpDenoiserConfig } from './models/denoiser-mlp.js';
export { Gan, ganConfig, ganDefaults, ganPresets, gradientPenalty, type GanConfig, type GanLoss, type GanStepResult } from './models/gan.js';
export { createUnet, unetDefaults, unetParameterCount, type UnetConfig } from './models/unet.js';
export {
  Vae, vaeConfig, vaeDefaults, betaAt, gaussianKl, reconstructionNats,
  type VaeConfig, type VaeArch, type VaeLikelihood, type VaeStepResult, type VaeEvaluation,
} from './models/vae.js';
export {
  Contrastive, contrastiveConfig, contrastiveDefaults, augmentView, l2NormalizeRows, ntXent, tripletLoss,
  type ContrastiveConfig, type ContrastiveLoss, type AugmentConfig, type ContrastiveStepResult,
} from './models/contrastive.js';
export { linearProbe, pca2, probeDefaults, type ProbeConfig, type ProbeResult, type FeatureSet, type Pca2 } from './models/contrastive-eval.js';
export { ImageScorer, imageScorerDefaults, type ImageScorerConfig, type ImageScores } from './eval/image-scores.js';
export {
  saveCheckpoint, loadCheckpoint, CHECKPOINT_FORMAT, STATE_PREFIX,
  type CheckpointContents, type LoadOptions, type LoadedCheckpoint,
} from './checkpoint/checkpoint.js';
export {
  parseSafetensors, writeSafetensors, decodeTensor, FLOAT_DTYPES, INT_DTYPES,
  parseSafetensorsHeader, decodeTensorBytes,
  type SafetensorsFile, type SafetensorsHeader, type SafetensorsTensor, type SafetensorsDType, type TensorInfo,
} from './checkpoint/safetensors.js';
export {
  bytesSource, blobSource, fileHandleSource, openSafetensors, type ByteSource, type FileHandleLike, type SafetensorsReader,
} from './checkpoint/source.js';
export * from './errors.js';
export {
  generateCorpus, scoreArithmetic, validateUserText, corpusDefaults, uploadDefaults,
  type CorpusConfig, type ArithmeticScore, type UploadLimits,
} from './data/corpus.js';
export { CharTokenizer, type TokenizerJson } from './data/tokenizer.js';
export { BpeTokenizer, tokenizerFromJSON, type BpeTokenizerJson, type AnyTokenizerJson, type AnyTokenizer, type EncodeOptions } from './data/bpe.js';
export { trainBpe, bpeTrainDefaults, type BpeTrainConfig } from './data/bpe-train.js';
export type { BpeParts, MergeEntry } from './data/bpe-vocab.js';
export type { FileContents } from './data/bpe-files.js';
export { BatchSampler, splitTrainVal, evalBatches, unigramLoss, type Batch, type BatchConfig, type Split } from './data/batches.js';
export {
  linear, applyLinear, layerNormLayer, applyLayerNorm, paramsOf, type Linear, type LinearOptions, type LayerNorm,
} from './nn/layers.js';
export {
  createGpt, gptConfig, gptParameterCount, gptStateDict, gptForward, gptStages, gptPresets, gptDefaults, gptTrainDefaults,
  createGptTrainer, compileGptEval, compileGptLogits, dropoutSeedFor, gptLinears, gptDropsOut, GptTrainer, GptEvaluator,
  type Gpt, type GptConfig, type GptShape, type GptPresetName, type GptBlock, type GptForwardOptions, type GptOutput,
  type GptTrainConfig, type StepResult, type GptStages, type GptStageOptions,
} from './models/gpt.js';
export { openGpt2, gpt2ConfigFromJson, type Gpt2Checkpoint, type Gpt2Layout } from './models/gpt2-import.js';
export {
  prepareFinetune, finetuneMemory, checkFinetuneFits, mergedWeights, exportMerged, exportAdapters, loadAdapters, gpt2ConfigJson,
  LORA_TARGETS, loraStrategyDefaults, type FinetuneStrategy, type Finetune, type FinetuneMemory, type LoraTarget,
} from './models/gpt-finetune.js';
export { loraAdapter, loraDelta, mergeLora, loraDefaults, type Lora, type LoraConfig } from './nn/lora.js';
export {
  sampleTokens, sampleText, sampleTokensCached, sampleTextCached, pickToken, tokenWeights, sampleDefaults,
  type SampleConfig, type TokenDecoder, type TextCodec,
} from './sample.js';
export { createGptDecoder, gptDecodeStep, createKvCaches, GptDecoder, type GptDecoderOptions, type GptDecodeGraph, type KvCache } from './models/gpt-decode.js';
export { attentionWeights, gptAttentionWeights } from './models/gpt-inspect.js';
export { Session, type SessionOptions } from './worker/session.js';
export {
  SESSION_METHODS,
  type SessionApi, type SessionState, type BaseInfo, type CoreConfig, type CoreEvent, type AutosaveBackend, type AutosaveInfo,
  type StatusEvent, type AutosaveEvent, type RecoveredEvent, type ErrorEvent,
} from './worker/protocol.js';
export { toWireError, fromWireError, type WireError, type WireThrow } from './worker/wire.js';
export {
  openAutosave, memoryAutosave, unavailableAutosave, type AutosaveStore, type AutosaveRecord,
} from './worker/autosave.js';
export { TASKS, taskOfCheckpoint, type TaskName, type TaskEntry } from './tasks/registry.js';
export { Trainer, type TrainerOptions } from './tasks/gpt/session.js';
export { trainerConfig } from './tasks/gpt/config.js';
export {
  trainerDefaults, TRAINER_METHODS,
  type TrainerConfig, type DataSource, type Hyper, type TrainerInfo, type EvalRecord, type MetricsEvent, type SampleEvent,
  type TrainerEvent, type SampleOptions, type AttentionMap, type StepSummary, type TrainerApi, type LossScaleState,
} from './tasks/gpt/protocol.js';
export { DiffusionSession, type DiffusionSessionOptions } from './tasks/diffusion/session.js';
export {
  diffusionSessionConfig, diffusionSessionDefaults, DIFFUSION_METHODS,
  type DiffusionSessionConfig, type DiffusionHyper, type DiffusionInfo, type DiffusionEvent, type DiffusionApi,
} from './tasks/diffusion/protocol.js';
export { GanSession, type GanSessionOptions } from './tasks/gan/session.js';
export {
  ganSessionConfig, ganSessionDefaults, GAN_METHODS,
  type GanSessionConfig, type GanHyper, type GanInfo, type GanEvent, type GanApi,
} from './tasks/gan/protocol.js';
export { VaeSession, type VaeSessionOptions } from './tasks/vae/session.js';
export {
  vaeSessionConfig, vaeSessionDefaults, VAE_METHODS,
  type VaeSessionConfig, type VaeHyper, type VaeInfo, type VaeEvent, type VaeApi, type VaeStepRecord, type VaePicturesEvent,
} from './tasks/vae/protocol.js';
export { FinetuneSession, type FinetuneSessionOptions } from './tasks/finetune/session.js';
export {
  finetuneConfig, finetuneDefaults, FINETUNE_METHODS,
  type FinetuneConfig, type FinetuneHyper, type FinetuneInfo, type FinetuneEvent, type FinetuneApi, type FinetuneMetricsEvent,
  type BaseFiles, type BaseSummary, type StrategyFit, type Sample, type SamplesEvent, type ExportedFiles, type EvalRecord as FinetuneEvalRecord,
} from './tasks/finetune/protocol.js';
export { ContrastiveSession, type ContrastiveSessionOptions } from './tasks/contrastive/session.js';
export {
  contrastiveSessionConfig, contrastiveSessionDefaults, CONTRASTIVE_METHODS,
  type ContrastiveSessionConfig, type ContrastiveHyper, type ContrastiveInfo, type ContrastiveEvent, type ContrastiveApi,
  type ContrastiveStepRecord, type ContrastiveProbeEvent, type ContrastiveEmbeddingEvent,
} from './tasks/contrastive/protocol.js';
export { RlSession, type RlSessionOptions } from './tasks/rl/session.js';
export {
  rlSessionConfig, rlSessionDefaults, RL_ALGORITHMS, RL_METHODS, EPISODE_SEED,
  type RlSessionConfig, type RlHyper, type RlInfo, type RlEvent, type RlApi, type RlStepRecord, type RlEpisode, type RlEpisodeEvent,
  type EpisodeOptions, type RlAlgorithm,
} from './tasks/rl/protocol.js';
export { CartPoleBatch, cartPoleDefaults, type CartPoleConfig, type StepOutcome } from './tasks/rl/cartpole.js';
