//! What a push tells its runner: requests to send, events to show, and the final outcome.

use super::plan::PushReport;
use crate::concurrency::Change;
use crate::digest::Digest;
use crate::error::Error;
use crate::http::{Request, RequestId};
use crate::progress::Progress;
use crate::retry::Retrying;

/// The next thing the runner must do.
#[derive(Debug)]
pub enum Output {
    /// Send this request and report its response.
    Send(Request),
    /// Stop request `id` (close its connection, read no more of it): the core gave up on
    /// it — its response body was too large or too slow to read into memory. Inputs about
    /// it are still accepted, and ignored.
    Abort(RequestId),
    /// Show this to the user.
    Event(Event),
    /// The push ended; drop any requests still in flight.
    Finished(Result<PushReport, Error>),
    /// Nothing more until an input: if nothing else comes first, feed
    /// [`crate::Input::Timeout`] at this instant (the same as `poll_timeout()`). It ends a
    /// drain of `poll()` when a timer is pending; the next `poll()` is `None`.
    Timeout(crate::time::Instant),
}

/// Something worth showing. `blob` is the index in the plan of the blob concerned.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// HTTPS failed against a loopback registry that speaks plain HTTP; using HTTP.
    PlainHttpFallback {
        /// The registry host.
        host: String,
    },
    /// The registry already has this blob.
    BlobSkipped {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// The registry mounted this blob from another repository: no bytes sent.
    BlobMounted {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The repository it came from.
        from: String,
    },
    /// Dry run: the registry lacks this blob.
    BlobMissing {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The repository a push would ask to mount it from first (it is uploaded if that
        /// fails), if any.
        mount_from: Option<String>,
    },
    /// An upload session began for this blob.
    BlobStarted {
        /// Plan index.
        blob: usize,
        /// Its digest (a streamed blob's key while its bytes are being made).
        digest: Digest,
        /// Its size (an estimate while a streamed blob's bytes are being made).
        size: u64,
    },
    /// An upload session an earlier run left open goes on ([`PushPlan::resume`]): the
    /// registry holds its first `from` bytes, which are not sent again.
    ///
    /// [`PushPlan::resume`]: super::PushPlan::resume
    BlobResumed {
        /// Plan index.
        blob: usize,
        /// Its digest (a streamed blob's key while its bytes are being made).
        digest: Digest,
        /// Bytes the registry already holds.
        from: u64,
        /// Its size (an estimate while a streamed blob's bytes are being made).
        size: u64,
    },
    /// An upload session is open and the registry confirmed `committed` bytes of it: a
    /// runner that keeps this can resume the upload in a later run ([`PushPlan::resume`]).
    ///
    /// [`PushPlan::resume`]: super::PushPlan::resume
    UploadSession {
        /// Plan index.
        blob: usize,
        /// Its digest; for a blob made while it is sent ([`PushPlan::streamed`]), the key
        /// it goes by in the plan, known before its bytes are.
        ///
        /// [`PushPlan::streamed`]: super::PushPlan::streamed
        digest: Digest,
        /// The session URL (absolute), as the registry gave it, what resuming needs, less
        /// what must never be kept: user info, and this operation's secrets (a URL echoing
        /// one cannot be resumed).
        location: String,
        /// The session URL as it may be shown (no query, none of the operation's secrets):
        /// what a progress display prints.
        shown: String,
        /// Bytes the registry confirmed.
        committed: u64,
    },
    /// The upload session last announced for this blob is over (the blob is in the
    /// registry, or the session was given up for a new one): a runner forgets it.
    UploadSessionClosed {
        /// Plan index.
        blob: usize,
        /// Its digest (a streamed blob's key), as [`Event::UploadSession`] said it.
        digest: Digest,
    },
    /// Bytes of this blob sent (or confirmed) so far in its current attempt; emitted with
    /// each [`Event::Progress`] for every blob in flight.
    BlobProgress {
        /// Plan index.
        blob: usize,
        /// Bytes sent.
        sent: u64,
        /// Its size.
        size: u64,
    },
    /// The registry confirmed this blob.
    BlobCommitted {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A request failed transiently and will be tried again.
    Retrying(Retrying),
    /// The manifest is in place under the reference.
    ManifestPushed {
        /// Its digest.
        digest: Digest,
    },
    /// The adaptive concurrency controller changed the number of blobs in flight (see
    /// [`crate::concurrency`]).
    Concurrency(Change),
    /// Overall progress.
    Progress(Progress),
}

impl Event {
    /// The blob this event says the target repository holds now (already there, mounted,
    /// or confirmed): what a runner records to mount it elsewhere later
    /// ([`super::PushPlan::mount_sources`]).
    pub fn landed(&self) -> Option<&Digest> {
        match self {
            Event::BlobSkipped { digest, .. }
            | Event::BlobMounted { digest, .. }
            | Event::BlobCommitted { digest, .. } => Some(digest),
            _ => None,
        }
    }
}

crate::engine::reported_outputs!(Output, Event, PushReport);
