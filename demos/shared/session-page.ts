// The scaffolding every training demo page wraps around its worker session, written once:
// finding WebGPU before a worker starts (and, without it, saying what to enable and disabling
// the form); a `busy` flag with `attempt` (a request whose failure is explained in the banner)
// and `whileBusy` (a model-replacing request with the controls locked); and the buttons that
// mean the same on every page: Start/Pause on one button, Reset, Save checkpoint, Load
// checkpoint (a hidden file input).
// Not here: what a page shows (its setInfo decides which control is enabled, from the state and
// `busy`), what a reset or a loaded file means to it (callbacks), its words for failures (its
// own explain), the Step button (each page records a step differently), and no model or worker
// of its own: it reaches the session only through the calls every session has (SessionApi).

import { downloadBytes, probeWebGPU, showMessage } from './ui.js';

export const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The elements every session page has, by the ids its markup and the browser tests share. */
export function sessionElements() {
  return {
    facts: $('facts'),
    banner: $('message'),
    stateLine: $('state'),
    startBtn: $<HTMLButtonElement>('start'),
    stepBtn: $<HTMLButtonElement>('step'),
    resetBtn: $<HTMLButtonElement>('reset'),
    saveBtn: $<HTMLButtonElement>('save'),
    loadBtn: $<HTMLButtonElement>('load'),
    loadFile: $<HTMLInputElement>('load-file'),
  };
}

/**
 * Probes WebGPU in the page. Without it: the facts line and the banner say so and what to enable,
 * every control is disabled, and the answer is false. With it: the facts line names the adapter.
 */
export async function probeOrExplain(facts: HTMLElement, banner: HTMLElement): Promise<boolean> {
  const probe = await probeWebGPU();
  if (!probe.ok) {
    facts.textContent = 'No WebGPU in this browser.';
    showMessage(banner, 'error', probe.message);
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button, select, textarea')) el.disabled = true;
    return false;
  }
  facts.textContent = `Adapter: ${probe.adapterName}. Starting the training worker…`;
  return true;
}

/** The calls every training worker session (transformer, diffusion, GAN) answers alike. */
export interface SessionApi<Info> {
  start(): Promise<void>;
  pause(): Promise<Info>;
  reset(): Promise<Info>;
  exportCheckpoint(): Promise<Uint8Array>;
  info(): Promise<Info>;
}

export interface SessionPageOptions<Info> {
  api: SessionApi<Info>;
  /** The message banner; failures go there in the page's words. */
  banner: HTMLElement;
  /** The run's state line: a busy request's label shows there while it runs. */
  stateLine: HTMLElement;
  /** A failure in words for the banner, `context` leading. */
  explain: (e: unknown, context: string) => string;
  /** The page's last info (null before the first), and how it shows one; it reads `busy`. */
  info: () => Info | null;
  setInfo: (next: Info) => void;
  /** Disabled while a busy request runs before there is any info to show. */
  lockBeforeInfo: HTMLButtonElement[];
  /** Enabled again after a busy request that left no info to show (Load, say, so a file can still be tried). */
  usableWithoutInfo?: HTMLButtonElement[];
}

/** The leads of failures from Start, Pause and Reset ('' for none). */
export interface RunWords {
  start: string;
  pause: string;
  reset: string;
}

export interface RunButtons<Info> {
  start: HTMLButtonElement;
  reset: HTMLButtonElement;
  save: HTMLButtonElement;
  load: HTMLButtonElement;
  loadFile: HTMLInputElement;
  /** What a reset model means to the page (charts start over, say); called with its info. */
  afterReset: (next: Info) => Promise<void> | void;
  /** The download's name for a checkpoint of the model as it is now. */
  checkpointName: () => string;
  /** A checkpoint file the user chose, read; runs while busy (the page imports and shows it). */
  loadCheckpoint: (file: File, bytes: Uint8Array) => Promise<void>;
  words?: Partial<RunWords>;
}

const DEFAULT_WORDS: RunWords = { start: 'Could not start', pause: 'Could not pause', reset: 'Could not reset' };

/** One page's session: the busy flag and the helpers that run requests with it. */
export class SessionPage<Info extends { state: string }> {
  /** True while a request that replaces the model (create, reset, load, resume) is in flight. */
  busy = false;

  constructor(private readonly o: SessionPageOptions<Info>) {}

  /** Runs a request, showing a failure in words; undefined when it failed. */
  attempt = async <T>(fn: () => Promise<T>, context = ''): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      showMessage(this.o.banner, 'error', this.o.explain(e, context));
      return undefined;
    }
  };

  /** Disables the controls while a model-replacing request runs; afterwards shows the worker's info. */
  whileBusy = async (label: string, fn: () => Promise<void>): Promise<void> => {
    const { api, stateLine, setInfo, info } = this.o;
    this.busy = true;
    stateLine.textContent = label;
    const before = info();
    if (before) setInfo(before);
    else for (const b of this.o.lockBeforeInfo) b.disabled = true;
    try {
      await fn();
    } finally {
      this.busy = false;
      const now = await api.info().catch(() => info());
      if (now) setInfo(now);
      else for (const b of this.o.usableWithoutInfo ?? []) b.disabled = false;
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

  /** Wires Start/Pause, Reset, Save and Load; the page enables them in its setInfo. */
  wireRunButtons(b: RunButtons<Info>): void {
    const { api, info, setInfo } = this.o;
    const words = { ...DEFAULT_WORDS, ...b.words };
    b.start.addEventListener('click', () => {
      if (info()?.state === 'running') void this.attempt(() => api.pause().then(setInfo), words.pause);
      else void this.attempt(() => api.start(), words.start);
    });
    b.reset.addEventListener('click', () =>
      void this.whileBusy('Resetting…', async () => {
        const r = await this.attempt(() => api.reset(), words.reset);
        if (r) await b.afterReset(r);
      }),
    );
    b.save.addEventListener('click', () =>
      void this.attempt(async () => downloadBytes(await api.exportCheckpoint(), b.checkpointName()), 'Could not save a checkpoint'),
    );
    b.load.addEventListener('click', () => b.loadFile.click());
    b.loadFile.addEventListener('change', () => {
      const file = b.loadFile.files?.[0];
      b.loadFile.value = ''; // choosing the same file again still fires change
      if (!file) return;
      void this.whileBusy(`Loading ${file.name}…`, async () => b.loadCheckpoint(file, new Uint8Array(await file.arrayBuffer())));
    });
  }
}
