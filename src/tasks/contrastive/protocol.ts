// The contract between a contrastive-learning page and its worker: the session's config (checked
// field by field, ConfigError naming the field), the events the session pushes (status; per-step
// records of the loss, the positive and negative similarities and the top-1 accuracy of the
// positive; periodic linear probes beside their baselines, the features' 2D embedding by
// class, and views of training images as the step augments them), and the API the worker exposes through comlink. Plain data that survives structured
// cloning; the calls and events every session has come from worker/protocol.ts. Images are
// generated 16x16 digits in [0, 1], 1 being ink.
// Not here: the session (session.ts), what it builds (run.ts), the model (models/contrastive.ts),
// the comlink glue (worker.ts, client.ts).

import type { ContrastiveLoss } from '../../models/contrastive.js';
import { fieldChecks, refuseUnknown } from '../../worker/config-check.js';
import { SESSION_METHODS, type BaseInfo, type CoreEvent, type MetricsEventBase, type SessionApi } from '../../worker/protocol.js';

export const CONTRASTIVE_LOSSES: readonly ContrastiveLoss[] = ['ntxent', 'triplet'];

export interface ContrastiveSessionConfig {
  /** 'ntxent' (SimCLR's NT-Xent over the 2N views) or 'triplet' (anchor, other view, another image's view). */
  loss: ContrastiveLoss;
  /** NT-Xent temperature. */
  temperature: number;
  /** Triplet margin between squared distances of unit vectors. */
  margin: number;
  /** Encoder: hidden units, and the features F a probe reads. */
  hidden: number;
  features: number;
  /** Projection head: hidden units, and the projections P the loss compares. */
  projHidden: number;
  projection: number;
  /** Augmentations of each view (0 turns one off): most pixels shifted, largest rotation in degrees, cut-out side, noise std. */
  shift: number;
  rotate: number;
  cutout: number;
  noise: number;
  /** AdamW learning rate. May change between steps. */
  lr: number;
  /** AdamW weight decay. */
  weightDecay: number;
  /** Images N per step (2N views). */
  batch: number;
  /** Seed of the weights, the data, the batch order and the per-step augmentation seeds. */
  seed: number;
  /** Unlabelled training images, drawn once. */
  trainSize: number;
  /** Labelled images per class the probe trains on (taken from the training images): few labels, as semi-supervised evaluations use. */
  probePerClass: number;
  /** Held-out labelled digits (drawn from a seed of their own, never trained on) the probe is scored on and the embedding shows. */
  heldOut: number;
  /** Full-batch steps of each probe's logistic regression. */
  probeSteps: number;
  /** A probe every this many steps (0: only on request). */
  probeEvery: number;
  /** The 2D embedding every this many steps (0: only on request). */
  embeddingEvery: number;
  /** Steps after which the loop stops by itself (0: never). */
  totalSteps: number;
  /** At most one metrics event per this many ms; records in between are batched into it. */
  metricsIntervalMs: number;
  /** Autosave every this many steps (0: never); a lost device brings the run back from the latest. */
  autosaveEvery: number;
}

export const contrastiveSessionDefaults: ContrastiveSessionConfig = {
  loss: 'ntxent',
  temperature: 0.5,
  margin: 0.5,
  hidden: 128,
  features: 64,
  projHidden: 64,
  projection: 32,
  // One pixel, not two: on 16x16 digits a 2-pixel shift moves a stroke onto where another
  // digit's would be, and the probe of the learned features falls below the raw pixels' (84% against
  // 87% after 200 steps, seed 1); with 1 it is 94%.
  shift: 1,
  rotate: 15,
  cutout: 4,
  noise: 0.1,
  lr: 1e-3,
  weightDecay: 1e-4,
  batch: 64,
  seed: 1,
  trainSize: 2048,
  probePerClass: 10,
  heldOut: 512,
  probeSteps: 300,
  probeEvery: 200,
  embeddingEvery: 100,
  totalSteps: 0,
  metricsIntervalMs: 250,
  autosaveEvery: 500,
};

/** Fields a checkpoint brings with it (the model, its data and training); the others stay as the page set them. */
export const SAVED_KEYS = [
  'loss', 'temperature', 'margin', 'hidden', 'features', 'projHidden', 'projection', 'shift', 'rotate', 'cutout', 'noise', 'lr', 'weightDecay',
  'batch', 'seed', 'trainSize',
] as const satisfies readonly (keyof ContrastiveSessionConfig)[];

/** Fields setHyper may change between steps. */
export type ContrastiveHyper = Pick<ContrastiveSessionConfig, 'lr' | 'probeEvery' | 'embeddingEvery' | 'totalSteps' | 'metricsIntervalMs' | 'autosaveEvery'>;
export const HYPER_KEYS: readonly (keyof ContrastiveHyper)[] = ['lr', 'probeEvery', 'embeddingEvery', 'totalSteps', 'metricsIntervalMs', 'autosaveEvery'];

/** A full config from the defaults and the overrides; every field checked, before any GPU work. */
export function contrastiveSessionConfig(overrides: Partial<ContrastiveSessionConfig> = {}): ContrastiveSessionConfig {
  refuseUnknown('contrastive', overrides, contrastiveSessionDefaults);
  const c: ContrastiveSessionConfig = { ...contrastiveSessionDefaults, ...overrides };
  const { fail, integers, nonNegative } = fieldChecks('contrastive', c);
  if (!CONTRASTIVE_LOSSES.includes(c.loss)) fail('loss', `one of ${CONTRASTIVE_LOSSES.map((s) => `'${s}'`).join(', ')}`);
  integers([
    ['hidden', 1, 4096], ['features', 2, 1024], ['projHidden', 1, 4096], ['projection', 1, 1024], ['shift', 0, 8], ['cutout', 0, 16],
    ['batch', 2, 1024], ['trainSize', 1, 1 << 18], ['probePerClass', 1, 1000], ['heldOut', 10, 8192], ['probeSteps', 1, 100_000],
    ['probeEvery', 0, Number.MAX_SAFE_INTEGER], ['embeddingEvery', 0, Number.MAX_SAFE_INTEGER], ['totalSteps', 0, Number.MAX_SAFE_INTEGER],
    ['autosaveEvery', 0, Number.MAX_SAFE_INTEGER],
  ]);
  if (!(typeof c.rotate === 'number' && c.rotate >= 0 && c.rotate <= 180)) fail('rotate', 'a number of degrees in [0, 180]');
  if (!(typeof c.temperature === 'number' && c.temperature >= 0.01 && c.temperature <= 10)) fail('temperature', 'a number in [0.01, 10]');
  if (!(typeof c.margin === 'number' && c.margin >= 0 && c.margin <= 4)) fail('margin', 'a number in [0, 4]');
  for (const k of ['noise', 'lr', 'weightDecay', 'metricsIntervalMs'] as const) nonNegative(k);
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0)) fail('seed', 'a non-negative integer');
  if (c.probePerClass * 10 > c.trainSize) fail('probePerClass', `at most trainSize / 10 (${Math.floor(c.trainSize / 10)}): the probe's labelled images are training images`);
  return c;
}

export interface ContrastiveInfo extends BaseInfo<ContrastiveSessionConfig> {
  /** Parameters of the encoder and the projection head together. */
  parameterCount: number;
  /** Image side (16) and the features F a probe reads. */
  size: number;
  featureCount: number;
}

/** One step; figures over its 2N views. */
export interface ContrastiveStepRecord {
  step: number;
  /** What the step minimised (NT-Xent or triplet). */
  loss: number;
  /** Mean cosine similarity of a view with its positive, and with the other images' views. */
  posSim: number;
  negSim: number;
  /** Share of views whose most similar other view is their positive (among 2N - 1). */
  accuracy: number;
  gradNorm: number;
  lr: number;
  /** Wall time between this step's result and the previous one's, in ms. */
  ms: number;
}

export interface ContrastiveMetricsEvent extends MetricsEventBase {
  type: 'metrics';
  steps: ContrastiveStepRecord[];
}

/** One probe's accuracies: on its own labelled images, and on the held-out digits. */
export interface ProbeScore {
  trainAccuracy: number;
  testAccuracy: number;
}

/**
 * Logistic regression on frozen features of probePerClass labelled digits per class, scored on
 * the held-out digits, beside the same probe on raw pixels and on the encoder as initialised
 * (the baselines: computed once per run, from the seed's initial weights).
 */
export interface ContrastiveProbeEvent {
  type: 'probe';
  step: number;
  labelled: number;
  heldOut: number;
  learned: ProbeScore;
  rawPixels: ProbeScore;
  randomEncoder: ProbeScore;
}

/** The held-out digits' features by PCA: (heldOut, 2) points, their classes and the digits themselves. */
export interface ContrastiveEmbeddingEvent {
  type: 'embedding';
  step: number;
  points: Float32Array;
  labels: Int32Array;
  /** The held-out digits (heldOut, 1, S, S) in [0, 1], in the points' order. */
  images: Float32Array;
  /** Share of the features' variance along each of the two components. */
  explained: [number, number];
}

/**
 * Training images and both of their views as the step augments them (fresh augmentation seeds
 * of a stream of their own, so showing them changes nothing about training): what the loss is
 * told is the same image.
 */
export interface ContrastiveViewsEvent {
  type: 'views';
  step: number;
  /** Images n (n, 1, S, S) in [0, 1], and their first and second views (n, 1, S, S) each. */
  images: Float32Array;
  first: Float32Array;
  second: Float32Array;
  size: number;
}

export type ContrastiveEvent = CoreEvent<ContrastiveInfo> | ContrastiveMetricsEvent | ContrastiveProbeEvent | ContrastiveEmbeddingEvent | ContrastiveViewsEvent;

export type ContrastiveStepSummary = { step: number; loss: number; accuracy: number };

/** What the worker exposes: every session's calls, a probe and the embedding on request. */
export interface ContrastiveApi extends SessionApi<ContrastiveSessionConfig, ContrastiveHyper, ContrastiveInfo, ContrastiveEvent, ContrastiveStepSummary> {
  /** A probe now (emitted as an event too). */
  probe(): Promise<ContrastiveProbeEvent>;
  /** The embedding now (emitted as an event too). */
  embedding(): Promise<ContrastiveEmbeddingEvent>;
  /** New views of the same training images (emitted as an event too). */
  views(): Promise<ContrastiveViewsEvent>;
}

/** Every ContrastiveApi method, in the order the worker serves them. */
export const CONTRASTIVE_METHODS = [...SESSION_METHODS, 'probe', 'embedding', 'views'] as const satisfies readonly (keyof ContrastiveApi)[];
