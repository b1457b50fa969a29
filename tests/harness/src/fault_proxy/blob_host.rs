//! A stand-in for the blob storage a registry redirects to (S3, GCS, a CDN): a tiny HTTP
//! server on another loopback port that serves a registry's blobs straight from its storage
//! directory and records every request, so a test can check what the client sent there
//! (above all, that no `Authorization` header leaked to it).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::http::{read_head, reason, Head};
use super::lock;
use crate::Registry;

/// One request the blob host received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHostRequest {
    /// Request method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Request headers as received.
    pub headers: Vec<(String, String)>,
    /// The status it got.
    pub status: u16,
}

impl BlobHostRequest {
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
}

#[derive(Debug)]
struct HostShared {
    /// `<storage>/docker/registry/v2/blobs/sha256`.
    blobs: PathBuf,
    log: Mutex<Vec<BlobHostRequest>>,
    stop: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

/// Serves `GET`/`HEAD .../sha256:<hex>` (any path ending in a digest) from a registry's
/// storage, with `Range: bytes=N-[M]` support; everything else is 404. On
/// `127.0.0.1:<ephemeral>`; stops on drop. Use its [`BlobHost::url`] as the base of a
/// [`Fault::RedirectTo`](super::Fault::RedirectTo).
#[derive(Debug)]
pub struct BlobHost {
    addr: SocketAddr,
    shared: Arc<HostShared>,
    accept: Option<JoinHandle<()>>,
}

impl BlobHost {
    /// A blob host serving what `registry` stores.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn serving(registry: &Registry) -> BlobHost {
        let blobs = registry
            .storage_dir()
            .join("docker/registry/v2/blobs/sha256");
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 for BlobHost");
        let addr = listener.local_addr().expect("blob host address");
        let shared = Arc::new(HostShared {
            blobs,
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
        });
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name("blob-host-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        lock(&accept_shared.streams).push(clone);
                    }
                    let conn_shared = accept_shared.clone();
                    let _ = thread::Builder::new()
                        .name("blob-host-conn".into())
                        .spawn(move || serve(&conn_shared, stream));
                }
            })
            .expect("spawn blob host thread");
        BlobHost {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<BlobHostRequest> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for BlobHost {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.shared.streams).iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(shared: &HostShared, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(head)) = read_head(&mut reader) {
        if shared.stop.load(Ordering::SeqCst) || answer(shared, &head, &mut writer).is_err() {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn answer(shared: &HostShared, head: &Head, writer: &mut TcpStream) -> io::Result<()> {
    let (method, target) = head.method_and_target().unwrap_or(("", ""));
    let path = target.split('?').next().unwrap_or("");
    let hex = path
        .rsplit('/')
        .next()
        .and_then(|s| s.strip_prefix("sha256:"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let file = hex
        .as_ref()
        .filter(|_| method == "GET" || method == "HEAD")
        .and_then(|h| File::open(shared.blobs.join(&h[..2]).join(h).join("data")).ok());
    let mut record = BlobHostRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: head.headers.clone(),
        status: 404,
    };
    let Some(mut file) = file else {
        lock(&shared.log).push(record);
        let body = b"no such blob";
        let resp = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(resp.as_bytes())?;
        return writer.write_all(body);
    };
    let size = file.metadata()?.len();
    let range = head.get("range").and_then(|r| parse_range(r, size));
    let (status, start, end) = match range {
        Some((s, e)) => (206, s, e),
        None => (200, 0, size),
    };
    record.status = status;
    lock(&shared.log).push(record);
    let mut resp = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
        reason(status),
        end - start
    );
    if status == 206 {
        resp.push_str(&format!(
            "Content-Range: bytes {start}-{}/{size}\r\n",
            end.saturating_sub(1)
        ));
    }
    resp.push_str("\r\n");
    writer.write_all(resp.as_bytes())?;
    if method == "GET" {
        file.seek(SeekFrom::Start(start))?;
        io::copy(&mut file.take(end - start), writer)?;
    }
    writer.flush()
}

/// `bytes=N-` or `bytes=N-M` within a `size`-byte blob → `[start, end)`.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        last => last.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=10-", 100), Some((10, 100)));
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=0-999", 100), Some((0, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("items=1-", 100), None);
    }
}
