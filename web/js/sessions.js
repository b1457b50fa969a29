// Upload sessions kept in this browser (IndexedDB), so a push that was cancelled, failed or
// cut short by a reload goes on from the bytes the registry confirmed: tug-wasm's `resume`
// option. Kept as the CLI keeps them: by registry + repository and blob digest, written as
// `upload_session` events arrive and removed on `upload_session_closed` (the blob is in).
// Session URLs carry no credentials.

const DB_NAME = 'tug-web-sessions';
const STORE = 'uploads';
const VERSION = 1;

/** The key a session is kept under: `<registry>/<repository>@<digest>`. */
export function sessionKey(target, digest) {
  return `${target.registry}/${target.repository}@${digest}`;
}

/** The record kept for an `upload_session` event, or null for any other event. */
export function recordOf(target, ev) {
  if (ev?.event !== 'upload_session') return null;
  const { digest, location, committed } = ev;
  if (typeof digest !== 'string' || typeof location !== 'string' || !Number.isSafeInteger(committed) || committed < 0) return null;
  return { key: sessionKey(target, digest), digest, location, committed, time: new Date().toISOString() };
}

/** The records of `target`, as tug-wasm's `resume` option takes them. */
export function resumeOption(target, records) {
  const prefix = sessionKey(target, '');
  return records
    .filter((r) => typeof r.key === 'string' && r.key.startsWith(prefix))
    .map(({ digest, location, committed }) => ({ digest, location, committed }));
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('IndexedDB is not available in this browser'));
      return;
    }
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'key' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the upload session database is blocked by another tab'));
  });
}

/** Records by key in an IndexedDB store. */
class IdbStore {
  constructor(db) {
    this.db = db;
  }

  async put(record) {
    await request(this.db.transaction(STORE, 'readwrite').objectStore(STORE).put(record));
  }

  async delete(key) {
    await request(this.db.transaction(STORE, 'readwrite').objectStore(STORE).delete(key));
  }

  all() {
    return request(this.db.transaction(STORE, 'readonly').objectStore(STORE).getAll());
  }
}

/** Records by key in memory: where IndexedDB cannot be used, sessions last until a reload. */
export class MemoryStore {
  constructor() {
    this.records = new Map();
  }

  async put(record) {
    this.records.set(record.key, { ...record });
  }

  async delete(key) {
    this.records.delete(key);
  }

  async all() {
    return [...this.records.values()].map((r) => ({ ...r }));
  }
}

/** The open upload sessions of every target this browser pushed to. */
export class Sessions {
  /** @param {object} [store]  where records go (tests); by default IndexedDB, set by `init` */
  constructor(store) {
    this.store = store ?? new MemoryStore();
    this.persistent = false;
    this.problem = null;
    // Writes go one after another, in event order; a read waits for those before it.
    this.queue = Promise.resolve();
  }

  async init() {
    try {
      this.store = new IdbStore(await open());
      this.persistent = true;
    } catch (e) {
      this.problem = e instanceof Error ? e.message : String(e);
    }
    return this;
  }

  /** Keeps or forgets a session as push event `ev` says (other events are ignored). A
   * failed write costs only the ability to resume, so it is noted and otherwise ignored. */
  keep(target, ev) {
    const record = recordOf(target, ev);
    let change = null;
    if (record) change = () => this.store.put(record);
    else if (ev?.event === 'upload_session_closed' && typeof ev.digest === 'string') {
      const key = sessionKey(target, ev.digest);
      change = () => this.store.delete(key);
    }
    if (!change) return this.queue;
    this.queue = this.queue.then(change).catch((e) => {
      this.problem = e instanceof Error ? e.message : String(e);
    });
    return this.queue;
  }

  /** The sessions kept for `target`, as tug-wasm's `resume` option (after pending writes). */
  async resumable(target) {
    await this.queue;
    try {
      return resumeOption(target, await this.store.all());
    } catch (e) {
      this.problem = e instanceof Error ? e.message : String(e);
      return [];
    }
  }
}
