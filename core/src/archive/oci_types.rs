//! Docker schema 2 manifests rewritten with OCI media types for an OCI output (a layout or
//! an OCI archive), as skopeo writes them: skopeo, like other readers of OCI layouts, finds
//! an image by its `ref.name` only among entries of OCI media types. A pull writes its
//! manifests so, and so does an export of an image the store keeps as the registry served it.

use super::image::ManifestBytes;
use crate::digest::Digest;
use crate::manifest::{self, Parsed};

/// A manifest rewritten with OCI media types: the one it was, and the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// The Docker-typed manifest's digest.
    pub from: Digest,
    /// The OCI-typed manifest.
    pub manifest: ManifestBytes,
}

/// The rewrites an OCI output of the image `root` needs: none when `root` is no Docker
/// schema 2 manifest or list; for a list, each of its Docker-typed images `read` gives
/// (`Ok(None)`: not held, named as it is), then the list naming them; the root is last.
/// `Err` names the manifest that cannot be read or rewritten.
pub fn oci_rewrites(
    root: &ManifestBytes,
    mut read: impl FnMut(&Digest) -> Result<Option<Vec<u8>>, String>,
) -> Result<Vec<Rewrite>, String> {
    let media_type = manifest::media_type_of(Some(&root.media_type), &root.bytes)
        .unwrap_or_else(|| root.media_type.clone());
    if manifest::oci_media_type(&media_type).is_none() {
        return Ok(Vec::new());
    }
    let mut rewrites = Vec::new();
    let mut children = Vec::new();
    if manifest::is_index(&media_type) {
        let parsed = manifest::parse(&media_type, &root.bytes)
            .map_err(|e| format!("manifest {}: {e}", root.digest))?;
        let entries = match parsed {
            Parsed::Index { manifests } => manifests,
            Parsed::Image { .. } => Vec::new(),
        };
        for entry in entries
            .iter()
            .filter(|e| e.media_type == manifest::DOCKER_MANIFEST)
        {
            let cannot = |e: String| format!("manifest {} cannot be read: {e}", entry.digest);
            let Some(bytes) = read(&entry.digest).map_err(cannot)? else {
                continue;
            };
            if let Some(rewrite) = rewritten(&entry.digest, &bytes, &[])? {
                let size = rewrite.manifest.bytes.len() as u64;
                children.push((entry.digest.clone(), rewrite.manifest.digest.clone(), size));
                rewrites.push(rewrite);
            }
        }
    }
    rewrites.extend(rewritten(&root.digest, &root.bytes, &children)?);
    Ok(rewrites)
}

/// Manifest `digest` (`bytes`) with OCI media types, its list's entries renamed as
/// `children` says; `None` when it has no Docker type.
fn rewritten(
    digest: &Digest,
    bytes: &[u8],
    children: &[(Digest, Digest, u64)],
) -> Result<Option<Rewrite>, String> {
    let new =
        manifest::docker_to_oci(bytes, children).map_err(|e| format!("manifest {digest}: {e}"))?;
    Ok(new.map(|bytes| {
        let media_type = manifest::media_type_of(None, &bytes).unwrap_or_default();
        Rewrite {
            from: digest.clone(),
            manifest: ManifestBytes {
                digest: Digest::sha256_of(&bytes),
                media_type,
                bytes,
            },
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};

    fn bytes_of(media_type: &str, body: serde_json::Value) -> ManifestBytes {
        let bytes = serde_json::to_vec(&body).unwrap();
        ManifestBytes {
            digest: Digest::sha256_of(&bytes),
            media_type: media_type.to_owned(),
            bytes,
        }
    }

    fn image(media_type: &str) -> ManifestBytes {
        let d = Digest::sha256_of(b"x").to_string();
        let config = match media_type {
            DOCKER_MANIFEST => "application/vnd.docker.container.image.v1+json",
            _ => "application/vnd.oci.image.config.v1+json",
        };
        bytes_of(
            media_type,
            serde_json::json!({"schemaVersion": 2, "mediaType": media_type,
                "config": {"mediaType": config, "digest": d, "size": 1}, "layers": []}),
        )
    }

    fn list(media_type: &str, children: &[&ManifestBytes]) -> ManifestBytes {
        let entries: Vec<_> = children
            .iter()
            .map(|c| {
                serde_json::json!({"mediaType": c.media_type, "digest": c.digest.to_string(),
                "size": c.bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}})
            })
            .collect();
        bytes_of(
            media_type,
            serde_json::json!({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}),
        )
    }

    #[test]
    fn an_oci_image_needs_no_rewrite() {
        let none = oci_rewrites(&image(OCI_MANIFEST), |_| unreachable!()).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_docker_image_gets_oci_types() {
        let docker = image(DOCKER_MANIFEST);
        let rewrites = oci_rewrites(&docker, |_| unreachable!()).unwrap();
        assert_eq!(rewrites.len(), 1);
        assert_eq!(rewrites[0].from, docker.digest);
        let new = &rewrites[0].manifest;
        assert_eq!(new.media_type, OCI_MANIFEST);
        assert_eq!(new.digest, Digest::sha256_of(&new.bytes));
        let v: serde_json::Value = serde_json::from_slice(&new.bytes).unwrap();
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
    }

    #[test]
    fn a_docker_list_names_its_rewritten_images_and_keeps_those_not_held() {
        let held = image(DOCKER_MANIFEST);
        let absent = bytes_of(DOCKER_MANIFEST, serde_json::json!({"other": 1}));
        let root = list(DOCKER_MANIFEST_LIST, &[&held, &absent]);
        let rewrites = oci_rewrites(&root, |d| {
            Ok((d == &held.digest).then(|| held.bytes.clone()))
        })
        .unwrap();
        assert_eq!(rewrites.len(), 2);
        assert_eq!(rewrites[0].from, held.digest);
        let new_root = &rewrites[1];
        assert_eq!(new_root.from, root.digest);
        assert_eq!(new_root.manifest.media_type, OCI_INDEX);
        let v: serde_json::Value = serde_json::from_slice(&new_root.manifest.bytes).unwrap();
        let entries = v["manifests"].as_array().unwrap();
        assert_eq!(
            entries[0]["digest"],
            rewrites[0].manifest.digest.to_string()
        );
        assert_eq!(entries[0]["mediaType"], OCI_MANIFEST);
        assert_eq!(entries[0]["size"], rewrites[0].manifest.bytes.len());
        assert_eq!(entries[1]["digest"], absent.digest.to_string());
        assert_eq!(
            entries[1]["mediaType"], DOCKER_MANIFEST,
            "an image not rewritten keeps its descriptor"
        );
    }

    #[test]
    fn a_manifest_that_cannot_be_read_is_named() {
        let child = image(DOCKER_MANIFEST);
        let root = list(DOCKER_MANIFEST_LIST, &[&child]);
        let e = oci_rewrites(&root, |_| Err("damaged".into())).unwrap_err();
        assert!(
            e.contains(&child.digest.to_string()) && e.contains("damaged"),
            "{e}"
        );
        let broken = bytes_of(DOCKER_MANIFEST_LIST, serde_json::json!([1]));
        assert!(oci_rewrites(&broken, |_| Ok(None)).is_err());
    }
}
