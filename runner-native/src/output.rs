//! Everything tug prints goes through here, so that a closed standard output or error
//! (`tug history | head -1`) never panics nor stops the work: the first write that fails
//! marks its stream gone, later writes to it are dropped, and the command ends as it would
//! have with the stream open (a push still pushes, an error keeps its exit code).

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// One of the two streams tug prints on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);
/// Standard output carries the command's output itself (`-o -`: an archive): what tug
/// prints goes to standard error instead ([`keep_stdout_for_data`]).
static STDOUT_FOR_DATA: AtomicBool = AtomicBool::new(false);
/// Why standard output failed, when not because its reader went away (a full disk, an
/// I/O error): what was to be written is lost, so the command fails ([`stdout_failure`]).
static STDOUT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

impl Stream {
    fn gone(self) -> &'static AtomicBool {
        match self {
            Stream::Stdout => &STDOUT_GONE,
            Stream::Stderr => &STDERR_GONE,
        }
    }

    /// Writes `bytes` whole, or nothing more ever once the stream failed (its reader went
    /// away, the disk is full, ...).
    pub fn write(self, bytes: &[u8]) {
        let this = match STDOUT_FOR_DATA.load(Ordering::Relaxed) {
            true => Stream::Stderr,
            false => self,
        };
        this.write_here(bytes)
    }

    /// [`Stream::write`], on this very stream.
    fn write_here(self, bytes: &[u8]) {
        if self.gone().load(Ordering::Relaxed) {
            return;
        }
        let written = match self {
            Stream::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Stream::Stderr => io::stderr().lock().write_all(bytes),
        };
        if let Err(e) = written {
            self.gone().store(true, Ordering::Relaxed);
            if self == Stream::Stdout && e.kind() != io::ErrorKind::BrokenPipe {
                let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Writes `line` and a newline in one write. Lines carry text from outside (registry
    /// messages, tags, platforms, history records): control characters in them are shown
    /// escaped, never obeyed by the terminal (tug's own escape sequences go through
    /// [`Stream::write`], from the progress display only).
    pub fn line(self, line: impl Display) {
        let text = line.to_string();
        let safe = tug_core::terminal_safe::terminal_safe_lines(&text);
        self.write(format!("{safe}\n").as_bytes());
    }

    /// A writer onto this stream that never fails (for code that takes a `Write`).
    pub fn writer(self) -> Writer {
        Writer(self)
    }
}

/// From now on standard output carries the command's output alone (an archive written to
/// `-`): lines, progress and JSON meant for it go to standard error.
pub fn keep_stdout_for_data() {
    STDOUT_FOR_DATA.store(true, Ordering::Relaxed);
}

/// Why writing to standard output failed, other than its reader going away (a closed
/// pipe only drops what is shown; a full disk loses what was asked for).
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// A line on standard output (what a command produces).
pub fn out(line: impl Display) {
    Stream::Stdout.line(line);
}

/// A line on standard error (messages for people: progress, notes, errors).
pub fn err(line: impl Display) {
    Stream::Stderr.line(line);
}

/// `-q`: notes (retries, the plain-HTTP fallback, what a tag resolved to) are not shown;
/// errors and the result are.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Turns notes off for the rest of the run (`-q`).
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// A note on standard error: a line for people that `-q` silences.
pub fn note(line: impl Display) {
    if !QUIET.load(Ordering::Relaxed) {
        Stream::Stderr.line(line);
    }
}

/// `println!` through [`out`].
macro_rules! outln {
    () => { $crate::output::out("") };
    ($($arg:tt)*) => { $crate::output::out(format_args!($($arg)*)) };
}

/// `eprintln!` through [`err`].
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err(format_args!($($arg)*)) };
}

/// `eprintln!` through [`note`]: silenced by `-q`.
macro_rules! noteln {
    ($($arg:tt)*) => { $crate::output::note(format_args!($($arg)*)) };
}

pub(crate) use {errln, noteln, outln};

/// `n` and `noun` for a message, the noun plural unless `n` is 1: "1 layer", "2 layers".
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A [`Write`] onto a [`Stream`]: every write succeeds, whether or not the stream is still
/// there.
#[derive(Clone, Copy, Debug)]
pub struct Writer(Stream);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The directory a `--digestfile` is written in.
fn digest_dir(path: &std::path::Path) -> &std::path::Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    }
}

/// Whether [`write_digest`] could write `path`, asked before the work whose digest it is:
/// not a directory, in a directory where a file can be made.
pub fn check_digest_file(path: &std::path::Path) -> Result<(), String> {
    let failed = |e: &dyn Display| format!("--digestfile {}: {e}", path.display());
    let dir = digest_dir(path);
    if path.is_dir() {
        return Err(failed(&"it is a directory"));
    }
    if !dir.is_dir() {
        return Err(failed(&format!(
            "its directory {} does not exist",
            dir.display()
        )));
    }
    tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        let why = io::Error::from(e.kind());
        failed(&format!("cannot create a file in {}: {why}", dir.display()))
    })?;
    Ok(())
}

/// Writes `digest` to `path` (`--digestfile`, as skopeo and podman write it: the digest
/// alone, no newline) whole or not at all: a temporary file beside it, renamed into place.
pub fn write_digest(path: &std::path::Path, digest: &tug_core::Digest) -> Result<(), String> {
    let failed = |e: &dyn Display| format!("--digestfile {}: {e}", path.display());
    let mut file = tempfile::NamedTempFile::new_in(digest_dir(path)).map_err(|e| failed(&e))?;
    file.write_all(digest.to_string().as_bytes())
        .map_err(|e| failed(&e))?;
    // Readable by all, as skopeo writes it (a temporary file is its owner's only).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let everyone = std::fs::Permissions::from_mode(0o644);
        file.as_file()
            .set_permissions(everyone)
            .map_err(|e| failed(&e))?;
    }
    file.persist(path).map_err(|e| failed(&e.error))?;
    Ok(())
}
