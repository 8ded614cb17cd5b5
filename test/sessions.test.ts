// The session core as every task sees it, in Node: the diffusion, GAN, VAE and contrastive sessions come back from
// a lost device by themselves (a new device, the latest autosave, the same losses as a run never
// interrupted), offer and resume their autosave, and a checkpoint of one task is refused by
// another with the page it belongs to, while the run in memory stays. Checkpoints written before
// the `task` field still load in their own task and are still refused by the others. The
// transformer's own cases of the same (recovery, resume) are in trainer.test.ts. An autosave from
// before the task field is still offered in words. The cadence of periodic pictures (steps, clock,
// restart), on a clock of its own.
// Not here: what each task trains and draws (gan-demo.test.ts, the pages' tests).

import { describe, expect, it } from 'vitest';
import { parseSafetensors, writeSafetensors, decodeTensor } from '../src/checkpoint/safetensors.js';
import { createEngine, type Engine } from '../src/engine.js';
import { CheckpointError } from '../src/errors.js';
import { ContrastiveSession } from '../src/tasks/contrastive/session.js';
import { DiffusionSession } from '../src/tasks/diffusion/session.js';
import { FinetuneSession } from '../src/tasks/finetune/session.js';
import { GanSession } from '../src/tasks/gan/session.js';
import { Trainer } from '../src/tasks/gpt/session.js';
import { VaeSession } from '../src/tasks/vae/session.js';
import { memoryAutosave, type AutosaveStore } from '../src/worker/autosave.js';
import { Cadence } from '../src/worker/cadence.js';
import type { AutosaveInfo } from '../src/worker/protocol.js';
import { testEngine } from './support/engine.js';
import { finetuneBase } from './support/finetune-base.js';
import { expectResumedFromLastAutosave, steppedPastRecovery } from './support/recovery.js';

/** What the tests need of any session: its public calls, events as plain objects. */
interface AnySession {
  create(c: object): Promise<{ step: number }>;
  step(n: number): Promise<{ step: number }>;
  start(): Promise<void>;
  pause(): Promise<unknown>;
  subscribe(l: (e: Event) => void): Promise<number>;
  info(): Promise<{ step: number; state: string }>;
  exportCheckpoint(): Promise<Uint8Array>;
  importCheckpoint(bytes: Uint8Array): Promise<{ step: number }>;
  hasAutosave(): Promise<AutosaveInfo | null>;
  resumeAutosave(): Promise<{ step: number }>;
  dispose(): Promise<void>;
  readonly currentEngine: Engine | null;
}
type Event = { type: string; steps?: Record<string, number>[]; [k: string]: unknown };

/** The tiny GPT-2 the fine-tuning session starts from, its files held from the start as a page gives them before a run. */
const tinyBase = finetuneBase();
class FinetuneWithBase extends FinetuneSession {
  private readonly given = this.base({ weights: tinyBase.weights, config: tinyBase.config, vocab: tinyBase.vocab, merges: tinyBase.merges });
  async create(c: Parameters<FinetuneSession['create']>[0]) {
    await this.given;
    return super.create(c);
  }
  async resumeAutosave() {
    await this.given;
    return super.resumeAutosave();
  }
}

/** Each task: how to make its session, a small config, and the figure a step record holds. */
const TASKS = [
  {
    name: 'diffusion',
    make: (engine: Engine, autosave: AutosaveStore) => new DiffusionSession({ engine, autosave }) as unknown as AnySession,
    config: { dataset: 'moons', batch: 64, hidden: 32, layers: 2, trainPoints: 512, heldOut: 64, sampleCount: 64, fieldGrid: 5, sampleEvery: 0, emaEvery: 2 },
    figure: (r: Record<string, number>) => r.loss,
  },
  {
    name: 'gan',
    make: (engine: Engine, autosave: AutosaveStore) => new GanSession({ engine, autosave }) as unknown as AnySession,
    config: { batch: 32, hidden: 16, sampleCount: 50, heldOut: 50, surfaceGrid: 8, latentLines: 3, snapshotEvery: 0, qualityEvery: 0, dSteps: 2 },
    figure: (r: Record<string, number>) => r.dLoss + 1000 * r.gLoss,
  },
  {
    name: 'vae',
    make: (engine: Engine, autosave: AutosaveStore) => new VaeSession({ engine, autosave }) as unknown as AnySession,
    config: { hidden: 32, batch: 16, trainSize: 128, heldOut: 16, pictureCount: 4, sampleCount: 4, gridSide: 3, pictureEvery: 0, warmupSteps: 4 },
    figure: (r: Record<string, number>) => r.loss,
  },
  {
    name: 'contrastive',
    make: (engine: Engine, autosave: AutosaveStore) => new ContrastiveSession({ engine, autosave }) as unknown as AnySession,
    config: { batch: 8, hidden: 16, features: 8, projHidden: 8, projection: 4, trainSize: 64, heldOut: 10, probePerClass: 1, probeEvery: 0, embeddingEvery: 0 },
    figure: (r: Record<string, number>) => r.loss,
  },
  {
    name: 'finetune',
    make: (engine: Engine, autosave: AutosaveStore) => new FinetuneWithBase({ engine, autosave }) as unknown as AnySession,
    config: {
      text: tinyBase.text, strategy: { kind: 'lora', targets: ['attn.c_attn'], rank: 2, alpha: 4, dropout: 0 }, batch: 2, block: 8, lr: 1e-2,
      schedule: 'constant', totalSteps: 0, evalEvery: 0, sampleEvery: 0, sampleLength: 0, evalBatches: 1,
    },
    figure: (r: Record<string, number>) => r.loss,
  },
] as const;

/** Every event of a session, and the last record of each step (a step run twice keeps its second). */
async function recorder(s: AnySession, figure: (r: Record<string, number>) => number) {
  const all: Event[] = [];
  const byStep = new Map<number, number>();
  await s.subscribe((e) => {
    all.push(e);
    if (e.type === 'metrics') for (const r of e.steps!) byStep.set(r.step, figure(r));
  });
  return { all, byStep };
}

/** Resolves once a record of step `n` has come (after the recovery, if `afterRecovery`), or an error. */
function reached(r: Awaited<ReturnType<typeof recorder>>, n: number, afterRecovery = false): Promise<void> {
  return new Promise((resolve) => {
    const id = setInterval(() => {
      const past = afterRecovery ? steppedPastRecovery(r.all, n) : [...r.byStep.keys()].some((s) => s >= n);
      if (past || r.all.some((e) => e.type === 'error')) {
        clearInterval(id);
        resolve();
      }
    }, 5);
  });
}

describe.each(TASKS)('$name session: the core', ({ make, config, figure }) => {
  it('comes back from a lost device by itself: a new device, the latest autosave, the same losses', async () => {
    const cfg = { ...config, autosaveEvery: 4, metricsIntervalMs: 0 };
    const ref = make(await testEngine(), memoryAutosave());
    const rr = await recorder(ref, figure);
    await ref.create(cfg);
    await ref.step(12);
    await ref.dispose();

    const doomed = await createEngine({ tuningCache: false });
    const s = make(doomed, memoryAutosave());
    await s.create(cfg);
    const r = await recorder(s, figure);
    await s.start();
    await reached(r, 6);
    doomed.destroy();
    await reached(r, 14, true);
    await s.pause();
    expect(r.all.filter((e) => e.type === 'error')).toEqual([]);
    // Step 4 or 8: how far the loop ran past step 6 before the destroy landed depends on the load.
    expectResumedFromLastAutosave(r.all, 4, 6);
    // The last record of each step: the ones after recovery for steps run twice.
    for (let step = 1; step <= 12; step++) expect(r.byStep.get(step)).toBe(rr.byStep.get(step));
    expect(s.currentEngine).not.toBe(doomed);
    await s.dispose();
  });

  it('offers its autosave and resumes it in a new session', async () => {
    const store = memoryAutosave();
    const a = make(await testEngine(), store);
    await a.create({ ...config, autosaveEvery: 3 });
    await a.step(7);
    const b = make(await testEngine(), store);
    const offer = await b.hasAutosave();
    expect(offer).toMatchObject({ step: 6, backend: 'memory' });
    expect(offer!.model.length).toBeGreaterThan(0);
    expect((await b.resumeAutosave()).step).toBe(6);
    expect((await b.info()).state).toBe('paused');
    await a.dispose();
    await b.dispose();
  });
});

/** A copy of a checkpoint with its metadata changed by `edit`: how older versions or other programs wrote it. */
function withMetadata(bytes: Uint8Array, edit: (m: Record<string, string>) => Record<string, string>): Uint8Array {
  const file = parseSafetensors(bytes);
  const tensors = [...file.tensors.entries()].map(([name, t]) => ({ name, shape: t.shape, data: decodeTensor(file, name) }));
  return writeSafetensors(tensors, edit({ ...file.metadata }));
}

describe('autosaves from before the task field', () => {
  it('are offered in words made from their preset and precision', async () => {
    const store = memoryAutosave();
    const checkpoint = new Uint8Array(8);
    // As older versions described a transformer's autosave: no task, no model, its preset and precision.
    const old = { step: 40, savedAt: 1, preset: 'mini', precision: 'mixed', backend: 'memory' } as unknown as AutosaveInfo;
    await store.save({ info: old, checkpoint, attachment: null });
    expect(await new Trainer({ engine: await testEngine(), autosave: store }).hasAutosave()).toMatchObject({ step: 40, model: 'mini mixed-precision' });
  });
});

describe('checkpoints name their task', () => {
  it('a session refuses another task\'s checkpoint with the page it belongs to, keeping its run; old files still load', async () => {
    const engine = await testEngine();
    const gan = make('gan', engine);
    await gan.create(TASKS[1].config);
    await gan.step(2);
    const ganFile = await gan.exportCheckpoint();
    expect(parseSafetensors(ganFile).metadata.task).toBe('gan');

    const diffusion = make('diffusion', engine);
    await diffusion.create(TASKS[0].config);
    await diffusion.step(3);
    const diffusionFile = await diffusion.exportCheckpoint();

    // One line in the user's words, the reason 'task' for a page to react to, never a class name.
    const refused = (p: Promise<unknown>, words: RegExp) => expect(p).rejects.toSatisfy((e) =>
      e instanceof CheckpointError && e.reason === 'task' && words.test(e.message) && !/\n|Error|Session/.test(e.message));
    await refused(diffusion.importCheckpoint(ganFile), /^This is a GAN checkpoint, and this page trains a diffusion model: load it on the GAN page\.$/);
    await refused(gan.importCheckpoint(diffusionFile), /^This is a diffusion checkpoint, and this page trains a GAN: load it on the diffusion page\.$/);
    // Written before the task field: told apart by the key of their config.
    const oldGan = withMetadata(ganFile, ({ task: _task, ...m }) => m);
    await refused(diffusion.importCheckpoint(oldGan), /GAN checkpoint/);
    await refused(diffusion.importCheckpoint(withMetadata(ganFile, (m) => ({ ...m, task: 'chess' }))), /task called 'chess'/);
    expect((await diffusion.info()).step).toBe(3); // every refusal left the run as it was
    expect((await gan.importCheckpoint(oldGan)).step).toBe(2);
    expect((await diffusion.importCheckpoint(withMetadata(diffusionFile, ({ task: _task, ...m }) => m))).step).toBe(3);

    const trainer = new Trainer({ engine });
    await refused(trainer.importCheckpoint(diffusionFile), /^This is a diffusion checkpoint, and this page trains a character-level GPT: load it on the diffusion page\.$/);
    await trainer.create({ preset: 'tiny', batch: 2, evalEvery: 0, sampleEvery: 0, autosaveEvery: 0, data: { kind: 'builtin', lines: 200 } });
    const gptFile = await trainer.exportCheckpoint();
    expect(parseSafetensors(gptFile).metadata.task).toBe('gpt');
    const oldGpt = withMetadata(gptFile, ({ task: _task, ...m }) => m);
    await refused(gan.importCheckpoint(oldGpt), /transformer checkpoint, and this page trains a GAN: load it on the transformer page/);
    expect((await trainer.importCheckpoint(oldGpt)).step).toBe(0);
    await Promise.all([gan.dispose(), diffusion.dispose(), trainer.dispose()]);
  });
});

function make(name: 'gan' | 'diffusion', engine: Engine): AnySession {
  return TASKS.find((t) => t.name === name)!.make(engine, memoryAutosave());
}

describe('the cadence of periodic pictures', () => {
  it('is due every `every` steps, after `seconds` on the clock, and at the first step after a restart', () => {
    let now = 0;
    const c = new Cadence(() => now);
    const dueAt = (steps: number[], every: number, seconds: number) => steps.filter((s) => c.due(s, every, seconds));
    expect(dueAt([1, 2, 3, 4, 5, 6], 3, 0)).toEqual([3, 6]);
    c.restart();
    expect(dueAt([7, 8, 9], 3, 0)).toEqual([7, 9]);
    // 10 s on the clock between steps, a sample every 25 s or 100 steps: by the clock, from the last one on.
    const byClock = [10, 11, 12, 13, 14, 15, 16].filter((s) => ((now += 10_000), c.due(s, 100, 25)));
    expect(byClock).toEqual([12, 15]);
    c.restart();
    expect(dueAt([17], 0, 25)).toEqual([]); // every 0: never, not even after a restart
  });
});
