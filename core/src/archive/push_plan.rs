//! A [`PushPlan`] for an image selection ([`SourceContents::select_for_push`]): every image's
//! config and layers in order, its manifest, and for a multi-platform index the per-platform
//! manifests before the index. One builder for the CLI and tug-wasm.
//!
//! [`SourceContents::select_for_push`]: super::SourceContents::select_for_push

use super::error::ArchiveError;
use super::image::{BlobLocation, BlobSpec, ManifestBytes, ResolvedImage, Selection};
use crate::platform::Platform;
use crate::push::{PlanBlob, PlanManifest, PushPlan};
use crate::reference::Reference;

/// A plan to push a selection, and blob by blob where each plan blob comes from.
#[derive(Clone, Debug)]
pub struct SelectionPlan<'a> {
    /// Blobs in image order (config, then layers), the manifests, to `target`'s reference;
    /// nothing to resume, mount or wait for.
    pub plan: PushPlan,
    /// For each of `plan.blobs`, the blob of the source it is (its bytes' location).
    pub sources: Vec<&'a BlobSpec>,
    /// For each of `plan.blobs`, what it is, for people: `config`, `layer 2/3`, and with
    /// several platforms `image 1/2 config`, `image 1/2 layer 1/3`.
    pub labels: Vec<String>,
}

impl<'a> Selection<'a> {
    /// The selection of `images`: the whole `index` when there is one, else the first image
    /// (`images` must then hold one). `None` when `images` is empty.
    pub fn of(images: &'a [ResolvedImage], index: Option<&'a ManifestBytes>) -> Option<Self> {
        match (index, images) {
            (_, []) => None,
            (Some(index), images) => Some(Selection::Index { index, images }),
            (None, [image, ..]) => Some(Selection::Image(image)),
        }
    }

    /// The selection narrowed to `platform`'s image (`--platform`, as skopeo copies one
    /// image of an index): an index's image for it, alone; a single image stays, unless its
    /// platform is known to be another. `Err` says what the source has.
    pub fn for_platform(self, platform: &Platform) -> Result<Selection<'a>, ArchiveError> {
        let images = self.images();
        let fits = |img: &ResolvedImage| {
            !img.attestation && img.platform.as_ref().is_some_and(|p| platform.matches(p))
        };
        let found = match self {
            Selection::Image(img) if img.platform.as_ref().is_none_or(|p| platform.matches(p)) => {
                Some(self)
            }
            Selection::Image(_) => None,
            Selection::Index { .. } => {
                let fitting = images.iter().filter(|i| fits(i));
                platform
                    .choose(fitting, |i| i.platform.as_ref())
                    .map(Selection::Image)
            }
        };
        found.ok_or_else(|| ArchiveError::ImageNotFound {
            requested: format!("for platform {platform}"),
            available: images
                .iter()
                .filter(|i| !i.attestation)
                .map(|i| match &i.platform {
                    Some(p) => format!("{p} ({})", i.describe()),
                    None => i.describe(),
                })
                .collect(),
        })
    }

    /// The images pushed, in order.
    pub fn images(&self) -> &'a [ResolvedImage] {
        match *self {
            Selection::Image(image) => std::slice::from_ref(image),
            Selection::Index { images, .. } => images,
        }
    }

    /// The index pushed last, for a multi-platform selection.
    pub fn index(&self) -> Option<&'a ManifestBytes> {
        match *self {
            Selection::Image(_) => None,
            Selection::Index { index, .. } => Some(index),
        }
    }

    /// The manifest pushed last, under the target's reference (the image's, or the index),
    /// and the manifests pushed by digest before it (an index's per-platform manifests).
    pub fn manifests(&self) -> (PlanManifest, Vec<PlanManifest>) {
        match *self {
            Selection::Image(image) => (PlanManifest::from(&image.manifest), Vec::new()),
            Selection::Index { index, images } => (
                PlanManifest::from(index),
                images
                    .iter()
                    .map(|i| PlanManifest::from(&i.manifest))
                    .collect(),
            ),
        }
    }

    /// The plan that pushes this selection to `target`: every blob but foreign layers.
    pub fn push_plan(&self, target: &Reference) -> SelectionPlan<'a> {
        let images = self.images();
        let several = self.index().is_some();
        let mut sources = Vec::new();
        let mut labels = Vec::new();
        for (i, image) in images.iter().enumerate() {
            let prefix = match several {
                true => format!("image {}/{} ", i + 1, images.len()),
                false => String::new(),
            };
            sources.push(&image.config);
            labels.push(format!("{prefix}config"));
            let n = image.layers.len();
            for (j, layer) in image.layers.iter().enumerate() {
                if layer.foreign {
                    // Fetched from its URLs by whoever runs the image; never uploaded.
                    continue;
                }
                sources.push(layer);
                labels.push(format!("{prefix}layer {}/{n}", j + 1));
            }
        }
        let (manifest, children) = self.manifests();
        let plan = PushPlan {
            registry: target.api_host().to_owned(),
            repository: target.repository.clone(),
            reference: target.manifest_ref(),
            blobs: sources
                .iter()
                .map(|b| PlanBlob {
                    digest: b.digest.clone(),
                    size: b.size,
                })
                .collect(),
            manifest,
            mount_from: None,
            mount_sources: Default::default(),
            resume: Vec::new(),
            pending: Vec::new(),
            streamed: Vec::new(),
            children,
        };
        SelectionPlan {
            plan,
            sources,
            labels,
        }
    }
}

impl SelectionPlan<'_> {
    /// The layout file each plan blob is read from, in plan order (for a plan of a layout
    /// directory); a blob that is a tar entry instead is the caller's mistake.
    pub fn layout_files(&self) -> Result<Vec<String>, ArchiveError> {
        let file = |blob: &&BlobSpec| match &blob.location {
            BlobLocation::File { path } => Ok(path.clone()),
            BlobLocation::TarRange { entry, .. } => Err(ArchiveError::Misuse {
                reason: format!(
                    "blob {} is tar entry {entry:?}, not a layout file",
                    blob.digest
                ),
            }),
        };
        self.sources.iter().map(file).collect()
    }
}

impl From<&ManifestBytes> for PlanManifest {
    fn from(m: &ManifestBytes) -> Self {
        PlanManifest {
            bytes: m.bytes.clone(),
            media_type: m.media_type.clone(),
            digest: m.digest.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{BlobLocation, SourceContents, SourceFormat};
    use crate::digest::Digest;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn manifest(text: &str) -> ManifestBytes {
        ManifestBytes {
            bytes: text.as_bytes().to_vec(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::sha256_of(text.as_bytes()),
        }
    }

    fn blob(name: &str, size: u64) -> BlobSpec {
        BlobSpec {
            digest: Digest::sha256_of(name.as_bytes()),
            size,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            compression: None,
            location: BlobLocation::TarRange {
                entry: format!("{name}/layer.tar"),
                offset: size * 512,
            },
            diff_id_check: None,
            foreign: false,
        }
    }

    fn image(name: &str, layers: &[(&str, u64)], index: Option<&ManifestBytes>) -> ResolvedImage {
        ResolvedImage {
            names: vec![format!("{name}:v1")],
            manifest: manifest(&format!("manifest of {name}")),
            config: blob(&format!("config of {name}"), 100),
            layers: layers.iter().map(|(n, s)| blob(n, *s)).collect(),
            index: index.cloned(),
            platform: None,
            attestation: false,
        }
    }

    fn target() -> Reference {
        "registry.example:5000/team/app:v2".parse().unwrap()
    }

    #[test]
    fn one_image_pushes_its_config_then_layers_then_its_manifest() {
        let img = image("a", &[("l1", 10), ("l2", 20), ("l1", 10)], None);
        let built = Selection::Image(&img).push_plan(&target());
        let plan = &built.plan;
        assert_eq!(plan.registry, "registry.example:5000");
        assert_eq!(plan.repository, "team/app");
        assert_eq!(plan.reference, "v2");
        let digests: Vec<&Digest> = plan.blobs.iter().map(|b| &b.digest).collect();
        assert_eq!(
            digests,
            [
                &img.config.digest,
                &img.layers[0].digest,
                &img.layers[1].digest,
                &img.layers[2].digest
            ]
        );
        assert_eq!(plan.blobs[2].size, 20);
        assert_eq!(plan.manifest.digest, img.manifest.digest);
        assert_eq!(plan.manifest.bytes, img.manifest.bytes);
        assert_eq!(plan.manifest.media_type, img.manifest.media_type);
        assert!(plan.children.is_empty() && plan.resume.is_empty() && plan.pending.is_empty());
        assert_eq!(plan.mount_from, None);
        assert_eq!(
            built.labels,
            ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
        );
        assert_eq!(built.sources[1].location, img.layers[0].location);
        assert_eq!(built.sources.len(), plan.blobs.len());
    }

    #[test]
    fn an_index_pushes_every_platform_then_the_index_under_the_reference() {
        let index = manifest("the index");
        let images = [
            image("amd64", &[("x", 1)], Some(&index)),
            image("arm64", &[("y", 2), ("z", 3)], Some(&index)),
        ];
        let contents = SourceContents {
            format: SourceFormat::OciArchive,
            images: images.to_vec(),
        };
        let selection = contents.select_for_push(Some("amd64:v1")).unwrap();
        assert!(
            selection.index().is_none(),
            "a single platform is one image"
        );
        let selection = Selection::of(&images, Some(&index)).unwrap();
        let built = selection.push_plan(&target());
        assert_eq!(built.plan.manifest.digest, index.digest);
        let children: Vec<&Digest> = built.plan.children.iter().map(|m| &m.digest).collect();
        assert_eq!(
            children,
            [&images[0].manifest.digest, &images[1].manifest.digest]
        );
        assert_eq!(
            built.labels,
            [
                "image 1/2 config",
                "image 1/2 layer 1/1",
                "image 2/2 config",
                "image 2/2 layer 1/2",
                "image 2/2 layer 2/2"
            ]
        );
        assert_eq!(built.plan.blobs.len(), 5);
        assert_eq!(built.plan.blobs[4].digest, images[1].layers[1].digest);
    }

    #[test]
    fn a_target_by_digest_or_without_a_tag_names_its_manifest_reference() {
        let img = image("a", &[], None);
        let latest: Reference = "127.0.0.1:5000/app".parse().unwrap();
        assert_eq!(
            Selection::Image(&img).push_plan(&latest).plan.reference,
            "latest"
        );
        let hub: Reference = "team/app:v1".parse().unwrap();
        let plan = Selection::Image(&img).push_plan(&hub).plan;
        assert_eq!(plan.registry, "registry-1.docker.io");
        assert_eq!(plan.repository, "team/app");
        let pinned: Reference = format!("127.0.0.1:5000/app@{}", img.manifest.digest)
            .parse()
            .unwrap();
        assert_eq!(
            Selection::Image(&img).push_plan(&pinned).plan.reference,
            img.manifest.digest.to_string()
        );
    }

    #[test]
    fn no_images_is_no_selection() {
        assert!(Selection::of(&[], None).is_none());
        assert!(Selection::of(&[], Some(&manifest("i"))).is_none());
    }
}
