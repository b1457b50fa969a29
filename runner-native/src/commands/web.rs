//! `tug web [--listen ADDR:PORT]`: serves the web page (built into the binary) over HTTP.
//!
//! A small static server: a thread per connection (at most [`MAX_CONNECTIONS`]), HTTP/1.1
//! keep-alive, `GET` and `HEAD` only, files looked up in the embedded table (no file system,
//! so no path can reach outside it), `404` for anything else. Each request head must arrive
//! whole within [`HEAD_DEADLINE`], so clients sending slowly (or not at all) cannot keep the
//! connection slots. It binds only the address it is given and prints the page's URL on
//! standard output.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::WebArgs;
use crate::exit_code::CliError;
use crate::output::errln;
use crate::web_assets::{self, Asset};

/// Connections served at once; more are answered `503` and closed.
const MAX_CONNECTIONS: usize = 64;
/// The longest a connection may take to send a whole request head, counted from when the
/// server starts waiting for it (so it bounds idle keep-alive connections too); then the
/// connection is closed, however the bytes trickle in.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long writing a response may stall before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long what a client still sends is read (and dropped) before closing.
const LINGER: Duration = Duration::from_millis(500);
/// The longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// The page may load its own files and wasm, and talk to any registry (that is its job).
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                   connect-src *; img-src 'self' data:; style-src 'self'; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

pub fn run(args: WebArgs) -> Result<(), CliError> {
    if !web_assets::built() {
        return Err(CliError::WebNotBuilt(format!(
            "this tug binary was built without the web page ({} had no index.html): run \
             scripts/build-web.sh, then rebuild tug (cargo build -p tug)",
            web_assets::dist_dir()
        )));
    }
    let listener = TcpListener::bind(args.listen)
        .map_err(|e| CliError::Serve(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Serve(format!("cannot read the bound address: {e}")))?;
    crate::output::out(page_url(addr));
    errln!(
        "tug web: serving the page at {} (Ctrl-C stops)",
        page_url(addr)
    );
    std::thread::spawn(|| {
        smol::block_on(crate::interrupt::interrupted());
        std::process::exit(crate::interrupt::exit_code());
    });
    serve(listener, web_assets::get)
}

/// `http://ADDR:PORT/`, with IPv6 addresses in brackets and the unspecified address shown as
/// loopback (a browser cannot open `0.0.0.0`).
fn page_url(addr: SocketAddr) -> String {
    let ip = addr.ip();
    let shown = if ip.is_unspecified() {
        match addr {
            SocketAddr::V4(_) => "127.0.0.1".to_owned(),
            SocketAddr::V6(_) => "[::1]".to_owned(),
        }
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{shown}:{}/", addr.port())
}

type Lookup = fn(&str) -> Option<&'static Asset>;

/// Accepts connections until the listener fails.
fn serve(listener: TcpListener, lookup: Lookup) -> Result<(), CliError> {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            // A connection that died before being accepted, or out of file descriptors for
            // a moment: keep serving.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = write_response(&mut stream, &Response::status(503), false, false);
            continue;
        }
        let active = Arc::clone(&active);
        std::thread::spawn(move || {
            handle_connection(stream, lookup);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

fn handle_connection(stream: TcpStream, lookup: Lookup) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(Deadlined {
        stream,
        deadline: Instant::now(),
    });
    loop {
        reader.get_mut().deadline = Instant::now() + HEAD_DEADLINE;
        let request = match read_head(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(status) => {
                let _ = write_response(&mut writer, &Response::status(status), false, false);
                linger(&mut reader);
                return;
            }
        };
        let (response, keep_alive) = respond(&request, lookup);
        let head_only = request.method == "HEAD";
        if write_response(&mut writer, &response, head_only, keep_alive).is_err() {
            return;
        }
        if !keep_alive {
            linger(&mut reader);
            return;
        }
    }
}

/// Reads a connection until a deadline: each read waits only for what is left of it.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Reads (and drops) what the client still sends for a moment ([`LINGER`] in all) before
/// closing, so that closing with unread bytes does not reset the connection before the
/// client has read the response.
fn linger(reader: &mut BufReader<Deadlined>) {
    let _ = reader.get_ref().stream.shutdown(std::net::Shutdown::Write);
    reader.get_mut().deadline = Instant::now() + LINGER;
    let _ = io::copy(&mut reader.by_ref().take(1 << 20), &mut io::sink());
}

/// The parts of a request head the server looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    target: String,
    http10: bool,
    close: bool,
    has_body: bool,
}

/// Reads one request head. `Ok(None)`: the client closed the connection (or went idle)
/// between requests. `Err(status)`: a malformed head, answered with that status.
fn read_head(reader: &mut impl BufRead) -> Result<Option<Request>, u16> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = match reader
            .by_ref()
            .take((MAX_HEAD + 1 - total) as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(_) if lines.is_empty() => return Ok(None),
            Err(_) => return Err(408),
        };
        if n == 0 {
            return if lines.is_empty() { Ok(None) } else { Err(400) };
        }
        total += n;
        if total > MAX_HEAD {
            return Err(431);
        }
        if !line.ends_with(b"\n") {
            return Err(400);
        }
        let text = String::from_utf8(line).map_err(|_| 400u16)?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                continue; // tolerated blank lines before a request
            }
            break;
        }
        lines.push(text.to_owned());
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(505),
    };
    let mut close = http10;
    let mut has_body = false;
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            return Err(400);
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" => {
                for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                    match token.as_str() {
                        "close" => close = true,
                        "keep-alive" if http10 => close = false,
                        _ => {}
                    }
                }
            }
            "content-length" => has_body |= value != "0",
            "transfer-encoding" => has_body = true,
            _ => {}
        }
    }
    Ok(Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        http10,
        close,
        has_body,
    }))
}

/// What to send back.
#[derive(Debug)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: &'static [u8],
    allow: bool,
}

impl Response {
    fn status(status: u16) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: match status {
                400 => b"bad request\n",
                404 => b"not found\n",
                405 => b"method not allowed\n",
                408 => b"request timeout\n",
                431 => b"request header fields too large\n",
                503 => b"too many connections\n",
                505 => b"HTTP version not supported\n",
                _ => b"\n",
            },
            allow: status == 405,
        }
    }
}

/// The response to a request, and whether the connection stays open after it.
fn respond(request: &Request, lookup: Lookup) -> (Response, bool) {
    let keep_alive = !request.close;
    if request.method != "GET" && request.method != "HEAD" {
        // The body (if any) is not read: close rather than parse it as the next request.
        return (Response::status(405), false);
    }
    if request.has_body {
        return (Response::status(400), false);
    }
    let Some(path) = asset_path(&request.target) else {
        return (Response::status(404), keep_alive);
    };
    match lookup(&path) {
        Some(asset) => (
            Response {
                status: 200,
                content_type: web_assets::content_type(asset.path),
                body: asset.bytes,
                allow: false,
            },
            keep_alive,
        ),
        None => (Response::status(404), keep_alive),
    }
}

/// The embedded file a request target names: the path without query or fragment,
/// percent-decoded, `index.html` for a directory. `None` for anything that is not a plain
/// relative path (`..`, `.`, empty segments, backslashes, NUL, bad escapes).
fn asset_path(target: &str) -> Option<String> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_prefix('/')?;
    let decoded = percent_decode(path)?;
    let mut segments: Vec<&str> = decoded.split('/').collect();
    if segments.last() == Some(&"") {
        segments.pop();
        segments.push("index.html");
    }
    for s in &segments {
        if s.is_empty() || *s == "." || *s == ".." || s.contains(['\\', '\0']) {
            return None;
        }
    }
    Some(segments.join("/"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn write_response(
    out: &mut impl Write,
    response: &Response,
    head_only: bool,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nContent-Security-Policy: {CSP}\r\n\
         Connection: {}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    );
    if response.allow {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if !head_only {
        out.write_all(response.body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    static FAKE: &[Asset] = &[
        Asset {
            path: "index.html",
            bytes: b"<!doctype html><title>tug</title>",
        },
        Asset {
            path: "pkg/tug_wasm_bg.wasm",
            bytes: b"\0asm\x01\0\0\0",
        },
        Asset {
            path: "app.js",
            bytes: b"export {};",
        },
    ];

    fn fake(path: &str) -> Option<&'static Asset> {
        FAKE.iter().find(|a| a.path == path)
    }

    fn start() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(listener, fake));
        addr
    }

    /// Sends raw bytes, reads until the server closes, returns the text.
    fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn paths_map_to_assets_and_never_escape() {
        assert_eq!(asset_path("/").as_deref(), Some("index.html"));
        assert_eq!(asset_path("/?x=1").as_deref(), Some("index.html"));
        assert_eq!(asset_path("/pkg/a.js#f").as_deref(), Some("pkg/a.js"));
        assert_eq!(asset_path("/pkg/").as_deref(), Some("pkg/index.html"));
        assert_eq!(asset_path("/a%20b.js").as_deref(), Some("a b.js"));
        for bad in [
            "/../etc/passwd",
            "/pkg/../index.html",
            "/%2e%2e/x",
            "/./index.html",
            "//index.html",
            "/a\\b",
            "/a%00b",
            "/%zz",
            "/%e2",
            "index.html",
            "http://host/index.html",
        ] {
            assert_eq!(asset_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        use web_assets::content_type;
        assert_eq!(content_type("pkg/tug_wasm_bg.wasm"), "application/wasm");
        assert_eq!(
            content_type("pkg/tug_wasm.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn serves_files_with_their_types_over_keep_alive() {
        let addr = start();
        let text = exchange(
            addr,
            "GET /pkg/tug_wasm_bg.wasm HTTP/1.1\r\nHost: x\r\n\r\n\
             HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /app.js?v=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let responses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(responses.len(), 3, "{text}");
        assert!(responses[0].starts_with("200 OK"), "{text}");
        assert!(responses[0].contains("Content-Type: application/wasm\r\n"));
        assert!(responses[0].contains("Content-Length: 8\r\n"));
        assert!(responses[0].ends_with("\0asm\x01\0\0\0"));
        assert!(responses[1].contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(responses[1].contains("Content-Length: 33\r\n"), "{text}");
        assert!(
            responses[1].ends_with("\r\n\r\n"),
            "HEAD has no body: {text}"
        );
        assert!(responses[2].contains("Connection: close\r\n"));
        assert!(responses[2].ends_with("export {};"));
        assert!(responses[0].contains("Content-Security-Policy: default-src 'self'"));
    }

    #[test]
    fn refuses_other_methods_missing_files_and_traversal() {
        let addr = start();
        let post = exchange(
            addr,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
        for target in ["/missing.js", "/../Cargo.toml", "/%2e%2e/%2e%2e/etc/passwd"] {
            let text = exchange(
                addr,
                &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            );
            assert!(text.starts_with("HTTP/1.1 404 "), "{target}: {text}");
        }
        let garbage = exchange(addr, "NONSENSE\r\n\r\n");
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let old = exchange(addr, "GET / HTTP/1.0\r\n\r\n");
        assert!(old.starts_with("HTTP/1.1 200 ") && old.contains("Connection: close"));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(exchange(addr, &huge).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn clients_trickling_their_heads_lose_their_slots_at_the_deadline() {
        let addr = start();
        let get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        // More connections than there are slots, each sending its head a byte at a time
        // and never finishing it.
        let mut slow: Vec<TcpStream> = (0..MAX_CONNECTIONS + 4)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
                s
            })
            .collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let trickle = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for s in &mut slow {
                        let _ = s.write_all(b"a");
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        // Every slot is taken: a new client is turned away...
        let refused = exchange(addr, get);
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
        // ...until the deadline frees the slots, though the bytes keep trickling.
        let started = Instant::now();
        loop {
            let text = exchange(addr, get);
            if text.starts_with("HTTP/1.1 200 ") {
                break;
            }
            assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
            let waited = started.elapsed();
            assert!(
                waited < HEAD_DEADLINE * 3,
                "still refused {waited:?} after the slots filled"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        trickle.join().unwrap();
    }

    #[test]
    fn urls_name_loopback_for_unspecified_addresses() {
        assert_eq!(
            page_url("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            page_url("0.0.0.0:1".parse().unwrap()),
            "http://127.0.0.1:1/"
        );
        assert_eq!(page_url("[::1]:9".parse().unwrap()), "http://[::1]:9/");
        assert_eq!(page_url("[::]:9".parse().unwrap()), "http://[::1]:9/");
    }
}
