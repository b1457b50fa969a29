//! Digests of compressed layers from earlier pushes: pushing the same image with the same
//! `--compress` settings again knows each compressed blob without compressing, so the
//! registry is asked first and nothing it has is compressed or sent.
//!
//! `compressed.json` in the state directory maps `<settings key> <plain digest>` to the
//! compressed digest and size; the key names the library version, since another version may
//! make other bytes. At most [`MAX_ENTRIES`], the least recently used dropped first.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tug_core::Digest;

use super::codec::Settings;
use crate::state_file::StateFile;

/// Entries kept; each is ~200 bytes.
pub const MAX_ENTRIES: usize = 4096;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    digest: Digest,
    size: u64,
    /// Last use, seconds since the epoch.
    used: u64,
}

/// The remembered digests (nothing is remembered without a state directory).
pub struct CompressCache {
    file: Option<StateFile>,
}

fn key(settings: Settings, plain: &Digest) -> String {
    format!("{} {plain}", settings.key())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CompressCache {
    pub fn new() -> CompressCache {
        CompressCache {
            file: crate::places::state_dir().map(|d| StateFile::new(&d, "compressed")),
        }
    }

    /// The file the digests are kept in.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.file.as_ref().map(StateFile::path)
    }

    /// The compressed digest and size of `plain` under `settings`, if a push made it.
    pub fn get(&self, settings: Settings, plain: &Digest) -> Option<(Digest, u64)> {
        let entries = self.file.as_ref()?.read::<Entry>();
        entries
            .get(&key(settings, plain))
            .map(|e| (e.digest.clone(), e.size))
    }

    /// Remembers (or marks as used) what compressing `plain` gave. Failing only costs a
    /// compression next time, so errors are ignored.
    pub fn put(&self, settings: Settings, plain: &Digest, digest: &Digest, size: u64) {
        let Some(file) = &self.file else { return };
        let entry = Entry {
            digest: digest.clone(),
            size,
            used: now(),
        };
        let _ = file.update(|map: &mut std::collections::BTreeMap<String, Entry>| {
            map.insert(key(settings, plain), entry);
            while map.len() > MAX_ENTRIES {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
            true
        });
    }
}
