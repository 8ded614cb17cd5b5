// Fine-tuning a pretrained GPT-2 on the user's text, a task of the session core
// (worker/session.ts). The user's files are taken once (base(): checked at once, held across
// runs, a bad file refused in its own words while the files held before stay) and answered with
// a summary: the model, its tokenizer, and each strategy's memory with whether this device holds
// it. A run (create) applies a strategy (full, the last blocks, LoRA), builds the trainer over
// the trained weights only, streams the base's weights in (progress events) and measures the
// pretrained model's held-out perplexity and samples before any step; the loop then records the
// loss per step, the held-out perplexity every evalEvery steps over the same windows, and
// samples from the same prompts and seed every sampleEvery steps, so before and after compare.
// Exports: the merged weights with config.json (GPT-2's own layout), or a LoRA run's adapters
// alone with adapter_config.json (PEFT's). Its own checkpoint and autosave hold only what training
// changed (trained tensors, their AdamW state, step, batch position) with the base's identity:
// resuming needs the same base files, and a checkpoint of another base is refused by shape,
// name and fingerprint. The text rides beside an autosave, as the transformer's upload does.
// Not here: checking files (base.ts), what a config builds (run.ts), the strategies and exports
// (models/gpt-finetune.ts), what every task shares (worker/session.ts).

import type { SafetensorsFile } from '../../checkpoint/safetensors.js';
import { InputError, NonFiniteError } from '../../errors.js';
import { TrainingMetrics, type StepRecord } from '../../metrics.js';
import { exportAdapters, exportMerged } from '../../models/gpt-finetune.js';
import type { StepResult } from '../../models/gpt.js';
import type { BaseInfo } from '../../worker/protocol.js';
import { Session, type SessionOptions } from '../../worker/session.js';
import { openBase, summaryOf, type HeldBase } from './base.js';
import {
  finetuneConfig, HYPER_KEYS, type BaseFiles, type BaseSummary, type EvalRecord, type ExportedFiles, type FinetuneApi, type FinetuneConfig,
  type FinetuneEvent, type FinetuneInfo, type FinetuneMetricsEvent, type SamplesEvent,
} from './protocol.js';
import {
  buildRun, checkpointContents, freeRun, loadInto, measure, nextBatch, prepareData, samplesOf, savedConfig, scheduleOf, type FinetuneData, type FinetuneRun,
} from './run.js';

export type FinetuneSessionOptions = SessionOptions;

type Run = FinetuneRun & { metrics: TrainingMetrics };

export class FinetuneSession extends Session<Run, FinetuneConfig, FinetuneInfo, FinetuneEvent, StepRecord | EvalRecord, StepResult> implements FinetuneApi {
  protected readonly hyperKeys = HYPER_KEYS;
  /** The pretrained model's files, checked; kept across runs. */
  private held: HeldBase | null = null;
  private summary: BaseSummary | null = null;
  /** The data checkData made for the config it was given, so build does not make it again. */
  private prepared: { config: FinetuneConfig; data: FinetuneData } | null = null;

  constructor(opts: FinetuneSessionOptions = {}) {
    super('finetune', opts);
  }

  // ----------------------------------------------------------------------------------------
  // the base model

  async base(files: BaseFiles): Promise<BaseSummary> {
    const next = await openBase(files); // a typed error naming the file: the base held before stays
    const engine = await this.device();
    this.summary = summaryOf(next, engine.gpu.limits, engine.memoryBudget);
    this.held = next;
    this.status();
    return this.summary;
  }

  private needBase(): HeldBase {
    if (!this.held) throw new InputError("There is no pretrained model yet: choose its model.safetensors, config.json and tokenizer files (vocab.json and merges.txt, or tokenizer.json) first.");
    return this.held;
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  protected configOf(overrides: Partial<FinetuneConfig>): FinetuneConfig {
    return finetuneConfig(overrides);
  }

  /** The text against the base's tokenizer and context, before any GPU work. */
  protected checkData(config: FinetuneConfig): void {
    this.prepared = { config, data: prepareData(config, this.needBase()) };
  }

  protected async build(config: FinetuneConfig): Promise<Run> {
    const base = this.needBase();
    const data = this.prepared?.config === config ? this.prepared.data : prepareData(config, base);
    this.prepared = null;
    const run = await buildRun(this.engine!, base, config, data);
    return Object.assign(run, { metrics: this.newMetrics(config, data.block) });
  }

  /** A metrics collector whose records feed the batched events and the measurement's train loss. */
  private newMetrics(config: FinetuneConfig, block: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: config.batch * block });
    metrics.subscribe((r) => {
      const run = this.current;
      if (!run || run.metrics !== metrics) return;
      if (Number.isFinite(r.loss)) {
        run.lossSum += r.loss;
        run.lossCount++;
      }
      this.outbox.push(r);
    });
    return metrics;
  }

  protected free(r: Run): void {
    freeRun(this.engine!, r);
  }

  // ----------------------------------------------------------------------------------------
  // running

  async step(n: number): Promise<{ step: number; loss: number }> {
    const r = await this.runSteps(n);
    return { step: this.need().gpt.steps, loss: r.loss };
  }

  protected stepsOf(r: Run): number {
    return r.gpt.steps;
  }

  protected submit(r: Run): Promise<StepResult> {
    const lr = r.live.schedule(r.gpt.steps);
    const result = r.gpt.step(nextBatch(r)) as Promise<StepResult>;
    r.metrics.record(r.gpt.steps, lr, result.then(
      (x) => ({ loss: Float32Array.of(x.loss), gradNorm: Float32Array.of(x.gradNorm) }),
      () => ({ loss: Float32Array.of(NaN), gradNorm: Float32Array.of(NaN) }),
    ));
    return result;
  }

  protected async recorded(): Promise<void> {
    await this.current?.metrics.flush();
  }

  /** A diverged run stops with words rather than training on NaNs (the GPU skipped its update). */
  protected check(r: Run, x: StepResult): void {
    if (Number.isFinite(x.loss) && Number.isFinite(x.gradNorm) && !x.skipped) return;
    throw new NonFiniteError(
      `The loss became ${x.loss} (gradient norm ${x.gradNorm}) by step ${r.gpt.steps}; that update was skipped. Lower the learning rate and continue, or reset.`,
      'loss',
    );
  }

  /** The held-out perplexity and the samples when the step just submitted is due for them. */
  protected async periodic(r: Run, step: number): Promise<void> {
    const { evalEvery, sampleEvery } = r.config;
    if (evalEvery > 0 && step % evalEvery === 0) {
      await this.drain();
      await this.evaluate(r, step);
    }
    if (sampleEvery > 0 && step % sampleEvery === 0) this.emit({ type: 'samples', step, samples: await samplesOf(r) });
  }

  private async evaluate(r: Run, step: number): Promise<void> {
    const perplexity = await measure(r);
    this.outbox.push({ step, valLoss: Math.log(perplexity), perplexity, trainLoss: r.lossCount ? r.lossSum / r.lossCount : NaN });
    r.lossSum = 0;
    r.lossCount = 0;
  }

  protected metricsEvent(records: (StepRecord | EvalRecord)[]): FinetuneMetricsEvent {
    return {
      type: 'metrics',
      steps: records.filter((x): x is StepRecord => !('valLoss' in x)),
      evals: records.filter((x): x is EvalRecord => 'valLoss' in x),
    };
  }

  protected applyHyper(r: Run, next: FinetuneConfig): void {
    r.config = next;
    r.live.schedule = scheduleOf(next);
  }

  /** A new run's first pictures: the pretrained model's perplexity (step 0) and samples, then the model's as it is (a loaded one). */
  protected async refresh(r: Run): Promise<void> {
    if (r !== this.current) return;
    this.outbox.push({ step: 0, valLoss: Math.log(r.before.perplexity), perplexity: r.before.perplexity, trainLoss: NaN });
    this.emit({ type: 'samples', step: 0, samples: r.before.samples });
    if (r.gpt.steps > 0) {
      await this.evaluate(r, r.gpt.steps);
      this.emit({ type: 'samples', step: r.gpt.steps, samples: await samplesOf(r) });
    }
    await this.outbox.deliver();
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model, exports

  async samples(): Promise<SamplesEvent> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      const r = this.need();
      const e: SamplesEvent = { type: 'samples', step: r.gpt.steps, samples: await samplesOf(r) };
      this.emit(e);
      return e;
    });
  }

  async exportMerged(): Promise<ExportedFiles> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return exportMerged(this.engine!, this.need().finetune.model);
    });
  }

  async exportAdapters(): Promise<ExportedFiles> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return exportAdapters(this.engine!, this.need().finetune); // ConfigError for a run without adapters
    });
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints and info

  protected contents(r: Run) {
    return checkpointContents(r);
  }

  protected attachment(r: Run): Uint8Array | null {
    return r.config.text;
  }

  protected savedConfig(metadata: Record<string, string>, current: FinetuneConfig | null, attachment: Uint8Array | null): FinetuneConfig {
    return savedConfig(metadata, this.held, current, attachment);
  }

  protected load(r: Run, bytes: Uint8Array, _file: SafetensorsFile): Promise<void> {
    return loadInto(this.engine!, r, bytes);
  }

  protected describe(r: Run): string {
    // Read as "A LoRA rank 8 fine-tuned model saved at step ..." by the page's offer.
    const s = r.config.strategy;
    const how = s.kind === 'full' ? 'fully' : s.kind === 'partial' ? `last-${s.lastBlocks === 1 ? 'block' : `${s.lastBlocks}-blocks`}${s.head ? '-and-head' : ''}` : `LoRA rank ${s.rank}`;
    return `${how} fine-tuned`;
  }

  protected details(r: Run | null): Omit<FinetuneInfo, keyof BaseInfo<FinetuneConfig>> {
    const count = (ts: { size: number }[]) => ts.reduce((a, t) => a + t.size, 0);
    const trainable = r ? count(r.finetune.trainable) : 0;
    const adapters = r?.finetune.strategy.kind === 'lora' ? trainable : 0;
    return {
      base: this.summary,
      trainableParameters: trainable,
      parameters: r ? count(r.finetune.model.params) + adapters : 0,
      trainTokens: r?.split.train.length ?? 0,
      valTokens: r?.split.val.length ?? 0,
      block: r?.block ?? 0,
      perplexityBefore: r?.before.perplexity ?? NaN,
      perplexity: r?.perplexity ?? NaN,
      samplesBefore: r?.before.samples ?? [],
      sameBase: r !== null && r.base === this.held,
    };
  }
}
