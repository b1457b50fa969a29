//! skopeo's `dir:` layout (`skopeo copy … dir:PATH`): `version`, `manifest.json` (the image's
//! manifest, or an index whose manifests are `<hex>.manifest.json`) and one file per blob,
//! named by its hex digest.
//!
//! The manifest is pushed byte for byte, so its digest stays the one the source registry gave.

use super::error::ArchiveError;
use super::image::ResolvedImage;
use super::oci_layout::{images_of_manifest, Found, Lookup, Naming};
use super::store::{Res, Stop, Store};
use crate::digest::Digest;

/// The file that marks the layout and says its version.
pub(crate) const VERSION_FILE: &str = "version";
/// The image's manifest (or index).
const MANIFEST_JSON: &str = "manifest.json";
/// What `version` starts with.
const VERSION_PREFIX: &str = "Directory Transport Version: ";
const LAYOUT: &str = "skopeo's dir: layout";

/// Whether `version` (the file's bytes) marks a skopeo `dir:` layout.
pub(crate) fn is_version_file(bytes: &[u8]) -> bool {
    bytes.starts_with(VERSION_PREFIX.as_bytes())
}

/// Reads the image (or every image of the index) of a skopeo `dir:` layout.
pub(crate) fn resolve(store: &mut Store) -> Res<Vec<ResolvedImage>> {
    let version = store.read(VERSION_FILE, LAYOUT)?;
    let version = String::from_utf8_lossy(&version[VERSION_PREFIX.len().min(version.len())..])
        .trim()
        .to_owned();
    let naming = match version.as_str() {
        "1.1" => Naming::SkopeoDir { tar_suffix: false },
        "1.0" => Naming::SkopeoDir { tar_suffix: true },
        other => {
            return Err(Stop::Fail(ArchiveError::Malformed {
                file: VERSION_FILE.to_owned(),
                reason: format!("version {other:?}; only 1.0 and 1.1 are known"),
            }))
        }
    };
    let bytes = store.read(MANIFEST_JSON, LAYOUT)?.to_vec();
    let digest = Digest::sha256_of(&bytes);
    let found = Found {
        digest: &digest,
        path: MANIFEST_JSON,
        referenced_by: LAYOUT,
        media_type: None,
    };
    let at = Lookup { naming, depth: 0 };
    images_of_manifest(store, bytes, found, &[], at)
}
