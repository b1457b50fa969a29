//! Shared drivers for the fuzz targets: they play the runner's part for tug-core's sans-IO
//! state machines, answering every request from in-memory data, and check the contracts the
//! core documents (reads stay inside the file, answered requests are never reported as
//! misuse, every loop finishes). The registry operations are driven by the sans-IO test kit
//! (`tests/sansio-kit`: its registry model, driver and contract checks, shared with
//! `core/tests`); what is here is fuzz-specific: the inputs and how they map onto it.
//!
//! A panic anywhere here is a finding: either the core panicked, or it broke a contract a
//! real runner relies on (the assertion message says which).

use std::collections::BTreeMap;

use tug_core::archive::{
    ArchiveError, BlobLocation, IndexStep, ResolveStep, SourceContents, SourceResolver, TarIndex,
    TarIndexer,
};
use tug_core::Digest;

pub mod play;
pub mod script;
pub mod structured;
pub mod verbs;

/// Whether to describe each outcome on stderr: set `TUG_FUZZ_VERBOSE=1` and run a target
/// binary on corpus files (`fuzz/target/<triple>/release/<target> fuzz/corpus/<target>/*`)
/// to see what the inputs reach.
pub fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("TUG_FUZZ_VERBOSE").is_some_and(|v| v != "0"))
}

/// A one-line description of an outcome, for [`verbose`] mode.
pub fn describe<T: std::fmt::Debug, E: std::fmt::Debug>(what: &str, r: &Result<T, E>) {
    if !verbose() {
        return;
    }
    let text = match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e:?}"),
    };
    let short: String = text.chars().take(160).collect();
    eprintln!("OUTCOME {what}: {short}");
}

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// Rewrites the checksum field of a 512-byte tar header block so it matches the block
/// (6 octal digits, NUL, space; computed with the field as spaces). All-zero blocks are left
/// alone: they mark the end of the archive.
pub fn seal_checksum(block: &mut [u8]) {
    if block.len() != BLOCK || block.iter().all(|&b| b == 0) {
        return;
    }
    block[148..156].copy_from_slice(b"        ");
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    let field = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(&field.as_bytes()[..8]);
}

/// The runner's answer to a read of `len` bytes at `offset` of `file`: what the file holds
/// there (short at end of file, as `pread` is).
pub fn read_at(file: &[u8], offset: u64, len: usize) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(file.len());
    let end = start.saturating_add(len).min(file.len());
    &file[start..end]
}

/// Most `poll`s a tar indexer may need for a file of `total_len` bytes: every answered read
/// moves it forward by at least one block, so a file of n blocks takes at most about 2n reads.
fn indexer_step_bound(total_len: u64) -> u64 {
    (total_len / BLOCK as u64)
        .saturating_mul(2)
        .saturating_add(16)
}

/// Checks what the core promises about a finished index: every entry's data lies inside the
/// file (so a runner streaming a layer from it never reads past the end).
pub fn check_index(index: &TarIndex, total_len: u64) {
    for e in index.entries() {
        let end = e.data_offset.checked_add(e.size);
        assert!(
            end.is_some_and(|end| end <= total_len),
            "contract: tar entry {:?} ({} bytes at {}) reaches past the end of the {total_len}-byte file",
            e.path,
            e.size,
            e.data_offset
        );
        assert!(
            !e.path.is_empty(),
            "contract: an indexed entry has an empty path"
        );
        let _ = index.resolve_file(&e.path);
        let _ = index.get(&e.path);
    }
}

/// Runs a [`TarIndexer`] over `file`, which claims to be `total_len` bytes long (when that is
/// more than `file.len()`, reads at the end come back short, as if the file shrank).
///
/// With `seal`, every non-zero 512-byte block the indexer reads gets its checksum fixed before
/// it is handed over (in `file` itself), so mutated headers get past the checksum test and
/// reach the field parsers. `file` then holds the sealed archive.
pub fn index_tar(file: &mut [u8], total_len: u64, seal: bool) -> Result<TarIndex, ArchiveError> {
    let mut indexer = TarIndexer::new(total_len);
    for _ in 0..indexer_step_bound(total_len) {
        match indexer.poll() {
            Ok(IndexStep::Done(index)) => {
                check_index(&index, total_len);
                // Once the index is out, the indexer only reports misuse.
                assert!(
                    matches!(indexer.poll(), Err(ArchiveError::Misuse { .. })),
                    "contract: poll after Done must report misuse"
                );
                return Ok(index);
            }
            Ok(IndexStep::Read { offset, len }) => {
                assert!(
                    offset
                        .checked_add(len as u64)
                        .is_some_and(|end| end <= total_len),
                    "contract: the indexer asked for {len} bytes at {offset}, past the end of \
                     the {total_len}-byte file"
                );
                if seal && len == BLOCK {
                    if let Some(block) = usize::try_from(offset)
                        .ok()
                        .and_then(|o| file.get_mut(o..o.checked_add(BLOCK)?))
                    {
                        seal_checksum(block);
                    }
                }
                let data = read_at(file, offset, len);
                if let Err(e) = indexer.handle_read(offset, data) {
                    assert!(
                        !matches!(e, ArchiveError::Misuse { .. }),
                        "contract: answering the indexer's own request was called misuse: {e}"
                    );
                    // The error is final: poll must repeat it.
                    let again = indexer.poll();
                    assert!(
                        matches!(&again, Err(a) if a.to_string() == e.to_string()),
                        "contract: after handle_read failed with {e}, poll returned {again:?}"
                    );
                    return Err(e);
                }
            }
            Err(e) => {
                assert!(
                    !matches!(e, ArchiveError::Misuse { .. }),
                    "contract: a correctly driven indexer reported misuse: {e}"
                );
                let _ = e.to_string();
                return Err(e);
            }
        }
    }
    panic!(
        "liveness: the tar indexer made no progress within {} steps on a {total_len}-byte file",
        indexer_step_bound(total_len)
    );
}

/// Most `poll`s a resolver may take. Every answered request fills a cache entry and requests
/// are de-duplicated, so this is only reached if it asks for the same bytes forever.
const RESOLVER_STEP_BOUND: usize = 200_000;

/// Checks what the core promises about resolved images.
pub fn check_contents(contents: &SourceContents, tar_len: Option<u64>) {
    for image in &contents.images {
        let m = &image.manifest;
        assert_eq!(
            Digest::sha256_of(&m.bytes),
            m.digest,
            "contract: a resolved manifest's digest is not the digest of its bytes"
        );
        for blob in std::iter::once(&image.config).chain(&image.layers) {
            if let (Some(total_len), BlobLocation::TarRange { offset, entry }) =
                (tar_len, &blob.location)
            {
                assert!(
                    offset
                        .checked_add(blob.size)
                        .is_some_and(|end| end <= total_len),
                    "contract: blob {} ({} bytes of entry {entry:?} at {offset}) reaches past \
                     the end of the {total_len}-byte tar",
                    blob.digest,
                    blob.size
                );
            }
        }
    }
}

/// Runs a [`SourceResolver`] over a tar file held in `file`.
pub fn resolve_tar(file: &[u8]) -> Result<SourceContents, ArchiveError> {
    let total_len = file.len() as u64;
    let mut resolver = SourceResolver::for_tar(total_len);
    for _ in 0..RESOLVER_STEP_BOUND {
        match resolver.poll() {
            Ok(ResolveStep::Done(contents)) => {
                check_contents(&contents, Some(total_len));
                return Ok(contents);
            }
            Ok(ResolveStep::ReadAt { offset, len }) => {
                assert!(
                    offset
                        .checked_add(len as u64)
                        .is_some_and(|end| end <= total_len),
                    "contract: the resolver asked for {len} bytes at {offset}, past the end of \
                     the {total_len}-byte tar"
                );
                let data = read_at(file, offset, len);
                if let Err(e) = resolver.handle_read_at(offset, data) {
                    assert!(
                        !matches!(e, ArchiveError::Misuse { .. }),
                        "contract: answering the resolver's own ReadAt was called misuse: {e}"
                    );
                    return Err(e);
                }
            }
            Ok(other) => panic!("contract: a tar resolver asked for a directory read: {other:?}"),
            Err(e) => {
                assert!(
                    !matches!(e, ArchiveError::Misuse { .. }),
                    "contract: a correctly driven resolver reported misuse: {e}"
                );
                let _ = e.to_string();
                return Err(e);
            }
        }
    }
    panic!("liveness: the tar resolver did not finish within {RESOLVER_STEP_BOUND} steps");
}

/// Runs a [`SourceResolver`] over an OCI layout directory held in `files` (path → bytes).
pub fn resolve_dir(files: &BTreeMap<String, Vec<u8>>) -> Result<SourceContents, ArchiveError> {
    let mut resolver = SourceResolver::for_directory();
    for _ in 0..RESOLVER_STEP_BOUND {
        let step = resolver.poll();
        let answered = match step {
            Ok(ResolveStep::Done(contents)) => {
                check_contents(&contents, None);
                return Ok(contents);
            }
            Ok(ResolveStep::ReadFile { path, max_len }) => {
                check_dir_path(&path);
                let data = files.get(&path).map(|d| {
                    let n = usize::try_from(max_len).unwrap_or(usize::MAX).min(d.len());
                    &d[..n]
                });
                resolver.handle_file(&path, data)
            }
            Ok(ResolveStep::Stat { path }) => {
                check_dir_path(&path);
                let size = files.get(&path).map(|d| d.len() as u64);
                resolver.handle_stat(&path, size)
            }
            Ok(other) => panic!("contract: a directory resolver asked for a tar read: {other:?}"),
            Err(e) => {
                assert!(
                    !matches!(e, ArchiveError::Misuse { .. }),
                    "contract: a correctly driven resolver reported misuse: {e}"
                );
                let _ = e.to_string();
                return Err(e);
            }
        };
        if let Err(e) = answered {
            assert!(
                !matches!(e, ArchiveError::Misuse { .. }),
                "contract: answering the resolver's own request was called misuse: {e}"
            );
            return Err(e);
        }
    }
    panic!("liveness: the directory resolver did not finish within {RESOLVER_STEP_BOUND} steps");
}

/// The resolver promises directory paths are relative, `/`-separated and never escape the
/// layout directory.
fn check_dir_path(path: &str) {
    assert!(
        !path.starts_with('/')
            && !path.contains('\\')
            && !path.contains('\0')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."),
        "contract: the resolver asked for a path that is not a plain relative path: {path:?}"
    );
}

/// An in-memory tar writer (ustar headers with correct checksums; GNU long names for paths
/// that do not fit).
#[derive(Default)]
pub struct TarWriter {
    buf: Vec<u8>,
}

/// What a [`TarWriter`] entry is.
pub enum TarKind<'a> {
    /// A regular file with these bytes.
    File(&'a [u8]),
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(&'a str),
    /// A hard link to this archive path.
    HardLink(&'a str),
}

impl TarWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn header(&mut self, name: &[u8], typeflag: u8, size: u64, link: &[u8]) {
        let mut b = [0u8; BLOCK];
        let put = |b: &mut [u8; BLOCK], at: usize, bytes: &[u8], width: usize| {
            let n = bytes.len().min(width);
            b[at..at + n].copy_from_slice(&bytes[..n]);
        };
        let octal = |b: &mut [u8; BLOCK], at: usize, width: usize, value: u64| {
            let s = format!("{:0w$o}\0", value, w = width - 1);
            let n = s.len().min(width);
            b[at..at + n].copy_from_slice(&s.as_bytes()[s.len() - n..]);
        };
        put(&mut b, 0, name, 100);
        octal(&mut b, 100, 8, 0o644);
        octal(&mut b, 108, 8, 0);
        octal(&mut b, 116, 8, 0);
        octal(&mut b, 124, 12, size);
        octal(&mut b, 136, 12, 0);
        b[156] = typeflag;
        put(&mut b, 157, link, 100);
        put(&mut b, 257, b"ustar\0", 6);
        put(&mut b, 263, b"00", 2);
        seal_checksum(&mut b);
        self.buf.extend_from_slice(&b);
    }

    fn data(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Adds an entry; names or link targets longer than 99 bytes get GNU long-name entries.
    pub fn entry(&mut self, name: &str, kind: TarKind<'_>) {
        let link = match kind {
            TarKind::Symlink(t) | TarKind::HardLink(t) => t.as_bytes(),
            _ => b"",
        };
        if link.len() > 99 {
            let mut payload = link.to_vec();
            payload.push(0);
            self.header(b"././@LongLink", b'K', payload.len() as u64, b"");
            self.data(&payload);
        }
        if name.len() > 99 {
            let mut payload = name.as_bytes().to_vec();
            payload.push(0);
            self.header(b"././@LongLink", b'L', payload.len() as u64, b"");
            self.data(&payload);
        }
        match kind {
            TarKind::File(data) => {
                self.header(name.as_bytes(), b'0', data.len() as u64, b"");
                self.data(data);
            }
            TarKind::Dir => self.header(name.as_bytes(), b'5', 0, b""),
            TarKind::Symlink(_) => self.header(name.as_bytes(), b'2', 0, link),
            TarKind::HardLink(_) => self.header(name.as_bytes(), b'1', 0, link),
        }
    }

    /// The archive, with its two end blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.resize(self.buf.len() + 2 * BLOCK, 0);
        self.buf
    }
}
