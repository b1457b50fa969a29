//! Opens a push source (a tar file or an OCI layout directory) by driving the core's
//! sans-IO resolver with file reads, and maps its blobs to file byte ranges.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tug_core::archive::{
    ArchiveError, BlobLocation, Compression, ResolveStep, SourceContents, SourceResolver,
};
use tug_core::place::{self, FileKind};

use crate::compressed_source;
use crate::exit_code::CliError;
use crate::locked_temp::TempFile;
use crate::output::noteln;
use crate::safe_fs;

/// Where the bytes of a blob live: a file and the offset of the blob in it.
#[derive(Clone, Debug)]
pub struct BlobFile {
    pub path: PathBuf,
    pub offset: u64,
}

impl BlobFile {
    /// Bytes `start..end` of the blob; errors name the file.
    pub fn open(&self, start: u64, end: u64) -> std::io::Result<std::io::Take<File>> {
        let mut file = File::open(&self.path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        file.seek(SeekFrom::Start(self.offset + start))?;
        Ok(file.take(end - start))
    }
}

/// A source named on the command line, e.g. `image.tar`, `oci:dir:tag`,
/// `docker-archive:image.tar`, `oci-archive:image.tar:tag`.
#[derive(Debug)]
pub struct SourceSpec {
    pub path: PathBuf,
    /// The image named after the path in skopeo's syntax, if any.
    pub image: Option<String>,
}

impl SourceSpec {
    /// The image wanted of the file: `--image` (`flag`) or the name after the path, not two
    /// different ones.
    pub fn wanted<'a>(&'a self, flag: Option<&'a str>) -> Result<Option<&'a str>, CliError> {
        match (flag, self.image.as_deref()) {
            (Some(flag), Some(named)) if flag != named => Err(CliError::Usage(format!(
                "--image {flag:?} and the name after the path ({named:?}) ask for two images; \
                 give one"
            ))),
            (flag, named) => Ok(flag.or(named)),
        }
    }

    pub fn parse(spec: &str) -> SourceSpec {
        for (kind, prefix) in FileKind::prefixes() {
            if let Some(rest) = spec.strip_prefix(prefix.as_str()) {
                if kind == FileKind::Dir {
                    // skopeo's `dir:PATH` names no reference.
                    return SourceSpec {
                        path: rest.into(),
                        image: None,
                    };
                }
                // skopeo: `transport:path[:reference]`. Take the reference only if the path
                // without it exists, so paths with colons still work.
                if !Path::new(rest).exists() {
                    if let Some((path, image)) = rest.split_once(':') {
                        return SourceSpec {
                            path: path.into(),
                            image: Some(image.to_owned()),
                        };
                    }
                }
                return SourceSpec {
                    path: rest.into(),
                    image: None,
                };
            }
        }
        // skopeo's `PATH:NAME` / `PATH:@INDEX` given without a transport.
        if let Some((path, image)) = split_existing(spec) {
            return SourceSpec {
                path,
                image: Some(image),
            };
        }
        SourceSpec {
            path: spec.into(),
            image: None,
        }
    }
}

/// `PATH:REF` split where `PATH` names something here and the whole text does not: the
/// first such colon (a path may hold colons too). `REF` is a name, a tag or `@INDEX`; it
/// may be a whole name with `/` (`x.tar:ghcr.io/org/app:1`) when `PATH` is plainly a path
/// (a file, `./dir`, `dir/sub`), never after a bare directory name, so that a directory
/// `localhost` here does not make `localhost:5000/app` a file.
pub fn split_existing(spec: &str) -> Option<(PathBuf, String)> {
    if Path::new(spec).exists() {
        return None;
    }
    spec.match_indices(':').find_map(|(at, _)| {
        let (path, image) = (&spec[..at], &spec[at + 1..]);
        let plainly_a_path =
            || path.contains('/') || place::looks_like_path(path) || Path::new(path).is_file();
        let named =
            !path.is_empty() && !image.is_empty() && (!image.contains('/') || plainly_a_path());
        (named && Path::new(path).exists()).then(|| (path.into(), image.to_owned()))
    })
}

/// The source that is standard input (`tug push - TARGET`, `tug load -`).
pub const STDIN: &str = "-";

/// What standard input is taken for when it is the source ([`crate::stdin::take_for`]).
pub const STDIN_IMAGE: &str = "the image (-)";

/// Whether `path` is standard input: `-`, or a name of the same file (`/dev/stdin`,
/// `/dev/fd/0`, `/proc/self/fd/0`).
pub fn names_stdin(path: &Path) -> bool {
    if path == Path::new(STDIN) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        use std::os::unix::fs::MetadataExt as _;
        let stdin = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| File::from(fd).metadata().ok());
        if let (Some(stdin), Ok(named)) = (stdin, std::fs::metadata(path)) {
            return stdin.dev() == named.dev() && stdin.ino() == named.ino();
        }
    }
    false
}

/// An opened source: what it holds and where its bytes are.
#[derive(Debug)]
pub struct Source {
    /// The file or directory as named.
    pub path: PathBuf,
    pub contents: SourceContents,
    /// How the tar was compressed, if it was (`docker save | gzip`).
    pub compression: Option<Compression>,
    /// A compressed tar's decompressed copy, where its bytes are read (removed on drop).
    decompressed: Option<TempFile>,
}

impl Source {
    /// Reads just enough of `path` to know every image, blob and byte range in it. A
    /// compressed tar is decompressed into a temporary file first ([`compressed_source`]).
    pub fn open(path: &Path) -> Result<Source, CliError> {
        if path == Path::new(STDIN) {
            crate::stdin::take_for(STDIN_IMAGE).map_err(CliError::Usage)?;
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(CliError::Usage(
                    "`-` reads the image from standard input, which is a terminal: pipe one \
                     into it (docker save IMAGE | tug push - TARGET)"
                        .into(),
                ));
            }
            // A file given with `<`: read in place, as any file (no copy). Linux only: there
            // `/dev/stdin` opens the file anew (its own offset); elsewhere it duplicates the
            // descriptor, whose one offset parallel reads would share.
            let dev_stdin = Path::new("/dev/stdin");
            let linux = cfg!(target_os = "linux");
            if linux && std::fs::metadata(dev_stdin).is_ok_and(|m| m.is_file()) {
                return Source::open(dev_stdin);
            }
            return Source::spooled(path, std::io::stdin(), "standard input");
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::Input(format!("cannot open {}: {e}", path.display())))?;
        let mut compression = None;
        let mut decompressed = None;
        let contents = if meta.is_dir() {
            resolve_directory(path)
        } else if meta.is_file() {
            match resolve_tar(path, meta.len()) {
                Err(Failure::Archive(ArchiveError::CompressedTar { compression: c }))
                    if c.decompresses_whole() =>
                {
                    noteln!(
                        "{} is a tar compressed with {c}: decompressing it into a temporary file in {}",
                        path.display(),
                        std::env::temp_dir().display()
                    );
                    let temp = compressed_source::decompress(path, c)?;
                    let len = temp.file().metadata().map_or(0, |m| m.len());
                    compression = Some(c);
                    let contents = resolve_tar(temp.path(), len);
                    decompressed = Some(temp);
                    contents
                }
                other => other,
            }
        } else {
            // A pipe, a character device (`/dev/stdin`), a socket: read once, from its start.
            let stream = File::open(path)
                .map_err(|e| CliError::Input(format!("cannot open {}: {e}", path.display())))?;
            let shown = format!("{} ({})", path.display(), safe_fs::kind(&meta));
            return Source::spooled(path, stream, &shown);
        }
        .map_err(|e| match e {
            Failure::Io(msg) => CliError::Input(msg),
            Failure::Archive(a) => CliError::Input(format!("{}: {a}", path.display())),
        })?;
        Ok(Source {
            path: path.to_owned(),
            contents,
            compression,
            decompressed,
        })
    }

    /// A stream as a source (`shown` in messages): copied whole, decompressed, into a
    /// temporary file first ([`compressed_source::spool_stream`]).
    fn spooled(
        path: &Path,
        stream: impl Read + Send + 'static,
        shown: &str,
    ) -> Result<Source, CliError> {
        noteln!(
            "{shown} is a stream: copying it into a temporary file in {} (tug reads images at \
             offsets)",
            std::env::temp_dir().display()
        );
        let (temp, compression) = compressed_source::spool_stream(stream, shown)?;
        let len = temp.file().metadata().map_or(0, |m| m.len());
        let contents = resolve_tar(temp.path(), len).map_err(|e| match e {
            Failure::Io(msg) => CliError::Input(msg),
            Failure::Archive(a) => CliError::Input(format!("{shown}: {a}")),
        })?;
        Ok(Source {
            path: path.to_owned(),
            contents,
            compression,
            decompressed: Some(temp),
        })
    }

    /// The format for messages, with the compression of a compressed tar:
    /// `docker-archive, gzip-compressed`.
    pub fn describe_format(&self) -> String {
        match self.compression {
            Some(c) => format!("{}, {c}-compressed", self.contents.format),
            None => self.contents.format.to_string(),
        }
    }

    /// The file and offset holding a blob.
    pub fn blob_file(&self, location: &BlobLocation) -> BlobFile {
        match location {
            BlobLocation::TarRange { offset, .. } => BlobFile {
                path: match &self.decompressed {
                    Some(temp) => temp.path().to_path_buf(),
                    None => self.path.clone(),
                },
                offset: *offset,
            },
            BlobLocation::File { path } => BlobFile {
                path: self.path.join(path),
                offset: 0,
            },
        }
    }
}

enum Failure {
    Io(String),
    Archive(ArchiveError),
}

impl From<ArchiveError> for Failure {
    fn from(e: ArchiveError) -> Self {
        Failure::Archive(e)
    }
}

fn resolve_tar(path: &Path, len: u64) -> Result<SourceContents, Failure> {
    let io = |e: std::io::Error| Failure::Io(format!("cannot read {}: {e}", path.display()));
    let mut file = File::open(path).map_err(io)?;
    let mut resolver = SourceResolver::for_tar(len);
    let mut buf = Vec::new();
    loop {
        match resolver.poll()? {
            ResolveStep::ReadAt { offset, len } => {
                buf.clear();
                file.seek(SeekFrom::Start(offset)).map_err(io)?;
                (&mut file)
                    .take(len as u64)
                    .read_to_end(&mut buf)
                    .map_err(io)?;
                resolver.handle_read_at(offset, &buf)?;
            }
            ResolveStep::Done(contents) => return Ok(contents),
            other => {
                return Err(Failure::Io(format!(
                    "internal error: a tar source asked for {other:?}"
                )))
            }
        }
    }
}

/// Why a layout file could not be read; a refused special file names itself.
fn read_error(path: &Path, e: &std::io::Error) -> Failure {
    if safe_fs::is_refusal(e) {
        Failure::Io(format!("{e}; an OCI layout holds only regular files"))
    } else {
        Failure::Io(format!("cannot read {}: {e}", path.display()))
    }
}

/// Reads the layout at `dir` through the core's resolver; only regular files count.
fn resolve_directory(dir: &Path) -> Result<SourceContents, Failure> {
    let read = |path: &str, max_len| {
        let full = dir.join(path);
        match safe_fs::open_source(&full) {
            Ok(f) => {
                let mut buf = Vec::new();
                let read = f.take(max_len).read_to_end(&mut buf);
                read.map_err(|e| read_error(&full, &e))?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_error(&full, &e)),
        }
    };
    let size = |path: &str| {
        let full = dir.join(path);
        match std::fs::metadata(&full) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(meta) => Err(read_error(&full, &safe_fs::not_regular(&full, &meta))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_error(&full, &e)),
        }
    };
    SourceResolver::resolve_directory(read, size)
}
