//! One request sent exactly as the core describes it, with reqwest, on a task of its own;
//! what happens to it comes back as the core's [`Happened`]s. No redirects, auth, status
//! handling or deadlines: the core reads every response and keeps every deadline.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc::Sender;
use tokio::task::AbortHandle;
use tug_core::host::Happened;
use tug_core::http::TransportErrorKind as Kind;
use tug_core::http::{Body, Request, RequestId, ResponseHead, TransportError};

/// Bytes read from a blob file at a time.
const PIECE: usize = 128 * 1024;
/// Starts the message of an error reading a request body's file: a source failure.
const BLOB_FILE: &str = "blob file";

/// The HTTP client, and the file each blob of a push plan is read from.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    blob_files: Arc<Vec<PathBuf>>,
}

impl Transport {
    /// A client trusting the system's roots and `ca` (a PEM file), if given, reading the
    /// plan's blobs from `files` in `dir`.
    pub fn new(ca: Option<&Path>, dir: &Path, files: &[String]) -> anyhow::Result<Transport> {
        // reqwest is built without a crypto provider of its own: use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
            builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?);
        }
        let blob_files = Arc::new(files.iter().map(|f| dir.join(f)).collect());
        let client = builder.build()?;
        Ok(Transport { client, blob_files })
    }

    /// Sends `req` on a task of its own, reporting to `tx`.
    pub fn spawn(&self, req: Request, tx: Sender<Happened<Bytes>>) -> AbortHandle {
        let this = self.clone();
        tokio::spawn(async move {
            let id = req.id;
            if let Err(error) = this.perform(req, &tx).await {
                let _ = tx.send(Happened::Failed(id, error)).await;
            }
        })
        .abort_handle()
    }

    async fn perform(
        &self,
        req: Request,
        tx: &Sender<Happened<Bytes>>,
    ) -> Result<(), TransportError> {
        let (id, client) = (req.id, &self.client);
        let mut request = client.request(req.method, req.url).headers(req.headers);
        match req.body {
            Body::Empty => {}
            Body::Bytes(bytes) => request = request.body(bytes),
            Body::BlobRange { blob, start, end } => {
                let body = self.file_body(id, blob, start, end, tx.clone()).await;
                let message = |e| format!("{BLOB_FILE} {blob}: {e}");
                request =
                    request.body(body.map_err(|e| TransportError::new(Kind::Source, message(e)))?);
            }
            _ => return Err(TransportError::new(Kind::Other, "a streamed blob")),
        }
        let mut response = request.send().await.map_err(classify)?;
        let mut head = ResponseHead::new(response.status().as_u16());
        head.headers = std::mem::take(response.headers_mut());
        // A failed send: the operation finished, and this task is stopped.
        let _ = tx.send(Happened::Head(id, head)).await;
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            let _ = tx.send(Happened::Chunk(id, chunk)).await;
        }
        let _ = tx.send(Happened::End(id)).await;
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
        tx: Sender<Happened<Bytes>>,
    ) -> io::Result<reqwest::Body> {
        let path = self
            .blob_files
            .get(blob)
            .ok_or(io::Error::other("not in the plan"))?;
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(SeekFrom::Start(start)).await?;
        let state = (file.take(end - start), tx);
        let pieces = futures_util::stream::try_unfold(state, move |(mut file, tx)| async move {
            let mut piece = BytesMut::with_capacity(PIECE);
            match (file.read_buf(&mut piece).await?, file.limit()) {
                (0, 0) => Ok(None),
                (0, left) => Err(io::Error::other(format!(
                    "{BLOB_FILE} {blob} ended {left} bytes early"
                ))),
                _ => {
                    let piece = piece.freeze();
                    let _ = tx.send(Happened::Sent(id, piece.clone())).await;
                    Ok(Some((piece, (file, tx))))
                }
            }
        });
        Ok(reqwest::Body::wrap_stream(pieces))
    }
}

/// A reqwest error as the core's transport error, classed by the core from its chain of
/// causes (a blob file's failure is the source's).
fn classify(e: reqwest::Error) -> TransportError {
    let error = TransportError::from_error(&e);
    match error.message.contains(BLOB_FILE) {
        true => TransportError::new(Kind::Source, error.message),
        false => error,
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
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        Transport::new(None, dir.path(), &[name])
            .unwrap()
            .spawn(req, tx);
        match rx.recv().await {
            Some(Happened::Sent(RequestId(3), bytes)) => assert_eq!(bytes.len(), 10),
            _ => panic!("expected the file's 10 bytes reported sent"),
        }
        match rx.recv().await {
            Some(Happened::Failed(RequestId(3), error)) => {
                assert_eq!(error.kind, Kind::Source, "{error}");
                assert!(error.message.contains("90 bytes early"), "{error}");
            }
            _ => panic!("expected the request failed"),
        }
    }
}
