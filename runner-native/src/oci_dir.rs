//! An OCI image layout directory that tug writes into: `oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`. Pulls land here (an `oci:` output, or the local store), other tools
//! read it.
//!
//! Blobs arrive in temporary files and are renamed into place only after the core verified
//! them, so a blob file that exists is always complete. A download's temporary file is
//! `blobs/<alg>/.partial-<hex>`, locked while a process writes it and kept when the process
//! stops, so the next pull continues it (see [`OciDir::take_partials`]). `index.json`
//! changes take a lock and replace the file atomically, so two tug processes can write the
//! same layout.
//!
//! Nothing here follows a link or opens anything but a regular file ([`safe_fs`]): a link
//! or FIFO planted in the layout (`blobs/sha256/.partial-…`, `index.json`, a blob, the
//! lock) is refused with an error naming it, and its target is left alone.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tug_core::archive::pulled_layout::{IndexEntry, OCI_LAYOUT_CONTENT};
use tug_core::archive::{INDEX_JSON, OCI_LAYOUT_FILE};
use tug_core::manifest::OCI_INDEX;
use tug_core::Digest;

use crate::safe_fs::{self, Access};

/// An `index.json` that is not JSON, named.
fn unreadable_index(path: &Path, e: serde_json::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: not a readable index.json ({e})", path.display()),
    )
}

/// What a temporary file in `blobs/<alg>/` starts with (removed when its writer ends; one a
/// killed process left is removed by `tug prune`).
pub const TEMP_PREFIX: &str = ".tmp-";

/// The lock taken around `index.json` changes.
const LOCK_FILE: &str = ".tug.lock";

/// The lock of the store's users: held shared by a process that writes blobs into the store
/// and names them only at its end (a pull, a load), exclusively by `tug prune`, which so
/// never deletes a blob such a process relies on.
const USERS_FILE: &str = ".tug.users.lock";

/// An OCI image layout directory.
pub struct OciDir {
    root: PathBuf,
    /// Blobs being downloaded: temporary file per digest.
    partial: HashMap<Digest, TempBlob>,
}

/// A blob's temporary file while this process writes it.
struct TempBlob {
    path: PathBuf,
    file: File,
    /// `.partial-<hex>`, locked by us and kept for the next run if we stop; otherwise a
    /// file of our own (the partial one was locked by another process), removed on drop.
    resumable: bool,
}

/// An output layout a pull is about to create: removed again when the pull ends without
/// [`NewLayout::keep`] and nothing came into it (no blob, no download to resume, nothing in
/// `index.json`), so a failed pull leaves no empty layout behind. An empty directory given
/// as the output is left empty; one that held anything before is never touched.
pub struct NewLayout {
    root: Option<PathBuf>,
    /// The directory itself did not exist: it goes too.
    made: bool,
}

impl NewLayout {
    /// Notes whether `root` exists yet, or is an empty directory.
    pub fn at(root: &Path) -> NewLayout {
        let (fresh, made) = match fs::symlink_metadata(root) {
            Err(_) => (true, true),
            Ok(meta) => {
                let empty = meta.is_dir()
                    && fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_none());
                (empty, false)
            }
        };
        NewLayout {
            root: fresh.then(|| root.to_owned()),
            made,
        }
    }

    /// The pull succeeded: the layout stays.
    pub fn keep(mut self) {
        self.root = None;
    }
}

impl Drop for NewLayout {
    fn drop(&mut self) {
        if let Some(root) = self.root.take() {
            remove_if_unused(&root, self.made);
        }
    }
}

/// Removes the layout tug made at `root` if it holds nothing: `blobs/sha256` empty (no blob,
/// no partial download) and `index.json` listing no image; the directory itself too when
/// tug `made` it. Anything else there stays.
fn remove_if_unused(root: &Path, made: bool) {
    let lists_nothing = fs::read(root.join(INDEX_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v["manifests"].as_array().is_some_and(Vec::is_empty));
    if !lists_nothing || fs::remove_dir(root.join("blobs/sha256")).is_err() {
        return;
    }
    let _ = fs::remove_dir(root.join("blobs"));
    for file in [INDEX_JSON, OCI_LAYOUT_FILE, LOCK_FILE] {
        let _ = fs::remove_file(root.join(file));
    }
    if made {
        let _ = fs::remove_dir(root);
    }
}

/// Prefix of a download's resumable temporary file in `blobs/<alg>/`.
pub const PARTIAL_PREFIX: &str = ".partial-";

impl OciDir {
    /// Opens `root`, creating the layout if it does not exist yet. A layout whose `blobs`
    /// directories, `oci-layout` or `index.json` are links or special files is refused.
    pub fn open(root: &Path) -> io::Result<OciDir> {
        for dir in ["blobs", "blobs/sha256"] {
            safe_fs::check_dir_or_absent(&root.join(dir))?;
        }
        fs::create_dir_all(root.join("blobs/sha256"))?;
        let marker = root.join(OCI_LAYOUT_FILE);
        safe_fs::check_regular_or_absent(&marker)?;
        if fs::symlink_metadata(&marker).is_err() {
            write_atomic(&marker, OCI_LAYOUT_CONTENT)?;
        }
        let index = root.join(INDEX_JSON);
        safe_fs::check_regular_or_absent(&index)?;
        if fs::symlink_metadata(&index).is_err() {
            let empty = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
            write_atomic(&index, &serde_json::to_vec_pretty(&empty)?)?;
        }
        Ok(OciDir {
            root: root.to_owned(),
            partial: HashMap::new(),
        })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where blob `d` lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    /// Whether blob `d` is present (a present blob is always complete; a link is not one).
    pub fn has_blob(&self, d: &Digest) -> bool {
        safe_fs::is_regular(&self.blob_path(d))
    }

    /// Every blob present, so a pull does not download them again. An entry named like a
    /// blob or a download that is not a regular file (a planted link) is refused.
    pub fn blobs(&self) -> io::Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join("blobs/sha256"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let hex = name.strip_prefix(PARTIAL_PREFIX).unwrap_or(&name);
            let Ok(d) = format!("sha256:{hex}").parse::<Digest>() else {
                continue;
            };
            safe_fs::check_regular_or_absent(&entry.path())?;
            if hex.len() == name.len() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Marks blob `d` as just used, so a concurrent `tug prune` (which spares young blobs)
    /// leaves a blob this pull relies on but has not named yet.
    pub fn touch(&self, d: &Digest) {
        let options = OpenOptions::new().write(true).clone();
        if let Ok(f) = safe_fs::open(&self.blob_path(d), &options, Access::Shared) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Where blob `d`'s resumable download lives.
    fn partial_path(&self, d: &Digest) -> PathBuf {
        self.blob_path(d)
            .with_file_name(format!("{PARTIAL_PREFIX}{}", d.hex()))
    }

    /// The downloads earlier runs left here that no other process is writing now: each is
    /// locked for this process and handed to `feed` piece by piece from byte 0 (the pull
    /// hashes them and asks only for the rest). Ones whose blob is already complete are
    /// removed. One that is not a regular file (a planted link) is refused.
    pub fn take_partials(
        &mut self,
        mut feed: impl FnMut(&Digest, &[u8]),
    ) -> io::Result<Vec<(Digest, u64)>> {
        let dir = self.root.join("blobs/sha256");
        let mut taken = Vec::new();
        for entry in fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_prefix(PARTIAL_PREFIX) else {
                continue;
            };
            let Ok(d) = format!("sha256:{hex}").parse::<Digest>() else {
                continue;
            };
            let path = entry.path();
            let options = OpenOptions::new().read(true).write(true).clone();
            let file = match safe_fs::open(&path, &options, Access::Shared) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // finished meanwhile
                Err(e) => return Err(e),
            };
            if file.try_lock().is_err() {
                continue; // another tug process is downloading it right now
            }
            if self.has_blob(&d) {
                let _ = fs::remove_file(&path);
                continue;
            }
            let mut reader = io::BufReader::with_capacity(1 << 20, &file);
            let mut len = 0u64;
            loop {
                let buf = io::BufRead::fill_buf(&mut reader)?;
                if buf.is_empty() {
                    break;
                }
                let n = buf.len();
                feed(&d, buf);
                len += n as u64;
                io::BufRead::consume(&mut reader, n);
            }
            drop(reader);
            taken.push((d.clone(), len));
            self.partial.insert(
                d,
                TempBlob {
                    path,
                    file,
                    resumable: true,
                },
            );
        }
        Ok(taken)
    }

    /// Writes `data` at `offset` of blob `d`'s temporary file, creating it if needed.
    pub fn write_at(&mut self, d: &Digest, offset: u64, data: &[u8]) -> io::Result<()> {
        if !self.partial.contains_key(d) {
            let temp = self.new_temp(d)?;
            self.partial.insert(d.clone(), temp);
        }
        crate::file_ext::write_all_at(&self.partial[d].file, data, offset)
    }

    /// A fresh temporary file for blob `d`: the resumable one if no other process holds
    /// it, else one of this process's own.
    fn new_temp(&self, d: &Digest) -> io::Result<TempBlob> {
        let dir = self.blob_path(d).with_file_name("");
        fs::create_dir_all(&dir)?;
        let path = self.partial_path(d);
        let options = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .clone();
        let file = safe_fs::open(&path, &options, Access::Shared)?;
        if file.try_lock().is_ok() {
            // Bytes in it were not given to this pull: start it over.
            file.set_len(0)?;
            return Ok(TempBlob {
                path,
                file,
                resumable: true,
            });
        }
        let (file, path) =
            safe_fs::create_temp(&dir, &format!("{TEMP_PREFIX}{}", d.hex()), Access::Shared)?;
        Ok(TempBlob {
            path,
            file,
            resumable: false,
        })
    }

    /// Where blob `d`'s download is being written, while it is.
    pub fn temp_path(&self, d: &Digest) -> Option<&Path> {
        self.partial.get(d).map(|t| t.path.as_path())
    }

    /// Moves blob `d`'s verified temporary file into place.
    pub fn commit(&mut self, d: &Digest) -> io::Result<()> {
        let Some(temp) = self.partial.remove(d) else {
            // An empty blob gets no write: create it.
            return write_atomic(&self.blob_path(d), b"");
        };
        temp.file.sync_all()?;
        fs::rename(&temp.path, self.blob_path(d))
    }

    /// Stores blob `d` from the `size` bytes `from` gives, checked against its digest as they
    /// are copied: through a temporary file, renamed into place only when they match, thrown
    /// away otherwise (and when a stop is asked for, Ctrl-C).
    pub fn take_blob(&mut self, d: &Digest, from: impl Read, size: u64) -> Result<(), TakeError> {
        let copied = self.copy_in(d, from, size);
        let result = copied.and_then(|()| Ok(self.commit(d)?));
        if result.is_err() {
            self.discard(d);
        }
        result
    }

    /// [`OciDir::take_blob`]'s copy into the temporary file, and its check.
    fn copy_in(&mut self, d: &Digest, from: impl Read, size: u64) -> Result<(), TakeError> {
        let mut reader = from.take(size);
        let mut hasher = tug_core::digest::Hasher::new(d.algorithm());
        let mut buf = vec![0u8; 256 * 1024];
        let mut offset = 0u64;
        loop {
            if crate::interrupt::requested() {
                return Err(TakeError::Stopped);
            }
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            self.write_at(d, offset, &buf[..n])?;
            offset += n as u64;
        }
        let actual = hasher.finish();
        if offset != size || &actual != d {
            return Err(TakeError::Mismatch {
                actual,
                bytes: offset,
            });
        }
        Ok(())
    }

    /// Throws blob `d`'s temporary file away.
    pub fn discard(&mut self, d: &Digest) {
        if let Some(temp) = self.partial.remove(d) {
            let _ = fs::remove_file(temp.path);
        }
    }

    /// Stores a small blob (a manifest or index) whose digest the caller verified.
    pub fn put_blob(&self, d: &Digest, bytes: &[u8]) -> io::Result<()> {
        if self.has_blob(d) {
            return Ok(());
        }
        write_atomic(&self.blob_path(d), bytes)
    }

    /// Reads a small blob.
    pub fn read_blob(&self, d: &Digest) -> io::Result<Vec<u8>> {
        safe_fs::read(&self.blob_path(d))
    }

    /// Reads a small blob, `None` when the layout does not hold it (as a manifest walk
    /// wants it: [`tug_core::archive::stored_image::image_blobs`]).
    pub fn read_blob_if_held(&self, d: &Digest) -> Result<Option<Vec<u8>>, String> {
        match self.read_blob(d) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Names `digest` (a manifest or index already stored) `ref_name` in `index.json`,
    /// replacing an entry of the same name, or, when the name was not `given` by the user
    /// and names an image that may be another repository's, keeping it
    /// ([`IndexEntry::name_in`]). `full_name` and `created` go into annotations. Returns the
    /// ref name taken.
    pub fn tag(
        &self,
        ref_name: &str,
        full_name: Option<&str>,
        media_type: &str,
        digest: &Digest,
        size: u64,
        given: bool,
    ) -> io::Result<String> {
        let created = rfc3339_now();
        let entry = IndexEntry {
            media_type,
            digest,
            size,
            ref_name,
            image_name: full_name,
            created: Some(&created),
        };
        let mut took = String::new();
        self.update_index(|manifests| took = entry.name_in(manifests, given))?;
        Ok(took)
    }

    /// The `index.json` entries.
    pub fn entries(&self) -> io::Result<Vec<Value>> {
        let path = self.root.join(INDEX_JSON);
        let index: Value = serde_json::from_slice(&safe_fs::read(&path)?)
            .map_err(|e| unreadable_index(&path, e))?;
        Ok(index["manifests"].as_array().cloned().unwrap_or_default())
    }

    /// Read-modify-write of `index.json`'s manifests under the layout's lock.
    pub fn update_index(&self, change: impl FnOnce(&mut Vec<Value>)) -> io::Result<()> {
        let lock = self.lock()?;
        let path = self.root.join(INDEX_JSON);
        let mut index: Value = serde_json::from_slice(&safe_fs::read(&path)?)
            .map_err(|e| unreadable_index(&path, e))?;
        let mut manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        change(&mut manifests);
        index["manifests"] = Value::Array(manifests);
        write_atomic(&path, &serde_json::to_vec_pretty(&index)?)?;
        lock.unlock()
    }

    /// Takes the layout's lock. The lock file may be removed ([`OciDir::remove_lock_file`])
    /// while this waits for it: then the file now at the path is locked instead, so two
    /// processes never both hold the lock.
    fn lock(&self) -> io::Result<File> {
        let path = self.root.join(LOCK_FILE);
        loop {
            let lock = safe_fs::open_lock(&path, Access::Shared)?;
            lock.lock()?;
            if safe_fs::is_at(&lock, &path) {
                return Ok(lock);
            }
        }
    }

    /// Marks this process as one of the store's users until the file returned is dropped
    /// (waits while a prune runs).
    pub fn in_use(&self) -> io::Result<File> {
        let lock = safe_fs::open_lock(&self.root.join(USERS_FILE), Access::Shared)?;
        lock.lock_shared()?;
        Ok(lock)
    }

    /// The store to this process alone (for `tug prune`), or `None` while another process
    /// uses it ([`OciDir::in_use`]).
    pub fn alone(&self) -> io::Result<Option<File>> {
        let lock = safe_fs::open_lock(&self.root.join(USERS_FILE), Access::Shared)?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(lock)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Removes the lock file (under the lock), for an output layout that should hold only
    /// the image: a process waiting for the lock moves on to a new file.
    pub fn remove_lock_file(&self) -> io::Result<()> {
        let lock = self.lock()?;
        fs::remove_file(self.root.join(LOCK_FILE))?;
        drop(lock);
        Ok(())
    }
}

impl Drop for OciDir {
    /// Keeps resumable downloads for the next run; removes this process's own temporaries.
    fn drop(&mut self) {
        for (_, temp) in self.partial.drain() {
            if !temp.resumable {
                let _ = fs::remove_file(temp.path);
            }
        }
    }
}

/// Why [`OciDir::take_blob`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The bytes read are not the blob's.
    #[error("does not match its digest (got {actual}, {bytes} bytes)")]
    Mismatch { actual: Digest, bytes: u64 },
    /// A stop was asked for (Ctrl-C) while it was copied.
    #[error("cancelled")]
    Stopped,
}

/// Writes a file through a new temporary one and a rename, so readers never see half of it
/// (the rename replaces a link at `path` itself, never its target).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (mut f, tmp) = safe_fs::create_temp(dir, &format!("{TEMP_PREFIX}{name}"), Access::Shared)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path)
}

/// The current UTC time in RFC 3339.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A pull writes its blobs into the layout: temporary files, renamed into place once verified.
impl tug_core::pull::BlobSink for OciDir {
    type Error = io::Error;

    fn write(&mut self, digest: &Digest, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_at(digest, offset, data)
    }

    fn commit(&mut self, digest: &Digest) -> io::Result<()> {
        OciDir::commit(self, digest)
    }

    fn discard(&mut self, digest: &Digest) {
        OciDir::discard(self, digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciDir::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"hello world");
        layout.write_at(&d, 0, b"hello ").unwrap();
        layout.write_at(&d, 6, b"world").unwrap();
        assert!(!layout.has_blob(&d));
        layout.commit(&d).unwrap();
        assert_eq!(layout.read_blob(&d).unwrap(), b"hello world");
        let other = Digest::sha256_of(b"x");
        layout.write_at(&other, 0, b"partial").unwrap();
        layout.discard(&other);
        assert!(!layout.has_blob(&other));
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn unfinished_downloads_are_kept_and_continued_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digest::sha256_of(b"hello world");
        {
            let mut first = OciDir::open(dir.path()).unwrap();
            first.write_at(&d, 0, b"hello ").unwrap();
            // Stopped here (dropped without commit).
        }
        let mut second = OciDir::open(dir.path()).unwrap();
        // A third process meanwhile finds the download taken.
        let mut third = OciDir::open(dir.path()).unwrap();
        let mut fed = Vec::new();
        let taken = second
            .take_partials(|digest, data| {
                assert_eq!(digest, &d);
                fed.extend_from_slice(data);
            })
            .unwrap();
        assert_eq!(taken, vec![(d.clone(), 6)]);
        assert_eq!(fed, b"hello ");
        assert!(third
            .take_partials(|_, _| panic!("locked"))
            .unwrap()
            .is_empty());
        third.write_at(&d, 0, b"hello world").unwrap();
        second.write_at(&d, 6, b"world").unwrap();
        second.commit(&d).unwrap();
        assert_eq!(second.read_blob(&d).unwrap(), b"hello world");
        drop(third);
        let names: Vec<String> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![d.hex().to_owned()], "no temporary file is left");
    }

    #[test]
    fn tags_replace_entries_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciDir::open(dir.path()).unwrap();
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        layout
            .tag(
                "v1",
                None,
                "application/vnd.oci.image.manifest.v1+json",
                &a,
                1,
                false,
            )
            .unwrap();
        layout
            .tag(
                "v2",
                None,
                "application/vnd.oci.image.manifest.v1+json",
                &a,
                1,
                false,
            )
            .unwrap();
        layout
            .tag(
                "v1",
                Some("r/x:v1"),
                "application/vnd.oci.image.manifest.v1+json",
                &b,
                1,
                true,
            )
            .unwrap();
        let entries = layout.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["digest"], b.to_string());
        assert_eq!(
            entries[1]["annotations"][tug_core::archive::ANNOTATION_CONTAINERD_NAME],
            "r/x:v1"
        );
    }

    #[test]
    fn rfc3339_looks_right() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
