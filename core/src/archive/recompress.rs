//! An image re-described with compressed layers (`tug push --compress`): its manifest names
//! the compressed blobs instead of the plain tars, and an index names the new manifests.
//! The config is untouched: its `rootfs.diff_ids` already name the uncompressed tars.

use super::compression::Compression;
use super::image::ManifestBytes;
use super::media_types as mt;
use crate::digest::Digest;
use crate::manifest::docker_to_oci;

/// Docker layer: uncompressed tar.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// A plain tar layer and the compressed blob that replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedLayer {
    /// Digest of the plain tar (the diffID) as the manifest names it now.
    pub uncompressed: Digest,
    /// How it was compressed: [`Compression::Gzip`] or [`Compression::Zstd`].
    pub compression: Compression,
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
}

/// Whether `--compress` applies to a layer of this media type: a plain, distributable tar
/// (non-distributable and foreign layers are left as they are).
pub fn is_compressible(media_type: &str) -> bool {
    media_type == mt::OCI_LAYER_TAR || media_type == DOCKER_LAYER_TAR
}

/// `manifest` with every compressible layer listed in `layers` (by its plain digest)
/// replaced by its compressed blob. A Docker manifest stays one for gzip; zstd has no
/// standard Docker media type, so with a zstd layer the manifest becomes an OCI manifest.
pub fn with_compressed_layers(
    manifest: &ManifestBytes,
    layers: &[CompressedLayer],
) -> Result<ManifestBytes, String> {
    let docker = manifest.media_type == mt::DOCKER_MANIFEST;
    let to_oci = docker && layers.iter().any(|l| l.compression != Compression::Gzip);
    let source = match to_oci {
        true => docker_to_oci(&manifest.bytes, &[])?.unwrap_or_else(|| manifest.bytes.clone()),
        false => manifest.bytes.clone(),
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(&source).map_err(|e| format!("not a valid manifest: {e}"))?;
    for layer in doc
        .get_mut("layers")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if !layer["mediaType"].as_str().is_some_and(is_compressible) {
            continue;
        }
        let digest = layer["digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok());
        let Some(new) = layers
            .iter()
            .find(|l| Some(&l.uncompressed) == digest.as_ref())
        else {
            continue;
        };
        let media_type = match (docker && !to_oci, new.compression) {
            (true, Compression::Gzip) => mt::DOCKER_LAYER_TAR_GZIP,
            (_, c) => c
                .oci_layer_media_type()
                .filter(|_| matches!(c, Compression::Gzip | Compression::Zstd))
                .ok_or_else(|| format!("cannot compress a layer with {}", c.name()))?,
        };
        layer["mediaType"] = media_type.into();
        layer["digest"] = new.digest.to_string().into();
        layer["size"] = new.size.into();
    }
    let media_type = match to_oci {
        true => mt::OCI_MANIFEST.to_owned(),
        false => manifest.media_type.clone(),
    };
    Ok(bytes_of(&doc, media_type))
}

/// `index` naming the rewritten `children` (each: the old manifest's digest and the new
/// manifest) instead of the old ones. A Docker manifest list that now names an OCI manifest
/// becomes an OCI index.
pub fn index_with_children(
    index: &ManifestBytes,
    children: &[(Digest, ManifestBytes)],
) -> Result<ManifestBytes, String> {
    let to_oci = index.media_type == mt::DOCKER_MANIFEST_LIST
        && children
            .iter()
            .any(|(_, m)| m.media_type == mt::OCI_MANIFEST);
    let source = match to_oci {
        true => docker_to_oci(&index.bytes, &[])?.unwrap_or_else(|| index.bytes.clone()),
        false => index.bytes.clone(),
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(&source).map_err(|e| format!("not a valid index: {e}"))?;
    for entry in doc
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let digest = entry["digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok());
        if let Some((_, new)) = children
            .iter()
            .find(|(old, _)| Some(old) == digest.as_ref())
        {
            entry["mediaType"] = new.media_type.clone().into();
            entry["digest"] = new.digest.to_string().into();
            entry["size"] = (new.bytes.len() as u64).into();
        }
    }
    let media_type = match to_oci {
        true => mt::OCI_INDEX.to_owned(),
        false => index.media_type.clone(),
    };
    Ok(bytes_of(&doc, media_type))
}

fn bytes_of(doc: &serde_json::Value, media_type: String) -> ManifestBytes {
    // A `Value` always serializes.
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    ManifestBytes {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn digest(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    fn manifest(media_type: &str, layer_type: &str) -> ManifestBytes {
        let config_type = match media_type {
            mt::DOCKER_MANIFEST => mt::DOCKER_CONFIG,
            _ => mt::OCI_CONFIG,
        };
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": digest(0).to_string(), "size": 10},
            "layers": [
                {"mediaType": layer_type, "digest": digest(1).to_string(), "size": 1000,
                 "annotations": {"a": "b"}},
                {"mediaType": mt::OCI_LAYER_TAR_GZIP, "digest": digest(2).to_string(), "size": 50},
            ],
        });
        bytes_of(&json, media_type.to_owned())
    }

    fn compressed(compression: Compression) -> CompressedLayer {
        CompressedLayer {
            uncompressed: digest(1),
            compression,
            digest: digest(9),
            size: 300,
        }
    }

    fn layers(m: &ManifestBytes) -> Vec<serde_json::Value> {
        let doc: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        doc["layers"].as_array().unwrap().clone()
    }

    #[test]
    fn oci_layers_get_the_compressed_descriptor_and_keep_annotations() {
        for (c, t) in [
            (Compression::Gzip, mt::OCI_LAYER_TAR_GZIP),
            (Compression::Zstd, mt::OCI_LAYER_TAR_ZSTD),
        ] {
            let old = manifest(mt::OCI_MANIFEST, mt::OCI_LAYER_TAR);
            let new = with_compressed_layers(&old, &[compressed(c)]).unwrap();
            assert_eq!(new.media_type, mt::OCI_MANIFEST);
            assert_eq!(new.digest, Digest::sha256_of(&new.bytes));
            let l = layers(&new);
            assert_eq!(l[0]["mediaType"], t);
            assert_eq!(l[0]["digest"], digest(9).to_string());
            assert_eq!(l[0]["size"], 300);
            assert_eq!(l[0]["annotations"]["a"], "b");
            assert_eq!(l[1]["digest"], digest(2).to_string(), "others stay");
        }
    }

    #[test]
    fn docker_manifests_stay_docker_for_gzip_and_become_oci_for_zstd() {
        let old = manifest(mt::DOCKER_MANIFEST, DOCKER_LAYER_TAR);
        let gz = with_compressed_layers(&old, &[compressed(Compression::Gzip)]).unwrap();
        assert_eq!(gz.media_type, mt::DOCKER_MANIFEST);
        assert_eq!(layers(&gz)[0]["mediaType"], mt::DOCKER_LAYER_TAR_GZIP);

        let zst = with_compressed_layers(&old, &[compressed(Compression::Zstd)]).unwrap();
        assert_eq!(zst.media_type, mt::OCI_MANIFEST);
        let doc: serde_json::Value = serde_json::from_slice(&zst.bytes).unwrap();
        assert_eq!(doc["mediaType"], mt::OCI_MANIFEST);
        assert_eq!(doc["config"]["mediaType"], mt::OCI_CONFIG);
        assert_eq!(layers(&zst)[0]["mediaType"], mt::OCI_LAYER_TAR_ZSTD);
    }

    #[test]
    fn layers_not_listed_or_not_plain_tars_are_left_alone() {
        let old = manifest(mt::OCI_MANIFEST, mt::OCI_NONDISTRIBUTABLE_LAYER_TAR);
        let new = with_compressed_layers(&old, &[compressed(Compression::Zstd)]).unwrap();
        assert_eq!(layers(&new)[0]["digest"], digest(1).to_string());
        let old = manifest(mt::OCI_MANIFEST, mt::OCI_LAYER_TAR);
        let new = with_compressed_layers(&old, &[]).unwrap();
        assert_eq!(layers(&new), layers(&old));
    }

    #[test]
    fn other_compressions_are_refused() {
        let old = manifest(mt::OCI_MANIFEST, mt::OCI_LAYER_TAR);
        let err = with_compressed_layers(&old, &[compressed(Compression::Xz)]).unwrap_err();
        assert!(err.contains("xz"), "{err}");
    }

    #[test]
    fn an_index_names_the_new_children_and_turns_oci_when_they_do() {
        let child = manifest(mt::DOCKER_MANIFEST, DOCKER_LAYER_TAR);
        let list = bytes_of(
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": mt::DOCKER_MANIFEST_LIST,
                "manifests": [
                    {"mediaType": mt::DOCKER_MANIFEST, "digest": child.digest.to_string(),
                     "size": child.bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}},
                    {"mediaType": mt::DOCKER_MANIFEST, "digest": digest(7).to_string(), "size": 5},
                ],
            }),
            mt::DOCKER_MANIFEST_LIST.to_owned(),
        );
        let new_child = with_compressed_layers(&child, &[compressed(Compression::Zstd)]).unwrap();
        let new = index_with_children(&list, &[(child.digest.clone(), new_child.clone())]).unwrap();
        assert_eq!(new.media_type, mt::OCI_INDEX);
        let doc: serde_json::Value = serde_json::from_slice(&new.bytes).unwrap();
        let m = &doc["manifests"];
        assert_eq!(m[0]["digest"], new_child.digest.to_string());
        assert_eq!(m[0]["size"], new_child.bytes.len());
        assert_eq!(m[0]["mediaType"], mt::OCI_MANIFEST);
        assert_eq!(m[0]["platform"]["architecture"], "amd64");
        assert_eq!(m[1]["digest"], digest(7).to_string());

        let gz_child = with_compressed_layers(&child, &[compressed(Compression::Gzip)]).unwrap();
        let gz = index_with_children(&list, &[(child.digest.clone(), gz_child)]).unwrap();
        assert_eq!(gz.media_type, mt::DOCKER_MANIFEST_LIST);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let bad = ManifestBytes {
            bytes: b"{".to_vec(),
            media_type: mt::OCI_MANIFEST.into(),
            digest: digest(0),
        };
        assert!(with_compressed_layers(&bad, &[compressed(Compression::Gzip)]).is_err());
        assert!(index_with_children(&bad, &[]).is_err());
    }
}
