//! Requests the core asks a runner to send, and what the runner hands back.
//!
//! Request bodies are descriptions, not bytes: a blob body names a byte range of a blob in
//! the plan, which the runner streams from wherever that blob lives (a file, a `Blob`).

use std::fmt;

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use url::Url;

/// Identifies one request from the moment the core emits it until its response ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A request for the runner to send exactly as described.
///
/// The runner must not follow redirects, add authentication or turn statuses into errors:
/// the core sees every response.
#[derive(Clone, Debug)]
pub struct Request {
    /// Echoed back with every input about this request.
    pub id: RequestId,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// The URL as a runner may show it (a request log): no user info, query or fragment,
    /// and none of the operation's secrets, which a registry may echo into a URL.
    pub shown: String,
    /// Headers to send, including `Authorization` and `Content-Length` when the core wants them.
    pub headers: HeaderMap,
    /// What to send as the body.
    pub body: Body,
    /// How long it may take (the core's deadline policy sets it per request, and the core
    /// keeps it: a runner may also apply it, as socket timeouts).
    pub deadlines: Deadlines,
    /// The request goes to the registry's own origin (scheme, host and port): the only one
    /// a runner may present a client certificate configured for the registry to (mutual
    /// TLS), as only it gets `Authorization`. Blob storage, an upload host or a token
    /// server elsewhere learn nothing of who the client is.
    pub to_registry: bool,
}

/// The time limits of one request, decided and kept by the core: it aborts a request past
/// one and fails it as a [`TransportErrorKind::Timeout`], from the times of the inputs about
/// it. A runner whose client can apply them (socket timeouts) may, and reports the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    /// No byte moving either way for this long fails the request. `None`: no limit.
    pub stall: Option<std::time::Duration>,
    /// The response head must begin within this long of sending (for runtimes that cannot
    /// see the body leave, so cannot tell a slow upload from a stalled one).
    pub head: Option<std::time::Duration>,
}

/// The body of a [`Request`].
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// No body.
    Empty,
    /// Small in-memory bytes: manifests, token requests.
    Bytes(Vec<u8>),
    /// Bytes `start..end` of blob number `blob` of the operation's plan. The runner streams
    /// them from the blob's location and should report them as [`crate::Input::BodySent`].
    BlobRange {
        /// Index of the blob in the plan.
        blob: usize,
        /// First byte, inclusive.
        start: u64,
        /// Last byte, exclusive.
        end: u64,
    },
    /// Bytes of blob number `blob` of the plan from `start` on, at most `max` of them: a
    /// blob made while it is sent (a layer compressed on the fly), whose length is known
    /// only when it ends. The runner sends them without `Content-Length` (chunked), ends
    /// the body after `max` bytes or where the blob ends, and must report how many went,
    /// as [`crate::Input::BodyProgress`] (see [`Body::wants_bytes`]) or
    /// [`crate::Input::BodySent`].
    BlobStream {
        /// Index of the blob in the plan.
        blob: usize,
        /// First byte, inclusive.
        start: u64,
        /// The most bytes to send.
        max: u64,
    },
}

impl Body {
    /// The number of bytes the body holds (at most, for a [`Body::BlobStream`]).
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::BlobRange { start, end, .. } => end.saturating_sub(*start),
            Body::BlobStream { max, .. } => *max,
        }
    }

    /// The number of bytes the body holds, when it is known before it is sent (its
    /// `Content-Length`): `None` for a [`Body::BlobStream`].
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Body::BlobStream { .. } => None,
            other => Some(other.len()),
        }
    }

    /// Whether the core checks this body's bytes, so the runner should report them as
    /// [`crate::Input::BodySent`] (the bytes) rather than [`crate::Input::BodyProgress`] (a
    /// count). A [`Body::BlobStream`]'s digest is the runner's own, learned from the very
    /// bytes it sends: hashing them again here would check nothing, and costs a copy of
    /// every byte and a second hash (several per cent of a compressed push's CPU).
    pub fn wants_bytes(&self) -> bool {
        !matches!(self, Body::BlobStream { .. })
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::BlobRange { blob, start, end } => {
                write!(f, "BlobRange(blob {blob}, {start}..{end})")
            }
            Body::BlobStream { blob, start, max } => {
                write!(f, "BlobStream(blob {blob}, {start}.., at most {max})")
            }
        }
    }
}

/// The status line and headers of a response.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers; repeated headers appear repeatedly.
    pub headers: HeaderMap,
}

impl ResponseHead {
    /// A head with `status` and no headers.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: HeaderMap::new(),
        }
    }

    /// Adds a header (builder style, for runners and tests). Invalid names or values are dropped.
    pub fn with_header(mut self, name: &str, value: &str) -> ResponseHead {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }

    /// The first value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header, if it says anything (an empty one is none: joined to the
    /// request's URL it would name that URL again).
    pub fn location(&self) -> Option<&str> {
        self.header("location")
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }
}

/// The first byte position of a `Content-Range: bytes <first>-<last>/<length>` response
/// header (a `206` to a ranged `GET`); `None` when the value says something else.
pub(crate) fn content_range_start(value: &str) -> Option<u64> {
    let v = value.trim().strip_prefix("bytes ")?;
    v.split('-').next()?.trim().parse().ok()
}

/// The whole length of a `Content-Range: bytes <first>-<last>/<length>` (a `206`) or
/// `bytes */<length>` (a `416`) response header; `None` when unknown (`*`) or unreadable.
pub(crate) fn content_range_length(value: &str) -> Option<u64> {
    let v = value.trim().strip_prefix("bytes ")?;
    v.rsplit_once('/')?.1.trim().parse().ok()
}

/// A failure below HTTP: the request got no (complete) response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    /// What kind of failure, as far as the runner can tell.
    pub kind: TransportErrorKind,
    /// The runner's description (must not contain secrets).
    pub message: String,
}

impl TransportError {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
        let message = message.into();
        TransportError { kind, message }
    }

    /// A failure told by an error and its chain of causes (joined with `: `), classed by
    /// their words ([`TransportErrorKind::of_description`]).
    pub fn from_error(e: &dyn std::error::Error) -> TransportError {
        let causes = std::iter::successors(Some(e), |e| e.source());
        let message = causes.map(|e| e.to_string()).collect::<Vec<_>>().join(": ");
        TransportError::new(TransportErrorKind::of_description(&message), message)
    }
}

/// Classes of transport failure; they decide retries and the plain-HTTP fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Name resolution or TCP connect failed (a name service that failed for now included).
    Connect,
    /// The name service answered that there is no such host (a typo in the registry's
    /// name). Retrying cannot help.
    NoSuchHost,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The server answered the TLS handshake in plain HTTP.
    NotTls,
    /// The connection broke or the peer spoke something other than HTTP.
    Io,
    /// No progress within the runner's timeout.
    Timeout,
    /// The local body source could not be read (file vanished, short read).
    Source,
    /// The runtime refused to hand over a response the server sent: a browser's CORS
    /// policy. Retrying cannot help.
    Blocked,
    /// The runtime refused to send the request at all: a page loaded over HTTPS may not
    /// talk to a plain-HTTP registry (mixed content). Retrying cannot help.
    MixedContent,
    /// A response body the core reads into memory exceeded its cap (set by the core, never
    /// by a runner). Retried like a broken connection: a proxy may have garbled one answer.
    TooLarge,
    /// The proxy on the way refused the connection for want of credentials (`407`).
    /// Retrying cannot help; the proxy's URL must carry them.
    ProxyAuth,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// The class a failure's description names, for hosts whose HTTP client tells failures
    /// apart only in words (an error chain joined with `: `): the words rustls, OpenSSL,
    /// hyper and the OS use. [`TransportErrorKind::Other`] when none match.
    pub fn of_description(text: &str) -> TransportErrorKind {
        let text = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        let classes = [
            // A TLS client reading a plain-HTTP answer as a record.
            (
                &[
                    "invalidcontenttype",
                    "corrupt message",
                    "wrong version number",
                    "wrong_version_number",
                ][..],
                TransportErrorKind::NotTls,
            ),
            (
                &["certificate", "handshake", "tls", "ssl", "alert"],
                TransportErrorKind::Tls,
            ),
            (
                &["timed out", "timeout", "deadline"],
                TransportErrorKind::Timeout,
            ),
            // The resolver's "no such name" (glibc, macOS, Windows, Go), not its "try again".
            (
                &[
                    "name or service not known",
                    "no address associated with hostname",
                    "nodename nor servname provided",
                    "no such host",
                    "no such host is known",
                    "enotfound",
                ],
                TransportErrorKind::NoSuchHost,
            ),
            // ("connect" alone would match "connection reset".)
            (
                &[
                    "refused",
                    "dns",
                    "lookup",
                    "name or service",
                    "unreachable",
                    "no route",
                    "(connect)",
                    "connect error",
                ],
                TransportErrorKind::Connect,
            ),
            (
                &[
                    "reset",
                    "broken pipe",
                    "closed",
                    "eof",
                    "incomplete",
                    "aborted",
                    "body",
                ],
                TransportErrorKind::Io,
            ),
        ];
        let found = classes.into_iter().find(|(words, _)| has(words));
        found.map_or(TransportErrorKind::Other, |(_, kind)| kind)
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "connection failed",
            TransportErrorKind::NoSuchHost => "no such host",
            TransportErrorKind::Tls => "TLS error",
            TransportErrorKind::NotTls => "the server does not speak TLS",
            TransportErrorKind::Io => "connection error",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Source => "cannot read source",
            TransportErrorKind::Blocked => "blocked by the browser",
            TransportErrorKind::MixedContent => "blocked by the browser (mixed content)",
            TransportErrorKind::TooLarge => "response too large",
            TransportErrorKind::ProxyAuth => "the proxy wants credentials",
            TransportErrorKind::Other => "transport error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start_reads_the_first_byte() {
        assert_eq!(content_range_start("bytes 5-9/10"), Some(5));
        assert_eq!(content_range_start(" bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */10"), None);
        assert_eq!(content_range_start("5-9/10"), None);
        assert_eq!(content_range_start("bytes -1-9/10"), None);
    }

    #[test]
    fn a_failure_is_classed_by_the_words_of_its_description() {
        let send = "error sending request for url (https://127.0.0.1:5000/v2/): client error";
        let cases = [
            (
                "(Connect): tcp connect error: Connection refused (os error 111)",
                TransportErrorKind::Connect,
            ),
            (
                "(Connect): received corrupt message of type InvalidContentType",
                TransportErrorKind::NotTls,
            ),
            (
                "(Connect): invalid peer certificate: UnknownIssuer",
                TransportErrorKind::Tls,
            ),
            (
                "(SendRequest): connection closed before message completed",
                TransportErrorKind::Io,
            ),
            (
                "(SendRequest): Connection reset by peer (os error 104)",
                TransportErrorKind::Io,
            ),
            (
                "(Connect): dns error: failed to lookup address information",
                TransportErrorKind::Connect,
            ),
            // No such name: said at once, not retried; a name service failing for now is.
            (
                "io: failed to lookup address information: Name or service not known",
                TransportErrorKind::NoSuchHost,
            ),
            (
                "dns error: failed to lookup address information: Temporary failure in name resolution",
                TransportErrorKind::Connect,
            ),
            (
                "getaddrinfo ENOTFOUND regsitry.example",
                TransportErrorKind::NoSuchHost,
            ),
            (
                "(Connect): operation timed out",
                TransportErrorKind::Timeout,
            ),
            ("(Protocol): something new", TransportErrorKind::Other),
        ];
        for (text, kind) in cases {
            assert_eq!(
                TransportErrorKind::of_description(&format!("{send} {text}")),
                kind,
                "{text}"
            );
        }
    }
}
