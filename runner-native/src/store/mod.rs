//! The local image store: a content-addressed cache laid out as an OCI image layout, so
//! `skopeo … oci:<store>:<name>` and other tools can read it.
//!
//! ```text
//! <root>/oci-layout          {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json          OCI image index: one entry per stored image
//! <root>/blobs/sha256/<hex>  manifests, indexes, configs, layers (shared between images)
//! <root>/tmp/                tug's partial downloads and temporary files
//! <root>/index.json.lock     the lock taken to change index.json or to prune
//! ```
//!
//! Each `index.json` entry describes a manifest (or index) and carries the annotations
//! `org.opencontainers.image.ref.name` and `io.containerd.image.name` (both the full image
//! name, e.g. `127.0.0.1:5000/team/app:v1`) and `dev.tug.created` (RFC 3339 UTC).
//!
//! # Concurrency
//!
//! Several tug processes may use one store at once:
//! - Blobs are written to uniquely named files under `tmp/` and renamed into place; two
//!   processes storing the same blob both succeed (the content is identical, the last rename
//!   wins harmlessly). A partial or unverified file is never renamed into place.
//! - `index.json` is only changed under an exclusive lock on `index.json.lock`, re-read inside
//!   the lock (read-modify-write) and replaced atomically (temporary file + rename), so
//!   readers never need the lock.
//! - [`Store::prune`] holds the same lock. A pull stores its blobs before it tags the image,
//!   so blobs that no entry references yet may belong to a pull in progress: prune leaves
//!   every blob whose mtime is within [`PRUNE_GRACE`] of the time it read `index.json`. A
//!   pull that reuses a blob already in the store calls [`Store::keep_blob`] to refresh its
//!   mtime, so a concurrent prune does not take it away between the check and the tag.
//!   (A pull that takes longer than the grace period between storing a blob and tagging
//!   the image could still lose it to a prune; the grace period is generous for that.)
//!
//! Images are stored exactly as pulled, so that a push gives the same digests. Readers of
//! OCI layouts look only at OCI-typed `index.json` entries (skopeo 1.9's `oci:` does), so an
//! image whose manifest has Docker media types is listed by tug but not found by such a
//! reader; [`crate::export`] converts those when it writes an OCI layout or archive.

mod blob_writer;
pub mod layout;
mod time;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tug_core::digest::{Algorithm, Hasher};
use tug_core::manifest::{self, Parsed};
use tug_core::Digest;

pub use blob_writer::BlobWriter;
use layout::{
    index_bytes, read_index, with_path, write_atomic, IndexEntry, IndexFile, CONTAINERD_NAME,
    OCI_LAYOUT_FILE, REF_NAME, TUG_CREATED,
};
pub use time::{format_rfc3339, parse_rfc3339};

/// How recent a blob must be for [`Store::prune`] to leave it although nothing references
/// it: it may belong to a pull that has not tagged its image yet.
pub const PRUNE_GRACE: Duration = Duration::from_secs(10 * 60);

/// How old a file under `tmp/` must be for [`Store::prune`] to remove it (a download left by
/// a killed process; a live download keeps touching its file).
pub const TMP_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// The largest blob [`Store::read_blob`] reads into memory (manifests and configs are far
/// smaller).
pub const MAX_READ_BLOB: u64 = 64 << 20;

/// Blobs larger than this are never parsed as manifests when marking for prune or sizing.
const MAX_MANIFEST_LEN: u64 = 4 << 20;

/// The store directory when no `--store` is given: `$TUG_STORE`, else
/// `$XDG_DATA_HOME/tug/store`, else `~/.local/share/tug/store` (on Windows
/// `%LOCALAPPDATA%\tug\store`), else `tug/store` under the system's temporary directory.
/// Empty or relative XDG values are ignored, as the XDG spec says.
pub fn default_store_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("HOME").or_else(|| var("USERPROFILE"));
    store_dir_from(
        var("TUG_STORE").map(PathBuf::from),
        var("XDG_DATA_HOME").map(PathBuf::from),
        home.map(PathBuf::from),
        var("LOCALAPPDATA").map(PathBuf::from),
    )
}

fn store_dir_from(
    tug_store: Option<PathBuf>,
    xdg_data_home: Option<PathBuf>,
    home: Option<PathBuf>,
    local_app_data: Option<PathBuf>,
) -> PathBuf {
    if let Some(dir) = tug_store {
        return dir;
    }
    if let Some(xdg) = xdg_data_home.filter(|p| p.is_absolute()) {
        return xdg.join("tug").join("store");
    }
    if cfg!(windows) {
        if let Some(local) = local_app_data {
            return local.join("tug").join("store");
        }
    }
    match home {
        Some(home) => home.join(".local").join("share").join("tug").join("store"),
        None => std::env::temp_dir().join("tug").join("store"),
    }
}

/// An image recorded in the store's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// The full name it was stored under (`127.0.0.1:5000/team/app:v1`); `None` for an
    /// entry another tool wrote without a name.
    pub name: Option<String>,
    /// Digest of the manifest or index.
    pub digest: Digest,
    /// Media type of the manifest or index.
    pub media_type: String,
    /// Size of the manifest or index itself.
    pub manifest_size: u64,
    /// Total size as recorded in the manifests: manifest + config + layers (each distinct
    /// blob once); for an index, the index plus every child manifest present in the store.
    pub size: u64,
    /// When it was stored (`dev.tug.created`), if recorded.
    pub created: Option<SystemTime>,
}

/// What [`Store::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Unreferenced blobs removed.
    pub blobs_removed: usize,
    /// Their total size.
    pub bytes_freed: u64,
    /// Unreferenced blobs left because they are recent (a pull may be about to tag them).
    pub blobs_kept_recent: usize,
    /// Stale temporary files removed from `tmp/`.
    pub tmp_removed: usize,
    /// Their total size (not included in `bytes_freed`).
    pub tmp_bytes_freed: u64,
}

/// The local image store. Cheap to open; holds no file open between calls, so any number
/// of `Store` values (in threads or processes) may use one directory at once.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating the layout if it is missing. An existing directory
    /// must be empty or an OCI image layout (tug never scatters its files over another one).
    pub fn open(root: &Path) -> io::Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
        };
        let layout_file = root.join("oci-layout");
        match fs::metadata(root) {
            Ok(m) if !m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("store {} is not a directory", root.display()),
                ))
            }
            Ok(_) if !layout_file.exists() => {
                // Only the store's own entries (another tug process may be creating it
                // right now): anything else means this is someone else's directory.
                let entries = fs::read_dir(root).map_err(|e| with_path(e, "cannot read", root))?;
                let foreign = entries.flatten().any(|e| {
                    !matches!(
                        e.file_name().to_str(),
                        Some("oci-layout" | "index.json" | "index.json.lock" | "blobs" | "tmp")
                    )
                });
                if foreign {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is neither empty nor an OCI image layout (no oci-layout file); \
                             not using it as the store",
                            root.display()
                        ),
                    ));
                }
            }
            _ => {}
        }
        for dir in [store.algorithm_dir(Algorithm::Sha256), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(|e| with_path(e, "cannot create", &dir))?;
        }
        match fs::read(&layout_file) {
            Ok(bytes) => check_layout_version(&bytes, &layout_file)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&layout_file, OCI_LAYOUT_FILE, &store.tmp_dir())?;
            }
            Err(e) => return Err(with_path(e, "cannot read", &layout_file)),
        }
        if !store.index_path().exists() {
            let _lock = store.lock()?;
            if !store.index_path().exists() {
                store.write_index(&IndexFile::default())?;
            }
        }
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `d` is (or would be): `blobs/<alg>/<hex>`.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.algorithm_dir(d.algorithm()).join(d.hex())
    }

    /// Whether the blob `d` is stored. (Only committed, verified blobs are ever in place.)
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// The size of the stored blob `d`, or `None` if it is not stored.
    pub fn blob_size(&self, d: &Digest) -> io::Result<Option<u64>> {
        match fs::metadata(self.blob_path(d)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(e, "cannot read", &self.blob_path(d))),
        }
    }

    /// Says a pull is going to use the stored blob `d` instead of downloading it: refreshes
    /// its mtime so that a concurrent [`prune`](Store::prune) leaves it alone for
    /// [`PRUNE_GRACE`] even if no image references it yet. Returns whether the blob is there
    /// (if not, download it).
    pub fn keep_blob(&self, d: &Digest) -> bool {
        let path = self.blob_path(d);
        if !path.is_file() {
            return false;
        }
        touch(&path);
        // A prune may have removed it between the check and the touch.
        path.is_file()
    }

    /// Every blob in the store, sorted.
    pub fn blob_digests(&self) -> io::Result<Vec<Digest>> {
        let mut out: Vec<Digest> = self.blob_files()?.into_iter().map(|(d, _)| d).collect();
        out.sort();
        Ok(out)
    }

    /// Starts writing the blob `d` (a download): see [`BlobWriter`]. Each call gets its own
    /// temporary file, so two processes downloading the same blob never share one.
    pub fn blob_writer(&self, d: &Digest) -> io::Result<BlobWriter> {
        let tmp_dir = self.tmp_dir();
        fs::create_dir_all(&tmp_dir).map_err(|e| with_path(e, "cannot create", &tmp_dir))?;
        let (file, tmp) = layout::create_unique(&tmp_dir, d.hex(), "part")?;
        Ok(BlobWriter::new(file, tmp, self.blob_path(d)))
    }

    /// Stores a small blob (a manifest, a config) given whole: checks that `bytes` hash to
    /// `d` (an `InvalidData` error if not), then writes it atomically. A blob already stored
    /// is left as it is (its mtime refreshed, see [`keep_blob`](Store::keep_blob)).
    pub fn put_blob_bytes(&self, d: &Digest, bytes: &[u8]) -> io::Result<()> {
        let mut hasher = Hasher::new(d.algorithm());
        hasher.update(bytes);
        let actual = hasher.finish();
        if &actual != d {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("digest mismatch storing blob {d}: the bytes hash to {actual}"),
            ));
        }
        if self.keep_blob(d) {
            return Ok(());
        }
        let dir = self.algorithm_dir(d.algorithm());
        fs::create_dir_all(&dir).map_err(|e| with_path(e, "cannot create", &dir))?;
        write_atomic(&self.blob_path(d), bytes, &self.tmp_dir())
    }

    /// Reads a small blob (manifest, index, config) into memory. Blobs over
    /// [`MAX_READ_BLOB`] are refused with `InvalidData`.
    pub fn read_blob(&self, d: &Digest) -> io::Result<Vec<u8>> {
        let path = self.blob_path(d);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(e.kind(), format!("blob {d} is not in the store"))
            } else {
                with_path(e, "cannot read", &path)
            }
        })?;
        let len = file
            .metadata()
            .map_err(|e| with_path(e, "cannot read", &path))?
            .len();
        if len > MAX_READ_BLOB {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob {d} is {len} bytes, too large to read into memory"),
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_READ_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| with_path(e, "cannot read", &path))?;
        Ok(bytes)
    }

    /// Records the image `name` (its full name, e.g. `127.0.0.1:5000/team/app:v1`) as the
    /// manifest or index `digest`, which must already be stored with `size` bytes. Replaces
    /// an entry with the same name. Changes `index.json` under the lock.
    pub fn tag(&self, name: &str, media_type: &str, digest: &Digest, size: u64) -> io::Result<()> {
        match self.blob_size(digest)? {
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("cannot tag {name}: its manifest {digest} is not in the store"),
                ))
            }
            Some(stored) if stored != size => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "cannot tag {name}: manifest {digest} is {stored} bytes in the store, \
                         not {size}"
                    ),
                ))
            }
            Some(_) => {}
        }
        let mut entry = IndexEntry::new(media_type, digest, size);
        entry.annotations.insert(REF_NAME.into(), name.into());
        entry
            .annotations
            .insert(CONTAINERD_NAME.into(), name.into());
        entry
            .annotations
            .insert(TUG_CREATED.into(), format_rfc3339(SystemTime::now()));
        let _lock = self.lock()?;
        let mut index = read_index(&self.index_path())?;
        index.manifests.retain(|e| e.ref_name() != Some(name));
        index.manifests.push(entry);
        self.write_index(&index)
    }

    /// Every image in `index.json`, sorted by name (unnamed entries last).
    pub fn images(&self) -> io::Result<Vec<StoredImage>> {
        let index = read_index(&self.index_path())?;
        let mut images: Vec<StoredImage> = index
            .manifests
            .iter()
            .filter_map(|entry| {
                let digest: Digest = entry.digest.parse().ok()?;
                Some(StoredImage {
                    name: entry.ref_name().map(str::to_owned),
                    size: self.image_size(&entry.media_type, &digest, entry.size),
                    digest,
                    media_type: entry.media_type.clone(),
                    manifest_size: entry.size,
                    created: entry
                        .annotations
                        .get(TUG_CREATED)
                        .and_then(|t| parse_rfc3339(t)),
                })
            })
            .collect();
        images.sort_by(|a, b| match (&a.name, &b.name) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.digest.cmp(&b.digest),
        });
        Ok(images)
    }

    /// Finds an image by
    /// - its exact name (`127.0.0.1:5000/team/app:v1`); a name without tag or digest also
    ///   matches `<name>:latest`;
    /// - `<name>@<digest>`: the image with that manifest digest (preferably stored under
    ///   that repository);
    /// - a manifest digest (`sha256:<hex>`) or a unique prefix of one (`sha256:3f1a`,
    ///   `3f1a…`, at least 4 hex digits). A prefix matching several different digests is an
    ///   `InvalidInput` error listing them.
    ///
    /// Normalising short names (`alpine` → `docker.io/library/alpine`) is the caller's job.
    pub fn resolve(&self, name_or_digest: &str) -> io::Result<Option<StoredImage>> {
        let images = self.images()?;
        let by_name = |name: &str| {
            images
                .iter()
                .find(|i| i.name.as_deref() == Some(name))
                .cloned()
        };
        if let Some(found) = by_name(name_or_digest) {
            return Ok(Some(found));
        }
        if let Some((repo, digest)) = name_or_digest.split_once('@') {
            let Ok(digest) = digest.parse::<Digest>() else {
                return Ok(None);
            };
            let same_repo = images
                .iter()
                .find(|i| i.digest == digest && i.name.as_deref().map(repository_of) == Some(repo));
            return Ok(same_repo
                .or_else(|| images.iter().find(|i| i.digest == digest))
                .cloned());
        }
        if !has_tag(name_or_digest) {
            if let Some(found) = by_name(&format!("{name_or_digest}:latest")) {
                return Ok(Some(found));
            }
        }
        let (algorithm, prefix) = match name_or_digest.split_once(':') {
            Some((alg, hex)) => (Some(alg), hex),
            None => (None, name_or_digest),
        };
        let is_hex = prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if prefix.len() < 4 || !is_hex {
            return Ok(None);
        }
        let matches: BTreeSet<&Digest> = images
            .iter()
            .map(|i| &i.digest)
            .filter(|d| {
                algorithm.is_none_or(|a| a == d.algorithm().name()) && d.hex().starts_with(prefix)
            })
            .collect();
        match matches.len() {
            0 => Ok(None),
            1 => {
                let d = *matches.iter().next().expect("one match");
                Ok(images.iter().find(|i| &i.digest == d).cloned())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{name_or_digest} is ambiguous: it matches {}",
                    matches
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Untags the image `name` (exact; a name without tag also means `:latest`): removes its
    /// `index.json` entry. Blobs stay until [`prune`](Store::prune). Returns whether an entry
    /// was removed.
    pub fn remove(&self, name: &str) -> io::Result<bool> {
        let _lock = self.lock()?;
        let mut index = read_index(&self.index_path())?;
        let before = index.manifests.len();
        index.manifests.retain(|e| e.ref_name() != Some(name));
        if index.manifests.len() == before && !has_tag(name) {
            let latest = format!("{name}:latest");
            index.manifests.retain(|e| e.ref_name() != Some(&latest));
        }
        if index.manifests.len() == before {
            return Ok(false);
        }
        self.write_index(&index)?;
        Ok(true)
    }

    /// Removes every blob no `index.json` entry reaches (manifests → config and layers,
    /// indexes → their manifests, recursively; missing children are tolerated), except blobs
    /// changed within [`PRUNE_GRACE`] (a concurrent pull's, see the module docs), and files
    /// under `tmp/` older than [`TMP_MAX_AGE`]. Holds the index lock throughout.
    pub fn prune(&self) -> io::Result<PruneReport> {
        self.prune_with_grace(PRUNE_GRACE)
    }

    /// [`prune`](Store::prune) with another grace period (`Duration::ZERO` removes every
    /// unreferenced blob: only safe when no pull is running).
    pub fn prune_with_grace(&self, grace: Duration) -> io::Result<PruneReport> {
        let _lock = self.lock()?;
        let index = read_index(&self.index_path())?;
        let now = SystemTime::now();
        let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut reachable = HashSet::new();
        for entry in &index.manifests {
            if let Ok(digest) = entry.digest.parse::<Digest>() {
                self.mark(&entry.media_type, &digest, &mut reachable);
            }
        }
        let mut report = PruneReport::default();
        for (digest, path) in self.blob_files()? {
            if reachable.contains(&digest) {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.modified().is_ok_and(|m| m > cutoff) {
                report.blobs_kept_recent += 1;
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.bytes_freed += meta.len();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(with_path(e, "cannot remove", &path)),
            }
        }
        let tmp_cutoff = now
            .checked_sub(TMP_MAX_AGE.max(grace))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let tmp_dir = self.tmp_dir();
        if let Ok(entries) = fs::read_dir(&tmp_dir) {
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() || meta.modified().map_or(true, |m| m > tmp_cutoff) {
                    continue;
                }
                if fs::remove_file(entry.path()).is_ok() {
                    report.tmp_removed += 1;
                    report.tmp_bytes_freed += meta.len();
                }
            }
        }
        Ok(report)
    }

    // --- internals ---

    fn algorithm_dir(&self, algorithm: Algorithm) -> PathBuf {
        self.root.join("blobs").join(algorithm.name())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Takes the exclusive index lock; released when the file is dropped.
    fn lock(&self) -> io::Result<File> {
        let path = self.root.join("index.json.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| with_path(e, "cannot open", &path))?;
        // flock on Unix, LockFileEx on Windows: per open file, so threads contend too.
        file.lock()
            .map_err(|e| with_path(e, "cannot lock", &path))?;
        Ok(file)
    }

    fn write_index(&self, index: &IndexFile) -> io::Result<()> {
        write_atomic(&self.index_path(), &index_bytes(index), &self.tmp_dir())
    }

    /// Every file in `blobs/<alg>/` whose name is a valid digest.
    fn blob_files(&self) -> io::Result<Vec<(Digest, PathBuf)>> {
        let mut out = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.algorithm_dir(algorithm);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(with_path(e, "cannot read", &dir)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| with_path(e, "cannot read", &dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if let Ok(d) = format!("{}:{name}", algorithm.name()).parse::<Digest>() {
                    out.push((d, entry.path()));
                }
            }
        }
        Ok(out)
    }

    /// Parses a stored manifest or index; `None` when absent, too large or not one.
    fn parse_manifest(&self, media_type: &str, digest: &Digest) -> Option<Parsed> {
        let size = self.blob_size(digest).ok()??;
        if size > MAX_MANIFEST_LEN {
            return None;
        }
        let bytes = self.read_blob(digest).ok()?;
        let media_type = if is_manifest_type(media_type) {
            media_type.to_owned()
        } else {
            manifest::media_type_of(None, &bytes)?
        };
        manifest::parse(&media_type, &bytes).ok()
    }

    /// Adds `digest` and everything it references to `out`.
    fn mark(&self, media_type: &str, digest: &Digest, out: &mut HashSet<Digest>) {
        if !out.insert(digest.clone()) {
            return;
        }
        match self.parse_manifest(media_type, digest) {
            Some(Parsed::Image { config, layers }) => {
                out.insert(config.digest);
                out.extend(layers.into_iter().map(|l| l.digest));
            }
            Some(Parsed::Index { manifests }) => {
                for child in manifests {
                    self.mark(&child.media_type, &child.digest, out);
                }
            }
            None => {}
        }
    }

    fn image_size(&self, media_type: &str, digest: &Digest, size: u64) -> u64 {
        let mut seen = HashSet::new();
        self.size_into(media_type, digest, size, &mut seen)
    }

    fn size_into(
        &self,
        media_type: &str,
        digest: &Digest,
        size: u64,
        seen: &mut HashSet<Digest>,
    ) -> u64 {
        if !seen.insert(digest.clone()) {
            return 0;
        }
        let mut total = size;
        match self.parse_manifest(media_type, digest) {
            Some(Parsed::Image { config, layers }) => {
                for blob in std::iter::once(config).chain(layers) {
                    if seen.insert(blob.digest) {
                        total += blob.size;
                    }
                }
            }
            Some(Parsed::Index { manifests }) => {
                for child in manifests.into_iter().filter(|c| self.has_blob(&c.digest)) {
                    total += self.size_into(&child.media_type, &child.digest, child.size, seen);
                }
            }
            None => {}
        }
        total
    }
}

/// Whether a media type is one of the manifest or index types.
fn is_manifest_type(media_type: &str) -> bool {
    [
        manifest::OCI_MANIFEST,
        manifest::OCI_INDEX,
        manifest::DOCKER_MANIFEST,
        manifest::DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
}

/// Whether a name carries a tag or digest (`…:tag` after the last `/`, or `@digest`).
fn has_tag(name: &str) -> bool {
    name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

/// The name without its tag or digest.
fn repository_of(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

fn check_layout_version(bytes: &[u8], path: &Path) -> io::Result<()> {
    let version = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_owned));
    match version {
        Some(v) if v.starts_with("1.") => Ok(()),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: unsupported OCI layout version {}",
                path.display(),
                other.unwrap_or_else(|| "(unreadable)".into())
            ),
        )),
    }
}

/// Sets a file's mtime to now (best effort: a read-only blob keeps its time).
fn touch(path: &Path) {
    if let Ok(file) = File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}
