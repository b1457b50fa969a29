//! One virtual-time driver for any [`tug_core::Operation`] (push, pull, fetch, copy): it
//! plays the runner and the network, answering each request from a [`RegistryModel`], and
//! checks the driving contract the core documents on the way.
//!
//! What differs per operation — what its outputs mean — is a [`Plug`] (see
//! [`crate::ops`]). The driver keeps the requests in flight, answers them in the [`Order`]
//! asked for (oldest first, out of order from a seed, or as a choice function says, several
//! at once), moves the clock (each answer takes [`Pace::latency`]; timers jump it), and
//! offers the same steps one at a time ([`Driver::answer`], [`Driver::fail`],
//! [`Driver::advance`], …) for the fuzz targets' scripts. Like a runner, it takes its timer
//! from the `Timeout` output that ends a drain, and checks it is `poll_timeout()`.
//!
//! A broken contract is a panic whose message starts with `contract:` or `liveness:`.

mod order;

pub use order::Order;

use std::time::Duration;

use tug_core::http::{
    HeaderName, HeaderValue, Request, RequestId, ResponseHead, StatusCode, TransportError,
    TransportErrorKind,
};
use tug_core::{Error, Input, Instant, Operation};

use crate::model::{RegistryModel, Reply};

/// Most steps of [`Driver::run`] before it counts as endless.
const RUN_BOUND: usize = 100_000;
/// Most outputs one drain may take before it counts as a busy loop.
pub const DRAIN_BOUND: usize = 200_000;

/// How a request body reaches the network.
#[derive(Debug)]
pub enum SendBody {
    /// These bytes (a runner streams them from a file or a buffer).
    Bytes(Vec<u8>),
    /// The operation streams it: [`Out::BodyData`] pieces, then [`Out::BodyEnd`] (a copy's
    /// uploads, fed from the source).
    Streamed,
}

/// What an operation's output asks of the driver; the plug keeps the rest.
// One lives at a time, straight from `poll`: the size of `Send` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Out<R> {
    /// Send `req` to model `to` with this body.
    Send {
        req: Request,
        to: usize,
        body: SendBody,
    },
    /// The next bytes of a streamed request body.
    BodyData(RequestId, Vec<u8>),
    /// A streamed request body is complete.
    BodyEnd(RequestId),
    /// A streamed request body broke: the runner fails the request.
    BodyFailed(RequestId, String),
    /// The core gave up on this request: stop answering it.
    Abort(RequestId),
    /// The operation finished (or, for a fetch, everything it was asked for is over).
    Finished(Result<R, Error>),
    /// The drain's last output: nothing more until an input; the timer is due then.
    Timeout(Instant),
    /// An output the plug dealt with itself (an event, a write).
    Other,
}

/// The operation-specific half of the driver: owns the operation, turns its outputs into
/// [`Out`]s and checks what is particular to them.
pub trait Plug {
    /// The operation.
    type Op: Operation;
    /// What it gives back when it succeeds.
    type Report: std::fmt::Debug;
    /// The operation, to feed inputs to.
    fn op(&mut self) -> &mut Self::Op;
    /// The operation, to ask about timers.
    fn op_ref(&self) -> &Self::Op;
    /// Polls the operation's next output.
    fn next(&mut self, cx: &Cx) -> Option<Out<Self::Report>>;
    /// Whether the operation may rightly wait with nothing in flight and no timer (a push
    /// whose blobs are still being made, a fetch with no stream open).
    fn may_idle(&self) -> bool {
        false
    }
    /// Called in [`Driver::run`] whenever the number of answered requests or whether the
    /// operation is idle (nothing in flight; timers may be pending) changed, before the next
    /// answer: the place to give it what comes from elsewhere than the network.
    fn between(&mut self, _answered: usize, _idle: bool) {}
}

/// What a plug may know of the driver when it takes an output.
#[derive(Clone, Copy, Debug)]
pub struct Cx {
    /// The driver's clock.
    pub now: Instant,
    /// Whether every response so far was the model's own ([`Driver::clean`]).
    pub clean: bool,
}

/// How fast the simulated network is.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// From a request's answer being chosen to its response: half of it passes while the
    /// request body goes out (reported in two halves), half before the response.
    pub latency: Duration,
    /// Response bodies arrive in pieces of this size.
    pub chunk: usize,
}

impl Default for Pace {
    /// 10 ms per answer, 1000-byte pieces.
    fn default() -> Self {
        Pace {
            latency: Duration::from_millis(10),
            chunk: 1000,
        }
    }
}

/// A request sent and not yet finished.
#[derive(Debug)]
pub struct Flight {
    pub req: Request,
    /// The model that answers it.
    pub to: usize,
    /// Its body as far as it is known.
    pub body: Vec<u8>,
    /// Whether the body is complete (always, unless the operation streams it).
    pub complete: bool,
    /// Why its streamed body broke, if it did.
    pub broken: Option<String>,
    /// Whether its response head was delivered.
    pub head: bool,
}

impl Flight {
    /// Whether the network can answer it now: its body is complete (or broke).
    pub fn ready(&self) -> bool {
        self.complete || self.broken.is_some()
    }
}

/// A change to a model answer's headers.
#[derive(Clone, Debug)]
pub enum HeaderEdit {
    /// Set this header to these bytes (dropped if not a valid name or value).
    Set(String, Vec<u8>),
    /// Remove this header.
    Drop(String),
}

/// How [`Driver::answer`] answers a request: as the model would, or changed.
#[derive(Clone, Debug, Default)]
pub struct Answering {
    /// Another status.
    pub status: Option<u16>,
    /// Header changes.
    pub edits: Vec<HeaderEdit>,
    /// Body pieces of this size instead of [`Pace::chunk`].
    pub chunk: Option<usize>,
    /// Break the connection after this many body bytes.
    pub cut: Option<usize>,
    /// Send no body.
    pub no_body: bool,
    /// Leave the response open (no end).
    pub no_end: bool,
}

impl Answering {
    /// Whether the answer is the model's own.
    fn unchanged(&self) -> bool {
        self.status.is_none() && self.edits.is_empty() && !self.no_body
    }
}

/// The driver: an operation's plug, the models that answer its requests, the clock and the
/// requests in flight.
pub struct Driver<'m, P: Plug> {
    pub plug: P,
    pub models: Vec<&'m mut RegistryModel>,
    pub now: Instant,
    pub flights: Vec<Flight>,
    /// Every request sent, with the model it went to.
    pub requests: Vec<(usize, Request)>,
    /// The most requests in flight at once.
    pub max_in_flight: usize,
    /// How many requests were answered or failed.
    pub answered: usize,
    /// The status each request the network answered got, in the order answered (`None`:
    /// it failed below HTTP).
    pub statuses: Vec<(RequestId, Option<u16>)>,
    /// The outcome, once [`Out::Finished`] came.
    pub result: Option<Result<P::Report, Error>>,
    /// Whether every response so far was the model's own, unchanged (broken connections,
    /// timers and cancellation allowed).
    pub clean: bool,
    /// The timer, as the last drain's [`Out::Timeout`] set it (every input clears it: the
    /// drain after it says it again, if there is one).
    pub timer: Option<Instant>,
    /// How many drains ended with a `Timeout`.
    pub timeouts: usize,
    pub order: Order,
    pub pace: Pace,
    /// Request bodies are reported as counts ([`Input::BodyProgress`]), as a browser's
    /// upload progress tells them, instead of as the bytes ([`Input::BodySent`]).
    pub sent_as_counts: bool,
    /// Requests answered or failed (the most recent 64), for [`Driver::stray`].
    settled: Vec<RequestId>,
    /// Requests the core gave up on while being answered.
    aborted: Vec<RequestId>,
    last_between: Option<(usize, bool)>,
}

impl<'m, P: Plug> Driver<'m, P> {
    /// A driver for `plug`'s operation, answered by `models` (a plug's `to` indexes them).
    pub fn new(plug: P, models: Vec<&'m mut RegistryModel>) -> Driver<'m, P> {
        let mut driver = Driver {
            plug,
            models,
            now: Instant::ZERO,
            flights: Vec::new(),
            requests: Vec::new(),
            max_in_flight: 0,
            answered: 0,
            statuses: Vec::new(),
            result: None,
            clean: true,
            timer: None,
            timeouts: 0,
            order: Order::Fifo,
            pace: Pace::default(),
            sent_as_counts: false,
            settled: Vec::new(),
            aborted: Vec::new(),
            last_between: None,
        };
        driver.drain();
        driver
    }

    /// The same driver, answering in `order`.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The same driver, at `pace`.
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// The same driver, reporting request bodies as counts only (a browser's runner).
    pub fn sent_as_counts(mut self) -> Self {
        self.sent_as_counts = true;
        self
    }

    /// Reports `bytes` of request `id`'s body sent: the bytes, or their count.
    fn report_sent(&mut self, id: RequestId, bytes: &[u8]) {
        let _ = if self.sent_as_counts {
            self.input(Input::BodyProgress(id, bytes.len() as u64))
        } else {
            self.input(Input::BodySent(id, bytes))
        };
    }

    /// Whether the operation finished.
    pub fn finished(&self) -> bool {
        self.result.is_some()
    }

    // ---- the automatic run ---------------------------------------------------------------

    /// Runs the operation until it finishes: timers that are due fire, the plug gets its
    /// turn ([`Plug::between`]), then the [`Order`] picks what to answer; with nothing to
    /// answer, the clock jumps to the next timer. Panics if the operation stalls (nothing
    /// in flight, no timer, not finished), does not finish, or a model noted a violation.
    pub fn run(&mut self) {
        for _ in 0..RUN_BOUND {
            if self.finished() {
                self.check_models();
                return;
            }
            self.step();
        }
        panic!("liveness: the operation did not finish within {RUN_BOUND} steps");
    }

    /// One step of [`Driver::run`].
    pub fn step(&mut self) {
        let timeout = self.timer;
        if timeout.is_some_and(|t| t <= self.now) {
            // A timer came due while requests were being answered.
            self.timeout();
            return;
        }
        // Idle: nothing in flight (timers may be pending: a request's deadline, a wait).
        let idle = self.flights.is_empty();
        if self.last_between != Some((self.answered, idle)) {
            self.last_between = Some((self.answered, idle));
            self.plug.between(self.answered, idle);
            self.drain();
            return;
        }
        let chosen = self.choose();
        if !chosen.is_empty() {
            self.answer_together(&chosen);
        } else if let Some(t) = timeout {
            self.now = t;
            self.timeout();
        } else {
            let log: Vec<&String> = self.models.iter().flat_map(|m| &m.log).collect();
            panic!(
                "liveness: the operation stalled: nothing to answer, no timer, not finished\n\
                 in flight: {:?}\nrequests answered: {log:#?}",
                self.flights
                    .iter()
                    .map(|f| f.req.url.as_str())
                    .collect::<Vec<_>>()
            );
        }
    }

    /// The flights to answer next, as the order picks them among the ready ones.
    fn choose(&mut self) -> Vec<usize> {
        let ready: Vec<usize> = (0..self.flights.len())
            .filter(|&i| self.flights[i].ready())
            .collect();
        if ready.is_empty() {
            return Vec::new();
        }
        let chosen = self.order.pick(&self.flights, &ready);
        for &i in &chosen {
            assert!(
                ready.contains(&i),
                "the order chose flight {i}, which is not ready or not in flight"
            );
        }
        let mut seen = chosen.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), chosen.len(), "the order chose a flight twice");
        chosen
    }

    /// Panics if a model noted something a correct client never does.
    pub fn check_models(&self) {
        for m in &self.models {
            assert!(
                m.violations.is_empty(),
                "contract: the registry model saw {:?}",
                m.violations
            );
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// Takes every output the operation has ready, checking the contract on each, and sets
    /// the timer from the drain's closing [`Out::Timeout`].
    pub fn drain(&mut self) {
        let mut ended = false;
        for _ in 0..DRAIN_BOUND {
            let cx = Cx {
                now: self.now,
                clean: self.clean,
            };
            let Some(out) = self.plug.next(&cx) else {
                self.max_in_flight = self.max_in_flight.max(self.flights.len());
                self.check_drain_timer();
                return;
            };
            if self.finished() && !matches!(out, Out::Other) {
                panic!("contract: an output after Finished: {out:?}");
            }
            // The operation's drain is over: only a fetch run's own end may follow.
            if ended && !matches!(out, Out::Finished(_)) {
                panic!("contract: an output after the drain's Timeout: {out:?}");
            }
            match out {
                Out::Send { req, to, body } => self.sent(req, to, body),
                Out::BodyData(id, data) => {
                    let f = self.streamed(id);
                    assert!(!f.complete, "contract: body data after the body ended");
                    f.body.extend_from_slice(&data);
                }
                Out::BodyEnd(id) => self.streamed(id).complete = true,
                Out::BodyFailed(id, message) => self.streamed(id).broken = Some(message),
                Out::Abort(id) => {
                    self.flights.retain(|f| f.req.id != id);
                    // Given up on, even while its answer was being delivered: the operation
                    // takes late inputs about it, so it is no stray's to name.
                    self.settled.retain(|s| *s != id);
                    self.aborted.push(id);
                }
                Out::Finished(result) => self.result = Some(result),
                Out::Timeout(at) => {
                    let pending = self.plug.op_ref().poll_timeout();
                    assert_eq!(
                        Some(at),
                        pending,
                        "contract: the drain ended with Timeout({at:?}), but poll_timeout() is {pending:?}"
                    );
                    ended = true;
                    self.timer = Some(at);
                    self.timeouts += 1;
                }
                Out::Other => {}
            }
        }
        panic!("liveness: poll() produced {DRAIN_BOUND} outputs without stopping");
    }

    /// After a drain: the timer its `Timeout` set (or the one before, if nothing acted on
    /// the operation since) is the operation's — a drain that leaves a timer ends with it.
    fn check_drain_timer(&self) {
        let pending = self.plug.op_ref().poll_timeout();
        assert_eq!(
            self.timer, pending,
            "contract: a drain left the timer at {:?}, but poll_timeout() is {pending:?} (a drain that leaves a timer must end with Timeout)",
            self.timer
        );
    }

    fn sent(&mut self, req: Request, to: usize, body: SendBody) {
        assert!(
            self.flights.iter().all(|f| f.req.id != req.id),
            "contract: request id {} reused while in flight",
            req.id
        );
        assert!(
            matches!(req.url.scheme(), "http" | "https"),
            "contract: a request to a {:?} URL: {}",
            req.url.scheme(),
            req.url
        );
        assert!(
            to < self.models.len(),
            "a request for model {to}, of {}",
            self.models.len()
        );
        if self.models[to].is_foreign_storage(&req.url) {
            assert!(
                !req.headers.contains_key("authorization"),
                "contract: Authorization sent to blob storage on another host: {}",
                req.url
            );
        }
        let (body, complete) = match body {
            SendBody::Bytes(b) => (b, true),
            SendBody::Streamed => (Vec::new(), false),
        };
        self.requests.push((to, req.clone()));
        self.flights.push(Flight {
            req,
            to,
            body,
            complete,
            broken: None,
            head: false,
        });
    }

    /// The flight whose body the operation streams.
    fn streamed(&mut self, id: RequestId) -> &mut Flight {
        self.flights
            .iter_mut()
            .find(|f| f.req.id == id)
            .unwrap_or_else(|| panic!("contract: body output for request {id}, not in flight"))
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Feeds `input` at the driver's `now` and drains the outputs.
    pub fn input(&mut self, input: Input<'_>) -> Result<(), tug_core::Misuse> {
        let r = self.feed(self.now, input);
        self.drain();
        r
    }

    /// Feeds `input` at `now`: the timer is the next drain's to say.
    fn feed(&mut self, now: Instant, input: Input<'_>) -> Result<(), tug_core::Misuse> {
        self.timer = None;
        self.plug.op().handle_input(now, input)
    }

    /// Tells the operation time passed (up to `now`).
    pub fn timeout(&mut self) {
        self.input(Input::Timeout)
            .expect("contract: a timeout was refused");
    }

    /// Feeds an input about request `id` in flight, which the operation must take (unless
    /// it finished or gave up on the request meanwhile).
    fn deliver(&mut self, id: RequestId, input: Input<'_>, what: &str) {
        if self.finished() || self.aborted.contains(&id) {
            return;
        }
        let r = self.input(input);
        assert!(
            r.is_ok(),
            "contract: {what} of request {id} in flight was refused: {r:?}"
        );
    }

    /// Takes flight `i` off the list of requests in flight.
    fn settle(&mut self, i: usize) -> Flight {
        let f = self.flights.remove(i);
        self.answered += 1;
        if self.settled.len() >= 64 {
            self.settled.remove(0);
        }
        self.settled.push(f.req.id);
        f
    }

    /// Answers flights `chosen` together, in that order: their bodies go out, the models
    /// answer them in order, then every head arrives, the bodies' pieces interleaved, and
    /// the ends — all one [`Pace::latency`] later.
    pub fn answer_together(&mut self, chosen: &[usize]) {
        let ids: Vec<RequestId> = chosen.iter().map(|&i| self.flights[i].req.id).collect();
        let half = self.pace.latency / 2;
        for part in 0..2 {
            for id in &ids {
                let Some(f) = self.flights.iter().find(|f| f.req.id == *id) else {
                    continue;
                };
                let body = f.body.clone();
                let mid = body.len() / 2;
                let piece = if part == 0 {
                    &body[..mid]
                } else {
                    &body[mid..]
                };
                if f.complete {
                    let piece = piece.to_vec();
                    self.report_sent(*id, &piece);
                }
            }
            self.now = self.now + half;
        }
        self.respond(&ids);
    }

    /// Answers requests `ids` now, together and in that order, their bodies having gone
    /// out: the models answer them in order, then every head arrives, the bodies' pieces
    /// interleaved, and the ends. Returns each request with the status it got (`None`: a
    /// transport failure).
    pub fn respond(&mut self, ids: &[RequestId]) -> Vec<(Request, Option<ResponseHead>)> {
        self.aborted.clear();
        let mut replies = Vec::new();
        let mut answered = Vec::new();
        for &id in ids {
            let Some(i) = self.flights.iter().position(|f| f.req.id == id) else {
                continue;
            };
            let f = self.settle(i);
            let answer = match f.broken {
                Some(message) => Err(TransportError {
                    kind: TransportErrorKind::Source,
                    message,
                }),
                None => {
                    self.models[f.to].now = self.now;
                    self.models[f.to].handle(&f.req, &f.body)
                }
            };
            let head = answer.as_ref().ok().map(|r| r.head.clone());
            self.statuses
                .push((id, head.as_ref().map(|h| h.status.as_u16())));
            answered.push((f.req, head));
            replies.push((id, answer));
        }
        self.deliver_replies(replies, self.pace.chunk, &Answering::default());
        answered
    }

    /// Delivers answers: every head, then the bodies' pieces interleaved, then the ends (or
    /// the transport errors) in order.
    fn deliver_replies(
        &mut self,
        replies: Vec<(RequestId, Result<Reply, TransportError>)>,
        chunk: usize,
        how: &Answering,
    ) {
        for (id, answer) in &replies {
            if let Ok(reply) = answer {
                self.deliver(*id, Input::Response(*id, reply.head.clone()), "the head");
            }
        }
        let chunk = chunk.max(1);
        let mut offset = 0;
        loop {
            let mut more = false;
            for (id, answer) in &replies {
                let Ok(reply) = answer else { continue };
                let end = reply.cut.unwrap_or(reply.body.len()).min(reply.body.len());
                if offset < end {
                    let piece = &reply.body[offset..end.min(offset + chunk)];
                    self.deliver(*id, Input::BodyChunk(*id, piece), "a body chunk");
                    more = true;
                }
            }
            if !more {
                break;
            }
            offset += chunk;
        }
        for (id, answer) in replies {
            match answer {
                Ok(Reply { cut: Some(n), .. }) => {
                    let error = TransportError {
                        kind: TransportErrorKind::Io,
                        message: format!("connection reset after {n} bytes"),
                    };
                    self.deliver(id, Input::TransportError(id, error), "a transport error");
                }
                Ok(_) if how.no_end => {}
                Ok(_) => self.deliver(id, Input::BodyEnd(id), "the end"),
                Err(e) => self.deliver(id, Input::TransportError(id, e), "a transport error"),
            }
        }
    }

    // ---- single steps, for scripts ------------------------------------------------------

    /// Where request `id` is among the flights, if it is in flight.
    pub fn position(&self, id: RequestId) -> Option<usize> {
        self.flights.iter().position(|f| f.req.id == id)
    }

    /// Flight number `pick` modulo the number in flight (oldest first), if any.
    pub fn pick(&self, pick: usize) -> Option<usize> {
        (!self.flights.is_empty()).then(|| pick % self.flights.len())
    }

    /// Answers flight `i` as its model would, changed as `how` says (after `tweak` had its
    /// way with the reply), one [`Pace::latency`] from now. A flight whose head was already
    /// delivered gets the body again. A response left open stays in flight.
    pub fn answer(&mut self, i: usize, how: &Answering, tweak: impl FnOnce(&Flight, &mut Reply)) {
        if self.finished() {
            return;
        }
        self.aborted.clear();
        let id = self.flights[i].req.id;
        let body = self.flights[i].body.clone();
        let half = self.pace.latency / 2;
        if !self.flights[i].head && !body.is_empty() && self.flights[i].complete {
            self.report_sent(id, &body);
        }
        self.now = self.now + half + half;
        let Some(i) = self.flights.iter().position(|f| f.req.id == id) else {
            return;
        };
        let f = &self.flights[i];
        self.models[f.to].now = self.now;
        let mut answer = self.models[f.to].handle(&f.req, &f.body);
        if let Ok(reply) = &mut answer {
            tweak(f, reply);
            if let Some(s) = how.status {
                reply.head.status = StatusCode::from_u16(s).unwrap_or(StatusCode::IM_A_TEAPOT);
            }
            apply_edits(&mut reply.head, &how.edits);
            if how.no_body {
                reply.body.clear();
            }
            if let Some(n) = how.cut {
                reply.cut = Some(n);
            }
        }
        let status = answer.as_ref().ok().map(|r| r.head.status.as_u16());
        self.statuses.push((id, status));
        let first = !self.flights[i].head;
        if !how.unchanged() || !first {
            self.clean = false;
        }
        let open = how.no_end && answer.as_ref().is_ok_and(|r| r.cut.is_none());
        if open {
            self.flights[i].head = true;
        } else {
            self.settle(i);
        }
        let chunk = how.chunk.unwrap_or(self.pace.chunk).clamp(1, 1 << 20);
        // Bound the number of calls for tiny chunks of large bodies.
        let chunk = match &answer {
            Ok(r) => chunk.max(r.body.len() / 512),
            Err(_) => chunk,
        };
        if !first {
            // The head went already: only the body (and the end) again.
            self.deliver_body_again(id, answer, chunk, how);
            return;
        }
        self.deliver_replies(vec![(id, answer)], chunk, how);
    }

    fn deliver_body_again(
        &mut self,
        id: RequestId,
        answer: Result<Reply, TransportError>,
        chunk: usize,
        how: &Answering,
    ) {
        let reply = match answer {
            Ok(r) => r,
            Err(e) => {
                self.deliver(id, Input::TransportError(id, e), "a transport error");
                return;
            }
        };
        let end = reply.cut.unwrap_or(reply.body.len()).min(reply.body.len());
        for piece in reply.body[..end].chunks(chunk) {
            self.deliver(id, Input::BodyChunk(id, piece), "a body chunk");
        }
        match reply.cut {
            Some(n) => {
                let error = TransportError {
                    kind: TransportErrorKind::Io,
                    message: format!("connection reset after {n} bytes"),
                };
                self.deliver(id, Input::TransportError(id, error), "a transport error");
            }
            None if how.no_end => {}
            None => self.deliver(id, Input::BodyEnd(id), "the end"),
        }
    }

    /// Fails flight `i` below HTTP.
    pub fn fail(&mut self, i: usize, error: TransportError) {
        let id = self.settle(i).req.id;
        self.aborted.clear();
        self.deliver(id, Input::TransportError(id, error), "a transport error");
    }

    /// Delivers a response head of the script's own to flight `i` (a runner's mistakes, such
    /// as a second head, may be refused); returns whether it was taken.
    pub fn head(&mut self, i: usize, head: ResponseHead) -> bool {
        self.clean = false;
        let id = self.flights[i].req.id;
        let taken = self.input(Input::Response(id, head)).is_ok();
        if taken {
            if let Some(f) = self.flights.iter_mut().find(|f| f.req.id == id) {
                f.head = true;
            }
        }
        taken
    }

    /// Delivers a body chunk of the script's own to flight `i`.
    pub fn chunk(&mut self, i: usize, bytes: &[u8]) {
        self.clean = false;
        let id = self.flights[i].req.id;
        let _ = self.input(Input::BodyChunk(id, bytes));
    }

    /// Reports bytes of flight `i`'s body sent.
    pub fn body_sent(&mut self, i: usize, bytes: &[u8]) {
        let id = self.flights[i].req.id;
        let _ = self.input(Input::BodySent(id, bytes));
    }

    /// Reports `n` bytes of flight `i`'s body sent as a count, whatever the body holds (a
    /// runner's mistake the core must survive).
    pub fn body_progress(&mut self, i: usize, n: u64) {
        let id = self.flights[i].req.id;
        let _ = self.input(Input::BodyProgress(id, n));
    }

    /// Ends flight `i`'s response. Ending one before its head is a runner's mistake the core
    /// refuses, keeping the request; a refusal after the head is a broken contract.
    pub fn end(&mut self, i: usize) {
        let id = self.flights[i].req.id;
        let head = self.flights[i].head;
        if self.input(Input::BodyEnd(id)).is_ok() {
            if let Some(i) = self.flights.iter().position(|f| f.req.id == id) {
                self.settle(i);
            }
        } else {
            assert!(
                !head,
                "contract: the end of a response whose head was delivered was refused"
            );
        }
    }

    /// Moves the clock by `d` and tells the operation; then no timer may be due.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.timeout();
        self.check_timers();
    }

    /// Passes a `now` `d` before the driver's clock (a stale clock), which stays.
    pub fn stale(&mut self, d: Duration) {
        let t = Instant::from_duration(self.now.since_origin().saturating_sub(d));
        let r = self.feed(t, Input::Timeout);
        self.drain();
        r.expect("contract: a stale timeout was refused");
    }

    /// Jumps the clock to the next timer, if any, and fires it.
    pub fn fire(&mut self) {
        if let Some(t) = self.timer {
            self.now = self.now.max(t);
            self.timeout();
            self.check_timers();
        }
    }

    /// Cancels the operation.
    pub fn cancel(&mut self) {
        self.timer = None;
        self.plug.op().cancel();
        self.drain();
    }

    /// Asks the operation to stop once what is in flight has answered.
    pub fn wind_down(&mut self) {
        self.timer = None;
        self.plug.op().wind_down();
        self.drain();
    }

    /// After the clock reached `now` and a timeout ran: no timer may be left due, or a
    /// runner would spin.
    pub fn check_timers(&self) {
        if let Some(t) = self.timer {
            assert!(
                t > self.now,
                "liveness: a timer due at {t:?} is still pending after a timeout at {:?}",
                self.now
            );
        }
    }

    /// Panics if the operation waits with nothing in flight and no timer, unfinished.
    pub fn check_live(&self) {
        if !self.finished() && !self.plug.may_idle() {
            assert!(
                !self.flights.is_empty() || self.timer.is_some(),
                "liveness: the operation waits with nothing in flight and no timer"
            );
        }
    }

    /// An input (`op` 0–4: head, chunk, end, sent, transport error) about a request id not
    /// in flight — one answered before (`id` even, when there are any) or one far beyond
    /// any issued: the operation must refuse it.
    pub fn stray(&mut self, id: u64, op: u8) {
        let id = match self.settled.len() {
            n if n > 0 && id.is_multiple_of(2) => self.settled[(id / 2 % n as u64) as usize],
            _ => RequestId(id | 1 << 48),
        };
        if self.flights.iter().any(|f| f.req.id == id) {
            return;
        }
        let input = match op % 5 {
            0 => Input::Response(id, ResponseHead::new(200)),
            1 => Input::BodyChunk(id, b"{}"),
            2 => Input::BodyEnd(id),
            3 => Input::BodySent(id, b"abc"),
            _ => Input::TransportError(
                id,
                TransportError {
                    kind: TransportErrorKind::Io,
                    message: "stray".into(),
                },
            ),
        };
        let result = self.input(input);
        assert!(
            result.is_err(),
            "contract: input about unknown request {id} accepted"
        );
    }

    /// One step of winding down: fails the newest request in flight for good, or fires the
    /// next timer. Returns whether there was anything to do.
    pub fn wind_down_step(&mut self) -> bool {
        if let Some(i) = self.flights.len().checked_sub(1) {
            let error = TransportError {
                kind: TransportErrorKind::Tls,
                message: "wind-down".into(),
            };
            let id = self.settle(i).req.id;
            let _ = self.input(Input::TransportError(id, error));
            true
        } else if let Some(t) = self.timer {
            self.now = self.now.max(t);
            self.timeout();
            true
        } else {
            false
        }
    }

    /// After the operation finished: inputs about requests it dropped are accepted and
    /// change nothing; no output and no timer come any more.
    pub fn check_after_finished(&mut self) {
        assert!(self.finished(), "check_after_finished before Finished");
        let ids: Vec<RequestId> = self.flights.iter().map(|f| f.req.id).collect();
        for id in ids {
            for input in [
                Input::Response(id, ResponseHead::new(200)),
                Input::BodyChunk(id, b"late"),
                Input::BodyEnd(id),
            ] {
                let r = self.feed(self.now, input);
                assert!(
                    r.is_ok(),
                    "contract: an input about a dropped request is a misuse"
                );
            }
        }
        let later = self.now + Duration::from_secs(3600);
        self.feed(later, Input::Timeout)
            .expect("contract: a timeout after Finished was refused");
        let cx = Cx {
            now: later,
            clean: self.clean,
        };
        if let Some(out) = self.plug.next(&cx) {
            panic!("contract: output after Finished: {out:?}");
        }
        assert!(
            self.plug.op_ref().poll_timeout().is_none(),
            "contract: a timer after Finished"
        );
    }
}

/// Applies header changes to a response head.
pub fn apply_edits(head: &mut ResponseHead, edits: &[HeaderEdit]) {
    for e in edits {
        match e {
            HeaderEdit::Set(name, value) => {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(value),
                ) {
                    head.headers.insert(n, v);
                }
            }
            HeaderEdit::Drop(name) => {
                if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                    head.headers.remove(n);
                }
            }
        }
    }
}
