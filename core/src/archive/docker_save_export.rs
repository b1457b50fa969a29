//! Writing an image as a classic `docker save` tar, as `docker load` and `skopeo copy
//! docker-archive:` read it: `<config hex>.json`, one uncompressed `<diffID hex>.tar` per
//! distinct layer, then `manifest.json` and `repositories`. This plans the entries; a runner
//! writes each one with [`super::tar_writer`], turning layer blobs back into their tars where
//! the bytes are ([`super::layer_tar`]) and checking each against its diffID with a
//! [`TarCheck`](super::layer_tar::TarCheck).

use serde::Deserialize;
use serde_json::json;

use super::error::ArchiveError;
use super::layer_tar::LayerName;
use super::media_types::{DOCKER_CONFIG, OCI_CONFIG};
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};

/// One entry of the tar, in writing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveEntry {
    /// The entry's name.
    pub name: String,
    /// What goes in it.
    pub content: SaveContent,
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveContent {
    /// These bytes: the config, `manifest.json`, `repositories`.
    Bytes(Vec<u8>),
    /// The tar of a layer: the layer blob decoded by its first bytes
    /// ([`layer_tar::decoding`](super::layer_tar::decoding)), which must hash to `diff_id`.
    Layer {
        /// The layer blob, and its image for messages.
        layer: LayerName,
        /// The diffID the config names for it.
        diff_id: Digest,
    },
}

/// The image a `docker save` tar holds: its config blob and layer blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveImage {
    /// The config blob's digest (the runner reads its bytes for [`SaveImage::entries`]).
    pub config: Digest,
    /// The layer blobs, in manifest order.
    pub layers: Vec<Digest>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl SaveImage {
    /// The image of manifest `bytes` (of `media_type`, with `digest`). A multi-platform index
    /// is refused: a `docker save` tar holds one platform.
    pub fn from_manifest(
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<SaveImage, ArchiveError> {
        let malformed = |reason: String| ArchiveError::Malformed {
            file: format!("manifest {digest}"),
            reason,
        };
        match manifest::parse(media_type, bytes).map_err(malformed)? {
            // An artifact (a Helm chart, a signature, an SBOM) has no image config: `docker
            // load` could not run it, and a docker-archive of it would be refused.
            Parsed::Image { config, .. }
                if ![OCI_CONFIG, DOCKER_CONFIG].contains(&config.media_type.as_str()) =>
            {
                Err(ArchiveError::UnsupportedFormat {
                    reason: format!(
                        "{digest} is an artifact, not a container image (its config is {}); a \
                         docker-archive holds images: write an OCI layout or archive instead",
                        crate::terminal_safe::terminal_safe(&config.media_type)
                    ),
                })
            }
            Parsed::Image { config, layers } => SaveImage::of(&config, &layers),
            Parsed::Index { manifests } => Err(ArchiveError::UnsupportedFormat {
                reason: format!(
                    "{digest} is a multi-platform index ({}), and a docker-archive holds one \
                     platform: choose one",
                    manifest::platforms_listed(&manifests)
                ),
            }),
        }
    }

    /// The image of a manifest's `config` and `layers`. A foreign layer is refused: a
    /// `docker save` tar holds every layer's bytes, and tug never fetches a foreign one from
    /// its URLs.
    pub fn of(config: &Descriptor, layers: &[Descriptor]) -> Result<SaveImage, ArchiveError> {
        if let Some(foreign) = layers.iter().find(|l| l.is_foreign()) {
            return Err(ArchiveError::UnsupportedFormat {
                reason: format!(
                    "layer {} is foreign (its bytes are at {}, outside the registry), and a \
                     docker-archive holds every layer's bytes; tug does not fetch foreign \
                     layers: write an OCI layout or archive instead",
                    foreign.digest,
                    crate::terminal_safe::terminal_safe(&foreign.urls.join(", "))
                ),
            });
        }
        Ok(SaveImage {
            config: config.digest.clone(),
            layers: layers.iter().map(|l| l.digest.clone()).collect(),
        })
    }

    /// The entries of the tar, given the config blob's bytes (`config`, already verified
    /// against its digest) and the image's name (`registry/repository:tag`) for `RepoTags`
    /// and `repositories`.
    pub fn entries(
        &self,
        config: &[u8],
        name: Option<&str>,
    ) -> Result<Vec<SaveEntry>, ArchiveError> {
        let config_file = format!("config {}", self.config);
        let malformed = |reason: String| ArchiveError::Malformed {
            file: config_file.clone(),
            reason,
        };
        let parsed: Config =
            serde_json::from_slice(config).map_err(|e| malformed(format!("not JSON: {e}")))?;
        let diff_ids = parsed.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        if diff_ids.len() != self.layers.len() {
            return Err(malformed(format!(
                "it lists {} diff_ids for {} layers",
                diff_ids.len(),
                self.layers.len()
            )));
        }
        let config_name = format!("{}.json", self.config.hex());
        let mut entries = vec![SaveEntry {
            name: config_name.clone(),
            content: SaveContent::Bytes(config.to_vec()),
        }];
        let mut layer_names: Vec<String> = Vec::new();
        for (i, (layer, diff_id)) in self.layers.iter().zip(&diff_ids).enumerate() {
            let diff_id: Digest = diff_id
                .parse()
                .map_err(|e| malformed(format!("rootfs.diff_ids[{i}]: {e}")))?;
            let entry = format!("{}.tar", diff_id.hex());
            // A layer used twice is written once; manifest.json names it twice.
            if !layer_names.contains(&entry) {
                entries.push(SaveEntry {
                    name: entry.clone(),
                    content: SaveContent::Layer {
                        layer: LayerName {
                            digest: layer.clone(),
                            image: name.map(str::to_owned),
                        },
                        diff_id,
                    },
                });
            }
            layer_names.push(entry);
        }
        // An image known only by its digest, or by a name that is no image reference (an
        // OCI `ref.name` such as `Release_1`), has no tag to give `docker load`.
        let name = name.filter(|n| {
            n.parse::<Digest>().is_err()
                && n.parse::<crate::reference::Reference>()
                    .is_ok_and(|r| r.digest.is_none())
        });
        let tags: Vec<&str> = name.into_iter().collect();
        let manifest = json!([{ "Config": config_name, "RepoTags": tags, "Layers": layer_names }]);
        let repositories = match name.and_then(split_tag) {
            Some((repository, tag)) => json!({ repository: { tag: self.config.hex() } }),
            None => json!({}),
        };
        entries.push(SaveEntry {
            name: "manifest.json".into(),
            content: SaveContent::Bytes(manifest.to_string().into_bytes()),
        });
        entries.push(SaveEntry {
            name: "repositories".into(),
            content: SaveContent::Bytes(repositories.to_string().into_bytes()),
        });
        Ok(entries)
    }
}

/// `registry/repository:tag` as (`registry/repository`, `tag`); a port's colon is no tag.
pub(crate) fn split_tag(name: &str) -> Option<(&str, &str)> {
    let (repository, tag) = name.rsplit_once(':')?;
    (!tag.contains('/')).then_some((repository, tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::layer_tar::{decoding, TarCheck};
    use crate::archive::tar_writer::{file_header, padding, END_OF_ARCHIVE};
    use crate::archive::test_util::resolve_tar;
    use crate::archive::{BlobLocation, SourceFormat};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    struct Image {
        manifest: Vec<u8>,
        config: Vec<u8>,
        blobs: Vec<(Digest, Vec<u8>)>,
        tars: Vec<Vec<u8>>,
    }

    /// An image of plain layers `tars` (a repeated one included), as a registry holds it.
    fn image(tars: &[&[u8]]) -> Image {
        let diff_ids: Vec<String> = tars
            .iter()
            .map(|t| Digest::sha256_of(t).to_string())
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        }))
        .unwrap();
        let layers: Vec<_> = tars
            .iter()
            .map(|t| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256_of(t).to_string(), "size": t.len()}))
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(&config).to_string(), "size": config.len()},
            "layers": layers,
        }))
        .unwrap();
        Image {
            blobs: tars
                .iter()
                .map(|t| (Digest::sha256_of(t), t.to_vec()))
                .collect(),
            tars: tars.iter().map(|t| t.to_vec()).collect(),
            manifest,
            config,
        }
    }

    #[test]
    fn an_artifact_is_not_written_as_a_docker_archive() {
        let empty = Digest::sha256_of(b"{}");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example+type",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
        }))
        .unwrap();
        let digest = Digest::sha256_of(&manifest);
        let err = SaveImage::from_manifest(&digest, OCI_MANIFEST, &manifest).unwrap_err();
        assert!(
            err.to_string()
                .contains("is an artifact, not a container image"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("application/vnd.oci.empty.v1+json"),
            "{err}"
        );
    }

    fn save_image(img: &Image) -> SaveImage {
        let digest = Digest::sha256_of(&img.manifest);
        SaveImage::from_manifest(&digest, OCI_MANIFEST, &img.manifest).unwrap()
    }

    /// Writes the planned tar as a runner does: bytes as they are, layers decoded (here:
    /// plain) and checked against their diffIDs.
    fn write(img: &Image, entries: &[SaveEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in entries {
            let data = match &entry.content {
                SaveContent::Bytes(b) => b.clone(),
                SaveContent::Layer { layer, diff_id } => {
                    let blob = &img
                        .blobs
                        .iter()
                        .find(|(d, _)| d == &layer.digest)
                        .unwrap()
                        .1;
                    let compression = decoding(blob).unwrap();
                    let mut check = TarCheck::new(layer.clone(), diff_id.clone(), compression);
                    check.update(blob);
                    check.finish().unwrap();
                    blob.clone()
                }
            };
            out.extend(file_header(&entry.name, data.len() as u64).unwrap());
            out.extend_from_slice(&data);
            out.resize(out.len() + padding(data.len() as u64), 0);
        }
        out.extend_from_slice(&END_OF_ARCHIVE);
        out
    }

    #[test]
    fn the_entries_are_the_config_each_layer_once_then_manifest_json_and_repositories() {
        let img = image(&[b"layer one", b"layer two", b"layer one"]);
        let save = save_image(&img);
        let entries = save
            .entries(&img.config, Some("127.0.0.1:5000/team/app:v1"))
            .unwrap();
        let config_hex = Digest::sha256_of(&img.config).hex().to_owned();
        let one = format!("{}.tar", Digest::sha256_of(b"layer one").hex());
        let two = format!("{}.tar", Digest::sha256_of(b"layer two").hex());
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                format!("{config_hex}.json").as_str(),
                &one,
                &two,
                "manifest.json",
                "repositories"
            ]
        );
        assert_eq!(entries[0].content, SaveContent::Bytes(img.config.clone()));
        let SaveContent::Layer { layer, diff_id } = &entries[1].content else {
            panic!("{:?}", entries[1])
        };
        assert_eq!(layer.digest, save.layers[0]);
        assert_eq!(layer.image.as_deref(), Some("127.0.0.1:5000/team/app:v1"));
        assert_eq!(diff_id, &Digest::sha256_of(b"layer one"));
        let SaveContent::Bytes(manifest) = &entries[3].content else {
            panic!()
        };
        let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        assert_eq!(
            manifest,
            json!([{
                "Config": format!("{config_hex}.json"),
                "RepoTags": ["127.0.0.1:5000/team/app:v1"],
                "Layers": [one, two, one],
            }])
        );
        let SaveContent::Bytes(repositories) = &entries[4].content else {
            panic!()
        };
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(repositories).unwrap(),
            json!({"127.0.0.1:5000/team/app": {"v1": config_hex}})
        );
    }

    #[test]
    fn the_written_tar_resolves_as_a_docker_save_with_the_same_image() {
        let img = image(&[b"first layer's tar bytes", b"second"]);
        let entries = save_image(&img)
            .entries(&img.config, Some("r.example/app:v2"))
            .unwrap();
        let tar = write(&img, &entries);
        let contents = resolve_tar(&tar).unwrap();
        assert_eq!(contents.format, SourceFormat::DockerArchive);
        let [read] = contents.images.as_slice() else {
            panic!("{contents:?}")
        };
        assert_eq!(read.names, ["r.example/app:v2"]);
        assert_eq!(read.config.digest, Digest::sha256_of(&img.config));
        let layers: Vec<&Digest> = read.layers.iter().map(|l| &l.digest).collect();
        let diff_ids: Vec<Digest> = img.tars.iter().map(|t| Digest::sha256_of(t)).collect();
        assert_eq!(layers, diff_ids.iter().collect::<Vec<_>>());
        for (layer, tar_bytes) in read.layers.iter().zip(&img.tars) {
            let BlobLocation::TarRange { offset, .. } = layer.location else {
                panic!()
            };
            let at = offset as usize;
            assert_eq!(&tar[at..at + tar_bytes.len()], tar_bytes.as_slice());
        }
    }

    #[test]
    fn without_a_name_there_are_no_tags() {
        let img = image(&[b"l"]);
        // No name, or only its digest (an image loaded without one).
        let digest = format!("sha256:{}", "c".repeat(64));
        for name in [None, Some(digest.as_str())] {
            let entries = save_image(&img).entries(&img.config, name).unwrap();
            let SaveContent::Bytes(manifest) = &entries[2].content else {
                panic!()
            };
            assert!(String::from_utf8_lossy(manifest).contains(r#""RepoTags":[]"#));
            assert_eq!(entries[3].content, SaveContent::Bytes(b"{}".to_vec()));
        }
        assert_eq!(split_tag("127.0.0.1:5000/app"), None);
        assert_eq!(
            split_tag("127.0.0.1:5000/app:1"),
            Some(("127.0.0.1:5000/app", "1"))
        );
    }

    #[test]
    fn a_config_that_disagrees_with_the_layers_is_refused_naming_it() {
        let img = image(&[b"a", b"b"]);
        let save = save_image(&img);
        let config = Digest::sha256_of(&img.config);
        let one = json!({"rootfs": {"diff_ids": [Digest::sha256_of(b"a").to_string()]}});
        let err = save
            .entries(one.to_string().as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("config {config}")), "{err}");
        assert!(err.contains("1 diff_ids for 2 layers"), "{err}");
        let bad = json!({"rootfs": {"diff_ids": ["sha256:zz", "sha256:yy"]}});
        let err = save
            .entries(bad.to_string().as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rootfs.diff_ids[0]"), "{err}");
        let err = save.entries(b"not json", None).unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn an_index_is_refused_naming_its_platforms() {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": Digest::sha256_of(b"m").to_string(), "size": 1,
                           "platform": {"os": "linux", "architecture": "arm64"}}],
        })
        .to_string();
        let digest = Digest::sha256_of(index.as_bytes());
        let err = SaveImage::from_manifest(
            &digest,
            "application/vnd.oci.image.index.v1+json",
            index.as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("linux/arm64") && err.contains("one platform"),
            "{err}"
        );
        let err = SaveImage::from_manifest(&digest, OCI_MANIFEST, b"{")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("manifest {digest}")), "{err}");
    }
}
