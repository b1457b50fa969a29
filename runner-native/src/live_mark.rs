//! A mark each tug process keeps in the state directory while it runs: a file under
//! `owners/` that it holds locked until it exits (or is killed, when the system lets go of
//! the lock). Another process tells from it whether something this one recorded, such as an
//! open upload session, is still in use (locked) or was left behind (unlocked, or gone).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::safe_fs::{self, Access};

/// The folder of marks, in the state directory.
const OWNERS: &str = "owners";

/// Where a mark is made before it is given its name (never read as a mark).
const NEW_PREFIX: &str = ".new";

/// This process's mark: its name and the locked file (held until the process ends).
struct Mark {
    name: String,
    _held: File,
}

static MINE: OnceLock<Option<Mark>> = OnceLock::new();

/// This process's mark name, made on first use in `state`'s `owners/` (marks of processes
/// that ended are removed then). `None`: no mark could be made (said once): what is
/// recorded then has no owner, and this process takes up no session of another.
pub fn mine(state: &Path) -> Option<&'static str> {
    MINE.get_or_init(|| match make(&state.join(OWNERS)) {
        Ok(mark) => Some(mark),
        Err(e) => {
            crate::output::errln!(
                "tug: warning: cannot mark this process in {}: {e}; upload sessions of \
                 earlier runs are not taken up",
                state.join(OWNERS).display()
            );
            None
        }
    })
    .as_ref()
    .map(|m| m.name.as_str())
}

/// Whether the process that made mark `name` in `state` still runs. This process's own
/// mark is alive; a name that is no mark's (edited by hand) is not; a mark left by a
/// process that ended is removed.
pub fn alive(state: &Path, name: &str) -> bool {
    if MINE
        .get()
        .and_then(Option::as_ref)
        .is_some_and(|m| m.name == name)
    {
        return true;
    }
    if !is_mark_name(name) {
        return false;
    }
    let path = state.join(OWNERS).join(name);
    let file = match safe_fs::open(&path, OpenOptions::new().read(true), Access::Private) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        // Unreadable: count it as running rather than take what may be in use.
        Err(_) => return true,
    };
    if file.try_lock().is_err() {
        return true;
    }
    drop(file);
    let _ = fs::remove_file(&path);
    false
}

/// Makes a new mark in `dir`: created and locked under a temporary name, then renamed, so
/// no process sees it unlocked; marks of ended processes are removed first.
fn make(dir: &Path) -> io::Result<Mark> {
    safe_fs::check_dir_or_absent(dir)?;
    safe_fs::create_private_dir(dir)?;
    remove_ended(dir);
    let (file, temp) = safe_fs::create_temp(dir, NEW_PREFIX, Access::Private)?;
    let locked = file.try_lock().map_err(|e| io::Error::other(e.to_string()));
    let name = name_for(std::process::id(), SystemTime::now());
    let placed = locked.and_then(|()| rename_new(&temp, &dir.join(&name)));
    if let Err(e) = placed {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(Mark { name, _held: file })
}

/// Renames `from` to `to` unless `to` exists (names are unique; one there was planted).
fn rename_new(from: &Path, to: &PathBuf) -> io::Result<()> {
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists", to.display()),
        ));
    }
    fs::rename(from, to)
}

/// Removes the marks in `dir` whose processes ended.
fn remove_ended(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let state = dir.parent().unwrap_or(dir);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_mark_name(&name) {
            alive(state, &name);
        }
    }
}

/// A mark's name: the process id and the time it was made (never the same twice).
fn name_for(pid: u32, now: SystemTime) -> String {
    let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{pid}-{nanos}")
}

/// Whether `name` is one [`name_for`] makes: digits, one dash, digits.
fn is_mark_name(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit());
    name.split_once('-')
        .is_some_and(|(pid, time)| digits(pid) && digits(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_alive_while_its_file_is_locked_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let owners = dir.path().join(OWNERS);
        fs::create_dir_all(&owners).unwrap();
        let name = name_for(7, UNIX_EPOCH + std::time::Duration::from_secs(5));
        let path = owners.join(&name);
        let held = File::create(&path).unwrap();
        held.try_lock().unwrap();
        assert!(alive(dir.path(), &name), "locked: its process runs");
        drop(held);
        assert!(!alive(dir.path(), &name), "unlocked: its process ended");
        assert!(!path.exists(), "an ended process's mark is removed");
        assert!(!alive(dir.path(), &name), "gone: ended");
    }

    #[test]
    fn names_that_are_no_marks_are_not_alive_and_reach_no_other_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("uploads.json"), b"{}").unwrap();
        for name in ["../uploads.json", "", "1-", "-2", "a-1", "1-2-3", "1/2"] {
            assert!(!alive(dir.path(), name), "{name:?}");
        }
        assert!(dir.path().join("uploads.json").exists());
    }

    #[cfg(unix)]
    #[test]
    fn an_owners_directory_that_is_a_link_or_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        assert!(make(&linked).is_err());
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing made there"
        );
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(make(&file).is_err());
    }

    #[test]
    fn this_process_mark_is_alive_and_ended_ones_go_when_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let owners = dir.path().join(OWNERS);
        fs::create_dir_all(&owners).unwrap();
        let ended = owners.join(name_for(1, UNIX_EPOCH));
        File::create(&ended).unwrap();
        let mark = make(&owners).unwrap();
        assert!(!ended.exists(), "the ended process's mark was removed");
        assert!(is_mark_name(&mark.name));
        let names: Vec<String> = fs::read_dir(&owners)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![mark.name.clone()], "no temporary name is left");
        assert!(alive(dir.path(), &mark.name), "held by this process");
    }
}
