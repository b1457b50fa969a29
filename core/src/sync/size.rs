//! The bytes a dry run says a sync would move: the blobs the planned images' manifests name,
//! each blob counted once across the whole sync (the destination's own blobs are not
//! subtracted: finding them would cost a request per blob).

use std::collections::BTreeSet;

use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};

/// What a manifest names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// An image manifest: its config and layers.
    Blobs(Vec<Descriptor>),
    /// An index: its manifests, to be read for their blobs.
    Children(Vec<Descriptor>),
}

/// What the manifest `bytes` of `media_type` names.
pub fn named_by(media_type: &str, bytes: &[u8]) -> Result<Named, String> {
    Ok(match manifest::parse(media_type, bytes)? {
        Parsed::Image { config, layers } => {
            Named::Blobs(std::iter::once(config).chain(layers).collect())
        }
        Parsed::Index { manifests } => Named::Children(manifests),
    })
}

/// The blob bytes of the planned images, each blob once.
#[derive(Clone, Debug, Default)]
pub struct PlannedBytes {
    seen: BTreeSet<Digest>,
}

impl PlannedBytes {
    /// Counts `blobs`; the bytes of those not counted before.
    pub fn add(&mut self, blobs: &[Descriptor]) -> u64 {
        blobs
            .iter()
            .filter(|b| self.seen.insert(b.digest.clone()))
            .map(|b| b.size)
            .sum()
    }
}
