//! What to pull and how, and what a finished pull hands back.

use std::time::Duration;

use crate::auth::Credentials;
use crate::digest::Digest;
use crate::endpoint::Scheme;
use crate::manifest::Descriptor;
use crate::platform::Platform;
use crate::retry::RetryPolicy;

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
}

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullConfig {
    /// HTTPS, HTTP, or HTTPS with the loopback fallback.
    pub scheme: Scheme,
    /// Credentials for authentication challenges.
    pub credentials: Option<Credentials>,
    /// Blobs downloaded at once; with `adaptive`, the most.
    pub jobs: usize,
    /// Choose the blobs in flight from measured throughput, between 1 and `jobs`, starting
    /// at `jobs` ([`crate::concurrency`]); off: always `jobs`.
    pub adaptive: bool,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// A response body read into memory (manifest, error, token) must arrive whole within
    /// this long after its head, or the request fails as timed out (and is retried).
    /// Zero: no deadline.
    pub body_deadline: Duration,
    /// Least time between progress events.
    pub progress_interval: Duration,
    /// `User-Agent` value.
    pub user_agent: String,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            scheme: Scheme::Https,
            credentials: None,
            jobs: 4,
            adaptive: true,
            retry: RetryPolicy::default(),
            body_deadline: crate::session::DEFAULT_BODY_DEADLINE,
            progress_interval: Duration::from_millis(200),
            user_agent: concat!("tug/", env!("CARGO_PKG_VERSION")).to_owned(),
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
    /// Bytes of blobs downloaded.
    pub bytes_downloaded: u64,
    /// Bytes of blobs skipped.
    pub bytes_skipped: u64,
    /// Retries made.
    pub retries: u32,
    /// Whether plain HTTP was used.
    pub plain_http: bool,
    /// Time from start to finish.
    pub elapsed: Duration,
}
