//! What a copy is asked to do: the source (with its mirrors, tried first), the target, the
//! platform; and how the source's manifests become the target's push plan.

use crate::config::{RegistryConfig, TransferConfig};
use crate::manifest::is_index;
use crate::platform::Platform;
use crate::pull::{FetchedManifest, PullReport};
use crate::push::{PlanBlob, PlanManifest, PushPlan, ResumableUpload};
use crate::reference::Reference;
use crate::referrers::Known;

/// One place the image can be read from: a mirror, or the source registry itself.
#[derive(Clone, Debug)]
pub struct CopySource {
    /// The reference there (a mirror keeps the repository and reference).
    pub reference: Reference,
    /// How to reach it.
    pub config: RegistryConfig,
}

/// A registry-to-registry copy.
#[derive(Clone, Debug)]
pub struct CopyPlan {
    /// Where the image is read: mirrors first, the source registry last. The first that has
    /// it is used; one that lacks it (404) or cannot be reached gives way to the next.
    pub sources: Vec<CopySource>,
    /// Where it goes.
    pub target: Reference,
    /// How to reach the target.
    pub target_config: RegistryConfig,
    /// The one platform to copy from an index; `None` (the default, as crane, regctl and
    /// oras copy) copies every platform and the index itself, unchanged.
    pub platform: Option<Platform>,
    /// Upload sessions an earlier run left open on the target, as a push takes them
    /// ([`PushPlan::resume`]): for a blob the target still lacks, the copy asks how far the
    /// session got and reads the source from there on.
    pub resume: Vec<ResumableUpload>,
    /// What is attached to the image (signatures, SBOMs, attestations) is copied after it,
    /// read where the image was read, not asking what `Known` rules out; `None`: not copied.
    /// [`crate::referrers::COPY_BY_DEFAULT`] says what a copy does unless told.
    pub referrers: Option<Known>,
}

impl CopyPlan {
    /// Whether every platform of an index is copied, and the index with them.
    pub fn all_platforms(&self) -> bool {
        self.platform.is_none()
    }
}

/// How to copy: the blobs in flight, and the target's upload sizes.
#[derive(Clone, Debug)]
pub struct CopyConfig {
    /// How many blobs move at once (at both ends).
    pub transfer: TransferConfig,
    /// Size of each `PATCH` chunk (a copy sends every blob in chunks, never in one `PUT`:
    /// its bytes are checked as they pass, before the upload is closed).
    pub chunk_size: u64,
}

impl Default for CopyConfig {
    fn default() -> Self {
        let push = crate::push::PushConfig::default();
        CopyConfig {
            transfer: push.transfer,
            chunk_size: push.chunk_size,
        }
    }
}

/// The target's push: every image's blobs, its manifests, and the index when copying all
/// platforms of one; blobs are mounted when both sides are the same registry. Also the
/// blobs' display labels (`config`, `linux/arm64 layer 2/3`).
pub(crate) fn push_plan(
    resolved: &PullReport,
    source: &Reference,
    target: &Reference,
    all_platforms: bool,
) -> (PushPlan, Vec<String>) {
    let mut blobs = Vec::new();
    let mut labels = Vec::new();
    let several = resolved.images.len() > 1;
    for (i, img) in resolved.images.iter().enumerate() {
        let prefix = match (&img.platform, several) {
            (Some(p), true) => format!("{p} "),
            _ if several => format!("image {} ", i + 1),
            _ => String::new(),
        };
        blobs.push(PlanBlob {
            digest: img.config.digest.clone(),
            size: img.config.size,
        });
        labels.push(format!("{prefix}config"));
        let n = img.layers.len();
        for (j, l) in img.layers.iter().enumerate() {
            if l.is_foreign() {
                // The destination's manifest names it with its URLs, as the source's does.
                continue;
            }
            blobs.push(PlanBlob {
                digest: l.digest.clone(),
                size: l.size,
            });
            labels.push(format!("{prefix}layer {}/{n}", j + 1));
        }
    }
    let as_plan = |m: &FetchedManifest| PlanManifest {
        bytes: m.bytes.clone(),
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
    };
    let (manifest, children) = if all_platforms && is_index(&resolved.root.media_type) {
        let children = resolved
            .images
            .iter()
            .map(|i| as_plan(&i.manifest))
            .collect();
        (as_plan(&resolved.root), children)
    } else {
        let first = resolved
            .images
            .first()
            .map(|i| &i.manifest)
            .unwrap_or(&resolved.root);
        (as_plan(first), Vec::new())
    };
    let same_registry =
        source.api_host() == target.api_host() && source.repository != target.repository;
    let plan = PushPlan {
        registry: target.api_host().to_owned(),
        repository: target.repository.clone(),
        reference: target.manifest_ref(),
        blobs,
        manifest,
        children,
        mount_from: same_registry.then(|| source.repository.clone()),
        mount_sources: Default::default(),
        resume: Vec::new(),
        pending: Vec::new(),
        streamed: Vec::new(),
    };
    (plan, labels)
}
