//! Sending one request exactly as the core describes it, with reqwest, on its own task;
//! what happens comes back as [`Message`]s. No redirects, no auth, no status handling:
//! the core reads every response.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Body as HttpBody;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc::Sender;
use tokio::task::AbortHandle;
use tokio::time::Instant as Clock;
use tug_core::http::TransportErrorKind as Kind;
use tug_core::http::{Body, Request, RequestId, ResponseHead, TransportError};

/// What happened to a request, in order: `Sent` bytes of its body, then `Head`, `Chunk`s,
/// `End` — or `Failed` at any point.
pub enum Message {
    Sent(RequestId, bytes::Bytes),
    Head(RequestId, ResponseHead),
    Chunk(RequestId, bytes::Bytes),
    End(RequestId),
    Failed(RequestId, TransportError),
}

/// The HTTP client, and the file each blob of a push plan is read from.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    blob_files: Arc<Vec<PathBuf>>,
}

impl Transport {
    /// A client trusting the system's roots and `ca` (a PEM file), if given.
    pub fn new(ca: Option<&Path>, blob_files: Vec<PathBuf>) -> anyhow::Result<Transport> {
        // reqwest is built without a crypto provider of its own: use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
            builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?);
        }
        Ok(Transport {
            client: builder.build()?,
            blob_files: Arc::new(blob_files),
        })
    }

    /// Sends `req` on a task of its own; a stall longer than its deadline fails it.
    pub fn spawn(&self, req: Request, tx: Sender<Message>) -> AbortHandle {
        let this = self.clone();
        tokio::spawn(async move {
            let (id, deadlines) = (req.id, req.deadlines);
            let activity = Activity::new();
            let outcome = tokio::select! {
                outcome = this.perform(req, &tx, &activity) => outcome,
                () = activity.stalled(deadlines.stall) => Err(failure(Kind::Timeout, "no byte moved")),
                () = sleep_or_never(deadlines.head) => Err(failure(Kind::Timeout, "no response")),
            };
            if let Err(error) = outcome {
                let _ = tx.send(Message::Failed(id, error)).await;
            }
        })
        .abort_handle()
    }

    async fn perform(
        &self,
        req: Request,
        tx: &Sender<Message>,
        activity: &Activity,
    ) -> Result<(), TransportError> {
        let id = req.id;
        let body = match req.body {
            Body::Empty => None,
            Body::Bytes(bytes) => Some(HttpBody::from(bytes)),
            Body::BlobRange { blob, start, end } => Some(
                self.file_body(id, blob, start, end - start, tx.clone(), activity.clone())
                    .await?,
            ),
            Body::BlobStream { .. } => {
                return Err(failure(Kind::Other, "this example has no streamed blobs"))
            }
        };
        let mut request = self
            .client
            .request(req.method, req.url)
            .headers(req.headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| match activity.source_failed() {
                true => failure(Kind::Source, &format!("blob file: {}", chain(&e))),
                false => classify(e),
            })?;
        activity.touch();
        let head = ResponseHead {
            status: response.status(),
            headers: std::mem::take(response.headers_mut()),
        };
        // A closed channel: the operation finished; nothing is waiting any more.
        if tx.send(Message::Head(id, head)).await.is_err() {
            return Ok(());
        }
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            activity.touch();
            if tx.send(Message::Chunk(id, chunk)).await.is_err() {
                return Ok(());
            }
        }
        let _ = tx.send(Message::End(id)).await;
        Ok(())
    }

    /// Bytes `start..start + len` of blob `blob`'s file, each piece reported as sent when
    /// the connection takes it.
    async fn file_body(
        &self,
        id: RequestId,
        blob: usize,
        start: u64,
        len: u64,
        tx: Sender<Message>,
        activity: Activity,
    ) -> Result<HttpBody, TransportError> {
        let source = |e: std::io::Error| failure(Kind::Source, &format!("blob {blob}: {e}"));
        let path = self
            .blob_files
            .get(blob)
            .ok_or_else(|| failure(Kind::Source, &format!("the plan has no blob {blob}")))?;
        let mut file = tokio::fs::File::open(path).await.map_err(source)?;
        file.seek(SeekFrom::Start(start)).await.map_err(source)?;
        let pieces = tokio_util::io::ReaderStream::with_capacity(file.take(len), 128 * 1024);
        // A file shorter than the plan says fails the body, never sends it short.
        let sent = Arc::new(AtomicU64::new(0));
        let whole = futures_util::stream::once({
            let sent = sent.clone();
            async move {
                match len - sent.load(Ordering::Relaxed) {
                    0 => Ok(bytes::Bytes::new()),
                    left => Err(std::io::Error::other(format!(
                        "file ended {left} bytes early"
                    ))),
                }
            }
        });
        let reported = pieces.chain(whole).then(move |piece| {
            let (tx, activity, sent) = (tx.clone(), activity.clone(), sent.clone());
            async move {
                match &piece {
                    Ok(bytes) if !bytes.is_empty() => {
                        sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        activity.touch();
                        let _ = tx.send(Message::Sent(id, bytes.clone())).await;
                    }
                    Ok(_) => {}
                    Err(_) => activity.source_failed.store(true, Ordering::Relaxed),
                }
                piece
            }
        });
        Ok(HttpBody::wrap_stream(reported))
    }
}

/// What a request's task saw: when a byte last moved either way (for the core's stall
/// deadline), and whether its body's file failed.
#[derive(Clone)]
struct Activity {
    origin: Clock,
    last_ms: Arc<AtomicU64>,
    source_failed: Arc<AtomicBool>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Clock::now(),
            last_ms: Arc::default(),
            source_failed: Arc::default(),
        }
    }

    fn source_failed(&self) -> bool {
        self.source_failed.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Returns once nothing moved for `stall` (never, without a deadline).
    async fn stalled(&self, stall: Option<Duration>) {
        let Some(stall) = stall else {
            return std::future::pending().await;
        };
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let due = self.origin + last + stall;
            if Clock::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

async fn sleep_or_never(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

fn failure(kind: Kind, message: &str) -> TransportError {
    TransportError {
        kind,
        message: message.to_owned(),
    }
}

/// What kind of failure a reqwest error is, as far as its error chain tells (the kind
/// decides retries and the plain-HTTP fallback, in the core).
fn classify(e: reqwest::Error) -> TransportError {
    let chain = chain(&e);
    let kind = if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        Kind::NotTls
    } else if chain.contains("certificate")
        || chain.contains("handshake")
        || chain.contains("alert")
    {
        Kind::Tls
    } else if e.is_timeout() {
        Kind::Timeout
    } else if e.is_connect() {
        Kind::Connect
    } else if e.is_request() || e.is_body() || e.is_decode() {
        Kind::Io
    } else {
        Kind::Other
    };
    TransportError {
        kind,
        message: chain,
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use tug_core::http::{HeaderMap, HeaderValue, Method};

    use super::*;

    /// A blob file shorter than its range (changed since the plan was made) fails the
    /// request as a source failure, which the core does not retry, after the bytes it had.
    #[tokio::test(flavor = "current_thread")]
    async fn a_short_blob_file_is_a_source_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        std::fs::write(&file, [7u8; 10]).unwrap();
        // A server that takes the connection and reads whatever comes.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v2/x/blobs/uploads/1",
            server.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let _ = conn.read_to_end(&mut Vec::new());
        });
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("100"));
        let req = Request {
            id: RequestId(3),
            method: Method::PATCH,
            url: url.parse().unwrap(),
            headers,
            body: Body::BlobRange {
                blob: 0,
                start: 0,
                end: 100,
            },
            deadlines: Default::default(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        Transport::new(None, vec![file]).unwrap().spawn(req, tx);
        match rx.recv().await {
            Some(Message::Sent(RequestId(3), bytes)) => assert_eq!(bytes.len(), 10),
            _ => panic!("expected the file's 10 bytes reported sent"),
        }
        match rx.recv().await {
            Some(Message::Failed(RequestId(3), error)) => {
                assert_eq!(error.kind, Kind::Source, "{error}");
                assert!(error.message.contains("90 bytes early"), "{error}");
            }
            _ => panic!("expected the request failed"),
        }
    }
}
