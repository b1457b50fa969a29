//! A JSON map kept in the state directory that several tug processes may change at once:
//! every change re-reads the file under an exclusive lock and replaces it atomically, so
//! no process loses another's entries and no reader sees half a file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `<dir>/<name>.json`, locked through `<dir>/<name>.lock`.
pub struct StateFile {
    dir: PathBuf,
    name: &'static str,
}

impl StateFile {
    pub fn new(dir: &Path, name: &'static str) -> StateFile {
        StateFile {
            dir: dir.to_owned(),
            name,
        }
    }

    /// The JSON file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// The entries; an absent or unreadable file reads as empty (it only saves work).
    pub fn read<V: DeserializeOwned>(&self) -> BTreeMap<String, V> {
        fs::read(self.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Read-modify-write under the lock; `change` says whether it changed anything.
    pub fn update<V: Serialize + DeserializeOwned>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, V>) -> bool,
    ) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{}.lock", self.name)))?;
        lock.lock()?;
        let mut map = self.read();
        if !change(&mut map) {
            return lock.unlock();
        }
        let tmp = self
            .dir
            .join(format!("{}.json.{}", self.name, std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&map).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, self.path())?;
        lock.unlock()
    }
}
