//! A pull into an OCI layout directory, as file operations a host does: each blob written
//! to a temporary file and renamed into place once verified, then the manifests,
//! `oci-layout` and an `index.json` naming the image. Every embedding writing a pulled
//! layout (the component, the tokio example, tug-wasm's OCI archives) writes these bytes
//! under these names, so their layouts match.

use serde_json::{json, Map, Value};

use super::media_types::OCI_INDEX;
use super::oci_json::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::host::Store;
use crate::pull::PullReport;

/// The content of the `oci-layout` file.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The annotation of an `index.json` entry saying when tug named the image (RFC 3339).
pub const ANNOTATION_TUG_CREATED: &str = "dev.tug.created";

/// An `index.json` entry naming a manifest or index of a layout.
#[derive(Clone, Copy, Debug)]
pub struct IndexEntry<'a> {
    /// The manifest's media type.
    pub media_type: &'a str,
    /// Its digest.
    pub digest: &'a Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its name in the layout (`org.opencontainers.image.ref.name`).
    pub ref_name: &'a str,
    /// The image's full name, for containerd (`io.containerd.image.name`).
    pub image_name: Option<&'a str>,
    /// When it was named (RFC 3339), from the host's clock.
    pub created: Option<&'a str>,
}

impl IndexEntry<'_> {
    /// The entry as `index.json` holds it.
    pub fn json(&self) -> Value {
        let mut annotations = Map::new();
        annotations.insert(ANNOTATION_REF_NAME.into(), json!(self.ref_name));
        if let Some(name) = self.image_name {
            annotations.insert(ANNOTATION_CONTAINERD_NAME.into(), json!(name));
        }
        if let Some(created) = self.created {
            annotations.insert(ANNOTATION_TUG_CREATED.into(), json!(created));
        }
        json!({
            "mediaType": self.media_type,
            "digest": self.digest.to_string(),
            "size": self.size,
            "annotations": annotations,
        })
    }

    /// `manifests` (an `index.json`'s entries) with this entry naming its image: an entry
    /// of the same name is replaced, the others kept in their order.
    pub fn name_in(&self, manifests: &mut Vec<Value>) {
        manifests.retain(|m| m["annotations"][ANNOTATION_REF_NAME].as_str() != Some(self.ref_name));
        manifests.push(self.json());
    }
}

/// `index.json` naming `digest` (a manifest or index of `media_type`, `size` bytes)
/// `ref_name`: the one image of a layout a pull wrote.
pub fn index_json(media_type: &str, digest: &Digest, size: u64, ref_name: &str) -> Vec<u8> {
    let entry = IndexEntry {
        media_type,
        digest,
        size,
        ref_name,
        image_name: None,
        created: None,
    };
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [entry.json()],
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
        assert_eq!(entry["annotations"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn naming_an_image_replaces_only_the_entry_of_its_name() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let entry = |digest, ref_name, image_name| IndexEntry {
            media_type: OCI_MANIFEST,
            digest,
            size: 1,
            ref_name,
            image_name,
            created: Some("2026-12-07T02:00:00Z"),
        };
        let mut manifests = Vec::new();
        entry(&a, "v1", None).name_in(&mut manifests);
        entry(&a, "v2", None).name_in(&mut manifests);
        entry(&b, "v1", Some("r/x:v1")).name_in(&mut manifests);
        let names: Vec<_> = manifests
            .iter()
            .map(|m| m["annotations"][ANNOTATION_REF_NAME].as_str().unwrap())
            .collect();
        assert_eq!(names, ["v2", "v1"]);
        assert_eq!(manifests[1]["digest"], b.to_string());
        assert_eq!(
            manifests[1]["annotations"][ANNOTATION_CONTAINERD_NAME],
            "r/x:v1"
        );
        assert_eq!(
            manifests[1]["annotations"][ANNOTATION_TUG_CREATED],
            "2026-12-07T02:00:00Z"
        );
    }
}
