//! Just enough HTTP/1.1 for a forwarding proxy: message heads, body framing, and a body pump
//! that hands every byte (framing and payload) to a sink in order.

use std::io::{self, BufRead};

/// Longest accepted head line.
const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted in one head.
const MAX_HEADERS: usize = 256;
/// Size of body reads.
const READ_CHUNK: usize = 64 * 1024;

/// The start line and headers of a request or response, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every header `name`.
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Replaces header `name` (all of its lines) with one line.
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.headers[i].1 = value.to_owned();
                let mut seen = 0;
                self.headers.retain(|(n, _)| {
                    if n.eq_ignore_ascii_case(name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    /// The head as sent on the wire, blank line included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str(&self.line);
        out.push_str("\r\n");
        for (n, v) in &self.headers {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// The status code of a response head.
    pub fn status(&self) -> Option<u16> {
        self.line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Method and target of a request head.
    pub fn method_and_target(&self) -> Option<(&str, &str)> {
        let mut parts = self.line.split_whitespace();
        Some((parts.next()?, parts.next()?))
    }

    /// Whether the sender asked to close the connection after this message (or speaks 1.0).
    pub fn wants_close(&self) -> bool {
        let close = self
            .get("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        close || self.line.contains("HTTP/1.0")
    }
}

/// Reads one line (through `\n`), at most [`MAX_LINE`] bytes. Empty at end of stream.
fn read_line(r: &mut (impl BufRead + ?Sized)) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(line);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..=i]);
                r.consume(i + 1);
                return Ok(line);
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                r.consume(n);
            }
        }
        if line.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP head line too long",
            ));
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads a message head. `Ok(None)` when the stream ends before its first byte (a peer
/// closing an idle keep-alive connection).
pub(crate) fn read_head(r: &mut (impl BufRead + ?Sized)) -> io::Result<Option<Head>> {
    // Tolerate empty lines before a request (RFC 9112 §2.2).
    let first = loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(None);
        }
        if !trim_eol(&line).is_empty() {
            break line;
        }
    };
    let text = |b: &[u8]| String::from_utf8_lossy(trim_eol(b)).into_owned();
    let mut head = Head {
        line: text(&first),
        headers: Vec::new(),
    };
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream ended inside an HTTP head",
            ));
        }
        let line = text(&line);
        if line.is_empty() {
            return Ok(Some(head));
        }
        if head.headers.len() >= MAX_HEADERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many header lines",
            ));
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed header line {line:?}"),
            )
        })?;
        head.headers
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

/// How a message body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes the connection (responses only).
    UntilClose,
}

fn is_chunked(head: &Head) -> bool {
    head.get("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
    })
}

fn content_length(head: &Head) -> io::Result<Option<u64>> {
    match head.get("content-length") {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad Content-Length {v:?}"),
            )
        }),
    }
}

/// The body framing of a request.
pub(crate) fn request_framing(head: &Head) -> io::Result<Framing> {
    if is_chunked(head) {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(head)? {
        Some(0) | None => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

/// The body framing of a response to a `method` request.
pub(crate) fn response_framing(head: &Head, method: &str) -> io::Result<Framing> {
    let status = head.status().unwrap_or(0);
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::Empty);
    }
    if is_chunked(head) {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(head)? {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// A piece of a body on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// Chunk-size lines, chunk CRLFs, the last chunk and trailers.
    Framing(&'a [u8]),
    /// Body content.
    Payload(&'a [u8]),
}

/// What the sink wants after a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Reads one body framed as `framing` from `src`, handing every byte to `sink` in order.
/// `Ok(true)` when the body ended, `Ok(false)` when the sink stopped it (the piece it stopped
/// on is consumed).
pub(crate) fn pump(
    src: &mut (impl BufRead + ?Sized),
    framing: Framing,
    mut sink: impl FnMut(Piece<'_>) -> Flow,
) -> io::Result<bool> {
    match framing {
        Framing::Empty => Ok(true),
        Framing::Length(n) => pump_exact(src, n, &mut sink),
        Framing::UntilClose => loop {
            let buf = src.fill_buf()?;
            if buf.is_empty() {
                return Ok(true);
            }
            let n = buf.len().min(READ_CHUNK);
            let flow = sink(Piece::Payload(&buf[..n]));
            src.consume(n);
            if flow == Flow::Stop {
                return Ok(false);
            }
        },
        Framing::Chunked => loop {
            let line = read_line(src)?;
            if line.is_empty() {
                return Err(eof("inside a chunked body"));
            }
            if sink(Piece::Framing(&line)) == Flow::Stop {
                return Ok(false);
            }
            let size_text = String::from_utf8_lossy(trim_eol(&line)).into_owned();
            let size_text = size_text.split(';').next().unwrap_or("").trim().to_owned();
            let size = u64::from_str_radix(&size_text, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {size_text:?}"),
                )
            })?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let t = read_line(src)?;
                    if t.is_empty() {
                        return Err(eof("inside chunked trailers"));
                    }
                    if sink(Piece::Framing(&t)) == Flow::Stop {
                        return Ok(false);
                    }
                    if trim_eol(&t).is_empty() {
                        return Ok(true);
                    }
                }
            }
            if !pump_exact(src, size, &mut sink)? {
                return Ok(false);
            }
            let crlf = read_line(src)?;
            if !trim_eol(&crlf).is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk data not followed by CRLF",
                ));
            }
            if sink(Piece::Framing(&crlf)) == Flow::Stop {
                return Ok(false);
            }
        },
    }
}

fn eof(where_: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended {where_}"),
    )
}

fn pump_exact(
    src: &mut (impl BufRead + ?Sized),
    mut left: u64,
    sink: &mut impl FnMut(Piece<'_>) -> Flow,
) -> io::Result<bool> {
    while left > 0 {
        let buf = src.fill_buf()?;
        if buf.is_empty() {
            return Err(eof("inside a body"));
        }
        let n = buf
            .len()
            .min(READ_CHUNK)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let flow = sink(Piece::Payload(&buf[..n]));
        src.consume(n);
        left -= n as u64;
        if flow == Flow::Stop {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The reason phrase of a status code (for responses the proxy makes itself).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn collect(input: &[u8], framing: Framing) -> (bool, Vec<u8>, Vec<u8>) {
        let mut src = Cursor::new(input.to_vec());
        let (mut all, mut payload) = (Vec::new(), Vec::new());
        let done = pump(&mut src, framing, |p| {
            match p {
                Piece::Framing(b) => all.extend_from_slice(b),
                Piece::Payload(b) => {
                    all.extend_from_slice(b);
                    payload.extend_from_slice(b);
                }
            }
            Flow::Continue
        })
        .unwrap();
        (done, all, payload)
    }

    #[test]
    fn heads_parse_and_round_trip() {
        let raw = b"\r\nPATCH /v2/a/blobs/uploads/x?_state=1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 5\r\n\r\nhello";
        let mut src = Cursor::new(raw.to_vec());
        let head = read_head(&mut src).unwrap().unwrap();
        assert_eq!(
            head.method_and_target(),
            Some(("PATCH", "/v2/a/blobs/uploads/x?_state=1"))
        );
        assert_eq!(head.get("content-length"), Some("5"));
        assert_eq!(request_framing(&head).unwrap(), Framing::Length(5));
        assert_eq!(
            head.to_bytes(),
            b"PATCH /v2/a/blobs/uploads/x?_state=1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 5\r\n\r\n"
        );
        assert!(read_head(&mut Cursor::new(Vec::new())).unwrap().is_none());
    }

    #[test]
    fn set_replaces_every_line_of_a_header() {
        let mut head = Head {
            line: "HTTP/1.1 200 OK".into(),
            headers: vec![
                ("A".into(), "1".into()),
                ("b".into(), "2".into()),
                ("a".into(), "3".into()),
            ],
        };
        head.set("a", "9");
        assert_eq!(
            head.headers,
            vec![("A".into(), "9".into()), ("b".into(), "2".into())]
        );
        head.set("c", "4");
        assert_eq!(head.get("C"), Some("4"));
    }

    #[test]
    fn chunked_bodies_pass_through_byte_for_byte() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (done, all, payload) = collect(raw, Framing::Chunked);
        assert!(done);
        assert_eq!(payload, b"hello world");
        assert_eq!(all, &raw[..raw.len() - 4]);
    }

    #[test]
    fn response_framing_follows_method_and_status() {
        let head = |line: &str, h: &[(&str, &str)]| Head {
            line: line.into(),
            headers: h
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        let ok = head("HTTP/1.1 200 OK", &[("Content-Length", "10")]);
        assert_eq!(response_framing(&ok, "HEAD").unwrap(), Framing::Empty);
        assert_eq!(response_framing(&ok, "GET").unwrap(), Framing::Length(10));
        let nc = head("HTTP/1.1 204 No Content", &[]);
        assert_eq!(response_framing(&nc, "GET").unwrap(), Framing::Empty);
        let open = head("HTTP/1.1 200 OK", &[]);
        assert_eq!(response_framing(&open, "GET").unwrap(), Framing::UntilClose);
        let chunked = head("HTTP/1.1 200 OK", &[("Transfer-Encoding", "chunked")]);
        assert_eq!(response_framing(&chunked, "GET").unwrap(), Framing::Chunked);
    }

    #[test]
    fn a_sink_can_stop_a_body_midway() {
        let mut src = Cursor::new(vec![7u8; 200_000]);
        let mut seen = 0;
        let done = pump(&mut src, Framing::Length(200_000), |p| {
            if let Piece::Payload(b) = p {
                seen += b.len();
            }
            Flow::Stop
        })
        .unwrap();
        assert!(!done);
        assert!(seen > 0 && seen < 200_000);
    }
}
