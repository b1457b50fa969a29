//! One request sent exactly as the core describes it, with reqwest, on its own task; what
//! happens comes back as [`Message`]s. No redirects, no auth, no status handling: the core
//! reads every response.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc::Sender;
use tokio::task::AbortHandle;
use tokio::time::Instant as Clock;
use tug_core::http::TransportErrorKind as Kind;
use tug_core::http::{Body, Request, RequestId, ResponseHead, TransportError};

/// Bytes read from a blob file at a time.
const PIECE: u64 = 128 * 1024;
/// Starts the message of an error reading a request body's file: a source failure.
const BLOB_FILE: &str = "blob file";

/// What happened to a request, in order: `Sent` bytes of its body, then `Head`, `Chunk`s,
/// `End` — or `Failed` at any point.
pub enum Message {
    Sent(RequestId, Bytes),
    Head(RequestId, ResponseHead),
    Chunk(RequestId, Bytes),
    End(RequestId),
    Failed(RequestId, TransportError),
}

/// When a byte of a request last moved either way (for the core's stall deadline).
type Moved = Arc<Mutex<Clock>>;

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
            let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
            builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?);
        }
        let blob_files = Arc::new(blob_files);
        Ok(Transport {
            client: builder.build()?,
            blob_files,
        })
    }

    /// Sends `req` on a task of its own; passing one of its deadlines fails it.
    pub fn spawn(&self, req: Request, tx: Sender<Message>) -> AbortHandle {
        let (this, id, deadlines) = (self.clone(), req.id, req.deadlines);
        let moved = Moved::new(Mutex::new(Clock::now()));
        tokio::spawn(async move {
            let outcome = tokio::select! {
                outcome = this.perform(req, &tx, &moved) => outcome,
                () = stalled(&moved, deadlines.stall.unwrap_or_default()), if deadlines.stall.is_some() => Err(timeout("no byte moved")),
                () = tokio::time::sleep(deadlines.head.unwrap_or_default()), if deadlines.head.is_some() => Err(timeout("no response")),
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
        moved: &Moved,
    ) -> Result<(), TransportError> {
        let id = req.id;
        let mut request = self
            .client
            .request(req.method, req.url)
            .headers(req.headers);
        match req.body {
            Body::Empty => {}
            Body::Bytes(bytes) => request = request.body(bytes),
            Body::BlobRange { blob, start, end } => {
                let body = self.file_body(id, blob, start, end, tx, moved).await;
                request = request.body(body.map_err(|e| TransportError {
                    kind: Kind::Source,
                    message: format!("{BLOB_FILE} {blob}: {e}"),
                })?);
            }
            _ => {
                return Err(TransportError {
                    kind: Kind::Other,
                    message: "a streamed blob".into(),
                })
            }
        }
        let mut response = request.send().await.map_err(classify)?;
        *moved.lock().unwrap() = Clock::now();
        let headers = std::mem::take(response.headers_mut());
        let head = ResponseHead {
            status: response.status(),
            headers,
        };
        // A failed send: the operation finished, and this task is stopped.
        let _ = tx.send(Message::Head(id, head)).await;
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            *moved.lock().unwrap() = Clock::now();
            let _ = tx.send(Message::Chunk(id, chunk)).await;
        }
        let _ = tx.send(Message::End(id)).await;
        Ok(())
    }

    /// Bytes `start..end` of blob `blob`'s file, each piece reported sent when the
    /// connection takes it; a file shorter than that fails the body, never sends it short.
    async fn file_body(
        &self,
        id: RequestId,
        blob: usize,
        start: u64,
        end: u64,
        tx: &Sender<Message>,
        moved: &Moved,
    ) -> std::io::Result<reqwest::Body> {
        let path = self.blob_files.get(blob).context("not in the plan");
        let mut file = tokio::fs::File::open(path.map_err(std::io::Error::other)?).await?;
        file.seek(SeekFrom::Start(start)).await?;
        let (tx, moved) = (tx.clone(), moved.clone());
        let pieces =
            futures_util::stream::try_unfold((file, end - start), move |(mut file, left)| {
                let (tx, moved) = (tx.clone(), moved.clone());
                async move {
                    if left == 0 {
                        return Ok(None);
                    }
                    let mut piece = vec![0; left.min(PIECE) as usize];
                    let n = file.read(&mut piece).await?;
                    if n == 0 {
                        let early = format!("{BLOB_FILE} {blob} ended {left} bytes early");
                        return Err(std::io::Error::other(early));
                    }
                    piece.truncate(n);
                    let piece = Bytes::from(piece);
                    *moved.lock().unwrap() = Clock::now();
                    let _ = tx.send(Message::Sent(id, piece.clone())).await;
                    Ok(Some((piece, (file, left - n as u64))))
                }
            });
        Ok(reqwest::Body::wrap_stream(pieces))
    }
}

/// Returns once nothing moved for `stall`.
async fn stalled(moved: &Moved, stall: Duration) {
    loop {
        let due = *moved.lock().unwrap() + stall;
        if Clock::now() >= due {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

fn timeout(message: &str) -> TransportError {
    TransportError {
        kind: Kind::Timeout,
        message: message.into(),
    }
}

/// What kind of failure a reqwest error is, as far as its error chain tells (the kind
/// decides retries and the plain-HTTP fallback, in the core).
fn classify(e: reqwest::Error) -> TransportError {
    let sources = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source());
    let message = sources
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let has = |words: &[&str]| words.iter().any(|word| message.contains(word));
    let kinds = [
        (has(&[BLOB_FILE]), Kind::Source),
        (
            has(&["InvalidContentType", "corrupt message"]),
            Kind::NotTls,
        ),
        (has(&["certificate", "handshake", "alert"]), Kind::Tls),
        (e.is_timeout(), Kind::Timeout),
        (e.is_connect(), Kind::Connect),
        (e.is_request() || e.is_body() || e.is_decode(), Kind::Io),
    ];
    let kind = kinds.into_iter().find_map(|(is, kind)| is.then_some(kind));
    TransportError {
        kind: kind.unwrap_or(Kind::Other),
        message,
    }
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
