// One IndexedDB object store as a small promise API (get, put, delete, keys), for what must
// outlive a page or a worker where there is no file system and, in a worker, no localStorage:
// autosaves (worker/autosave.ts) and measured kernel picks (ops/tune-cache.ts).
// Not here: what is stored or when.

export interface IdbStore {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The store `store` of database `db` (made on first use), or null where there is no IndexedDB or it refuses. */
export async function openIdbStore(db: string, store: string): Promise<IdbStore | null> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return null;
  let conn: IDBDatabase;
  try {
    const open = idb.open(db, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(store);
    conn = await request(open);
  } catch {
    return null;
  }
  const read = <T>(fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => request(fn(conn.transaction(store, 'readonly').objectStore(store)));
  // A write is done when its transaction commits, not when its request succeeds: a worker ended
  // (or a page reloaded) in between would lose it.
  const write = (fn: (s: IDBObjectStore) => IDBRequest): Promise<void> =>
    new Promise((resolve, reject) => {
      const t = conn.transaction(store, 'readwrite');
      t.oncomplete = () => resolve();
      t.onerror = t.onabort = () => reject(t.error);
      fn(t.objectStore(store));
    });
  return {
    get: (key) => read((s) => s.get(key)),
    put: (key, value) => write((s) => s.put(value, key)),
    delete: (key) => write((s) => s.delete(key)),
    keys: async () => (await read((s) => s.getAllKeys())).map(String),
  };
}
