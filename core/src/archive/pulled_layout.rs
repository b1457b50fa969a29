//! The files that make a pulled image an OCI layout besides its blobs: `oci-layout` and an
//! `index.json` naming the image. Every embedding writing a pulled layout (the component,
//! the tokio example, tug-wasm's OCI archives) writes these bytes, so their layouts match.

use super::media_types::OCI_INDEX;
use super::oci_json::ANNOTATION_REF_NAME;
use crate::digest::Digest;

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
