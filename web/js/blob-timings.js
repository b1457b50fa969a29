// Per-blob timings of one push or pull, from its events, in the CLI history's shape
// (`tug history show`: digest, size, start_ms, end_ms, outcome, retries; milliseconds since
// the operation started), so the page's history can show and export them as the CLI does.

/** The outcome each event ends a blob with. */
const ENDS = {
  blob_committed: 'pushed',
  blob_done: 'downloaded',
  blob_skipped: 'skipped',
  blob_mounted: 'mounted',
};

export class BlobTimings {
  /** `now()` gives milliseconds (performance.now() in the page). */
  constructor(now = () => performance.now()) {
    this.now = now;
    this.t0 = now();
    this.blobs = new Map(); // digest → timing
    this.byIndex = new Map(); // a push's plan index → digest
  }

  timing(ev) {
    const digest = ev.digest ?? this.byIndex.get(ev.blob);
    if (typeof digest !== 'string') return null;
    if (ev.blob !== undefined) this.byIndex.set(ev.blob, digest);
    let t = this.blobs.get(digest);
    if (!t) {
      const at = Math.round(this.now() - this.t0);
      t = { digest, size: 0, start_ms: at, end_ms: at, outcome: 'unfinished', retries: 0 };
      this.blobs.set(digest, t);
    }
    if (Number.isFinite(ev.size)) t.size = ev.size;
    return t;
  }

  /** Notes what an event says about a blob. */
  onEvent(ev) {
    if (!ev || typeof ev.event !== 'string') return;
    if (ev.event === 'retrying') {
      // The blob the core names; else one whose digest `what` names.
      const digest = typeof ev.digest === 'string' ? ev.digest : String(ev.what ?? '').match(/sha256:[0-9a-f]{12,64}/)?.[0];
      if (!digest) return;
      for (const t of this.blobs.values()) if (t.digest.startsWith(digest)) t.retries += 1;
      return;
    }
    const starts = ev.event === 'blob_started' || ev.event === 'blob_resumed';
    if (!starts && !(ev.event in ENDS)) return;
    const t = this.timing(ev);
    if (!t) return;
    // An upload an earlier run left goes on from there, as `tug history` shows it.
    if (ev.event === 'blob_resumed' && Number.isFinite(ev.from) && ev.from > 0) t.resumed_from = ev.from;
    if (ev.event in ENDS) {
      t.outcome = ENDS[ev.event];
      t.end_ms = Math.round(this.now() - this.t0);
    }
  }

  /** The timings, in the order blobs were first seen; unfinished ones end now. */
  list() {
    const at = Math.round(this.now() - this.t0);
    return [...this.blobs.values()].map((t) => (t.outcome === 'unfinished' ? { ...t, end_ms: at } : { ...t }));
  }
}
