//! What every operation against one registry shares: where it is (scheme, host), how to
//! authenticate, the requests in flight and their responses, retry timers and backoff.
//!
//! An operation (push, pull) keeps its own protocol steps; `S` is its step type, attached to
//! each request so the response can be routed back to it.

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::{Auth, Credentials};
use crate::endpoint::{Endpoint, Scheme};
use crate::error::Misuse;
use crate::http::{Body, HeaderMap, HeaderValue, Method, Request, RequestId, ResponseHead};
use crate::retry::{Backoff, RetryPolicy};
use crate::time::Instant;
use url::Url;

/// Response bodies kept for parsing or error messages; the rest is dropped.
pub(crate) const MAX_KEPT_BODY: usize = 4 * 1024 * 1024;

/// A request the operation is waiting on.
#[derive(Debug)]
pub(crate) struct InFlight<S> {
    pub step: S,
    pub head: Option<ResponseHead>,
    /// The start of the response body (up to [`MAX_KEPT_BODY`]), unless streamed.
    pub body: Vec<u8>,
    /// Request body bytes the runner reported sending.
    pub sent: u64,
    /// Request body length.
    pub body_len: u64,
    /// The URL, for redirects relative to it.
    pub url: Url,
}

/// The shared per-registry state of one operation.
#[derive(Debug)]
pub(crate) struct Session<S> {
    pub endpoint: Endpoint,
    pub auth: Auth,
    pub backoff: Backoff,
    pub now: Instant,
    /// Retries scheduled so far.
    pub retries: u32,
    user_agent: String,
    next_id: u64,
    in_flight: HashMap<RequestId, InFlight<S>>,
    timers: Vec<(Instant, S)>,
}

impl<S: Copy> Session<S> {
    pub(crate) fn new(
        host: &str,
        scheme: Scheme,
        credentials: Option<Credentials>,
        retry: RetryPolicy,
        user_agent: &str,
        now: Instant,
    ) -> Session<S> {
        Session {
            endpoint: Endpoint::new(host, scheme),
            auth: Auth::new(host, credentials),
            backoff: Backoff::new(retry),
            now,
            retries: 0,
            user_agent: user_agent.to_owned(),
            next_id: 0,
            in_flight: HashMap::new(),
            timers: Vec::new(),
        }
    }

    /// Moves time forward (never back).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// A new request for `step`, registered as in flight, with `User-Agent`,
    /// `Content-Length` (for methods with a body) and `Authorization` (for the registry host).
    pub(crate) fn request(
        &mut self,
        step: S,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Body,
    ) -> Request {
        if matches!(method, Method::PUT | Method::PATCH | Method::POST) {
            headers.insert("content-length", HeaderValue::from(body.len()));
        }
        if let Ok(ua) = HeaderValue::try_from(self.user_agent.as_str()) {
            headers.insert("user-agent", ua);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let mut req = Request {
            id,
            method,
            url,
            headers,
            body,
        };
        self.auth.apply(&mut req);
        self.in_flight.insert(
            id,
            InFlight {
                step,
                head: None,
                body: Vec::new(),
                sent: 0,
                body_len: req.body.len(),
                url: req.url.clone(),
            },
        );
        req
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Result<&mut InFlight<S>, Misuse> {
        self.in_flight
            .get_mut(&id)
            .ok_or(Misuse::UnknownRequest(id))
    }

    /// Records a response head.
    pub(crate) fn on_head(&mut self, id: RequestId, head: ResponseHead) -> Result<S, Misuse> {
        let req = self.get_mut(id)?;
        req.head = Some(head);
        Ok(req.step)
    }

    /// Keeps the start of a response body; returns the request's step.
    pub(crate) fn on_chunk(&mut self, id: RequestId, data: &[u8], keep: bool) -> Result<S, Misuse> {
        let req = self.get_mut(id)?;
        if req.head.is_none() {
            return Err(Misuse::BodyBeforeHead(id));
        }
        if keep {
            let room = MAX_KEPT_BODY.saturating_sub(req.body.len());
            req.body.extend_from_slice(&data[..data.len().min(room)]);
        }
        Ok(req.step)
    }

    /// The request is complete: hands back its record and its response head.
    pub(crate) fn complete(
        &mut self,
        id: RequestId,
    ) -> Result<(InFlight<S>, ResponseHead), Misuse> {
        let mut req = self
            .in_flight
            .remove(&id)
            .ok_or(Misuse::UnknownRequest(id))?;
        match req.head.take() {
            Some(head) => Ok((req, head)),
            None => Err(Misuse::BodyBeforeHead(id)),
        }
    }

    /// The request failed below HTTP: hands back its record.
    pub(crate) fn fail(&mut self, id: RequestId) -> Result<InFlight<S>, Misuse> {
        self.in_flight.remove(&id).ok_or(Misuse::UnknownRequest(id))
    }

    /// Runs `step` again after `delay`.
    pub(crate) fn schedule(&mut self, delay: Duration, step: S) {
        self.timers.push((self.now + delay, step));
    }

    /// The steps whose timers are due at `now`.
    pub(crate) fn due(&mut self) -> Vec<S> {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(t, _)| *t <= now);
        self.timers = later;
        due.into_iter().map(|(_, s)| s).collect()
    }

    /// When the next timer fires.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().map(|(t, _)| *t).min()
    }

    /// Forgets every request and timer (the operation finished).
    pub(crate) fn abandon_all(&mut self) {
        self.in_flight.clear();
        self.timers.clear();
    }
}
