//! A pull into an OCI layout directory, as file operations a host does: each blob written
//! to a temporary file and renamed into place once verified, then the manifests,
//! `oci-layout` and an `index.json` naming the image. Every embedding writing a pulled
//! layout (the component, the tokio example, tug-wasm's OCI archives) writes these bytes
//! under these names, so their layouts match.

use super::media_types::OCI_INDEX;
use super::oci_json::ANNOTATION_REF_NAME;
use crate::digest::Digest;
use crate::host::Store;
use crate::pull::PullReport;

/// The content of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// `index.json` naming `digest` (a manifest or index of `media_type`, `size` bytes)
/// `ref_name`: the one image of a layout a pull wrote.
pub fn index_json(media_type: &str, digest: &Digest, size: u64, ref_name: &str) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": size,
            "annotations": { ANNOTATION_REF_NAME: ref_name },
        }],
    })
    .to_string()
    .into_bytes()
}

/// Where blob `digest` lands in a layout: `blobs/<algorithm>/<hex>`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Where blob `digest` is written until the pull has verified it.
fn partial_path(digest: &Digest) -> String {
    format!(
        "blobs/{}/.partial-{}",
        digest.algorithm().name(),
        digest.hex()
    )
}

/// A file operation on the layout (paths relative to its directory, `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutOp {
    /// Write `data` at `offset` of the file at `path`, creating it and its directories.
    Write {
        /// The file.
        path: String,
        /// Where in the file.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Move a file into place (over anything there).
    Rename {
        /// The file now.
        from: String,
        /// Where it goes.
        to: String,
    },
    /// Remove the file at this path, if there is one.
    Remove(String),
}

impl std::fmt::Display for LayoutOp {
    /// What the operation does, for an error message (never the bytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutOp::Write { path, offset, data } => {
                write!(f, "writing {} bytes at {offset} of {path}", data.len())
            }
            LayoutOp::Rename { from, to } => write!(f, "moving {from} to {to}"),
            LayoutOp::Remove(path) => write!(f, "removing {path}"),
        }
    }
}

impl From<Store> for LayoutOp {
    /// What a pull's blob output is in a layout.
    fn from(store: Store) -> LayoutOp {
        match store {
            Store::Write {
                digest,
                offset,
                data,
            } => LayoutOp::Write {
                path: partial_path(&digest),
                offset,
                data,
            },
            Store::Commit(digest) => LayoutOp::Rename {
                from: partial_path(&digest),
                to: blob_path(&digest),
            },
            Store::Discard(digest) => LayoutOp::Remove(partial_path(&digest)),
        }
    }
}

/// What a finished pull adds to its layout besides the blobs: the manifests, `oci-layout`,
/// and `index.json` naming the image `ref_name`.
pub fn finishing_ops(report: &PullReport, ref_name: &str) -> Vec<LayoutOp> {
    let root = &report.root;
    let manifests = std::iter::once(root).chain(report.images.iter().map(|i| &i.manifest));
    let mut files: Vec<_> = manifests
        .map(|m| (blob_path(&m.digest), m.bytes.clone()))
        .collect();
    let size = root.bytes.len() as u64;
    files.push(("oci-layout".into(), OCI_LAYOUT_CONTENT.to_vec()));
    let index = index_json(&root.media_type, &root.digest, size, ref_name);
    files.push(("index.json".into(), index));
    let write = |(path, data)| LayoutOp::Write {
        path,
        offset: 0,
        data,
    };
    files.into_iter().map(write).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::media_types::OCI_MANIFEST;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_index_names_the_image_by_its_reference() {
        let digest = Digest::sha256_of(b"{}");
        let index: serde_json::Value =
            serde_json::from_slice(&index_json(OCI_MANIFEST, &digest, 2, "v1")).unwrap();
        assert_eq!(index["mediaType"], OCI_INDEX);
        let entry = &index["manifests"][0];
        assert_eq!(entry["digest"], digest.to_string());
        assert_eq!(entry["size"], 2);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["annotations"][ANNOTATION_REF_NAME], "v1");
    }
}
