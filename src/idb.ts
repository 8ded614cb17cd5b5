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
  const tx = <T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> =>
    request(fn(conn.transaction(store, mode).objectStore(store)));
  return {
    get: (key) => tx('readonly', (s) => s.get(key)),
    put: async (key, value) => void (await tx('readwrite', (s) => s.put(value, key))),
    delete: async (key) => void (await tx('readwrite', (s) => s.delete(key))),
    keys: async () => (await tx('readonly', (s) => s.getAllKeys())).map(String),
  };
}
