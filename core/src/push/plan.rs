//! What to push and how: the plan (blobs and manifest), the tuning, and the final report.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{RegistryConfig, TransferConfig};
use crate::digest::Digest;
use crate::limits::{default_upload_size, BodyProgress};

/// Everything a push sends: blobs first, then the manifest that names them.
#[derive(Clone, Debug)]
pub struct PushPlan {
    /// Registry host (and port) to talk to, e.g. `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `team/app`.
    pub repository: String,
    /// Tag or digest to put the manifest under.
    pub reference: String,
    /// Config and layer blobs. Repeated digests are pushed once; a [`Body::BlobRange`]
    /// names the first blob in this list with that digest.
    ///
    /// [`Body::BlobRange`]: crate::http::Body::BlobRange
    pub blobs: Vec<PlanBlob>,
    /// The manifest, pushed last, under `reference`.
    pub manifest: PlanManifest,
    /// A repository on the same registry that may hold the blobs: each upload first asks
    /// the registry to mount the blob from there.
    pub mount_from: Option<String>,
    /// Repositories on the same registry where blobs were seen (most recent first), by
    /// digest (it may name blobs the plan does not): such a blob is mounted from the first
    /// that is not `repository` (before `mount_from`); a blob that is not there is uploaded
    /// as usual.
    pub mount_sources: BTreeMap<Digest, Vec<String>>,
    /// Upload sessions a previous run left open (from [`Event::UploadSession`]): for a blob
    /// the registry still lacks, the push asks how far its session got and goes on from
    /// there instead of starting over.
    ///
    /// [`Event::UploadSession`]: super::Event::UploadSession
    pub resume: Vec<ResumableUpload>,
    /// Manifests pushed by digest before `manifest`: the per-platform manifests of a
    /// multi-platform index. Empty for a single image.
    pub children: Vec<PlanManifest>,
    /// Indices into `blobs` of blobs still being made when the push starts (layers being
    /// compressed): their entries are estimates (the size counts towards progress) until
    /// [`Push::handle_blob_ready`] gives the digest and size. While any is listed, `manifest`
    /// and `children` wait for [`Push::handle_manifests`] too. The other blobs start at
    /// once; no manifest is sent before every blob is in.
    ///
    /// [`Push::handle_blob_ready`]: super::Push::handle_blob_ready
    /// [`Push::handle_manifests`]: super::Push::handle_manifests
    pub pending: Vec<usize>,
    /// Indices into `blobs` of blobs made while they are sent (layers compressed on the
    /// fly, each once): their digest and size are known only when their bytes end
    /// ([`Push::handle_blob_end`]). Until then an entry's `digest` is the name the blob goes
    /// by — the key its upload session is kept under across runs ([`Event::UploadSession`],
    /// `resume`), which must stand for the bytes it will have (a compressed layer: the plain
    /// layer's digest and the compression settings) — and its `size` an estimate for
    /// progress. Nothing can be asked about such a blob before its digest is known: it opens
    /// an upload at once, sends its bytes in `PATCH` chunks of a length known only as they
    /// end ([`Body::BlobStream`]), and closes the session with the digest. While any is
    /// listed, `manifest` and `children` wait for [`super::Push::handle_manifests`].
    ///
    /// [`Push::handle_blob_end`]: super::Push::handle_blob_end
    /// [`Event::UploadSession`]: super::Event::UploadSession
    /// [`Body::BlobStream`]: crate::http::Body::BlobStream
    pub streamed: Vec<usize>,
}

/// An upload session a previous run opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableUpload {
    /// The blob being uploaded.
    pub digest: Digest,
    /// The session's absolute URL, as the registry gave it.
    pub location: String,
    /// The bytes the registry confirmed holding (the last `UploadSession` event's
    /// `committed`): with it a report of `0-0`, which distribution sends for one byte as
    /// for none, is read right.
    pub committed: u64,
}

/// A blob to push. Its bytes stay wherever the runner keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// The manifest bytes to push, exactly as they will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanManifest {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its media type, sent as `Content-Type`.
    pub media_type: String,
    /// Digest of `bytes`.
    pub digest: Digest,
}

/// How to push.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// How to reach the registry.
    pub registry: RegistryConfig,
    /// How many blobs move at once.
    pub transfer: TransferConfig,
    /// Blobs up to this size go in one `PUT`; larger ones in `PATCH` chunks.
    pub monolithic_max: u64,
    /// Size of each `PATCH` chunk (raised to the registry's `OCI-Chunk-Min-Length`).
    pub chunk_size: u64,
    /// Only check which blobs the registry lacks; upload nothing, tag nothing.
    pub dry_run: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            registry: RegistryConfig::default(),
            transfer: TransferConfig::default(),
            // A runner that cannot see request bodies leave (a browser) sets its own.
            monolithic_max: default_upload_size(BodyProgress::Seen),
            chunk_size: default_upload_size(BodyProgress::Seen),
            dry_run: false,
        }
    }
}

impl From<RegistryConfig> for PushConfig {
    /// Every default, reaching the registry as `registry` says.
    fn from(registry: RegistryConfig) -> Self {
        PushConfig {
            registry,
            ..PushConfig::default()
        }
    }
}

/// What a finished push did.
#[derive(Clone, Debug, PartialEq)]
pub struct PushReport {
    /// Digest of the pushed manifest (in a dry run: of the manifest that would be pushed).
    pub manifest_digest: Digest,
    /// Unique blobs uploaded.
    pub blobs_uploaded: usize,
    /// Unique blobs the registry already had.
    pub blobs_skipped: usize,
    /// Unique blobs mounted from another repository (no bytes sent).
    pub blobs_mounted: usize,
    /// Bytes of blobs mounted.
    pub bytes_mounted: u64,
    /// Blobs the registry lacks (dry run only; empty after a real push).
    pub blobs_missing: Vec<Digest>,
    /// Bytes of blobs uploaded.
    pub bytes_uploaded: u64,
    /// Bytes of blobs skipped.
    pub bytes_skipped: u64,
    /// Bytes of uploaded blobs that sessions an earlier run left already held (counted in
    /// `bytes_uploaded`, not sent by this run: [`super::Event::BlobResumed`]).
    pub bytes_resumed: u64,
    /// Retries made.
    pub retries: u32,
    /// Whether plain HTTP was used.
    pub plain_http: bool,
    /// Time from start to finish.
    pub elapsed: Duration,
    /// The highest transfer rate, in bytes per second ([`crate::progress::Progress::peak_bytes_per_second`]).
    pub peak_bytes_per_second: f64,
    /// The registry answered the manifest's `PUT` with `OCI-Subject`: it lists the manifest
    /// as a referrer of its `subject` itself (the OCI 1.1 referrers API).
    pub subject_indexed: bool,
}
