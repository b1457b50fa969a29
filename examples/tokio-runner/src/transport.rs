//! One request sent exactly as the core describes it, with reqwest, on a task of its own;
//! what happens to it comes back as the core's [`Happened`]s. No redirects, auth, status
//! handling or deadlines: the core reads every response and keeps every deadline.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc::Sender;
use tokio_util::io::ReaderStream;
use tokio_util::task::AbortOnDropHandle;
use tug_core::host::Happened;
use tug_core::http::TransportErrorKind as Kind;
use tug_core::http::{Body, Request, RequestId, ResponseHead, TransportError};

/// Bytes read from a blob file at a time.
const PIECE: usize = 128 * 1024;

/// The HTTP client, and the file each blob of a push plan is read from.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
    blob_files: Arc<Vec<PathBuf>>,
}

impl Transport {
    /// A client trusting the system's roots, reading the plan's blobs from `files` in `dir`.
    pub fn new(dir: &Path, files: &[String]) -> anyhow::Result<Transport> {
        // reqwest is built without a crypto provider of its own: use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let blob_files = Arc::new(files.iter().map(|f| dir.join(f)).collect());
        Ok(Transport { client, blob_files })
    }

    /// Sends `req` on a task of its own, reporting to `tx`; dropping the handle stops it.
    pub fn spawn(&self, req: Request, tx: Sender<Happened<Bytes>>) -> AbortOnDropHandle<()> {
        let this = self.clone();
        let task = tokio::spawn(async move {
            let id = req.id;
            if let Err(error) = this.perform(req, &tx).await {
                let _ = tx.send(Happened::Failed(id, error)).await;
            }
        });
        AbortOnDropHandle::new(task)
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
                let body = self.file_body((id, blob, start, end), tx.clone()).await;
                let source =
                    |e| TransportError::new(Kind::Source, format!("blob file {blob}: {e}"));
                request = request.body(body.map_err(source)?);
            }
            _ => return Err(TransportError::new(Kind::Other, "a streamed blob")),
        }
        let from = |e: reqwest::Error| TransportError::from_error(&e);
        let mut response = request.send().await.map_err(from)?;
        let mut head = ResponseHead::new(response.status().as_u16());
        head.headers = std::mem::take(response.headers_mut());
        // A failed send: the operation finished, and this task is stopped.
        let _ = tx.send(Happened::Head(id, head)).await;
        while let Some(chunk) = response.chunk().await.map_err(from)? {
            let _ = tx.send(Happened::Chunk(id, chunk)).await;
        }
        let _ = tx.send(Happened::End(id)).await;
        Ok(())
    }

    /// Bytes `start..end` of blob `blob`'s file, each piece reported sent when the
    /// connection takes it. A file shorter than that (changed since the plan was made) fails
    /// here, never sends a body short.
    async fn file_body(
        &self,
        (id, blob, start, end): (RequestId, usize, u64, u64),
        tx: Sender<Happened<Bytes>>,
    ) -> io::Result<reqwest::Body> {
        let path = self
            .blob_files
            .get(blob)
            .ok_or(io::Error::other("not in the plan"))?;
        let mut file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        if len < end {
            return Err(io::Error::other(format!("{len} bytes, {end} planned")));
        }
        file.seek(SeekFrom::Start(start)).await?;
        let pieces = ReaderStream::with_capacity(file.take(end - start), PIECE);
        Ok(reqwest::Body::wrap_stream(pieces.then(move |piece| {
            let tx = tx.clone();
            async move {
                if let Ok(piece) = &piece {
                    let _ = tx.send(Happened::Sent(id, piece.clone())).await;
                }
                piece
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use tug_core::http::{HeaderMap, HeaderValue, Method};

    use super::*;

    /// A blob file shorter than its range (changed since the plan was made) fails the
    /// request as a source failure, which the core does not retry, before any byte is sent.
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
            shown: url.clone(),
            headers,
            body: Body::BlobRange {
                blob: 0,
                start: 0,
                end: 100,
            },
            deadlines: Default::default(),
            to_registry: true,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        // The request's task runs while its handle is kept.
        let _task = Transport::new(dir.path(), &[name]).unwrap().spawn(req, tx);
        match rx.recv().await {
            Some(Happened::Failed(RequestId(3), error)) => {
                assert_eq!(error.kind, Kind::Source, "{error}");
                assert!(error.message.contains("10 bytes, 100 planned"), "{error}");
            }
            other => panic!("expected the request failed before a byte went: {other:?}"),
        }
    }
}
