//! The fault proxy forwards faithfully to a real registry, applies each fault where its rule
//! says, counts the bytes it forwards, and stops promptly on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tug_testkit::hashing::sha256_digest;
use tug_testkit::{BlobHost, CapReply, Fault, FaultProxy, RangeRewrite, Registry, Rule};

/// An HTTP response read off a raw connection.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 client on one raw connection.
struct Conn {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(host: &str) -> Conn {
        let stream = TcpStream::connect(host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Conn {
            host: host.to_owned(),
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Sends a request with a `Content-Length` body (or a chunked one) and reads the answer.
    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        chunked: bool,
    ) -> std::io::Result<Resp> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if chunked {
            req.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
            req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        } else {
            req.push_str("\r\n");
        }
        let mut bytes = req.into_bytes();
        if chunked {
            for part in body.chunks(700) {
                bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                bytes.extend_from_slice(part);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            bytes.extend_from_slice(body);
        }
        self.writer.write_all(&bytes)?;
        self.read(method)
    }

    fn read(&mut self, method: &str) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':').unwrap();
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if method != "HEAD" && status != 204 {
            if let Some(n) = resp.header("content-length") {
                let mut body = vec![0; n.parse().unwrap()];
                self.reader.read_exact(&mut body)?;
                resp.body = body;
            }
        }
        Ok(resp)
    }
}

fn path_of(location: &str, host: &str) -> String {
    let prefix = format!("http://{host}");
    assert!(
        location.starts_with(&prefix),
        "Location {location:?} does not point at {host}"
    );
    location[prefix.len()..].to_owned()
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Uploads `blob` in two PATCHes (the first chunked) through the proxy on one connection.
fn upload(conn: &mut Conn, host: &str, repo: &str, blob: &[u8]) -> Resp {
    let open = conn
        .send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            b"",
            false,
        )
        .unwrap();
    assert_eq!(open.status, 202, "{open:?}");
    let mut loc = path_of(open.header("location").unwrap(), host);
    let half = blob.len() / 2;
    let p1 = conn.send("PATCH", &loc, &[], &blob[..half], true).unwrap();
    assert_eq!(p1.status, 202, "{p1:?}");
    assert_eq!(p1.header("range"), Some(format!("0-{}", half - 1).as_str()));
    loc = path_of(p1.header("location").unwrap(), host);
    let p2 = conn
        .send(
            "PATCH",
            &loc,
            &[("Content-Range", &format!("{half}-{}", blob.len() - 1))],
            &blob[half..],
            false,
        )
        .unwrap();
    assert_eq!(p2.status, 202, "{p2:?}");
    loc = path_of(p2.header("location").unwrap(), host);
    let sep = if loc.contains('?') { '&' } else { '?' };
    conn.send(
        "PUT",
        &format!("{loc}{sep}digest={}", sha256_digest(blob)),
        &[],
        b"",
        false,
    )
    .unwrap()
}

#[test]
fn forwards_uploads_and_downloads_and_counts_the_bytes() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let blob = data(300_000, 1);
    let digest = sha256_digest(&blob);
    let mut conn = Conn::open(&proxy.host());
    let put = upload(&mut conn, &proxy.host(), "proxy/fwd", &blob);
    assert_eq!(put.status, 201, "{put:?}");
    assert_eq!(proxy.request_body_bytes(), 300_000);

    // Same keep-alive connection: HEAD then GET.
    let path = format!("/v2/proxy/fwd/blobs/{digest}");
    let head = conn.send("HEAD", &path, &[], b"", false).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("300000"));
    let get = conn.send("GET", &path, &[], b"", false).unwrap();
    assert_eq!(get.status, 200);
    assert!(get.body == blob, "the blob comes back intact");
    assert_eq!(proxy.response_body_bytes(), 300_000);
    assert_eq!(proxy.response_body_bytes_from("/blobs/sha256:"), 300_000);

    let log = proxy.requests();
    let methods: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PATCH", "PUT", "HEAD", "GET"]);
    assert!(log.iter().all(|r| r.fault.is_none()));
    assert_eq!(log[1].request_body_forwarded, 150_000);
    assert_eq!(log[1].upstream_range.as_deref(), Some("0-149999"));
    assert_eq!(log[3].status, Some(201));
    assert!(registry.log().contains("proxy/fwd"));
}

#[test]
fn answers_statuses_without_forwarding_on_the_nth_match() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let head_rule = proxy.add_rule(Rule::new("HEAD", "/blobs/", Fault::status(503)).nth(2));
    let post_rule = proxy.inject("POST", "/blobs/uploads/", Fault::too_many_requests(Some(7)));
    let mut conn = Conn::open(&proxy.host());
    let blob_path = format!("/v2/p/s/blobs/{}", sha256_digest(b"x"));
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            conn.send("HEAD", &blob_path, &[], b"", false)
                .unwrap()
                .status
        })
        .collect();
    assert_eq!(statuses, [404, 503, 404]);
    assert_eq!((proxy.hits(head_rule), proxy.matched(head_rule)), (1, 3));

    let limited = conn
        .send("POST", "/v2/p/s/blobs/uploads/", &[], b"", false)
        .unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert!(String::from_utf8_lossy(&limited.body).contains("TOOMANYREQUESTS"));
    assert_eq!(
        conn.send("POST", "/v2/p/s/blobs/uploads/", &[], b"", false)
            .unwrap()
            .status,
        202
    );
    assert_eq!(proxy.hits(post_rule), 1);
    let log = proxy.requests();
    assert_eq!(log[1].status, Some(503));
    assert_eq!(log[1].upstream_status, None, "the registry never saw it");

    // A body sent to a fault answer is read and dropped; the connection stays usable.
    proxy.inject("PATCH", "/blobs/uploads/", Fault::status(500));
    let r = conn
        .send(
            "PATCH",
            "/v2/p/s/blobs/uploads/x",
            &[],
            &data(5000, 2),
            false,
        )
        .unwrap();
    assert_eq!(r.status, 500);
    let again = conn.send("HEAD", &blob_path, &[], b"", false).unwrap();
    assert_eq!(again.status, 404);
    let patch = &proxy.requests_matching("PATCH", "")[0];
    assert_eq!(
        (patch.request_body_discarded, patch.request_body_forwarded),
        (5000, 0)
    );
    assert_eq!(proxy.request_body_bytes(), 0);
}

#[test]
fn drops_connections_after_so_many_body_bytes() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.inject(
        "PATCH",
        "/blobs/uploads/",
        Fault::DropRequestBody { after: 100_000 },
    );
    let mut conn = Conn::open(&proxy.host());
    let open = conn
        .send("POST", "/v2/d/r/blobs/uploads/", &[], b"", false)
        .unwrap();
    let loc = path_of(open.header("location").unwrap(), &proxy.host());
    let err = conn.send("PATCH", &loc, &[], &data(400_000, 3), false);
    assert!(err.is_err(), "the connection must break: {err:?}");
    let patch = &proxy.requests_matching("PATCH", "")[0];
    assert_eq!(patch.request_body_forwarded, 100_000);
    assert_eq!(patch.status, None);
    assert_eq!(proxy.request_body_bytes(), 100_000);

    // A full blob, then a download cut after 1000 bytes.
    let blob = data(50_000, 4);
    let mut conn = Conn::open(&proxy.host());
    assert_eq!(upload(&mut conn, &proxy.host(), "d/r", &blob).status, 201);
    proxy.inject(
        "GET",
        "/blobs/sha256:",
        Fault::DropResponseBody { after: 1000 },
    );
    let path = format!("/v2/d/r/blobs/{}", sha256_digest(&blob));
    let mut stream = TcpStream::connect(proxy.host()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
        proxy.host()
    )
    .unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("Content-Length: 50000"), "{text}");
    let body_at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len() - body_at, 1000);
    assert_eq!(
        proxy.requests_matching("GET", "/blobs/")[0].response_body_forwarded,
        1000
    );

    // Reset on a bodiless request: nothing forwarded, no answer.
    proxy.inject("POST", "/blobs/uploads/", Fault::Reset);
    let mut conn = Conn::open(&proxy.host());
    assert!(conn
        .send("POST", "/v2/d/r/blobs/uploads/", &[], b"", false)
        .is_err());
}

#[test]
fn lost_responses_reach_the_registry() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.inject("POST", "/blobs/uploads/", Fault::LoseResponse);
    let mut conn = Conn::open(&proxy.host());
    assert!(conn
        .send("POST", "/v2/l/r/blobs/uploads/", &[], b"", false)
        .is_err());
    let post = &proxy.requests()[0];
    assert_eq!((post.upstream_status, post.status), (Some(202), None));
}

#[test]
fn rewrites_range_reports_stale_or_shifted() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let shift = proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::RewriteRange(RangeRewrite::Shift(1)),
        )
        .nth(1),
    );
    let stale = proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::RewriteRange(RangeRewrite::Stale),
        )
        .nth(2),
    );
    let mut conn = Conn::open(&proxy.host());
    let open = conn
        .send("POST", "/v2/r/r/blobs/uploads/", &[], b"", false)
        .unwrap();
    let mut loc = path_of(open.header("location").unwrap(), &proxy.host());
    let p1 = conn
        .send("PATCH", &loc, &[], &data(1000, 5), false)
        .unwrap();
    assert_eq!(p1.header("range"), Some("0-1000"), "shifted by one");
    loc = path_of(p1.header("location").unwrap(), &proxy.host());
    let p2 = conn
        .send(
            "PATCH",
            &loc,
            &[("Content-Range", "1000-1999")],
            &data(1000, 6),
            false,
        )
        .unwrap();
    assert_eq!(p2.header("range"), Some("0-999"), "the earlier report");
    loc = path_of(p2.header("location").unwrap(), &proxy.host());
    let status = conn.send("GET", &loc, &[], b"", false).unwrap();
    assert_eq!(
        (status.status, status.header("range")),
        (204, Some("0-1999"))
    );
    assert_eq!((proxy.hits(shift), proxy.hits(stale)), (1, 1));
    let log = proxy.requests_matching("PATCH", "");
    assert_eq!(log[1].upstream_range.as_deref(), Some("0-1999"));
    assert_eq!(log[1].range.as_deref(), Some("0-999"));
}

#[test]
fn caps_request_bodies_like_a_front_proxy() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.add_rule(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::BodyCap {
                max: 10_000,
                reply: CapReply::Status(413),
            },
        )
        .always(),
    );
    let mut conn = Conn::open(&proxy.host());
    let open = conn
        .send("POST", "/v2/c/r/blobs/uploads/", &[], b"", false)
        .unwrap();
    let loc = path_of(open.header("location").unwrap(), &proxy.host());
    let big = conn
        .send("PATCH", &loc, &[], &data(20_000, 7), false)
        .unwrap();
    assert_eq!(big.status, 413);
    assert_eq!(big.header("connection"), Some("close"));
    let mut conn = Conn::open(&proxy.host());
    let small = conn
        .send("PATCH", &loc, &[], &data(9_000, 8), false)
        .unwrap();
    assert_eq!(small.status, 202);
    assert_eq!(proxy.request_body_bytes(), 9_000);

    proxy.clear_rules();
    proxy.add_rule(
        Rule::new(
            "PUT",
            "/blobs/uploads/",
            Fault::BodyCap {
                max: 10_000,
                reply: CapReply::Reset,
            },
        )
        .always(),
    );
    assert!(conn
        .send("PUT", &loc, &[], &data(20_000, 9), false)
        .is_err());
}

#[test]
fn stalls_are_bounded_and_end_when_the_proxy_stops() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.inject(
        "GET",
        "/v2/",
        Fault::Stall {
            hold: Duration::from_secs(60),
        },
    );
    let mut stream = TcpStream::connect(proxy.host()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    write!(stream, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 16];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    let started = Instant::now();
    drop(proxy);
    assert!(started.elapsed() < Duration::from_secs(5));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The stalled connection is gone now (reset or closed), not answered.
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn redirects_blob_gets_to_a_blob_host_after_the_registry_said_yes() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let storage = BlobHost::serving(&registry);
    let blob = data(70_000, 10);
    let digest = sha256_digest(&blob);
    let mut conn = Conn::open(&proxy.host());
    assert_eq!(upload(&mut conn, &proxy.host(), "x/y", &blob).status, 201);
    proxy.add_rule(
        Rule::new(
            "GET",
            "/blobs/sha256:",
            Fault::RedirectTo {
                base: storage.url(),
            },
        )
        .always(),
    );
    let missing = conn
        .send(
            "GET",
            &format!("/v2/x/y/blobs/{}", sha256_digest(b"nope")),
            &[],
            b"",
            false,
        )
        .unwrap();
    assert_eq!(missing.status, 404, "only a 200 or 206 is redirected");
    let redirect = conn
        .send(
            "GET",
            &format!("/v2/x/y/blobs/{digest}"),
            &[("Authorization", "Bearer secret")],
            b"",
            false,
        )
        .unwrap();
    assert_eq!(redirect.status, 307);
    let ranged = conn
        .send(
            "GET",
            &format!("/v2/x/y/blobs/{digest}"),
            &[("Range", "bytes=10-"), ("Authorization", "Bearer secret")],
            b"",
            false,
        )
        .unwrap();
    assert_eq!(ranged.status, 307, "a 206 is redirected too");
    let location = redirect.header("location").unwrap();
    assert!(location.starts_with(&format!("{}/blobs/{digest}?", storage.url())));

    let mut s = Conn::open(&storage.host());
    let target = &location[storage.url().len()..];
    let full = s.send("GET", target, &[], b"", false).unwrap();
    assert_eq!(full.status, 200);
    assert!(full.body == blob);
    let part = s
        .send("GET", target, &[("Range", "bytes=69000-")], b"", false)
        .unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some("bytes 69000-69999/70000")
    );
    assert!(part.body == blob[69_000..]);
    let seen = storage.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| !r.has_authorization()));
    assert!(proxy
        .requests_matching("GET", &digest)
        .iter()
        .all(|r| r.has_authorization()));
}

#[test]
fn a_buffering_proxy_keeps_a_broken_off_body_from_the_registry() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.buffer_request_bodies(true);
    let host = proxy.host();
    let blob = data(200_000, 7);
    let half = blob.len() / 2;
    let mut conn = Conn::open(&host);
    let open = conn
        .send("POST", "/v2/proxy/buf/blobs/uploads/", &[], b"", false)
        .unwrap();
    assert_eq!(open.status, 202, "{open:?}");
    let loc = path_of(open.header("location").unwrap(), &host);
    let first = conn
        .send(
            "PATCH",
            &loc,
            &[("Content-Range", &format!("0-{}", half - 1))],
            &blob[..half],
            false,
        )
        .unwrap();
    assert_eq!(first.status, 202, "{first:?}");
    let loc = path_of(first.header("location").unwrap(), &host);

    // A client killed in the middle of the second PATCH's body.
    let mut broken = TcpStream::connect(&host).unwrap();
    write!(
        broken,
        "PATCH {loc} HTTP/1.1\r\nHost: {host}\r\nContent-Range: {half}-{}\r\nContent-Length: {}\r\n\r\n",
        blob.len() - 1,
        blob.len() - half
    )
    .unwrap();
    broken.write_all(&blob[half..half + 30_000]).unwrap();
    drop(broken);
    assert!(proxy.wait_for(Duration::from_secs(10), |log| {
        log.len() == 3 && log[2].request_body_discarded == 30_000
    }));
    assert_eq!(
        proxy.request_body_bytes(),
        half as u64,
        "the registry got nothing of it"
    );

    // The session is still where the last complete request left it.
    let status = conn.send("GET", &loc, &[], b"", false).unwrap();
    assert_eq!(status.status, 204, "{status:?}");
    assert_eq!(
        status.header("range"),
        Some(format!("0-{}", half - 1).as_str())
    );
    let rest = conn
        .send(
            "PATCH",
            &path_of(status.header("location").unwrap(), &host),
            &[("Content-Range", &format!("{half}-{}", blob.len() - 1))],
            &blob[half..],
            false,
        )
        .unwrap();
    assert_eq!(rest.status, 202, "{rest:?}");
    let loc = path_of(rest.header("location").unwrap(), &host);
    let sep = if loc.contains('?') { '&' } else { '?' };
    let put = conn
        .send(
            "PUT",
            &format!("{loc}{sep}digest={}", sha256_digest(&blob)),
            &[],
            b"",
            false,
        )
        .unwrap();
    assert_eq!(put.status, 201, "{put:?}");
    assert_eq!(proxy.request_body_bytes(), blob.len() as u64);
}

#[test]
fn a_shaped_proxy_passes_bodies_intact_through_its_buckets_and_delays_each_request() {
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    assert_eq!(proxy.shaping(), None);
    proxy.shape(4_000_000, Duration::from_millis(5));
    assert_eq!(
        proxy.shaping(),
        Some(tug_testkit::Shaping {
            bytes_per_sec: 4_000_000,
            latency: Duration::from_millis(5)
        })
    );
    let blob = data(200_000, 7);
    let digest = sha256_digest(&blob);
    let mut conn = Conn::open(&proxy.host());
    let put = upload(&mut conn, &proxy.host(), "proxy/shaped", &blob);
    assert_eq!(put.status, 201, "{put:?}");
    let path = format!("/v2/proxy/shaped/blobs/{digest}");
    let get = conn.send("GET", &path, &[], b"", false).unwrap();
    assert_eq!(get.status, 200);
    assert!(get.body == blob, "the blob comes back intact");
    // Every body byte, up and down, went through the buckets; every request waited.
    assert_eq!(proxy.request_body_bytes(), 200_000);
    assert_eq!(proxy.response_body_bytes(), 200_000);
    assert_eq!(proxy.shaped_bytes(), 400_000);
    assert_eq!(proxy.delayed_requests(), 5); // POST, PATCH, PATCH, PUT, GET

    // Faults still apply on a shaped link; the proxy's own answers are not delayed.
    proxy.inject("HEAD", "/blobs/", Fault::status(503));
    let head = conn.send("HEAD", &path, &[], b"", false).unwrap();
    assert_eq!(head.status, 503);
    assert_eq!(proxy.delayed_requests(), 5);

    proxy.unshape();
    assert_eq!(proxy.shaping(), None);
    let again = conn.send("GET", &path, &[], b"", false).unwrap();
    assert!(again.body == blob);
    assert_eq!(proxy.shaped_bytes(), 400_000);
    assert_eq!(proxy.delayed_requests(), 5);
}
