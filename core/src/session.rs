//! What every operation against one registry shares: where it is (scheme, host), how to
//! authenticate, the requests in flight and their responses, retry timers and backoff.
//!
//! An operation (push, pull) keeps its own protocol steps; `S` is its step type, attached to
//! each request so the response can be routed back to it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use crate::auth::{Auth, AuthOutcome};
use crate::config::{Reached, RegistryConfig};
use crate::endpoint::{Endpoint, Scheme};
use crate::error::{Error, Misuse};
use crate::http::{
    Body, HeaderMap, HeaderValue, Method, Request, RequestId, ResponseHead, TransportError,
    TransportErrorKind,
};
use crate::limits::{request_deadlines, BodyProgress};
use crate::request_watch::Watch;
use crate::retry::Backoff;
use crate::time::Instant;
use url::Url;

/// The most bytes of a response body the core reads into memory (a manifest, an error, a
/// token answer): the OCI distribution spec's manifest limit. A longer body fails its
/// request (a registry streaming an endless body must not grow memory without end).
pub const MAX_BODY_IN_MEMORY: usize = 4 * 1024 * 1024;

/// A request the operation is waiting on.
#[derive(Debug)]
pub(crate) struct InFlight<S> {
    pub step: S,
    pub head: Option<ResponseHead>,
    /// The response body (up to [`MAX_BODY_IN_MEMORY`]), unless streamed.
    pub body: Vec<u8>,
    /// Request body bytes the runner reported sending.
    pub sent: u64,
    /// Request body length.
    pub body_len: u64,
    /// The URL, for redirects relative to it.
    pub url: Url,
    /// Which bearer token it carried, if one.
    pub carried_token: Option<u64>,
    /// Whether the operation streams its response body rather than reading it into memory.
    streamed: bool,
    /// Limits on its response body while the core reads it into memory.
    limit: BodyLimit,
    /// Its stall and head deadlines.
    watch: Watch,
}

/// The size cap and total deadline of a response body the core reads into memory.
#[derive(Debug, Default)]
struct BodyLimit {
    /// When the whole body must have arrived; `None` until the head arrives, and for
    /// bodies the operation streams (blob downloads, which the runner's stall timeout
    /// bounds) or when deadlines are off.
    deadline: Option<Instant>,
    /// Why the request failed on its body, for the operation to act on.
    fault: Option<TransportError>,
}

impl BodyLimit {
    fn on_head(&mut self, head: &ResponseHead, now: Instant, deadline: Duration) {
        if !deadline.is_zero() {
            self.deadline = Some(now + deadline);
        }
        let declared = head
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_IN_MEMORY as u64) {
            // Only a fault if the body is read into memory: see `keep`.
            self.fault = Some(too_large());
        }
    }

    /// Takes `data` into `body` if it fits; otherwise records the fault.
    fn keep(&mut self, body: &mut Vec<u8>, data: &[u8]) {
        if self.fault.is_some() || body.len() + data.len() > MAX_BODY_IN_MEMORY {
            self.fault.get_or_insert_with(too_large);
            return;
        }
        body.extend_from_slice(data);
    }

    /// The body is streamed, not kept: no cap, no deadline here.
    fn stream(&mut self) {
        self.deadline = None;
        self.fault = None;
    }
}

fn too_large() -> TransportError {
    TransportError {
        kind: TransportErrorKind::TooLarge,
        message: format!(
            "the response body is larger than {} MiB, the most tug reads into memory (the OCI limit for manifests)",
            MAX_BODY_IN_MEMORY >> 20
        ),
    }
}

fn too_slow(deadline: Duration) -> TransportError {
    TransportError {
        kind: TransportErrorKind::Timeout,
        message: format!(
            "the response body did not arrive whole within {} s",
            deadline.as_secs_f64()
        ),
    }
}

/// How a request ended, as far as the operation is concerned.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once
pub(crate) enum Completed<S> {
    /// One of the operation's requests.
    Op(InFlight<S>, ResponseHead),
    /// The session's token request: the steps to send again now that the token is in, or
    /// why authentication failed.
    Token(Result<Vec<S>, Error>),
}

/// A request that failed below HTTP.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once
pub(crate) enum Failed<S> {
    /// One of the operation's requests: the operation decides.
    Request(InFlight<S>),
    /// The token request, to be tried again: steps to send now (none: they wait).
    Token(Vec<S>),
    /// The token request, for good: the operation ends with this.
    Final(Error),
}

/// A token request in flight.
#[derive(Debug)]
struct TokenFetch {
    id: RequestId,
    head: Option<ResponseHead>,
    body: Vec<u8>,
    limit: BodyLimit,
    watch: Watch,
}

/// The shared per-registry state of one operation.
#[derive(Debug)]
pub(crate) struct Session<S> {
    /// The registry is known to answer ([`RegistryConfig::reached`]): no version check.
    reached: bool,
    pub endpoint: Endpoint,
    pub auth: Auth,
    pub backoff: Backoff,
    pub now: Instant,
    /// Retries scheduled so far.
    pub retries: u32,
    user_agent: String,
    /// How long a response body read into memory may take after its head (and how long a
    /// request may move no byte).
    body_deadline: Duration,
    /// Whether the runtime sees request bodies leave.
    body_progress: BodyProgress,
    next_id: u64,
    in_flight: HashMap<RequestId, InFlight<S>>,
    timers: Vec<(Instant, S)>,
    /// Requests ready to go out (token requests, and requests held for a token).
    outbox: VecDeque<Request>,
    /// Requests held until a token arrives.
    held: Vec<Request>,
    /// Steps whose request got a `401` and wait for a token to be sent again.
    parked: Vec<S>,
    token_fetch: Option<TokenFetch>,
    /// Token fetches that failed in a row for a reason that may pass (a `5xx`, a broken
    /// connection): retried with backoff, as any request is.
    token_attempts: u32,
    /// Steps the operation wants sent, in order (the engine builds and sends them).
    issued: VecDeque<S>,
    /// Requests the core gave up on before the runner reported their end: inputs about
    /// them are accepted and ignored.
    abandoned: HashSet<RequestId>,
}

impl<S: Copy> Session<S> {
    pub(crate) fn new(host: &str, config: &RegistryConfig, now: Instant) -> Session<S> {
        // What an earlier check learned, if it was of this host and over a scheme this
        // config allows (never plain HTTP where it asks for HTTPS).
        let allowed = |scheme: Scheme| match config.scheme {
            Scheme::HttpsThenHttp => scheme != Scheme::HttpsThenHttp,
            only => scheme == only,
        };
        let reached = config
            .reached
            .as_ref()
            .filter(|r| r.host == host && allowed(r.scheme));
        let mut auth = Auth::new(host, config.credentials.clone());
        if reached.is_some_and(|r| r.basic) {
            auth.assume_basic();
        }
        Session {
            reached: reached.is_some(),
            body_deadline: config.stall_timeout,
            body_progress: config.body_progress,
            endpoint: Endpoint::new(host, reached.map_or(config.scheme, |r| r.scheme)),
            auth,
            backoff: Backoff::new(config.retry.clone()),
            now,
            retries: 0,
            user_agent: config.user_agent.clone(),
            next_id: 0,
            in_flight: HashMap::new(),
            timers: Vec::new(),
            outbox: VecDeque::new(),
            held: Vec::new(),
            parked: Vec::new(),
            token_fetch: None,
            token_attempts: 0,
            issued: VecDeque::new(),
            abandoned: HashSet::new(),
        }
    }

    /// Whether the registry is known to answer (from [`RegistryConfig::reached`]): no
    /// version check is needed.
    /// `url` as it may be shown (a `-v` log, a progress event): without user info, query or
    /// fragment, and with none of this session's secrets, which a registry may echo into a
    /// URL it gives (an upload `Location`).
    pub(crate) fn shown(&self, url: &Url) -> String {
        self.auth.secrets().redact(&crate::redact::url_shown(url))
    }

    /// `url` as a host may keep it to resume an upload (`uploads.json`, an embedding's
    /// storage): without user info (never sent anyway), and with none of this session's
    /// secrets. A registry that echoes a credential into its upload URL loses the resume
    /// of that session (the URL kept no longer works), never the secret.
    pub(crate) fn kept(&self, url: &Url) -> String {
        let mut url = url.clone();
        crate::redact::strip_user_info(&mut url);
        self.auth.secrets().redact(url.as_str())
    }

    pub(crate) fn knows_registry(&self) -> bool {
        self.reached
    }

    /// What this session's version check (or the one before it) established.
    pub(crate) fn reached(&self) -> Reached {
        Reached {
            host: self.endpoint.host().to_owned(),
            scheme: if self.endpoint.is_plain() {
                Scheme::Http
            } else {
                Scheme::Https
            },
            basic: self.auth.uses_basic(),
        }
    }

    /// Whether the core gave up on request `id`; an input that ends it (its body end or a
    /// transport error) forgets it.
    pub(crate) fn abandoned(&mut self, id: RequestId, ends: bool) -> bool {
        if ends {
            self.abandoned.remove(&id)
        } else {
            self.abandoned.contains(&id)
        }
    }

    /// The core gives up on request `id` (already failed with [`Session::fail`]): the
    /// runner's further inputs about it are ignored.
    pub(crate) fn abandon(&mut self, id: RequestId) {
        self.abandoned.insert(id);
    }

    /// Numbers this session's requests from `base` on (operations that run side by side, as
    /// in a copy, keep their request ids apart).
    pub(crate) fn ids_from(mut self, base: u64) -> Self {
        self.next_id = base;
        self
    }

    /// Asks tokens for `actions` (`pull`, `pull,push`) on `repository` too (none for an
    /// empty one).
    pub(crate) fn scoped(mut self, repository: &str, actions: &str) -> Self {
        if !repository.is_empty() {
            self.auth
                .add_scope(format!("repository:{repository}:{actions}"));
        }
        self
    }

    /// Adds `actions` on `repository` to the token requests as a scope the operation can do
    /// without: a token server refusing a request with it is asked again without it.
    pub(crate) fn scoped_optionally(mut self, repository: &str, actions: &str) -> Self {
        if !repository.is_empty() {
            self.auth
                .add_optional_scope(format!("repository:{repository}:{actions}"));
        }
        self
    }

    /// Queues `step` to be sent.
    pub(crate) fn issue(&mut self, step: S) {
        self.issued.push_back(step);
    }

    /// The next step queued to be sent.
    pub(crate) fn take_issued(&mut self) -> Option<S> {
        self.issued.pop_front()
    }

    /// Whether attempt number `attempt` may be made, and after how long (`hint`: the
    /// registry's `Retry-After`): `None` when attempts or the time budget are exhausted.
    /// A planned retry is counted.
    pub(crate) fn plan_retry(&mut self, attempt: u32, hint: Option<Duration>) -> Option<Duration> {
        if attempt > self.backoff.policy().max_attempts {
            return None;
        }
        let delay = self.backoff.delay(attempt, hint);
        if !self.backoff.within_budget(self.now, delay) {
            return None;
        }
        self.retries += 1;
        Some(delay)
    }

    /// Request `id`'s response body goes to the operation as it arrives, not into memory.
    pub(crate) fn stream(&mut self, id: RequestId) {
        if let Some(r) = self.in_flight.get_mut(&id) {
            r.streamed = true;
        }
    }

    /// Whether request `id`'s body is streamed (false for the token request).
    pub(crate) fn is_streamed(&self, id: RequestId) -> Result<bool, Misuse> {
        if self.is_token_request(id) {
            return Ok(false);
        }
        self.in_flight
            .get(&id)
            .map(|r| r.streamed)
            .ok_or(Misuse::UnknownRequest(id))
    }

    /// The next request to send that the session itself released (a token request, or one
    /// held until the token arrived).
    pub(crate) fn next_outgoing(&mut self) -> Option<Request> {
        self.outbox.pop_front()
    }

    /// After a failed version check: whether to try again over plain HTTP (allowed for
    /// loopback registries that answered the TLS handshake in plain HTTP). Returns the host,
    /// for the event that says so.
    pub(crate) fn plain_http_fallback(
        &mut self,
        version_check: bool,
        error: &crate::http::TransportError,
    ) -> Option<String> {
        let fall_back = version_check
            && error.kind == crate::http::TransportErrorKind::NotTls
            && self.endpoint.fall_back_to_http();
        fall_back.then(|| self.endpoint.host().to_owned())
    }

    /// An input about request `id` came now (`head`: its response head): its stall
    /// deadline counts from here.
    pub(crate) fn moved(&mut self, id: RequestId, head: bool) {
        let now = self.now;
        let watch = match &mut self.token_fetch {
            Some(t) if t.id == id => Some(&mut t.watch),
            _ => self.in_flight.get_mut(&id).map(|r| &mut r.watch),
        };
        if let Some(watch) = watch {
            watch.moved(now, head);
        }
    }

    /// Moves time forward (never back).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// A new request for `step`, registered as in flight, with `User-Agent`,
    /// `Content-Length` (for methods with a body of known length) and `Authorization` (for
    /// the registry host). `None` when it must wait for a token: it comes out of
    /// [`Session::next_outgoing`] then.
    pub(crate) fn request(
        &mut self,
        step: S,
        method: Method,
        mut url: Url,
        mut headers: HeaderMap,
        body: Body,
    ) -> Option<Request> {
        // A registry's `Location` may carry user info: an HTTP client would send it as
        // credentials to whatever host the URL names.
        crate::redact::strip_user_info(&mut url);
        if matches!(method, Method::PUT | Method::PATCH | Method::POST) {
            // A body made while it is sent has none: the runner sends it chunked.
            if let Some(len) = body.known_len() {
                headers.insert("content-length", HeaderValue::from(len));
            }
        }
        if let Ok(ua) = HeaderValue::try_from(self.user_agent.as_str()) {
            headers.insert("user-agent", ua);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let deadlines = request_deadlines(self.body_deadline, body.len(), self.body_progress);
        let req = Request {
            id,
            method,
            shown: self.shown(&url),
            to_registry: self.is_registry(&url),
            url,
            headers,
            body,
            deadlines,
        };
        self.in_flight.insert(
            id,
            InFlight {
                step,
                head: None,
                body: Vec::new(),
                sent: 0,
                body_len: req.body.len(),
                url: req.url.clone(),
                carried_token: None,
                streamed: false,
                limit: BodyLimit::default(),
                // Started when the runner gets it (held for a token, it is not out yet).
                watch: Watch::idle(),
            },
        );
        if self.auth.needs_token(self.now) {
            self.held.push(req);
            self.start_token_fetch();
            return None;
        }
        Some(self.authorize(req))
    }

    fn authorize(&mut self, mut req: Request) -> Request {
        let carried = match self.endpoint.ping() {
            Ok(base) => self.auth.apply(&mut req, &base),
            Err(_) => None,
        };
        if let Some(f) = self.in_flight.get_mut(&req.id) {
            f.carried_token = carried;
            f.watch = Watch::start(req.deadlines, self.now);
        }
        req
    }

    /// Reacts to a `401` for `step`, whose request went to `url` carrying bearer token
    /// `carried`: `Some(step)` to send it again now (Basic credentials are in place, or the
    /// request carried a token replaced since), `None` when it waits for a token.
    pub(crate) fn on_unauthorized(
        &mut self,
        step: S,
        url: &Url,
        head: &ResponseHead,
        carried: Option<u64>,
    ) -> Result<Option<S>, Error> {
        let base = self.endpoint.ping().map_err(|e| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", self.endpoint.host()),
        })?;
        // (Only the registry's own origin ever gets a token: another's `401` is final.)
        if self.auth.is_stale(carried) && crate::auth::same_origin(url, &base) {
            return Ok(Some(step));
        }
        match self.auth.on_unauthorized(head, &base, url)? {
            AuthOutcome::Retry => Ok(Some(step)),
            AuthOutcome::FetchToken => {
                self.parked.push(step);
                self.start_token_fetch();
                Ok(None)
            }
        }
    }

    fn start_token_fetch(&mut self) {
        if self.token_fetch.is_some() {
            return;
        }
        let Some(token_request) = self.auth.token_request_parts() else {
            return;
        };
        let mut headers = HeaderMap::new();
        if let Some(b) = token_request.authorization {
            headers.insert(http::header::AUTHORIZATION, b);
        }
        let (method, body) = match token_request.form {
            Some(form) => {
                headers.insert(
                    "content-type",
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                headers.insert("content-length", HeaderValue::from(form.len()));
                (Method::POST, Body::Bytes(form))
            }
            None => (Method::GET, Body::Empty),
        };
        if let Ok(ua) = HeaderValue::try_from(self.user_agent.as_str()) {
            headers.insert("user-agent", ua);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let deadlines = request_deadlines(self.body_deadline, body.len(), self.body_progress);
        self.token_fetch = Some(TokenFetch {
            id,
            head: None,
            body: Vec::new(),
            limit: BodyLimit::default(),
            watch: Watch::start(deadlines, self.now),
        });
        self.outbox.push_back(Request {
            id,
            method,
            shown: self.shown(&token_request.url),
            to_registry: self.is_registry(&token_request.url),
            url: token_request.url,
            headers,
            body,
            deadlines,
        });
    }

    /// Whether `url` is on the registry's own origin ([`Request::to_registry`]).
    fn is_registry(&self, url: &Url) -> bool {
        let base = self.endpoint.ping();
        base.is_ok_and(|base| crate::auth::same_origin(url, &base))
    }

    fn is_token_request(&self, id: RequestId) -> bool {
        self.token_fetch.as_ref().is_some_and(|t| t.id == id)
    }

    /// The token arrived (or not): release held requests, hand back parked steps.
    fn finish_token_fetch(&mut self, result: Result<(), Error>) -> Result<Vec<S>, Error> {
        self.token_fetch = None;
        result?;
        for req in std::mem::take(&mut self.held) {
            let req = self.authorize(req);
            self.outbox.push_back(req);
        }
        Ok(std::mem::take(&mut self.parked))
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Result<&mut InFlight<S>, Misuse> {
        self.in_flight
            .get_mut(&id)
            .ok_or(Misuse::UnknownRequest(id))
    }

    /// Records a response head; `None` for the session's own token request.
    pub(crate) fn on_head(
        &mut self,
        id: RequestId,
        head: ResponseHead,
    ) -> Result<Option<S>, Misuse> {
        let (now, deadline) = (self.now, self.body_deadline);
        if let Some(t) = self.token_fetch.as_mut().filter(|t| t.id == id) {
            t.limit.on_head(&head, now, deadline);
            t.head = Some(head);
            return Ok(None);
        }
        let status = head.status.as_u16();
        let req = self.get_mut(id)?;
        req.limit.on_head(&head, now, deadline);
        let worked = req.carried_token.is_some() && status != 401;
        req.head = Some(head);
        let step = req.step;
        if worked {
            self.auth.token_worked();
        }
        Ok(Some(step))
    }

    /// The step of an operation's request; `None` for the session's token request.
    pub(crate) fn step_of(&self, id: RequestId) -> Result<Option<S>, Misuse> {
        if self.is_token_request(id) {
            return Ok(None);
        }
        self.in_flight
            .get(&id)
            .map(|r| Some(r.step))
            .ok_or(Misuse::UnknownRequest(id))
    }

    /// Keeps a response body read into memory (`keep`), or notes that the operation streams
    /// it; returns the request's step (`None` for the session's token request). A kept body
    /// over [`MAX_BODY_IN_MEMORY`] is not kept: [`Session::body_fault`] then says why the
    /// request must fail.
    pub(crate) fn on_chunk(
        &mut self,
        id: RequestId,
        data: &[u8],
        keep: bool,
    ) -> Result<Option<S>, Misuse> {
        if let Some(t) = self.token_fetch.as_mut().filter(|t| t.id == id) {
            t.limit.keep(&mut t.body, data);
            return Ok(None);
        }
        let req = self.get_mut(id)?;
        if req.head.is_none() {
            return Err(Misuse::BodyBeforeHead(id));
        }
        if keep {
            req.limit.keep(&mut req.body, data);
        } else {
            req.limit.stream();
        }
        Ok(Some(req.step))
    }

    /// Why request `id` must fail on its body (too large to read into memory), once.
    /// The operation hands it to its transport-error path; the runner, told the request is
    /// unknown from then on, stops reading it.
    pub(crate) fn body_fault(&mut self, id: RequestId) -> Option<TransportError> {
        if let Some(t) = self.token_fetch.as_mut().filter(|t| t.id == id) {
            return t.limit.fault.take();
        }
        self.in_flight.get_mut(&id)?.limit.fault.take()
    }

    /// Requests whose body read into memory missed its deadline, with the error to fail
    /// each with (a timeout: retried like any other).
    pub(crate) fn overdue(&mut self) -> Vec<(RequestId, TransportError)> {
        let now = self.now;
        let late = |l: &BodyLimit| l.deadline.is_some_and(|d| d <= now);
        let fault = |limit: &BodyLimit, watch: &Watch| {
            let slow_body = late(limit).then(|| too_slow(self.body_deadline));
            slow_body.or_else(|| watch.expired(now))
        };
        let mut out: Vec<(RequestId, TransportError)> = self
            .in_flight
            .iter()
            .filter_map(|(id, r)| Some((*id, fault(&r.limit, &r.watch)?)))
            .collect();
        if let Some(t) = &self.token_fetch {
            out.extend(fault(&t.limit, &t.watch).map(|e| (t.id, e)));
        }
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// The request is complete.
    pub(crate) fn complete(&mut self, id: RequestId) -> Result<Completed<S>, Misuse> {
        if self.is_token_request(id) {
            if self.token_fetch.as_ref().is_some_and(|t| t.head.is_none()) {
                return Err(Misuse::BodyBeforeHead(id));
            }
            let t = self.token_fetch.take().ok_or(Misuse::UnknownRequest(id))?;
            let head = t.head.ok_or(Misuse::BodyBeforeHead(id))?;
            if head.status.as_u16() == 404 && self.auth.oauth_not_found() {
                // No OAuth2 at this token server: ask again with GET.
                self.start_token_fetch();
                return Ok(Completed::Token(Ok(Vec::new())));
            }
            let status = head.status.as_u16();
            if status != 200 && self.auth.drop_optional_scopes() {
                // Not a token with the scopes it could do without (pull on a repository to
                // mount from, which the account may not read, or which is gone): ask once
                // for what it needs before anything else is made of the answer.
                self.start_token_fetch();
                return Ok(Completed::Token(Ok(Vec::new())));
            }
            if crate::retry::is_retryable_status(status) {
                // The token server is overloaded or down for a moment: not a refusal.
                let error = Error::Registry {
                    action: self.auth.token_action(),
                    status,
                    errors: crate::registry_error::RegistryErrors::parse(&t.body),
                    by: Some("the token server".to_owned()),
                };
                let hint = crate::retry::retry_after(&head);
                return Ok(Completed::Token(self.token_failed(error, true, hint)));
            }
            let now = self.now;
            let result = self.auth.on_token_response(status, &t.body, now);
            if result.is_ok() {
                self.token_attempts = 0;
            }
            return Ok(Completed::Token(self.finish_token_fetch(result)));
        }
        // A body end before the head is the runner's mistake: keep the request, so the
        // operation still waits for it.
        match self.in_flight.get(&id) {
            None => return Err(Misuse::UnknownRequest(id)),
            Some(r) if r.head.is_none() => return Err(Misuse::BodyBeforeHead(id)),
            Some(_) => {}
        }
        let mut req = self
            .in_flight
            .remove(&id)
            .ok_or(Misuse::UnknownRequest(id))?;
        match req.head.take() {
            Some(head) => Ok(Completed::Op(req, head)),
            None => Err(Misuse::BodyBeforeHead(id)),
        }
    }

    /// The request failed below HTTP: its record; for the token request, nothing more to do
    /// (it is tried again later) or the error that ends the operation.
    pub(crate) fn fail(
        &mut self,
        id: RequestId,
        error: &crate::http::TransportError,
    ) -> Result<Failed<S>, Misuse> {
        if self.is_token_request(id) {
            let retryable = crate::retry::is_retryable_transport(error);
            let failed = Error::Transport {
                action: self.auth.token_action(),
                error: error.clone(),
            };
            return Ok(match self.token_failed(failed, retryable, None) {
                Ok(steps) => Failed::Token(steps),
                Err(e) => Failed::Final(e),
            });
        }
        self.in_flight
            .remove(&id)
            .map(Failed::Request)
            .ok_or(Misuse::UnknownRequest(id))
    }

    /// The token fetch failed with `error`. When it may pass (`retryable`) and attempts and
    /// time are left, every request waiting for the token is sent again after a backoff
    /// delay (`hint`: the token server's `Retry-After`), each fetching a token as it goes;
    /// otherwise the error ends the operation.
    fn token_failed(
        &mut self,
        error: Error,
        retryable: bool,
        hint: Option<Duration>,
    ) -> Result<Vec<S>, Error> {
        self.token_fetch = None;
        self.token_attempts += 1;
        let delay = match retryable {
            true => self.plan_retry(self.token_attempts + 1, hint),
            false => None,
        };
        let Some(delay) = delay else {
            return self.finish_token_fetch(Err(error));
        };
        for req in std::mem::take(&mut self.held) {
            if let Some(waiting) = self.in_flight.remove(&req.id) {
                self.schedule(delay, waiting.step);
            }
        }
        for step in std::mem::take(&mut self.parked) {
            self.schedule(delay, step);
        }
        Ok(Vec::new())
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

    /// When the next timer or body deadline fires.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self
            .in_flight
            .values()
            .flat_map(|r| [r.limit.deadline, r.watch.due()])
            .chain(
                self.token_fetch
                    .iter()
                    .flat_map(|t| [t.limit.deadline, t.watch.due()]),
            )
            .flatten();
        self.timers.iter().map(|(t, _)| *t).chain(deadlines).min()
    }

    /// Winding down: what has not gone out (held for a token, released after one, parked
    /// for a token, scheduled, issued) never will. Whether a request that went out is still
    /// unanswered.
    pub(crate) fn stop_sending(&mut self) -> bool {
        for req in self.held.drain(..).chain(self.outbox.drain(..)) {
            if self.token_fetch.as_ref().is_some_and(|t| t.id == req.id) {
                self.token_fetch = None;
            }
            self.in_flight.remove(&req.id);
        }
        self.parked.clear();
        self.timers.clear();
        self.issued.clear();
        !self.in_flight.is_empty()
    }

    /// Forgets every request and timer (the operation finished).
    pub(crate) fn abandon_all(&mut self) {
        self.abandoned.extend(self.in_flight.keys().copied());
        self.abandoned
            .extend(self.token_fetch.as_ref().map(|t| t.id));
        self.in_flight.clear();
        self.timers.clear();
        self.held.clear();
        self.parked.clear();
        self.outbox.clear();
        self.token_fetch = None;
        self.issued.clear();
    }
}
