// Fused optimizers: AdamW, SGD (momentum, Nesterov) and LAMB, each updating every parameter of
// a model in one dispatch. Parameters, gradients and optimizer state live in flat arenas at the
// same per-tensor offsets; a small table maps workgroups to (tensor, chunk). The global gradient
// norm is computed on the GPU and applied as a clipping scale inside the update, and gradients
// of several micro-batches can be accumulated before one update. Hyperparameters (the learning
// rate from a schedule) are written each step, never by recompiling; the bias corrections are
// taken on the GPU, which alone knows how many updates were applied.
// Not here: the kernels (shaders/optim.ts) or the plain-loop specification (reference.ts).

import { HOST_WORDS, SCAL, optimShader } from '../../shaders/optim.js';
import { grad, gradients } from '../autograd.js';
import { detach } from '../ops/identity.js';
import { reshape } from '../ops/shape.js';
import type { Engine } from '../engine.js';
import { InputError, ShapeError, fmtShape } from '../errors.js';
import type { BoundOptimizer, PlanOptimizer } from '../executor.js';
import type { BoundBuffer, PreparedDispatch } from '../gpu/kernels.js';
import { grid1d } from '../ops/grid.js';
import type { Dispatch } from '../ops/types.js';
import { parameter, type Tensor } from '../tensor.js';

export type OptimizerKind = 'adamw' | 'sgd' | 'lamb';

export interface OptimizerConfig {
  /** Which update rule. */
  kind: OptimizerKind;
  /** Learning rate, or a schedule: a pure function of the step (1 for the first update). */
  lr: number | ((step: number) => number);
  /** Adam/LAMB first-moment decay. */
  beta1?: number;
  /** Adam/LAMB second-moment decay. */
  beta2?: number;
  /** Adam/LAMB denominator guard. */
  eps?: number;
  /** Weight decay: decoupled for AdamW and LAMB, added to the gradient for SGD. */
  weightDecay?: number;
  /** Which parameters decay (default: rank 2 and up, so not biases or norm gains). */
  decays?: (p: Tensor) => boolean;
  /** SGD momentum (0: plain SGD). */
  momentum?: number;
  /** SGD Nesterov momentum. */
  nesterov?: boolean;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm?: number;
  /** Micro-batches whose gradients are averaged into one update. */
  accumulate?: number;
  /**
   * Dynamic loss scaling, for low-precision gradients: the backward pass is seeded with the
   * scale, gradients are unscaled before the update, a non-finite gradient skips the update and
   * divides the scale by `factor`, and `interval` good updates in a row multiply it by `factor`.
   */
  lossScale?: { init?: number; factor?: number; interval?: number };
}

const DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0, nesterov: false, maxGradNorm: 0, accumulate: 1 };
/**
 * Elements per invocation (a multiple of 4: adamw and grad_sumsq take vec4s), and invocations per
 * workgroup. With 16 rather than 4, each invocation's reads of the chunk table and the scalars
 * serve four vec4s: for GPT mini's 0.41M parameters the AdamW update took 6.0-6.4 ms instead of
 * 17 (SwiftShader, GPU timestamps; 12.6 ms with vec4s at 4 an invocation).
 */
const PER = 16;
const WG = 64;
const CHUNK = PER * WG;
const SCAL_WORDS = 32;

/**
 * Per-tensor offsets in floats, aligned so each tensor can also be bound on its own, and to
 * four floats at least, so that the kernels' vec4 views start every tensor on a vec4.
 */
function layout(params: Tensor[], alignBytes: number): { offsets: number[]; floats: number } {
  const align = Math.max(4, alignBytes / 4);
  let at = 0;
  const offsets = params.map((p) => {
    const o = at;
    at += Math.ceil(p.size / align) * align;
    return o;
  });
  return { offsets, floats: Math.max(at, 4) };
}

export class FusedOptimizer {
  /** Updates attempted so far (skipped ones too); schedules see `step + 1`. Saved in checkpoints. */
  step = 0;
  /** Micro-batches run since the last update. */
  private micro = 0;
  readonly config: Required<Omit<OptimizerConfig, 'decays' | 'lossScale'>> &
    Pick<OptimizerConfig, 'lossScale'> & { decays: (p: Tensor) => boolean };
  private readonly offsets: number[];
  private readonly floats: number;
  private meta: Uint32Array;
  private state: GPUBuffer[] = [];
  private scal!: GPUBuffer;
  private metaBuf!: GPUBuffer;
  private partials!: GPUBuffer;
  private accBuf: GPUBuffer | null = null;
  private paramArena!: GPUBuffer;
  /** The loss scale, a one-value parameter the backward pass reads and the optimizer adjusts. */
  readonly lossScale: Tensor;

  private constructor(
    private engine: Engine,
    readonly params: Tensor[],
    config: OptimizerConfig,
  ) {
    this.config = {
      ...DEFAULTS,
      weightDecay: config.kind === 'sgd' ? 0 : 0.01,
      decays: (p) => p.rank >= 2,
      ...config,
    };
    this.lossScale = parameter('loss_scale', [config.lossScale ? (config.lossScale.init ?? 2 ** 15) : 1], []);
    if (!(this.config.accumulate >= 1 && Number.isInteger(this.config.accumulate))) {
      throw new InputError(`optimizer: accumulate must be a positive integer, got ${this.config.accumulate}.`);
    }
    for (const name of ['beta1', 'beta2'] as const) {
      const b = this.config[name];
      if (!(b >= 0 && b < 1)) throw new InputError(`optimizer: ${name} must be in [0, 1), got ${b}.`);
    }
    const l = layout(params, engine.gpu.limits.minStorageBufferOffsetAlignment);
    this.offsets = l.offsets;
    this.floats = l.floats;
    this.meta = this.buildMeta();
  }

  /** Places `params` in an arena, initialises them, and allocates zeroed optimizer state. */
  static async create(engine: Engine, params: Tensor[], config: OptimizerConfig): Promise<FusedOptimizer> {
    const seen = new Set<Tensor>();
    for (const p of params) {
      if (p.source.kind !== 'parameter') throw new InputError(`optimizer: ${p} is not a parameter.`);
      if (seen.has(p)) throw new InputError(`optimizer: ${p} is listed twice.`);
      seen.add(p);
    }
    const opt = new FusedOptimizer(engine, params, config);
    await opt.allocate();
    return opt;
  }

  private buildMeta(): Uint32Array {
    const chunks = this.params.map((p) => Math.ceil(p.size / CHUNK));
    const W = chunks.reduce((a, b) => a + b, 0);
    const betas = 2 + 2 * W + 5 * this.params.length;
    const meta = new Uint32Array(betas + 4);
    const f = new Float32Array(meta.buffer);
    meta[0] = W;
    meta[1] = this.params.length;
    let w = 0;
    this.params.forEach((p, t) => {
      const rec = 2 + 2 * W + 5 * t;
      meta[rec] = this.offsets[t];
      meta[rec + 1] = p.size;
      f[rec + 2] = this.config.decays(p) ? this.config.weightDecay : 0;
      meta[rec + 3] = w;
      meta[rec + 4] = chunks[t];
      for (let c = 0; c < chunks[t]; c++, w++) {
        meta[2 + 2 * w] = t;
        meta[3 + 2 * w] = c * CHUNK;
      }
    });
    meta.set([...fraction64(this.config.beta1), ...fraction64(this.config.beta2)], betas);
    return meta;
  }

  private async allocate(): Promise<void> {
    const { pool } = this.engine;
    const bytes = this.floats * 4;
    this.paramArena = await this.engine.placeParameters(this.params, this.offsets.map((o) => o * 4), bytes);
    await this.engine.parameterPlace(this.lossScale);
    const zeros = new Float32Array(this.floats);
    const slots = this.config.kind === 'sgd' ? 1 : 2;
    for (let i = 0; i < slots; i++) {
      const b = pool.acquire(bytes, 'optimizer state');
      pool.write(b, zeros);
      this.state.push(b);
    }
    if (this.config.accumulate > 1) this.accBuf = pool.acquire(bytes, 'gradient accumulator');
    this.metaBuf = pool.acquire(this.meta.byteLength, 'optimizer table');
    pool.write(this.metaBuf, this.meta);
    this.scal = pool.acquire(SCAL_WORDS * 4, 'optimizer scalars');
    pool.write(this.scal, new Float32Array(SCAL_WORDS));
    const partialFloats = this.meta[0] * WG * (this.config.kind === 'lamb' ? 2 : 1);
    this.partials = pool.acquire(Math.max(16, partialFloats * 4), 'norm partial sums');
  }

  /** What a compiled step needs to update these parameters from `grads` (one per parameter). */
  withGradients(grads: Tensor[]): PlanOptimizer {
    if (grads.length !== this.params.length) {
      throw new InputError(`optimizer: ${grads.length} gradients for ${this.params.length} parameters.`);
    }
    grads.forEach((g, i) => {
      if (g.shape.join() !== this.params[i].shape.join()) {
        throw new InputError(`optimizer: gradient ${fmtShape(g.shape)} for parameter ${this.params[i]}.`);
      }
    });
    return {
      grads,
      offsets: this.offsets.map((o) => o * 4),
      arenaBytes: this.floats * 4,
      bind: (arena) => this.bind(arena),
    };
  }

  /** The gradients of a scalar loss, updated into the parameters after each backward pass. */
  minimize(loss: Tensor): PlanOptimizer {
    if (!this.config.lossScale) return this.withGradients(grad(loss, this.params));
    if (loss.size !== 1) throw new ShapeError(`minimize: the loss must be a scalar, got ${fmtShape(loss.shape)}.`);
    return this.withGradients(gradients([loss], this.params, [reshape(detach(this.lossScale), loss.shape)]));
  }

  /** The learning rate the next update will use. */
  get lr(): number {
    const lr = this.config.lr;
    return typeof lr === 'number' ? lr : lr(this.step + 1);
  }

  private async bind(gradArena: GPUBuffer): Promise<BoundOptimizer> {
    const { kernels } = this.engine;
    const whole = (buffer: GPUBuffer, floats = this.floats): BoundBuffer => ({ buffer, size: floats * 4 });
    const grads = whole(gradArena);
    const acc = this.accBuf ? whole(this.accBuf) : grads;
    const meta = { buffer: this.metaBuf, size: this.meta.byteLength };
    const scal = whole(this.scal, SCAL_WORDS);
    const partials = { buffer: this.partials, size: this.partials.size };
    const scalePlace = await this.engine.parameterPlace(this.lossScale);
    const scale = { ...scalePlace, size: 4 };
    const W = this.meta[0];
    const groups = grid1d(W, 1);
    const d = (shader: Dispatch['shader'], entry: string, workgroups: [number, number?]): Dispatch => ({
      shader,
      entry,
      constants: { WG, PER },
      reads: [],
      writes: [],
      workgroups,
    });
    // The slots only size the binding layout: the optimizer binds its arenas itself.
    const prep = (dispatch: Dispatch, reads: BoundBuffer[], writes: BoundBuffer[]) =>
      kernels.prepare(
        { ...dispatch, reads: reads.map((_, i) => ({ in: i })), writes: writes.map((_, i) => ({ out: i })) },
        reads,
        writes,
      );
    const params = whole(this.paramArena);
    // SGD keeps one state arena; its second binding gets a buffer it never touches.
    const [s1, s2 = partials] = this.state.map((b) => whole(b));
    const update =
      this.config.kind === 'lamb'
        ? [
            await prep(d(optimShader, 'lamb_moments', groups), [grads, acc, meta, scal], [params, s1, s2, partials]),
            await prep(d(optimShader, 'lamb_apply', groups), [grads, acc, meta, scal], [params, s1, s2, partials]),
          ]
        : [await prep(d(optimShader, this.config.kind, groups), [grads, acc, meta, scal], [params, s1, s2])];
    const norm = [
      await prep(d(optimShader, 'grad_sumsq', groups), [grads, acc, meta, scal, scale], [partials]),
      await prep(d(optimShader, 'grad_norm', [1]), [partials, meta], [scal, scale]),
    ];
    const accumulate = this.accBuf
      ? [await prep(d(optimShader, 'accumulate', grid1d(this.floats, WG)), [grads, scal], [whole(this.accBuf)])]
      : [];
    // LAMB's norm partials share the buffer with the gradient norm's: the norm is taken first.
    return {
      step: () => this.nextStep(norm, update, accumulate),
      outputs: {
        gradNorm: { place: { buffer: this.scal, offset: SCAL.NORM * 4 }, size: 4 },
        skipped: { place: { buffer: this.scal, offset: SCAL.SKIP * 4 }, size: 4 },
        lossScale: { place: scalePlace, size: 4 },
      },
    };
  }

  /** Writes this micro-batch's scalars and returns its dispatches. */
  private nextStep(norm: PreparedDispatch[], update: PreparedDispatch[], accumulate: PreparedDispatch[]): PreparedDispatch[] {
    const k = this.config.accumulate;
    const last = this.micro === k - 1;
    const c = this.config;
    const s = new Float32Array(HOST_WORDS);
    s[SCAL.LR] = this.lr;
    s[SCAL.B1] = c.beta1;
    s[SCAL.B2] = c.beta2;
    s[SCAL.EPS] = c.eps;
    // In f64 before rounding: 1 - f32(beta) would carry beta's rounding error, 1.3e-5 for 0.999.
    s[SCAL.ONE_MINUS_B1] = 1 - c.beta1;
    s[SCAL.ONE_MINUS_B2] = 1 - c.beta2;
    s[SCAL.MAX_NORM] = c.maxGradNorm;
    s[SCAL.INV_ACC] = 1 / k;
    s[SCAL.MOMENTUM] = c.momentum;
    s[SCAL.NESTEROV] = c.nesterov ? 1 : 0;
    s[SCAL.USE_ACC] = k > 1 ? 1 : 0; // the update adds the accumulator to the last micro-batch's gradients
    s[SCAL.FIRST_MICRO] = this.micro === 0 ? 1 : 0;
    s[SCAL.SCALING] = c.lossScale ? 1 : 0;
    s[SCAL.INTERVAL] = c.lossScale?.interval ?? 2000;
    s[SCAL.FACTOR] = c.lossScale?.factor ?? 2;
    // Only the hyperparameter words: the words after them belong to the GPU.
    this.engine.pool.write(this.scal, s);
    if (!last) {
      this.micro++;
      return accumulate;
    }
    this.micro = 0;
    this.step++;
    return [...norm, ...update];
  }

  /**
   * Optimizer state per parameter, named as PyTorch names it (exp_avg, exp_avg_sq,
   * momentum_buffer), plus 'counters': updates applied (Adam's bias correction), good steps
   * since the loss scale changed, and the loss scale.
   */
  async readState(): Promise<Record<string, Float32Array>> {
    const names = this.config.kind === 'sgd' ? ['momentum_buffer'] : ['exp_avg', 'exp_avg_sq'];
    const counters = await this.engine.pool.read(this.scal, 8, SCAL.APPLIED * 4);
    const out: Record<string, Float32Array> = {
      counters: Float32Array.of(counters[0], counters[1], (await this.engine.readParameter(this.lossScale))[0]),
    };
    for (const [i, b] of this.state.entries()) {
      const all = await this.engine.pool.read(b, this.floats * 4);
      this.params.forEach((p, t) => {
        out[`${names[i]}.${paramName(p)}`] = all.slice(this.offsets[t], this.offsets[t] + p.size);
      });
    }
    return out;
  }

  /** Restores state written by readState; checks every entry before writing any. */
  async writeState(state: Record<string, Float32Array>): Promise<void> {
    const names = this.config.kind === 'sgd' ? ['momentum_buffer'] : ['exp_avg', 'exp_avg_sq'];
    const checked = this.state.map((_, i) =>
      this.params.map((p) => {
        const key = `${names[i]}.${paramName(p)}`;
        const v = state[key];
        if (!v || v.length !== p.size) {
          throw new InputError(`optimizer state '${key}': expected ${p.size} values, got ${v ? v.length : 'none'}.`);
        }
        return v;
      }),
    );
    const counters = state.counters;
    if (!counters || counters.length !== 3) throw new InputError(`optimizer state 'counters': expected 3 values.`);
    checked.forEach((vs, i) => vs.forEach((v, t) => this.engine.pool.write(this.state[i], v, this.offsets[t] * 4)));
    this.engine.pool.write(this.scal, counters.subarray(0, 2), SCAL.APPLIED * 4);
    await this.engine.writeParameter(this.lossScale, counters.slice(2, 3));
  }

  /** Releases the optimizer's buffers and its loss scale (the parameters stay with the engine). */
  dispose(): void {
    const { pool } = this.engine;
    for (const b of [...this.state, this.metaBuf, this.scal, this.partials, ...(this.accBuf ? [this.accBuf] : [])]) pool.release(b);
    this.state = [];
    this.engine.freeParameter(this.lossScale);
  }
}

/** x in [0, 1) times 2^64, in two u32 words (high, low): exact for x from 2^-11 up, else rounded down. */
function fraction64(x: number): [number, number] {
  const scaled = x * 2 ** 32;
  const hi = Math.floor(scaled);
  return [hi, Math.floor((scaled - hi) * 2 ** 32)];
}

function paramName(p: Tensor): string {
  return p.source.kind === 'parameter' ? p.source.name : String(p.id);
}

/** Creates a fused optimizer over `params`; create it before running anything that reads them. */
export function createOptimizer(engine: Engine, params: Tensor[], config: OptimizerConfig): Promise<FusedOptimizer> {
  return FusedOptimizer.create(engine, params, config);
}
