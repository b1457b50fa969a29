//! The request of each push step: method, URL (the upload session's `Location` with
//! `digest=` merged into its query), headers and body — a byte range of a plan blob, or a
//! manifest's bytes.

use crate::endpoint::with_digest;
use crate::engine::{Cx, Parts};
use crate::error::Error;
use crate::http::{Body, HeaderMap, HeaderValue, Method};

use super::blob::BlobState;
use super::step::Step;
use super::Pushing;

impl Pushing {
    /// The method, URL, headers and body of `step`'s request.
    pub(super) fn build(&mut self, step: Step, cx: &Cx<Step>) -> Result<Parts, Error> {
        let repo = self.plan.repository.clone();
        let url_err = |e: url::ParseError| Error::InvalidInput {
            message: format!("cannot build a URL for {}: {e}", self.plan.registry),
        };
        let endpoint = &cx.endpoint;
        let mut headers = HeaderMap::new();
        let (method, url, body) = match step {
            Step::Head(b) => {
                self.blobs[b].state = BlobState::Checking;
                let url = endpoint
                    .blob(&repo, &self.blobs[b].digest)
                    .map_err(url_err)?;
                (Method::HEAD, url, Body::Empty)
            }
            Step::Open(b) => {
                self.blobs[b].state = BlobState::Opening;
                // A mount needs the digest, which a streamed blob learns only at its end.
                let blob = &self.blobs[b];
                let from = match blob.streamed {
                    None => self.mounts.source(&blob.digest).map(str::to_owned),
                    Some(_) => None,
                };
                let url = match &from {
                    Some(from) => endpoint.mount(&repo, &blob.digest, from),
                    None => endpoint.uploads(&repo),
                };
                self.blobs[b].mounting = from;
                (Method::POST, url.map_err(url_err)?, Body::Empty)
            }
            Step::Put(b) => {
                let blob = &self.blobs[b];
                let url = with_digest(&self.upload_location(b)?, &blob.digest);
                headers.insert("content-type", octet_stream());
                let body = Body::BlobRange {
                    blob: blob.plan_index,
                    start: 0,
                    end: blob.size,
                };
                (Method::PUT, url, body)
            }
            Step::Patch(b, start, end) => {
                let url = self.upload_location(b)?;
                headers.insert("content-type", octet_stream());
                let range = format!("{start}-{}", end.saturating_sub(1));
                headers.insert("content-range", header_value(&range));
                let body = Body::BlobRange {
                    blob: self.blobs[b].plan_index,
                    start,
                    end,
                };
                (Method::PATCH, url, body)
            }
            Step::Stream(b, start, end) => {
                // No `Content-Range`: the end is not known before the bytes are made, and a
                // `PATCH` without one appends to the session, as docker and skopeo send.
                let url = self.upload_location(b)?;
                headers.insert("content-type", octet_stream());
                let body = Body::BlobStream {
                    blob: self.blobs[b].plan_index,
                    start,
                    max: end.saturating_sub(start),
                };
                (Method::PATCH, url, body)
            }
            Step::Close(b) => {
                if self.blobs[b].unended() {
                    return Err(Error::Protocol {
                        action: self.describe_step(step),
                        message: "closing an upload whose digest is not known yet".into(),
                    });
                }
                let url = with_digest(&self.upload_location(b)?, &self.blobs[b].digest);
                (Method::PUT, url, Body::Empty)
            }
            Step::Status(b) => (Method::GET, self.upload_location(b)?, Body::Empty),
            Step::Manifest(n) => {
                let m = self.manifest(n);
                let reference = match self.plan.children.get(n) {
                    Some(child) => child.digest.to_string(),
                    None => self.plan.reference.clone(),
                };
                let url = endpoint.manifest(&repo, &reference).map_err(url_err)?;
                headers.insert("content-type", header_value(&m.media_type));
                (Method::PUT, url, Body::Bytes(m.bytes.clone()))
            }
            Step::EndLate(_) => {
                return Err(Error::Protocol {
                    action: self.describe_step(step),
                    message: "a timer is not a request".into(),
                })
            }
        };
        Ok(Parts {
            method,
            url,
            headers,
            body,
        })
    }
}

fn octet_stream() -> HeaderValue {
    HeaderValue::from_static("application/octet-stream")
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
