// The history of pushes and pulls, kept in IndexedDB (this browser only). Records hold no secrets:
// time, target, digest, size, bytes sent, duration, outcome and the error's code and text.

const DB_NAME = 'tug-web';
const STORE = 'operations';
const VERSION = 1;
const LIMIT = 200;

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
      if (!db.objectStoreNames.contains(STORE)) {
        const store = db.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
        store.createIndex('time', 'time');
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the history database is blocked by another tab'));
  });
}

/** Only the fields a history entry may hold (never credentials). */
export function sanitize(entry) {
  const pick = (v, type) => (typeof v === type ? v : null);
  return {
    command: ['push', 'pull'].includes(entry.command) ? entry.command : 'push',
    time: pick(entry.time, 'string') ?? new Date().toISOString(),
    target: pick(entry.target, 'string') ?? '',
    image: pick(entry.image, 'string'),
    digest: pick(entry.digest, 'string'),
    size: pick(entry.size, 'number'),
    bytesSent: pick(entry.bytesSent, 'number'),
    bytesReceived: pick(entry.bytesReceived, 'number'),
    file: pick(entry.file, 'string'),
    format: pick(entry.format, 'string'),
    durationMs: pick(entry.durationMs, 'number'),
    outcome: ['success', 'failed', 'cancelled'].includes(entry.outcome) ? entry.outcome : 'failed',
    errorCode: pick(entry.errorCode, 'string'),
    message: pick(entry.message, 'string'),
    retries: pick(entry.retries, 'number'),
    source: pick(entry.source, 'string'),
    // What was typed, to push or pull again (never credentials).
    registryUrl: pick(entry.registryUrl, 'string'),
    repository: pick(entry.repository, 'string'),
    blobTimings: Array.isArray(entry.blobTimings) ? entry.blobTimings.map(timing).filter(Boolean) : [],
  };
}

/** One per-blob timing, its fields only (the CLI's `blob_timings` entries). */
function timing(t) {
  if (!t || typeof t.digest !== 'string') return null;
  const n = (v) => (Number.isFinite(v) ? v : 0);
  return { digest: t.digest, size: n(t.size), start_ms: n(t.start_ms), end_ms: n(t.end_ms), outcome: String(t.outcome ?? ''), retries: n(t.retries) };
}

/** A history kept in IndexedDB; falls back to memory when IndexedDB cannot be used. */
export class History {
  constructor() {
    this.db = null;
    this.memory = [];
    this.persistent = false;
    this.problem = null;
  }

  async init() {
    try {
      this.db = await open();
      this.persistent = true;
    } catch (e) {
      this.problem = e instanceof Error ? e.message : String(e);
    }
    return this;
  }

  async add(entry) {
    const record = sanitize(entry);
    if (!this.db) {
      this.memory.unshift({ ...record, id: this.memory.length + 1 });
      this.memory.length = Math.min(this.memory.length, LIMIT);
      return;
    }
    const tx = this.db.transaction(STORE, 'readwrite');
    await request(tx.objectStore(STORE).add(record));
    await this.trim();
  }

  /** Newest first. */
  async list() {
    if (!this.db) return [...this.memory];
    const tx = this.db.transaction(STORE, 'readonly');
    const all = await request(tx.objectStore(STORE).getAll());
    return all.sort((a, b) => (b.id ?? 0) - (a.id ?? 0)).slice(0, LIMIT);
  }

  async clear() {
    this.memory = [];
    if (!this.db) return;
    const tx = this.db.transaction(STORE, 'readwrite');
    await request(tx.objectStore(STORE).clear());
  }

  async trim() {
    const tx = this.db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const keys = await request(store.getAllKeys());
    if (keys.length <= LIMIT) return;
    keys.sort((a, b) => a - b);
    for (const key of keys.slice(0, keys.length - LIMIT)) store.delete(key);
  }
}
