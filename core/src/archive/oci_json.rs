//! Serde shapes of the OCI JSON documents the readers parse or build (only the fields used).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::ArchiveError;
use crate::digest::{Digest, Hasher};
use crate::platform::Platform;

/// Annotation holding an image's reference name in an OCI layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd (and Docker 25+) uses for the full image name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A content descriptor as read from JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// An index entry's platform; one that is not an object of strings reads as none.
    #[serde(default, deserialize_with = "lenient_platform")]
    pub platform: Option<Platform>,
    /// A foreign layer's URLs ([`crate::manifest::Descriptor::is_foreign`]).
    #[serde(default)]
    pub urls: Option<Vec<String>>,
}

fn lenient_platform<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Platform>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

impl Descriptor {
    /// The parsed digest; `Malformed` naming `file` and `field` if invalid.
    pub fn parsed_digest(&self, file: &str, field: &str) -> Result<Digest, ArchiveError> {
        self.digest.parse().map_err(|e| ArchiveError::Malformed {
            file: file.to_owned(),
            reason: format!("{field}.digest: {e}"),
        })
    }

    /// Image names from the annotations (containerd's full name first, then the ref name).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if let Some(a) = &self.annotations {
            for key in [ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME] {
                if let Some(v) = a.get(key) {
                    if !v.is_empty() && !names.contains(v) {
                        names.push(v.clone());
                    }
                }
            }
        }
        names
    }
}

/// A manifest or an index: which one it is shows in `media_type` and the fields present.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestDoc {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
}

/// The `oci-layout` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OciLayoutFile {
    pub image_layout_version: String,
}

/// A descriptor as written into a built manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Where a foreign layer's bytes are (none for any other blob).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An OCI image manifest as built for classic docker saves (field order is fixed, so the
/// serialisation is deterministic).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutManifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: OutDescriptor,
    pub layers: Vec<OutDescriptor>,
}

/// Parses JSON, mapping errors to `Malformed` naming `file`.
pub(crate) fn parse_json<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    file: &str,
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::Malformed {
        file: file.to_owned(),
        reason: format!("invalid JSON: {e}"),
    })
}

/// Checks that `bytes` has the size and digest a descriptor gives.
pub(crate) fn verify_blob(
    bytes: &[u8],
    expected: &Digest,
    expected_size: u64,
    what: &str,
) -> Result<(), ArchiveError> {
    let actual_size = bytes.len() as u64;
    if actual_size != expected_size {
        return Err(ArchiveError::SizeMismatch {
            what: what.to_owned(),
            descriptor: expected_size,
            actual: actual_size,
        });
    }
    let mut h = Hasher::new(expected.algorithm());
    h.update(bytes);
    let actual = h.finish();
    if &actual != expected {
        return Err(ArchiveError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// The layout path of a blob: `blobs/<algorithm>/<hex>` (safe: digests are validated).
pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}
