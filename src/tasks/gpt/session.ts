// The GPT trainer behind the transformer page, a task of the session core (worker/session.ts):
// it builds the corpus, tokenizer, split, model, fused AdamW and three compiled plans (train
// step, evaluation, and a key/value-cache decoder for samples) from one TrainerConfig; each step
// is submitted without waiting for the previous one's loss (TrainingMetrics turns read-backs
// into records a few steps behind); evaluation, samples and autosaves come when due. It runs as
// is in Node (scripts, tests) and inside the Web Worker (worker.ts).
//
// The learning rate is linear warmup then either cosine decay to minLrRatio * lr at totalSteps,
// or constant (TrainerConfig.schedule); it is read from a schedule function at every step, so
// changing it never recompiles. Changing dropout recompiles the training step only, keeping
// parameters and optimizer state.
//
// A checkpoint (exportCheckpoint, autosave) holds parameters, AdamW state, the step, the data
// sampler's seed and position, the tokenizer and the config: importing it into a trainer made
// from the same config continues the run bit for bit. Importing keeps the trainer's own
// hyperparameters and data (a trainer with no model yet takes the checkpoint's); resumeAutosave
// builds the saved config, its uploaded text kept beside the checkpoint.
// A step whose loss or gradient norm is not finite had its update skipped on the GPU: under
// nonFinite 'stop' the run stops with a NonFiniteError naming the first op that made the value;
// under 'skip' it is counted. In mixed precision (TrainerConfig.precision) the optimizer scales
// the loss; a step it skips because f16 overflowed is routine, counted and shown with the
// scale, not a non-finite step.
// Not here: the lifecycle, loop, autosave and device-loss recovery every task shares
// (worker/session.ts), what one config builds and its checkpoints (run.ts), the model
// (models/gpt.ts), data (data/, config.ts), the checks off the main path (checks.ts).

import type { SafetensorsFile } from '../../checkpoint/safetensors.js';
import type { Batch } from '../../data/batches.js';
import { scoreArithmetic } from '../../data/corpus.js';
import { InputError } from '../../errors.js';
import { TrainingMetrics, type StepRecord } from '../../metrics.js';
import type { StepResult } from '../../models/gpt.js';
import { attentionWeights } from '../../models/gpt-inspect.js';
import { sampleTokensCached } from '../../sample.js';
import { Cadence } from '../../worker/cadence.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import type { AutosaveInfo } from '../../worker/protocol.js';
import { usableConfig } from '../../worker/saved-config.js';
import { diagnoseNonFinite, savedTrainerConfig } from './checks.js';
import { HYPER_KEYS, prepareData, scheduleOf, trainerConfig, type SessionData } from './config.js';
import {
  buildSession, checkpointContents, disposeSession, loadInto, recompileStep, scalerOf, sessionInfo, stepOutcome, type Session as Run,
} from './run.js';
import type {
  AttentionMap, EvalRecord, MetricsEvent, SampleEvent, SampleOptions, StepSummary, TrainerApi, TrainerConfig, TrainerEvent, TrainerInfo,
} from './protocol.js';

export type TrainerOptions = SessionOptions;

/** A submitted step's result with what its check needs: its number and its batch (for a diagnosis). */
type Submitted = StepResult & { step: number; batch: Batch };

export class Trainer
  extends Session<Run, TrainerConfig, TrainerInfo, TrainerEvent, StepRecord | EvalRecord, Submitted>
  implements TrainerApi
{
  protected readonly hyperKeys = HYPER_KEYS;
  /** The data checkData prepared for the config it was given, so build does not prepare it again. */
  private prepared: SessionData | null = null;

  /** When the next periodic sample is due. */
  private readonly samples = new Cadence();

  constructor(opts: TrainerOptions = {}) {
    super('gpt', opts);
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<TrainerConfig>): TrainerConfig {
    return trainerConfig(overrides);
  }

  /** The text, tokenizer and split, before any GPU work: DataError for an unusable upload. */
  protected checkData(config: TrainerConfig): void {
    this.prepared = prepareData(config);
  }

  protected async build(config: TrainerConfig): Promise<Run> {
    const data = this.prepared?.config === config ? this.prepared : prepareData(config);
    this.prepared = null;
    return buildSession(this.engine!, data, scheduleOf(config), (blockSize) => this.newMetrics(config, blockSize));
  }

  /** A metrics collector whose records feed the batched metrics events and the eval's train loss. */
  private newMetrics(config: TrainerConfig, blockSize: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: config.batch * blockSize });
    metrics.subscribe((r) => {
      const s = this.current;
      if (!s || s.metrics !== metrics) return;
      if (Number.isFinite(r.loss)) {
        s.lossSum += r.loss;
        s.lossCount++;
      }
      this.outbox.push(r);
    });
    return metrics;
  }

  protected free(s: Run): void {
    disposeSession(this.engine!, s);
  }

  // ----------------------------------------------------------------------------------------
  // running

  /** Starts the loop; its first step brings a sample. */
  async start(): Promise<void> {
    this.samples.restart();
    return super.start();
  }

  async step(n: number): Promise<StepSummary> {
    const r = await this.runSteps(n);
    return { step: this.need().gpt.steps, loss: r.loss };
  }

  protected stepsOf(s: Run): number {
    return s.gpt.steps;
  }

  protected submit(s: Run): Promise<Submitted> {
    const lr = s.live.schedule(s.gpt.steps);
    const batch = s.sampler.next();
    const step = s.gpt.steps + 1;
    const run = (s.gpt.step(batch) as Promise<StepResult>).then((r) => ({ ...r, step, batch }));
    s.drawn++;
    // A failed read-back is recorded as NaN, so the records of later steps still come.
    s.metrics.record(s.gpt.steps, lr, run.then(
      (r) => ({ loss: Float32Array.of(r.loss), gradNorm: Float32Array.of(r.gradNorm) }),
      () => ({ loss: Float32Array.of(NaN), gradNorm: Float32Array.of(NaN) }),
    ));
    return run;
  }

  protected async recorded(): Promise<void> {
    await this.current?.metrics.flush();
  }

  /**
   * A step whose update the GPU skipped: an f16 overflow in mixed precision is counted (the
   * scaler has lowered the scale); a non-finite step under 'skip' is counted, under 'stop' the
   * run stops with the op that made the value.
   */
  protected async check(s: Run, r: Submitted): Promise<void> {
    s.lossScale = r.lossScale;
    const outcome = stepOutcome(r, s.gpt.model.config.precision === 'mixed');
    if (outcome === 'applied') return;
    if (outcome === 'overflow') {
      s.overflowSteps++;
      return;
    }
    s.skipped++;
    if (s.config.nonFinite === 'stop') throw await diagnoseNonFinite(this.engine!, s.gpt.model, r);
  }

  /** Evaluation and a sample when the step just submitted is due for them. */
  protected async periodic(s: Run, step: number): Promise<void> {
    const { evalEvery, sampleEvery } = s.config;
    if (evalEvery > 0 && step % evalEvery === 0) {
      await this.drain();
      const valLoss = await s.evaluator.loss(s.evalSet);
      this.outbox.push({ step, valLoss, trainLoss: s.lossCount ? s.lossSum / s.lossCount : NaN });
      s.lossSum = 0;
      s.lossCount = 0;
    }
    if (this.samples.due(step, sampleEvery, s.config.sampleSeconds)) {
      const prompt = s.tokenizer.covers('\n') ? '\n' : s.tokenizer.decode([0]);
      this.emit(await sampleOf(s, prompt, { length: s.config.sampleLength, temperature: 0.8, seed: step }));
    }
  }

  protected metricsEvent(records: (StepRecord | EvalRecord)[]): MetricsEvent {
    const scaler = this.current ? scalerOf(this.current) : null;
    return {
      type: 'metrics',
      steps: records.filter((r): r is StepRecord => !('valLoss' in r)),
      evals: records.filter((r): r is EvalRecord => 'valLoss' in r),
      ...(scaler ? { scaler } : {}),
    };
  }

  protected async applyHyper(s: Run, next: TrainerConfig): Promise<void> {
    if (next.dropout !== s.config.dropout) {
      await this.drain();
      await recompileStep(this.engine!, s, next.dropout);
    }
    s.config = next;
    s.live.schedule = scheduleOf(next);
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model

  async sample(prompt: string, opts: SampleOptions = {}): Promise<SampleEvent> {
    const s = this.need();
    if (typeof prompt !== 'string' || prompt.length === 0) {
      throw new InputError('The prompt is empty; type at least one character to start the sample from (a new line is a good start).');
    }
    s.tokenizer.encode(prompt); // DataError naming an unknown character, before any GPU work
    return this.exclusive(() => sampleOf(s, prompt, opts));
  }

  async attentionMap(prompt: string, layer: number, head: number): Promise<AttentionMap> {
    const s = this.need();
    if (typeof prompt !== 'string' || prompt.length === 0) throw new InputError('The prompt is empty; type at least one character to see where the heads look.');
    const ids = s.tokenizer.encode(prompt).slice(-s.gpt.model.config.blockSize);
    const weights = await this.exclusive(() => attentionWeights(this.engine!, s.gpt.model, ids, layer, head));
    return { tokens: Array.from(ids, (id) => s.tokenizer.decode([id])), weights };
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(s: Run) {
    return checkpointContents(s);
  }

  protected attachment(s: Run): Uint8Array | null {
    return s.upload;
  }

  /** The trainer's own config when it has a model (its data and hyperparameters stay); else the checkpoint's. */
  protected savedConfig(metadata: Record<string, string>, current: TrainerConfig | null, attachment: Uint8Array | null): TrainerConfig {
    return current ?? usableConfig(() => trainerConfig(savedTrainerConfig(metadata, attachment)));
  }

  protected load(s: Run, bytes: Uint8Array, _file: SafetensorsFile): Promise<void> {
    return loadInto(this.engine!, s, bytes);
  }

  protected describe(s: Run): string {
    return `${s.config.preset}${s.config.precision === 'mixed' ? ' mixed-precision' : ''}`;
  }

  /** Autosaves from before the `model` field described it by preset and precision. */
  async hasAutosave(): Promise<AutosaveInfo | null> {
    const info = await super.hasAutosave();
    const old = info as (AutosaveInfo & { preset?: string; precision?: string }) | null;
    return old && { ...old, model: old.model ?? `${old.preset}${old.precision === 'mixed' ? ' mixed-precision' : ''}` };
  }

  protected details(s: Run | null) {
    return sessionInfo(s);
  }
}

/**
 * A sample of the model as its submitted steps leave it (they run before it on the GPU), with
 * the arithmetic its text gets right.
 */
async function sampleOf(s: Run, prompt: string, opts: SampleOptions): Promise<SampleEvent> {
  const step = s.gpt.steps;
  const text = s.tokenizer.decode(await sampleTokensCached(s.decoder, s.tokenizer.encode(prompt), {
    maxNewTokens: opts.length ?? s.config.sampleLength,
    temperature: opts.temperature ?? 0.8,
    topK: opts.topK ?? 0,
    seed: opts.seed ?? 0,
  }));
  const { lines, correct, fraction } = scoreArithmetic(prompt + text);
  return { type: 'sample', step, prompt, text, arithmetic: { lines, correct, fraction } };
}
