//! What a push tells its runner: requests to send, events to show, and the final outcome.

use std::time::Duration;

use super::plan::PushReport;
use crate::concurrency::Change;
use crate::digest::Digest;
use crate::error::Error;
use crate::http::Request;
use crate::progress::Progress;

/// The next thing the runner must do.
#[derive(Debug)]
pub enum Output {
    /// Send this request and report its response.
    Send(Request),
    /// Show this to the user.
    Event(Event),
    /// The push ended; drop any requests still in flight.
    Finished(Result<PushReport, Error>),
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
    },
    /// An upload session began for this blob.
    BlobStarted {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// An upload session is open and the registry confirmed `committed` bytes of it: a
    /// runner that keeps this can resume the upload in a later run ([`PushPlan::resume`]).
    ///
    /// [`PushPlan::resume`]: super::PushPlan::resume
    UploadSession {
        /// Plan index.
        blob: usize,
        /// Its digest.
        digest: Digest,
        /// The session URL (absolute).
        location: String,
        /// Bytes the registry confirmed.
        committed: u64,
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
    Retrying {
        /// What is retried, e.g. `blob sha256:ab12…`.
        what: String,
        /// The attempt about to be made (2 = first retry).
        attempt: u32,
        /// How long until it is made.
        delay: Duration,
        /// Why the last one failed.
        reason: String,
    },
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
