//! What a pull tells its runner: requests, where blob bytes go, events, the outcome.

use super::plan::PullReport;
use crate::concurrency::Change;
use crate::digest::Digest;
use crate::error::Error;
use crate::http::{Request, RequestId};
use crate::platform::Platform;
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
    /// Write `data` at `offset` of blob `digest`'s temporary file.
    Write {
        /// The blob.
        digest: Digest,
        /// Where in the blob the bytes go.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The blob is complete and matches its digest: move its temporary file into place.
    Commit {
        /// The blob.
        digest: Digest,
    },
    /// Throw away the blob's temporary file (a download restarts, or failed).
    Discard {
        /// The blob.
        digest: Digest,
    },
    /// Show this to the user.
    Event(Event),
    /// The pull ended; drop any requests in flight. Unfinished blobs' temporary files hold
    /// verified-later prefixes a runner may keep to resume (see [`super::Pull::handle_partial`]).
    Finished(Result<PullReport, Error>),
    /// Nothing more until an input: if nothing else comes first, feed
    /// [`crate::Input::Timeout`] at this instant (the same as `poll_timeout()`). It ends a
    /// drain of `poll()` when a timer is pending; the next `poll()` is `None`.
    Timeout(crate::time::Instant),
}

/// Where a runner keeps the blobs a pull downloads (a directory, JS `Blob`s): what the
/// [`Output::Write`], [`Output::Commit`] and [`Output::Discard`] outputs do.
pub trait BlobSink {
    /// Why the sink could not keep a blob.
    type Error;
    /// Writes `data` at `offset` of blob `digest`'s temporary file.
    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> Result<(), Self::Error>;
    /// Moves blob `digest`'s temporary file into place (verified by the core).
    fn commit(&mut self, digest: &Digest) -> Result<(), Self::Error>;
    /// Throws blob `digest`'s temporary file away.
    fn discard(&mut self, digest: &Digest);
}

impl Output {
    /// Does what this output asks of `sink` if it is about blob files; hands back every
    /// other output (requests, events, the end) for the runner to act on.
    pub fn store_in<S: BlobSink>(self, sink: &mut S) -> Result<Option<Output>, S::Error> {
        match self {
            Output::Write {
                digest,
                offset,
                data,
            } => sink.write(&digest, offset, &data).map(|()| None),
            Output::Commit { digest } => sink.commit(&digest).map(|()| None),
            Output::Discard { digest } => {
                sink.discard(&digest);
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }
}

/// Something worth showing.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// HTTPS failed against a loopback registry that speaks plain HTTP; using HTTP.
    PlainHttpFallback {
        /// The registry host.
        host: String,
    },
    /// The reference resolved to this manifest or index.
    Resolved {
        /// Its digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// An index entry was chosen for the platform.
    PlatformChosen {
        /// The platform.
        platform: Platform,
        /// The chosen manifest.
        digest: Digest,
    },
    /// The runner already has this blob.
    BlobSkipped {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A download continues from bytes an earlier run left (see [`super::Pull::handle_partial`]).
    BlobResumed {
        /// The blob.
        digest: Digest,
        /// Bytes already held, not downloaded again.
        from: u64,
        /// Its size.
        size: u64,
    },
    /// A download began.
    BlobStarted {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// Bytes of a blob received so far.
    BlobProgress {
        /// The blob.
        digest: Digest,
        /// Bytes received.
        received: u64,
        /// Its size.
        size: u64,
    },
    /// A blob arrived whole and verified.
    BlobDone {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
    },
    /// A request failed transiently and will be tried again.
    Retrying(Retrying),
    /// The adaptive concurrency controller changed the number of blobs in flight (see
    /// [`crate::concurrency`]).
    Concurrency(Change),
    /// Overall progress (`sent_bytes` counts bytes received).
    Progress(Progress),
}

impl Event {
    /// The blob this event shows the source repository holds (downloaded, or named by the
    /// image and already here): what a runner records to mount it elsewhere later
    /// ([`crate::push::PushPlan::mount_sources`]).
    pub fn held(&self) -> Option<&Digest> {
        match self {
            Event::BlobSkipped { digest, .. } | Event::BlobDone { digest, .. } => Some(digest),
            _ => None,
        }
    }
}

crate::engine::reported_outputs!(Output, Event, PullReport);
