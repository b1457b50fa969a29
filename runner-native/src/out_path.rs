//! Where an output file (`-o`, an archive transport's path) really goes: `-` is standard
//! output, a link is written through to what it names (the link stays), and a FIFO, device or
//! socket is a stream: it gets the finished output copied into it, never a file renamed over it.
//!
//! A stream's output is written whole into a temporary directory in `$TMPDIR` first (locked,
//! so a killed run's is swept by the next: [`crate::locked_temp`]) and copied in only once
//! complete, so a failure before the copy sends nothing down it; a file's is written beside
//! the file the link names and renamed into place, as for a plain path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::exit_code::CliError;
use crate::locked_temp::TempDir;

/// The name that means standard output.
pub const STDOUT: &str = "-";

/// Prefix of the directory in `$TMPDIR` a stream's output is made in (the directory's name
/// adds [`crate::locked_temp::DIR_SUFFIX`]).
const STAGE_PREFIX: &str = ".tug-stream-";

/// Links followed at most, as the kernel does (`ELOOP` past it).
const MAX_LINKS: usize = 40;

/// Whether `path` is `-`, standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == STDOUT
}

/// Whether `path` is a stream: `-`, or (through links) a FIFO, device or socket.
pub fn is_stream(path: &Path) -> bool {
    is_stdout(path) || fs::metadata(path).is_ok_and(|m| is_special(&m))
}

/// Neither a regular file nor a directory: a FIFO, a device, a socket.
fn is_special(meta: &fs::Metadata) -> bool {
    let t = meta.file_type();
    !t.is_file() && !t.is_dir()
}

/// Why an OCI layout directory cannot be written at `path`, if it is a stream: a layout is a
/// directory, only an archive goes down a stream. The usage error names the archives to write.
pub fn refuse_layout(path: &Path) -> Result<(), CliError> {
    if !is_stream(path) {
        return Ok(());
    }
    let p = path.display();
    let what = match is_stdout(path) {
        true => "standard output".to_owned(),
        false => format!("{p}, which is not a file but a stream,"),
    };
    Err(CliError::Usage(format!(
        "an OCI layout is a directory and cannot be written to {what}; write an archive \
         there instead: docker-archive:{p} (what docker load reads) or oci-archive:{p}"
    )))
}

/// Where an output goes (see the module docs).
#[derive(Debug)]
pub struct Dest {
    /// As the user gave it.
    asked: PathBuf,
    to: To,
}

#[derive(Debug)]
enum To {
    /// A regular file, or none yet: the path the writer writes (beside it) and renames to;
    /// the link's target if `asked` is a link.
    File(PathBuf),
    /// A stream: the output is written whole at `file` in `stage`, then copied into `sink`.
    Stream {
        sink: Sink,
        _stage: TempDir,
        file: PathBuf,
    },
}

#[derive(Debug)]
enum Sink {
    Stdout,
    /// Opened by its name (through its links) for writing, not truncated.
    Path(PathBuf),
}

impl Dest {
    /// Where `asked` really goes, found before any work: `what` ("an archive", "a blob") is
    /// what is written there. A directory, a missing directory (a link's target's included)
    /// and `-` on a terminal are errors naming the path; a stream gets its temporary directory
    /// now. Standard output (`-`, or a path that is it, as `/dev/stdout`) is then kept for
    /// the output alone: what tug prints there goes to standard error instead.
    pub fn resolve(asked: &Path, what: &str) -> Result<Dest, CliError> {
        let input = |m: String| CliError::Input(m);
        let shown = asked.display();
        if is_stdout(asked) {
            if std::io::IsTerminal::is_terminal(&io::stdout()) {
                return Err(CliError::Usage(format!(
                    "-: refusing to write {what} to a terminal; send standard output to a \
                     file or a pipe (`> FILE`, `| docker load`), or give a file name"
                )));
            }
            return Dest::stream(asked, Sink::Stdout);
        }
        if asked.as_os_str().to_string_lossy().ends_with(['/', '\\']) {
            return Err(input(format!(
                "{shown} is a directory, and {what} is written as a file"
            )));
        }
        match fs::metadata(asked) {
            Ok(meta) if meta.is_dir() => Err(input(format!(
                "{shown} is a directory, and {what} is written as a file"
            ))),
            Ok(meta) if is_special(&meta) => {
                let sink = match is_standard_output(&meta) {
                    true => Sink::Stdout,
                    false => Sink::Path(asked.to_owned()),
                };
                Dest::stream(asked, sink)
            }
            Ok(meta) => {
                let target = follow(asked).map_err(|e| input(format!("{shown}: {e}")))?;
                // A link the kernel resolves by itself (`/proc/self/fd/N` to a file since
                // deleted) names no path to write beside: written into, as a stream is.
                let same = fs::metadata(&target).is_ok_and(|t| same_file(&t, &meta));
                match same {
                    true => Ok(Dest {
                        asked: asked.to_owned(),
                        to: To::File(target),
                    }),
                    false => Dest::stream(asked, Sink::Path(asked.to_owned())),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let target = follow(asked).map_err(|e| input(format!("{shown}: {e}")))?;
                let dir = dir_of(&target);
                if !dir.is_dir() {
                    return Err(input(match target == asked {
                        true => format!("{shown}: its directory {} does not exist", dir.display()),
                        false => format!(
                            "{shown} is a link to {}, whose directory {} does not exist",
                            target.display(),
                            dir.display()
                        ),
                    }));
                }
                Ok(Dest {
                    asked: asked.to_owned(),
                    to: To::File(target),
                })
            }
            Err(e) => Err(input(format!("{shown}: {e}"))),
        }
    }

    /// A stream's output, made in a new temporary directory in `$TMPDIR`.
    fn stream(asked: &Path, sink: Sink) -> Result<Dest, CliError> {
        let stage = TempDir::new(&std::env::temp_dir(), STAGE_PREFIX).map_err(|e| {
            CliError::Input(format!(
                "{}: a temporary directory in {} to make it in: {e}",
                shown(asked),
                std::env::temp_dir().display()
            ))
        })?;
        if matches!(sink, Sink::Stdout) {
            crate::output::keep_stdout_for_data();
        }
        let file = stage.path().join("output");
        Ok(Dest {
            asked: asked.to_owned(),
            to: To::Stream {
                sink,
                _stage: stage,
                file,
            },
        })
    }

    /// The file to write (beside it, then renamed to it): the output, the file a link names,
    /// or a stream's temporary file.
    pub fn path(&self) -> &Path {
        match &self.to {
            To::File(path) => path,
            To::Stream { file, .. } => file,
        }
    }

    /// The output as messages name it: the path given, or "standard output".
    pub fn shown(&self) -> String {
        shown(&self.asked)
    }

    /// Puts the output written at [`Dest::path`] where it goes: a file is there already; a
    /// stream gets it copied in (its temporary directory goes when `self` is dropped). An
    /// error, a reader that went away included, names the output.
    pub fn deliver(self) -> Result<(), CliError> {
        let To::Stream { sink, file, .. } = &self.to else {
            return Ok(());
        };
        let failed =
            |e: io::Error| CliError::Input(format!("cannot write to {}: {e}", shown(&self.asked)));
        let mut from = crate::safe_fs::open_read(file).map_err(failed)?;
        let mut to = match sink {
            Sink::Stdout => stdout_file(),
            Sink::Path(path) => OpenOptions::new().write(true).open(path),
        }
        .map_err(failed)?;
        io::copy(&mut from, &mut to).map_err(failed)?;
        to.flush().map_err(failed)
    }
}

/// `path` as messages name it.
fn shown(path: &Path) -> String {
    match is_stdout(path) {
        true => "standard output".to_owned(),
        false => path.display().to_string(),
    }
}

/// Writes `bytes` to standard output whole, flushed: for output that is the command's product
/// (a blob), whose loss (a reader gone, a full disk) fails the command.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// The directory `path` is in (`.` for a bare name): where a file written beside it goes.
pub fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// What `path` names once its links are followed: the last one's target, which may not
/// exist (a link to a file yet to be made). Directories on the way are left to the kernel.
fn follow(path: &Path) -> io::Result<PathBuf> {
    let mut at = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&at)?;
                at = match target.is_absolute() {
                    true => target,
                    false => dir_of(&at).join(target),
                };
            }
            _ => return Ok(at),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} links in a row"
    )))
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &fs::Metadata, _b: &fs::Metadata) -> bool {
    true
}

/// Whether `meta` is what standard output is (`/dev/stdout`, `/proc/self/fd/1`, the pipe's
/// or terminal's own name).
#[cfg(unix)]
fn is_standard_output(meta: &fs::Metadata) -> bool {
    stdout_file()
        .and_then(|f| f.metadata())
        .is_ok_and(|m| same_file(&m, meta))
}

#[cfg(not(unix))]
fn is_standard_output(_meta: &fs::Metadata) -> bool {
    false
}

/// Standard output as a file, for copying into it without a line buffer.
#[cfg(unix)]
fn stdout_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

#[cfg(windows)]
fn stdout_file() -> io::Result<File> {
    use std::os::windows::io::AsHandle;
    Ok(File::from(io::stdout().as_handle().try_clone_to_owned()?))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_is_written_through_to_its_target_and_a_fifo_is_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("target.tar"), b"old").unwrap();
        symlink("target.tar", d.join("link.tar")).unwrap();
        let dest = Dest::resolve(&d.join("link.tar"), "an archive").unwrap();
        assert_eq!(dest.path(), d.join("target.tar"));
        // A link to a file yet to be made: that file.
        symlink(d.join("new.tar"), d.join("dangling.tar")).unwrap();
        let dest = Dest::resolve(&d.join("dangling.tar"), "an archive").unwrap();
        assert_eq!(dest.path(), d.join("new.tar"));
        // Into a directory that does not exist: an error naming both.
        symlink(d.join("nowhere/x.tar"), d.join("lost.tar")).unwrap();
        let err = Dest::resolve(&d.join("lost.tar"), "an archive").unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        // A FIFO, and a link to it: a stream, written in $TMPDIR first.
        rustix::fs::mkfifoat(rustix::fs::CWD, d.join("fifo"), 0o600.into()).unwrap();
        symlink("fifo", d.join("fifo-link")).unwrap();
        for p in ["fifo", "fifo-link"] {
            assert!(is_stream(&d.join(p)));
            let dest = Dest::resolve(&d.join(p), "an archive").unwrap();
            assert!(dest.path().starts_with(std::env::temp_dir()), "{dest:?}");
        }
        assert!(Dest::resolve(d, "an archive").is_err());
    }
}
