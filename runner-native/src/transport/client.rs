//! The HTTP client: each request on a blocking thread, its body streamed from a
//! [`BodySource`], and everything that happens reported back over a channel.

use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_channel::Sender;
use tug_core::http::{Body, Request, RequestId, ResponseHead, TransportError, TransportErrorKind};
use ureq::{Agent, SendBody};

use super::body::BodySource;
use super::proxy::ProxyEnv;
use super::tls::TlsOptions;

/// How much body data to gather before reporting it as sent.
const SENT_BATCH: usize = 128 * 1024;
/// Messages queued between the request threads and the driving task. With
/// [`SENT_BATCH`]-sized batches this bounds the body bytes in flight to a few MiB, whatever
/// the image size, and pushes back on the threads when the core falls behind.
pub const QUEUE: usize = 32;
/// Size of response body reads.
const READ_CHUNK: usize = 128 * 1024;

/// What happened to a request, in order: `Head`, `Chunk`s, `End` — or `Failed`. `Sent`
/// messages report request body bytes as they leave (`Progress` only how many, where the
/// core does not check them: [`Body::wants_bytes`]).
#[derive(Debug)]
pub enum Message {
    Sent(RequestId, Vec<u8>),
    Progress(RequestId, u64),
    Head(RequestId, ResponseHead),
    Chunk(RequestId, Vec<u8>),
    End(RequestId),
    Failed(RequestId, TransportError),
}

/// Who is told of each request as it is sent (`-v`), if anyone.
static LOG: OnceLock<fn(&Request)> = OnceLock::new();

/// Has `log` told of every request as it is sent, from now on (set once per process).
pub fn log_requests_with(log: fn(&Request)) {
    let _ = LOG.set(log);
}

/// The agents requests go out on: directly, or through a proxy (by the proxy's URL).
struct Agents {
    direct: Agent,
    proxied: Vec<(String, Agent)>,
}

impl Agents {
    fn new(tls: &TlsOptions, identified: bool) -> anyhow::Result<Agents> {
        let mut proxied: Vec<(String, Agent)> = Vec::new();
        for url in tls.proxies.urls() {
            if !proxied.iter().any(|(u, _)| u == url) {
                proxied.push((url.to_owned(), tls.agent(Some(url), identified)?));
            }
        }
        Ok(Agents {
            direct: tls.agent(None, identified)?,
            proxied,
        })
    }
}

/// An HTTP client that never follows redirects nor turns statuses into errors.
#[derive(Clone)]
pub struct Transport {
    /// For requests to the registry's own origin: with its client certificate, if any.
    identified: Arc<Agents>,
    /// For the rest (blob storage, upload or token hosts elsewhere): without it.
    anonymous: Arc<Agents>,
    proxies: ProxyEnv,
    bodies: Arc<dyn BodySource>,
    /// Requests the core gave up on (it answered `UnknownRequest`): stop reading them.
    dropped: Arc<Mutex<HashSet<RequestId>>>,
}

impl Transport {
    /// A client connecting with `tls`, reading `BlobRange` bodies from `bodies`.
    pub fn new(tls: &TlsOptions, bodies: impl BodySource + 'static) -> anyhow::Result<Transport> {
        let identified = Arc::new(Agents::new(tls, true)?);
        let anonymous = match tls.client_cert {
            Some(_) => Arc::new(Agents::new(tls, false)?),
            None => Arc::clone(&identified),
        };
        Ok(Transport {
            identified,
            anonymous,
            proxies: tls.proxies.clone(),
            bodies: Arc::new(bodies),
            dropped: Arc::default(),
        })
    }

    /// Stops reading request `id`'s response: the core no longer waits for it (it failed
    /// the request on a body too large or too slow, or finished).
    pub fn drop_request(&self, id: RequestId) {
        lock(&self.dropped).insert(id);
    }

    /// Whether the core gave up on `id` (forgotten once seen: ids are never reused).
    fn is_dropped(&self, id: RequestId) -> bool {
        lock(&self.dropped).remove(&id)
    }

    /// Sends `req` on a blocking thread; everything that happens comes back through `tx`.
    pub fn spawn(&self, req: Request, tx: Sender<Message>) {
        let this = self.clone();
        smol::unblock(move || this.perform_reporting(req, None, &tx)).detach();
    }

    /// Like [`Transport::spawn`], with the bytes of a `BlobRange` body read from `body`
    /// instead of the body source (a copy streams them from the source registry).
    pub fn spawn_streaming(&self, req: Request, body: Box<dyn Read + Send>, tx: Sender<Message>) {
        let this = self.clone();
        smol::unblock(move || this.perform_reporting(req, Some(body), &tx)).detach();
    }

    /// [`Transport::perform`], reporting the request as failed if it panics on the way, so
    /// the operation never waits for an answer that cannot come.
    fn perform_reporting(
        &self,
        req: Request,
        body: Option<Box<dyn Read + Send>>,
        tx: &Sender<Message>,
    ) {
        let id = req.id;
        let run = std::panic::AssertUnwindSafe(|| self.perform(req, body, tx));
        if let Err(panic) = std::panic::catch_unwind(run) {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            let _ = tx.send_blocking(Message::Failed(
                id,
                TransportError {
                    kind: TransportErrorKind::Other,
                    message: format!("the request failed inside tug (a bug): {what}"),
                },
            ));
        }
    }

    /// Runs `request` with the core's stall deadline for it: no byte moving either way for
    /// that long fails it (ureq reports a timeout).
    fn run<B: ureq::AsSendBody>(
        &self,
        request: http::Request<B>,
        stall: Option<std::time::Duration>,
        to_registry: bool,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let agent = self.agent_for(&request.uri().to_string(), to_registry);
        let request = agent
            .configure_request(request)
            .timeout_per_read(stall)
            .timeout_per_write(stall)
            .build();
        agent.run(request)
    }

    /// The agent a request to `url` goes out on: through the proxy the environment names
    /// for it, or directly; presenting the client certificate only `to_registry`.
    fn agent_for(&self, url: &str, to_registry: bool) -> &Agent {
        let agents = match to_registry {
            true => &self.identified,
            false => &self.anonymous,
        };
        self.proxies
            .for_url(url)
            .and_then(|p| agents.proxied.iter().find(|(u, _)| u == p))
            .map_or(&agents.direct, |(_, a)| a)
    }

    /// The bytes of a blob body, from the body source.
    fn open_body(&self, body: &Body) -> io::Result<Box<dyn Read + Send>> {
        match body {
            Body::BlobStream { blob, start, max } => self.bodies.open_stream(*blob, *start, *max),
            Body::BlobRange { blob, start, end } => self.bodies.open(*blob, *start, *end),
            Body::Empty | Body::Bytes(_) => Ok(Box::new(io::empty())),
        }
    }

    fn perform(&self, req: Request, body: Option<Box<dyn Read + Send>>, tx: &Sender<Message>) {
        let id = req.id;
        if let Some(log) = LOG.get() {
            log(&req);
        }
        let source_failed = Arc::new(AtomicBool::new(false));
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(req.url.as_str());
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        let stall = req.deadlines.stall;
        let to_registry = req.to_registry;
        let result = match &req.body {
            Body::Empty => builder
                .body(SendBody::none())
                .map(|r| self.run(r, stall, to_registry)),
            Body::Bytes(bytes) => builder
                .body(bytes.clone())
                .map(|r| self.run(r, stall, to_registry)),
            Body::BlobRange { .. } | Body::BlobStream { .. } => {
                match body.map(Ok).unwrap_or_else(|| self.open_body(&req.body)) {
                    Ok(reader) => {
                        // No `Content-Length` for a blob made while it is sent: ureq sends it
                        // chunked, and it may end short (where the blob ends).
                        let reporting = ReportingReader {
                            inner: reader,
                            remaining: req.body.known_len(),
                            id,
                            tx: tx.clone(),
                            batch: Vec::with_capacity(SENT_BATCH),
                            counted: (!req.body.wants_bytes()).then_some(0),
                            failed: source_failed.clone(),
                        };
                        builder
                            .body(SendBody::from_owned_reader(reporting))
                            .map(|r| self.run(r, stall, to_registry))
                    }
                    Err(e) => {
                        let _ = tx.send_blocking(Message::Failed(
                            id,
                            TransportError {
                                kind: TransportErrorKind::Source,
                                message: e.to_string(),
                            },
                        ));
                        return;
                    }
                }
            }
        };
        let response = match result {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let kind = if source_failed.load(Ordering::Relaxed) {
                    TransportErrorKind::Source
                } else {
                    classify(&e)
                };
                let mut message = described(&e);
                // A failure on the way through a proxy says so, naming it (no password).
                if let Some(proxy) = self.proxies.for_url(req.url.as_str()) {
                    message = format!("{message} (through proxy {})", super::proxy::shown(proxy));
                    if kind == TransportErrorKind::ProxyAuth && !proxy.contains('@') {
                        message.push_str(
                            "; put the proxy's user name and password in its URL (in \
                             HTTPS_PROXY or HTTP_PROXY, before the host and an @)",
                        );
                    }
                }
                let _ = tx.send_blocking(Message::Failed(id, TransportError { kind, message }));
                return;
            }
            Err(e) => {
                let _ = tx.send_blocking(Message::Failed(
                    id,
                    TransportError {
                        kind: TransportErrorKind::Other,
                        message: format!("cannot build request: {e}"),
                    },
                ));
                return;
            }
        };
        let (parts, mut body) = response.into_parts();
        let mut head = ResponseHead {
            status: parts.status,
            headers: parts.headers,
        };
        // A `HEAD`'s answer, a `204` and a `304` have no body to decode.
        let bodiless =
            req.method == http::Method::HEAD || matches!(head.status.as_u16(), 204 | 304);
        let gzipped = !bodiless && take_gzip_encoding(&mut head);
        if tx.send_blocking(Message::Head(id, head)).is_err() {
            return;
        }
        let mut reader: Box<dyn Read + '_> = match gzipped {
            true => Box::new(flate2::read::MultiGzDecoder::new(body.as_reader())),
            false => Box::new(body.as_reader()),
        };
        // Fill whole chunks before handing them over: TLS reads return ~16 KiB records, and
        // one message per record costs a copy and a thread wake-up each.
        let mut buf = Vec::with_capacity(READ_CHUNK);
        loop {
            let mut filled = std::mem::replace(&mut buf, Vec::with_capacity(READ_CHUNK));
            let result = (&mut reader)
                .take(READ_CHUNK as u64)
                .read_to_end(&mut filled);
            match result {
                Ok(0) => break,
                Ok(_) => {
                    if self.is_dropped(id) || tx.send_blocking(Message::Chunk(id, filled)).is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    // Bytes read before the failure still count (a resume starts after them).
                    if !filled.is_empty() && tx.send_blocking(Message::Chunk(id, filled)).is_err() {
                        return;
                    }
                    let _ = tx.send_blocking(Message::Failed(
                        id,
                        TransportError {
                            kind: TransportErrorKind::Io,
                            message: e.to_string(),
                        },
                    ));
                    return;
                }
            }
        }
        let _ = tx.send_blocking(Message::End(id));
    }
}

/// Streams a body from the source and reports each batch of bytes read as sent. A short
/// source (file truncated meanwhile) is an error, never a silently short body — unless the
/// body's length is not known up front (a blob made while it is sent), which ends where
/// its source does.
struct ReportingReader<R> {
    inner: R,
    /// Bytes still to come, when the length is known.
    remaining: Option<u64>,
    id: RequestId,
    tx: Sender<Message>,
    batch: Vec<u8>,
    /// Bytes read but not yet reported, where only their number is reported (the bytes
    /// are then not gathered in `batch`).
    counted: Option<u64>,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for ReportingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(0) if self.remaining.is_some_and(|r| r > 0) && !buf.is_empty() => {
                self.failed.store(true, Ordering::Relaxed);
                let left = self.remaining.unwrap_or(0);
                let msg = format!("source ended {left} bytes early");
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            Ok(n) => n,
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(n as u64);
        }
        let ended = self.remaining == Some(0) || (n == 0 && !buf.is_empty());
        if let Some(counted) = &mut self.counted {
            *counted += n as u64;
            if (ended || *counted >= SENT_BATCH as u64) && *counted > 0 {
                let _ = self.tx.send_blocking(Message::Progress(self.id, *counted));
                *counted = 0;
            }
            return Ok(n);
        }
        self.batch.extend_from_slice(&buf[..n]);
        if ended || self.batch.len() >= SENT_BATCH {
            let data = std::mem::replace(&mut self.batch, Vec::with_capacity(SENT_BATCH));
            if !data.is_empty() {
                let _ = self.tx.send_blocking(Message::Sent(self.id, data));
            }
        }
        Ok(n)
    }
}

/// A body sent `Content-Encoding: gzip` (which tug never asks for, but a proxy in front of
/// a registry may apply to JSON anyway) is read decoded, as browsers and Go's client read
/// it: the head then loses that header and the `Content-Length` of the encoded bytes.
/// Whether it was.
fn take_gzip_encoding(head: &mut ResponseHead) -> bool {
    let gzip = head
        .header("content-encoding")
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "gzip" | "x-gzip"));
    if gzip {
        head.headers.remove(http::header::CONTENT_ENCODING);
        head.headers.remove(http::header::CONTENT_LENGTH);
    }
    gzip
}

/// ureq's error in words, without the `io: ` it puts before an I/O error's own (`no such
/// host: failed to lookup address information`, not `…: io: failed to …`).
fn described(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Maps ureq's error to the core's transport error classes.
fn classify(e: &ureq::Error) -> TransportErrorKind {
    use ureq::Error as E;
    // rustls' words for an HTTP answer to a ClientHello.
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        return TransportErrorKind::NotTls;
    }
    // rustls reports handshake and certificate failures as I/O errors of kind InvalidData,
    // and a server's refusal (no or a bad client certificate) as a received alert.
    if text.contains("certificate") || text.contains("handshake") || text.contains("alert") {
        return TransportErrorKind::Tls;
    }
    // The resolver's "no such name" comes as an I/O error in words.
    if TransportErrorKind::of_description(&text) == TransportErrorKind::NoSuchHost {
        return TransportErrorKind::NoSuchHost;
    }
    match e {
        E::ConnectProxyFailed(why) if why.contains("407") => TransportErrorKind::ProxyAuth,
        E::Timeout(_) => TransportErrorKind::Timeout,
        E::HostNotFound | E::ConnectionFailed => TransportErrorKind::Connect,
        E::Tls(_) | E::Pem(_) | E::Rustls(_) => TransportErrorKind::Tls,
        E::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused => TransportErrorKind::Connect,
            io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
            _ => TransportErrorKind::Io,
        },
        E::Protocol(_) => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body source that breaks the thread reading it.
    struct Panicking;

    impl Read for Panicking {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("the body source broke");
        }
    }

    #[test]
    fn an_io_error_is_said_in_its_own_words() {
        let refused = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(described(&refused), "connection refused");
        assert_eq!(
            described(&ureq::Error::ConnectionFailed),
            ureq::Error::ConnectionFailed.to_string()
        );
    }

    #[test]
    fn a_request_whose_thread_panics_is_reported_failed() {
        // The kernel takes the connection, so the request gets as far as reading its body.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v2/x/blobs/uploads/1",
            server.local_addr().unwrap()
        );
        let req = Request {
            id: RequestId(7),
            method: http::Method::PUT,
            url: url.parse().unwrap(),
            shown: url.clone(),
            headers: http::HeaderMap::new(),
            body: Body::BlobRange {
                blob: 0,
                start: 0,
                end: 10,
            },
            deadlines: Default::default(),
            to_registry: true,
        };
        let transport = Transport::new(&TlsOptions::default(), crate::transport::NoBodies).unwrap();
        let (tx, rx) = async_channel::bounded(QUEUE);
        transport.spawn_streaming(req, Box::new(Panicking), tx);
        // Without the report the thread's sender just goes away (and a driver holding its
        // own sender would wait forever).
        match smol::block_on(rx.recv()) {
            Ok(Message::Failed(RequestId(7), error)) => {
                assert_eq!(error.kind, TransportErrorKind::Other);
                assert!(error.message.contains("the body source broke"), "{error}");
            }
            other => panic!("expected the request reported failed, got {other:?}"),
        }
    }
}
