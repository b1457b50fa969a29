//! A manifest body as received: checked against the digest it was asked by and the one the
//! registry reports (`Docker-Content-Digest`), its media type read from `Content-Type` or
//! the body.

use crate::digest::{Digest, Hasher};
use crate::error::Error;
use crate::http::ResponseHead;
use crate::manifest;
use crate::pull::FetchedManifest;

/// The manifest `body` that `head` came with, asked for as `what`; `expected`: the digest
/// it was asked by, if it was.
pub(super) fn received(
    what: &str,
    head: &ResponseHead,
    body: &[u8],
    expected: Option<&Digest>,
) -> Result<FetchedManifest, Error> {
    // A signed schema 1 manifest's digest is its payload's, whatever signatures it carries.
    let digested = crate::schema1::digested(body);
    let check = |d: &Digest| -> Result<(), Error> {
        let mut h = Hasher::new(d.algorithm());
        h.update(&digested);
        let actual = h.finish();
        if &actual != d {
            return Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: d.clone(),
                actual,
            });
        }
        Ok(())
    };
    if let Some(d) = expected {
        check(d)?;
    }
    let reported = head
        .header("docker-content-digest")
        .and_then(|h| h.trim().parse::<Digest>().ok());
    if let Some(d) = &reported {
        check(d)?;
    }
    let media_type =
        manifest::media_type_of(head.header("content-type"), body).ok_or_else(|| {
            Error::Protocol {
                action: what.to_owned(),
                message: "the manifest is neither a known media type nor JSON".into(),
            }
        })?;
    Ok(FetchedManifest {
        digest: expected
            .cloned()
            .unwrap_or_else(|| Digest::sha256_of(&digested)),
        media_type,
        bytes: body.to_vec(),
    })
}
