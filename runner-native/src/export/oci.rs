//! OCI image layout output: a directory, or the same layout in a tar file.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::NamedTempFile;

use super::io_util::{Meter, Metered};
use super::{io_err, oci_ref_name, parent_dir, Blob, ExportError, ExportReport, Format, Plan};
use crate::store::layout::{
    self, index_bytes, read_index, write_atomic, IndexEntry, IndexFile, CONTAINERD_NAME,
    OCI_LAYOUT_FILE, REF_NAME,
};
use crate::store::Store;

/// The `index.json` entries for the plan's images.
fn entries(plan: &Plan) -> Vec<IndexEntry> {
    plan.images
        .iter()
        .map(|image| {
            let mut entry =
                IndexEntry::new(&image.root.media_type, &image.root.digest, image.root.size);
            if let Some(name) = &image.name {
                if let Some(tag) = oci_ref_name(name) {
                    entry.annotations.insert(REF_NAME.into(), tag.into());
                }
                entry
                    .annotations
                    .insert(CONTAINERD_NAME.into(), name.clone());
            }
            entry
        })
        .collect()
}

fn blob_rel_path(blob: &Blob) -> String {
    format!(
        "blobs/{}/{}",
        blob.digest.algorithm().name(),
        blob.digest.hex()
    )
}

/// Writes (or updates) the OCI layout directory `output`.
pub(super) fn write_dir(
    store: &Store,
    plan: &Plan,
    output: &Path,
    meter: &mut Meter<'_>,
    link_blobs: bool,
) -> Result<ExportReport, ExportError> {
    let created = match fs::metadata(output) {
        Ok(m) if !m.is_dir() => {
            return Err(ExportError::Output(format!(
                "{} exists and is not a directory; an OCI layout is a directory (use \
                 --format oci-archive for a file)",
                output.display()
            )))
        }
        Ok(_) => {
            let is_layout = output.join("oci-layout").is_file();
            let empty = fs::read_dir(output)
                .map_err(io_err(format!("reading {}", output.display())))?
                .next()
                .is_none();
            if !is_layout && !empty {
                return Err(ExportError::Output(format!(
                    "{} is neither empty nor an OCI image layout (no oci-layout file); not \
                     writing into it",
                    output.display()
                )));
            }
            false
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(output).map_err(io_err(format!("creating {}", output.display())))?;
            true
        }
        Err(e) => return Err(io_err(format!("reading {}", output.display()))(e)),
    };
    let result = fill_dir(store, plan, output, meter, link_blobs);
    if result.is_err() && created {
        let _ = fs::remove_dir_all(output);
    }
    result
}

fn fill_dir(
    store: &Store,
    plan: &Plan,
    output: &Path,
    meter: &mut Meter<'_>,
    link_blobs: bool,
) -> Result<ExportReport, ExportError> {
    let mut report = ExportReport {
        format: Format::Oci,
        images: 0,
        blobs: 0,
        bytes: 0,
        linked: 0,
    };
    for blob in plan.blobs() {
        meter.check().map_err(|_| ExportError::Cancelled)?;
        let target = output.join(blob_rel_path(blob));
        report.blobs += 1;
        if fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == blob.size) {
            meter.advance(blob.size);
            continue;
        }
        let dir = target.parent().expect("blob path has a parent");
        fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        if let Some(bytes) = &blob.inline {
            write_atomic(&target, bytes, dir)
                .map_err(io_err(format!("writing {}", target.display())))?;
            meter.advance(blob.size);
            continue;
        }
        let source = store.blob_path(&blob.digest);
        // A stale or partial file of another tool: replace it.
        let _ = fs::remove_file(&target);
        if link_blobs {
            match fs::hard_link(&source, &target) {
                Ok(()) => {
                    report.linked += 1;
                    meter.advance(blob.size);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    meter.advance(blob.size);
                    continue;
                }
                // Another filesystem, or links not allowed: copy.
                Err(_) => {}
            }
        }
        let (file, tmp) = layout::create_unique(dir, blob.digest.hex(), "tmp")
            .map_err(io_err(format!("writing into {}", dir.display())))?;
        let copied = copy_blob(store, blob, file, meter).and_then(|()| {
            fs::rename(&tmp, &target).map_err(io_err(format!("writing {}", target.display())))
        });
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    }

    let layout_file = output.join("oci-layout");
    if !layout_file.is_file() {
        write_atomic(&layout_file, OCI_LAYOUT_FILE, output)
            .map_err(io_err(format!("writing {}", layout_file.display())))?;
    }
    let index_path = output.join("index.json");
    let mut index =
        read_index(&index_path).map_err(io_err(format!("reading {}", index_path.display())))?;
    for entry in entries(plan) {
        match entry.ref_name() {
            Some(tag) => index.manifests.retain(|e| e.ref_name() != Some(tag)),
            // An unnamed image replaces an unnamed entry of the same digest.
            None => index
                .manifests
                .retain(|e| e.ref_name().is_some() || e.digest != entry.digest),
        }
        index.manifests.push(entry);
    }
    write_atomic(&index_path, &index_bytes(&index), output)
        .map_err(io_err(format!("writing {}", index_path.display())))?;
    Ok(report)
}

fn copy_blob(
    store: &Store,
    blob: &Blob,
    file: File,
    meter: &mut Meter<'_>,
) -> Result<(), ExportError> {
    let source = store.blob_path(&blob.digest);
    let reader = File::open(&source).map_err(io_err(format!("reading {}", source.display())))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    io::copy(
        &mut Metered {
            inner: reader,
            meter,
        },
        &mut out,
    )
    .map_err(io_err(format!("copying blob {}", blob.digest)))?;
    let file = out
        .into_inner()
        .map_err(|e| io_err(format!("copying blob {}", blob.digest))(e.into_error()))?;
    file.sync_all()
        .map_err(io_err(format!("copying blob {}", blob.digest)))
}

/// Writes the layout as a tar file at `output` (a temporary file renamed into place).
pub(super) fn write_archive(
    store: &Store,
    plan: &Plan,
    output: &Path,
    meter: &mut Meter<'_>,
) -> Result<ExportReport, ExportError> {
    let mut tar = TarOut::create(output)?;
    tar.append_bytes("oci-layout", OCI_LAYOUT_FILE)?;
    tar.append_dir("blobs/")?;
    let mut algorithm_dirs = std::collections::BTreeSet::new();
    let blobs = plan.blobs();
    for blob in &blobs {
        let alg = blob.digest.algorithm().name();
        if algorithm_dirs.insert(alg) {
            tar.append_dir(&format!("blobs/{alg}/"))?;
        }
        if let Some(bytes) = &blob.inline {
            tar.append_bytes(&blob_rel_path(blob), bytes)?;
            meter.advance(blob.size);
            continue;
        }
        let source = store.blob_path(&blob.digest);
        let file = File::open(&source).map_err(io_err(format!("reading {}", source.display())))?;
        tar.append_reader(
            &blob_rel_path(blob),
            blob.size,
            Metered {
                inner: file,
                meter: &mut *meter,
            },
        )?;
    }
    let index = IndexFile {
        manifests: entries(plan),
        ..IndexFile::default()
    };
    tar.append_bytes("index.json", &index_bytes(&index))?;
    tar.finish()?;
    Ok(ExportReport {
        format: Format::OciArchive,
        images: 0,
        blobs: blobs.len(),
        bytes: 0,
        linked: 0,
    })
}

/// A tar being written to a temporary file next to its destination; dropped without
/// [`finish`](TarOut::finish), the temporary file is removed.
pub(super) struct TarOut {
    builder: tar::Builder<BufWriter<NamedTempFile>>,
    output: std::path::PathBuf,
    mtime: u64,
}

impl TarOut {
    pub fn create(output: &Path) -> Result<TarOut, ExportError> {
        if output.is_dir() {
            return Err(ExportError::Output(format!(
                "{} is a directory; an archive is written as a file",
                output.display()
            )));
        }
        let dir = parent_dir(output);
        let prefix = format!(
            ".{}.",
            output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "tug".into())
        );
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tug-tmp")
            .tempfile_in(&dir)
            .map_err(io_err(format!("creating a file in {}", dir.display())))?;
        let builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp));
        let mtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(TarOut {
            builder,
            output: output.to_path_buf(),
            mtime,
        })
    }

    fn header(&self, size: u64, kind: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn context(&self) -> String {
        format!("writing {}", self.output.display())
    }

    pub fn append_dir(&mut self, path: &str) -> Result<(), ExportError> {
        let mut header = self.header(0, tar::EntryType::Directory);
        let context = self.context();
        self.builder
            .append_data(&mut header, path, io::empty())
            .map_err(io_err(context))
    }

    pub fn append_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<(), ExportError> {
        self.append_reader(path, bytes.len() as u64, bytes)
    }

    /// Appends an entry of exactly `size` bytes read from `reader`.
    pub fn append_reader(
        &mut self,
        path: &str,
        size: u64,
        reader: impl io::Read,
    ) -> Result<(), ExportError> {
        let mut header = self.header(size, tar::EntryType::Regular);
        let context = format!("{} ({path})", self.context());
        // `append_data` would pad a short reader with nothing and corrupt the tar: check.
        let mut counted = Counted {
            inner: reader,
            n: 0,
        };
        self.builder
            .append_data(&mut header, path, &mut counted)
            .map_err(io_err(context.clone()))?;
        if counted.n != size {
            return Err(io_err(context)(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read {} bytes, expected {size}", counted.n),
            )));
        }
        Ok(())
    }

    /// Ends the tar, syncs it, and renames it over OUTPUT.
    pub fn finish(self) -> Result<(), ExportError> {
        let context = self.context();
        let writer = self.builder.into_inner().map_err(io_err(context.clone()))?;
        let tmp = writer
            .into_inner()
            .map_err(|e| io_err(context.clone())(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io_err(context.clone()))?;
        tmp.persist(&self.output)
            .map_err(|e| io_err(context)(e.error))?;
        Ok(())
    }
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: io::Read> io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
