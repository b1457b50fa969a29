//! An image re-described with compressed layers (`tug push --compress`): its manifest names
//! the compressed blobs instead of the plain tars, and an index names the new manifests.
//! The config is untouched: its `rootfs.diff_ids` already name the uncompressed tars.
//!
//! Only the values that change are rewritten (`json_edit`): a manifest or index
//! with nothing to change stays byte for byte (same digest), and a rewritten one keeps its
//! key order, spacing and every field tug does not know.

use super::compression::Compression;
use super::image::ManifestBytes;
use super::json_edit::{self, Document, Object, Rewrite};
use super::media_types as mt;
use crate::digest::Digest;
use crate::manifest::oci_media_type;

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

/// Whether `--compress` applies to a layer of this media type: a plain, distributable tar,
/// OCI's or Docker's (`ctr export` and `ctr push` write Docker's); non-distributable and
/// foreign layers are left as they are.
pub fn is_compressible(media_type: &str) -> bool {
    media_type == mt::OCI_LAYER_TAR || media_type == mt::DOCKER_LAYER_TAR
}

/// A layer whose bytes are gzip or zstd though its label says a plain tar (what the bytes
/// are was sniffed): in a rewritten manifest it keeps its bytes and gets the label of what
/// they are, as a layer compressed by `--compress` does. `None` for any other layer.
pub fn relabelled(layer: &super::image::BlobSpec) -> Option<CompressedLayer> {
    let compression = match layer.compression {
        Some(c @ (Compression::Gzip | Compression::Zstd)) => c,
        _ => return None,
    };
    (!layer.foreign && is_compressible(&layer.media_type)).then(|| CompressedLayer {
        uncompressed: layer.digest.clone(),
        compression,
        digest: layer.digest.clone(),
        size: layer.size,
    })
}

/// The media type of a layer compressed with `compression` in a manifest of type
/// `manifest_type`: Docker's gzip type in a Docker manifest, OCI's otherwise; `None` when
/// that manifest type has none (zstd in a Docker manifest, which then becomes OCI; bzip2,
/// xz and no compression anywhere).
pub fn compressed_layer_media_type(
    manifest_type: &str,
    compression: Compression,
) -> Option<&'static str> {
    match (manifest_type == mt::DOCKER_MANIFEST, compression) {
        (true, Compression::Gzip) => Some(mt::DOCKER_LAYER_TAR_GZIP),
        (true, _) => None,
        (false, Compression::Gzip | Compression::Zstd) => compression.oci_layer_media_type(),
        (false, _) => None,
    }
}

/// `manifest` with every compressible layer listed in `layers` (by its plain digest)
/// replaced by its compressed blob; unchanged (same bytes) when it has none of them. A
/// Docker manifest stays one for gzip; zstd has no standard Docker media type, so with a
/// zstd layer the manifest becomes an OCI manifest (its other media types converted).
pub fn with_compressed_layers(
    manifest: &ManifestBytes,
    layers: &[CompressedLayer],
) -> Result<ManifestBytes, String> {
    let doc =
        json_edit::parse(&manifest.bytes).map_err(|e| format!("not a valid manifest: {e}"))?;
    let changes: Vec<(&Object, &CompressedLayer)> = doc
        .layers
        .iter()
        .filter_map(|layer| {
            let media_type = layer.media_type.as_ref()?.as_str()?;
            let digest: Digest = layer.digest.as_ref()?.as_str()?.parse().ok()?;
            let new = layers
                .iter()
                .find(|l| is_compressible(media_type) && l.uncompressed == digest)?;
            Some((layer, new))
        })
        .collect();
    if changes.is_empty() {
        return Ok(manifest.clone());
    }
    let to_oci = manifest.media_type == mt::DOCKER_MANIFEST
        && changes.iter().any(|(_, l)| {
            compressed_layer_media_type(mt::DOCKER_MANIFEST, l.compression).is_none()
        });
    let media_type = match to_oci {
        true => mt::OCI_MANIFEST,
        false => manifest.media_type.as_str(),
    };
    let mut edit = Rewrite::new(&manifest.bytes);
    if to_oci {
        convert_to_oci(&mut edit, &doc);
    }
    for (layer, new) in changes {
        let layer_type = compressed_layer_media_type(media_type, new.compression)
            .ok_or_else(|| format!("cannot compress a layer with {}", new.compression.name()))?;
        edit.set(
            layer,
            "mediaType",
            layer.media_type.as_ref(),
            layer_type.into(),
        );
        edit.set(
            layer,
            "digest",
            layer.digest.as_ref(),
            new.digest.to_string().into(),
        );
        edit.set(layer, "size", layer.size.as_ref(), new.size.into());
    }
    Ok(bytes_of(edit.finish(), media_type.to_owned()))
}

/// `index` naming the rewritten `children` (each: the old manifest's digest and the new
/// manifest) instead of the old ones; unchanged (same bytes) when no child changed. A Docker
/// manifest list that now names an OCI manifest becomes an OCI index; the entries of
/// children that did not change stay as they are.
pub fn index_with_children(
    index: &ManifestBytes,
    children: &[(Digest, ManifestBytes)],
) -> Result<ManifestBytes, String> {
    let doc = json_edit::parse(&index.bytes).map_err(|e| format!("not a valid index: {e}"))?;
    let changes: Vec<(&Object, &ManifestBytes)> = doc
        .manifests
        .iter()
        .filter_map(|entry| {
            let digest: Digest = entry.digest.as_ref()?.as_str()?.parse().ok()?;
            let (_, new) = children
                .iter()
                .find(|(old, new)| *old == digest && new.digest != digest)?;
            Some((entry, new))
        })
        .collect();
    if changes.is_empty() {
        return Ok(index.clone());
    }
    let to_oci = index.media_type == mt::DOCKER_MANIFEST_LIST
        && changes
            .iter()
            .any(|(_, m)| m.media_type == mt::OCI_MANIFEST);
    let mut edit = Rewrite::new(&index.bytes);
    if to_oci {
        let top = &doc.top;
        edit.set(
            top,
            "mediaType",
            top.media_type.as_ref(),
            mt::OCI_INDEX.into(),
        );
    }
    for (entry, new) in changes {
        edit.set(
            entry,
            "mediaType",
            entry.media_type.as_ref(),
            new.media_type.clone().into(),
        );
        edit.set(
            entry,
            "digest",
            entry.digest.as_ref(),
            new.digest.to_string().into(),
        );
        edit.set(
            entry,
            "size",
            entry.size.as_ref(),
            (new.bytes.len() as u64).into(),
        );
    }
    let media_type = match to_oci {
        true => mt::OCI_INDEX.to_owned(),
        false => index.media_type.clone(),
    };
    Ok(bytes_of(edit.finish(), media_type))
}

/// Gives a Docker manifest, its config and its layers their OCI media types.
fn convert_to_oci(edit: &mut Rewrite<'_>, doc: &Document) {
    let objects = std::iter::once(&doc.top)
        .chain(doc.config.as_ref())
        .chain(&doc.layers);
    for object in objects {
        let oci = object
            .media_type
            .as_ref()
            .and_then(|f| f.as_str())
            .and_then(oci_media_type);
        if let Some(oci) = oci {
            edit.set(object, "mediaType", object.media_type.as_ref(), oci.into());
        }
    }
}

fn bytes_of(bytes: Vec<u8>, media_type: String) -> ManifestBytes {
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

    #[test]
    fn only_compressed_bytes_under_a_plain_label_are_relabelled() {
        let layer = |media_type: &str, compression, foreign| super::super::image::BlobSpec {
            digest: digest(7),
            size: 9,
            media_type: media_type.into(),
            compression: Some(compression),
            location: super::super::image::BlobLocation::File { path: "x".into() },
            diff_id_check: None,
            foreign,
        };
        let gzip_as_plain = relabelled(&layer(mt::OCI_LAYER_TAR, Compression::Gzip, false));
        assert_eq!(
            gzip_as_plain,
            Some(CompressedLayer {
                uncompressed: digest(7),
                compression: Compression::Gzip,
                digest: digest(7),
                size: 9
            })
        );
        assert_eq!(
            relabelled(&layer(mt::OCI_LAYER_TAR, Compression::None, false)),
            None
        );
        assert_eq!(
            relabelled(&layer(mt::OCI_LAYER_TAR, Compression::Zstd, true)),
            None
        );
        assert_eq!(
            relabelled(&layer(mt::OCI_LAYER_TAR_GZIP, Compression::Gzip, false)),
            None
        );
    }

    /// A manifest as skopeo `--format v2s2` and docker write them: keys in their order (not
    /// sorted), descriptors `mediaType`, `size`, `digest`, spaced and indented.
    fn manifest(media_type: &str, layer_type: &str) -> ManifestBytes {
        let config_type = match media_type {
            mt::DOCKER_MANIFEST => mt::DOCKER_CONFIG,
            _ => mt::OCI_CONFIG,
        };
        let text = format!(
            r#"{{
   "schemaVersion": 2,
   "mediaType": "{media_type}",
   "config": {{"mediaType": "{config_type}", "size": 10, "digest": "{}"}},
   "layers": [
      {{"mediaType": "{layer_type}", "size": 1000, "digest": "{}", "annotations": {{"a": "b"}}}},
      {{"mediaType": "{}", "size": 50, "digest": "{}"}}
   ]
}}"#,
            digest(0),
            digest(1),
            mt::OCI_LAYER_TAR_GZIP,
            digest(2),
        );
        bytes_of(text.into_bytes(), media_type.to_owned())
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

    fn text(m: &ManifestBytes) -> String {
        String::from_utf8(m.bytes.clone()).unwrap()
    }

    /// `old`'s text with layer 0's values now those of [`compressed`], typed `new_type`.
    fn first_layer_replaced(old: &ManifestBytes, old_type: &str, new_type: &str) -> String {
        text(old).replace(
            &format!(
                r#""mediaType": "{old_type}", "size": 1000, "digest": "{}""#,
                digest(1)
            ),
            &format!(
                r#""mediaType": "{new_type}", "size": 300, "digest": "{}""#,
                digest(9)
            ),
        )
    }

    #[test]
    fn oci_layers_get_the_compressed_descriptor_and_nothing_else_changes() {
        for (c, t) in [
            (Compression::Gzip, mt::OCI_LAYER_TAR_GZIP),
            (Compression::Zstd, mt::OCI_LAYER_TAR_ZSTD),
        ] {
            let old = manifest(mt::OCI_MANIFEST, mt::OCI_LAYER_TAR);
            let new = with_compressed_layers(&old, &[compressed(c)]).unwrap();
            assert_eq!(new.media_type, mt::OCI_MANIFEST);
            assert_eq!(new.digest, Digest::sha256_of(&new.bytes));
            assert_eq!(text(&new), first_layer_replaced(&old, mt::OCI_LAYER_TAR, t));
            assert_eq!(layers(&new)[0]["annotations"]["a"], "b");
        }
    }

    #[test]
    fn docker_plain_layers_are_compressible() {
        assert!(is_compressible(mt::DOCKER_LAYER_TAR) && is_compressible(mt::OCI_LAYER_TAR));
        assert!(!is_compressible(mt::OCI_NONDISTRIBUTABLE_LAYER_TAR));
        assert!(!is_compressible(mt::DOCKER_FOREIGN_LAYER_TAR));
    }

    #[test]
    fn docker_manifests_stay_docker_for_gzip_and_become_oci_for_zstd() {
        let old = manifest(mt::DOCKER_MANIFEST, mt::DOCKER_LAYER_TAR);
        let gz = with_compressed_layers(&old, &[compressed(Compression::Gzip)]).unwrap();
        assert_eq!(gz.media_type, mt::DOCKER_MANIFEST);
        assert_eq!(
            text(&gz),
            first_layer_replaced(&old, mt::DOCKER_LAYER_TAR, mt::DOCKER_LAYER_TAR_GZIP)
        );

        let zst = with_compressed_layers(&old, &[compressed(Compression::Zstd)]).unwrap();
        assert_eq!(zst.media_type, mt::OCI_MANIFEST);
        let expected = first_layer_replaced(&old, mt::DOCKER_LAYER_TAR, mt::OCI_LAYER_TAR_ZSTD)
            .replace(mt::DOCKER_MANIFEST, mt::OCI_MANIFEST)
            .replace(mt::DOCKER_CONFIG, mt::OCI_CONFIG);
        assert_eq!(text(&zst), expected, "same form, OCI media types");
    }

    #[test]
    fn a_manifest_with_nothing_to_compress_keeps_its_bytes() {
        for (manifest_type, layer_type) in [
            (mt::DOCKER_MANIFEST, mt::DOCKER_LAYER_TAR_GZIP),
            (mt::OCI_MANIFEST, mt::OCI_NONDISTRIBUTABLE_LAYER_TAR),
            (mt::DOCKER_MANIFEST, mt::DOCKER_LAYER_TAR),
        ] {
            let old = manifest(manifest_type, layer_type);
            // Layer 1 is not among the compressed ones, or not a plain distributable tar.
            let elsewhere = CompressedLayer {
                uncompressed: digest(5),
                ..compressed(Compression::Zstd)
            };
            let listed = compressed(Compression::Zstd);
            let given = match layer_type {
                mt::DOCKER_LAYER_TAR => elsewhere,
                _ => listed,
            };
            for new in [
                with_compressed_layers(&old, std::slice::from_ref(&given)).unwrap(),
                with_compressed_layers(&old, &[]).unwrap(),
            ] {
                assert_eq!(new, old, "{manifest_type} with {layer_type}");
            }
        }
    }

    #[test]
    fn other_compressions_are_refused() {
        let old = manifest(mt::OCI_MANIFEST, mt::OCI_LAYER_TAR);
        let err = with_compressed_layers(&old, &[compressed(Compression::Xz)]).unwrap_err();
        assert!(err.contains("xz"), "{err}");
        assert_eq!(
            compressed_layer_media_type(mt::DOCKER_MANIFEST, Compression::Zstd),
            None
        );
        assert_eq!(
            compressed_layer_media_type(mt::OCI_MANIFEST, Compression::None),
            None
        );
    }

    fn list(child: &ManifestBytes, other: &Digest) -> ManifestBytes {
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{}","digest":"{other}","size":5}}]}}"#,
            mt::DOCKER_MANIFEST_LIST,
            child.media_type,
            child.digest,
            child.bytes.len(),
            mt::DOCKER_MANIFEST,
        );
        bytes_of(text.into_bytes(), mt::DOCKER_MANIFEST_LIST.to_owned())
    }

    #[test]
    fn an_index_names_the_new_child_in_place_and_turns_oci_when_it_does() {
        let child = manifest(mt::DOCKER_MANIFEST, mt::DOCKER_LAYER_TAR);
        let old = list(&child, &digest(7));
        let new_child = with_compressed_layers(&child, &[compressed(Compression::Zstd)]).unwrap();
        let new = index_with_children(&old, &[(child.digest.clone(), new_child.clone())]).unwrap();
        assert_eq!(new.media_type, mt::OCI_INDEX);
        let expected = text(&old)
            .replacen(mt::DOCKER_MANIFEST_LIST, mt::OCI_INDEX, 1)
            .replace(
                &format!(
                    r#""mediaType":"{}","digest":"{}","size":{}"#,
                    mt::DOCKER_MANIFEST,
                    child.digest,
                    child.bytes.len()
                ),
                &format!(
                    r#""mediaType":"{}","digest":"{}","size":{}"#,
                    mt::OCI_MANIFEST,
                    new_child.digest,
                    new_child.bytes.len()
                ),
            );
        assert_eq!(text(&new), expected, "the other child keeps its entry");

        let gz_child = with_compressed_layers(&child, &[compressed(Compression::Gzip)]).unwrap();
        let gz = index_with_children(&old, &[(child.digest.clone(), gz_child)]).unwrap();
        assert_eq!(gz.media_type, mt::DOCKER_MANIFEST_LIST);
    }

    #[test]
    fn an_index_whose_children_did_not_change_keeps_its_bytes() {
        let child = manifest(mt::DOCKER_MANIFEST, mt::DOCKER_LAYER_TAR_GZIP);
        let old = list(&child, &digest(7));
        let same = with_compressed_layers(&child, &[compressed(Compression::Zstd)]).unwrap();
        for children in [vec![(child.digest.clone(), same)], vec![]] {
            assert_eq!(index_with_children(&old, &children).unwrap(), old);
        }
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
