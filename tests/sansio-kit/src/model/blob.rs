//! Serving a blob's bytes (from the registry, or from blob storage after a redirect): whole,
//! or the range a `Range: bytes=a-[b]` header asks for.

use tug_core::http::{Request, ResponseHead};

use super::{error_reply, header, RegistryModel, Reply};

impl RegistryModel {
    /// A blob `GET`: `200` with the blob, or `206` with the asked range (`416` past the end),
    /// corrupted or cut short when the model is told to.
    pub(super) fn serve_blob(&mut self, digest: &str, req: &Request) -> Reply {
        let Some(mut data) = self.blobs.get(digest).cloned() else {
            return error_reply(404, "BLOB_UNKNOWN", "blob unknown to registry");
        };
        if self.corrupt_blobs.iter().any(|d| d == digest) && !data.is_empty() {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
        }
        let cut = self
            .cut_next_blob_after
            .take()
            .or(self.cut_every_blob_after);
        let size = data.len() as u64;
        let blob_head = |status: u16, len: usize| {
            ResponseHead::new(status)
                .with_header("Content-Type", "application/octet-stream")
                .with_header("Docker-Content-Digest", digest)
                .with_header("Content-Length", &len.to_string())
        };
        let mut reply = match requested_range(req) {
            // A server that serves no range, saying so with its length.
            Some(_) if self.refuse_ranges => Reply::head(
                ResponseHead::new(416).with_header("Content-Range", &format!("bytes */{size}")),
            ),
            // A server that answers a range with bytes from further back than asked.
            Some((a, _)) if self.ranges_start_early_by > 0 && a > 0 => {
                let start = a.saturating_sub(self.ranges_start_early_by).min(size);
                let part = data[start as usize..].to_vec();
                let last = size.saturating_sub(1);
                let head = blob_head(206, part.len())
                    .with_header("Content-Range", &format!("bytes {start}-{last}/{size}"));
                Reply::new(head, part)
            }
            Some((a, b)) if !self.ignore_ranges => {
                if a >= size {
                    return Reply::head(
                        ResponseHead::new(416)
                            .with_header("Content-Range", &format!("bytes */{size}")),
                    );
                }
                let last = b.unwrap_or(u64::MAX).min(size - 1);
                if last < a {
                    Reply::new(blob_head(200, data.len()), data)
                } else {
                    let part = data[a as usize..=last as usize].to_vec();
                    let head = blob_head(206, part.len())
                        .with_header("Content-Range", &format!("bytes {a}-{last}/{size}"));
                    Reply::new(head, part)
                }
            }
            _ => Reply::new(blob_head(200, data.len()), data),
        };
        reply.cut = cut;
        reply
    }
}

/// `Range: bytes=a-b` or the open-ended `bytes=a-`.
fn requested_range(req: &Request) -> Option<(u64, Option<u64>)> {
    let (a, b) = header(req, "range")?
        .trim()
        .strip_prefix("bytes=")?
        .split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    let b = match b.trim() {
        "" => None,
        b => Some(b.parse().ok()?),
    };
    Some((a, b))
}
