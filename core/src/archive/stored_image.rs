//! The blobs an image of a layout needs, found by walking from its root manifest: each
//! manifest, then each one's config and layers. An index entry whose manifest is not in the
//! layout is a platform the layout lacks, not an error: Docker's containerd store saves an
//! image's whole index with only the platforms it pulled (`docker save` from Docker 27 on).
//! Saving, sizing and pruning all take their blob lists from here.

use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};

/// What an image needs from its layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageBlobs {
    /// Every blob the image names and needs, root first, each once: the manifests present,
    /// and each one's config and layers (whether present or not; the caller checks).
    pub blobs: Vec<Digest>,
    /// The index entries whose manifests are not in the layout (platforms it does not hold).
    pub absent: Vec<Descriptor>,
    /// Foreign layers ([`Descriptor::is_foreign`]): fetched from their URLs, so a layout
    /// holds one or not; not in [`ImageBlobs::blobs`].
    pub foreign: Vec<Digest>,
}

/// The blobs image `root` (of `media_type`) needs, reading manifests with `read` (`Ok(None)`:
/// not in the layout; `Err`: why it cannot be read). Fails, naming the manifest, when the
/// root is absent or a manifest cannot be read or parsed: then what the image needs is
/// unknown.
pub fn image_blobs(
    root: &Digest,
    media_type: &str,
    mut read: impl FnMut(&Digest) -> Result<Option<Vec<u8>>, String>,
) -> Result<ImageBlobs, String> {
    let mut out = ImageBlobs::default();
    let mut pending = vec![(root.clone(), media_type.to_owned(), None::<Descriptor>)];
    while let Some((digest, media_type, entry)) = pending.pop() {
        if out.blobs.contains(&digest) {
            continue;
        }
        let read = read(&digest).map_err(|e| format!("manifest {digest} cannot be read: {e}"))?;
        let Some(bytes) = read else {
            match entry {
                Some(entry) => {
                    out.absent.push(entry);
                    continue;
                }
                None => return Err(format!("manifest {digest} is not in the layout")),
            }
        };
        out.blobs.push(digest.clone());
        let media_type = manifest::media_type_of(Some(&media_type), &bytes).unwrap_or(media_type);
        match manifest::parse(&media_type, &bytes).map_err(|e| format!("manifest {digest}: {e}"))? {
            Parsed::Index { manifests } => {
                // Walked in order: the stack takes them last first.
                for child in manifests.into_iter().rev() {
                    pending.push((child.digest.clone(), child.media_type.clone(), Some(child)));
                }
            }
            Parsed::Image { config, layers } => {
                for leaf in std::iter::once(config).chain(layers) {
                    let list = match leaf.is_foreign() {
                        true => &mut out.foreign,
                        false => &mut out.blobs,
                    };
                    if !list.contains(&leaf.digest) {
                        list.push(leaf.digest);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Whether an index entry is an image to run: not a buildkit attestation (provenance,
/// SBOM), which names its platform `unknown/unknown`.
pub fn is_runnable(entry: &Descriptor) -> bool {
    entry
        .platform
        .as_ref()
        .is_none_or(|p| !(p.os == "unknown" && p.architecture == "unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use std::collections::HashMap;

    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};

    fn digest(text: &str) -> Digest {
        Digest::sha256_of(text.as_bytes())
    }

    fn image(config: &str, layers: &[&str]) -> Vec<u8> {
        let blob = |t: &str| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(t).to_string(), "size": 1});
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config).to_string(), "size": 1},
            "layers": layers.iter().map(|l| blob(l)).collect::<Vec<_>>()}),
        )
        .unwrap()
    }

    fn index(entries: &[(&Digest, &str)]) -> Vec<u8> {
        let entry = |(d, platform): &(&Digest, &str)| {
            let (os, arch) = platform.split_once('/').unwrap();
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": 1,
                "platform": {"os": os, "architecture": arch}})
        };
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": entries.iter().map(entry).collect::<Vec<_>>()}),
        )
        .unwrap()
    }

    #[test]
    fn a_partial_index_names_the_platforms_it_lacks_and_every_blob_of_the_rest() {
        let amd64 = image("config-a", &["base", "app"]);
        let riscv = image("config-r", &["base", "app-r"]);
        let (amd64_d, riscv_d) = (Digest::sha256_of(&amd64), Digest::sha256_of(&riscv));
        let arm64_d = digest("arm64 manifest, not saved");
        let attestation_d = digest("attestation, not saved");
        let root = index(&[
            (&amd64_d, "linux/amd64"),
            (&arm64_d, "linux/arm64"),
            (&riscv_d, "linux/riscv64"),
            (&attestation_d, "unknown/unknown"),
        ]);
        let root_d = Digest::sha256_of(&root);
        let layout: HashMap<Digest, Vec<u8>> = [
            (root_d.clone(), root),
            (amd64_d.clone(), amd64),
            (riscv_d.clone(), riscv),
        ]
        .into();
        let read = |d: &Digest| Ok(layout.get(d).cloned());
        let found = image_blobs(&root_d, OCI_INDEX, read).unwrap();
        let expected = [
            root_d.clone(),
            amd64_d,
            digest("config-a"),
            digest("base"),
            digest("app"),
            riscv_d,
            digest("config-r"),
            digest("app-r"),
        ];
        assert_eq!(found.blobs, expected);
        let absent: Vec<_> = found.absent.iter().map(|e| e.digest.clone()).collect();
        assert_eq!(absent, [arm64_d, attestation_d.clone()]);
        assert!(is_runnable(&found.absent[0]));
        assert!(!is_runnable(&found.absent[1]));

        let missing_root = image_blobs(&attestation_d, OCI_INDEX, read);
        assert_eq!(
            missing_root,
            Err(format!("manifest {attestation_d} is not in the layout"))
        );
        let garbage = image_blobs(&root_d, OCI_INDEX, |_| Ok(Some(b"{".to_vec())));
        assert!(garbage
            .unwrap_err()
            .starts_with(&format!("manifest {root_d}: ")));
        let foreign = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest("config-w").to_string(), "size": 1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar",
                "digest": digest("base").to_string(), "size": 1,
                "urls": ["https://example.invalid/base.tar"]}]}))
        .unwrap();
        let found = image_blobs(&Digest::sha256_of(&foreign), OCI_MANIFEST, |_| {
            Ok(Some(foreign.clone()))
        })
        .unwrap();
        assert_eq!(
            found.foreign,
            [digest("base")],
            "a foreign layer is listed apart"
        );
        assert!(!found.blobs.contains(&digest("base")));
        let unreadable = image_blobs(&root_d, OCI_INDEX, |_| Err("Permission denied".into()));
        assert_eq!(
            unreadable,
            Err(format!(
                "manifest {root_d} cannot be read: Permission denied"
            ))
        );
    }
}
