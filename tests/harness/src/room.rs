//! Where a test that writes gigabytes puts them: the system temp dir when its filesystem has
//! room, else `/dev/shm`, else a panic naming what each had (not a registry's `500` half way).

use std::path::{Path, PathBuf};

/// Headroom kept free beside what a test asks for: other tests run at the same time.
const HEADROOM: u64 = 2 << 30;

/// The first of the system temp dir and `/dev/shm` whose filesystem has `bytes` and
/// [`HEADROOM`] free.
///
/// # Panics
///
/// If neither has; the message gives the free space of each.
pub fn temp_root_with_room(bytes: u64) -> PathBuf {
    let mut seen = Vec::new();
    for dir in [std::env::temp_dir(), PathBuf::from("/dev/shm")] {
        match free_bytes(&dir) {
            Some(free) if free >= bytes + HEADROOM => return dir,
            Some(free) => seen.push(format!("{}: {} MiB free", dir.display(), free >> 20)),
            None => seen.push(format!("{}: not a writable directory", dir.display())),
        }
    }
    panic!(
        "this test writes {} MiB and needs {} MiB more free beside it; {}",
        bytes >> 20,
        HEADROOM >> 20,
        seen.join("; ")
    )
}

/// Bytes an unprivileged user may still write on `dir`'s filesystem; `None` when `dir` is not
/// a writable directory.
fn free_bytes(dir: &Path) -> Option<u64> {
    if !dir.is_dir() || rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_err() {
        return None;
    }
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// A temporary directory under [`temp_root_with_room`]`(bytes)`, removed on drop.
///
/// # Panics
///
/// As [`temp_root_with_room`], or if the directory cannot be created.
pub fn tempdir_with_room(bytes: u64) -> tempfile::TempDir {
    let root = temp_root_with_room(bytes);
    tempfile::Builder::new()
        .prefix("tug-big-")
        .tempdir_in(&root)
        .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_need_is_met_by_one_of_the_two() {
        let root = temp_root_with_room(1);
        assert!(
            root == std::env::temp_dir() || root == Path::new("/dev/shm"),
            "{}",
            root.display()
        );
    }

    #[test]
    fn a_need_past_every_filesystem_names_the_free_space_of_each() {
        let panic = std::panic::catch_unwind(|| temp_root_with_room(u64::MAX / 2)).unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("MiB free"), "{message}");
        assert!(
            message.contains(&std::env::temp_dir().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn free_space_of_a_file_is_none() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(free_bytes(file.path()), None);
        assert!(free_bytes(&std::env::temp_dir()).unwrap() > 0);
    }
}
