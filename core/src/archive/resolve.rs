//! `SourceResolver`: one sans-IO state machine that turns any image source into pushable images.
//!
//! For a tar file it first indexes the tar (headers only), then detects the format from the
//! entries; for a directory it reads the OCI layout files. Then it reads the small files it
//! needs (manifests, configs) and, for docker saves, the first bytes of each layer (and the
//! whole of a compressed one not stored under its digest, to hash it).

use super::docker_save::{self, MANIFEST_JSON};
use super::error::ArchiveError;
use super::image::{SourceContents, SourceFormat};
use super::oci_layout::{self, INDEX_JSON, OCI_LAYOUT_FILE};
use super::skopeo_dir;
use super::store::{Request, Res, Source, Stop, Store};
use super::tar_index::{IndexStep, TarIndexer};

/// What the resolver needs next.
///
/// [`SourceResolver::poll`] returns the same request until it is answered; answer each with
/// the matching `handle_*` method, then poll again.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResolveStep {
    /// Tar sources only: read `len` bytes at `offset` of the tar file and pass them to
    /// [`SourceResolver::handle_read_at`]. Never reaches past the end of the file.
    ReadAt {
        /// Where to read.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// Directory sources only: read the file at `path` (relative to the layout directory,
    /// `/`-separated, already validated not to escape it) and pass at most `max_len` bytes
    /// from its start (all of it if shorter), or `None` if it does not exist, to
    /// [`SourceResolver::handle_file`].
    ReadFile {
        /// The file, relative to the layout directory.
        path: String,
        /// Upper bound on the bytes to return.
        max_len: u64,
    },
    /// Directory sources only: pass the size of the file at `path`, or `None` if it does not
    /// exist, to [`SourceResolver::handle_stat`].
    Stat {
        /// The file, relative to the layout directory.
        path: String,
    },
    /// Finished: everything the source holds.
    Done(SourceContents),
}

#[derive(Debug)]
enum State {
    Indexing { indexer: TarIndexer, total_len: u64 },
    Resolving { store: Store, tar: bool },
    Finished,
    Failed(ArchiveError),
}

/// Sans-IO reader for any image source: a tar file (docker save, classic or Docker 25+, or an
/// OCI archive) or an OCI layout directory.
#[derive(Debug)]
pub struct SourceResolver {
    state: State,
}

impl SourceResolver {
    /// A resolver for a tar file of `total_len` bytes.
    pub fn for_tar(total_len: u64) -> Self {
        SourceResolver {
            state: State::Indexing {
                indexer: TarIndexer::new(total_len),
                total_len,
            },
        }
    }

    /// A resolver for an OCI layout directory.
    pub fn for_directory() -> Self {
        SourceResolver {
            state: State::Resolving {
                store: Store::new(Source::Dir),
                tar: false,
            },
        }
    }

    /// Resolves a layout directory by asking `read` for files (at most `max_len` bytes from
    /// the start of the file at `path`, `None` when it does not exist) and `size` for sizes:
    /// the whole loop for a host that reads files where it stands.
    pub fn resolve_directory<E: From<ArchiveError>>(
        mut read: impl FnMut(&str, u64) -> Result<Option<Vec<u8>>, E>,
        mut size: impl FnMut(&str) -> Result<Option<u64>, E>,
    ) -> Result<SourceContents, E> {
        let mut resolver = SourceResolver::for_directory();
        loop {
            match resolver.poll()? {
                ResolveStep::ReadFile { path, max_len } => {
                    let data = read(&path, max_len)?;
                    resolver.handle_file(&path, data.as_deref())?;
                }
                ResolveStep::Stat { path } => resolver.handle_stat(&path, size(&path)?)?,
                ResolveStep::Done(contents) => return Ok(contents),
                ResolveStep::ReadAt { .. } => {
                    let reason = "a directory resolver asked for a byte range".into();
                    return Err(ArchiveError::Misuse { reason }.into());
                }
            }
        }
    }

    /// What the resolver needs next, or the result.
    pub fn poll(&mut self) -> Result<ResolveStep, ArchiveError> {
        let result = self.poll_inner();
        self.fail_on_error(result)
    }

    /// Answer to ReadAt (tar sources): bytes at that offset of the tar file.
    pub fn handle_read_at(&mut self, offset: u64, data: &[u8]) -> Result<(), ArchiveError> {
        let result = match &mut self.state {
            State::Indexing { indexer, .. } => indexer.handle_read(offset, data),
            State::Resolving { store, .. } => store.answer_read_at(offset, data),
            State::Failed(e) => Err(e.clone()),
            State::Finished => Err(finished()),
        };
        self.fail_on_error(result)
    }

    /// Answer to ReadFile (directory sources): the file's bytes (at most `max_len` from its
    /// start), or None if it does not exist.
    pub fn handle_file(&mut self, path: &str, data: Option<&[u8]>) -> Result<(), ArchiveError> {
        let result = match &mut self.state {
            State::Resolving { store, .. } => store.answer_file(path, data),
            State::Failed(e) => Err(e.clone()),
            _ => Err(ArchiveError::Misuse {
                reason: format!("handle_file({path:?}) without a pending ReadFile"),
            }),
        };
        self.fail_on_error(result)
    }

    /// Answer to Stat (directory sources): the file's size, or None if missing.
    pub fn handle_stat(&mut self, path: &str, size: Option<u64>) -> Result<(), ArchiveError> {
        let result = match &mut self.state {
            State::Resolving { store, .. } => store.answer_stat(path, size),
            State::Failed(e) => Err(e.clone()),
            _ => Err(ArchiveError::Misuse {
                reason: format!("handle_stat({path:?}) without a pending Stat"),
            }),
        };
        self.fail_on_error(result)
    }

    fn fail_on_error<T>(&mut self, result: Result<T, ArchiveError>) -> Result<T, ArchiveError> {
        if let Err(e) = &result {
            // Misuse leaves the state as it was, so a runner bug does not hide the real state.
            if !matches!(e, ArchiveError::Misuse { .. }) {
                self.state = State::Failed(e.clone());
            }
        }
        result
    }

    fn poll_inner(&mut self) -> Result<ResolveStep, ArchiveError> {
        loop {
            match &mut self.state {
                State::Indexing { indexer, total_len } => match indexer.poll()? {
                    IndexStep::Read { offset, len } => {
                        return Ok(ResolveStep::ReadAt { offset, len })
                    }
                    IndexStep::Done(index) => {
                        let total_len = *total_len;
                        self.state = State::Resolving {
                            store: Store::new(Source::Tar { index, total_len }),
                            tar: true,
                        };
                    }
                },
                State::Resolving { store, tar } => {
                    if let Some(request) = store.current_request() {
                        return Ok(step_for(request));
                    }
                    match run(store, *tar) {
                        Ok(contents) => {
                            self.state = State::Finished;
                            return Ok(ResolveStep::Done(contents));
                        }
                        Err(Stop::Fail(e)) => return Err(e),
                        Err(Stop::Pending) if store.has_requests() => {}
                        Err(Stop::Pending) => {
                            return Err(ArchiveError::UnsupportedFormat {
                                reason: "internal error: the reader waited without asking \
                                         for any bytes"
                                    .to_owned(),
                            })
                        }
                    }
                }
                State::Finished => return Err(finished()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }
}

fn finished() -> ArchiveError {
    ArchiveError::Misuse {
        reason: "the resolver already returned its result".to_owned(),
    }
}

fn step_for(request: &Request) -> ResolveStep {
    match request {
        Request::TarWhole { offset, len, .. }
        | Request::TarPrefix { offset, len, .. }
        | Request::TarHash { offset, len, .. } => ResolveStep::ReadAt {
            offset: *offset,
            len: *len,
        },
        Request::DirWhole { path, max_len } => ResolveStep::ReadFile {
            path: path.clone(),
            max_len: *max_len,
        },
        Request::DirPrefix { path, len } => ResolveStep::ReadFile {
            path: path.clone(),
            max_len: *len,
        },
        Request::DirStat { path } => ResolveStep::Stat { path: path.clone() },
    }
}

/// Detects the format and reads the images (restartable: re-run after each answered read).
fn run(store: &mut Store, tar: bool) -> Res<SourceContents> {
    let format = if tar {
        detect_tar_format(store)?
    } else {
        detect_dir_format(store)?
    };
    let images = match format {
        SourceFormat::DockerArchive => docker_save::resolve_classic(store)?,
        SourceFormat::DockerArchiveOci => docker_save::resolve_docker25(store)?,
        SourceFormat::OciArchive | SourceFormat::OciLayout => oci_layout::resolve(store)?,
        SourceFormat::SkopeoDir => skopeo_dir::resolve(store)?,
    };
    Ok(SourceContents { format, images })
}

/// A directory is skopeo's `dir:` layout when its `version` file says so (and it is no OCI
/// layout); otherwise it is read as an OCI layout.
fn detect_dir_format(store: &mut Store) -> Res<SourceFormat> {
    let oci = store.read_opt(OCI_LAYOUT_FILE, "the directory")?.is_some();
    if !oci {
        if let Some(version) = store.read_opt(skopeo_dir::VERSION_FILE, "the directory")? {
            if skopeo_dir::is_version_file(version) {
                return Ok(SourceFormat::SkopeoDir);
            }
        }
    }
    Ok(SourceFormat::OciLayout)
}

fn detect_tar_format(store: &Store) -> Result<SourceFormat, ArchiveError> {
    let Some(index) = store.tar_index() else {
        return Ok(SourceFormat::OciLayout);
    };
    let has = |p: &str| index.get(p).is_some();
    if has(MANIFEST_JSON) {
        if has(OCI_LAYOUT_FILE) && has(INDEX_JSON) {
            return Ok(SourceFormat::DockerArchiveOci);
        }
        return Ok(SourceFormat::DockerArchive);
    }
    if has(OCI_LAYOUT_FILE) || has(INDEX_JSON) {
        return Ok(SourceFormat::OciArchive);
    }
    if has("repositories") {
        return Err(ArchiveError::UnsupportedFormat {
            reason: "this is a docker save from before Docker 1.10 (it has `repositories` but \
                     no manifest.json); re-save it with a newer Docker"
                .to_owned(),
        });
    }
    let mut top: Vec<&str> = Vec::new();
    for e in index.entries() {
        let first = e.path.split('/').next().unwrap_or_default();
        if !top.contains(&first) {
            top.push(first);
        }
    }
    let found = if top.is_empty() {
        "the tar is empty".to_owned()
    } else {
        let shown: Vec<String> = top.iter().take(10).map(|t| format!("{t:?}")).collect();
        let more = top.len().saturating_sub(10);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("its top-level entries are {}{more}", shown.join(", "))
    };
    Err(ArchiveError::UnsupportedFormat {
        reason: format!(
            "the tar has neither manifest.json (docker save) nor oci-layout/index.json (OCI \
             archive); {found}"
        ),
    })
}
