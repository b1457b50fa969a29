//! One blob's download: bytes received so far and their running hash.

use crate::digest::{Digest, Hasher};
use crate::engine::Redirect;
use crate::retry::Attempts;

use super::event::Event;
use super::plan::PullReport;

/// Where a blob's download stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlobState {
    /// Not started, or waiting for a response.
    Waiting,
    /// A `200` arrived: body bytes are the blob's.
    Receiving,
    /// A `206` for another range than the one asked for (`start`: where its
    /// `Content-Range` begins, if it says): its bytes are dropped, and the blob starts over.
    WrongRange { start: Option<u64> },
    /// Verified and committed, or already present.
    Done { skipped: bool },
}

/// A unique blob of the pull.
#[derive(Debug)]
pub(crate) struct BlobDownload {
    pub digest: Digest,
    pub size: u64,
    pub state: BlobState,
    /// Bytes of the current attempt received and written.
    pub received: u64,
    pub hasher: Hasher,
    /// Its attempts, started afresh as it gets further.
    pub attempts: Attempts,
    /// Where a redirect pointed (blob storage); dropped on retry.
    pub redirect: Redirect,
    /// Its first bytes came from an earlier run (trusted only until the digest check).
    pub from_partial: bool,
    /// How many of its bytes an earlier run downloaded: not counted as downloaded now.
    pub prefix: u64,
}

impl BlobDownload {
    pub(crate) fn new(digest: Digest, size: u64, have: bool) -> BlobDownload {
        let hasher = Hasher::new(digest.algorithm());
        BlobDownload {
            digest,
            size,
            state: if have {
                BlobState::Done { skipped: true }
            } else {
                BlobState::Waiting
            },
            received: 0,
            hasher,
            attempts: Attempts::from(0),
            redirect: Redirect::default(),
            from_partial: false,
            prefix: 0,
        }
    }

    /// Counts the blob in the pull's report `r`.
    pub(crate) fn add_to(&self, r: &mut PullReport) {
        match self.state {
            BlobState::Done { skipped: true } => {
                r.blobs_skipped += 1;
                r.bytes_skipped = r.bytes_skipped.saturating_add(self.size);
            }
            BlobState::Done { skipped: false } => {
                r.blobs_downloaded += 1;
                let now = self.size.saturating_sub(self.prefix);
                r.bytes_downloaded = r.bytes_downloaded.saturating_add(now);
            }
            _ => {}
        }
    }

    /// Its progress, while its bytes arrive.
    pub(crate) fn progress(&self) -> Option<Event> {
        (self.state == BlobState::Receiving).then(|| Event::BlobProgress {
            digest: self.digest.clone(),
            received: self.received,
            size: self.size,
        })
    }

    /// Prepares another request for the rest of the blob (from `received` on), and returns
    /// its attempts ([`Attempts::retrying_at`]).
    pub(crate) fn resume(&mut self) -> &mut u32 {
        self.state = BlobState::Waiting;
        self.redirect.clear();
        self.attempts.retrying_at(self.received)
    }

    /// Every byte of a blob that has any arrived (it is checked against its digest next).
    pub(crate) fn is_all_here(&self) -> bool {
        self.size > 0 && self.received == self.size
    }

    /// Starts over from byte 0 (the runner was told to discard what it wrote).
    pub(crate) fn restart(&mut self) {
        self.received = 0;
        self.from_partial = false;
        self.prefix = 0;
        self.hasher = Hasher::new(self.digest.algorithm());
        self.state = BlobState::Waiting;
        self.redirect.clear();
    }
}
