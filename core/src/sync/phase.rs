//! The order of a sync's images: tags that hold other images' referrers (the fallback tag
//! `sha256-<hex>` and cosign's `sha256-<hex>.sig` / `.att` / `.sbom`) are copied after every
//! other image has ended. Copying a subject with its referrers writes those tags too; the
//! two at once would write one manifest twice at the same time, and a registry may fail
//! either (distribution 2.8 answers `MANIFEST_BLOB_UNKNOWN` to an index whose child is being
//! put again). After their subjects they are usually found in sync and cost nothing.

use crate::referrers::subject_of_tag;

use super::SyncImage;

/// When an image of a sync is copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// With the others, as the budget allows.
    Images,
    /// After every image of the first phase has ended: a tag holding referrers.
    Referrers,
}

impl Phase {
    /// The phase of `image`, by its source tag.
    pub fn of(image: &SyncImage) -> Phase {
        match image.source.tag.as_deref().and_then(subject_of_tag) {
            Some(_) => Phase::Referrers,
            None => Phase::Images,
        }
    }
}
