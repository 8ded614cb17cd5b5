// The scaffolding every training demo page wraps around its worker session, written once: the
// elements every session page has; the page's copy of the worker's info and what follows each
// new one (the facts line, the run buttons, the state line, then the page's own panels); the
// worker's events (status, failures and the engine's progress bar here, the rest to the page); a
// `busy` flag with `attempt` (a request whose failure is explained in the banner) and
// `whileBusy` (a model-replacing request with the controls locked, a failure in it shown once
// they are back); the buttons that mean the same on every page, made here into the rows the
// page's markup has for them: Start/Pause on one button, Step, Reset, Save checkpoint (pausing
// a running loop for the file), Load checkpoint (a hidden file input, its file imported by the
// worker, which pauses first), Simulate a lost GPU;
// the run saved in this browser, offered before anything is built; what the page says when the
// worker autosaves or comes back from a lost device; and the read-only view of a page that its
// browser test reads (window.__demo).
// Not here: what a page shows beyond the run buttons (its `show`), what a step, a reset or a
// loaded model means to it (callbacks), its words for failures (its own explain), probing WebGPU
// before the worker starts (ui.ts), and no model or worker of its own: it reaches the session
// only through the calls every session has (SessionApi, from the library).

import { describeProgress, type Progress } from '../../src/progress.js';
import type { BaseInfo, CoreEvent, MetricsEventBase, SessionApi as TaskApi } from '../../src/worker/protocol.js';
import { $, make } from './dom.js';
import { clearMessage, downloadBytes, showMessage, type Said } from './ui.js';
import type { Explain } from './words.js';

/**
 * The elements every session page has, by the ids its markup and the browser tests share, made
 * here into the page's Run fieldset (#run, which holds its legend and the page's words on its
 * checkpoints): the run buttons (Start, Step, Reset) and the state line, then `extra` (a page's
 * own lines), then Save, Load and its hidden file input above those words, and the lost-GPU button
 * with its hint below them. Buttons are disabled until there is a model; `stepTitle` says what
 * one step is on this page.
 */
export function sessionElements(stepTitle: string, extra: HTMLElement[] = []) {
  const button = (id: string, label: string, props: Partial<HTMLButtonElement> = {}) =>
    make('button', { id, type: 'button', disabled: true, ...props }, label);
  const els = {
    facts: $('facts'),
    banner: $('message'),
    stateLine: make('p', { id: 'state', className: 'hint' }, 'Not started.'),
    progressBar: make('progress', { id: 'progress-bar' }),
    progressWords: make('span', { id: 'progress-words' }),
    startBtn: button('start', 'Start', { className: 'primary' }),
    stepBtn: button('step', 'Step', { title: stepTitle }),
    resetBtn: button('reset', 'Reset'),
    saveBtn: button('save', 'Save checkpoint'),
    loadBtn: button('load', 'Load checkpoint'),
    loadFile: make('input', { id: 'load-file', type: 'file', accept: '.safetensors', hidden: true }),
    loseBtn: button('lose-gpu', 'Simulate a lost GPU', { title: 'Destroy the GPU device, as a driver reset would' }),
  };
  const checkpointWords = $('run').querySelector('p.hint')!;
  checkpointWords.before(
    make('div', { id: 'run-buttons', className: 'buttons' }, els.startBtn, els.stepBtn, els.resetBtn),
    els.stateLine,
    make('p', { id: 'progress', className: 'hint progress', hidden: true }, els.progressBar, els.progressWords),
    ...extra,
    make('div', { id: 'checkpoint-buttons', className: 'buttons' }, els.saveBtn, els.loadBtn, els.loadFile),
  );
  checkpointWords.after(
    make('div', { className: 'buttons' }, els.loseBtn),
    make('p', { className: 'hint' }, 'GPUs get reset (a driver update, a tab in the background too long). While training, the page then takes a new device and picks up from its last autosave.'),
  );
  return els;
}

export type SessionElements = ReturnType<typeof sessionElements>;

/**
 * Leaves `view` on window.__demo for the page's browser test, which reads it (numbers and short
 * strings only) and drives the page through its controls like a user. The page keeps it current.
 */
export function viewForTests<T extends object>(view: T): T {
  (window as unknown as { __demo: T }).__demo = view;
  return view;
}

/** Keeps a page's test view at the latest autosave's step and recovery's step, from the core's events; false for any other event. */
export function trackCoreEvent(view: { autosavedStep: number; resumedAt: number }, e: { type: string; step?: number; resumedAt?: number }): boolean {
  if (e.type === 'autosave') view.autosavedStep = e.step!;
  else if (e.type === 'recovered') view.resumedAt = e.resumedAt!;
  else return false;
  return true;
}

/** Keeps a page's test view at the first and the latest finite loss among `losses`. */
export function trackLosses(view: { firstLoss: number; lastLoss: number }, losses: Iterable<number>): void {
  for (const loss of losses) {
    if (!Number.isFinite(loss)) continue;
    if (!Number.isFinite(view.firstLoss)) view.firstLoss = loss;
    view.lastLoss = loss;
  }
}

/** The calls of every task's worker (transformer, diffusion, GAN) that the scaffolding makes. */
export type SessionApi<Info, Event, Summary> = Pick<
  TaskApi<never, never, Info, Event, Summary>,
  'start' | 'pause' | 'step' | 'reset' | 'exportCheckpoint' | 'importCheckpoint' | 'info' | 'subscribe' | 'loseDevice' | 'hasAutosave' | 'resumeAutosave'
>;

/** Runs a request, explaining a failure in the banner in words led by `context`; undefined when it failed (SessionPage.attempt). */
export type Attempt = <T>(fn: () => Promise<T>, context: string) => Promise<T | undefined>;

/** What the scaffolding reads of every session's info. */
export type BasicInfo = Pick<BaseInfo<unknown>, 'state' | 'step'>;

/** Where the run stands, as the page's own controls follow it. */
export interface RunState {
  running: boolean;
  /** A model exists and no request is replacing it. */
  ready: boolean;
}

export interface SessionPageOptions<Info, Event, Summary> {
  api: SessionApi<Info, Event, Summary>;
  elements: SessionElements;
  /** A failure in words for the banner, `context` leading. */
  explain: Explain;
  /** The facts line under the title, as HTML. */
  describe: (info: Info) => string;
  /** What else the page shows of a new info (its panels, its own buttons), after the run buttons. */
  show: (info: Info, run: RunState) => void;
  /** Whether the model can train now (Start and Step); by default whenever there is one. */
  canTrain?: (info: Info) => boolean;
  /** Said after "Paused at step N" on the state line (the latest losses, say). */
  pausedNote?: () => string;
  /** Whether Load stays usable after a busy request that left no info (so a file can still be tried). */
  loadWithoutInfo?: boolean;
}

/** The leads of failures from Start, Pause and Reset ('' for none). */
export interface RunWords {
  start: string;
  pause: string;
  reset: string;
}

export interface RunActions<Info, Summary> {
  /** What the page shows of a step taken with the Step button. */
  afterStep: (summary: Summary) => Promise<void> | void;
  /** What a reset model means to the page (charts start over, say); called with its info. */
  afterReset: (next: Info) => Promise<void> | void;
  /** The download's name for a checkpoint of the model as it is now. */
  checkpointName: () => string;
  /** Before a checkpoint file the user chose goes to the worker (while busy): false stops there, the page having said why. */
  beforeLoad?: (file: File, bytes: Uint8Array) => Promise<boolean>;
  /** What the page shows of the model a checkpoint file brought (while busy). */
  afterLoad: (info: Info, file: File) => Promise<void> | void;
  words?: Partial<RunWords>;
}

const DEFAULT_WORDS: RunWords = { start: 'Could not start', pause: 'Could not pause', reset: 'Could not reset' };

/** One page's session: the worker's info as last heard, the busy flag and the helpers that run requests with it. */
export class SessionPage<Info extends BasicInfo, Event extends { type: string }, Summary> {
  /** True while a request that replaces the model (create, reset, load, resume) is in flight. */
  busy = false;
  /** A failure met while busy: shown once the controls are back, so that it never comes before them. */
  private failedWhileBusy: Said | null = null;
  /** The worker's latest info; null before the first. */
  info: Info | null = null;

  constructor(private readonly o: SessionPageOptions<Info, Event, Summary>) {}

  /** Shows a new info: the facts line, the run buttons and the state line, then the page's own `show`. */
  setInfo = (next: Info): void => {
    const { facts, stateLine, startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loseBtn } = this.o.elements;
    this.info = next;
    facts.innerHTML = this.o.describe(next);
    const running = next.state === 'running';
    const ready = next.state !== 'empty' && !this.busy;
    const trains = ready && (this.o.canTrain?.(next) ?? true);
    startBtn.textContent = running ? 'Pause' : next.step > 0 ? 'Resume' : 'Start';
    startBtn.disabled = !trains;
    stepBtn.disabled = !trains || running;
    resetBtn.disabled = !ready;
    // While training, Save pauses for the file and trains on, and Load pauses (the worker does).
    saveBtn.disabled = !ready;
    loadBtn.disabled = this.busy;
    loseBtn.disabled = !running;
    // While busy the line says what the request is doing; while training the metrics extend it.
    if (!this.busy) {
      stateLine.textContent = running ? `Training: step ${next.step}.`
        : next.state === 'paused' ? `Paused at step ${next.step}${this.o.pausedNote?.() ?? ''}.` : 'No model yet.';
    }
    this.o.show(next, { running, ready });
  };

  /**
   * Follows the worker's events: status and failures here; the step of every metrics event goes
   * into the info and the facts line (the loop sends no status while it runs); autosaves and
   * recoveries are shown here; every event but status and failures goes on to `onEvent`.
   */
  follow(onEvent: (e: Event) => void): Promise<number> {
    const { banner, stateLine } = this.o.elements;
    return this.o.api.subscribe((e) => {
      const core = e as Event & (CoreEvent<Info> | MetricsEventBase);
      if (core.type === 'status') this.setInfo(core.info);
      else if (core.type === 'error') showMessage(banner, 'error', this.o.explain(core.error, 'Training stopped'));
      else if (core.type === 'progress') this.showProgress(core);
      else {
        if (core.type === 'metrics') this.atStep(core.steps.at(-1)?.step);
        if (core.type === 'autosave') stateLine.title = `Autosaved at step ${core.step} (${core.backend}).`;
        if (core.type === 'recovered') {
          showMessage(banner, 'warn', `The GPU was lost at step ${core.lostAt} (${core.reason}). Training picked up again on a new device from the autosave of step ${core.resumedAt}; the steps since then run again.`);
        }
        onEvent(e);
      }
    });
  }

  /** A long wait of the worker's engine (tuning, compiling): a bar and its words while a phase runs. */
  private showProgress(p: Progress): void {
    const { progressBar, progressWords } = this.o.elements;
    const line = progressBar.parentElement!;
    line.hidden = p.done >= p.total;
    progressBar.max = Math.max(1, p.total);
    progressBar.value = p.done;
    progressWords.textContent = describeProgress(p);
  }

  /** The info and the facts line at the step a metrics event reached. */
  private atStep(step: number | undefined): void {
    const { info } = this;
    if (step === undefined || !info || info.state === 'empty' || step === info.step) return;
    this.info = { ...info, step };
    this.o.elements.facts.innerHTML = this.o.describe(this.info);
  }

  /**
   * Offers the run saved in this browser before anything is built: Resume it (the worker builds
   * and loads it, then `resumed` shows it) or Start a new model (`fresh`, also run when there is none).
   */
  async offerSavedRun(resumed: (info: Info) => Promise<void> | void, fresh: () => Promise<void>): Promise<void> {
    const { api } = this.o;
    const { banner, loadBtn } = this.o.elements;
    const saved = await this.attempt(() => api.hasAutosave());
    if (!saved) return fresh();
    const when = new Date(saved.savedAt).toLocaleString();
    showMessage(banner, 'info', `A ${saved.model} model saved at step ${saved.step} (${when}) is in this browser's storage.`, [
      {
        label: 'Resume it',
        run: () =>
          void this.whileBusy('Restoring the saved run…', async () => {
            const r = await this.attempt(() => api.resumeAutosave(), 'The saved run could not be restored');
            if (!r) return;
            clearMessage(banner);
            await resumed(r);
          }),
      },
      { label: 'Start a new model', run: () => void fresh() },
    ]);
    loadBtn.disabled = false;
  }

  /** Runs a request, showing a failure in words; undefined when it failed. */
  attempt = async <T>(fn: () => Promise<T>, context = ''): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      const said = this.o.explain(e, context);
      if (this.busy) this.failedWhileBusy = said;
      else showMessage(this.o.elements.banner, 'error', said);
      return undefined;
    }
  };

  /** Disables the controls while a model-replacing request runs; afterwards shows the worker's info. */
  whileBusy = async (label: string, fn: () => Promise<void>): Promise<void> => {
    const { stateLine, startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loseBtn } = this.o.elements;
    this.busy = true;
    stateLine.textContent = label;
    const before = this.info;
    if (before) this.setInfo(before);
    else for (const b of [startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loseBtn]) b.disabled = true;
    try {
      await fn();
    } finally {
      this.busy = false;
      if (this.failedWhileBusy !== null) {
        // A request that failed left the model as it was: the controls come back on the info as
        // last heard, then the failure is shown, so that a message never comes before them.
        if (this.info) this.setInfo(this.info);
        showMessage(this.o.elements.banner, 'error', this.failedWhileBusy);
        this.failedWhileBusy = null;
      }
      const now = await this.o.api.info().catch(() => this.info);
      if (now) this.setInfo(now);
      else if (this.o.loadWithoutInfo) loadBtn.disabled = false;
    }
  };

  /** `attempt` inside `whileBusy`: the request's answer, or undefined when it failed. */
  attemptWhileBusy = async <T>(label: string, fn: () => Promise<T>, context: string): Promise<T | undefined> => {
    let out: T | undefined;
    await this.whileBusy(label, async () => {
      out = await this.attempt(fn, context);
    });
    return out;
  };

  /** Wires Start/Pause, Step, Reset, Save, Load and Simulate a lost GPU; setInfo enables them. */
  wireRunButtons(a: RunActions<Info, Summary>): void {
    const { api } = this.o;
    const { startBtn, stepBtn, resetBtn, saveBtn, loadBtn, loadFile, loseBtn } = this.o.elements;
    const words = { ...DEFAULT_WORDS, ...a.words };
    loseBtn.addEventListener('click', () => void this.attempt(() => api.loseDevice(), 'Could not simulate a lost GPU'));
    startBtn.addEventListener('click', () => {
      if (this.info?.state === 'running') void this.attempt(() => api.pause().then(this.setInfo), words.pause);
      else void this.attempt(() => api.start(), words.start);
    });
    stepBtn.addEventListener('click', () => void this.attempt(async () => a.afterStep(await api.step(1)), 'Could not run a step'));
    resetBtn.addEventListener('click', () =>
      void this.whileBusy('Resetting…', async () => {
        const r = await this.attempt(() => api.reset(), words.reset);
        if (r) await a.afterReset(r);
      }),
    );
    // The file is the model the page shows: a running loop pauses for it (so its step is the
    // name's and the state line's), then trains on.
    saveBtn.addEventListener('click', () =>
      void this.attempt(async () => {
        const running = this.info?.state === 'running';
        if (running) this.setInfo(await api.pause());
        downloadBytes(await api.exportCheckpoint(), a.checkpointName());
        if (running) await api.start();
      }, 'Could not save a checkpoint'),
    );
    loadBtn.addEventListener('click', () => loadFile.click());
    loadFile.addEventListener('change', () => {
      const file = loadFile.files?.[0];
      loadFile.value = ''; // choosing the same file again still fires change
      if (!file) return;
      void this.whileBusy(`Loading ${file.name}…`, async () => {
        const bytes = new Uint8Array(await file.arrayBuffer());
        if (a.beforeLoad && !(await a.beforeLoad(file, bytes))) return;
        // A file that does not load leaves the model in memory as it was.
        const r = await this.attempt(() => api.importCheckpoint(bytes), `${file.name} was not loaded`);
        if (r) await a.afterLoad(r, file);
      });
    });
  }
}
