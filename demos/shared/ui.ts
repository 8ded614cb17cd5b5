// Small pieces every demo page needs: finding out whether WebGPU works here before a worker
// starts (and, without it, saying what to enable and disabling the form), taking text or files
// from the user (picker, drag and drop, paste), offering bytes as a download, message banners
// (one line, a long list behind a toggle), number formatting, HTML escaping and the adapter fact
// every facts line starts with, and array fingerprints for the browser tests.
// Not here: anything about a particular model or its charts (each demo's own folder), finding
// and making elements (dom.ts), and no framework: plain DOM, so a page stays readable top to bottom.

import { make } from './dom.js';

/** What a page learns about WebGPU before it starts a worker. */
type WebGPUProbe =
  | { ok: true; adapterName: string }
  | { ok: false; message: string };

/** A name for an adapter from whatever its GPUAdapterInfo fills in. */
export function adapterLabel(info: Partial<GPUAdapterInfo> | null | undefined): string {
  if (!info) return 'unnamed adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s): s is string => !!s);
  return [...new Set(parts)].join(' ') || 'unnamed adapter';
}

/**
 * Asks for an adapter in the page itself, so a missing WebGPU is reported before a worker is
 * started, with what to do in words the user can act on.
 */
async function probeWebGPU(): Promise<WebGPUProbe> {
  if (!window.isSecureContext) {
    return {
      ok: false,
      message:
        'This page is not in a secure context, and browsers offer WebGPU only there. Open it from ' +
        'https:// or from http://localhost (for example with npm start).',
    };
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { ok: false, message: `This browser has no WebGPU. ${howToEnable()}` };
  }
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) {
    return {
      ok: false,
      message:
        'WebGPU is present but no adapter was found: the GPU may be blocked or its driver ' +
        'unsupported. In Chrome, chrome://gpu says why; on Linux start Chrome with ' +
        '--enable-unsafe-webgpu --enable-features=Vulkan. Without a usable GPU, ' +
        '--use-webgpu-adapter=swiftshader runs WebGPU on the CPU (slowly).',
    };
  }
  return { ok: true, adapterName: adapterLabel(adapter.info) };
}

/**
 * Probes WebGPU in the page before `worker` starts. Without it: the facts line and the banner say
 * so and what to enable, every control is disabled, and the answer is false. With it: the facts
 * line names the adapter.
 */
export async function probeOrExplain(facts: HTMLElement, banner: HTMLElement, worker = 'the training worker'): Promise<boolean> {
  const probe = await probeWebGPU();
  if (!probe.ok) {
    facts.textContent = 'No WebGPU in this browser.';
    showMessage(banner, 'error', probe.message);
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button, select, textarea')) el.disabled = true;
    return false;
  }
  facts.textContent = `Adapter: ${probe.adapterName}. Starting ${worker}…`;
  return true;
}

function howToEnable(): string {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) {
    return 'Firefox ships WebGPU from version 141 on Windows; elsewhere use Firefox Nightly or set dom.webgpu.enabled in about:config.';
  }
  if (/Safari\//.test(ua) && !/Chrome\/|Chromium\//.test(ua)) {
    return 'Safari has WebGPU from Safari 26; on older versions turn on WebGPU under Develop > Feature Flags.';
  }
  if (/Linux/.test(ua)) {
    return 'Chrome and Edge on Linux need chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan turned on.';
  }
  return 'Use a current Chrome or Edge (113 or newer), where WebGPU is on by default.';
}

export type MessageKind = 'info' | 'warn' | 'error';

/**
 * A banner's words: one line, and the list behind it (the names the line counts and names the
 * first of). A list of two or more waits behind a toggle.
 */
export type Said = string | { text: string; details: readonly string[] };

/**
 * Puts one message in a banner element; an action adds a button after the text. A message with
 * details keeps them in a closed toggle, so a list of 40 tensor names does not become a banner
 * 25 lines tall.
 */
export function showMessage(
  el: HTMLElement,
  kind: MessageKind,
  said: Said,
  actions: { label: string; run: () => void }[] = [],
): void {
  const { text, details } = typeof said === 'string' ? { text: said, details: [] } : said;
  el.replaceChildren();
  el.className = `message ${kind}`;
  el.hidden = false;
  el.append(document.createTextNode(text));
  for (const a of actions) {
    const b = make('button', { type: 'button' }, a.label);
    b.addEventListener('click', a.run);
    el.append(' ', b);
  }
  if (details.length > 1) {
    const list = make('ul', {}, ...details.map((d) => make('li', {}, d)));
    el.append(make('details', {}, make('summary', {}, `Show all ${details.length} names`), list));
  }
}

export function clearMessage(el: HTMLElement): void {
  el.replaceChildren();
  el.hidden = true;
}

/** Bytes the user gave, with a name to show for them. */
export interface UserBytes {
  name: string;
  bytes: Uint8Array;
}

export interface DropTargetOptions {
  /** The element files can be dropped on (it gets the class `dragging` while one hovers). */
  zone: HTMLElement;
  /** A file input whose choice is delivered the same way. */
  picker?: HTMLInputElement;
  /** Called before a file is read: return a message to refuse it (too large, say) unread. */
  precheck?: (file: File) => string | null;
  /** Receives the bytes of a file (the first one, when several are dropped). */
  onBytes: (b: UserBytes) => void;
  /** Receives a refusal from precheck, or a read that failed. */
  onError: (message: string) => void;
}

/** Wires a drop zone and a file picker to one callback. */
export function acceptFiles(opts: DropTargetOptions): void {
  const take = async (files: FileList | null | undefined): Promise<void> => {
    const file = files?.[0];
    if (!file) return;
    const refusal = opts.precheck?.(file) ?? null;
    if (refusal) return opts.onError(refusal);
    try {
      opts.onBytes({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
    } catch (e) {
      opts.onError(`Could not read ${file.name}: ${(e as Error).message}`);
    }
  };
  const { zone, picker } = opts;
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    void take(e.dataTransfer?.files);
  });
  picker?.addEventListener('change', () => {
    void take(picker.files);
    picker.value = ''; // choosing the same file again still fires change
  });
}

/** Text pasted into `area` (or typed there), as UTF-8 bytes, each time `button` is pressed. */
export function acceptPaste(area: HTMLTextAreaElement, button: HTMLButtonElement, onBytes: (b: UserBytes) => void): void {
  button.addEventListener('click', () => onBytes({ name: 'pasted text', bytes: new TextEncoder().encode(area.value) }));
}

/** Offers bytes as a file download (an object URL on a temporary link). */
export function downloadBytes(bytes: Uint8Array, filename: string, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = make('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken its copy once click() returns; a little later is safe everywhere.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** 106304 -> "106.3K", 10770816 -> "10.77M": counts at a glance. */
export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(4)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(4)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(4)}K`;
  return String(Math.round(n));
}

/** A value with `digits` significant figures, in exponent form when very small or large. */
export function fmtNum(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  return abs < 1e-3 || abs >= 1e6 ? x.toExponential(digits - 1) : String(Number(x.toPrecision(digits)));
}

/** Milliseconds as "12.3 ms" or "4.56 s". */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

/** Bytes as "512 B", "3.2 KB", "8.0 MB". */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Text made safe to put inside HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** The facts line's first entry: the adapter, and a warning when it is emulated on the CPU. */
export function adapterFact(adapter: string, isSoftware: boolean): string {
  return `Adapter: <b>${escapeHtml(adapter)}</b>${isSoftware ? ' (emulated on the CPU: expect slow steps)' : ''}`;
}

/**
 * A short exact fingerprint of an array (FNV-1a over its bytes) for the browser tests: its item
 * count (values / itemSize, e.g. 2 for points) and the hash.
 */
export function fingerprint(values: Float32Array, itemSize = 1): string {
  const b = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return `${values.length / itemSize}:${(h >>> 0).toString(16)}`;
}
