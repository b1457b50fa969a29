//! A JSON map kept in the state directory that several tug processes may change at once:
//! every change re-reads the file under an exclusive lock and replaces it atomically, so
//! no process loses another's entries and no reader sees half a file. The file and its lock
//! are private (0600, in a 0700 directory tug creates) and never opened through a link.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::safe_fs::{self, Access};

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

    /// The entries; an absent or unreadable file reads as empty, and an entry that cannot
    /// be read is left out (the file only saves work; the others stay).
    pub fn read<V: DeserializeOwned>(&self) -> BTreeMap<String, V> {
        let all: BTreeMap<String, serde_json::Value> = safe_fs::read(&self.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        all.into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
            .collect()
    }

    /// Read-modify-write under the lock; `change` says whether it changed anything.
    pub fn update<V: Serialize + DeserializeOwned>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, V>) -> bool,
    ) -> std::io::Result<()> {
        safe_fs::create_private_dir(&self.dir)?;
        let lock_path = self.dir.join(format!("{}.lock", self.name));
        let lock = safe_fs::open_lock(&lock_path, Access::Private)?;
        lock.lock()?;
        let mut map = self.read();
        if !change(&mut map) {
            return lock.unlock();
        }
        let (mut f, tmp) =
            safe_fs::create_temp(&self.dir, &format!("{}.json", self.name), Access::Private)?;
        let written = serde_json::to_vec_pretty(&map)
            .map_err(std::io::Error::other)
            .and_then(|bytes| f.write_all(&bytes))
            .and_then(|()| f.sync_all())
            .and_then(|()| fs::rename(&tmp, self.path()));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        lock.unlock()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn state_files_are_private_in_a_private_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/tug");
        let file = StateFile::new(&state, "uploads");
        file.update(|m: &mut BTreeMap<String, u32>| m.insert("a".into(), 1).is_none())
            .unwrap();
        assert_eq!(file.read::<u32>()["a"], 1);
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&file.path()), 0o600);
        assert_eq!(mode(&state.join("uploads.lock")), 0o600);
        let names: Vec<String> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn an_entry_that_cannot_be_read_is_left_out_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "uploads");
        fs::write(
            file.path(),
            br#"{"good": 1, "bad": "yesterday", "also": 2}"#,
        )
        .unwrap();
        let read = file.read::<u32>();
        assert_eq!(read.len(), 2);
        assert_eq!((read["good"], read["also"]), (1, 2));
        fs::write(file.path(), b"[1, 2]").unwrap();
        assert!(file.read::<u32>().is_empty());
    }

    #[test]
    fn a_linked_lock_or_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"precious").unwrap();
        let state = dir.path().join("state");
        safe_fs::create_private_dir(&state).unwrap();
        std::os::unix::fs::symlink(&outside, state.join("uploads.lock")).unwrap();
        let file = StateFile::new(&state, "uploads");
        let err = file
            .update(|m: &mut BTreeMap<String, u32>| m.insert("a".into(), 1).is_none())
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
    }
}
