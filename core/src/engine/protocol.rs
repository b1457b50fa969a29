//! What an operation adds to the engine: its steps, the request of each, what each response
//! means, and how a failed step is tried again. The engine does the rest (see [`super`]).

use std::time::Duration;

use url::Url;

use crate::error::Error;
use crate::http::{Body, HeaderMap, Method, ResponseHead};
use crate::retry::Retrying;

use super::outbox::{Outbox, Outputs};
use super::{Cx, Redirect, Step};

/// The method, URL, headers and body of a step's request.
pub(crate) struct Parts {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Parts {
    /// A `GET` of `url` with `headers`.
    pub(crate) fn get(url: Url, headers: HeaderMap) -> Parts {
        Parts {
            method: Method::GET,
            url,
            headers,
            body: Body::Empty,
        }
    }
}

/// A complete response the protocol must act on.
pub(crate) struct Response<'a> {
    pub head: &'a ResponseHead,
    /// The body, unless the protocol streamed it.
    pub body: &'a [u8],
}

impl Response<'_> {
    pub(crate) fn status(&self) -> u16 {
        self.head.status.as_u16()
    }
}

/// Why a response handler gave up.
pub(crate) enum Failure {
    /// An unexpected status: the registry's error body says why.
    Status,
    /// A specific error.
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

/// A failure the engine will try again: a transient status (408, 429, 5xx) or a broken
/// transfer. Protocols read overload into it (fewer blobs in flight) or a body cap.
pub(crate) enum Transient {
    Status(u16),
    Transport,
}

/// One operation's protocol on the engine.
pub(crate) trait Protocol {
    /// What a request is for (a blob's chunk, a manifest, a stream).
    type Step: Copy + Eq + std::fmt::Debug;

    /// What the operation outputs.
    type Output: Outputs;

    /// Its output queue: the engine queues requests, aborts and its events there too.
    fn outbox(&mut self) -> &mut Outbox<Self::Output>;

    /// What `step` is doing, for errors and events: `uploading blob sha256:0123…`.
    fn describe(&self, step: Self::Step) -> String;

    /// The blob `step` moves, if any ([`Retrying::blob`]).
    fn blob_of(&self, _step: Self::Step) -> Option<crate::digest::Digest> {
        None
    }

    /// The method, URL, headers and body of `step`'s request (the engine adds
    /// `Authorization`, `User-Agent` and `Content-Length`); `None`: nothing to send any
    /// more (what the step was for is gone).
    fn request(&mut self, step: Self::Step, cx: &Cx<Self::Step>) -> Result<Option<Parts>, Error>;

    /// A step scheduled with [`crate::session::Session::schedule`] is due: the step to send
    /// now, or `None` when its timer only had to act (or has nothing left to do).
    fn on_due(&mut self, step: Self::Step, _cx: &mut Cx<Self::Step>) -> Option<Self::Step> {
        Some(step)
    }

    /// Whether a stop lets the requests in flight finish ([`super::Engine::wind_down`]):
    /// their answers teach what a later run needs.
    fn finishes_in_flight(&self) -> bool {
        false
    }

    /// The registry answered the version check: begin.
    fn start(&mut self, cx: &mut Cx<Self::Step>);

    /// The head of `step`'s response: whether its body is streamed to
    /// [`Protocol::on_data`] rather than read into memory.
    fn on_head(
        &mut self,
        _step: Self::Step,
        _head: &ResponseHead,
        _cx: &mut Cx<Self::Step>,
    ) -> bool {
        false
    }

    /// Body bytes of a streamed response, in order.
    fn on_data(&mut self, _step: Self::Step, _data: &[u8], _cx: &mut Cx<Self::Step>) {}

    /// The runner sent request body bytes of `step`, the first at `offset` of the body.
    fn on_sent(&mut self, _step: Self::Step, _offset: u64, _data: &[u8], _cx: &mut Cx<Self::Step>) {
    }

    /// The runner sent `n` request body bytes of `step` it could not show, the first at
    /// `offset` of the body ([`crate::Input::BodyProgress`]).
    fn on_progress(&mut self, _step: Self::Step, _offset: u64, _n: u64, _cx: &mut Cx<Self::Step>) {}

    /// `step`'s request got its whole response (any status), `body_len` request body bytes
    /// of which the runner reported `sent`: before the engine reads the status.
    fn on_done(&mut self, _step: Self::Step, _body_len: u64, _sent: u64, _cx: &mut Cx<Self::Step>) {
    }

    /// Where `step` keeps the redirect the engine follows for it; `None`: `step` follows no
    /// redirects (a `3xx` is then an unexpected status).
    fn redirect(&mut self, _step: Self::Step) -> Option<&mut Redirect> {
        None
    }

    /// A complete response for `step` that the engine left to the protocol: not a `401`,
    /// not a transient status it retried, not a redirect it followed.
    fn on_response(
        &mut self,
        step: Self::Step,
        response: Response<'_>,
        cx: &mut Cx<Self::Step>,
    ) -> Result<(), Failure>;

    /// The registry refused `step` with a `401` the session could not answer (a fresh token
    /// did not help), or answered it with a status that is retried (`5xx`, `429`): true if
    /// the protocol goes on without it (it issued what replaces it); false to fail the
    /// operation with the refusal, or to retry the status.
    fn on_refused(&mut self, _step: Self::Step, _cx: &mut Cx<Self::Step>) -> bool {
        false
    }

    /// A transient failure of `step`, before it is retried.
    fn on_transient(&mut self, _step: Self::Step, _why: Transient, _cx: &mut Cx<Self::Step>) {}

    /// The step that tries `step` again, and the attempt counter it counts against;
    /// `None` when there is nothing left to try (a stream closed meanwhile).
    fn retry_as(&mut self, step: Self::Step) -> Option<(Self::Step, &mut u32)>;

    /// `step` failed for good; `None`: the whole operation cannot go on.
    fn fail(&mut self, step: Option<Self::Step>, error: Error, cx: &mut Cx<Self::Step>);

    /// Whether the operation has finished.
    fn finished(&self) -> bool;

    /// Plans another attempt of `step` after a backoff (`hint`: the registry's
    /// `Retry-After`); false when attempts or the time budget are exhausted.
    fn retry(
        &mut self,
        step: Self::Step,
        hint: Option<Duration>,
        reason: String,
        cx: &mut Cx<Self::Step>,
    ) -> bool {
        let Some((step, attempts)) = self.retry_as(step) else {
            return true;
        };
        *attempts += 1;
        let attempt = *attempts;
        let Some(delay) = cx.plan_retry(attempt, hint) else {
            return false;
        };
        let what = self.describe(step);
        let blob = self.blob_of(step);
        self.outbox().push(Self::Output::retrying(Retrying {
            what,
            attempt,
            delay,
            reason,
            blob,
        }));
        cx.schedule(delay, Step::Op(step));
        true
    }
}
