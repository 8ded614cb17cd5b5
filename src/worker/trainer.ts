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
// Not here: the model (models/gpt.ts), data (data/), the checks it makes off its main path
// (trainer-checks.ts), the comlink glue (worker.ts, client.ts).

import { loadCheckpoint, saveCheckpoint } from '../checkpoint/checkpoint.js';
import { BatchSampler, type Batch } from '../data/batches.js';
import { scoreArithmetic } from '../data/corpus.js';
import { createEngine, type Engine } from '../engine.js';
import { ConfigError, DeviceLostError, InputError } from '../errors.js';
import type { Plan } from '../executor.js';
import { TrainingMetrics, type StepRecord } from '../metrics.js';
import {
  compileGptEval, compileGptLogits, createGpt, createGptTrainer, gptConfig, gptForward, gptParameterCount,
  gptStateDict, GptTrainer, type GptEvaluator, type StepResult,
} from '../models/gpt.js';
import { attentionWeights } from '../models/gpt-inspect.js';
import type { Schedule } from '../optim/schedules.js';
import { sampleText } from '../sample.js';
import { input } from '../tensor.js';
import { openAutosave, type AutosaveRecord, type AutosaveStore } from './autosave.js';
import { HYPER_KEYS, prepareData, samplerSeed, scheduleOf, trainerConfig, type SessionData } from './trainer-config.js';
import { autosavedConfig, checkTokenizer, diagnoseNonFinite, lostDevice, type NonFiniteStep, type SavedConfig } from './trainer-checks.js';
import {
  Listeners, toWireError, yieldToEventLoop, type AttentionMap, type AutosaveBackend, type AutosaveInfo, type EvalRecord, type Hyper, type SampleOptions,
  type StepSummary, type TrainerApi, type TrainerConfig, type TrainerEvent, type TrainerInfo, type TrainerState,
} from './protocol.js';

export interface TrainerOptions {
  /** The engine to train on; default: one created (createEngine) on the first create(). */
  engine?: Engine;
  /** Where autosaves go; default: openAutosave() (OPFS or IndexedDB in a browser, none in Node). */
  autosave?: AutosaveStore;
  /** Steps submitted ahead of the oldest one whose loss is not yet back. */
  inFlight?: number;
}

/** Everything built from one config: the data, the model and its plans. */
interface Session extends SessionData {
  sampler: BatchSampler;
  /** Batches drawn from the sampler: with the seed, its position. */
  drawn: number;
  gpt: GptTrainer;
  evaluator: GptEvaluator;
  logits: Plan;
  metrics: TrainingMetrics;
  /** Training losses since the last evaluation, for its trainLoss. */
  lossSum: number;
  lossCount: number;
  /** Updates skipped for a non-finite loss or gradient norm. */
  skipped: number;
}

const now = () => performance.now();

export class Trainer implements TrainerApi {
  private engine: Engine | null;
  private store: Promise<AutosaveStore>;
  private backend: AutosaveBackend = 'unavailable';
  private readonly inFlight: number;
  /** The engine it trains on now: a new one after a device loss (for accounting, such as the soak bench's). */
  get currentEngine(): Engine | null { return this.engine; }
  private s: Session | null = null;
  private schedule: Schedule = () => 0;
  private listeners = new Listeners<TrainerEvent>();
  /** Operations on the GPU state run one after another: a loop step, a sample, an import. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Submitted steps whose results are not back yet, oldest first. */
  private pending: Promise<StepResult>[] = [];
  private loop: Promise<void> | null = null;
  private stopRequested = false;
  /** The first step with a non-finite loss or gradient norm under the 'stop' policy, and its batch. */
  private nonFiniteAt: NonFiniteStep | null = null;
  // Batched metrics: records wait here until their event goes out.
  private outSteps: StepRecord[] = [];
  private outEvals: EvalRecord[] = [];
  private lastEmit = -Infinity;
  private emitTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(opts: TrainerOptions = {}) {
    this.engine = opts.engine ?? null;
    this.store = opts.autosave ? Promise.resolve(opts.autosave) : openAutosave();
    this.store.then((st) => (this.backend = st.backend)).catch(() => {});
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
      await this.buildSession(data);
      return this.status();
    });
  }

  /** Model, optimizer, plans, sampler and metrics for `data`, parameters fresh from the seed. */
  private async buildSession(data: SessionData): Promise<void> {
    const engine = this.engine!;
    const { config } = data;
    this.schedule = scheduleOf(config);
    const model = createGpt({ preset: config.preset, vocabSize: data.tokenizer.vocabSize, dropout: config.dropout, seed: config.seed });
    // The fused optimizer sees step + 1 for the update it is about to make; the schedule wants 0 first.
    const gpt = await createGptTrainer(engine, model, { batch: config.batch, optimizer: { lr: (s) => this.schedule(s - 1) } });
    const evaluator = await compileGptEval(engine, model, config.batch);
    const logits = await compileGptLogits(engine, model);
    const sampler = new BatchSampler(data.split.train, { batch: config.batch, block: model.config.blockSize, seed: samplerSeed(config.seed) });
    this.s = { ...data, gpt, evaluator, logits, sampler, drawn: 0, metrics: this.newMetrics(config, model.config.blockSize), lossSum: 0, lossCount: 0, skipped: 0 };
  }

  /** A metrics collector whose records feed the batched metrics events and the eval's train loss. */
  private newMetrics(config: TrainerConfig, blockSize: number): TrainingMetrics {
    const metrics = new TrainingMetrics({ itemsPerStep: config.batch * blockSize });
    metrics.subscribe((r) => {
      const s = this.s;
      if (!s || s.metrics !== metrics) return;
      s.lossSum += r.loss;
      s.lossCount++;
      this.outSteps.push(r);
      this.queueMetrics();
    });
    return metrics;
  }

  /** Frees every GPU buffer the session holds (plans, optimizer state, parameters). */
  private teardown(): void {
    const s = this.s;
    if (!s) return;
    this.s = null;
    const engine = this.engine!;
    s.gpt.dispose();
    s.evaluator.dispose();
    s.logits.dispose();
    for (const p of s.gpt.model.params) engine.freeParameter(p);
    this.outSteps = [];
    this.outEvals = [];
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
      await this.buildSession({ config, upload, tokenizer, split, unigram, evalSet });
      return this.status();
    });
  }

  /** A fresh sampler at the config's seed, advanced by `drawn` batches (a resumed run's position). */
  private restartSampler(drawn: number): void {
    const s = this.need();
    s.sampler = new BatchSampler(s.split.train, { batch: s.config.batch, block: s.gpt.model.config.blockSize, seed: samplerSeed(s.config.seed) });
    for (let i = 0; i < drawn; i++) s.sampler.next();
    s.drawn = drawn;
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
    run.then((r) => this.checkFinite(s, step, batch, r), () => {});
    s.drawn++;
    this.pending.push(run);
    s.metrics.record(s.gpt.steps, lr, run.then((r) => ({ loss: Float32Array.of(r.loss), gradNorm: Float32Array.of(r.gradNorm) })));
    return run;
  }

  /**
   * A step whose loss or gradient norm is not finite had its update skipped on the GPU. Under
   * 'skip' it is counted; under 'stop' the loop stops after it and raiseNonFinite explains it.
   */
  private checkFinite(s: Session, step: number, batch: Batch, r: StepResult): void {
    if (Number.isFinite(r.loss) && Number.isFinite(r.gradNorm)) return;
    s.skipped++;
    if (s.config.nonFinite === 'stop' && !this.nonFiniteAt) {
      this.nonFiniteAt = { step, loss: r.loss, gradNorm: r.gradNorm, batch };
      this.stopRequested = true;
    }
  }

  /** Throws the NonFiniteError for the step checkFinite stopped at, naming the op (diagnoseNonFinite). */
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
      this.outEvals.push({ step, valLoss, trainLoss: s.lossCount ? s.lossSum / s.lossCount : NaN });
      s.lossSum = 0;
      s.lossCount = 0;
      this.queueMetrics();
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
    const checkpoint = await this.checkpointBytes();
    const info: AutosaveInfo = { step: s.gpt.steps, savedAt: Date.now(), preset: s.config.preset, backend: store.backend };
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
        await this.recompileStep(config.dropout);
      });
    }
    s.config = config;
    this.schedule = scheduleOf(config);
    return this.status();
  }

  /**
   * The training step compiled again for a new dropout probability, on the same parameters and
   * optimizer: the new plan is built before the old one is released, so a failure changes nothing.
   */
  private async recompileStep(dropout: number): Promise<void> {
    const s = this.need();
    const old = s.gpt;
    const model = { ...old.model, config: gptConfig({ ...old.model.config, dropout }) };
    const { batch } = s.config;
    const T = model.config.blockSize;
    const idx = input('idx', [batch, T], 'i32');
    const targets = input('targets', [batch, T], 'i32');
    const dropoutSeed = dropout > 0 ? input('dropoutSeed', [], 'i32') : undefined;
    const { loss } = gptForward(model, idx, { targets, dropoutSeed });
    const plan = await this.engine!.compile({ outputs: { loss: loss! }, optimizer: old.optimizer.minimize(loss!) });
    old.plan.dispose();
    s.gpt = new GptTrainer(model, plan, old.optimizer);
    s.gpt.steps = old.steps;
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
      return this.checkpointBytes();
    });
  }

  private async checkpointBytes(): Promise<Uint8Array> {
    const s = this.need();
    const { gpt } = s;
    const trainer = { ...s.config, data: s.config.data.kind === 'text' ? { kind: 'text' as const, bytes: new Uint8Array(0), name: s.config.data.name } : s.config.data };
    const config: SavedConfig = { trainer, tokenizer: s.tokenizer.toJSON(), gpt: gpt.model.config };
    return saveCheckpoint(this.engine!, {
      params: gptStateDict(gpt.model),
      state: await gpt.optimizer.readState(),
      step: gpt.steps,
      rng: { samplerSeed: samplerSeed(s.config.seed), drawn: s.drawn },
      config,
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

  /** Parameters, optimizer state, step and data position from a checkpoint into the session. */
  private async load(bytes: Uint8Array): Promise<void> {
    const s = this.need();
    checkTokenizer(bytes, s.tokenizer);
    const { gpt } = s;
    // Host arrays of the right lengths: loadCheckpoint checks every entry before it writes one.
    const state: Record<string, Float32Array> = { counters: new Float32Array(3) };
    const params = gptStateDict(gpt.model);
    for (const [name, p] of Object.entries(params)) {
      for (const k of ['exp_avg', 'exp_avg_sq']) state[`${k}.${name}`] = new Float32Array(p.size);
    }
    const loaded = await loadCheckpoint(this.engine!, bytes, { params, state });
    await gpt.optimizer.writeState(state);
    const step = loaded.step ?? 0;
    gpt.steps = step;
    gpt.optimizer.step = step;
    const drawn = loaded.rng && loaded.rng.samplerSeed === samplerSeed(s.config.seed) ? loaded.rng.drawn : step;
    this.restartSampler(drawn);
    s.metrics = this.newMetrics(s.config, gpt.model.config.blockSize);
    s.lossSum = 0;
    s.lossCount = 0;
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

  /** The session an autosave describes: data and model from its config, then its checkpoint. */
  private async restore(record: AutosaveRecord): Promise<void> {
    const prepared = prepareData(trainerConfig(autosavedConfig(record)));
    this.teardown();
    await this.buildSession(prepared);
    await this.load(record.checkpoint);
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

  private emit(e: TrainerEvent): void {
    this.listeners.emit(e);
  }

  /** Sends the waiting metrics now, or arms a timer for when the interval allows it. */
  private queueMetrics(): void {
    if (this.emitTimer !== null) return;
    const wait = this.lastEmit + (this.s?.config.metricsIntervalMs ?? 0) - now();
    if (wait <= 0) this.emitMetrics();
    else {
      this.emitTimer = setTimeout(() => {
        this.emitTimer = null;
        this.emitMetrics();
      }, wait);
    }
  }

  private emitMetrics(): void {
    if (this.outSteps.length === 0 && this.outEvals.length === 0) return;
    this.lastEmit = now();
    const e: TrainerEvent = { type: 'metrics', steps: this.outSteps, evals: this.outEvals };
    this.outSteps = [];
    this.outEvals = [];
    this.emit(e);
  }

  /** Delivers every waiting record, still keeping to the interval. */
  private async flushMetrics(): Promise<void> {
    if (this.emitTimer !== null) {
      clearTimeout(this.emitTimer);
      this.emitTimer = null;
    }
    const wait = this.lastEmit + (this.s?.config.metricsIntervalMs ?? 0) - now();
    if (wait > 0 && (this.outSteps.length || this.outEvals.length)) await new Promise((r) => setTimeout(r, wait));
    this.emitMetrics();
  }

  private status(): TrainerInfo {
    const info = this.info_();
    this.emit({ type: 'status', info });
    return info;
  }

  private info_(): TrainerInfo {
    const s = this.s;
    const state: TrainerState = !s ? 'empty' : this.loop ? 'running' : 'paused';
    const adapter = this.engine?.gpu.adapter;
    return {
      state,
      step: s?.gpt.steps ?? 0,
      config: s ? { ...s.config } : null,
      parameterCount: s ? gptParameterCount(s.gpt.model.config) : 0,
      vocabSize: s?.tokenizer.vocabSize ?? 0,
      blockSize: s?.gpt.model.config.blockSize ?? 0,
      trainTokens: s?.split.train.length ?? 0,
      valTokens: s?.split.val.length ?? 0,
      unigramLoss: s?.unigram ?? NaN,
      adapter: adapter ? `${adapter.description || adapter.device || adapter.vendor}${adapter.isSoftware ? ' (software)' : ''}` : '',
      isSoftware: adapter?.isSoftware ?? false,
      autosave: this.backend,
      skippedSteps: s?.skipped ?? 0,
    };
  }

  private need(): Session {
    if (!this.s) throw new InputError('The trainer has no model; call create(config) first.');
    return this.s;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => {});
    return run;
  }
}
