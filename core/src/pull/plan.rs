//! What to pull and how, and what a finished pull hands back.

use std::time::Duration;

use crate::config::{RegistryConfig, TransferConfig};
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::platform::Platform;
use crate::reference::Reference;

/// The image to pull.
#[derive(Clone, Debug)]
pub struct PullPlan {
    /// Registry host (and port).
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Tag or digest.
    pub reference: String,
    /// The platform to take from an index (the runner passes the host's by default).
    pub platform: Platform,
    /// Keep every manifest of an index instead of choosing one.
    pub all_platforms: bool,
    /// Blobs the runner already has: not downloaded again.
    pub have: Vec<Digest>,
    /// Stop after the manifests: download no blob (for a copy, which streams them).
    pub manifests_only: bool,
    /// The platform was asked for (`--platform`), not the runner's default: a single image
    /// (no index to choose from) whose config names another platform is refused, as
    /// `docker pull --platform` refuses it.
    pub platform_required: bool,
}

impl PullPlan {
    /// A pull of `image` for `platform`, every blob downloaded.
    pub fn of(image: &Reference, platform: Platform) -> PullPlan {
        PullPlan {
            registry: image.api_host().to_owned(),
            repository: image.repository.clone(),
            reference: image.manifest_ref(),
            platform,
            all_platforms: false,
            have: Vec::new(),
            manifests_only: false,
            platform_required: false,
        }
    }
}

/// How to pull.
#[derive(Clone, Debug, Default)]
pub struct PullConfig {
    /// How to reach the registry.
    pub registry: RegistryConfig,
    /// How many blobs move at once.
    pub transfer: TransferConfig,
}

impl From<RegistryConfig> for PullConfig {
    /// Every default, reaching the registry as `registry` says.
    fn from(registry: RegistryConfig) -> Self {
        PullConfig {
            registry,
            ..PullConfig::default()
        }
    }
}

/// A manifest or index exactly as the registry served it, verified against its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    /// Digest of `bytes`.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One image manifest of the pull, with the blobs it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledImage {
    /// The manifest.
    pub manifest: FetchedManifest,
    /// The platform its index entry named, if it came from an index.
    pub platform: Option<Platform>,
    /// Its config blob.
    pub config: Descriptor,
    /// Its layers.
    pub layers: Vec<Descriptor>,
}

/// What a finished pull got.
#[derive(Clone, Debug, PartialEq)]
pub struct PullReport {
    /// What the reference named: an image manifest, or an index.
    pub root: FetchedManifest,
    /// The image manifests pulled: one, or with `all_platforms` every one of the index.
    pub images: Vec<PulledImage>,
    /// Unique blobs downloaded.
    pub blobs_downloaded: usize,
    /// Unique blobs the runner already had.
    pub blobs_skipped: usize,
    /// Bytes of blobs downloaded by this pull (what an earlier run left and this one
    /// continued is not counted again).
    pub bytes_downloaded: u64,
    /// Bytes of blobs skipped.
    pub bytes_skipped: u64,
    /// Retries made.
    pub retries: u32,
    /// Whether plain HTTP was used.
    pub plain_http: bool,
    /// Time from start to finish.
    pub elapsed: Duration,
    /// The highest transfer rate, in bytes per second ([`crate::progress::Progress::peak_bytes_per_second`]).
    pub peak_bytes_per_second: f64,
}
