//! The resolver's view of a source: files already read, and the reads it still needs.
//!
//! Format readers are written as plain functions over a [`Store`]. When they need bytes that
//! have not arrived yet, the store queues a request and they return [`Stop::Pending`]; the
//! resolver serves the queue and runs them again. Readers keep going past a pending read where
//! they can (see [`gather`]), so one run queues every read it can already name.

use std::collections::{HashMap, HashSet, VecDeque};

use super::error::ArchiveError;
use super::image::BlobLocation;
use super::tar_index::TarIndex;
use crate::digest::{Algorithm, Digest, Hasher};

/// Largest metadata file (manifest.json, index.json, configs, manifests) read into memory.
pub const MAX_METADATA_LEN: u64 = 16 << 20;

/// Largest read asked for while an entry is hashed ([`Store::sha256`]).
const HASH_CHUNK: u64 = 4 << 20;

/// Why a reader stopped: it needs more bytes, or the source is unusable.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Some read is queued; run again once it is answered.
    Pending,
    /// A final error.
    Fail(ArchiveError),
}

impl From<ArchiveError> for Stop {
    fn from(e: ArchiveError) -> Self {
        Stop::Fail(e)
    }
}

/// Result of a reader step.
pub(crate) type Res<T> = Result<T, Stop>;

/// Collects results, continuing past pending ones so their reads are all queued; the first
/// failure wins.
pub(crate) fn gather<T>(items: impl IntoIterator<Item = Res<T>>) -> Res<Vec<T>> {
    let mut out = Vec::new();
    let mut pending = false;
    for item in items {
        match item {
            Ok(v) => out.push(v),
            Err(Stop::Pending) => pending = true,
            Err(fail) => return Err(fail),
        }
    }
    if pending {
        Err(Stop::Pending)
    } else {
        Ok(out)
    }
}

/// Both results, or the first failure, or pending.
pub(crate) fn both<A, B>(a: Res<A>, b: Res<B>) -> Res<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(Stop::Fail(e)), _) | (_, Err(Stop::Fail(e))) => Err(Stop::Fail(e)),
        _ => Err(Stop::Pending),
    }
}

/// One read the store needs from the runner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Request {
    /// Tar source: the whole entry behind `path` (`len` bytes at `offset`).
    TarWhole {
        path: String,
        offset: u64,
        len: usize,
    },
    /// Tar source: the first `len` bytes of the entry behind `path`.
    TarPrefix {
        path: String,
        offset: u64,
        len: usize,
    },
    /// Tar source: the next `len` bytes (at `offset` of the tar) of the entry behind `path`,
    /// which is being hashed.
    TarHash {
        path: String,
        offset: u64,
        len: usize,
    },
    /// Directory source: a whole file (at most `max_len` bytes are asked for).
    DirWhole { path: String, max_len: u64 },
    /// Directory source: the first `len` bytes of a file.
    DirPrefix { path: String, len: u64 },
    /// Directory source: a file's size.
    DirStat { path: String },
}

/// The read of an entry's bytes from `offset` on, up to `end` (both offsets in the tar).
fn hash_chunk(path: &str, offset: u64, end: u64) -> Request {
    Request::TarHash {
        path: path.to_owned(),
        offset,
        // At most HASH_CHUNK, so it fits a usize everywhere.
        len: (end - offset).min(HASH_CHUNK) as usize,
    }
}

/// Where files come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// An indexed tar file of `total_len` bytes.
    Tar { index: TarIndex, total_len: u64 },
    /// A layout directory.
    Dir,
}

/// Files read so far and reads still needed.
#[derive(Debug)]
pub(crate) struct Store {
    source: Source,
    whole: HashMap<String, Option<Vec<u8>>>,
    prefixes: HashMap<String, Option<Vec<u8>>>,
    stats: HashMap<String, Option<u64>>,
    /// Entries being hashed: the hash so far, and where the entry's bytes end in the tar.
    hashing: HashMap<String, (Hasher, u64)>,
    hashed: HashMap<String, Digest>,
    queue: VecDeque<Request>,
    queued: HashSet<Request>,
    current: Option<Request>,
}

impl Store {
    /// A store over `source` with nothing read yet.
    pub fn new(source: Source) -> Self {
        Store {
            source,
            whole: HashMap::new(),
            prefixes: HashMap::new(),
            stats: HashMap::new(),
            hashing: HashMap::new(),
            hashed: HashMap::new(),
            queue: VecDeque::new(),
            queued: HashSet::new(),
            current: None,
        }
    }

    /// The tar index, for tar sources.
    pub fn tar_index(&self) -> Option<&TarIndex> {
        match &self.source {
            Source::Tar { index, .. } => Some(index),
            Source::Dir => None,
        }
    }

    fn enqueue<T>(&mut self, request: Request) -> Res<T> {
        if self.queued.insert(request.clone()) {
            self.queue.push_back(request);
        }
        Err(Stop::Pending)
    }

    /// The "missing" error for this kind of source.
    pub fn missing(&self, path: &str, referenced_by: &str) -> ArchiveError {
        match self.source {
            Source::Tar { .. } => ArchiveError::MissingEntry {
                path: path.to_owned(),
                referenced_by: referenced_by.to_owned(),
            },
            Source::Dir => ArchiveError::MissingFile {
                path: path.to_owned(),
                referenced_by: referenced_by.to_owned(),
            },
        }
    }

    /// The whole content of a small file, `None` if it does not exist.
    pub fn read_opt(&mut self, path: &str, referenced_by: &str) -> Res<Option<&[u8]>> {
        let request = match &self.source {
            Source::Tar { index, .. } => {
                if index.get(path).is_none() {
                    return Ok(None);
                }
                let entry = index.resolve_file_for(path, referenced_by)?;
                let len = usize::try_from(entry.size)
                    .ok()
                    .filter(|_| entry.size <= MAX_METADATA_LEN)
                    .ok_or_else(|| ArchiveError::TooLarge {
                        what: format!("tar entry {path:?} (referenced by {referenced_by})"),
                        limit: MAX_METADATA_LEN,
                    })?;
                Request::TarWhole {
                    path: path.to_owned(),
                    offset: entry.data_offset,
                    len,
                }
            }
            Source::Dir => Request::DirWhole {
                path: path.to_owned(),
                // One byte over the limit, so an oversized file is recognised.
                max_len: MAX_METADATA_LEN + 1,
            },
        };
        if self.whole.contains_key(path) {
            return Ok(self.whole.get(path).and_then(|d| d.as_deref()));
        }
        self.enqueue(request)
    }

    /// The whole content of a small file that must exist.
    pub fn read(&mut self, path: &str, referenced_by: &str) -> Res<&[u8]> {
        if matches!(self.whole.get(path), Some(None)) {
            return Err(Stop::Fail(self.missing(path, referenced_by)));
        }
        if let Source::Tar { index, .. } = &self.source {
            // Resolve first, so a missing link target is reported precisely.
            index.resolve_file_for(path, referenced_by)?;
        }
        match self.read_opt(path, referenced_by) {
            Ok(Some(_)) => Ok(self
                .whole
                .get(path)
                .and_then(|d| d.as_deref())
                .unwrap_or_default()),
            Ok(None) => Err(Stop::Fail(self.missing(path, referenced_by))),
            Err(e) => Err(e),
        }
    }

    /// The first `len` bytes of a file that must exist (fewer if it is shorter).
    pub fn prefix(&mut self, path: &str, len: usize, referenced_by: &str) -> Res<&[u8]> {
        let request = match &self.source {
            Source::Tar { index, .. } => {
                let entry = index.resolve_file_for(path, referenced_by)?;
                let len = usize::try_from(entry.size).map_or(len, |s| s.min(len));
                if len == 0 {
                    return Ok(&[]);
                }
                Request::TarPrefix {
                    path: path.to_owned(),
                    offset: entry.data_offset,
                    len,
                }
            }
            Source::Dir => Request::DirPrefix {
                path: path.to_owned(),
                len: len as u64,
            },
        };
        match self.prefixes.get(path) {
            Some(Some(_)) => Ok(self
                .prefixes
                .get(path)
                .and_then(|d| d.as_deref())
                .unwrap_or_default()),
            Some(None) => Err(Stop::Fail(self.missing(path, referenced_by))),
            None => self.enqueue(request),
        }
    }

    /// The size of a file, `None` if it does not exist.
    pub fn size_opt(&mut self, path: &str, referenced_by: &str) -> Res<Option<u64>> {
        match &self.source {
            Source::Tar { index, .. } => {
                if index.get(path).is_none() {
                    return Ok(None);
                }
                Ok(Some(index.resolve_file_for(path, referenced_by)?.size))
            }
            Source::Dir => match self.stats.get(path) {
                Some(size) => Ok(*size),
                None => self.enqueue(Request::DirStat {
                    path: path.to_owned(),
                }),
            },
        }
    }

    /// The size of a file that must exist.
    pub fn size(&mut self, path: &str, referenced_by: &str) -> Res<u64> {
        if let Source::Tar { index, .. } = &self.source {
            return Ok(index.resolve_file_for(path, referenced_by)?.size);
        }
        match self.size_opt(path, referenced_by)? {
            Some(size) => Ok(size),
            None => Err(Stop::Fail(self.missing(path, referenced_by))),
        }
    }

    /// The sha256 of a whole tar entry, read in chunks of at most [`HASH_CHUNK`] (never
    /// held whole). Directory sources only read files from their start.
    pub fn sha256(&mut self, path: &str, referenced_by: &str) -> Res<Digest> {
        if let Some(digest) = self.hashed.get(path) {
            return Ok(digest.clone());
        }
        let Source::Tar { index, .. } = &self.source else {
            let reason = format!(
                "{path:?} (referenced by {referenced_by}) would have to be hashed, which tug \
                 does only in a tar"
            );
            return Err(Stop::Fail(ArchiveError::UnsupportedFormat { reason }));
        };
        let entry = index.resolve_file_for(path, referenced_by)?;
        let (start, end) = (
            entry.data_offset,
            entry.data_offset.saturating_add(entry.size),
        );
        if self.hashing.contains_key(path) {
            return Err(Stop::Pending);
        }
        let hasher = Hasher::new(Algorithm::Sha256);
        if start == end {
            let digest = hasher.finish();
            self.hashed.insert(path.to_owned(), digest.clone());
            return Ok(digest);
        }
        self.hashing.insert(path.to_owned(), (hasher, end));
        self.enqueue(hash_chunk(path, start, end))
    }

    /// Where the runner finds the bytes of a file (after following links in a tar).
    pub fn location(&self, path: &str, referenced_by: &str) -> Result<BlobLocation, ArchiveError> {
        match &self.source {
            Source::Tar { index, .. } => {
                let entry = index.resolve_file_for(path, referenced_by)?;
                Ok(BlobLocation::TarRange {
                    entry: entry.path.clone(),
                    offset: entry.data_offset,
                })
            }
            Source::Dir => Ok(BlobLocation::File {
                path: path.to_owned(),
            }),
        }
    }

    /// The request the runner should answer now, if any.
    pub fn current_request(&mut self) -> Option<&Request> {
        if self.current.is_none() {
            self.current = self.queue.pop_front();
        }
        self.current.as_ref()
    }

    /// Whether any read is queued or outstanding.
    pub fn has_requests(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// Takes the runner's answer to a `ReadAt` request.
    pub fn answer_read_at(&mut self, offset: u64, data: &[u8]) -> Result<(), ArchiveError> {
        let total_len = match self.source {
            Source::Tar { total_len, .. } => total_len,
            Source::Dir => 0,
        };
        let (path, len) = match &self.current {
            Some(
                Request::TarWhole {
                    path,
                    offset: o,
                    len,
                }
                | Request::TarPrefix {
                    path,
                    offset: o,
                    len,
                }
                | Request::TarHash {
                    path,
                    offset: o,
                    len,
                },
            ) if *o == offset => (path.clone(), *len),
            _ => {
                return Err(ArchiveError::Misuse {
                    reason: format!("read at offset {offset} does not answer a pending ReadAt"),
                })
            }
        };
        let bytes = data.get(..len).ok_or_else(|| ArchiveError::Truncated {
            what: format!("data of tar entry {path:?}"),
            offset,
            total_len,
        })?;
        match self.current.take() {
            Some(Request::TarHash { .. }) => self.hash_more(path, offset, bytes),
            Some(Request::TarPrefix { .. }) => {
                self.prefixes.insert(path, Some(bytes.to_vec()));
                Ok(())
            }
            _ => {
                self.whole.insert(path, Some(bytes.to_vec()));
                Ok(())
            }
        }
    }

    /// Feeds one answered chunk (read at `offset`) of an entry being hashed, and asks for the
    /// next one.
    fn hash_more(&mut self, path: String, offset: u64, data: &[u8]) -> Result<(), ArchiveError> {
        let Some((hasher, end)) = self.hashing.get_mut(&path) else {
            return Err(ArchiveError::Misuse {
                reason: format!("tar entry {path:?} is not being hashed"),
            });
        };
        hasher.update(data);
        let (next, end) = (offset + data.len() as u64, *end);
        if next < end {
            let _: Res<()> = self.enqueue(hash_chunk(&path, next, end));
        } else if let Some((hasher, _)) = self.hashing.remove(&path) {
            self.hashed.insert(path, hasher.finish());
        }
        Ok(())
    }

    /// Takes the runner's answer to a `ReadFile` request.
    pub fn answer_file(&mut self, path: &str, data: Option<&[u8]>) -> Result<(), ArchiveError> {
        match &self.current {
            Some(Request::DirWhole { path: p, .. }) if p == path => {
                if data.is_some_and(|d| d.len() as u64 > MAX_METADATA_LEN) {
                    return Err(ArchiveError::TooLarge {
                        what: format!("file {path:?}"),
                        limit: MAX_METADATA_LEN,
                    });
                }
                self.whole.insert(path.to_owned(), data.map(<[u8]>::to_vec));
            }
            Some(Request::DirPrefix { path: p, len }) if p == path => {
                let data = data.map(|d| {
                    d.get(..usize::try_from(*len).unwrap_or(usize::MAX))
                        .unwrap_or(d)
                        .to_vec()
                });
                self.prefixes.insert(path.to_owned(), data);
            }
            _ => {
                return Err(ArchiveError::Misuse {
                    reason: format!("file {path:?} does not answer a pending ReadFile"),
                })
            }
        }
        self.current = None;
        Ok(())
    }

    /// Takes the runner's answer to a `Stat` request.
    pub fn answer_stat(&mut self, path: &str, size: Option<u64>) -> Result<(), ArchiveError> {
        match &self.current {
            Some(Request::DirStat { path: p }) if p == path => {
                self.stats.insert(path.to_owned(), size);
                self.current = None;
                Ok(())
            }
            _ => Err(ArchiveError::Misuse {
                reason: format!("stat of {path:?} does not answer a pending Stat"),
            }),
        }
    }
}
