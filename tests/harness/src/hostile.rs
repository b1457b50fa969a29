//! A registry (or token realm, or blob store) written to misbehave: a scripted HTTP/1.1 server
//! on `127.0.0.1:<ephemeral>` that answers every request with what the test's handler returns
//! and logs every request it received, headers included.
//!
//! One port speaks both plain HTTP and TLS (with a private CA): the first byte of a connection
//! says which (`0x16` opens a TLS handshake). So a test can name `https://127.0.0.1:P` and
//! `http://127.0.0.1:P` — the same host and port, two schemes — and see what a client sends to
//! each. Replies can be whole, endless, or trickled one byte at a time, for the body caps and
//! deadlines a client must have. Given a [`TestPki`] with a client certificate, the TLS side
//! asks for one (optionally) and logs whether the client presented it. Everything stops on
//! drop.

use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::fault_proxy::http::{pump, read_head, reason, request_framing, Flow, Piece};
use crate::tls::TestPki;

/// Read/write timeout on a connection (a bound on every wait, not a pace).
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Request body bytes kept per request (test images are small; more is counted, not kept).
const LOGGED_BODY: usize = 16 * 1024 * 1024;
/// Size of the pieces an endless body is written in.
const ENDLESS_PIECE: usize = 64 * 1024;

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// `http` or `https`: how it arrived.
    pub scheme: &'static str,
    /// Request method.
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers as received, in order.
    pub headers: Vec<(String, String)>,
    /// The request body (its first 16 MiB).
    pub body: Vec<u8>,
    /// The request body's whole length.
    pub body_len: u64,
    /// The client presented a certificate on this connection (asked for, optionally, when
    /// the server's [`TestPki`] has a client certificate: mutual TLS).
    pub client_certificate: bool,
}

impl SeenRequest {
    /// The first value of header `name` (case-insensitive).
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

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Whether the request is `method` and its path and query contain `needle`.
    pub fn is(&self, method: &str, needle: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.target.contains(needle)
    }
}

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A whole response with `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A chunked body that never ends: `piece` repeated until the client goes away or the
    /// server stops.
    Endless {
        status: u16,
        headers: Vec<(String, String)>,
        piece: Vec<u8>,
    },
    /// A body of `len` bytes (declared in `Content-Length`, or chunked if `None`) written one
    /// byte every `every`, each a copy of `byte`, until done, the client goes away or the
    /// server stops.
    Trickle {
        status: u16,
        headers: Vec<(String, String)>,
        byte: u8,
        every: Duration,
        len: Option<u64>,
    },
    /// Close the connection without answering.
    Close,
}

impl Reply {
    /// `status` with no body.
    pub fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `status` with a body and its `Content-Type`.
    pub fn body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(status)
            .with_header("Content-Type", content_type)
            .with_body(body)
    }

    /// `status` with a registry-style error body `{"errors":[{"code","message"}]}`.
    pub fn registry_error(status: u16, code: &str, message: &str) -> Reply {
        let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
        Reply::body(status, "application/json", body.to_string())
    }

    /// A `401` with this `WWW-Authenticate` challenge.
    pub fn challenge(challenge: &str) -> Reply {
        Reply::registry_error(401, "UNAUTHORIZED", "authentication required")
            .with_header("WWW-Authenticate", challenge)
    }

    /// A `307 Temporary Redirect` to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::status(307).with_header("Location", location)
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        match &mut self {
            Reply::Full { headers, .. }
            | Reply::Endless { headers, .. }
            | Reply::Trickle { headers, .. } => headers.push((name.to_owned(), value.to_owned())),
            Reply::Close => {}
        }
        self
    }

    /// The same reply with this body (whole replies only).
    pub fn with_body(mut self, new: impl Into<Vec<u8>>) -> Reply {
        if let Reply::Full { body, .. } = &mut self {
            *body = new.into();
        }
        self
    }
}

type Handler = dyn Fn(&SeenRequest) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    tls: Arc<rustls::ServerConfig>,
    log: Mutex<Vec<SeenRequest>>,
    stop: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

/// A scripted server: see the module docs. Stops on drop.
pub struct HostileServer {
    addr: SocketAddr,
    pki: TestPki,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HostileServer {
    /// A server answering every request with `handler`'s reply, with a fresh private CA for
    /// its TLS side.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn start(handler: impl Fn(&SeenRequest) -> Reply + Send + Sync + 'static) -> Self {
        HostileServer::start_with_pki(TestPki::generate(), handler)
    }

    /// Like [`HostileServer::start`] with the given certificate material.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or the PEM material is unusable.
    pub fn start_with_pki(
        pki: TestPki,
        handler: impl Fn(&SeenRequest) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind 127.0.0.1:0 for HostileServer");
        let addr = listener.local_addr().expect("hostile server address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            tls: tls_config(&pki),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        lock(&accept_shared.streams).push(clone);
                    }
                    let conn_shared = Arc::clone(&accept_shared);
                    let _ = thread::Builder::new()
                        .name("hostile-conn".into())
                        .spawn(move || {
                            let _ = serve_connection(stream, &conn_shared);
                        });
                }
            })
            .expect("spawn hostile accept thread");
        HostileServer {
            addr,
            pki,
            shared,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `https://127.0.0.1:PORT`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// The CA certificate (PEM) that signed the TLS side's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.log).clone()
    }

    /// The requests that carried an `Authorization` header.
    pub fn requests_with_authorization(&self) -> Vec<SeenRequest> {
        self.requests()
            .into_iter()
            .filter(SeenRequest::has_authorization)
            .collect()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.shared.streams).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees the stop flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The TLS side's configuration: with a client certificate in `pki`, clients are asked
/// for one signed by its CA, and may present none.
fn tls_config(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let plain = crate::token_server::server_tls_config(pki);
    if pki.client.is_none() {
        return plain;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(ca.expect("parse CA PEM")).expect("add CA root");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .expect("client certificate verifier");
    let (certs, key) = crate::token_server::server_identity(pki);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("TLS server config");
    Arc::new(config)
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    if stream.peek(&mut first)? == 0 {
        return Ok(());
    }
    if first[0] == 0x16 {
        let conn =
            rustls::ServerConnection::new(Arc::clone(&shared.tls)).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        let presented = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
        let result = serve_requests(&mut tls, "https", presented, shared);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        let _ = tls.sock.shutdown(Shutdown::Both);
        result
    } else {
        let mut plain = stream;
        let result = serve_requests(&mut plain, "http", false, shared);
        let _ = plain.shutdown(Shutdown::Both);
        result
    }
}

/// Serves requests on one connection until either side closes it.
fn serve_requests<S: Read + Write>(
    stream: &mut S,
    scheme: &'static str,
    client_certificate: bool,
    shared: &Shared,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let mut parts = head.line.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut body = Vec::new();
        let mut body_len = 0u64;
        pump(&mut reader, request_framing(&head)?, |piece| {
            if let Piece::Payload(bytes) = piece {
                body_len += bytes.len() as u64;
                let room = LOGGED_BODY.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Flow::Continue
        })?;
        let seen = SeenRequest {
            scheme,
            method,
            target,
            headers: head.headers,
            body,
            body_len,
            client_certificate,
        };
        lock(&shared.log).push(seen.clone());
        let reply = (shared.handler)(&seen);
        let out = reader.get_mut();
        if !write_reply(out, &seen.method, reply, shared)? {
            return Ok(());
        }
    }
}

fn head_bytes(status: u16, headers: &[(String, String)], framing: &str) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str(framing);
    s.push_str("\r\n");
    s.into_bytes()
}

/// Writes one reply; `Ok(false)` when the connection must close after it.
fn write_reply(
    out: &mut impl Write,
    method: &str,
    reply: Reply,
    shared: &Shared,
) -> io::Result<bool> {
    let stopped = || shared.stop.load(Ordering::SeqCst);
    match reply {
        Reply::Close => Ok(false),
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut bytes = head_bytes(
                status,
                &headers,
                &format!("Content-Length: {}\r\n", body.len()),
            );
            if method != "HEAD" {
                bytes.extend_from_slice(&body);
            }
            out.write_all(&bytes)?;
            out.flush()?;
            Ok(true)
        }
        Reply::Endless {
            status,
            headers,
            piece,
        } => {
            out.write_all(&head_bytes(
                status,
                &headers,
                "Transfer-Encoding: chunked\r\n",
            ))?;
            let piece = if piece.is_empty() {
                vec![b' '; ENDLESS_PIECE]
            } else {
                piece
            };
            let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
            chunk.extend_from_slice(&piece);
            chunk.extend_from_slice(b"\r\n");
            while !stopped() {
                out.write_all(&chunk)?;
            }
            Ok(false)
        }
        Reply::Trickle {
            status,
            headers,
            byte,
            every,
            len,
        } => {
            let framing = match len {
                Some(n) => format!("Content-Length: {n}\r\n"),
                None => "Transfer-Encoding: chunked\r\n".to_owned(),
            };
            out.write_all(&head_bytes(status, &headers, &framing))?;
            out.flush()?;
            let mut sent = 0u64;
            while len.is_none_or(|n| sent < n) && !stopped() {
                thread::sleep(every);
                match len {
                    Some(_) => out.write_all(&[byte])?,
                    None => out.write_all(&[b'1', b'\r', b'\n', byte, b'\r', b'\n'])?,
                }
                out.flush()?;
                sent += 1;
            }
            if len.is_none() && !stopped() {
                out.write_all(b"0\r\n\r\n")?;
                out.flush()?;
            }
            Ok(true)
        }
    }
}
