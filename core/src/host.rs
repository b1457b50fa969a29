//! One shape for a host's side of a push or a pull: what the operation asks
//! ([`Action`], from [`Drive::poll_action`]) and what happened to its requests
//! ([`Happened`], fed with [`Drive::handle`]). A host maps these once, whichever operation
//! it runs; the operations' own `Output`s stay for runners that want every detail.

use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Misuse};
use crate::http::{Request, RequestId, ResponseHead, TransportError};
use crate::operation::{Input, Operation};
use crate::pull::{self, BlobSink, Pull, PullReport};
use crate::push::{self, Push, PushReport};
use crate::time::Instant;

/// What an operation asks of its host next.
#[allow(clippy::large_enum_variant)] // a request, moved once to the runner
#[derive(Debug)]
pub enum Action<R> {
    /// Send this request and report what happens to it.
    Send(Request),
    /// Stop request `id`: the core gave up on it (inputs about it are ignored).
    Abort(RequestId),
    /// Keep a pulled blob's bytes: [`Store::apply`] does it with a [`BlobSink`].
    Store(Store),
    /// Show this event (the JSON the CLI's `--progress json` prints).
    Event(Value),
    /// Nothing more until an input: feed [`Input::Timeout`] at this instant if nothing
    /// else comes first. It ends a drain of `poll_action()`; the next one is `None`.
    Timeout(Instant),
    /// The operation ended; drop whatever is still in flight.
    Finished(Result<R, Error>),
}

/// What a pull asks of the place its blobs go.
#[derive(Debug)]
pub enum Store {
    /// Write `data` at `offset` of blob `digest`'s temporary file.
    Write {
        /// The blob.
        digest: Digest,
        /// Where in the blob the bytes go.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The blob is complete and verified: move it into place.
    Commit(Digest),
    /// Throw the blob's temporary file away.
    Discard(Digest),
}

impl Store {
    /// Does it with `sink`.
    pub fn apply<S: BlobSink>(self, sink: &mut S) -> Result<(), S::Error> {
        match self {
            Store::Write {
                digest,
                offset,
                data,
            } => sink.write(&digest, offset, &data),
            Store::Commit(digest) => sink.commit(&digest),
            Store::Discard(digest) => {
                sink.discard(&digest);
                Ok(())
            }
        }
    }
}

/// What happened to a request, as a host reports it (owning its bytes, so it can cross a
/// channel from the task that saw it). Fed with [`Drive::handle`].
#[derive(Debug)]
pub enum Happened<B> {
    /// Request body bytes went out (when the request's body
    /// [`wants_bytes`](crate::http::Body::wants_bytes); else [`Happened::SentCount`] will do).
    Sent(RequestId, B),
    /// This many request body bytes went out.
    SentCount(RequestId, u64),
    /// The status line and headers arrived.
    Head(RequestId, ResponseHead),
    /// A piece of the response body arrived.
    Chunk(RequestId, B),
    /// The response body ended.
    End(RequestId),
    /// The request failed below HTTP.
    Failed(RequestId, TransportError),
}

/// An operation a host drives through [`Action`]s and [`Happened`]s.
pub trait Drive: Operation {
    /// What it ends with.
    type Report;

    /// The next thing to do, or `None` until the next input.
    fn poll_action(&mut self) -> Option<Action<Self::Report>>;

    /// Feeds what happened to a request, at `now` (see [`Operation::handle_input`]).
    fn handle<B: AsRef<[u8]>>(&mut self, now: Instant, happened: Happened<B>) -> Result<(), Misuse>
    where
        Self: Sized,
    {
        match happened {
            Happened::Sent(id, data) => self.handle_input(now, Input::BodySent(id, data.as_ref())),
            Happened::SentCount(id, n) => self.handle_input(now, Input::BodyProgress(id, n)),
            Happened::Head(id, head) => self.handle_input(now, Input::Response(id, head)),
            Happened::Chunk(id, data) => {
                self.handle_input(now, Input::BodyChunk(id, data.as_ref()))
            }
            Happened::End(id) => self.handle_input(now, Input::BodyEnd(id)),
            Happened::Failed(id, e) => self.handle_input(now, Input::TransportError(id, e)),
        }
    }
}

impl Drive for Push {
    type Report = PushReport;

    fn poll_action(&mut self) -> Option<Action<PushReport>> {
        loop {
            return Some(match self.poll()? {
                push::Output::Send(req) => Action::Send(req),
                push::Output::Abort(id) => Action::Abort(id),
                push::Output::Event(event) => match event.json() {
                    Some(json) => Action::Event(json),
                    None => continue,
                },
                push::Output::Timeout(at) => Action::Timeout(at),
                push::Output::Finished(result) => Action::Finished(result),
            });
        }
    }
}

impl Drive for Pull {
    type Report = PullReport;

    fn poll_action(&mut self) -> Option<Action<PullReport>> {
        loop {
            return Some(match self.poll()? {
                pull::Output::Send(req) => Action::Send(req),
                pull::Output::Abort(id) => Action::Abort(id),
                pull::Output::Write {
                    digest,
                    offset,
                    data,
                } => Action::Store(Store::Write {
                    digest,
                    offset,
                    data,
                }),
                pull::Output::Commit { digest } => Action::Store(Store::Commit(digest)),
                pull::Output::Discard { digest } => Action::Store(Store::Discard(digest)),
                pull::Output::Event(event) => match event.json() {
                    Some(json) => Action::Event(json),
                    None => continue,
                },
                pull::Output::Timeout(at) => Action::Timeout(at),
                pull::Output::Finished(result) => Action::Finished(result),
            });
        }
    }
}
