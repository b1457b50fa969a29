//! A fault-injecting HTTP/1.1 proxy between a client under test and a plain-HTTP registry.
//!
//! [`FaultProxy`] listens on `127.0.0.1:<ephemeral>` and forwards every request to its target
//! (keep-alive towards the client, one fresh connection per request towards the registry),
//! passing `Content-Length` and chunked bodies through byte for byte in both directions. The
//! client's `Host` header goes to the registry unchanged, so distribution builds its
//! `Location` URLs with the proxy's address; absolute `Location`s naming the registry's own
//! host:port are rewritten to the proxy's as well. Nothing else is changed unless a [`Rule`]
//! says so.
//!
//! Rules pick requests by method and a substring of the target (path and query) and apply a [`Fault`] to the `nth`
//! matching request (and `times` matches from there, or all of them): drop a connection after
//! N request or response body bytes, answer a status without forwarding (500/502/503, 429 with
//! or without `Retry-After`, 401 with a fresh challenge, 405 for `PATCH`), stall, cap request
//! bodies (413 or a reset), rewrite `Range` reports, or redirect blob `GET`s to a
//! [`BlobHost`] on another port.
//!
//! The proxy counts the request-body bytes it forwarded to the registry and the response-body
//! bytes it passed back, and logs every request ([`ProxiedRequest`]). Every wait is bounded
//! (stalls by their duration, sockets by timeouts) and everything stops on drop.
//!
//! [`FaultProxy::shape`] makes it a slow link as well: request and response bodies share a
//! bandwidth (one token bucket per direction for all connections together) and every
//! forwarded request waits an added latency before it goes on.

mod blob_host;
pub(crate) mod http;
mod shaping;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use blob_host::{BlobHost, BlobHostRequest};
use http::{
    pump, read_head, reason, request_framing, response_framing, Flow, Framing, Head, Piece,
};
use shaping::Shaper;
pub use shaping::Shaping;

use crate::Registry;

/// How long a client connection may sit idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Read/write timeout while a message is moving.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Connect timeout towards the registry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest stall or delay a rule may ask for.
const MAX_HOLD: Duration = Duration::from_secs(120);

/// What to do to a request a [`Rule`] picked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status, headers and body without forwarding anything; the request
    /// body is read and discarded first (counted in
    /// [`ProxiedRequest::request_body_discarded`]), so the connection stays usable.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Reset the client connection (TCP RST) right after the request head; nothing is
    /// forwarded.
    Reset,
    /// Forward the request head and the first `after` request-body bytes, then drop both
    /// connections (the client sees a reset). A body of at most `after` bytes passes
    /// untouched.
    DropRequestBody { after: u64 },
    /// Forward the request; pass on the response head and the first `after` response-body
    /// bytes, then drop both connections.
    DropResponseBody { after: u64 },
    /// Forward the whole request and let the registry act on it, then drop the client
    /// connection instead of passing on the response (the client cannot know it succeeded).
    LoseResponse,
    /// Hold the request for `hold` without forwarding anything (no byte reaches the
    /// registry), then reset the client connection.
    Stall { hold: Duration },
    /// Forward the head and `after` request-body bytes, hold for `hold`, then drop both
    /// connections.
    StallAfter { after: u64, hold: Duration },
    /// Forward; pass on the response head and the first `after` response-body bytes, hold
    /// for `hold`, then drop both connections (a download that hangs midway).
    StallResponseAfter { after: u64, hold: Duration },
    /// Wait `hold`, then forward normally (a slow registry, not a broken one).
    Delay { hold: Duration },
    /// A body cap in front of the registry (Cloudflare, nginx `client_max_body_size`): when a
    /// request's `Content-Length` exceeds `max`, reply as `reply` says instead of forwarding.
    /// Smaller requests (and requests without `Content-Length`) are forwarded.
    BodyCap { max: u64, reply: CapReply },
    /// Forward; rewrite the `Range` header of the response.
    RewriteRange(RangeRewrite),
    /// Forward; when the registry answers a `GET` with 200 or 206, answer `307 Temporary Redirect`
    /// to `<base>/blobs/<digest>?X-Amz-Signature=…` instead (the digest is the last segment
    /// of the request path). Other answers (401, 404, …) pass unchanged, so the client must
    /// authenticate to the registry before it is redirected. See [`BlobHost`].
    RedirectTo { base: String },
}

/// How a [`Fault::BodyCap`] turns away a request that is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapReply {
    /// Read and discard the body, answer this status (413) and close the connection.
    Status(u16),
    /// Read and discard `max` bytes of the body, then reset the connection.
    Reset,
}

/// How [`Fault::RewriteRange`] changes a `Range: 0-<last>` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRewrite {
    /// Report what the registry said before about the same upload (the latest earlier
    /// report that differs from the current one), or `0-0` when it said nothing else yet.
    Stale,
    /// Move the last byte by this much (`+1`: an exclusive end, as some registries send).
    Shift(i64),
}

impl Fault {
    /// `status` with a registry-style JSON error body, without forwarding.
    pub fn status(status: u16) -> Fault {
        let code = match status {
            400 => "BAD_REQUEST",
            401 => "UNAUTHORIZED",
            403 => "DENIED",
            404 => "NOT_FOUND",
            405 => "UNSUPPORTED",
            413 => "SIZE_INVALID",
            416 => "RANGE_INVALID",
            429 => "TOOMANYREQUESTS",
            _ => "UNAVAILABLE",
        };
        let body = format!(
            r#"{{"errors":[{{"code":"{code}","message":"fault injected by the test proxy: {status} {}"}}]}}"#,
            reason(status)
        );
        Fault::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    }

    /// `429 Too Many Requests`, with `Retry-After: <seconds>` when given.
    pub fn too_many_requests(retry_after: Option<u64>) -> Fault {
        Fault::status(429).with_header_if("Retry-After", retry_after.map(|s| s.to_string()))
    }

    /// `401 Unauthorized` with `WWW-Authenticate: <challenge>` (e.g. a fresh Bearer challenge,
    /// see [`FaultProxy::bearer_challenge`]).
    pub fn unauthorized(challenge: &str) -> Fault {
        Fault::status(401).with_header("WWW-Authenticate", challenge)
    }

    /// Adds a response header to a [`Fault::Respond`] (no effect on other faults).
    pub fn with_header(self, name: &str, value: &str) -> Fault {
        self.with_header_if(name, Some(value.to_owned()))
    }

    fn with_header_if(mut self, name: &str, value: Option<String>) -> Fault {
        if let (Fault::Respond { headers, .. }, Some(value)) = (&mut self, value) {
            headers.push((name.to_owned(), value));
        }
        self
    }

    /// A short label for logs.
    fn label(&self) -> String {
        match self {
            Fault::Respond { status, .. } => format!("respond {status}"),
            Fault::Reset => "reset".into(),
            Fault::DropRequestBody { after } => format!("drop request after {after} bytes"),
            Fault::DropResponseBody { after } => format!("drop response after {after} bytes"),
            Fault::LoseResponse => "lose response".into(),
            Fault::Stall { hold } => format!("stall {hold:?}"),
            Fault::StallAfter { after, hold } => format!("stall {hold:?} after {after} bytes"),
            Fault::StallResponseAfter { after, hold } => {
                format!("stall response {hold:?} after {after} bytes")
            }
            Fault::Delay { hold } => format!("delay {hold:?}"),
            Fault::BodyCap { max, reply } => format!("body cap {max} ({reply:?})"),
            Fault::RewriteRange(r) => format!("rewrite range {r:?}"),
            Fault::RedirectTo { base } => format!("redirect to {base}"),
        }
    }

    fn hold(&self) -> Option<Duration> {
        match self {
            Fault::Stall { hold }
            | Fault::StallAfter { hold, .. }
            | Fault::StallResponseAfter { hold, .. }
            | Fault::Delay { hold } => Some(*hold),
            _ => None,
        }
    }
}

/// Which requests get a [`Fault`]: method (or any) and a substring of the request target
/// (path and query, so `digest=<hex>` picks one blob's `PUT`), the `nth` match (1-based) and `times` matches from there (default: just the
/// nth; [`Rule::always`]: every match from the nth on).
///
/// Every rule counts its own matches, whether or not another rule took the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    method: Option<String>,
    path: String,
    nth: usize,
    times: Option<usize>,
    fault: Fault,
}

impl Rule {
    /// `fault` for the first request with `method` (`"*"` for any) whose target (path and
    /// query) contains `path_contains`.
    pub fn new(method: &str, path_contains: &str, fault: Fault) -> Rule {
        Rule {
            method: (method != "*" && !method.is_empty()).then(|| method.to_ascii_uppercase()),
            path: path_contains.to_owned(),
            nth: 1,
            times: Some(1),
            fault,
        }
    }

    /// Starts at the `n`th matching request (1-based).
    pub fn nth(mut self, n: usize) -> Rule {
        assert!(n >= 1, "matches are counted from 1");
        self.nth = n;
        self
    }

    /// Applies to `k` matching requests from the `nth` on.
    pub fn times(mut self, k: usize) -> Rule {
        self.times = Some(k);
        self
    }

    /// Applies to every matching request from the `nth` on.
    pub fn always(mut self) -> Rule {
        self.times = None;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path)
    }

    fn active_at(&self, count: usize) -> bool {
        count >= self.nth && self.times.is_none_or(|k| count < self.nth + k)
    }
}

/// A handle to a rule added with [`FaultProxy::add_rule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(usize);

#[derive(Debug)]
struct RuleState {
    rule: Rule,
    seen: usize,
    hits: usize,
}

/// One request the proxy handled, as the client sent it and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// Request method.
    pub method: String,
    /// Request target: path and query.
    pub target: String,
    /// Request headers as received.
    pub headers: Vec<(String, String)>,
    /// The fault applied, if a rule picked this request.
    pub fault: Option<String>,
    /// The status the registry answered (before any rewriting), if it was asked.
    pub upstream_status: Option<u16>,
    /// The status the client got; `None` when its connection was dropped instead.
    pub status: Option<u16>,
    /// Request-body bytes forwarded to the registry.
    pub request_body_forwarded: u64,
    /// Request-body bytes read from the client and not forwarded.
    pub request_body_discarded: u64,
    /// Response-body bytes passed from the registry to the client.
    pub response_body_forwarded: u64,
    /// The response's `Range` header as the registry sent it.
    pub upstream_range: Option<String>,
    /// The response's `Range` header as the client got it.
    pub range: Option<String>,
}

impl ProxiedRequest {
    /// The path of the target (without the query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first value of request header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request carried an `Authorization` header.
    pub fn has_authorization(&self) -> bool {
        self.header("authorization").is_some()
    }

    /// Whether the request is `method` (any case) to a target containing `path_contains`.
    pub fn is(&self, method: &str, path_contains: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.target.contains(path_contains)
    }
}

#[derive(Debug)]
struct Shared {
    /// The registry's address.
    target: SocketAddr,
    /// The proxy's own `127.0.0.1:PORT`.
    own_host: String,
    rules: Mutex<Vec<RuleState>>,
    log: Mutex<Vec<ProxiedRequest>>,
    /// `Range` reports seen per upload path, oldest first.
    ranges: Mutex<HashMap<String, Vec<String>>>,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    stopped: Mutex<bool>,
    stop_signal: Condvar,
    stop_flag: AtomicBool,
    /// Read request bodies whole before forwarding them (see [`FaultProxy::buffer_request_bodies`]).
    buffer_bodies: AtomicBool,
    streams: Mutex<HashMap<u64, TcpStream>>,
    next_stream: AtomicU64,
    /// The slow link, when [`FaultProxy::shape`] set one.
    shaper: Mutex<Option<Shaper>>,
    /// Body bytes that went through the shaper's buckets.
    shaped_bytes: AtomicU64,
    /// Requests that waited the shaper's latency.
    delayed_requests: AtomicU64,
}

/// Which way body bytes go, for shaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Request bodies, client to registry.
    Up,
    /// Response bodies, registry to client.
    Down,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop_flag.load(Ordering::SeqCst)
    }

    /// Waits `hold` or until the proxy stops.
    fn hold(&self, hold: Duration) {
        let deadline = Instant::now() + hold.min(MAX_HOLD);
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stopped = self
                .stop_signal
                .wait_timeout(stopped, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until the shaped link has carried `n` more body bytes in `dir`.
    fn throttle(&self, dir: Direction, n: usize) {
        let wait = {
            let mut shaper = lock(&self.shaper);
            let Some(shaper) = shaper.as_mut() else {
                return;
            };
            let bucket = match dir {
                Direction::Up => &mut shaper.up,
                Direction::Down => &mut shaper.down,
            };
            bucket.reserve(Instant::now(), n as u64)
        };
        self.shaped_bytes.fetch_add(n as u64, Ordering::SeqCst);
        if !wait.is_zero() {
            self.hold(wait);
        }
    }

    /// Waits the shaped link's latency, if any.
    fn delay_request(&self) {
        let latency = lock(&self.shaper)
            .as_ref()
            .map_or(Duration::ZERO, |s| s.settings.latency);
        if !latency.is_zero() {
            self.delayed_requests.fetch_add(1, Ordering::SeqCst);
            self.hold(latency);
        }
    }

    fn track(&self, stream: &TcpStream) -> Option<u64> {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone().ok()?;
        lock(&self.streams).insert(id, clone);
        if self.stopped() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Some(id)
    }

    fn untrack(&self, id: Option<u64>) {
        if let Some(id) = id {
            lock(&self.streams).remove(&id);
        }
    }

    /// Counts the request against every rule; the first rule active at its count applies.
    fn pick(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let mut chosen = None;
        for r in rules.iter_mut() {
            if !r.rule.matches(method, path) {
                continue;
            }
            r.seen += 1;
            if chosen.is_none() && r.rule.active_at(r.seen) {
                r.hits += 1;
                chosen = Some(r.rule.fault.clone());
            }
        }
        chosen
    }

    fn log_start(&self, method: &str, target: &str, head: &Head, fault: Option<&Fault>) -> usize {
        let mut log = lock(&self.log);
        log.push(ProxiedRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: head.headers.clone(),
            fault: fault.map(Fault::label),
            upstream_status: None,
            status: None,
            request_body_forwarded: 0,
            request_body_discarded: 0,
            response_body_forwarded: 0,
            upstream_range: None,
            range: None,
        });
        log.len() - 1
    }

    fn update(&self, idx: usize, f: impl FnOnce(&mut ProxiedRequest)) {
        if let Some(entry) = lock(&self.log).get_mut(idx) {
            f(entry);
        }
    }

    /// Records a `Range` report for `path`; returns the latest earlier one that differs.
    fn record_range(&self, path: &str, range: &str) -> Option<String> {
        let mut ranges = lock(&self.ranges);
        let history = ranges.entry(path.to_owned()).or_default();
        let stale = history.iter().rev().find(|r| r.as_str() != range).cloned();
        history.push(range.to_owned());
        stale
    }
}

/// A fault-injecting HTTP proxy on `127.0.0.1:<ephemeral>` in front of one plain-HTTP
/// registry. See the [module docs](self).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy in front of `registry` (which must serve plain HTTP).
    ///
    /// # Panics
    ///
    /// If the registry serves TLS, or the proxy cannot bind a loopback port.
    pub fn start(registry: &Registry) -> FaultProxy {
        assert!(
            !registry.is_tls(),
            "FaultProxy forwards plain HTTP; start the registry with Registry::plain() or a plain RegistryConfig"
        );
        FaultProxy::to_address(&registry.host())
    }

    /// A proxy in front of a plain-HTTP server at `host` (`127.0.0.1:PORT`).
    ///
    /// # Panics
    ///
    /// If `host` is not a loopback socket address, or the proxy cannot bind a port.
    pub fn to_address(host: &str) -> FaultProxy {
        let target: SocketAddr = host
            .parse()
            .unwrap_or_else(|e| panic!("FaultProxy target {host:?} is not an address: {e}"));
        assert!(
            target.ip().is_loopback(),
            "FaultProxy only forwards to loopback, not {target}"
        );
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 for FaultProxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            target,
            own_host: format!("127.0.0.1:{}", addr.port()),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            ranges: Mutex::new(HashMap::new()),
            request_bytes: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            stopped: Mutex::new(false),
            stop_signal: Condvar::new(),
            stop_flag: AtomicBool::new(false),
            buffer_bodies: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            shaper: Mutex::new(None),
            shaped_bytes: AtomicU64::new(0),
            delayed_requests: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stopped() {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn_shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("fault-proxy-conn".into())
                        .spawn(move || serve(&conn_shared, stream));
                }
            })
            .expect("spawn proxy accept thread");
        FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Reads every request body whole before sending anything to the registry, as nginx
    /// does by default (`proxy_request_buffering on`): a client that breaks off midway
    /// (killed, network gone) leaves the registry untouched, so its upload session stays
    /// valid at the last complete request.
    pub fn buffer_request_bodies(&self, on: bool) {
        self.shared.buffer_bodies.store(on, Ordering::SeqCst);
    }

    /// Makes the proxy a slow link from now on: request bodies and response bodies each
    /// move at most `bytes_per_sec` (0: unlimited) summed over all connections, and every
    /// forwarded request waits `latency` (at most two minutes) before it goes to the registry.
    /// Faults still apply; answers the proxy makes itself are not delayed.
    pub fn shape(&self, bytes_per_sec: u64, latency: Duration) {
        assert!(
            latency <= MAX_HOLD,
            "a latency must be bounded: {latency:?}"
        );
        let settings = Shaping {
            bytes_per_sec,
            latency,
        };
        *lock(&self.shared.shaper) = Some(Shaper::new(settings));
    }

    /// Back to a fast link.
    pub fn unshape(&self) {
        *lock(&self.shared.shaper) = None;
    }

    /// The shaping in force.
    pub fn shaping(&self) -> Option<Shaping> {
        lock(&self.shared.shaper).as_ref().map(|s| s.settings)
    }

    /// Body bytes (both directions) that went through the shaped link so far.
    pub fn shaped_bytes(&self) -> u64 {
        self.shared.shaped_bytes.load(Ordering::SeqCst)
    }

    /// Requests that waited the shaped link's latency so far.
    pub fn delayed_requests(&self) -> u64 {
        self.shared.delayed_requests.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:PORT`, the proxy as a registry host in image references.
    pub fn host(&self) -> String {
        self.shared.own_host.clone()
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `HOST/<name_and_ref>` through the proxy, e.g. `image("app:1")`.
    pub fn image(&self, name_and_ref: &str) -> String {
        format!("{}/{}", self.host(), name_and_ref)
    }

    /// Adds a rule; rules are consulted in the order they were added.
    pub fn add_rule(&self, rule: Rule) -> RuleId {
        if let Some(hold) = rule.fault.hold() {
            assert!(
                hold <= MAX_HOLD,
                "a stall must be bounded: {hold:?} > {MAX_HOLD:?}"
            );
        }
        let mut rules = lock(&self.shared.rules);
        rules.push(RuleState {
            rule,
            seen: 0,
            hits: 0,
        });
        RuleId(rules.len() - 1)
    }

    /// Shorthand for `add_rule(Rule::new(method, path_contains, fault))`: the first match.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault) -> RuleId {
        self.add_rule(Rule::new(method, path_contains, fault))
    }

    /// Removes every rule (their counts are forgotten; [`RuleId`]s become invalid).
    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    /// How many requests rule `id` picked (its fault applied; a [`Fault::BodyCap`] counts
    /// requests under the cap too, which it forwards untouched).
    pub fn hits(&self, id: RuleId) -> usize {
        lock(&self.shared.rules).get(id.0).map_or(0, |r| r.hits)
    }

    /// How many requests rule `id` matched (applied or not).
    pub fn matched(&self, id: RuleId) -> usize {
        lock(&self.shared.rules).get(id.0).map_or(0, |r| r.seen)
    }

    /// Every request so far, in arrival order (entries fill in as requests complete).
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Requests with `method` (`"*"`: any) whose target (path and query) contains
    /// `path_contains`.
    pub fn requests_matching(&self, method: &str, path_contains: &str) -> Vec<ProxiedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| {
                (method == "*" || r.method.eq_ignore_ascii_case(method))
                    && r.target.contains(path_contains)
            })
            .collect()
    }

    /// Request-body bytes forwarded to the registry so far (all requests).
    pub fn request_body_bytes(&self) -> u64 {
        self.shared.request_bytes.load(Ordering::SeqCst)
    }

    /// Response-body bytes passed from the registry to clients so far (all requests).
    pub fn response_body_bytes(&self) -> u64 {
        self.shared.response_bytes.load(Ordering::SeqCst)
    }

    /// Request-body bytes forwarded for requests whose target contains `path_contains`.
    pub fn request_body_bytes_to(&self, path_contains: &str) -> u64 {
        self.requests_matching("*", path_contains)
            .iter()
            .map(|r| r.request_body_forwarded)
            .sum()
    }

    /// Response-body bytes passed on for requests whose target contains `path_contains`.
    pub fn response_body_bytes_from(&self, path_contains: &str) -> u64 {
        self.requests_matching("*", path_contains)
            .iter()
            .map(|r| r.response_body_forwarded)
            .sum()
    }

    /// Forgets the request log, byte counts and `Range` history (rules keep their counts).
    pub fn reset_counters(&self) {
        lock(&self.shared.log).clear();
        lock(&self.shared.ranges).clear();
        self.shared.request_bytes.store(0, Ordering::SeqCst);
        self.shared.response_bytes.store(0, Ordering::SeqCst);
    }

    /// Polls (every 10 ms, at most `timeout`) until `pred` holds for the request log;
    /// returns whether it did.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[ProxiedRequest]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&lock(&self.shared.log)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A Bearer challenge like the one `registry`'s token auth sends, for `scope`
    /// (`repository:NAME:pull,push`), to use with [`Fault::unauthorized`].
    ///
    /// # Panics
    ///
    /// If the registry has no token server.
    pub fn bearer_challenge(registry: &Registry, scope: &str) -> String {
        let server = registry
            .token_server()
            .expect("bearer_challenge needs a registry with token auth");
        format!(
            r#"Bearer realm="{}",service="{}",scope="{}",error="invalid_token""#,
            server.token_url(),
            server.service(),
            scope
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop_flag.store(true, Ordering::SeqCst);
        *lock(&self.shared.stopped) = true;
        self.shared.stop_signal.notify_all();
        for stream in lock(&self.shared.streams).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// How a request left the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Ready for the next request.
    Keep,
    /// Close gracefully (FIN).
    Close,
    /// Reset (RST).
    Reset,
}

/// Serves one client connection until it closes, fails or is dropped by a fault.
fn serve(shared: &Shared, client: TcpStream) {
    let id = shared.track(&client);
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(mut writer) = client.try_clone() else {
        shared.untrack(id);
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, client);
    let outcome = loop {
        let _ = reader.get_ref().set_read_timeout(Some(IDLE_TIMEOUT));
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            _ => break Outcome::Close,
        };
        let _ = reader.get_ref().set_read_timeout(Some(IO_TIMEOUT));
        let outcome = handle(shared, &mut reader, &mut writer, head);
        if outcome != Outcome::Keep || shared.stopped() {
            break outcome;
        }
    };
    if outcome == Outcome::Reset {
        reset(&writer);
    } else {
        let _ = writer.flush();
        let _ = writer.shutdown(Shutdown::Write);
    }
    shared.untrack(id);
}

/// Makes the coming close of `stream` a reset (RST) rather than a FIN.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// A response the proxy makes itself.
fn local_response(status: u16, headers: &[(String, String)], body: &[u8], close: bool) -> Vec<u8> {
    let mut head = Head {
        line: format!("HTTP/1.1 {status} {}", reason(status)),
        headers: headers.to_vec(),
    };
    head.set("Content-Length", &body.len().to_string());
    head.set("Docker-Distribution-Api-Version", "registry/2.0");
    if close {
        head.set("Connection", "close");
    }
    let mut out = head.to_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads and discards a request body; returns (bytes discarded, whether it ended).
fn drain(reader: &mut BufReader<TcpStream>, framing: Framing, max: Option<u64>) -> (u64, bool) {
    let mut n = 0u64;
    let ended = pump(reader, framing, |piece| {
        if let Piece::Payload(b) = piece {
            n += b.len() as u64;
            if max.is_some_and(|m| n >= m) {
                return Flow::Stop;
            }
        }
        Flow::Continue
    });
    (n, matches!(ended, Ok(true)))
}

fn handle(
    shared: &Shared,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    head: Head,
) -> Outcome {
    let Some((method, target)) = head
        .method_and_target()
        .map(|(m, t)| (m.to_owned(), t.to_owned()))
    else {
        let _ = writer.write_all(&local_response(400, &[], b"", true));
        return Outcome::Close;
    };
    let fault = shared.pick(&method, &target);
    let idx = shared.log_start(&method, &target, &head, fault.as_ref());
    let framing = match request_framing(&head) {
        Ok(f) => f,
        Err(_) => {
            let _ = writer.write_all(&local_response(400, &[], b"", true));
            shared.update(idx, |e| e.status = Some(400));
            return Outcome::Close;
        }
    };
    let expects_continue = head
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let content_length = match framing {
        Framing::Length(n) => Some(n),
        Framing::Empty => Some(0),
        _ => None,
    };

    match &fault {
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => {
            // A client waiting for `100 Continue` sends no body: answer and close.
            let (discarded, ended) = if expects_continue {
                (0, false)
            } else {
                drain(reader, framing, None)
            };
            let close = !ended || head.wants_close();
            // A response to HEAD carries no body.
            let body: &[u8] = if method.eq_ignore_ascii_case("HEAD") {
                b""
            } else {
                body
            };
            let ok = writer
                .write_all(&local_response(*status, headers, body, close))
                .is_ok();
            shared.update(idx, |e| {
                e.request_body_discarded = discarded;
                e.status = ok.then_some(*status);
            });
            return if close { Outcome::Close } else { Outcome::Keep };
        }
        Some(Fault::Reset) => return Outcome::Reset,
        Some(Fault::Stall { hold }) => {
            shared.hold(*hold);
            return Outcome::Reset;
        }
        Some(Fault::Delay { hold }) => shared.hold(*hold),
        Some(Fault::BodyCap { max, reply }) if content_length.is_some_and(|n| n > *max) => {
            match reply {
                CapReply::Status(status) => {
                    let (discarded, _) = if expects_continue {
                        (0, false)
                    } else {
                        drain(reader, framing, None)
                    };
                    let Fault::Respond { headers, body, .. } = Fault::status(*status) else {
                        unreachable!()
                    };
                    let ok = writer
                        .write_all(&local_response(*status, &headers, &body, true))
                        .is_ok();
                    shared.update(idx, |e| {
                        e.request_body_discarded = discarded;
                        e.status = ok.then_some(*status);
                    });
                    return Outcome::Close;
                }
                CapReply::Reset => {
                    let (discarded, _) = drain(reader, framing, Some(*max));
                    shared.update(idx, |e| e.request_body_discarded = discarded);
                    return Outcome::Reset;
                }
            }
        }
        _ => {}
    }
    forward(
        shared,
        reader,
        writer,
        head,
        &method,
        &target,
        framing,
        expects_continue,
        fault.as_ref(),
        idx,
    )
}

/// How the request body went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    /// Read completely from the client (forwarded, or discarded once the registry stopped
    /// taking it).
    Complete,
    /// Cut by a fault after the allowed bytes.
    Cut,
    /// The client connection failed or closed midway.
    ClientFailed,
}

/// How the response went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    /// Passed on; `close` if the client connection must close after it.
    Relayed { close: bool },
    /// The registry sent no (complete) response head.
    NoResponse,
    /// A fault dropped the response (or the registry broke off its body).
    Dropped,
    /// Writing to the client failed.
    ClientGone,
}

#[allow(clippy::too_many_arguments)]
fn forward(
    shared: &Shared,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    head: Head,
    method: &str,
    target: &str,
    framing: Framing,
    expects_continue: bool,
    fault: Option<&Fault>,
    idx: usize,
) -> Outcome {
    shared.delay_request();
    let mut buffered;
    let mut expects_continue = expects_continue;
    let reader: &mut (dyn BufRead + Send) =
        if shared.buffer_bodies.load(Ordering::SeqCst) && framing != Framing::Empty {
            if expects_continue {
                let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                expects_continue = false;
            }
            let mut raw = Vec::new();
            let mut payload = 0u64;
            let whole = pump(reader, framing, |piece| {
                match piece {
                    Piece::Framing(b) => raw.extend_from_slice(b),
                    Piece::Payload(b) => {
                        payload += b.len() as u64;
                        raw.extend_from_slice(b);
                    }
                }
                Flow::Continue
            });
            if !matches!(whole, Ok(true)) {
                // The client broke off: nothing reaches the registry.
                shared.update(idx, |e| e.request_body_discarded = payload);
                return Outcome::Close;
            }
            buffered = Cursor::new(raw);
            &mut buffered
        } else {
            reader
        };
    let upstream = match TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) => {
            let body = format!("fault proxy: cannot reach the registry: {e}");
            let _ = writer.write_all(&local_response(502, &[], body.as_bytes(), true));
            shared.update(idx, |e| e.status = Some(502));
            return Outcome::Close;
        }
    };
    let up_id = shared.track(&upstream);
    let _ = upstream.set_nodelay(true);
    let _ = upstream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = upstream.set_write_timeout(Some(IO_TIMEOUT));
    let mut up_head = head;
    for hop in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "expect",
        "te",
        "upgrade",
    ] {
        up_head.remove(hop);
    }
    up_head.set("Connection", "close");
    let (Ok(mut up_writer), Ok(client_ctl)) = (upstream.try_clone(), writer.try_clone()) else {
        shared.untrack(up_id);
        return Outcome::Close;
    };
    if up_writer.write_all(&up_head.to_bytes()).is_err() {
        shared.untrack(up_id);
        let _ = writer.write_all(&local_response(502, &[], b"", true));
        shared.update(idx, |e| e.status = Some(502));
        return Outcome::Close;
    }
    if expects_continue && framing != Framing::Empty {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let limit = match fault {
        Some(Fault::DropRequestBody { after }) | Some(Fault::StallAfter { after, .. }) => {
            Some(*after)
        }
        _ => None,
    };
    let stall = match fault {
        Some(Fault::StallAfter { hold, .. }) => Some(*hold),
        _ => None,
    };
    let mut up_reader = BufReader::with_capacity(64 * 1024, upstream);

    let (body_end, relay) = thread::scope(|s| {
        let body =
            s.spawn(|| forward_body(shared, reader, &mut up_writer, framing, limit, stall, idx));
        let relay = relay_response(shared, &mut up_reader, writer, method, target, fault, idx);
        // The registry connection is done either way (Connection: close); this also frees
        // a body writer the registry stopped reading from.
        let _ = up_reader.get_ref().shutdown(Shutdown::Both);
        if !matches!(relay, Relay::Relayed { .. }) {
            // Nothing more goes to the client: stop reading its body too.
            let _ = client_ctl.shutdown(Shutdown::Read);
        }
        let body_end = body.join().unwrap_or(BodyEnd::ClientFailed);
        (body_end, relay)
    });
    shared.untrack(up_id);
    match (body_end, relay) {
        (BodyEnd::Cut, _) => Outcome::Reset,
        (_, Relay::NoResponse | Relay::Dropped) => Outcome::Reset,
        (_, Relay::ClientGone) | (BodyEnd::ClientFailed, _) => Outcome::Close,
        (BodyEnd::Complete, Relay::Relayed { close }) => {
            if close {
                Outcome::Close
            } else {
                Outcome::Keep
            }
        }
    }
}

/// Copies the request body from the client to the registry, stopping after `limit` bytes
/// (then holding for `stall`, then cutting the registry connection). When the registry stops
/// taking the body, the rest is read from the client and discarded.
fn forward_body(
    shared: &Shared,
    reader: &mut (dyn BufRead + Send),
    up_writer: &mut TcpStream,
    framing: Framing,
    limit: Option<u64>,
    stall: Option<Duration>,
    idx: usize,
) -> BodyEnd {
    let mut forwarded = 0u64;
    let mut discarded = 0u64;
    let mut upstream_ok = true;
    let mut cut = false;
    let result = pump(reader, framing, |piece| {
        let (bytes, payload) = match piece {
            Piece::Framing(b) => (b, false),
            Piece::Payload(b) => (b, true),
        };
        let mut take = bytes.len();
        if payload {
            if let Some(limit) = limit {
                let room = limit.saturating_sub(forwarded);
                if (take as u64) >= room {
                    take = usize::try_from(room).unwrap_or(take);
                    cut = true;
                }
            }
        }
        if payload && upstream_ok {
            shared.throttle(Direction::Up, take);
        }
        if upstream_ok && up_writer.write_all(&bytes[..take]).is_ok() {
            if payload {
                forwarded += take as u64;
                shared
                    .request_bytes
                    .fetch_add(take as u64, Ordering::SeqCst);
            }
        } else {
            upstream_ok = false;
            if payload {
                discarded += take as u64;
            }
        }
        if cut {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    let _ = up_writer.flush();
    shared.update(idx, |e| {
        e.request_body_forwarded = forwarded;
        e.request_body_discarded = discarded;
    });
    match result {
        Ok(true) => BodyEnd::Complete,
        Ok(false) => {
            if let Some(hold) = stall {
                shared.hold(hold);
            }
            let _ = up_writer.shutdown(Shutdown::Both);
            BodyEnd::Cut
        }
        Err(_) => {
            let _ = up_writer.shutdown(Shutdown::Both);
            BodyEnd::ClientFailed
        }
    }
}

/// Passes the registry's response to the client, applying response-side faults.
fn relay_response(
    shared: &Shared,
    up_reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    method: &str,
    target: &str,
    fault: Option<&Fault>,
    idx: usize,
) -> Relay {
    // Interim (1xx) responses are not passed on: the proxy answered `Expect` itself.
    let mut head = loop {
        match read_head(up_reader) {
            Ok(Some(h)) if h.status().is_some_and(|s| (100..200).contains(&s)) => continue,
            Ok(Some(h)) => break h,
            _ => return Relay::NoResponse,
        }
    };
    let status = head.status().unwrap_or(0);
    let path = target.split('?').next().unwrap_or("");
    let upstream_range = head.get("range").map(str::to_owned);
    let stale = upstream_range
        .as_deref()
        .and_then(|r| shared.record_range(path, r));
    shared.update(idx, |e| {
        e.upstream_status = Some(status);
        e.upstream_range = upstream_range.clone();
    });
    let Ok(framing) = response_framing(&head, method) else {
        return Relay::Dropped;
    };

    match fault {
        Some(Fault::LoseResponse) => {
            let _ = pump(up_reader, framing, |_| Flow::Continue);
            return Relay::Dropped;
        }
        Some(Fault::RedirectTo { base })
            if matches!(status, 200 | 206) && method.eq_ignore_ascii_case("GET") =>
        {
            let digest = path.rsplit('/').next().unwrap_or("");
            let location = format!(
                "{}/blobs/{digest}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=fault-proxy",
                base.trim_end_matches('/')
            );
            let headers = vec![("Location".to_owned(), location)];
            let ok = writer
                .write_all(&local_response(307, &headers, b"", false))
                .is_ok();
            shared.update(idx, |e| e.status = ok.then_some(307));
            return if ok {
                Relay::Relayed { close: false }
            } else {
                Relay::ClientGone
            };
        }
        Some(Fault::RewriteRange(rewrite)) => {
            if let Some(range) = &upstream_range {
                let new = match rewrite {
                    RangeRewrite::Stale => stale.unwrap_or_else(|| "0-0".to_owned()),
                    RangeRewrite::Shift(d) => shift_range(range, *d),
                };
                head.set("Range", &new);
            }
        }
        _ => {}
    }

    if let Some(location) = head.get("location").map(str::to_owned) {
        let registry = format!("//{}", shared.target);
        let proxy = format!("//{}", shared.own_host);
        if location.contains(&registry) {
            head.set("Location", &location.replacen(&registry, &proxy, 1));
        }
    }
    head.remove("connection");
    head.remove("keep-alive");
    let close = framing == Framing::UntilClose;
    if close {
        head.set("Connection", "close");
    }
    let range = head.get("range").map(str::to_owned);
    if writer.write_all(&head.to_bytes()).is_err() {
        return Relay::ClientGone;
    }
    shared.update(idx, |e| {
        e.status = Some(status);
        e.range = range;
    });

    let (limit, stall) = match fault {
        Some(Fault::DropResponseBody { after }) => (Some(*after), None),
        Some(Fault::StallResponseAfter { after, hold }) => (Some(*after), Some(*hold)),
        _ => (None, None),
    };
    let mut passed = 0u64;
    let mut client_ok = true;
    let result = pump(up_reader, framing, |piece| {
        let (bytes, payload) = match piece {
            Piece::Framing(b) => (b, false),
            Piece::Payload(b) => (b, true),
        };
        let mut take = bytes.len();
        let mut stop = false;
        if payload {
            if let Some(limit) = limit {
                let room = limit.saturating_sub(passed);
                if (take as u64) >= room {
                    take = usize::try_from(room).unwrap_or(take);
                    stop = true;
                }
            }
        }
        if payload {
            shared.throttle(Direction::Down, take);
        }
        // Counted before the write: a client that has read the last byte must
        // already see it in the counters (tests read them right after).
        if payload {
            passed += take as u64;
            shared
                .response_bytes
                .fetch_add(take as u64, Ordering::SeqCst);
            shared.update(idx, |e| e.response_body_forwarded = passed);
        }
        if writer.write_all(&bytes[..take]).is_err() {
            client_ok = false;
            return Flow::Stop;
        }
        if stop {
            if let Some(hold) = stall {
                let _ = writer.flush();
                shared.hold(hold);
            }
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    let _ = writer.flush();
    match result {
        _ if !client_ok => Relay::ClientGone,
        Ok(true) => Relay::Relayed { close },
        // Cut by the fault, or the registry broke off its body.
        Ok(false) | Err(_) => Relay::Dropped,
    }
}

/// `0-<last>` (optionally `bytes=`) with `last` moved by `d` (not below 0).
fn shift_range(range: &str, d: i64) -> String {
    let (prefix, rest) = match range.trim().strip_prefix("bytes=") {
        Some(rest) => ("bytes=", rest),
        None => ("", range.trim()),
    };
    let Some((first, last)) = rest.split_once('-') else {
        return range.to_owned();
    };
    let Ok(last) = last.trim().parse::<i64>() else {
        return range.to_owned();
    };
    format!("{prefix}{first}-{}", (last + d).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_count_their_own_matches() {
        let r = Rule::new("patch", "/blobs/uploads/", Fault::Reset).nth(2);
        assert!(r.matches("PATCH", "/v2/a/blobs/uploads/u"));
        assert!(!r.matches("PUT", "/v2/a/blobs/uploads/u"));
        assert!(!r.active_at(1) && r.active_at(2) && !r.active_at(3));
        let r = r.times(2);
        assert!(r.active_at(3) && !r.active_at(4));
        let r = r.always();
        assert!(r.active_at(100));
        assert!(Rule::new("*", "", Fault::Reset).matches("HEAD", "/v2/"));
    }

    #[test]
    fn ranges_shift() {
        assert_eq!(shift_range("0-1048575", 1), "0-1048576");
        assert_eq!(shift_range("bytes=0-9", -1), "bytes=0-8");
        assert_eq!(shift_range("0-0", -1), "0-0");
        assert_eq!(shift_range("junk", 1), "junk");
    }
}
