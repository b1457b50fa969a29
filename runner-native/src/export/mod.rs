//! Writing images from the [`Store`] to an output: an OCI layout directory, an OCI archive,
//! or a classic `docker save` tar.
//!
//! Everything streams from the store's blob files (no layer is held in memory), and no
//! output is ever left half-written:
//! - `oci`: blobs are hard-linked from the store when it is on the same filesystem, else
//!   copied (temporary file + rename); `index.json` is replaced atomically last. A layout
//!   directory this export created is removed again on failure.
//! - `oci-archive` and `docker-archive`: the tar is written to a temporary file next to
//!   OUTPUT and renamed over it only when complete.
//!
//! Every blob is checked to be in the store (with the size its manifest records) before
//! anything is written.
//!
//! For `oci` and `oci-archive`, a Docker schema 2 manifest or manifest list is written with
//! OCI media types (a new manifest digest; config and layers unchanged), as skopeo does:
//! OCI layout readers ignore Docker-typed entries.

mod docker;
mod io_util;
mod oci;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::AtomicBool;

use tug_core::manifest::{self, Descriptor, Parsed};
use tug_core::Digest;

use crate::store::{Store, StoredImage};
use io_util::Meter;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// An OCI image layout directory (`skopeo … oci:DIR:TAG`).
    Oci,
    /// An OCI image layout in a tar file (`oci-archive:FILE`).
    OciArchive,
    /// A classic `docker save` tar (`docker load`, `docker-archive:FILE`).
    DockerArchive,
}

impl Format {
    /// The name used by `--format` and by skopeo's transports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::OciArchive => "oci-archive",
            Format::DockerArchive => "docker-archive",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oci" => Ok(Format::Oci),
            "oci-archive" => Ok(Format::OciArchive),
            "docker-archive" => Ok(Format::DockerArchive),
            other => Err(format!(
                "unknown format {other:?}: expected docker-archive, oci or oci-archive"
            )),
        }
    }
}

/// Chooses the output format. An explicit format wins; otherwise, from OUTPUT:
/// - an existing directory, a path ending in `/`, or a last component without extension
///   (`out`, `./image`) → `oci` (a layout directory);
/// - `*.oci.tar`, `*.oci-archive`, `*.oci-archive.tar`, `*.oci` … as a file name ending
///   `.oci.tar` or `.oci-archive[.tar]` → `oci-archive`;
/// - `*.tar` (also `*.docker.tar`) → `docker-archive`, what `docker load` reads;
/// - anything else (`*.tar.gz`, `*.zip`, `image.v1`) is an error asking for `--format`.
///
/// Existing regular files are judged by name too (they are replaced).
pub fn infer_format(output: &Path, explicit: Option<Format>) -> Result<Format, String> {
    if let Some(format) = explicit {
        return Ok(format);
    }
    if output.is_dir() {
        return Ok(Format::Oci);
    }
    let text = output.to_string_lossy();
    if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        return Ok(Format::Oci);
    }
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let ask = |why: &str| {
        format!(
            "cannot tell the output format of {}: {why}; pass --format docker-archive, oci \
             or oci-archive",
            output.display()
        )
    };
    if name.is_empty() || name == "." || name == ".." {
        return Ok(Format::Oci);
    }
    if name.ends_with(".oci.tar")
        || name.ends_with(".oci-archive")
        || name.ends_with(".oci-archive.tar")
    {
        return Ok(Format::OciArchive);
    }
    if name.ends_with(".tar") {
        return Ok(Format::DockerArchive);
    }
    if [".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Err(ask(
            "tug writes uncompressed archives only (name it *.tar and compress it afterwards)",
        ));
    }
    // A dot after the first character (".hidden" has no extension).
    match name[1..].rfind('.') {
        None => Ok(Format::Oci),
        Some(_) => Err(ask("its extension names no format tug knows")),
    }
}

/// One image to export: a manifest or index in the store, and the name to give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportImage {
    /// Full name, e.g. `127.0.0.1:5000/team/app:v1`, `team/app` (= `:latest`), or
    /// `team/app@sha256:…`; `None` for an unnamed image. A docker-archive lists it in
    /// `RepoTags` (not when it is a digest reference); an OCI layout's `index.json` entry gets
    /// its tag as `org.opencontainers.image.ref.name` (so `oci:DIR:TAG` finds it) and the full
    /// name as `io.containerd.image.name`.
    pub name: Option<String>,
    /// Digest of the manifest or index (stored in the store).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
}

impl ExportImage {
    /// An image by name, digest and media type.
    pub fn new(name: Option<String>, digest: Digest, media_type: impl Into<String>) -> Self {
        ExportImage {
            name,
            digest,
            media_type: media_type.into(),
        }
    }
}

impl From<&StoredImage> for ExportImage {
    fn from(image: &StoredImage) -> Self {
        ExportImage::new(
            image.name.clone(),
            image.digest.clone(),
            image.media_type.clone(),
        )
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The format written.
    pub format: Format,
    /// Images written.
    pub images: usize,
    /// Distinct blobs (or, for docker-archive, files) in the output.
    pub blobs: usize,
    /// Bytes of blobs read from the store.
    pub bytes: u64,
    /// Blobs hard-linked from the store instead of copied (`oci` only).
    pub linked: usize,
}

/// Progress reporting and cancellation for [`export_with`].
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called as bytes are read from the store: `(done, total)`.
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
    /// Checked between reads: when set, the export stops with [`ExportError::Cancelled`]
    /// and removes what it started.
    pub cancel: Option<&'a AtomicBool>,
}

/// Why an export failed. Nothing partial is left at OUTPUT in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the store or writing the output failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A blob an image needs is not in the store.
    #[error("{image}: {what} {digest} is not in the store")]
    MissingBlob {
        /// The image (name or digest).
        image: String,
        /// Which blob (`manifest`, `config`, `layer 2`, `linux/arm64 manifest`).
        what: String,
        /// Its digest.
        digest: Digest,
    },
    /// A stored blob's size differs from the size its manifest records.
    #[error(
        "{image}: {what} {digest} is {actual} bytes in the store but its manifest says {expected}"
    )]
    SizeMismatch {
        /// The image.
        image: String,
        /// Which blob.
        what: String,
        /// Its digest.
        digest: Digest,
        /// Size recorded in the manifest.
        expected: u64,
        /// Size in the store.
        actual: u64,
    },
    /// A manifest, index or config cannot be used.
    #[error("{image}: {message}")]
    InvalidImage {
        /// The image.
        image: String,
        /// What is wrong.
        message: String,
    },
    /// A docker-archive holds one platform; the image is a multi-platform index.
    #[error(
        "{image} is a multi-platform index ({platforms}); a docker-archive holds a single \
         platform: choose one with --platform, or write --format oci or oci-archive"
    )]
    NeedsPlatform {
        /// The image.
        image: String,
        /// The platforms it has, e.g. `linux/amd64, linux/arm64`.
        platforms: String,
    },
    /// A layer decompressed to something other than its diff_id.
    #[error(transparent)]
    DiffIdMismatch(Box<DiffIdMismatch>),
    /// A layer's compression cannot be undone for a docker-archive.
    #[error(
        "{image}: layer {index} ({digest}) is {compression}-compressed, which tug cannot \
         decompress for a docker-archive; write --format oci or oci-archive instead"
    )]
    UnsupportedCompression {
        /// The image.
        image: String,
        /// Layer index.
        index: usize,
        /// The layer's digest.
        digest: Digest,
        /// `bzip2` or `xz`.
        compression: &'static str,
    },
    /// OUTPUT cannot be used (e.g. a directory that is not an OCI layout, two images with one
    /// tag).
    #[error("{0}")]
    Output(String),
    /// [`Hooks::cancel`] was set.
    #[error("export cancelled")]
    Cancelled,
}

/// A layer whose uncompressed content does not hash to its diff_id.
#[derive(Debug, thiserror::Error)]
#[error(
    "{image}: layer {index} ({digest}) decompresses to {actual}, but the config's \
     rootfs.diff_ids[{index}] is {expected}"
)]
pub struct DiffIdMismatch {
    /// The image.
    pub image: String,
    /// Layer index, bottom first.
    pub index: usize,
    /// The layer blob's digest.
    pub digest: Digest,
    /// The diff_id in the config.
    pub expected: Digest,
    /// What the uncompressed layer hashes to.
    pub actual: Digest,
}

/// Adds a context (what, with which path) to an I/O error.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ExportError {
    let context = context.into();
    move |source| ExportError::Io { context, source }
}

/// Writes `images` (all from `store`) to `output` in `format`. An OCI layout directory that
/// exists is updated (entries with the same tag replaced); an archive file is replaced.
pub fn export(
    store: &Store,
    images: &[ExportImage],
    output: &Path,
    format: Format,
) -> Result<ExportReport, ExportError> {
    export_with(store, images, output, format, Hooks::default())
}

/// [`export`] with progress reporting and cancellation.
pub fn export_with(
    store: &Store,
    images: &[ExportImage],
    output: &Path,
    format: Format,
    hooks: Hooks<'_>,
) -> Result<ExportReport, ExportError> {
    run(store, images, output, format, hooks, true)
}

/// [`export_with`]; `link_blobs: false` makes an `oci` export copy blobs even where it could
/// hard-link them (tests use it to exercise the copy path).
fn run(
    store: &Store,
    images: &[ExportImage],
    output: &Path,
    format: Format,
    hooks: Hooks<'_>,
    link_blobs: bool,
) -> Result<ExportReport, ExportError> {
    if images.is_empty() {
        return Err(ExportError::Output("no image to export".into()));
    }
    let plan = Plan::new(store, images, format)?;
    let mut meter = Meter {
        done: 0,
        total: plan.total_bytes(),
        progress: hooks.progress,
        cancel: hooks.cancel,
    };
    let result = match format {
        Format::Oci => oci::write_dir(store, &plan, output, &mut meter, link_blobs),
        Format::OciArchive => oci::write_archive(store, &plan, output, &mut meter),
        Format::DockerArchive => docker::write_archive(store, &plan, output, &mut meter),
    };
    match result {
        Err(_) if meter.cancelled() => Err(ExportError::Cancelled),
        Ok(mut report) => {
            report.format = format;
            report.images = images.len();
            report.bytes = meter.done;
            Ok(report)
        }
        Err(e) => Err(e),
    }
}

/// A blob to write: digest, size, media type.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Bytes made by the export (a Docker manifest converted to OCI), not in the store.
    pub inline: Option<Vec<u8>>,
}

impl From<Descriptor> for Blob {
    fn from(d: Descriptor) -> Self {
        Blob {
            digest: d.digest,
            size: d.size,
            media_type: d.media_type,
            inline: None,
        }
    }
}

/// What an image consists of, checked against the store.
#[derive(Debug)]
pub(crate) struct PlannedImage {
    /// Name as given.
    pub name: Option<String>,
    /// How errors name it: the name, else the digest.
    pub label: String,
    /// The manifest or index as written (converted to OCI media types for the OCI formats
    /// when it is a Docker manifest or manifest list).
    pub root: Blob,
    /// For an image manifest: config and layers, bottom first.
    pub image: Option<(Blob, Vec<Blob>)>,
    /// Every distinct blob, children before parents, the root last.
    pub blobs: Vec<Blob>,
    /// Docker manifests converted to OCI: (old digest, new digest, new size).
    pub converted: Vec<(Digest, Digest, u64)>,
}

/// Every image, checked; blobs listed once across images.
#[derive(Debug)]
pub(crate) struct Plan {
    pub images: Vec<PlannedImage>,
}

impl Plan {
    fn new(store: &Store, images: &[ExportImage], format: Format) -> Result<Plan, ExportError> {
        let mut planned = Vec::new();
        for image in images {
            let label = image
                .name
                .clone()
                .unwrap_or_else(|| image.digest.to_string());
            let size = store
                .blob_size(&image.digest)
                .map_err(io_err(format!("{label}: reading the store")))?
                .ok_or_else(|| ExportError::MissingBlob {
                    image: label.clone(),
                    what: "manifest".into(),
                    digest: image.digest.clone(),
                })?;
            let root = Blob {
                digest: image.digest.clone(),
                size,
                media_type: image.media_type.clone(),
                inline: None,
            };
            let mut p = PlannedImage {
                name: image.name.clone(),
                label,
                root: root.clone(),
                image: None,
                blobs: Vec::new(),
                converted: Vec::new(),
            };
            let mut seen = HashSet::new();
            if let Some((parsed, written)) =
                visit(store, &mut p, &root, "manifest", &mut seen, format, 0, true)?
            {
                p.root = written;
                if let Parsed::Image { config, layers } = parsed {
                    p.image = Some((config.into(), layers.into_iter().map(Blob::from).collect()));
                }
            }
            planned.push(p);
        }
        if format != Format::DockerArchive {
            let mut tags = HashSet::new();
            for p in &planned {
                if let Some(tag) = p.name.as_deref().and_then(oci_ref_name) {
                    if !tags.insert(tag) {
                        return Err(ExportError::Output(format!(
                            "two images would both be tagged {tag:?} in the OCI layout"
                        )));
                    }
                }
            }
        }
        Ok(Plan { images: planned })
    }

    /// Every distinct blob of every image, each once, in writing order.
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut seen = HashSet::new();
        self.images
            .iter()
            .flat_map(|i| &i.blobs)
            .filter(|b| seen.insert(&b.digest))
            .collect()
    }

    fn total_bytes(&self) -> u64 {
        self.blobs().iter().map(|b| b.size).sum()
    }
}

/// Checks `blob` and (for manifests and indexes) everything below it, adding each to
/// `p.blobs` once (children first). Returns the parsed manifest or index and the blob as it
/// is written: for the OCI formats, a Docker manifest or list is rewritten with OCI media
/// types (a new digest), as skopeo does, because OCI layout readers (skopeo's `oci:`
/// included) only look at OCI-typed entries. Children are converted only when their parent
/// is (an OCI index pointing at Docker manifests keeps them as they are).
#[allow(clippy::too_many_arguments)]
fn visit(
    store: &Store,
    p: &mut PlannedImage,
    blob: &Blob,
    what: &str,
    seen: &mut HashSet<Digest>,
    format: Format,
    depth: usize,
    may_convert: bool,
) -> Result<Option<(Parsed, Blob)>, ExportError> {
    if !seen.insert(blob.digest.clone()) {
        return Ok(None);
    }
    check_blob(store, p, blob, what)?;
    if !is_manifest_type(&blob.media_type) {
        p.blobs.push(blob.clone());
        return Ok(None);
    }
    let bytes = store.read_blob(&blob.digest).map_err(io_err(format!(
        "{}: reading {what} {}",
        p.label, blob.digest
    )))?;
    let parsed =
        manifest::parse(&blob.media_type, &bytes).map_err(|e| ExportError::InvalidImage {
            image: p.label.clone(),
            message: format!("{what} {}: {e}", blob.digest),
        })?;
    match &parsed {
        Parsed::Image { config, layers } => {
            check_blob(store, p, &config.clone().into(), &format!("{what} config"))?;
            if seen.insert(config.digest.clone()) {
                p.blobs.push(config.clone().into());
            }
            for (i, layer) in layers.iter().enumerate() {
                let layer: Blob = layer.clone().into();
                check_blob(store, p, &layer, &format!("{what} layer {i}"))?;
                if seen.insert(layer.digest.clone()) {
                    p.blobs.push(layer);
                }
            }
        }
        Parsed::Index { manifests } => {
            if format == Format::DockerArchive && depth == 0 {
                let platforms: Vec<String> = manifests
                    .iter()
                    .map(|m| match &m.platform {
                        Some(pl) => match &pl.variant {
                            Some(v) => format!("{}/{}/{v}", pl.os, pl.architecture),
                            None => format!("{}/{}", pl.os, pl.architecture),
                        },
                        None => m.digest.to_string(),
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                return Err(ExportError::NeedsPlatform {
                    image: p.label.clone(),
                    platforms: platforms.join(", "),
                });
            }
            if depth > 8 {
                return Err(ExportError::InvalidImage {
                    image: p.label.clone(),
                    message: "indexes nested more than 8 deep".into(),
                });
            }
            let convert_children = may_convert && blob.media_type == manifest::DOCKER_MANIFEST_LIST;
            for child in manifests {
                let child_what = match &child.platform {
                    Some(pl) => format!("{}/{} manifest", pl.os, pl.architecture),
                    None => "child manifest".into(),
                };
                visit(
                    store,
                    p,
                    &child.clone().into(),
                    &child_what,
                    seen,
                    format,
                    depth + 1,
                    convert_children,
                )?;
            }
        }
    }
    let mut written = blob.clone();
    if may_convert && format != Format::DockerArchive {
        let converted = manifest::docker_to_oci(&bytes, &p.converted).map_err(|e| {
            ExportError::InvalidImage {
                image: p.label.clone(),
                message: format!("{what} {}: {e}", blob.digest),
            }
        })?;
        if let Some(new_bytes) = converted {
            let media_type = if matches!(parsed, Parsed::Index { .. }) {
                manifest::OCI_INDEX
            } else {
                manifest::OCI_MANIFEST
            };
            written = Blob {
                digest: Digest::sha256_of(&new_bytes),
                size: new_bytes.len() as u64,
                media_type: media_type.to_owned(),
                inline: Some(new_bytes),
            };
            p.converted
                .push((blob.digest.clone(), written.digest.clone(), written.size));
        }
    }
    p.blobs.push(written.clone());
    Ok(Some((parsed, written)))
}

fn check_blob(store: &Store, p: &PlannedImage, blob: &Blob, what: &str) -> Result<(), ExportError> {
    let actual = store
        .blob_size(&blob.digest)
        .map_err(io_err(format!("{}: reading the store", p.label)))?;
    match actual {
        None => Err(ExportError::MissingBlob {
            image: p.label.clone(),
            what: what.to_owned(),
            digest: blob.digest.clone(),
        }),
        Some(actual) if actual != blob.size => Err(ExportError::SizeMismatch {
            image: p.label.clone(),
            what: what.to_owned(),
            digest: blob.digest.clone(),
            expected: blob.size,
            actual,
        }),
        Some(_) => Ok(()),
    }
}

fn is_manifest_type(media_type: &str) -> bool {
    [
        manifest::OCI_MANIFEST,
        manifest::OCI_INDEX,
        manifest::DOCKER_MANIFEST,
        manifest::DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
}

/// Splits a name into repository and tag: `host:5000/a/b:v1` → (`host:5000/a/b`, `v1`);
/// no tag → `latest`; a digest reference (`a@sha256:…`) → `None` (it has no tag).
pub(crate) fn repo_and_tag(name: &str) -> Option<(&str, &str)> {
    if name.contains('@') {
        return None;
    }
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => Some((&name[..colon], &name[colon + 1..])),
        _ => Some((name, "latest")),
    }
}

/// The `org.opencontainers.image.ref.name` an OCI layout export gives an image: its tag.
pub(crate) fn oci_ref_name(name: &str) -> Option<&str> {
    repo_and_tag(name).map(|(_, tag)| tag)
}

/// The directory OUTPUT's temporary files go in (same filesystem, so a rename is atomic).
pub(crate) fn parent_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
