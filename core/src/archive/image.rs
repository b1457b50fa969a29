//! What a resolved source holds: images as manifest bytes plus blobs located in the source.

use std::fmt;

use super::compression::Compression;
use crate::digest::Digest;
use crate::platform::Platform;

/// The kind of source that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// Classic `docker save` tar: `manifest.json` + `<id>/layer.tar`.
    DockerArchive,
    /// `docker save` from Docker 25+: an OCI layout plus `manifest.json`, in a tar.
    DockerArchiveOci,
    /// A tar of an OCI image layout.
    OciArchive,
    /// An OCI image layout directory.
    OciLayout,
    /// skopeo's `dir:` layout: `version`, `manifest.json` and blobs named by their hex digest.
    SkopeoDir,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFormat::DockerArchive => "docker-archive",
            SourceFormat::DockerArchiveOci => "docker-archive (Docker 25+ OCI)",
            SourceFormat::OciArchive => "oci-archive",
            SourceFormat::OciLayout => "oci",
            SourceFormat::SkopeoDir => "dir",
        })
    }
}

/// Everything found in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContents {
    /// Which format the source is in.
    pub format: SourceFormat,
    /// The images, in the order the source lists them (never empty).
    pub images: Vec<ResolvedImage>,
}

/// One image ready to push: the manifest to PUT and the blobs it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// Names the source gives the image, e.g. `["busybox:latest"]`; may be empty.
    pub names: Vec<String>,
    /// The manifest to PUT, byte for byte.
    pub manifest: ManifestBytes,
    /// The config blob.
    pub config: BlobSpec,
    /// The layer blobs, in manifest order.
    pub layers: Vec<BlobSpec>,
    /// The index this manifest is listed in, for one platform of a multi-platform image.
    pub index: Option<ManifestBytes>,
    /// The image's platform: as its index entry gives it, else as its config declares it.
    pub platform: Option<Platform>,
    /// A buildkit attestation manifest of its index (provenance, SBOM: `unknown/unknown`):
    /// pushed and stored with the index, never chosen as the image to run.
    pub attestation: bool,
}

impl ResolvedImage {
    /// The names a store keeps the image under. Beside a whole name (containerd's
    /// `io.containerd.image.name`, `docker.io/library/app:1`), an OCI `ref.name` that is a
    /// bare word (`1`, `latest`) is that name's tag, as buildx, Docker and containerd write
    /// it, not a repository: it is left out (it still selects the image in the file). Alone
    /// (`skopeo copy … oci:DIR:app`), it is the only name there is and is kept.
    pub fn repository_names(&self) -> Vec<&str> {
        let bare = |n: &str| !n.contains(['/', ':', '@']);
        let whole = self.names.iter().any(|n| n.contains('/'));
        self.names
            .iter()
            .map(String::as_str)
            .filter(|n| !(whole && bare(n)))
            .collect()
    }
}

/// What to push for a name: one image, or a multi-platform index with its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// A single image.
    Image(&'a ResolvedImage),
    /// Every image of a multi-platform index present in the source, then the index.
    Index {
        /// The index to push last.
        index: &'a ManifestBytes,
        /// Its images (all of them share `index`).
        images: &'a [ResolvedImage],
    },
}

/// Manifest bytes with their media type and digest (sha256 of exactly these bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBytes {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// The manifest's media type (the `Content-Type` of the PUT).
    pub media_type: String,
    /// Digest of `bytes`.
    pub digest: Digest,
}

/// A blob the manifest refers to, and where its bytes are in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSpec {
    /// The blob's digest as the manifest names it.
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
    /// Its media type as the manifest names it.
    pub media_type: String,
    /// Layers only: the compression (sniffed for docker saves; from the media type for OCI
    /// layouts, except that a layer labelled a plain tar is sniffed too; `None` for an
    /// unknown layer media type). Always `None` for configs.
    pub compression: Option<Compression>,
    /// Where the bytes are.
    pub location: BlobLocation,
    /// Layers whose bytes nothing else vouches for (a compressed layer of a classic `docker
    /// save` or a crane tarball, its digest taken from its own bytes): the diffID its tar
    /// must hash to. A runner checks it before the image goes anywhere, as skopeo does.
    pub diff_id_check: Option<Digest>,
    /// A foreign layer (its descriptor names `urls`): never uploaded, and the source need
    /// not hold its bytes ([`crate::manifest::Descriptor::is_foreign`]).
    pub foreign: bool,
}

/// Where a blob's bytes are in the source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BlobLocation {
    /// In a tar file: `size` bytes from `offset`, the data of tar entry `entry` (after
    /// following links).
    TarRange {
        /// The tar entry holding the data (for messages).
        entry: String,
        /// The data offset of that entry in the tar file.
        offset: u64,
    },
    /// In a layout directory: the file at `path` (relative, `/`-separated, validated).
    File {
        /// The path relative to the layout directory.
        path: String,
    },
}

impl BlobLocation {
    /// Where the blob is, for messages, in the source called `source` (the tar file or the
    /// layout directory as the user named it): `tar entry "x" of app.tar`, `layout/blobs/…`.
    pub fn describe(&self, source: &str) -> String {
        match self {
            BlobLocation::TarRange { entry, .. } => format!("tar entry {entry:?} of {source}"),
            BlobLocation::File { path } => format!("{}/{path}", source.trim_end_matches('/')),
        }
    }
}
