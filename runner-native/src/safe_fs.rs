//! Opening the files tug writes (in an OCI layout, the store, the state directory) so that a
//! symbolic link, FIFO or device planted there can neither redirect a write outside the
//! directory nor hang tug: the last path component is never followed, the opened entry must
//! be a regular file, and state files are private (0600 in a 0700 directory).
//!
//! The platform-specific parts are the small `cfg` seams at the bottom; elsewhere only the
//! check after opening (and the `symlink_metadata` checks) apply.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of state files (history, upload sessions, compressed digests, their locks). (On
/// Windows they inherit the access rules of the user's profile folders, which only the user,
/// administrators and the system may read: SECURITY.md.)
#[cfg(unix)]
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the state directory when tug creates it.
#[cfg(unix)]
pub const PRIVATE_DIR_MODE: u32 = 0o700;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Who may read a file tug creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// As the umask allows (layouts and the store, which other tools read).
    Shared,
    /// The owner only ([`PRIVATE_FILE_MODE`]): state files.
    Private,
}

/// Opens `path` with `options` without following a link in its last component, and only if
/// it is a regular file (a FIFO does not block the open). The error names the path and what
/// is there instead.
pub fn open(path: &Path, options: &OpenOptions, access: Access) -> io::Result<File> {
    let mut options = options.clone();
    seam::no_follow(&mut options);
    if access == Access::Private {
        seam::private(&mut options);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        Err(e) => {
            // A link (ELOOP) or a FIFO without a reader (ENXIO): say what is there.
            return Err(match fs::symlink_metadata(path) {
                Ok(meta) if !meta.file_type().is_file() => not_regular(path, &meta),
                _ => e,
            });
        }
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, &meta));
    }
    seam::blocking(&file)?;
    Ok(file)
}

/// Opens a file of an image source for reading: links are followed (a layout may link its
/// blobs elsewhere), but what they reach must be a regular file, and a FIFO is refused at
/// once instead of waiting for a writer.
pub fn open_source(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    seam::nonblocking(&mut options);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, &meta));
    }
    seam::blocking(&file)?;
    Ok(file)
}

/// Whether `e` is this module's refusal of a link or special file (its message names the
/// path already).
pub fn is_refusal(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidInput
}

/// Opens an existing regular file for reading (no link followed).
pub fn open_read(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().read(true), Access::Shared)
}

/// Reads a whole small file (no link followed, regular files only).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut open_read(path)?, &mut buf)?;
    Ok(buf)
}

/// Opens (creating it if needed) a lock file: never through a link.
pub fn open_lock(path: &Path, access: Access) -> io::Result<File> {
    open(
        path,
        OpenOptions::new().create(true).truncate(false).write(true),
        access,
    )
}

/// Creates a new temporary file in `dir` whose name starts with `prefix`: never an existing
/// entry (a link or file planted under the expected name is not touched; another name is
/// tried).
pub fn create_temp(
    dir: &Path,
    prefix: &str,
    access: Access,
) -> io::Result<(File, std::path::PathBuf)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    for _ in 0..100 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}-{}-{n}", std::process::id()));
        match open(&path, &options, access) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: cannot create a temporary file {prefix}-…: every name tried exists",
            dir.display()
        ),
    ))
}

/// Whether `path` is a regular file (a link to one does not count).
pub fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Fails unless `path`, if it exists, is a regular file (not a link, FIFO, directory...).
pub fn check_regular_or_absent(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(not_regular(path, &meta)),
        _ => Ok(()),
    }
}

/// Fails unless `path`, if it exists, is a real directory (not a link to one).
pub fn check_dir_or_absent(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_dir() => Err(io::Error::other(format!(
            "{} is a {}, not a directory; tug does not write through links",
            path.display(),
            kind(&meta)
        ))),
        _ => Ok(()),
    }
}

/// Whether `file` is still the entry at `path` (not removed or replaced since it was opened).
pub fn is_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(open), Ok(there)) => seam::same_entry(&open, &there),
        _ => false,
    }
}

/// Creates `dir` (and missing parents) accessible to the owner only; an existing directory
/// is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    seam::private_dir(&mut builder);
    builder.create(dir)
}

/// What kind of entry `meta` describes, in words.
pub fn kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else {
        seam::special_kind(&t)
    }
}

/// The refusal of `path`, which is not a regular file.
pub fn not_regular(path: &Path, meta: &fs::Metadata) -> io::Error {
    let why = if meta.file_type().is_symlink() {
        "; tug does not follow links where it writes or reads a layout (remove it)"
    } else {
        ""
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a {}, not a regular file{why}",
            path.display(),
            kind(meta)
        ),
    )
}

/// The platform-specific parts.
#[cfg(unix)]
mod seam {
    use std::fs::{DirBuilder, File, FileType, Metadata, OpenOptions};
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};

    use rustix::fs::OFlags;

    /// `O_NOFOLLOW` (the last component must not be a link) and `O_NONBLOCK` (opening a FIFO
    /// does not wait for a peer; cleared again by [`blocking`]).
    pub fn no_follow(options: &mut OpenOptions) {
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }

    /// `O_NONBLOCK` only (cleared again by [`blocking`]).
    pub fn nonblocking(options: &mut OpenOptions) {
        options.custom_flags(OFlags::NONBLOCK.bits() as i32);
    }

    pub fn private(options: &mut OpenOptions) {
        options.mode(super::PRIVATE_FILE_MODE);
    }

    pub fn private_dir(builder: &mut DirBuilder) {
        builder.mode(super::PRIVATE_DIR_MODE);
    }

    /// Clears `O_NONBLOCK` on a regular file opened by [`no_follow`].
    pub fn blocking(file: &File) -> std::io::Result<()> {
        let flags = rustix::fs::fcntl_getfl(file)?;
        rustix::fs::fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
        Ok(())
    }

    pub fn same_entry(a: &Metadata, b: &Metadata) -> bool {
        a.dev() == b.dev() && a.ino() == b.ino()
    }

    pub fn special_kind(t: &FileType) -> &'static str {
        if t.is_fifo() {
            "FIFO (named pipe)"
        } else if t.is_socket() {
            "socket"
        } else if t.is_block_device() || t.is_char_device() {
            "device"
        } else {
            "special file"
        }
    }
}

/// Elsewhere: the check after opening only (a FIFO may block; links are caught by the
/// `symlink_metadata` checks callers make first).
#[cfg(not(unix))]
mod seam {
    use std::fs::{DirBuilder, File, FileType, Metadata, OpenOptions};

    pub fn no_follow(_options: &mut OpenOptions) {}

    pub fn nonblocking(_options: &mut OpenOptions) {}

    pub fn private(_options: &mut OpenOptions) {}

    pub fn private_dir(_builder: &mut DirBuilder) {}

    pub fn blocking(_file: &File) -> std::io::Result<()> {
        Ok(())
    }

    /// Without inode numbers: whether both are files of the same size and time (removing
    /// an open lock file is refused on Windows anyway).
    pub fn same_entry(a: &Metadata, b: &Metadata) -> bool {
        a.is_file() == b.is_file() && a.len() == b.len() && a.modified().ok() == b.modified().ok()
    }

    pub fn special_kind(_t: &FileType) -> &'static str {
        "special file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn a_link_is_not_followed_and_its_target_stays_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"precious").unwrap();
        let link = dir.path().join("link");
        symlink(&outside, &link).unwrap();
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        let err = open(&link, &options, Access::Shared).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err.to_string().contains("link"), "{err}");
        assert!(open_lock(&link, Access::Private).is_err());
        assert!(read(&link).is_err());
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        assert!(!is_regular(&link));
        assert!(check_regular_or_absent(&link).is_err());
    }

    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let err = read(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = open_lock(&fifo, Access::Shared).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = open_source(&fifo).unwrap_err();
        assert!(
            err.to_string().contains("FIFO") && is_refusal(&err),
            "{err}"
        );
        let outside = dir.path().join("file");
        fs::write(&outside, b"x").unwrap();
        let link = dir.path().join("link");
        symlink(&outside, &link).unwrap();
        assert!(
            open_source(&link).is_ok(),
            "a source may link to a regular file"
        );
    }

    #[test]
    fn temporary_files_never_reuse_an_existing_name() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"precious").unwrap();
        // Plant links under the next names this process would pick.
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        for n in next..next + 3 {
            let name = format!("t-{}-{n}", std::process::id());
            symlink(&outside, dir.path().join(name)).unwrap();
        }
        let (_, path) = create_temp(dir.path(), "t", Access::Private).unwrap();
        assert!(is_regular(&path));
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_FILE_MODE);
    }

    #[test]
    fn private_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/state");
        create_private_dir(&state).unwrap();
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_DIR_MODE);
        let lock = state.join("x.lock");
        open_lock(&lock, Access::Private).unwrap();
        let mode = fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_FILE_MODE);
        let linked = dir.path().join("linked");
        symlink(&state, &linked).unwrap();
        assert!(check_dir_or_absent(&linked).is_err());
        assert!(check_dir_or_absent(&state).is_ok());
        assert!(check_dir_or_absent(&dir.path().join("none")).is_ok());
    }
}
