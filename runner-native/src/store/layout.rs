//! The files of an OCI image layout (`oci-layout`, `index.json`) and atomic file replacement,
//! shared by the store and by the OCI layout export.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tug_core::archive::media_types::OCI_INDEX;

/// Contents of the `oci-layout` file.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Annotation naming an entry of `index.json` (the store writes the full image name; an
/// exported layout writes the tag, as `skopeo … oci:DIR:TAG` expects).
pub const REF_NAME: &str = tug_core::archive::ANNOTATION_REF_NAME;
/// Annotation with the full image name, as containerd and Docker ≥ 25 write it.
pub const CONTAINERD_NAME: &str = tug_core::archive::ANNOTATION_CONTAINERD_NAME;
/// Annotation with the RFC 3339 UTC time tug stored the image.
pub const TUG_CREATED: &str = "dev.tug.created";

/// An OCI image index as found in a layout's `index.json`. Unknown fields are kept, so a
/// read-modify-write never drops what another tool wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexFile {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for IndexFile {
    fn default() -> Self {
        IndexFile {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// One descriptor in `index.json`. The digest is kept as text so that a malformed entry
/// written by another tool does not make the whole file unreadable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IndexEntry {
    /// A plain descriptor without platform or annotations.
    pub fn new(media_type: &str, digest: &tug_core::Digest, size: u64) -> IndexEntry {
        IndexEntry {
            media_type: media_type.to_owned(),
            digest: digest.to_string(),
            size,
            platform: None,
            annotations: BTreeMap::new(),
            extra: Map::new(),
        }
    }

    /// The `org.opencontainers.image.ref.name` annotation.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

/// Reads `index.json`; a missing file is an empty index.
pub fn read_index(path: &Path) -> io::Result<IndexFile> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a valid OCI index: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IndexFile::default()),
        Err(e) => Err(with_path(e, "cannot read", path)),
    }
}

/// Serialises an index the way it is written to disk.
pub fn index_bytes(index: &IndexFile) -> Vec<u8> {
    serde_json::to_vec(index).expect("an index serialises")
}

/// A file name no other thread or tug process uses: `<stem>.<pid>.<counter>.<suffix>`.
pub fn unique_name(stem: &str, suffix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}.{}.{n}.{suffix}", std::process::id())
}

/// Creates a new, uniquely named file in `dir` (never an existing one).
pub fn create_unique(dir: &Path, stem: &str, suffix: &str) -> io::Result<(File, PathBuf)> {
    loop {
        let path = dir.join(unique_name(stem, suffix));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            // A leftover of an earlier process with the same id: take the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(with_path(e, "cannot create", &path)),
        }
    }
}

/// Replaces `target` with `bytes` atomically: a synced temporary file in `tmp_dir` (on the
/// same filesystem) renamed over it. Readers see the old or the new file, never a mix.
pub fn write_atomic(target: &Path, bytes: &[u8], tmp_dir: &Path) -> io::Result<()> {
    let stem = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let (mut file, tmp) = create_unique(tmp_dir, stem, "tmp")?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, target)
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(with_path(e, "cannot write", target));
    }
    Ok(())
}

/// Adds `what path:` in front of an I/O error's message, keeping its kind.
pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
