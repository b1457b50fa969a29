//! The runner-and-registry half of the response-driven targets: it keeps the requests an
//! operation sent, answers them as a [`script`](crate::script) says — from a small registry
//! model (`auto`) or byte by byte — and moves the clock. It works on any
//! [`Operation`] (pull, fetch); each target drains its operation's own outputs.

use std::time::Duration;

use tug_core::http::{
    HeaderName, HeaderValue, Method, Request, RequestId, ResponseHead, StatusCode, TransportError,
    TransportErrorKind,
};
use tug_core::operation::Operation;
use tug_core::{Digest, Instant};

use crate::script::{Action, AuthMode, HeaderEdit, Redirect, Setup};

/// The token the model's token server hands out.
pub const TOKEN: &str = "fuzz-token";
/// Host of the model's token server.
pub const AUTH_HOST: &str = "auth.example";
/// Host of the model's blob storage (absolute redirects).
pub const STORAGE_HOST: &str = "storage.example";
/// Most steps of the wind-down after the actions ran out.
pub const FINISH_BOUND: usize = 10_000;
/// Most outputs one drain may produce before it counts as a busy loop.
pub const DRAIN_BOUND: usize = 200_000;

/// An operation as the responder drives it: the [`Operation`] inputs, and whether it is over
/// (after which it refuses every input, so the contract checks on answers stop).
pub trait Driven: Operation {
    fn done(&self) -> bool;
}

/// A request the runner has sent and not finished.
#[derive(Debug)]
pub struct Pending {
    pub req: Request,
    /// Whether its response head was delivered.
    pub head: bool,
}

/// An answer of the registry model.
pub struct Answer {
    pub head: ResponseHead,
    pub body: Vec<u8>,
}

fn errors_body(code: &str, message: &str) -> Vec<u8> {
    format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#)
        .into_bytes()
}

/// The registry (with its token server and blob storage) the script's setup describes.
pub struct Model {
    pub setup: Setup,
    pub blob_digests: Vec<Digest>,
}

impl Model {
    pub fn new(setup: Setup) -> Model {
        let blob_digests = setup.blobs.iter().map(|b| Digest::sha256_of(b)).collect();
        Model {
            setup,
            blob_digests,
        }
    }

    fn blob(&self, digest: &str) -> Option<&[u8]> {
        let i = self
            .blob_digests
            .iter()
            .position(|d| d.to_string() == digest)?;
        Some(&self.setup.blobs[i])
    }

    fn is_registry(&self, url: &url::Url) -> bool {
        let host = url.host_str().unwrap_or("");
        let with_port = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        with_port.eq_ignore_ascii_case(&self.setup.registry)
            || host.eq_ignore_ascii_case(&self.setup.registry)
    }

    fn authorized(&self, req: &Request) -> bool {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match self.setup.auth {
            AuthMode::None => true,
            AuthMode::Basic => auth.starts_with("Basic "),
            AuthMode::Bearer => auth == format!("Bearer {TOKEN}"),
        }
    }

    fn challenge(&self) -> ResponseHead {
        let value = match self.setup.auth {
            AuthMode::Bearer => format!(
                "Bearer realm=\"https://{AUTH_HOST}/token\",service=\"registry.example\",\
                 scope=\"repository:{}:pull\"",
                self.setup.repository
            ),
            _ => "Basic realm=\"fuzz\"".to_owned(),
        };
        ResponseHead::new(401).with_header("WWW-Authenticate", &value)
    }

    /// Serves a blob, honouring `Range: bytes=a-[b]` unless the setup says not to.
    fn serve_blob(&self, req: &Request, data: &[u8], digest: &str) -> Answer {
        let size = data.len() as u64;
        let range = req
            .headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("bytes="))
            .and_then(|v| {
                let (a, b) = v.split_once('-')?;
                let a: u64 = a.trim().parse().ok()?;
                let b: Option<u64> = b.trim().parse().ok();
                Some((a, b))
            });
        let ok = |status: u16, body: Vec<u8>| Answer {
            head: ResponseHead::new(status)
                .with_header("Docker-Content-Digest", digest)
                .with_header("Content-Type", "application/octet-stream")
                .with_header("Content-Length", &body.len().to_string()),
            body,
        };
        match range {
            Some((a, b)) if self.setup.ranges => {
                if a >= size {
                    return Answer {
                        head: ResponseHead::new(416)
                            .with_header("Content-Range", &format!("bytes */{size}")),
                        body: Vec::new(),
                    };
                }
                let last = b.unwrap_or(u64::MAX).min(size - 1);
                if last < a {
                    return ok(200, data.to_vec());
                }
                let mut answer = ok(206, data[a as usize..=last as usize].to_vec());
                answer.head = answer
                    .head
                    .with_header("Content-Range", &format!("bytes {a}-{last}/{size}"));
                answer
            }
            _ => ok(200, data.to_vec()),
        }
    }

    /// What the registry, its token server or its blob storage answers to `req`.
    pub fn answer(&self, req: &Request) -> Answer {
        let url = &req.url;
        let path = url.path();
        let not_found = |code: &str| Answer {
            head: ResponseHead::new(404).with_header("Content-Type", "application/json"),
            body: errors_body(code, "unknown to the model registry"),
        };
        let host = url.host_str().unwrap_or("");
        if host == AUTH_HOST {
            let body =
                format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}","expires_in":300}}"#);
            return Answer {
                head: ResponseHead::new(200).with_header("Content-Type", "application/json"),
                body: body.into_bytes(),
            };
        }
        if host == STORAGE_HOST {
            let digest = path.strip_prefix("/blobs/").unwrap_or("");
            return match self.blob(digest) {
                Some(data) => self.serve_blob(req, data, digest),
                None => not_found("BLOB_UNKNOWN"),
            };
        }
        if !self.is_registry(url) {
            return not_found("NAME_UNKNOWN");
        }
        if !self.authorized(req) {
            return Answer {
                head: self.challenge(),
                body: errors_body("UNAUTHORIZED", "authentication required"),
            };
        }
        if let Some(digest) = path.strip_prefix("/storage/") {
            return match self.blob(digest) {
                Some(data) => self.serve_blob(req, data, digest),
                None => not_found("BLOB_UNKNOWN"),
            };
        }
        if path == "/v2/" {
            return Answer {
                head: ResponseHead::new(200)
                    .with_header("Docker-Distribution-API-Version", "registry/2.0"),
                body: Vec::new(),
            };
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return not_found("NAME_UNKNOWN");
        };
        if let Some((_repo, reference)) = rest.rsplit_once("/manifests/") {
            let found = if reference.contains(':') {
                self.setup
                    .manifests
                    .iter()
                    .find(|m| m.digest.to_string() == reference)
            } else {
                self.setup.manifests.get(self.setup.tag)
            };
            let Some(m) = found else {
                return not_found("MANIFEST_UNKNOWN");
            };
            let mut head = ResponseHead::new(200)
                .with_header("Docker-Content-Digest", &m.digest.to_string())
                .with_header("Content-Length", &m.bytes.len().to_string());
            if let Some(t) = &m.media_type {
                head = head.with_header("Content-Type", t);
            }
            let body = if req.method == Method::HEAD {
                Vec::new()
            } else {
                m.bytes.clone()
            };
            return Answer { head, body };
        }
        if let Some((_repo, digest)) = rest.rsplit_once("/blobs/") {
            let Some(data) = self.blob(digest) else {
                return not_found("BLOB_UNKNOWN");
            };
            let location = match self.setup.redirect {
                Redirect::None => return self.serve_blob(req, data, digest),
                Redirect::Absolute => format!("https://{STORAGE_HOST}/blobs/{digest}"),
                Redirect::Relative => format!("/storage/{digest}"),
            };
            return Answer {
                head: ResponseHead::new(307).with_header("Location", &location),
                body: Vec::new(),
            };
        }
        not_found("NAME_UNKNOWN")
    }
}

/// Plays the runner and the registry for one operation.
pub struct Responder {
    pub model: Model,
    pub now: Instant,
    pub pending: Vec<Pending>,
    /// Whether every response so far came from the model unchanged (broken connections,
    /// timers and cancellation allowed): then the data an operation passes on must be the
    /// blobs' real bytes.
    pub clean: bool,
    /// Requests that were answered or failed (for `stray`).
    settled: Vec<RequestId>,
}

impl Responder {
    pub fn new(setup: Setup) -> Responder {
        Responder {
            model: Model::new(setup),
            now: Instant::ZERO,
            pending: Vec::new(),
            clean: true,
            settled: Vec::new(),
        }
    }

    /// Records a request the operation asked to send, checking what a runner relies on.
    pub fn sent(&mut self, req: Request) {
        assert!(
            self.pending.iter().all(|p| p.req.id != req.id),
            "contract: request id {} reused while in flight",
            req.id
        );
        assert!(
            matches!(req.url.scheme(), "http" | "https"),
            "contract: a request to a {:?} URL: {}",
            req.url.scheme(),
            req.url
        );
        if req.url.host_str() == Some(STORAGE_HOST) && !self.model.is_registry(&req.url) {
            assert!(
                !req.headers.contains_key("authorization"),
                "contract: Authorization sent to blob storage on another host: {}",
                req.url
            );
        }
        if crate::verbose() {
            eprintln!(
                "SEND {} {} {} {:?}",
                req.id,
                req.method,
                req.url,
                req.headers.get("range")
            );
        }
        self.pending.push(Pending { req, head: false });
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        (!self.pending.is_empty()).then(|| pick % self.pending.len())
    }

    /// Takes request `i` off the list of requests in flight.
    fn settle(&mut self, i: usize) -> RequestId {
        let id = self.pending.remove(i).req.id;
        if self.settled.len() < 64 {
            self.settled.push(id);
        }
        id
    }

    /// Fails every request in flight for good, one at a time, or fires the next timer:
    /// one step of the wind-down. Returns whether there was anything to do.
    pub fn wind_down_step<O: Driven>(&mut self, op: &mut O) -> bool {
        if let Some(p) = self.pending.pop() {
            let error = TransportError {
                kind: TransportErrorKind::Tls,
                message: "wind-down".into(),
            };
            let _ = op.handle_input(self.now, tug_core::Input::TransportError(p.req.id, error));
            true
        } else if let Some(t) = op.poll_timeout() {
            self.now = self.now.max(t);
            op.handle_input(self.now, tug_core::Input::Timeout).unwrap();
            true
        } else {
            false
        }
    }

    /// After the clock reached `self.now` and `handle_timeout` ran: no timer may be left
    /// due, or a runner would spin.
    pub fn check_timers<O: Operation>(&self, op: &O) {
        if let Some(t) = op.poll_timeout() {
            assert!(
                t > self.now,
                "liveness: a timer due at {t:?} is still pending after handle_timeout({:?})",
                self.now
            );
        }
    }

    fn apply_edits(head: &mut ResponseHead, edits: &[HeaderEdit]) {
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

    /// Runs one of the shared actions; returns `false` for actions it does not know
    /// (`open`, `close`: the fetch target's own).
    pub fn act<O: Driven>(&mut self, op: &mut O, action: &Action) -> bool {
        if op.done() {
            return !matches!(action, Action::Open { .. } | Action::Close(_));
        }
        match action {
            Action::Auto { pick, opts, edits } => {
                self.now = self.now + Duration::from_millis(3);
                let Some(i) = self.pick(*pick) else {
                    return true;
                };
                let now = self.now;
                let answer = self.model.answer(&self.pending[i].req);
                let mut head = answer.head;
                if let Some(s) = opts.status {
                    head.status = StatusCode::from_u16(s).unwrap_or(StatusCode::IM_A_TEAPOT);
                    self.clean = false;
                }
                if !edits.is_empty() {
                    Self::apply_edits(&mut head, edits);
                    self.clean = false;
                }
                if crate::verbose() {
                    eprintln!(
                        "AUTO {} {} ({} body bytes{})",
                        self.pending[i].req.id,
                        head.status.as_u16(),
                        answer.body.len(),
                        if opts.cut.is_some() { ", cut" } else { "" }
                    );
                }
                let mut body = answer.body;
                if opts.no_body && !body.is_empty() {
                    body.clear();
                    self.clean = false;
                }
                let id = self.pending[i].req.id;
                let first = !self.pending[i].head;
                if !first {
                    // The body again, after a head of its own or an earlier `auto noend`.
                    self.clean = false;
                }
                if first {
                    let r = op.handle_input(now, tug_core::Input::Response(id, head));
                    assert!(
                        r.is_ok(),
                        "contract: the head of a response to request {id} in flight was \
                         refused: {r:?}"
                    );
                    self.pending[i].head = true;
                }
                let cut = opts.cut.map(|c| c.min(body.len()));
                let step = opts.chunk.unwrap_or(4096).clamp(1, 1 << 20);
                // Bound the number of calls for tiny chunks of large bodies.
                let step = step.max(body.len() / 512);
                for piece in body[..cut.unwrap_or(body.len())].chunks(step) {
                    if op.done() {
                        return true;
                    }
                    let r = op.handle_input(now, tug_core::Input::BodyChunk(id, piece));
                    assert!(
                        r.is_ok(),
                        "contract: a body chunk of request {id} in flight was refused: {r:?}"
                    );
                }
                if op.done() {
                    return true;
                }
                if cut.is_some() {
                    self.settle(i);
                    let error = TransportError {
                        kind: TransportErrorKind::Io,
                        message: "connection reset".into(),
                    };
                    let r = op.handle_input(now, tug_core::Input::TransportError(id, error));
                    assert!(
                        r.is_ok(),
                        "contract: a transport error of request {id} in flight was refused: {r:?}"
                    );
                } else if !opts.no_end {
                    self.settle(i);
                    let r = op.handle_input(now, tug_core::Input::BodyEnd(id));
                    assert!(
                        r.is_ok(),
                        "contract: the end of request {id}'s response was refused: {r:?}"
                    );
                }
            }
            Action::Head {
                pick,
                status,
                edits,
            } => {
                self.clean = false;
                let Some(i) = self.pick(*pick) else {
                    return true;
                };
                let mut head = ResponseHead::new(200);
                head.status = StatusCode::from_u16(*status).unwrap_or(StatusCode::IM_A_TEAPOT);
                Self::apply_edits(&mut head, edits);
                let id = self.pending[i].req.id;
                if op
                    .handle_input(self.now, tug_core::Input::Response(id, head))
                    .is_ok()
                {
                    self.pending[i].head = true;
                }
            }
            Action::Body { pick, bytes } => {
                self.clean = false;
                if let Some(i) = self.pick(*pick) {
                    let _ = op.handle_input(
                        self.now,
                        tug_core::Input::BodyChunk(self.pending[i].req.id, bytes),
                    );
                }
            }
            Action::Data {
                pick,
                blob,
                from,
                to,
            } => {
                self.clean = false;
                let blobs = &self.model.setup.blobs;
                if let (Some(i), false) = (self.pick(*pick), blobs.is_empty()) {
                    let d = &blobs[blob % blobs.len()];
                    let a = usize::try_from(*from).unwrap_or(usize::MAX).min(d.len());
                    let b = usize::try_from(*to)
                        .unwrap_or(usize::MAX)
                        .min(d.len())
                        .max(a);
                    let _ = op.handle_input(
                        self.now,
                        tug_core::Input::BodyChunk(self.pending[i].req.id, &d[a..b]),
                    );
                }
            }
            Action::End { pick } => {
                if let Some(i) = self.pick(*pick) {
                    let id = self.pending[i].req.id;
                    // Ending a response before its head is a runner's mistake the core
                    // refuses, keeping the request.
                    if op
                        .handle_input(self.now, tug_core::Input::BodyEnd(id))
                        .is_ok()
                    {
                        self.settle(i);
                    } else {
                        assert!(
                            !self.pending[i].head,
                            "contract: the end of a response whose head was delivered was refused"
                        );
                    }
                }
            }
            Action::Fail {
                pick,
                kind,
                message,
            } => {
                self.now = self.now + Duration::from_millis(1);
                if let Some(i) = self.pick(*pick) {
                    let id = self.settle(i);
                    let error = TransportError {
                        kind: *kind,
                        message: message.clone(),
                    };
                    let r = op.handle_input(self.now, tug_core::Input::TransportError(id, error));
                    assert!(
                        r.is_ok(),
                        "contract: a transport error of request {id} in flight was refused: {r:?}"
                    );
                }
            }
            Action::Time(ms) => {
                self.now = self.now + Duration::from_millis(*ms);
                op.handle_input(self.now, tug_core::Input::Timeout).unwrap();
                self.check_timers(op);
            }
            Action::Stale(ms) => {
                let t = Instant::from_duration(
                    self.now
                        .since_origin()
                        .saturating_sub(Duration::from_millis(*ms)),
                );
                op.handle_input(t, tug_core::Input::Timeout).unwrap();
            }
            Action::Fire => {
                if let Some(t) = op.poll_timeout() {
                    self.now = self.now.max(t);
                    op.handle_input(self.now, tug_core::Input::Timeout).unwrap();
                    self.check_timers(op);
                }
            }
            Action::Cancel => op.cancel(),
            Action::Stray { id, op: which } => {
                // Only ids the operation cannot have in flight: settled ones, or ids far beyond
                // any it issued (a request held for a token is in flight before it is sent).
                let id = match self.settled.len() {
                    n if n > 0 && id % 2 == 0 => self.settled[(*id / 2 % n as u64) as usize],
                    _ => RequestId(*id | 1 << 48),
                };
                let now = self.now;
                let result = match which % 5 {
                    0 => {
                        op.handle_input(now, tug_core::Input::Response(id, ResponseHead::new(200)))
                    }
                    1 => op.handle_input(now, tug_core::Input::BodyChunk(id, b"{}")),
                    2 => op.handle_input(now, tug_core::Input::BodyEnd(id)),
                    3 => op.handle_input(now, tug_core::Input::BodySent(id, b"abc")),
                    _ => op.handle_input(
                        now,
                        tug_core::Input::TransportError(
                            id,
                            TransportError {
                                kind: TransportErrorKind::Io,
                                message: "stray".into(),
                            },
                        ),
                    ),
                };
                assert!(
                    result.is_err(),
                    "contract: input about unknown request {id} accepted"
                );
            }
            Action::Open { .. } | Action::Close(_) => return false,
        }
        true
    }
}
