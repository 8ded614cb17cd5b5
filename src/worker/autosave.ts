// Where a session keeps its autosave: one slot per task holding the latest checkpoint, what the
// task needs beside it to rebuild the data (the user's text for the transformer: a checkpoint
// alone cannot rebuild it), and a small description of both. In a page or worker it lives in the
// Origin Private File System, or in IndexedDB where OPFS is missing; in Node it lives in memory
// (memoryAutosave) or nowhere (backend 'unavailable': saves are dropped and nothing is found).
// Not here: what a checkpoint contains (each task, checkpoint/), when to save (session.ts).

import type { AutosaveBackend, AutosaveInfo } from './protocol.js';
import { openIdbStore } from '../idb.js';

export interface AutosaveRecord {
  info: AutosaveInfo;
  /** The checkpoint (safetensors bytes). */
  checkpoint: Uint8Array;
  /** Bytes the task keeps beside the checkpoint (an uploaded text), or null. */
  attachment: Uint8Array | null;
}

/** A record as older versions wrote it: the attachment was the transformer's uploaded text. */
type StoredRecord = Omit<AutosaveRecord, 'attachment'> & { attachment?: Uint8Array | null; text?: Uint8Array | null };
const upgrade = (r: StoredRecord): AutosaveRecord => ({ info: r.info, checkpoint: r.checkpoint, attachment: r.attachment ?? r.text ?? null });

export interface AutosaveStore {
  readonly backend: AutosaveBackend;
  /** Replaces the slot's contents. */
  save(record: AutosaveRecord): Promise<void>;
  /** The slot's description without reading the checkpoint, or null when empty. */
  info(): Promise<AutosaveInfo | null>;
  load(): Promise<AutosaveRecord | null>;
  clear(): Promise<void>;
}

/** A store that keeps nothing: for environments without storage. */
export function unavailableAutosave(): AutosaveStore {
  return {
    backend: 'unavailable',
    save: async () => {},
    info: async () => null,
    load: async () => null,
    clear: async () => {},
  };
}

/** A store in this process's memory (Node scripts, tests). */
export function memoryAutosave(): AutosaveStore {
  let slot: AutosaveRecord | null = null;
  return {
    backend: 'memory',
    save: async (r) => {
      slot = { info: { ...r.info }, checkpoint: r.checkpoint.slice(), attachment: r.attachment?.slice() ?? null };
    },
    info: async () => (slot ? { ...slot.info } : null),
    load: async () => slot && { info: { ...slot.info }, checkpoint: slot.checkpoint.slice(), attachment: slot.attachment?.slice() ?? null },
    clear: async () => {
      slot = null;
    },
  };
}

// -------------------------------------------------------------------------------------------
// OPFS: three files in a directory named after the slot (the attachment was text.bin before). info.json is written last and removed
// first, so a slot whose checkpoint is half written is never reported.

async function writeFile(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array | string): Promise<void> {
  const file = await dir.getFileHandle(name, { create: true });
  const w = await file.createWritable();
  await w.write(typeof data === 'string' ? data : new Blob([data as Uint8Array<ArrayBuffer>]));
  await w.close();
}

async function readFile(dir: FileSystemDirectoryHandle, name: string): Promise<Uint8Array | null> {
  try {
    const file = await (await dir.getFileHandle(name)).getFile();
    return new Uint8Array(await file.arrayBuffer());
  } catch {
    return null;
  }
}

async function opfsAutosave(slot: string): Promise<AutosaveStore | null> {
  const storage = (globalThis as { navigator?: Navigator }).navigator?.storage;
  if (!storage?.getDirectory) return null;
  // Safari's OPFS writes only through sync access handles: fall back to IndexedDB there.
  const handle = (globalThis as { FileSystemFileHandle?: { prototype: object } }).FileSystemFileHandle;
  if (!handle || !('createWritable' in handle.prototype)) return null;
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await (await storage.getDirectory()).getDirectoryHandle(slot, { create: true });
  } catch {
    return null; // private browsing, or storage blocked
  }
  const info = async (): Promise<AutosaveInfo | null> => {
    const bytes = await readFile(dir, 'info.json');
    return bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as AutosaveInfo) : null;
  };
  return {
    backend: 'opfs',
    async save(r) {
      await dir.removeEntry('info.json').catch(() => {});
      await writeFile(dir, 'checkpoint.safetensors', r.checkpoint);
      await dir.removeEntry('text.bin').catch(() => {});
      if (r.attachment) await writeFile(dir, 'attachment.bin', r.attachment);
      else await dir.removeEntry('attachment.bin').catch(() => {});
      await writeFile(dir, 'info.json', JSON.stringify(r.info));
    },
    info,
    async load() {
      const i = await info();
      const checkpoint = i && (await readFile(dir, 'checkpoint.safetensors'));
      if (!i || !checkpoint) return null;
      return { info: i, checkpoint, attachment: (await readFile(dir, 'attachment.bin')) ?? (await readFile(dir, 'text.bin')) };
    },
    async clear() {
      for (const name of ['info.json', 'checkpoint.safetensors', 'attachment.bin', 'text.bin']) await dir.removeEntry(name).catch(() => {});
    },
  };
}

// -------------------------------------------------------------------------------------------
// IndexedDB: one object store, the slot's record under one key, written in one transaction.

async function indexedDbAutosave(slot: string): Promise<AutosaveStore | null> {
  const db = await openIdbStore('webgpu-train-autosave', 'slots');
  if (!db) return null;
  const load = async () => {
    const r = (await db.get(slot)) as StoredRecord | undefined;
    return r ? upgrade(r) : null;
  };
  return {
    backend: 'indexeddb',
    save: (r) => db.put(slot, r),
    info: async () => (await load())?.info ?? null,
    load,
    clear: () => db.delete(slot),
  };
}

/**
 * The best store this environment has: OPFS, then IndexedDB, then none ('unavailable').
 * `slot` names the saved run: the task's name (one per page).
 */
export async function openAutosave(slot: string): Promise<AutosaveStore> {
  return (await opfsAutosave(slot)) ?? (await indexedDbAutosave(slot)) ?? unavailableAutosave();
}
