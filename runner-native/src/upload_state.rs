//! Upload sessions kept across runs, so a push that died (killed, crashed, network gone)
//! continues where the registry says it stopped when the same push runs again.
//!
//! One JSON file in the state directory (`$TUG_STATE_DIR`, else `$XDG_STATE_HOME/tug`, else
//! `~/.local/state/tug`), keyed by `registry/repository@digest`. Every change re-reads the
//! file under an exclusive lock and replaces it atomically, so concurrent tug processes keep
//! each other's entries. Session URLs hold no credentials.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tug_core::push::ResumableUpload;
use tug_core::Digest;

/// What is kept of one open upload session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    location: String,
    committed: u64,
}

/// The upload sessions of one registry repository.
pub struct UploadState {
    dir: Option<PathBuf>,
    prefix: String,
}

/// The state directory.
pub fn state_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("TUG_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("tug")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/tug")))
}

impl UploadState {
    /// The sessions kept for `registry`/`repository`.
    pub fn new(registry: &str, repository: &str) -> UploadState {
        UploadState {
            dir: state_dir(),
            prefix: format!("{registry}/{repository}@"),
        }
    }

    fn file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("uploads.json"))
    }

    /// Sessions a previous run left open for this repository.
    pub fn resumable(&self) -> Vec<ResumableUpload> {
        let Some(file) = self.file() else {
            return Vec::new();
        };
        read(&file)
            .into_iter()
            .filter_map(|(key, entry)| {
                let digest = key.strip_prefix(&self.prefix)?.parse::<Digest>().ok()?;
                Some(ResumableUpload {
                    digest,
                    location: entry.location,
                })
            })
            .collect()
    }

    /// Records that the session of `digest` is at `committed` bytes.
    pub fn record(&self, digest: &Digest, location: &str, committed: u64) {
        let key = format!("{}{digest}", self.prefix);
        let entry = Entry {
            location: location.to_owned(),
            committed,
        };
        self.update(|map| map.insert(key, entry.clone()).as_ref() != Some(&entry));
    }

    /// Forgets the session of `digest` (the blob is in the registry now).
    pub fn forget(&self, digest: &Digest) {
        let key = format!("{}{digest}", self.prefix);
        self.update(|map| map.remove(&key).is_some());
    }

    /// Read-modify-write under the lock. Failures only cost the ability to resume, so they
    /// are reported once and otherwise ignored.
    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>) -> bool) {
        let (Some(dir), Some(file)) = (&self.dir, self.file()) else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            fs::create_dir_all(dir)?;
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join("uploads.lock"))?;
            lock.lock()?;
            let mut map = read(&file);
            if !change(&mut map) {
                return lock.unlock();
            }
            let tmp = dir.join(format!("uploads.json.{}", std::process::id()));
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&map).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            fs::rename(&tmp, &file)?;
            lock.unlock()
        })();
        if let Err(e) = result {
            eprintln!(
                "tug: warning: cannot keep upload state in {}: {e}",
                dir.display()
            );
        }
    }
}

fn read(file: &PathBuf) -> BTreeMap<String, Entry> {
    fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
