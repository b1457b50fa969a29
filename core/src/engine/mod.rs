//! One operation engine: the request lifecycle that push, pull and the copy source share,
//! written once. An operation is a [`Protocol`] on it.
//!
//! The engine owns the [`Session`] (requests in flight, authentication and tokens, timers,
//! body limits) and, for every input, does what is the same everywhere: the version check
//! and the loopback plain-HTTP fallback, `401` challenges, transient statuses and transport
//! failures retried with backoff, `Retry-After`, attempt limits and the time budget,
//! redirects for steps that follow them, registry error bodies made errors. What is left —
//! what a step asks for and what its answer means — goes to the protocol, which hands back
//! steps to send through the [`Cx`] (the session) and outputs through its [`Outbox`].
//!
//! Files: `protocol.rs` (what an operation adds), `outbox.rs` (the output queue and the
//! outputs every operation makes alike), `reporting.rs` (progress and the end of a push or
//! pull), `window.rs` (which blobs move: the blob window and adaptive concurrency),
//! `accountant.rs` (bytes moved, rate, ETA), `drain.rs` (a drain of `poll()` ends with the
//! next timer).

mod accountant;
mod drain;
mod outbox;
mod protocol;
mod reporting;
mod window;

pub(crate) use accountant::Accountant;
pub(crate) use drain::Drain;
pub(crate) use outbox::{reported_outputs, Outbox, Outputs, Reports};
pub(crate) use protocol::{Failure, Parts, Protocol, Response, Transient};
pub(crate) use reporting::Reporting;
pub(crate) use window::{BlobWindow, Windowed};

use url::Url;

use crate::error::{Error, Misuse};
use crate::http::{RequestId, ResponseHead, TransportError};
use crate::operation::Input;
use crate::retry::{
    is_retryable_answer, is_retryable_status, is_retryable_transport, retry_after, Retrying,
};
use crate::session::{Completed, Failed, Session};
use crate::time::Instant;

/// Redirects followed for one step before giving up.
const MAX_REDIRECTS: u8 = 5;

/// The misuse of reporting more request body bytes sent than the body holds.
const PAST_THE_BODY: &str = "more request body bytes reported sent than the request's body holds";

/// What a request is for: the engine's version check, or a step of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step<S> {
    /// `GET /v2/`: the registry is there, speaks Registry V2, and says how to authenticate.
    Ping,
    /// A step of the protocol.
    Op(S),
}

/// What the engine hands a protocol: the session, to read the endpoint and time, queue
/// steps to send ([`Session::issue`]) and plan retries.
pub(crate) type Cx<S> = Session<Step<S>>;

/// Where a step's redirect points and how many it followed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redirect {
    /// The URL to ask instead of the step's own (until the step is retried).
    pub target: Option<Url>,
    pub count: u8,
}

impl Redirect {
    /// Back to the step's own URL (a retry starts over).
    pub(crate) fn clear(&mut self) {
        *self = Redirect::default();
    }
}

/// A protocol driven by the engine.
#[derive(Debug)]
pub(crate) struct Engine<P: Protocol> {
    pub(crate) cx: Cx<P::Step>,
    pub(crate) proto: P,
    ping_attempts: u32,
    /// The registry answered the version check (or an earlier one vouched for it).
    answered: bool,
    /// Whatever was in flight was dropped when the protocol finished.
    abandoned: bool,
    /// Asked to stop once what is in flight has answered ([`Engine::wind_down`]).
    winding_down: WindDown,
    /// Where the runner's drain of `poll` is: it ends with the timer.
    drain: Drain,
}

impl<P: Protocol> Engine<P> {
    /// Starts `proto` on `cx` with the version check.
    pub(crate) fn new(proto: P, cx: Cx<P::Step>) -> Engine<P> {
        let mut engine = Engine {
            cx,
            proto,
            ping_attempts: 1,
            answered: false,
            abandoned: false,
            winding_down: WindDown::No,
            drain: Drain::default(),
        };
        if !engine.proto.finished() {
            if engine.cx.knows_registry() {
                // An earlier check answered for this registry: begin at once.
                engine.answered = true;
                engine.proto.start(&mut engine.cx);
            } else {
                engine.cx.issue(Step::Ping);
            }
        }
        engine.flush();
        engine
    }

    /// What the version check established, once the registry answered it: a later
    /// operation there given it ([`crate::RegistryConfig::reached`]) need not ask again.
    pub(crate) fn reached(&self) -> Option<crate::config::Reached> {
        self.answered.then(|| self.cx.reached())
    }

    /// Feeds one input at `now`.
    pub(crate) fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Misuse> {
        self.drain.restart();
        self.cx.tick(now);
        if let Some((id, ends)) = about(&input) {
            if self.cx.abandoned(id, ends) {
                return Ok(());
            }
            self.cx.moved(id, matches!(input, Input::Response(..)));
        }
        let result = match input {
            Input::Response(id, head) => self.on_head(id, head),
            Input::BodyChunk(id, data) => self.on_chunk(id, data),
            Input::BodyEnd(id) => self.on_end(id),
            Input::BodySent(id, data) => self.on_sent(id, data),
            Input::BodyProgress(id, n) => self.on_progress(id, n),
            Input::TransportError(id, error) => self.on_transport_error(id, error),
            Input::Timeout => {
                self.on_timeout();
                Ok(())
            }
        };
        self.flush();
        result
    }

    /// When [`Input::Timeout`] is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        timer(&self.proto, &self.cx, self.winding_down.deadline())
    }

    /// What `poll` returns: the protocol's next queued output, else the drain's closing
    /// timer (see [`Drain`]).
    pub(crate) fn poll(&mut self) -> Option<P::Output> {
        let queued = self.proto.outbox().pop();
        let Engine {
            drain,
            proto,
            cx,
            winding_down,
            ..
        } = self;
        let by = winding_down.deadline();
        drain.next(
            queued,
            || timer(proto, cx, by),
            <P::Output as Outputs>::timeout,
        )
    }

    /// Stops: the protocol fails with [`Error::Cancelled`].
    pub(crate) fn cancel(&mut self) {
        self.drain.restart();
        if !self.proto.finished() {
            self.fail(None, Error::Cancelled);
        }
        self.flush();
    }

    /// Stops as soon as what is in flight has answered, where the protocol gains from those
    /// answers ([`Protocol::finishes_in_flight`]: a push's chunk on its way, whose answer
    /// names the upload session the next run goes on from): nothing new is sent, the
    /// answers are taken in as usual, then it finishes with [`Error::Cancelled`] (or with
    /// what the last answer completed). What has not answered within
    /// [`crate::limits::WIND_DOWN_GRACE`] of the last input is given up. Elsewhere, or
    /// called again, it is [`Engine::cancel`].
    pub(crate) fn wind_down(&mut self) {
        if !self.proto.finishes_in_flight() || self.winding_down != WindDown::No {
            return self.cancel();
        }
        self.drain.restart();
        self.winding_down = WindDown::Until(self.cx.now + crate::limits::WIND_DOWN_GRACE);
        self.flush();
    }

    /// Lets the protocol act outside an input (a push's late blobs, a fetch's new stream),
    /// then sends what it queued.
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut P, &mut Cx<P::Step>) -> R) -> R {
        self.drain.restart();
        let r = f(&mut self.proto, &mut self.cx);
        self.flush();
        r
    }

    /// Sends the steps the protocol queued and the requests the session released, in order;
    /// once the protocol finished, drops what is in flight instead.
    fn flush(&mut self) {
        loop {
            if self.proto.finished() {
                if !self.abandoned {
                    self.cx.abandon_all();
                    self.abandoned = true;
                }
                return;
            }
            match self.winding_down {
                WindDown::No => {}
                WindDown::Until(by) => {
                    if !self.cx.stop_sending() || by <= self.cx.now {
                        // Once: a protocol that serves streams (a fetch) fails them and
                        // goes on existing, sending nothing more.
                        self.winding_down = WindDown::Done;
                        self.fail(None, Error::Cancelled);
                        continue;
                    }
                    return;
                }
                WindDown::Done => {
                    self.cx.stop_sending();
                    return;
                }
            }
            if let Some(step) = self.cx.take_issued() {
                self.send(step);
            } else if let Some(req) = self.cx.next_outgoing() {
                self.proto.outbox().push(P::Output::send(req));
            } else {
                return;
            }
        }
    }

    /// Ends the protocol (or `step` of it) with `error`, every secret of the session
    /// blanked out of it: a registry or token server may echo a password or token.
    fn fail(&mut self, step: Option<P::Step>, error: Error) {
        let error = self.cx.auth.secrets().redact_error(error);
        self.proto.fail(step, error, &mut self.cx);
    }

    fn send(&mut self, step: Step<P::Step>) {
        let parts = match step {
            Step::Ping => self
                .cx
                .endpoint
                .ping()
                .map(|url| Parts::get(url, Default::default())),
            Step::Op(s) => match self.proto.request(s, &self.cx) {
                Ok(Some(parts)) => Ok(parts),
                Ok(None) => return,
                Err(e) => {
                    self.fail(None, e);
                    return;
                }
            },
        };
        let parts = match parts {
            Ok(p) => p,
            Err(e) => {
                let message = format!("cannot build a URL for {}: {e}", self.cx.endpoint.host());
                self.fail(None, Error::InvalidInput { message });
                return;
            }
        };
        if let Some(req) = self
            .cx
            .request(step, parts.method, parts.url, parts.headers, parts.body)
        {
            self.proto.outbox().push(P::Output::send(req));
        }
    }

    // ---- inputs ----------------------------------------------------------------------

    fn on_head(&mut self, id: RequestId, head: ResponseHead) -> Result<(), Misuse> {
        let step = self.cx.step_of(id)?;
        let copy =
            (matches!(step, Some(Step::Op(_))) && !self.proto.finished()).then(|| head.clone());
        self.cx.on_head(id, head)?;
        if let (Some(Step::Op(s)), Some(head)) = (step, copy) {
            if self.proto.on_head(s, &head, &mut self.cx) {
                self.cx.stream(id);
            }
        }
        Ok(())
    }

    fn on_chunk(&mut self, id: RequestId, data: &[u8]) -> Result<(), Misuse> {
        let streamed = self.cx.is_streamed(id)?;
        let step = self.cx.on_chunk(id, data, !streamed)?;
        if let Some(error) = self.cx.body_fault(id) {
            return self.give_up(id, error);
        }
        if let (true, Some(Step::Op(s)), false) = (streamed, step, self.proto.finished()) {
            self.proto.on_data(s, data, &mut self.cx);
        }
        Ok(())
    }

    fn on_sent(&mut self, id: RequestId, data: &[u8]) -> Result<(), Misuse> {
        if let Some((s, offset)) = self.count_sent(id, data.len() as u64)? {
            self.proto.on_sent(s, offset, data, &mut self.cx);
        }
        Ok(())
    }

    fn on_progress(&mut self, id: RequestId, n: u64) -> Result<(), Misuse> {
        if let Some((s, offset)) = self.count_sent(id, n)? {
            self.proto.on_progress(s, offset, n, &mut self.cx);
        }
        Ok(())
    }

    /// Counts `n` more body bytes of request `id` sent: its step and where they start, or
    /// `None` for a request that is no step's (the version check). More than the body holds
    /// is the runner's misuse.
    fn count_sent(&mut self, id: RequestId, n: u64) -> Result<Option<(P::Step, u64)>, Misuse> {
        let Some(Step::Op(s)) = self.cx.step_of(id)? else {
            return Ok(None);
        };
        let req = self.cx.get_mut(id)?;
        let offset = req.sent;
        req.sent = offset
            .checked_add(n)
            .filter(|&sent| sent <= req.body_len)
            .ok_or(Misuse::OutOfOrder(PAST_THE_BODY))?;
        Ok(Some((s, offset)))
    }

    fn on_end(&mut self, id: RequestId) -> Result<(), Misuse> {
        match self.cx.complete(id)? {
            Completed::Token(Ok(steps)) => {
                for step in steps {
                    self.cx.issue(step);
                }
            }
            Completed::Token(Err(e)) => self.fail(None, e),
            Completed::Op(req, head) => {
                if let Step::Op(s) = req.step {
                    self.proto.on_done(s, req.body_len, req.sent, &mut self.cx);
                }
                if !self.proto.finished() {
                    let carried = req.carried_token;
                    self.on_response(req.step, &req.url, &head, &req.body, carried);
                }
            }
        }
        Ok(())
    }

    fn on_response(
        &mut self,
        step: Step<P::Step>,
        url: &Url,
        head: &ResponseHead,
        body: &[u8],
        carried: Option<u64>,
    ) {
        let status = head.status.as_u16();
        if status == 401 {
            match self.cx.on_unauthorized(step, url, head, carried) {
                Ok(Some(step)) => self.cx.issue(step),
                Ok(None) => {}
                Err(e) => match step {
                    Step::Op(s) if self.proto.on_refused(s, &mut self.cx) => {}
                    _ => self.fail(None, e),
                },
            }
            return;
        }
        let s = match step {
            Step::Ping => return self.on_ping(head, body),
            Step::Op(s) => s,
        };
        if is_retryable_answer(status, body) {
            if self.proto.on_refused(s, &mut self.cx) {
                // Something the operation can do without (a mount): not retried.
                return;
            }
            self.proto
                .on_transient(s, Transient::Status(status), &mut self.cx);
            let reason = format!("{status} from registry");
            if !self.proto.retry(s, retry_after(head), reason, &mut self.cx) {
                let by = self.cx.endpoint.other_host(url);
                let action = self.proto.describe(s) + &self.cx.backoff.why_not_retried();
                let error = registry_error(action, status, body, by, self.cx.auth.secrets());
                self.fail(Some(s), error);
            }
            return;
        }
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            if let Some(redirect) = self.proto.redirect(s) {
                if let Err(message) = follow(redirect, url, head) {
                    let action = self.proto.describe(s);
                    self.fail(Some(s), Error::Protocol { action, message });
                } else {
                    self.cx.issue(Step::Op(s));
                }
                return;
            }
        }
        let response = Response { head, body };
        match self.proto.on_response(s, response, &mut self.cx) {
            Ok(()) => {}
            Err(Failure::Status) => {
                let by = self.cx.endpoint.other_host(url);
                let action = self.proto.describe(s);
                let error = registry_error(action, status, body, by, self.cx.auth.secrets());
                self.fail(Some(s), error);
            }
            Err(Failure::Error(e)) => self.fail(Some(s), e),
        }
    }

    fn on_ping(&mut self, head: &ResponseHead, body: &[u8]) {
        let status = head.status.as_u16();
        if status == 200 {
            self.answered = true;
            self.proto.start(&mut self.cx);
            return;
        }
        if is_retryable_status(status)
            && self.retry_ping(retry_after(head), format!("{status} from registry"))
        {
            return;
        }
        let action = self.describe_ping() + &self.cx.backoff.why_not_retried();
        let error = if status == 404 {
            Error::Protocol {
                action,
                message: "no Registry V2 API at /v2/ (404)".into(),
            }
        } else {
            registry_error(action, status, body, None, self.cx.auth.secrets())
        };
        self.fail(None, error);
    }

    fn on_transport_error(&mut self, id: RequestId, error: TransportError) -> Result<(), Misuse> {
        let req = match self.cx.fail(id, &error)? {
            Failed::Request(req) => req,
            Failed::Token(steps) => {
                for step in steps {
                    self.cx.issue(step);
                }
                return Ok(());
            }
            Failed::Final(e) => {
                self.fail(None, e);
                return Ok(());
            }
        };
        if self.proto.finished() {
            return Ok(());
        }
        let retryable = is_retryable_transport(&error);
        match req.step {
            Step::Ping => {
                if let Some(host) = self.cx.plain_http_fallback(true, &error) {
                    self.proto.outbox().push(P::Output::plain_http(host));
                    self.cx.issue(Step::Ping);
                } else if !(retryable && self.retry_ping(None, error.to_string())) {
                    let action = self.describe_ping() + &self.cx.backoff.why_not_retried();
                    self.fail(None, Error::Transport { action, error });
                }
            }
            Step::Op(s) => {
                if retryable {
                    self.proto
                        .on_transient(s, Transient::Transport, &mut self.cx);
                    if self.proto.retry(s, None, error.to_string(), &mut self.cx) {
                        return Ok(());
                    }
                }
                let action = self.proto.describe(s) + &self.cx.backoff.why_not_retried();
                self.fail(Some(s), Error::Transport { action, error });
            }
        }
        Ok(())
    }

    /// The core fails request `id` itself (a body too large or too slow): handled as a
    /// transport failure, and the runner is told to stop it.
    fn give_up(&mut self, id: RequestId, error: TransportError) -> Result<(), Misuse> {
        // The runner hears to stop it before anything the failure leads to (even the end).
        self.proto.outbox().push(P::Output::abort(id));
        let result = self.on_transport_error(id, error);
        self.cx.abandon(id);
        result
    }

    fn on_timeout(&mut self) {
        for (id, error) in self.cx.overdue() {
            // Several may be due at once: once one ends the operation, nothing follows its
            // `Finished` (the rest are dropped with everything in flight).
            if self.proto.finished() {
                break;
            }
            let _ = self.give_up(id, error);
        }
        for step in self.cx.due() {
            let step = match step {
                Step::Op(s) => self.proto.on_due(s, &mut self.cx).map(Step::Op),
                ping => Some(ping),
            };
            if let Some(step) = step {
                self.cx.issue(step);
            }
        }
    }

    // ---- the version check -----------------------------------------------------------

    fn describe_ping(&self) -> String {
        format!("contacting registry {}", self.cx.endpoint.host())
    }

    fn retry_ping(&mut self, hint: Option<std::time::Duration>, reason: String) -> bool {
        self.ping_attempts += 1;
        let Some(delay) = self.cx.plan_retry(self.ping_attempts, hint) else {
            return false;
        };
        let what = self.describe_ping();
        self.proto.outbox().push(P::Output::retrying(Retrying {
            what,
            attempt: self.ping_attempts,
            delay,
            reason,
            blob: None,
        }));
        self.cx.schedule(delay, Step::Ping);
        true
    }
}

/// Where a stop that lets what is in flight finish is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindDown {
    /// Not asked to stop.
    No,
    /// Waiting for what is in flight, until this instant.
    Until(Instant),
    /// Stopped.
    Done,
}

impl WindDown {
    /// When what is in flight is given up.
    fn deadline(self) -> Option<Instant> {
        match self {
            WindDown::Until(by) => Some(by),
            _ => None,
        }
    }
}

/// When `proto`'s next [`Input::Timeout`] is due (a wind-down's end, `winding_down`,
/// included): none once it finished.
fn timer<P: Protocol>(
    proto: &P,
    cx: &Cx<P::Step>,
    winding_down: Option<Instant>,
) -> Option<Instant> {
    if proto.finished() {
        return None;
    }
    cx.poll_timeout().into_iter().chain(winding_down).min()
}

/// Follows a redirect response to `url`: its `Location`, resolved against `url`, must be
/// an `http(s)` URL, not plain HTTP from HTTPS, and at most [`MAX_REDIRECTS`] in a row.
fn follow(redirect: &mut Redirect, url: &Url, head: &ResponseHead) -> Result<(), String> {
    let status = head.status.as_u16();
    let location = head
        .location()
        .ok_or_else(|| format!("a {status} redirect without a Location header"))?;
    let target = url
        .join(location.trim())
        .map_err(|e| e.to_string())
        .and_then(|u| match crate::endpoint::is_http(&u) {
            true => Ok(u),
            false => Err("not an http or https URL".to_owned()),
        })
        .map_err(|e| format!("unusable redirect Location {location:?}: {e}"))?;
    if let Some(why) = crate::endpoint::downgrade(url, &target) {
        return Err(format!("a {status} redirect to {why}"));
    }
    redirect.count += 1;
    if redirect.count > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    redirect.target = Some(target);
    Ok(())
}

/// The error for a registry's unexpected `status` while doing `action`, with what its body
/// says: `403` is an authentication error, the rest the registry's. `by` names the host
/// that answered when it is not the registry ([`Endpoint::other_host`]); `secrets` are
/// blanked out of the body before it is excerpted.
///
/// [`Endpoint::other_host`]: crate::endpoint::Endpoint::other_host
pub(crate) fn registry_error(
    action: String,
    status: u16,
    body: &[u8],
    by: Option<String>,
    secrets: &crate::redact::Secrets,
) -> Error {
    let errors = secrets.parse_errors(body);
    if status < 400 {
        // Not an error status: the answer is not the one this step's protocol gives (a `202`
        // where a `PUT` closes with `201 Created`).
        let said = match errors.entries.is_empty() && errors.text.is_none() {
            true => String::new(),
            false => format!(" ({errors})"),
        };
        let who = by.as_deref().unwrap_or("it");
        return Error::Protocol {
            action,
            message: format!("{who} answered {status}, which this step does not expect{said}"),
        };
    }
    if status == 403 {
        let by = by.map(|host| format!(" by {host}")).unwrap_or_default();
        return Error::Auth {
            message: format!("{action}: access denied (403){by}: {errors}"),
        };
    }
    Error::Registry {
        action,
        status,
        errors,
        by,
    }
}

/// The request an input is about, and whether it ends it.
fn about(input: &Input<'_>) -> Option<(RequestId, bool)> {
    match input {
        Input::Response(id, _)
        | Input::BodyChunk(id, _)
        | Input::BodySent(id, _)
        | Input::BodyProgress(id, _) => Some((*id, false)),
        Input::BodyEnd(id) | Input::TransportError(id, _) => Some((*id, true)),
        Input::Timeout => None,
    }
}

/// The public driving API of an operation type `$ty` (a struct with an `engine` field whose
/// protocol queues `$out` outputs in its [`Outbox`]): `poll`, `poll_timeout`, `handle_input`,
/// `cancel`, and the [`crate::Operation`] trait on them. Written once for push, pull and
/// fetch.
macro_rules! engine_api {
    ($ty:ty, $out:ty) => {
        impl $ty {
            /// The next output, or `None` when it waits for an input. A drain (the calls
            /// after an input, a cancel or another call that acts on it, until `None`) ends
            /// with `Timeout(at)`, `at` being [`Self::poll_timeout`], when a timer is
            /// pending (never after `Finished`).
            #[must_use]
            pub fn poll(&mut self) -> Option<$out> {
                self.engine.poll()
            }

            /// When [`crate::Input::Timeout`] is due, if nothing else happens first: the
            /// same instant as the `Timeout` output that ended the last drain.
            #[must_use]
            pub fn poll_timeout(&self) -> Option<$crate::time::Instant> {
                self.engine.poll_timeout()
            }

            /// Feeds one input at `now` (see [`crate::Input`]): a response head, body bytes, a
            /// body end, request body bytes sent, a transport error, or time passing.
            pub fn handle_input(
                &mut self,
                now: $crate::time::Instant,
                input: $crate::operation::Input<'_>,
            ) -> Result<(), $crate::error::Misuse> {
                self.engine.handle_input(now, input)
            }

            /// Stops: it finishes (or fails what is open) with [`crate::Error::Cancelled`].
            pub fn cancel(&mut self) {
                self.engine.cancel();
            }

            /// Stops once what is in flight has answered, where those answers are worth
            /// having (a push's chunk on its way: the next run goes on after it); sends
            /// nothing new, then finishes with [`crate::Error::Cancelled`]. Elsewhere, and on
            /// a second call's [`Self::cancel`], it stops at once.
            pub fn wind_down(&mut self) {
                self.engine.wind_down();
            }
        }

        $crate::operation::inherent_operation!($ty);
    };
}
pub(crate) use engine_api;
