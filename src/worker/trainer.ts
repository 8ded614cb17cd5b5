// The GPT trainer behind the transformer page: it builds the corpus, tokenizer, split, model,
// fused AdamW and three compiled plans (train step, evaluation, logits) from one TrainerConfig,
// and runs a loop that keeps the GPU busy: each step is submitted without waiting for the
// previous one's loss (TrainingMetrics turns read-backs into records a few steps behind), and
// the loop yields to the event loop between steps so that pause, step, setHyper, sample and
// export calls are served between two steps. Metrics go out batched, at most one event per
// metricsIntervalMs. It runs as is in Node (scripts, tests) and inside the Web Worker (worker.ts).
//
// The learning rate is linear warmup then either cosine decay to minLrRatio * lr at totalSteps,
// or constant (TrainerConfig.schedule); it is read from a schedule function at every step, so
// changing it never recompiles. Changing dropout recompiles the training step only, keeping
// parameters and optimizer state.
//
// A checkpoint (exportCheckpoint, autosave) holds parameters, AdamW state, the step, the data
// sampler's seed and position, the tokenizer and the config: importing it into a trainer made
// from the same config continues the run bit for bit. Importing keeps the trainer's own
// hyperparameters and data; resumeAutosave first creates the trainer from the saved config.
// When the GPU device is lost mid-run, the loop gets a new device, rebuilds the run from the
// latest autosave and carries on by itself ('recovered' event); without an autosave it stops
// with the DeviceLostError.
// In mixed precision (TrainerConfig.precision) the optimizer scales the loss; a step it skips
// because f16 overflowed is routine, counted and shown with the scale, not a non-finite step.
// Not here: the state and events every part shares (trainer-core.ts), what one config builds
// and its checkpoints (trainer-session.ts), the model (models/gpt.ts), data (data/,
// trainer-config.ts), the checks it makes off its main path (trainer-checks.ts), the comlink
// glue (worker.ts, client.ts).

import type { Batch } from '../data/batches.js';
import { scoreArithmetic } from '../data/corpus.js';
import { createEngine } from '../engine.js';
import { ConfigError, DeviceLostError, InputError } from '../errors.js';
import type { StepResult } from '../models/gpt.js';
import { attentionWeights } from '../models/gpt-inspect.js';
import { sampleText } from '../sample.js';
import { HYPER_KEYS, prepareData, scheduleOf, trainerConfig } from './trainer-config.js';
import { diagnoseNonFinite, lostDevice, type NonFiniteStep } from './trainer-checks.js';
import { TrainerCore, type TrainerOptions } from './trainer-core.js';
import {
  checkpointBytes, recompileStep, sessionInfo, stepOutcome, type Session,
} from './trainer-session.js';
import {
  toWireError, yieldToEventLoop, type AttentionMap, type AutosaveInfo, type Hyper, type SampleOptions, type StepSummary, type TrainerApi,
  type TrainerConfig, type TrainerEvent, type TrainerInfo, type TrainerState,
} from './protocol.js';

export type { TrainerOptions } from './trainer-core.js';

export class Trainer extends TrainerCore implements TrainerApi {
  private readonly inFlight: number;
  /** Submitted steps whose results are not back yet, oldest first. */
  private pending: Promise<StepResult>[] = [];
  /** Operations on the GPU state run one after another: a loop step, a sample, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  /** The first step with a non-finite loss or gradient norm under the 'stop' policy, and its batch. */
  private nonFiniteAt: NonFiniteStep | null = null;

  constructor(opts: TrainerOptions = {}) {
    super(opts);
    this.inFlight = opts.inFlight ?? 2;
  }

  // ----------------------------------------------------------------------------------------
  // building and tearing down

  async create(overrides: Partial<TrainerConfig>): Promise<TrainerInfo> {
    const data = prepareData(trainerConfig(overrides));
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine(); // WebGPUUnavailableError leaves the old model in place
      this.teardown();
      await this.build(data);
      return this.status();
    });
  }

  async dispose(): Promise<void> {
    await this.pause();
    await this.exclusive(async () => this.teardown());
    this.emit({ type: 'status', info: this.info_() });
  }

  async reset(): Promise<TrainerInfo> {
    await this.pause();
    return this.exclusive(async () => {
      const { config, upload, tokenizer, split, unigram, evalSet } = this.need();
      this.teardown();
      await this.build({ config, upload, tokenizer, split, unigram, evalSet });
      return this.status();
    });
  }

  // ----------------------------------------------------------------------------------------
  // running

  async start(): Promise<void> {
    this.need();
    if (this.loop) return;
    this.stopRequested = false;
    this.loop = this.runLoop();
    this.emit({ type: 'status', info: this.info_() });
  }

  async pause(): Promise<TrainerInfo> {
    if (this.loop) {
      this.stopRequested = true;
      await this.loop;
    }
    return this.info_();
  }

  async step(n: number): Promise<StepSummary> {
    if (!(Number.isInteger(n) && n >= 1)) throw new InputError(`step: n must be an integer >= 1, got ${n}.`);
    if (this.loop) throw new InputError('step: the trainer is running; pause it first.');
    this.need();
    let last: { run: Promise<StepResult> } | null = null;
    for (let i = 0; i < n; i++) {
      last = await this.exclusive(() => this.iterate());
      await yieldToEventLoop();
    }
    const r = await last!.run;
    await this.drain();
    await this.flushMetrics();
    await this.raiseNonFinite();
    return { step: this.need().gpt.steps, loss: r.loss };
  }

  private async runLoop(): Promise<void> {
    for (;;) {
      try {
        while (!this.stopRequested) {
          const s = this.need();
          if (s.config.totalSteps > 0 && s.gpt.steps >= s.config.totalSteps) break;
          await this.exclusive(() => this.iterate());
          await yieldToEventLoop();
        }
        await this.drain();
        await this.flushMetrics();
        await this.raiseNonFinite();
      } catch (e) {
        // A failed read-back breaks the metrics chain: later steps get a fresh collector.
        this.pending = [];
        // A lost device shows up as whatever the call in progress failed with (an aborted
        // read-back, a DeviceLostError), sometimes before the device reports the loss itself.
        const lost = await lostDevice(this.engine);
        if (lost && !this.stopRequested && (await this.exclusive(() => this.recover(lost)))) continue;
        if (this.s) this.s.metrics = this.newMetrics(this.s.config, this.s.gpt.model.config.blockSize);
        this.emit({ type: 'error', error: toWireError(lost ?? e) });
      }
      break;
    }
    this.loop = null;
    this.emit({ type: 'status', info: this.info_() });
  }

  /**
   * After the device is lost mid-run: a new device, the model rebuilt from the latest autosave
   * (parameters, optimizer state, step, data position), and the loop carries on from there;
   * the steps since that autosave run again. False when there is no autosave to come back to.
   */
  private async recover(e: DeviceLostError): Promise<boolean> {
    const record = await (await this.store).load();
    const lostAt = this.s?.gpt.steps ?? 0;
    if (!record) return false;
    // Everything the session held died with the device; nothing of it can be freed or read.
    this.s = null;
    this.engine = null;
    this.engine = await createEngine();
    await this.restore(record);
    this.emit({ type: 'recovered', reason: e.message, lostAt, resumedAt: this.need().gpt.steps });
    return true;
  }

  /**
   * One step of the loop: submits a training step, waits only when more than `inFlight` are
   * unread, then runs what is due (evaluation, sample, autosave). The step's result is wrapped
   * so that awaiting this does not await it.
   */
  private async iterate(): Promise<{ run: Promise<StepResult> }> {
    const run = this.stepOnce();
    while (this.pending.length > this.inFlight) await this.pending.shift();
    await this.periodic();
    return { run };
  }

  /** Submits one training step and returns its result without waiting for it. */
  private stepOnce(): Promise<StepResult> {
    const s = this.need();
    const lr = this.schedule(s.gpt.steps);
    const batch = s.sampler.next();
    const step = s.gpt.steps + 1;
    const run = s.gpt.step(batch) as Promise<StepResult>;
    // Awaited in order later (iterate, drain); a failure before then is not unhandled.
    run.then((r) => this.checkStep(s, step, batch, r), () => {});
    s.drawn++;
    this.pending.push(run);
    s.metrics.record(s.gpt.steps, lr, run.then((r) => ({ loss: Float32Array.of(r.loss), gradNorm: Float32Array.of(r.gradNorm) })));
    return run;
  }

  /**
   * A step whose update the GPU skipped: an f16 overflow in mixed precision is counted (the
   * scaler has lowered the scale); a non-finite step under 'skip' is counted, under 'stop' the
   * loop stops after it and raiseNonFinite explains it.
   */
  private checkStep(s: Session, step: number, batch: Batch, r: StepResult): void {
    s.lossScale = r.lossScale;
    const outcome = stepOutcome(r, s.gpt.model.config.precision === 'mixed');
    if (outcome === 'applied') return;
    if (outcome === 'overflow') {
      s.overflowSteps++;
      return;
    }
    s.skipped++;
    if (s.config.nonFinite === 'stop' && !this.nonFiniteAt) {
      this.nonFiniteAt = { step, loss: r.loss, gradNorm: r.gradNorm, batch };
      this.stopRequested = true;
    }
  }

  /** Throws the NonFiniteError for the step checkStep stopped at, naming the op (diagnoseNonFinite). */
  private async raiseNonFinite(): Promise<void> {
    const at = this.nonFiniteAt;
    if (!at) return;
    this.nonFiniteAt = null;
    throw await diagnoseNonFinite(this.engine!, this.need().gpt.model, at);
  }

  /** Waits for every submitted step and its metrics record. */
  private async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    await Promise.all(all);
    if (this.s) await this.s.metrics.flush();
  }

  /** Evaluation, sample and autosave when the step just submitted is due for them. */
  private async periodic(): Promise<void> {
    const s = this.need();
    const { evalEvery, sampleEvery, autosaveEvery } = s.config;
    const step = s.gpt.steps;
    if (evalEvery > 0 && step % evalEvery === 0) {
      await this.drain();
      const valLoss = await s.evaluator.loss(s.evalSet);
      this.queueMetrics({ step, valLoss, trainLoss: s.lossCount ? s.lossSum / s.lossCount : NaN });
      s.lossSum = 0;
      s.lossCount = 0;
    }
    if (sampleEvery > 0 && step % sampleEvery === 0) {
      const prompt = s.tokenizer.covers('\n') ? '\n' : s.tokenizer.vocab[0];
      const text = await sampleText(s.logits, s.gpt.model.config.blockSize, s.tokenizer, prompt, {
        maxNewTokens: s.config.sampleLength,
        temperature: 0.8,
        seed: step,
      });
      const { lines, correct, fraction } = scoreArithmetic(text);
      this.emit({ type: 'sample', step, prompt, text, arithmetic: { lines, correct, fraction } });
    }
    if (autosaveEvery > 0 && step % autosaveEvery === 0) await this.autosave();
  }

  private async autosave(): Promise<void> {
    const store = await this.store;
    if (store.backend === 'unavailable') return;
    const s = this.need();
    const checkpoint = await checkpointBytes(this.engine!, s);
    const info: AutosaveInfo = { step: s.gpt.steps, savedAt: Date.now(), preset: s.config.preset, precision: s.config.precision, backend: store.backend };
    await store.save({ info, checkpoint, text: s.upload });
    this.emit({ type: 'autosave', step: info.step, bytes: checkpoint.length, backend: store.backend });
  }

  // ----------------------------------------------------------------------------------------
  // hyperparameters

  async setHyper(hyper: Partial<Hyper>): Promise<TrainerInfo> {
    const s = this.need();
    for (const k of Object.keys(hyper)) {
      if (!HYPER_KEYS.includes(k as keyof Hyper)) throw new ConfigError(`setHyper: '${k}' cannot change during a run; create the trainer again.`);
    }
    const config = trainerConfig({ ...s.config, ...hyper });
    if (config.dropout !== s.config.dropout) {
      await this.exclusive(async () => {
        await this.drain();
        await recompileStep(this.engine!, s, config.dropout);
      });
    }
    s.config = config;
    this.schedule = scheduleOf(config);
    return this.status();
  }

  // ----------------------------------------------------------------------------------------
  // looking at the model

  async sample(prompt: string, opts: SampleOptions = {}): Promise<string> {
    const s = this.need();
    if (typeof prompt !== 'string' || prompt.length === 0) {
      throw new InputError('sample: the prompt is empty; give at least one character (a newline is a good start).');
    }
    s.tokenizer.encode(prompt); // DataError naming an unknown character, before any GPU work
    const length = opts.length ?? s.config.sampleLength;
    return this.exclusive(() =>
      sampleText(s.logits, s.gpt.model.config.blockSize, s.tokenizer, prompt, {
        maxNewTokens: length,
        temperature: opts.temperature ?? 0.8,
        topK: opts.topK ?? 0,
        seed: opts.seed ?? 0,
      }),
    );
  }

  async attentionMap(prompt: string, layer: number, head: number): Promise<AttentionMap> {
    const s = this.need();
    if (typeof prompt !== 'string' || prompt.length === 0) throw new InputError('attentionMap: the prompt is empty; give at least one character.');
    const ids = s.tokenizer.encode(prompt).slice(-s.gpt.model.config.blockSize);
    const weights = await this.exclusive(() => attentionWeights(this.engine!, s.gpt.model, ids, layer, head));
    return { tokens: Array.from(ids, (id) => s.tokenizer.vocab[id]), weights };
  }

  // ----------------------------------------------------------------------------------------
  // checkpoints

  exportCheckpoint(): Promise<Uint8Array> {
    this.need();
    return this.exclusive(async () => {
      await this.drain();
      return checkpointBytes(this.engine!, this.need());
    });
  }

  async importCheckpoint(bytes: Uint8Array): Promise<TrainerInfo> {
    this.need();
    await this.pause();
    return this.exclusive(async () => {
      await this.drain();
      await this.load(bytes);
      return this.status();
    });
  }

  async loseDevice(): Promise<void> {
    this.engine?.destroy();
  }

  async hasAutosave(): Promise<AutosaveInfo | null> {
    return (await this.store).info();
  }

  async resumeAutosave(): Promise<TrainerInfo> {
    const record = await (await this.store).load();
    if (!record) throw new InputError('resumeAutosave: there is no autosave to resume; start a new run.');
    await this.pause();
    return this.exclusive(async () => {
      this.engine ??= await createEngine();
      await this.restore(record);
      return this.status();
    });
  }

  // ----------------------------------------------------------------------------------------
  // events

  async info(): Promise<TrainerInfo> {
    return this.info_();
  }

  async subscribe(listener: (event: TrainerEvent) => void): Promise<number> {
    return this.listeners.add(listener);
  }

  async unsubscribe(id: number): Promise<void> {
    this.listeners.delete(id);
  }

  private status(): TrainerInfo {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  private info_(): TrainerInfo {
    const s = this.s;
    const state: TrainerState = !s ? 'empty' : this.loop ? 'running' : 'paused';
    const gpu = this.engine?.gpu;
    const adapter = gpu?.adapter;
    return {
      state,
      ...sessionInfo(s),
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
      features: gpu ? [...gpu.features] : [],
      autosave: this.backend,
    };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}
