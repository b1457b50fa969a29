//! Temporary files and directories a killed run cannot leak for good: each is created
//! locked by this process (`flock`, held until it is removed) and named `{prefix}{pid}-{n}`;
//! the next run that writes in the same directory removes the ones with its prefixes that no
//! live process holds locked, never following a link.
//!
//! A directory is marked by a locked file of that name beside it (the directory is the name
//! with [`DIR_SUFFIX`]): the marker is created first and removed last, so a directory whose
//! marker is gone is a leftover too.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::safe_fs::{self, Access};

/// What a temporary directory's name adds to its marker's.
pub const DIR_SUFFIX: &str = ".d";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new file in `dir` named `{prefix}{pid}-{n}`, readable and writable, locked for this
/// process (the lock lasts while the returned `File`, or a clone of it, is open). Never an
/// existing entry: a name taken is skipped.
pub fn create(dir: &Path, prefix: &str, access: Access) -> io::Result<(File, PathBuf)> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}{}-{n}", std::process::id()));
        match safe_fs::open(&path, &options, access) {
            Ok(file) => {
                if let Err(e) = file.try_lock() {
                    let _ = fs::remove_file(&path);
                    return Err(io::Error::other(format!(
                        "{}: cannot lock: {e}",
                        path.display()
                    )));
                }
                return Ok((file, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: cannot create a temporary file {prefix}…: every name tried exists",
            dir.display()
        ),
    ))
}

/// Removes what runs that stopped without cleaning up (killed) left in `dir` under
/// `prefixes`: files no process holds locked, and the directories they mark. Links, other
/// names and what cannot be opened are left alone; errors are ignored (a leftover stays).
pub fn remove_stale(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_dir() {
            dirs.push((path, name));
            continue;
        }
        if !meta.file_type().is_file() {
            continue;
        }
        let Ok(file) = safe_fs::open_read(&path) else {
            continue;
        };
        // Locked, and still the entry there (not one a new run made under the same name
        // after another cleaner removed this one).
        if file.try_lock().is_ok() && safe_fs::is_at(&file, &path) {
            remove_dir(&dir.join(format!("{name}{DIR_SUFFIX}")));
            let _ = fs::remove_file(&path);
        }
    }
    // A directory whose marker is gone: its cleaner was stopped between the two removals.
    for (path, name) in dirs {
        if let Some(marker) = name.strip_suffix(DIR_SUFFIX) {
            if fs::symlink_metadata(dir.join(marker)).is_err() {
                remove_dir(&path);
            }
        }
    }
}

/// Removes `path` whole if it is a directory (not a link to one; links inside are removed,
/// not followed).
fn remove_dir(path: &Path) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir()) {
        let _ = fs::remove_dir_all(path);
    }
}

/// A locked temporary file (see the module docs), removed when dropped unless
/// [`TempFile::persist`]ed.
#[derive(Debug)]
pub struct TempFile {
    file: File,
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    /// Removes the leftovers of `prefix` in `dir`, then creates a new file there.
    pub fn new(dir: &Path, prefix: &str, access: Access) -> io::Result<TempFile> {
        remove_stale(dir, &[prefix]);
        let (file, path) = create(dir, prefix, access)?;
        Ok(TempFile {
            file,
            path,
            kept: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, which holds the lock: write through it (`&File` is `Write`) or a
    /// clone of it.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Lets other handles read the file by its path while it stays locked against removal.
    /// On Windows an exclusive lock is mandatory and would refuse them, so it becomes a
    /// shared one (which still fails a cleaner's exclusive `try_lock`); elsewhere locks are
    /// advisory and nothing changes.
    pub fn share_for_reading(&self) -> io::Result<()> {
        #[cfg(windows)]
        {
            self.file.unlock()?;
            self.file.try_lock_shared().map_err(|e| {
                io::Error::other(format!("{}: cannot lock: {e}", self.path.display()))
            })?;
        }
        Ok(())
    }

    /// Renames the file to `to`; it is no longer removed (its lock goes with the `File`).
    pub fn persist(mut self, to: &Path) -> io::Result<()> {
        fs::rename(&self.path, to)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A temporary directory marked by a locked file beside it (see the module docs), removed
/// whole when dropped.
#[derive(Debug)]
pub struct TempDir {
    _marker: TempFile,
    path: PathBuf,
}

impl TempDir {
    /// Removes the leftovers of `prefix` in `dir`, then creates a new private directory
    /// there.
    pub fn new(dir: &Path, prefix: &str) -> io::Result<TempDir> {
        let marker = TempFile::new(dir, prefix, Access::Private)?;
        let mut name = marker.path().as_os_str().to_owned();
        name.push(DIR_SUFFIX);
        let path = PathBuf::from(name);
        // Private, as `$TMPDIR` is shared; never an entry already there (not recursive).
        let builder = fs::DirBuilder::new();
        #[cfg(unix)]
        let builder = {
            let mut builder = builder;
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, safe_fs::PRIVATE_DIR_MODE);
            builder
        };
        builder.create(&path)?;
        Ok(TempDir {
            _marker: marker,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // The directory first; its marker goes after, as the field is dropped.
        remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = ".tug-test-";

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_unlocked_leftover_goes_a_locked_one_and_other_names_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A killed run's file: nobody holds it.
        fs::write(d.join(format!("{PREFIX}999999-0")), b"left").unwrap();
        // A live run's: created and held locked.
        let (held, held_path) = create(d, PREFIX, Access::Shared).unwrap();
        // Names that are not ours, and a link with our prefix to a file of someone else.
        fs::write(d.join("keep.tar"), b"x").unwrap();
        fs::write(d.join(".tug-other-1-0"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("keep.tar"), d.join(format!("{PREFIX}link"))).unwrap();

        remove_stale(d, &[PREFIX]);

        let held_name = held_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut expected = vec![
            ".tug-other-1-0".to_owned(),
            "keep.tar".to_owned(),
            held_name,
        ];
        #[cfg(unix)]
        expected.push(format!("{PREFIX}link"));
        expected.sort();
        assert_eq!(names(d), expected);
        assert_eq!(fs::read(d.join("keep.tar")).unwrap(), b"x");

        // Once its holder closes it, it is a leftover too.
        drop(held);
        remove_stale(d, &[PREFIX]);
        assert!(!held_path.exists());
    }

    #[test]
    fn a_temp_file_is_removed_on_drop_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let temp = TempFile::new(d, PREFIX, Access::Private).unwrap();
        let name = temp.path().file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(&format!("{PREFIX}{}-", std::process::id())));
        // A second one sweeping the directory leaves the first, which is in use.
        let other = TempFile::new(d, PREFIX, Access::Private).unwrap();
        assert!(temp.path().exists());
        drop(temp);
        std::io::Write::write_all(&mut other.file(), b"done").unwrap();
        other.persist(&d.join("out")).unwrap();
        assert_eq!(names(d), ["out"]);
        assert_eq!(fs::read(d.join("out")).unwrap(), b"done");
    }

    #[test]
    fn a_leftover_directory_goes_whole_a_live_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A killed run's: its marker unlocked, blobs inside.
        let stale = d.join(format!("{PREFIX}999999-0{DIR_SUFFIX}"));
        fs::create_dir_all(stale.join("blobs")).unwrap();
        fs::write(stale.join("blobs/x.partial"), b"part").unwrap();
        fs::write(d.join(format!("{PREFIX}999999-0")), b"").unwrap();
        // A cleaner stopped after removing the directory's marker but not the directory.
        let orphan = d.join(format!("{PREFIX}999999-1{DIR_SUFFIX}"));
        fs::create_dir(&orphan).unwrap();
        // Outside the directory, reached by a link inside the stale one: not followed.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("mine"), b"mine").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), stale.join("link")).unwrap();

        let live = TempDir::new(d, PREFIX).unwrap();
        fs::write(live.path().join("blob"), b"b").unwrap();
        assert!(!stale.exists() && !orphan.exists());
        assert_eq!(fs::read(outside.path().join("mine")).unwrap(), b"mine");
        // Another run's sweep leaves the live one.
        let other = TempDir::new(d, PREFIX).unwrap();
        assert!(live.path().join("blob").exists());
        drop(other);
        let live_path = live.path().to_owned();
        drop(live);
        assert!(!live_path.exists());
        assert_eq!(names(d), Vec::<String>::new());
    }
}
