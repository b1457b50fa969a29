//! The order of a sync's images: tags that hold other images' referrers (the fallback tag
//! `sha256-<hex>` and cosign's `sha256-<hex>.sig` / `.att` / `.sbom`) are copied after every
//! other image has ended. Copying a subject with its referrers writes those tags too; the
//! two at once would write one manifest twice at the same time, and a registry may fail
//! either (distribution 2.8 answers `MANIFEST_BLOB_UNKNOWN` to an index whose child is being
//! put again). After their subjects they are usually found in sync and cost nothing.

use crate::digest::Digest;
use crate::reference::Reference;
use crate::referrers::{is_fallback_tag, subject_of_tag};

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
        match Phase::subject(image) {
            Some(_) => Phase::Referrers,
            None => Phase::Images,
        }
    }

    /// Whether a tag a listing found is synced as an image of its own: not a tag holding
    /// referrers while they are not carried (`--no-referrers`: they stay behind), nor a
    /// fallback tag `sha256-<hex>` while images are narrowed to one platform (not `whole`):
    /// its index lists the referrers of every platform's manifest, each image copied brings
    /// its own, and the index narrowed to a platform would be no index at all.
    pub fn synced_apart(image: &SyncImage, referrers: bool, whole: bool) -> bool {
        let tag = image.source.tag.as_deref().unwrap_or("");
        match Phase::of(image) {
            Phase::Images => true,
            Phase::Referrers => referrers && (whole || !is_fallback_tag(tag)),
        }
    }

    /// The image whose referrers `image`'s tag holds, if it is such a tag.
    pub fn subject(image: &SyncImage) -> Option<Digest> {
        image.source.tag.as_deref().and_then(subject_of_tag)
    }

    /// The subject a sync copies in place of `image`, a tag holding its referrers, while
    /// referrers are carried and images copied `whole` ([`Phase::copied_as`]). When the source
    /// no longer has it (a tag left behind when its image was deleted) there is nothing to
    /// copy: the image is as in sync as it can be, and a runner says why.
    pub fn copies_subject(image: &SyncImage, referrers: bool, whole: bool) -> Option<Digest> {
        Phase::subject(image).filter(|_| referrers && whole)
    }

    /// What a sync copies for `image` (source, target) when it is not in sync: itself; or,
    /// for a tag holding referrers while referrers are carried and images copied whole, its
    /// subject by digest, whose copy brings them along and merges them into the target's
    /// index (the source's index copied over the target's would drop what it lists beside).
    pub fn copied_as(image: &SyncImage, referrers: bool, whole: bool) -> (Reference, Reference) {
        let by = |r: &Reference, s: &Digest| Reference {
            tag: None,
            digest: Some(s.clone()),
            ..r.clone()
        };
        match Phase::copies_subject(image, referrers, whole) {
            Some(s) => (by(&image.source, &s), by(&image.target, &s)),
            None => (image.source.clone(), image.target.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_referrers_tag_is_copied_as_its_subject_while_referrers_are_carried() {
        let subject = Digest::sha256_of(b"image");
        let tag = crate::referrers::fallback_tag(&subject);
        let image = SyncImage {
            source: format!("a.example/team/app:{tag}").parse().unwrap(),
            target: format!("b.example/m/team/app:{tag}").parse().unwrap(),
        };
        assert_eq!(Phase::of(&image), Phase::Referrers);
        let (from, to) = Phase::copied_as(&image, true, true);
        assert_eq!(from.to_string(), format!("a.example/team/app@{subject}"));
        assert_eq!(to.to_string(), format!("b.example/m/team/app@{subject}"));
        for (referrers, whole) in [(false, true), (true, false)] {
            let (from, to) = Phase::copied_as(&image, referrers, whole);
            assert_eq!((from, to), (image.source.clone(), image.target.clone()));
        }
    }

    /// Listed, a fallback tag is synced as an image only while referrers are carried and
    /// images are copied whole; cosign's tags (copied as they are) whatever the platform.
    #[test]
    fn a_listed_referrers_tag_is_synced_apart_only_where_it_can_be() {
        let subject = Digest::sha256_of(b"image");
        let tagged = |tag: &str| SyncImage {
            source: format!("a.example/team/app:{tag}").parse().unwrap(),
            target: format!("b.example/team/app:{tag}").parse().unwrap(),
        };
        let fallback = tagged(&crate::referrers::fallback_tag(&subject));
        let cosign = tagged(&format!("sha256-{}.sig", subject.hex()));
        let image = tagged("v1");
        assert!(Phase::synced_apart(&fallback, true, true));
        assert!(!Phase::synced_apart(&fallback, true, false));
        assert!(!Phase::synced_apart(&fallback, false, true));
        assert!(Phase::synced_apart(&cosign, true, false));
        assert!(!Phase::synced_apart(&cosign, false, true));
        assert!(Phase::synced_apart(&image, false, false));
    }
}
