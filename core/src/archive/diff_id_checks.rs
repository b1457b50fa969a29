//! Which layers of a source a runner must decode and hash against their diffIDs before the
//! image goes anywhere ([`BlobSpec::diff_id_check`]): one rule for every runner, so the CLI
//! and tug-wasm check the same layers and refuse the same files.

use super::image::{BlobLocation, BlobSpec, ResolvedImage};

/// The layers of `images` to check, each once (with the first image that lists it, for
/// messages). A foreign layer is not checked: the file need not hold its bytes.
///
/// # Errors
///
/// One blob listed for two different diffIDs: its tar cannot hash to both, so the file is
/// refused at once, as skopeo refuses it. The message names the blob (its tar entry or
/// file) and both diffIDs.
pub fn layers_to_check(
    images: &[ResolvedImage],
) -> Result<Vec<(&BlobSpec, &ResolvedImage)>, String> {
    let mut todo: Vec<(&BlobSpec, &ResolvedImage)> = Vec::new();
    for image in images {
        for layer in image.layers.iter().filter(|l| !l.foreign) {
            let Some(diff_id) = &layer.diff_id_check else {
                continue;
            };
            match todo.iter().find(|(l, _)| l.digest == layer.digest) {
                Some((seen, _)) if seen.diff_id_check.as_ref() != Some(diff_id) => {
                    let first = seen
                        .diff_id_check
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    return Err(format!(
                        "{} is listed for two different diffIDs ({first} and {diff_id})",
                        where_held(layer)
                    ));
                }
                Some(_) => {}
                None => todo.push((layer, image)),
            }
        }
    }
    Ok(todo)
}

/// Where a blob's bytes are, for messages: `tar entry "…"` or `file "…"`.
pub fn where_held(blob: &BlobSpec) -> String {
    match &blob.location {
        BlobLocation::TarRange { entry, .. } => format!("tar entry {entry:?}"),
        BlobLocation::File { path } => format!("file {path:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::image::ManifestBytes;
    use crate::digest::Digest;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn layer(entry: &str, diff_id: Option<&[u8]>, foreign: bool) -> BlobSpec {
        BlobSpec {
            digest: Digest::sha256_of(entry.as_bytes()),
            size: 1,
            media_type: String::new(),
            compression: None,
            location: BlobLocation::TarRange {
                entry: entry.to_owned(),
                offset: 0,
            },
            diff_id_check: diff_id.map(Digest::sha256_of),
            foreign,
        }
    }

    fn image(layers: Vec<BlobSpec>) -> ResolvedImage {
        ResolvedImage {
            names: Vec::new(),
            manifest: ManifestBytes {
                bytes: Vec::new(),
                media_type: String::new(),
                digest: Digest::sha256_of(b""),
            },
            config: layer("config", None, false),
            layers,
            index: None,
            platform: None,
            attestation: false,
        }
    }

    #[test]
    fn each_layer_that_asks_is_checked_once_and_foreign_ones_never() {
        let a = layer("a/layer.tar", Some(b"a"), false);
        let images = [
            image(vec![a.clone(), layer("b/layer.tar", None, false)]),
            image(vec![a, layer("c/layer.tar", Some(b"c"), true)]),
        ];
        let todo = layers_to_check(&images).unwrap();
        let entries: Vec<String> = todo.iter().map(|(l, _)| where_held(l)).collect();
        assert_eq!(entries, ["tar entry \"a/layer.tar\""]);
    }

    #[test]
    fn a_blob_listed_for_two_diff_ids_is_refused_naming_both() {
        let a = layer("a/layer.tar", Some(b"one"), false);
        let mut again = a.clone();
        again.diff_id_check = Some(Digest::sha256_of(b"two"));
        let err = layers_to_check(&[image(vec![a]), image(vec![again])]).unwrap_err();
        assert!(err.starts_with("tar entry \"a/layer.tar\" is listed for two different diffIDs"));
        assert!(
            err.contains(&Digest::sha256_of(b"one").to_string()),
            "{err}"
        );
        assert!(
            err.contains(&Digest::sha256_of(b"two").to_string()),
            "{err}"
        );
    }
}
