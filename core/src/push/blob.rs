//! One blob's upload: where it stands, what the registry confirmed, and the running hash of
//! the bytes the runner reported sending.

use url::Url;

use crate::digest::{Digest, Hasher};
use crate::http::ResponseHead;

use super::event::Event;
use super::plan::PushReport;

/// Where one unique blob's upload stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlobState {
    /// Not started.
    Queued,
    /// `HEAD` in flight.
    Checking,
    /// `POST` in flight to open an upload session.
    Opening,
    /// A session is open at `location`; the registry confirmed `committed` bytes.
    Uploading { location: Url, committed: u64 },
    /// Confirmed by the registry, already present (`skipped`), or mounted.
    Done { skipped: bool, mounted: bool },
    /// Dry run: the registry lacks it.
    Missing,
}

/// A unique blob of the plan and its upload.
#[derive(Clone, Debug)]
pub(crate) struct BlobUpload {
    /// Index in the plan of the first blob with this digest.
    pub plan_index: usize,
    pub digest: Digest,
    pub size: u64,
    pub state: BlobState,
    /// Attempts made at uploading (for the retry budget).
    pub attempts: u32,
    /// The registry's `OCI-Chunk-Min-Length`, if it gave one.
    pub min_chunk: u64,
    /// End of the bytes the current session has put on the wire.
    pub sent_upto: u64,
    /// A session a previous run left open, tried before opening a new one, and the bytes
    /// the registry confirmed in it.
    pub resume: Option<(Url, u64)>,
    /// The most bytes the registry has confirmed holding in the current session. It never
    /// holds fewer while the session lives, so this reads an ambiguous `0-0` report.
    pub confirmed: u64,
    /// The most bytes the registry has confirmed in any session of this run: a chunk
    /// confirmed past it is progress, one confirmed again after a lost session is not.
    pub best_confirmed: u64,
    /// The current session was opened by an earlier run: bytes may have reached it that
    /// this run never saw.
    pub inherited: bool,
    /// [`super::Event::BlobResumed`] was said for the current inherited session.
    pub resume_said: bool,
    /// Bytes the current session held from an earlier run when this run took it up.
    pub resumed_from: u64,
    /// A runner was told of the current session (it keeps it to resume): it must hear when
    /// it is over.
    pub announced: bool,
    /// The last body that broke off below HTTP (`start`, `len`) and how many times in a
    /// row, kept across sessions to notice a body cap that resets connections.
    pub broken_body: Option<((u64, u64), u32)>,
    /// Checked again with `HEAD` after the registry refused the manifest for a missing blob,
    /// or after its session was gone once every byte had gone: the state to keep if it is
    /// there.
    pub recheck: Option<BlobState>,
    /// Every byte went and the session vanished: the closing `PUT` may have landed with its
    /// answer lost; a `HEAD` that finds the blob commits it ([`Self::recheck`]).
    pub maybe_landed: bool,
    /// A blob made while it is sent ([`super::PushPlan::streamed`]).
    pub streamed: Option<Streamed>,
    /// The repository its `POST` asked to mount it from, if it did.
    pub mounting: Option<String>,
    hasher: Hasher,
}

/// What a blob made while it is sent adds: until its bytes end, `digest` is its key and
/// `size` an estimate.
#[derive(Clone, Debug)]
pub(crate) struct Streamed {
    /// The name it went by before its digest was known: its upload session is kept under
    /// it.
    pub key: Digest,
    /// Whether the runner said where its bytes end (`digest` and `size` are real then).
    pub ended: bool,
    /// Body bytes the runner reported for its last `PATCH`.
    pub last_sent: u64,
    /// Its last chunk came back short and the registry has it all: the upload waits for
    /// the runner to say the blob ended.
    pub waiting: bool,
}

impl BlobUpload {
    pub(crate) fn new(plan_index: usize, digest: Digest, size: u64) -> BlobUpload {
        let hasher = Hasher::new(digest.algorithm());
        BlobUpload {
            plan_index,
            digest,
            size,
            state: BlobState::Queued,
            attempts: 0,
            min_chunk: 0,
            sent_upto: 0,
            resume: None,
            confirmed: 0,
            best_confirmed: 0,
            inherited: false,
            resume_said: false,
            resumed_from: 0,
            announced: false,
            broken_body: None,
            recheck: None,
            maybe_landed: false,
            streamed: None,
            mounting: None,
            hasher,
        }
    }

    /// A blob made while it is sent, going by `key` until its bytes end; `estimate`: its
    /// size for progress.
    pub(crate) fn streamed(plan_index: usize, key: Digest, estimate: u64) -> BlobUpload {
        let mut blob = BlobUpload::new(plan_index, key.clone(), estimate);
        blob.streamed = Some(Streamed {
            key,
            ended: false,
            last_sent: 0,
            waiting: false,
        });
        blob
    }

    /// Every byte went and the answer did not come: a `HEAD` asks whether the registry has
    /// the blob before it is sent again ([`Self::maybe_landed`]).
    pub(crate) fn maybe_landed_check(&mut self) {
        self.recheck = Some(BlobState::Done {
            skipped: false,
            mounted: false,
        });
        self.maybe_landed = true;
        self.state = BlobState::Checking;
    }

    /// Whether its digest and size are still unknown (a blob made while it is sent, whose
    /// bytes have not ended).
    pub(crate) fn unended(&self) -> bool {
        self.streamed.as_ref().is_some_and(|s| !s.ended)
    }

    /// The name its upload session is kept under across runs: its digest, or the key of a
    /// blob made while it is sent.
    pub(crate) fn session_key(&self) -> &Digest {
        match &self.streamed {
            Some(s) => &s.key,
            None => &self.digest,
        }
    }

    /// The runner said where a streamed blob's bytes end: `size` bytes with `digest`.
    pub(crate) fn end(&mut self, digest: Digest, size: u64) {
        if let Some(s) = &mut self.streamed {
            s.ended = true;
        }
        if digest.algorithm() != self.digest.algorithm() {
            // What was hashed cannot be checked against it.
            self.hasher = Hasher::new(digest.algorithm());
        }
        self.digest = digest;
        self.size = size;
    }

    /// The most bytes it may have: its size, or no limit while a streamed blob's end is
    /// unknown.
    fn limit(&self) -> u64 {
        if self.unended() {
            u64::MAX
        } else {
            self.size
        }
    }

    /// Counts the blob in the push's report `r`.
    pub(crate) fn add_to(&self, r: &mut PushReport) {
        match self.state {
            BlobState::Done { skipped: true, .. } => {
                r.blobs_skipped += 1;
                r.bytes_skipped += self.size;
            }
            BlobState::Done { mounted: true, .. } => {
                r.blobs_mounted += 1;
                r.bytes_mounted += self.size;
            }
            BlobState::Done { .. } => {
                r.blobs_uploaded += 1;
                r.bytes_uploaded += self.size;
                r.bytes_resumed += self.resumed_from.min(self.size);
            }
            BlobState::Missing => r.blobs_missing.push(self.digest.clone()),
            _ => {}
        }
    }

    /// Its progress, while it is being uploaded.
    pub(crate) fn progress(&self) -> Option<Event> {
        let moving = matches!(self.state, BlobState::Uploading { .. } | BlobState::Opening);
        moving.then(|| Event::BlobProgress {
            blob: self.plan_index,
            sent: self.transferred(),
            size: self.size,
        })
    }

    /// A short name for messages: `blob sha256:0123456789ab`, or `blob 2 (made as it is
    /// sent)` while a streamed blob's digest is unknown.
    /// Whether a `HEAD`'s `200` is this blob: its `Content-Length`, if it gives one, is this
    /// blob's size, and its `Docker-Content-Digest`, if it names one, this blob's digest (a
    /// blob made while it is sent has neither to compare yet).
    pub(crate) fn answer_is_this_blob(&self, head: &ResponseHead) -> bool {
        let length = head.header("content-length").map(str::trim);
        let digest = head.header("docker-content-digest").map(str::trim);
        self.streamed.is_some()
            || (length
                .and_then(|l| l.parse::<u64>().ok())
                .is_none_or(|l| l == self.size)
                && digest
                    .and_then(|d| d.parse::<crate::Digest>().ok())
                    .is_none_or(|d| d == self.digest))
    }

    pub(crate) fn label(&self) -> String {
        if self.unended() {
            return format!("blob {} (made as it is sent)", self.plan_index);
        }
        format!(
            "blob {}:{}",
            self.digest.algorithm().name(),
            self.digest.short()
        )
    }

    /// A chunk the registry confirmed holding `committed` bytes after: whether that is
    /// progress, which starts the attempt count afresh. The attempt limit counts failures
    /// of one request, so a long upload over a bad link is not cut off by faults spread
    /// across it; but bytes confirmed again after the registry lost its session are not
    /// progress, so a registry that keeps losing sessions fails the blob after its attempts.
    pub(crate) fn confirmed_chunk(&mut self, committed: u64) {
        self.confirmed = self.confirmed.max(committed);
        if committed > self.best_confirmed {
            self.best_confirmed = committed;
            self.attempts = 1;
        }
    }

    /// Starts a fresh session: forget what was hashed.
    pub(crate) fn restart(&mut self) {
        self.hasher = Hasher::new(self.digest.algorithm());
        self.state = BlobState::Queued;
        self.sent_upto = 0;
        self.confirmed = 0;
        self.inherited = false;
        self.resumed_from = 0;
        if let Some(s) = &mut self.streamed {
            s.waiting = false;
        }
    }

    /// Feeds bytes sent at `offset`. Bytes already hashed are skipped; a gap (bytes the core
    /// never saw) stops hashing, leaving verification to the registry.
    pub(crate) fn hash_sent(&mut self, offset: u64, data: &[u8]) {
        let hashed = self.hasher.len();
        let end = self.note_sent(offset, data.len() as u64);
        let limit = self.limit();
        if offset > hashed || end <= hashed {
            return;
        }
        let skip = usize::try_from(hashed - offset).unwrap_or(usize::MAX);
        if let Some(fresh) = data.get(skip..) {
            let room = limit.saturating_sub(hashed);
            let take = fresh.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            self.hasher.update(&fresh[..take]);
        }
    }

    /// Counts `n` bytes sent at `offset` (seen or not) as sent; returns where they end.
    pub(crate) fn note_sent(&mut self, offset: u64, n: u64) -> u64 {
        let end = offset.saturating_add(n);
        self.sent_upto = self.sent_upto.max(end.min(self.limit()));
        end
    }

    /// If every byte was seen and they do not hash to the digest: the digest they hash to.
    pub(crate) fn local_mismatch(&self) -> Option<Digest> {
        if self.hasher.len() != self.size || self.unended() {
            return None;
        }
        let actual = self.hasher.clone().finish();
        (actual != self.digest).then_some(actual)
    }

    /// Bytes of this blob that count as moved: all of it when done, else what the current
    /// session sent or the registry confirmed.
    pub(crate) fn transferred(&self) -> u64 {
        match &self.state {
            BlobState::Done { .. } => self.size,
            BlobState::Uploading { committed, .. } => self.sent_upto.max(*committed),
            BlobState::Opening => self.sent_upto,
            _ => 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BlobState::Done { .. } | BlobState::Missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn hashing_tolerates_resends_and_detects_mismatch() {
        let data = b"hello world";
        let mut b = BlobUpload::new(0, Digest::sha256_of(data), data.len() as u64);
        b.hash_sent(0, b"hello");
        b.hash_sent(3, b"lo wo"); // overlaps what was hashed
        b.hash_sent(8, b"rld");
        assert_eq!(b.local_mismatch(), None);
        let mut bad = BlobUpload::new(0, Digest::sha256_of(data), data.len() as u64);
        bad.hash_sent(0, b"hello WORLD");
        assert_eq!(
            bad.local_mismatch(),
            Some(Digest::sha256_of(b"hello WORLD"))
        );
    }

    #[test]
    fn gaps_disable_local_verification() {
        let mut b = BlobUpload::new(0, Digest::sha256_of(b"abcdef"), 6);
        b.hash_sent(3, b"def");
        assert_eq!(b.local_mismatch(), None);
    }
}
