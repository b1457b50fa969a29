//! The WIT records and the core's types, both ways: requests out, responses and transport
//! errors in, failures and time.

use std::time::Duration;

use tug_core::http::{self, Body, HeaderMap, HeaderName, HeaderValue, RequestId, StatusCode};
use tug_core::{ErrorClass, Instant, Operation};

use crate::bindings::exports::tug::core::sansio::{
    self, ByteRange, Failure, Input, ResponseHead, TransportErrorKind,
};

/// The host's `now` (ns since its origin) as the core's instant.
pub fn instant(nanos: u64) -> Instant {
    Instant::from_duration(Duration::from_nanos(nanos))
}

/// An instant as the host's ns.
pub fn nanos(at: Instant) -> u64 {
    u64::try_from(at.since_origin().as_nanos()).unwrap_or(u64::MAX)
}

/// A failure of `class` saying `message`.
pub fn failure(class: ErrorClass, message: &str) -> Failure {
    Failure {
        class: class.name().to_owned(),
        message: message.to_owned(),
        exit_code: class.exit_code(),
    }
}

/// An operation's error as a failure.
pub fn error(e: &tug_core::Error) -> Failure {
    failure(e.class(), &e.to_string())
}

/// Bytes as the WIT `latin1` string: one char per byte.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A WIT `latin1` string's bytes, or an error naming the first char that is no byte.
pub fn bytes(text: &str) -> Result<Vec<u8>, String> {
    text.chars()
        .map(|c| u8::try_from(c).map_err(|_| format!("{c:?} in latin1 bytes is above U+00FF")))
        .collect()
}

/// A header map as WIT headers (values that are not UTF-8 as ISO-8859-1).
fn headers_out(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            let value = v.to_str().map(str::to_owned);
            let value = value.unwrap_or_else(|_| v.as_bytes().iter().map(|&b| b as char).collect());
            (n.as_str().to_owned(), value)
        })
        .collect()
}

/// WIT headers as a header map; a header that is not valid HTTP is left out.
fn headers_in(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let bytes: Vec<u8> = value
            .chars()
            .map(|c| u8::try_from(c).unwrap_or(b'?'))
            .collect();
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_bytes(&bytes),
        ) {
            map.append(n, v);
        }
    }
    map
}

/// The WIT body of bytes `start..end` of plan blob `blob`: the range of the file it is in
/// (a push), the `stream` the core feeds (a copy), or `None` if there is none (a pull).
pub type BlobBody<'a> = &'a dyn Fn(usize, u64, u64) -> Option<sansio::Body>;

/// A `range` body of `file`, or none for a blob with no file.
pub fn file_range(file: Option<&String>, start: u64, end: u64) -> Option<sansio::Body> {
    Some(sansio::Body::Range(ByteRange {
        source: file?.clone(),
        start,
        end,
    }))
}

/// A core request as the WIT request, a blob's body as `blob_body` says. `None` for a body
/// the component cannot describe (a streamed blob: never planned here).
pub fn request(req: http::Request, blob_body: BlobBody<'_>) -> Option<sansio::Request> {
    let body = match req.body {
        Body::Empty => sansio::Body::Empty,
        Body::Bytes(bytes) => sansio::Body::Bytes(latin1(&bytes)),
        Body::BlobRange { blob, start, end } => blob_body(blob, start, end)?,
        Body::BlobStream { .. } => return None,
    };
    Some(sansio::Request {
        id: req.id.0,
        method: req.method.as_str().to_owned(),
        url: req.url.to_string(),
        headers: headers_out(&req.headers),
        body,
    })
}

fn transport_error(e: sansio::TransportError) -> http::TransportError {
    use http::TransportErrorKind as K;
    let kind = match e.kind {
        TransportErrorKind::Connect => K::Connect,
        TransportErrorKind::Tls => K::Tls,
        TransportErrorKind::NotTls => K::NotTls,
        TransportErrorKind::Io => K::Io,
        TransportErrorKind::Timeout => K::Timeout,
        TransportErrorKind::Source => K::Source,
        TransportErrorKind::Other => K::Other,
    };
    http::TransportError {
        kind,
        message: e.message,
    }
}

fn response_head(head: ResponseHead) -> http::ResponseHead {
    http::ResponseHead {
        status: StatusCode::from_u16(head.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: headers_in(&head.headers),
    }
}

/// Feeds an HTTP or time input to `op`; a file input is a misuse here.
pub fn feed(op: &mut impl Operation, now: Instant, input: Input) -> Result<(), String> {
    use tug_core::Input as I;
    let result = match input {
        Input::Response((id, head)) => {
            op.handle_input(now, I::Response(RequestId(id), response_head(head)))
        }
        Input::BodyChunk((id, data)) => {
            op.handle_input(now, I::BodyChunk(RequestId(id), &bytes(&data)?))
        }
        Input::BodyEnd(id) => op.handle_input(now, I::BodyEnd(RequestId(id))),
        Input::BodySent((id, data)) => {
            op.handle_input(now, I::BodySent(RequestId(id), &bytes(&data)?))
        }
        Input::BodyProgress((id, n)) => op.handle_input(now, I::BodyProgress(RequestId(id), n)),
        Input::TransportFailed((id, e)) => {
            op.handle_input(now, I::TransportError(RequestId(id), transport_error(e)))
        }
        Input::Timeout => op.handle_input(now, I::Timeout),
        Input::File((path, _)) | Input::Size((path, _)) => {
            return Err(format!("no file was asked for now (input about {path:?})"))
        }
    };
    result.map_err(|e| e.to_string())
}

/// A request the component cannot describe, reported back as a transport error so the
/// operation fails cleanly instead of waiting for it.
pub fn undescribable(op: &mut impl Operation, now: Instant, id: RequestId) {
    let error = http::TransportError {
        kind: http::TransportErrorKind::Source,
        message: "a streamed body cannot be described by the component".into(),
    };
    let _ = op.handle_input(now, tug_core::Input::TransportError(id, error));
}
