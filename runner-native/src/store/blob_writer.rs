//! [`BlobWriter`]: a blob being downloaded into the store.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::layout::with_path;

/// A blob being written: a uniquely named temporary file under the store's `tmp/`, moved
/// into `blobs/<alg>/<hex>` by [`commit`](BlobWriter::commit) only.
///
/// The writer does not hash: the caller (the core) verifies the digest and calls `commit`
/// only when it matched; on a mismatch it calls [`discard`](BlobWriter::discard). Dropping a
/// writer that was not committed removes its temporary file, so a failed or interrupted
/// download never leaves a partial blob in place.
#[derive(Debug)]
pub struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    len: u64,
}

impl BlobWriter {
    pub(super) fn new(file: File, tmp: PathBuf, target: PathBuf) -> BlobWriter {
        BlobWriter {
            file: Some(file),
            tmp,
            target,
            len: 0,
        }
    }

    /// Writes `data` at `offset`. `offset` may be at most [`len`](BlobWriter::len): equal to
    /// append, smaller to restart there (a retry from 0, or a resume from the committed
    /// offset): everything from `offset` on is dropped first.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "blob write at offset {offset} past the end of the {} bytes written",
                    self.len
                ),
            ));
        }
        let file = self.file.as_mut().expect("open until commit or discard");
        if offset < self.len {
            file.set_len(offset)
                .map_err(|e| with_path(e, "cannot truncate", &self.tmp))?;
            self.len = offset;
        }
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(data))
            .map_err(|e| with_path(e, "cannot write", &self.tmp))?;
        self.len = offset + data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The temporary file (for reading back what was written, e.g. to re-hash on resume).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Syncs the file and renames it into `blobs/<alg>/<hex>`. If the blob is already there
    /// (another process stored it meanwhile; the content is the same), the temporary file is
    /// removed instead and the existing blob's mtime refreshed (see
    /// [`Store::keep_blob`](super::Store::keep_blob)). Returns the blob's path.
    ///
    /// Call it only after the digest was verified.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let file = self.file.take().expect("open until commit or discard");
        let result = self.move_into_place(file);
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }

    fn move_into_place(&self, file: File) -> io::Result<PathBuf> {
        file.sync_all()
            .map_err(|e| with_path(e, "cannot sync", &self.tmp))?;
        drop(file);
        if self.target.is_file() {
            let _ = fs::remove_file(&self.tmp);
            super::touch(&self.target);
            return Ok(self.target.clone());
        }
        if let Some(dir) = self.target.parent() {
            fs::create_dir_all(dir).map_err(|e| with_path(e, "cannot create", dir))?;
        }
        match fs::rename(&self.tmp, &self.target) {
            Ok(()) => Ok(self.target.clone()),
            // Lost a race on a platform where rename does not replace: the blob is there.
            Err(_) if self.target.is_file() => {
                let _ = fs::remove_file(&self.tmp);
                Ok(self.target.clone())
            }
            Err(e) => Err(with_path(e, "cannot move blob into", &self.target)),
        }
    }

    /// Removes the temporary file (a digest mismatch, a cancelled download).
    pub fn discard(mut self) -> io::Result<()> {
        drop(self.file.take());
        match fs::remove_file(&self.tmp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(with_path(e, "cannot remove", &self.tmp)),
        }
    }
}

/// Appends, like `write_at(len, …)`.
impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(self.len, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
