//! Writing an image from an OCI layout directory into a tar file: an OCI archive (the layout
//! in a tar), or a `docker save` archive (`manifest.json`, `<hex>.json` config, uncompressed
//! `<diffid>.tar` layers) that `docker load` and `skopeo copy docker-archive:` read. The
//! core plans the docker save's entries and writes every tar header; this file reads and
//! writes the files.
//!
//! The tar is written next to the output and renamed into place only when complete (an
//! output that is a link or a stream is resolved first: [`crate::out_path`]). Layers
//! are streamed from files, never held in memory; a docker save's layers are decoded
//! straight into the tar ([`crate::save_stream`]).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use tug_core::archive::docker_save_export::{SaveContent, SaveImage};
use tug_core::archive::layer_tar::LayerTarError;
use tug_core::archive::oci_types::oci_rewrites;
use tug_core::archive::stored_image::{image_blobs, ImageBlobs};
use tug_core::archive::ManifestBytes;
use tug_core::archive::{pulled_layout, tar_writer, ArchiveError, INDEX_JSON, OCI_LAYOUT_FILE};
use tug_core::digest::Hasher;
use tug_core::manifest::{self, Descriptor};
use tug_core::Digest;

use crate::locked_temp::TempFile;
use crate::oci_dir::OciDir;
use crate::out_path::Dest;
use crate::output::{noteln, plural};
use crate::safe_fs::Access;
use crate::save_stream::{SaveError, SaveStream};

/// One image to write: its manifest (or index), already stored in the layout.
#[derive(Clone, Debug)]
pub struct ExportImage {
    /// `repository:tag` for `RepoTags` and the layout's ref name (the tag part).
    pub name: Option<String>,
    /// The `ref.name` an OCI archive gives it when the user named it (`oci-archive:PATH:NAME`:
    /// NAME as it is, as skopeo writes it); else one from `name`.
    pub ref_name: Option<String>,
    /// Whether the user gave that name (it replaces what it names in a layout), or tug chose
    /// it (it never takes another image's name: [`OciDir::tag`]).
    pub ref_given: bool,
    /// The manifest or index the image is.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Layer(Box<LayerTarError>),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Ctrl-C (or SIGTERM, SIGHUP) while the tar was written: nothing is left at the output.
    #[error("cancelled")]
    Cancelled,
}

impl ExportError {
    /// The command's error: a stop asked for is a cancellation (exit 130 for Ctrl-C), the
    /// rest `input` (a file that cannot be read or written).
    pub fn into_cli(self) -> crate::exit_code::CliError {
        match self {
            ExportError::Cancelled => crate::exit_code::CliError::Core(tug_core::Error::Cancelled),
            e => crate::exit_code::CliError::Input(e.to_string()),
        }
    }
}

/// A stop was asked for (Ctrl-C): as an I/O error, so that writing ends at once.
fn stop_asked() -> io::Result<()> {
    match crate::interrupt::requested() {
        true => Err(io::Error::other(Stopped)),
        false => Ok(()),
    }
}

/// What [`stop_asked`]'s error carries, to tell it from other I/O errors.
#[derive(Debug, thiserror::Error)]
#[error("stop asked for")]
struct Stopped;

/// Writes `image` from `layout` as an OCI archive at `out`.
pub fn write_oci_archive(
    layout: &OciDir,
    image: &ExportImage,
    out: &Path,
) -> Result<(), ExportError> {
    let export = oci_export(layout, image)?;
    let image = &export.image;
    let name = image.name.as_deref();
    note_absent(name, &export.absent);
    let index = pulled_layout::archive_index_json(
        &image.media_type,
        &image.digest,
        image.size,
        name,
        image.ref_name.as_deref(),
    );
    write_tar(out, |tar| {
        append_bytes(tar, OCI_LAYOUT_FILE, pulled_layout::OCI_LAYOUT_CONTENT)?;
        append_bytes(tar, INDEX_JSON, &index)?;
        for m in &export.rewritten {
            let name = format!("blobs/{}/{}", m.digest.algorithm().name(), m.digest.hex());
            append_bytes(tar, &name, &m.bytes)?;
        }
        for d in &export.stored {
            stop_asked()?;
            let name = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
            append_blob(tar, &name, &layout.blob_path(d), d)?;
        }
        stop_asked()
    })
}

/// What an OCI output (an archive, a layout) of a store image holds.
pub struct OciExport {
    /// The image as the output names it: with OCI media types where the store keeps the
    /// Docker ones a registry served ([`oci_rewrites`]).
    pub image: ExportImage,
    /// The blobs copied from the store, root first (the rewritten manifests' originals left out).
    pub stored: Vec<Digest>,
    /// The rewritten manifests, root first.
    pub rewritten: Vec<ManifestBytes>,
    /// The index entries whose manifests the store does not hold.
    pub absent: Vec<Descriptor>,
}

/// What an OCI output of `image` from `layout` holds ([`reachable`]), its Docker-typed
/// manifests rewritten with OCI media types as skopeo writes OCI outputs (it finds an
/// image by its `ref.name` only among OCI-typed entries).
pub fn oci_export(layout: &OciDir, image: &ExportImage) -> Result<OciExport, ExportError> {
    let ImageBlobs { blobs, absent, .. } = reachable(layout, &image.digest, &image.media_type)?;
    let root = ManifestBytes {
        bytes: layout.read_blob(&image.digest)?,
        media_type: image.media_type.clone(),
        digest: image.digest.clone(),
    };
    let rewrites =
        oci_rewrites(&root, |d| layout.read_blob_if_held(d)).map_err(ExportError::Invalid)?;
    let stored = blobs
        .into_iter()
        .filter(|d| !rewrites.iter().any(|r| &r.from == d))
        .collect();
    let mut retyped = image.clone();
    if let Some(new_root) = rewrites.last().filter(|r| r.from == image.digest) {
        retyped.digest = new_root.manifest.digest.clone();
        retyped.media_type = new_root.manifest.media_type.clone();
        retyped.size = new_root.manifest.bytes.len() as u64;
    }
    Ok(OciExport {
        image: retyped,
        stored,
        rewritten: rewrites.into_iter().rev().map(|r| r.manifest).collect(),
        absent,
    })
}

/// Says which platforms of the index `name` is the store lacks (`absent`), if any: as
/// Docker's containerd store saves an image, the index is written whole with the platforms
/// there are.
pub fn note_absent(name: Option<&str>, absent: &[Descriptor]) {
    if !absent.is_empty() {
        noteln!(
            "note: {} lists {} the store does not hold ({}); the output keeps the index \
             as it is, with the platforms there are",
            name.unwrap_or("the image"),
            plural(absent.len(), "platform"),
            manifest::platforms_listed(absent)
        );
    }
}

/// Writes the single-platform `image` from `layout` as a classic `docker save` archive: the
/// entries the core plans ([`SaveImage::entries`]), each layer decoded straight into the
/// tar once, one after the other, and checked against its diffID ([`SaveStream`]).
pub fn write_docker_archive(
    layout: &OciDir,
    image: &ExportImage,
    out: &Path,
) -> Result<(), ExportError> {
    let manifest = layout.read_blob(&image.digest)?;
    let save = SaveImage::from_manifest(&image.digest, &image.media_type, &manifest)?;
    let config = layout.read_blob(&save.config)?;
    let entries = save.entries(&config, image.name.as_deref())?;
    let mut stream = SaveStream::create(out, image.name.clone()).map_err(ExportError::from)?;
    stream.expect(&entries);
    for entry in &entries {
        if crate::interrupt::requested() {
            return Err(ExportError::Cancelled);
        }
        if let SaveContent::Layer { layer, .. } = &entry.content {
            let file = crate::safe_fs::open_read(&layout.blob_path(&layer.digest))?;
            stream.start_file(&layer.digest, file)?;
            stream.wait(&layer.digest)?;
        }
    }
    stream.finish(&entries)?.note();
    Ok(())
}

impl From<SaveError> for ExportError {
    fn from(e: SaveError) -> ExportError {
        match e {
            SaveError::Layer(e) => ExportError::Layer(e),
            SaveError::Output { .. } => ExportError::Io(io::Error::other(e.to_string())),
            SaveError::Cancelled => ExportError::Cancelled,
        }
    }
}

/// What image `root` (of `media_type`) needs from `layout` ([`image_blobs`]): its blobs,
/// root first, each config and layer there (and the foreign layers the layout happens to
/// hold), and the index entries of platforms it does not hold. Only manifests and indexes
/// are read; configs and layers are not opened.
pub fn reachable(
    layout: &OciDir,
    root: &Digest,
    media_type: &str,
) -> Result<ImageBlobs, ExportError> {
    let mut found = image_blobs(root, media_type, |d| layout.read_blob_if_held(d))
        .map_err(ExportError::Invalid)?;
    let held: Vec<Digest> = found
        .foreign
        .iter()
        .filter(|d| layout.has_blob(d))
        .cloned()
        .collect();
    found.blobs.extend(held);
    if let Some(d) = found.blobs.iter().find(|d| !layout.has_blob(d)) {
        return Err(ExportError::Invalid(format!(
            "blob {d} is missing from {}",
            layout.root().display()
        )));
    }
    Ok(found)
}

/// Where an archive asked to be written at `out` goes ([`Dest`]: through a link, into a
/// stream), found before any work: not a directory, in a directory that exists. `Err` names
/// the output. The archive is written at [`Dest::path`], then [`Dest::deliver`]ed.
pub fn check_output(out: &Path) -> Result<Dest, crate::exit_code::CliError> {
    Dest::resolve(out, "an archive")
}

/// Prefix of the temporary archive next to the output.
const OUT_PREFIX: &str = ".tug-out-";

/// Builds a tar at a temporary path next to `out` and renames it into place on success.
fn write_tar(
    out: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> Result<(), ExportError> {
    let dir = crate::out_path::dir_of(out);
    // An error names the output asked for, not the temporary file beside it. Leftovers of
    // killed runs beside it go first (they are unlocked: [`crate::locked_temp`]).
    let temp = TempFile::new(dir, OUT_PREFIX, Access::Private).map_err(|e| {
        let why = match dir.is_dir() {
            true => format!("cannot create a file in {}: {e}", dir.display()),
            false => format!("its directory {} does not exist", dir.display()),
        };
        io::Error::new(e.kind(), format!("{}: {why}", out.display()))
    })?;
    let result = (|| -> io::Result<()> {
        let mut tar = BufWriter::new(temp.file());
        fill(&mut tar)?;
        tar.write_all(&tar_writer::END_OF_ARCHIVE)?;
        tar.flush()?;
        tar.get_ref().sync_all()
    })();
    // Every error names the output asked for (a full disk, a directory in the way).
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", out.display()));
    let result = result.and_then(|()| {
        crate::file_ext::make_readable(temp.path())?;
        temp.persist(out)
    });
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let stopped = e.get_ref().is_some_and(|inner| inner.is::<Stopped>());
            Err(match stopped {
                true => ExportError::Cancelled,
                false => named(e).into(),
            })
        }
    }
}

/// One entry: the core's header, the data, the padding to the next block.
fn append_bytes(tar: &mut impl Write, name: &str, data: &[u8]) -> io::Result<()> {
    tar.write_all(&tar_writer::file_header(name, data.len() as u64).map_err(io::Error::other)?)?;
    tar.write_all(data)?;
    pad(tar, data.len() as u64)
}

/// Appends the layout's blob `digest` at `path` as the entry `name`, checked against its
/// digest as it is copied: a damaged copy in the store fails the archive (which is then
/// never put in place).
fn append_blob(tar: &mut impl Write, name: &str, path: &Path, digest: &Digest) -> io::Result<()> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    tar.write_all(&tar_writer::file_header(name, size).map_err(io::Error::other)?)?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut reader = f.take(size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tar.write_all(&buf[..n])?;
        copied += n as u64;
    }
    let actual = hasher.finish();
    if copied != size || &actual != digest {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: blob {digest} does not match its digest (got {actual}, {copied} bytes): \
                 the copy there is damaged; delete that file and pull the image again",
                path.display()
            ),
        ));
    }
    pad(tar, size)
}

fn pad(tar: &mut impl Write, size: u64) -> io::Result<()> {
    tar.write_all(&[0u8; 512][..tar_writer::padding(size)])
}
