//! Whether a tag holding referrers is in sync. While referrers travel with their subjects,
//! the fallback tag `sha256-<hex>` is not an image of its own: the target's index under it is
//! the one the referrers step merged (its entries as tug writes them, beside what the
//! target lists of its own), so its digest seldom equals the source's even when nothing is
//! missing. It is in sync when the target's index lists every referrer the source's lists
//! that the source still has; comparing digests would copy its subject again on every run.

use crate::digest::Digest;
use crate::referrers::{index_digests, is_fallback_tag, Referrers};

use super::{Decision, SyncImage};

/// The check of a fallback tag's index: the source's entries against the target's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrersCheck {
    /// The referrers the source's index lists and the target's does not.
    unlisted: Vec<Digest>,
}

impl ReferrersCheck {
    /// Whether `image`'s check compares the indexes' entries rather than their digests: a
    /// fallback tag (`sha256-<hex>`, not cosign's `.sig` / `.att` / `.sbom`, which are copied
    /// as they are) while `referrers` are carried and images copied `whole` (the subject's
    /// copy is what brings them: [`super::Phase::copied_as`]).
    pub fn applies(image: &SyncImage, referrers: bool, whole: bool) -> bool {
        let tag = image.source.tag.as_deref().unwrap_or("");
        referrers && whole && is_fallback_tag(tag)
    }

    /// The check of the source's index `source` against the target's `target` (`None`: the
    /// target has no such tag, or not an index). `None`: the source's is no index (it is
    /// copied, as any image whose digests differ).
    pub fn new(source: &[u8], target: Option<&[u8]>) -> Option<ReferrersCheck> {
        let listed = target
            .and_then(|t| index_digests(t).ok())
            .unwrap_or_default();
        ReferrersCheck::against(source, &listed)
    }

    /// The check of the source's index `source` against the referrers the target `listed`
    /// otherwise (a target with the referrers API keeps no fallback tag: what its API lists).
    pub fn against(source: &[u8], listed: &[Digest]) -> Option<ReferrersCheck> {
        let source = index_digests(source).ok()?;
        Some(ReferrersCheck::of_lists(source, listed))
    }

    /// The check of what the source `found` attached to an image in sync against the
    /// referrers the target `listed`: a referrer added at the source since (or one a failed
    /// run did not bring) makes the image a copy, which brings it. Those found under
    /// cosign's tags are left out: those tags are images of the sync of their own.
    pub fn attached(found: &Referrers, listed: &[Digest]) -> ReferrersCheck {
        let source = found
            .referrers
            .iter()
            .filter(|r| r.tag.is_none())
            .map(|r| r.digest.clone())
            .collect();
        ReferrersCheck::of_lists(source, listed)
    }

    /// The referrers of `source` that `listed` lacks.
    fn of_lists(source: Vec<Digest>, listed: &[Digest]) -> ReferrersCheck {
        let mut unlisted: Vec<Digest> = Vec::new();
        for d in source {
            if !listed.contains(&d) && !unlisted.contains(&d) {
                unlisted.push(d);
            }
        }
        ReferrersCheck { unlisted }
    }

    /// The referrers the target's index lacks: the runner asks the source for each
    /// (`HEAD` by digest), since one the source no longer has is never copied.
    pub fn unlisted(&self) -> &[Digest] {
        &self.unlisted
    }

    /// The decision, given those of [`ReferrersCheck::unlisted`] the source answered it does
    /// not have (`gone`): in sync when every other one is listed at the target.
    pub fn decide(&self, gone: &[Digest]) -> Decision {
        if self.unlisted.iter().all(|d| gone.contains(d)) {
            Decision::InSync
        } else {
            Decision::Copy
        }
    }
}
