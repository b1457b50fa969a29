//! What a copy does to bring an image's referrers along: each is copied as an image of its
//! own (its blobs, then its manifest) — by digest when it names the image as its subject,
//! under its tag when it was found under a cosign-style tag — and a referrer naming the
//! subject is added to the target's fallback tag's index unless the target indexed it itself.

use crate::push::PushReport;
use crate::reference::Reference;

use super::{Referrer, Referrers};

/// One referrer to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carry {
    /// Where it is read: the source repository, by its tag or digest.
    pub source: Reference,
    /// Where it goes: the target repository, under the same tag or digest.
    pub target: Reference,
    /// What it is.
    pub referrer: Referrer,
}

/// The copies that bring `found` (read at `source`'s repository) to `target`'s repository.
pub fn carries(found: &Referrers, source: &Reference, target: &Reference) -> Vec<Carry> {
    let at = |r: &Reference, referrer: &Referrer| {
        let mut at = r.clone();
        match &referrer.tag {
            Some(tag) => {
                at.tag = Some(tag.clone());
                at.digest = None;
            }
            None => {
                at.tag = None;
                at.digest = Some(referrer.digest.clone());
            }
        }
        at
    };
    found
        .referrers
        .iter()
        .map(|referrer| Carry {
            source: at(source, referrer),
            target: at(target, referrer),
            referrer: referrer.clone(),
        })
        .collect()
}

/// Whether `carry`, copied as `report` says, must be added to the target's fallback tag's
/// index: it names the subject, and the target did not answer its `PUT` with `OCI-Subject`.
pub fn needs_fallback_index(carry: &Carry, report: &PushReport) -> bool {
    carry.referrer.tag.is_none() && !report.subject_indexed
}
