//! `TarIndexer`: a sans-IO tar indexer that reads header blocks by offset and never entry data.

use std::collections::HashMap;

use super::compression::{sniff, Compression};
use super::error::ArchiveError;
use super::path::{join_link_target, normalize};
use super::tar_header::{
    c_string, parse_header, parse_pax, HeaderProblem, PaxOverrides, BLOCK, BLOCK_LEN,
};

/// Largest GNU long-name or PAX payload the indexer will read into memory (1 MiB).
pub const MAX_EXTENDED_HEADER: u64 = 1 << 20;

/// How many symlinks / hard links [`TarIndex::resolve_file`] follows before giving up.
pub const MAX_LINK_HOPS: usize = 40;

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (typeflags `0`, `\0`, `7`).
    File,
    /// A directory (typeflag `5`, or an old-style file entry whose name ends in `/`).
    Directory,
    /// A symbolic link; `target` is as written, relative to the link's directory.
    Symlink {
        /// The link target as stored in the archive.
        target: String,
    },
    /// A hard link; `target` names an entry relative to the archive root.
    HardLink {
        /// The link target as stored in the archive.
        target: String,
    },
    /// Anything else (devices, FIFOs, sparse files, vendor types): indexed but not readable.
    Other,
}

impl EntryKind {
    /// A word for messages: `file`, `directory`, `symlink`, `hard link`, `special file`.
    pub fn describe(&self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Directory => "directory",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::HardLink { .. } => "hard link",
            EntryKind::Other => "special file",
        }
    }
}

/// One entry of a tar archive: where its data lies in the tar file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Normalised path (no leading `./`, no `//`, no trailing `/`).
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Offset of the entry's first data byte in the tar file.
    pub data_offset: u64,
    /// Number of data bytes (0 for links, directories and devices).
    pub size: u64,
}

/// The index of a tar archive: entries in archive order, and lookups by normalised path.
#[derive(Debug, Clone, Default)]
pub struct TarIndex {
    entries: Vec<TarEntry>,
    by_path: HashMap<String, usize>,
}

impl TarIndex {
    fn push(&mut self, entry: TarEntry) {
        // A later entry with the same name replaces an earlier one, as when extracting.
        self.by_path.insert(entry.path.clone(), self.entries.len());
        self.entries.push(entry);
    }

    /// The entry at `path` (normalised before lookup), without following links.
    pub fn get(&self, path: &str) -> Option<&TarEntry> {
        let path = normalize(path)?;
        self.by_path.get(&path).and_then(|&i| self.entries.get(i))
    }

    /// Follows symlinks (relative to the link's directory) and hard links (relative to the
    /// archive root) to a regular file, with a loop limit; errors if a target escapes the root
    /// or is missing.
    pub fn resolve_file(&self, path: &str) -> Result<&TarEntry, ArchiveError> {
        self.resolve_file_for(path, "the caller")
    }

    /// Like [`TarIndex::resolve_file`], naming `referenced_by` (e.g. `manifest.json`) in a
    /// missing-entry error so the message says who wanted the entry.
    pub fn resolve_file_for(
        &self,
        path: &str,
        referenced_by: &str,
    ) -> Result<&TarEntry, ArchiveError> {
        let mut current = normalize(path).ok_or_else(|| ArchiveError::PathEscapes {
            entry: path.to_owned(),
        })?;
        let mut referrer = referenced_by.to_owned();
        for _ in 0..=MAX_LINK_HOPS {
            let entry = self
                .by_path
                .get(&current)
                .and_then(|&i| self.entries.get(i))
                .ok_or_else(|| ArchiveError::MissingEntry {
                    path: current.clone(),
                    referenced_by: referrer.clone(),
                })?;
            let next = match &entry.kind {
                EntryKind::File => return Ok(entry),
                EntryKind::Symlink { target } => join_link_target(&entry.path, target),
                EntryKind::HardLink { target } => normalize(target),
                EntryKind::Directory | EntryKind::Other => {
                    return Err(ArchiveError::NotAFile {
                        path: entry.path.clone(),
                        referenced_by: referrer,
                        kind: entry.kind.describe().to_owned(),
                    })
                }
            };
            let target = match &entry.kind {
                EntryKind::Symlink { target } | EntryKind::HardLink { target } => target,
                _ => "",
            };
            current = next.ok_or_else(|| ArchiveError::PathEscapes {
                entry: format!("{} -> {}", entry.path, target),
            })?;
            referrer = format!(
                "{} {:?} (referenced by {referenced_by})",
                entry.kind.describe(),
                entry.path
            );
        }
        Err(ArchiveError::LinkLoop {
            path: path.to_owned(),
        })
    }

    /// All entries in archive order (including ones a later entry of the same name replaced).
    pub fn entries(&self) -> impl Iterator<Item = &TarEntry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the indexer needs next.
#[derive(Debug)]
pub enum IndexStep {
    /// Read `len` bytes at `offset` of the tar file and pass them to
    /// [`TarIndexer::handle_read`].
    Read {
        /// Where to read.
        offset: u64,
        /// How many bytes (never past the end of the file).
        len: usize,
    },
    /// Indexing finished; here is the index.
    Done(TarIndex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtKind {
    LongName,
    LongLink,
    Pax,
}

#[derive(Debug)]
enum State {
    /// Needs the header block at `offset`.
    Header { offset: u64 },
    /// Needs the payload of an extended header (GNU long name/link or PAX).
    Extended {
        header_offset: u64,
        kind: ExtKind,
        data_offset: u64,
        len: usize,
        next: u64,
    },
    /// Saw the end of the archive; the next poll hands out the index.
    Ready,
    /// The index was handed out.
    Finished,
    /// Failed; every later call repeats the error.
    Failed(ArchiveError),
}

/// Sans-IO tar indexer: [`poll`](TarIndexer::poll) says which bytes to read,
/// [`handle_read`](TarIndexer::handle_read) takes them, until the index is done.
///
/// `poll` keeps returning the same request until it is answered.
#[derive(Debug)]
pub struct TarIndexer {
    total_len: u64,
    state: State,
    index: TarIndex,
    long_name: Option<String>,
    long_link: Option<String>,
    pax: PaxOverrides,
}

impl TarIndexer {
    /// An indexer for a tar file of `total_len` bytes.
    pub fn new(total_len: u64) -> Self {
        TarIndexer {
            total_len,
            state: State::Header { offset: 0 },
            index: TarIndex::default(),
            long_name: None,
            long_link: None,
            pax: PaxOverrides::default(),
        }
    }

    /// What the indexer needs next.
    pub fn poll(&mut self) -> Result<IndexStep, ArchiveError> {
        let result = self.poll_inner();
        self.fail_on_error(result)
    }

    /// Answer to the last `IndexStep::Read`: the bytes at that offset (may be shorter only at
    /// end of file). Reads never reach past `total_len`, so a short answer means the file
    /// shrank and is reported as [`ArchiveError::Truncated`]; extra bytes are ignored.
    pub fn handle_read(&mut self, offset: u64, data: &[u8]) -> Result<(), ArchiveError> {
        let result = self.handle_read_inner(offset, data);
        self.fail_on_error(result)
    }

    fn fail_on_error<T>(&mut self, result: Result<T, ArchiveError>) -> Result<T, ArchiveError> {
        if let Err(e) = &result {
            if !matches!(e, ArchiveError::Misuse { .. }) {
                self.state = State::Failed(e.clone());
            }
        }
        result
    }

    fn has_pending_extension(&self) -> bool {
        self.long_name.is_some() || self.long_link.is_some() || self.pax != PaxOverrides::default()
    }

    fn poll_inner(&mut self) -> Result<IndexStep, ArchiveError> {
        match &self.state {
            State::Header { offset } => {
                let offset = *offset;
                if offset == 0 && self.total_len == 0 {
                    return Err(ArchiveError::NotATar {
                        reason: "the file is empty".to_owned(),
                    });
                }
                if offset >= self.total_len {
                    // No end-of-archive blocks: accept, as GNU tar does, at an entry boundary.
                    return self.finish_at(offset);
                }
                let left = self.total_len.saturating_sub(offset);
                if left < BLOCK {
                    if offset == 0 {
                        // All there is: a compressed tar can be that small.
                        return Ok(IndexStep::Read {
                            offset,
                            len: left as usize,
                        });
                    }
                    return Err(ArchiveError::Truncated {
                        what: "tar header".to_owned(),
                        offset,
                        total_len: self.total_len,
                    });
                }
                Ok(IndexStep::Read {
                    offset,
                    len: BLOCK_LEN,
                })
            }
            State::Extended {
                data_offset, len, ..
            } => Ok(IndexStep::Read {
                offset: *data_offset,
                len: *len,
            }),
            State::Ready => {
                self.state = State::Finished;
                Ok(IndexStep::Done(std::mem::take(&mut self.index)))
            }
            State::Finished => Err(ArchiveError::Misuse {
                reason: "poll called after the index was returned".to_owned(),
            }),
            State::Failed(e) => Err(e.clone()),
        }
    }

    fn finish_at(&mut self, offset: u64) -> Result<IndexStep, ArchiveError> {
        if self.has_pending_extension() {
            return Err(ArchiveError::BadHeader {
                offset,
                reason: "an extended header (long name or PAX) is not followed by an entry"
                    .to_owned(),
            });
        }
        self.state = State::Finished;
        Ok(IndexStep::Done(std::mem::take(&mut self.index)))
    }

    fn handle_read_inner(&mut self, offset: u64, data: &[u8]) -> Result<(), ArchiveError> {
        match &self.state {
            State::Header { offset: 0 } if offset == 0 && self.total_len < BLOCK => {
                let left = self.total_len;
                Err(match sniff(data) {
                    Compression::None => ArchiveError::NotATar {
                        reason: match other_format(data) {
                            Some(format) => format!("it is {format}"),
                            None => format!(
                                "the file is only {left} bytes, shorter than one tar header"
                            ),
                        },
                    },
                    compression => ArchiveError::CompressedTar { compression },
                })
            }
            State::Header { offset: want } if *want == offset => {
                let block: &[u8; 512] = data
                    .get(..BLOCK_LEN)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| ArchiveError::Truncated {
                        what: "tar header".to_owned(),
                        offset,
                        total_len: self.total_len,
                    })?;
                self.on_header(offset, block)
            }
            State::Extended {
                header_offset,
                kind,
                data_offset,
                len,
                next,
            } if *data_offset == offset => {
                let (header_offset, kind, len, next) = (*header_offset, *kind, *len, *next);
                let payload = data.get(..len).ok_or_else(|| ArchiveError::Truncated {
                    what: "extended header data".to_owned(),
                    offset,
                    total_len: self.total_len,
                })?;
                match kind {
                    ExtKind::LongName => self.long_name = Some(c_string(payload)),
                    ExtKind::LongLink => self.long_link = Some(c_string(payload)),
                    ExtKind::Pax => parse_pax(payload, &mut self.pax).map_err(|reason| {
                        ArchiveError::BadHeader {
                            offset: header_offset,
                            reason,
                        }
                    })?,
                }
                self.state = State::Header { offset: next };
                Ok(())
            }
            State::Failed(e) => Err(e.clone()),
            _ => Err(ArchiveError::Misuse {
                reason: format!("handle_read at offset {offset} does not answer a pending read"),
            }),
        }
    }

    fn on_header(&mut self, offset: u64, block: &[u8; 512]) -> Result<(), ArchiveError> {
        let header = match parse_header(block) {
            Ok(Some(h)) => h,
            Ok(None) => {
                // An all-zero block ends the archive (normally two of them follow).
                if self.has_pending_extension() {
                    return Err(ArchiveError::BadHeader {
                        offset,
                        reason: "an extended header (long name or PAX) is followed by the end \
                                 of the archive"
                            .to_owned(),
                    });
                }
                self.state = State::Ready;
                return Ok(());
            }
            Err(problem) if offset == 0 => {
                return Err(match (sniff(block), problem) {
                    (Compression::None, HeaderProblem::Checksum(r) | HeaderProblem::Field(r)) => {
                        let reason = match other_format(block) {
                            Some(format) => format!("it is {format}"),
                            None => format!("the first 512-byte block is not a tar header ({r})"),
                        };
                        ArchiveError::NotATar { reason }
                    }
                    (compression, _) => ArchiveError::CompressedTar { compression },
                });
            }
            Err(HeaderProblem::Checksum(reason) | HeaderProblem::Field(reason)) => {
                return Err(ArchiveError::BadHeader { offset, reason })
            }
        };

        let data_offset = offset
            .checked_add(BLOCK)
            .ok_or_else(|| ArchiveError::Truncated {
                what: "tar header".to_owned(),
                offset,
                total_len: self.total_len,
            })?;
        let ext = match header.typeflag {
            b'L' => Some(ExtKind::LongName),
            b'K' => Some(ExtKind::LongLink),
            b'x' => Some(ExtKind::Pax),
            _ => None,
        };
        if let Some(kind) = ext {
            let what = match kind {
                ExtKind::LongName => "GNU long name",
                ExtKind::LongLink => "GNU long link name",
                ExtKind::Pax => "PAX extended header",
            };
            if header.size > MAX_EXTENDED_HEADER {
                return Err(ArchiveError::BadHeader {
                    offset,
                    reason: format!(
                        "{what} of {} bytes exceeds the {MAX_EXTENDED_HEADER}-byte limit",
                        header.size
                    ),
                });
            }
            let next = self.data_end(offset, data_offset, header.size, what)?;
            self.state = match usize::try_from(header.size) {
                Ok(0) | Err(_) => State::Header { offset: next },
                Ok(len) => State::Extended {
                    header_offset: offset,
                    kind,
                    data_offset,
                    len, // <= 1 MiB, checked above
                    next,
                },
            };
            return Ok(());
        }

        // A real entry (or a global PAX header / volume label, which only get skipped).
        let raw_name = self
            .pax
            .path
            .take()
            .or_else(|| self.long_name.take())
            .unwrap_or(header.name);
        let link = self
            .pax
            .linkpath
            .take()
            .or_else(|| self.long_link.take())
            .unwrap_or(header.linkname);
        let size = self.pax.size.take().unwrap_or(header.size);
        self.long_name = None;
        self.long_link = None;
        self.pax = PaxOverrides::default();

        let (kind, data_size) = match header.typeflag {
            b'0' | 0 | b'7' if raw_name.ends_with('/') => (EntryKind::Directory, 0),
            b'0' | 0 | b'7' => (EntryKind::File, size),
            b'1' => (EntryKind::HardLink { target: link }, 0),
            b'2' => (EntryKind::Symlink { target: link }, 0),
            b'3' | b'4' | b'6' => (EntryKind::Other, 0),
            b'5' => (EntryKind::Directory, 0),
            b'g' | b'V' => {
                // Global PAX header or GNU volume label: not an entry; skip its data.
                let what = format!("data of the header at offset {offset}");
                let next = self.data_end(offset, data_offset, size, &what)?;
                self.state = State::Header { offset: next };
                return Ok(());
            }
            _ => (EntryKind::Other, size),
        };

        let path = normalize(&raw_name).ok_or_else(|| ArchiveError::PathEscapes {
            entry: raw_name.clone(),
        })?;
        let what = format!("data of tar entry {raw_name:?}");
        let next = self.data_end(offset, data_offset, data_size, &what)?;
        if path.is_empty() {
            if kind != EntryKind::Directory {
                return Err(ArchiveError::BadHeader {
                    offset,
                    reason: format!("{} entry {raw_name:?} has no name", kind.describe()),
                });
            }
            // The archive root itself ("./"): nothing to index.
        } else {
            self.index.push(TarEntry {
                path,
                kind,
                data_offset,
                size: data_size,
            });
        }
        self.state = State::Header { offset: next };
        Ok(())
    }

    /// Checks that `size` data bytes at `data_offset` fit in the file and returns the offset of
    /// the next header (data padded to whole blocks).
    fn data_end(
        &self,
        header_offset: u64,
        data_offset: u64,
        size: u64,
        what: &str,
    ) -> Result<u64, ArchiveError> {
        let end = data_offset
            .checked_add(size)
            .filter(|&end| end <= self.total_len)
            .ok_or_else(|| ArchiveError::Truncated {
                what: what.to_owned(),
                offset: data_offset,
                total_len: self.total_len,
            })?;
        end.checked_add(BLOCK - 1)
            .map(|e| e - e % BLOCK)
            .ok_or_else(|| ArchiveError::BadHeader {
                offset: header_offset,
                reason: format!("size {size} is too large"),
            })
    }
}

/// What a file that is no tar is, by its first bytes, when it is a kind people give by
/// mistake: another archive format, or an image's JSON alone.
fn other_format(block: &[u8]) -> Option<&'static str> {
    let json = block
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if block.starts_with(b"PK\x03\x04") || block.starts_with(b"PK\x05\x06") {
        Some("a zip archive (tug reads tar archives: `docker save`, OCI archives)")
    } else if block.starts_with(b"7z\xbc\xaf\x27\x1c") {
        Some("a 7-Zip archive (tug reads tar archives: `docker save`, OCI archives)")
    } else if block.starts_with(b"Rar!") {
        Some("a RAR archive (tug reads tar archives: `docker save`, OCI archives)")
    } else if json {
        Some("JSON, not a tar archive (for an OCI layout, give its directory)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::archive::test_util::{index_bytes, TarBuilder};

    #[test]
    fn indexes_files_dirs_and_links_in_order() {
        let mut t = TarBuilder::new();
        t.dir("./abc/");
        t.file("./abc/layer.tar", b"hello");
        t.symlink("def/layer.tar", "../abc/layer.tar");
        t.hardlink("hard", "abc/layer.tar");
        t.file("a//b/", b""); // old-style directory: regular type, trailing slash
        let bytes = t.finish();
        let idx = index_bytes(&bytes).unwrap();
        let paths: Vec<_> = idx.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["abc", "abc/layer.tar", "def/layer.tar", "hard", "a/b"]
        );
        let f = idx.get("abc/layer.tar").unwrap();
        assert_eq!(
            (f.kind.clone(), f.size, f.data_offset),
            (EntryKind::File, 5, 1024)
        );
        assert_eq!(bytes.get(1024..1029), Some(&b"hello"[..]));
        assert_eq!(idx.get("a/b").unwrap().kind, EntryKind::Directory);
        assert_eq!(idx.get("./abc/").unwrap().kind, EntryKind::Directory);
        assert_eq!(
            idx.resolve_file("def/layer.tar").unwrap().path,
            "abc/layer.tar"
        );
        assert_eq!(idx.resolve_file("hard").unwrap().path, "abc/layer.tar");
        assert_eq!(idx.len(), 5);
    }

    #[test]
    fn gnu_long_names_and_pax_records_override_the_header() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let long_target = format!("{}/target", "t".repeat(120));
        let mut t = TarBuilder::new();
        t.gnu_long_file(&long, b"x");
        t.gnu_long_symlink("ln", &long_target);
        t.pax_global(&[("comment", "ignored")]);
        t.pax_file(&format!("{}/pax", "p".repeat(200)), b"yz", &[]);
        t.pax_symlink("pl", &long_target);
        t.file("after", b"");
        let idx = index_bytes(&t.finish()).unwrap();
        assert_eq!(idx.get(&long).unwrap().size, 1);
        match &idx.get("ln").unwrap().kind {
            EntryKind::Symlink { target } => assert_eq!(target, &long_target),
            k => panic!("{k:?}"),
        }
        assert_eq!(
            idx.get(&format!("{}/pax", "p".repeat(200))).unwrap().size,
            2
        );
        match &idx.get("pl").unwrap().kind {
            EntryKind::Symlink { target } => assert_eq!(target, &long_target),
            k => panic!("{k:?}"),
        }
        // Overrides apply to one entry only.
        assert_eq!(idx.get("after").unwrap().size, 0);
        assert_eq!(idx.len(), 5);
    }

    #[test]
    fn ustar_prefix_and_v7_headers() {
        let mut t = TarBuilder::new();
        t.ustar_prefixed("some/prefix", "name.txt", b"abc");
        t.v7_file("old.txt", b"abcd");
        let idx = index_bytes(&t.finish()).unwrap();
        assert_eq!(idx.get("some/prefix/name.txt").unwrap().size, 3);
        assert_eq!(idx.get("old.txt").unwrap().size, 4);
    }

    #[test]
    fn pax_size_and_base256_sizes_over_8_gib() {
        let nine_gib: u64 = 9 << 30;
        for use_pax in [false, true] {
            let mut t = TarBuilder::new();
            if use_pax {
                t.pax_header(&[("size", &nine_gib.to_string())]);
                t.raw_header("big.tar", b'0', 0, "");
            } else {
                t.base256_header("big.tar", nine_gib);
            }
            let head = t.finish_without_trailer();
            let data_offset = head.len() as u64;
            let mut sparse: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            sparse.insert(0, head);
            let next = data_offset + nine_gib; // 9 GiB is a multiple of 512
            sparse.insert(next, vec![0; 1024]);
            let total = next + 1024;
            let idx = crate::archive::test_util::index_sparse(total, &sparse).unwrap();
            let e = idx.get("big.tar").unwrap();
            assert_eq!((e.size, e.data_offset), (nine_gib, data_offset));
        }
    }

    #[test]
    fn end_without_trailer_and_empty_archive() {
        let mut t = TarBuilder::new();
        t.file("a", b"1");
        let idx = index_bytes(&t.finish_without_trailer()).unwrap();
        assert_eq!(idx.len(), 1);
        let idx = index_bytes(&[0; 1024]).unwrap();
        assert!(idx.is_empty());
    }

    #[test]
    fn rejects_non_tar_and_truncation() {
        let err = index_bytes(b"{\"not\": \"a tar\"}").unwrap_err();
        assert!(matches!(err, ArchiveError::NotATar { .. }), "{err}");
        assert!(err.to_string().contains("it is JSON"), "{err}");
        let err = index_bytes(&[b'x'; 2048]).unwrap_err();
        assert!(matches!(err, ArchiveError::NotATar { .. }), "{err}");
        assert!(
            err.to_string().contains("\"xxxxxxxx\" is not an octal"),
            "{err}"
        );
        // Other archives are named; binary bytes are not quoted.
        let mut zip = b"PK\x03\x04".to_vec();
        zip.resize(2048, 0xee);
        let err = index_bytes(&zip).unwrap_err();
        assert!(err.to_string().contains("it is a zip archive"), "{err}");
        let random: Vec<u8> = (0..2048u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let err = index_bytes(&random).unwrap_err().to_string();
        assert!(err.contains("binary bytes, not an octal number"), "{err}");
        // A compressed tar smaller than one tar header (an image with no layers).
        for small in [&[0x1f, 0x8b, 8, 0, 1, 2][..], &[0x28, 0xb5, 0x2f, 0xfd, 9]] {
            let err = index_bytes(small).unwrap_err();
            assert!(matches!(err, ArchiveError::CompressedTar { .. }), "{err}");
        }
        let err = index_bytes(b"tiny").unwrap_err();
        assert!(err.to_string().contains("only 4 bytes"), "{err}");
        let mut gz = vec![0x1f, 0x8b, 8, 0];
        gz.resize(1024, 7);
        let err = index_bytes(&gz).unwrap_err();
        assert!(err.to_string().contains("compressed with gzip"), "{err}");
        assert_eq!(
            err,
            ArchiveError::CompressedTar {
                compression: Compression::Gzip
            }
        );
        let mut zst = vec![0x28, 0xb5, 0x2f, 0xfd];
        zst.resize(1024, 7);
        let err = index_bytes(&zst).unwrap_err();
        assert!(err.to_string().contains("zstd -d"), "{err}");
        assert!(matches!(
            index_bytes(&[]),
            Err(ArchiveError::NotATar { .. })
        ));

        let mut t = TarBuilder::new();
        t.file("first", b"1");
        t.file("layer.tar", &[7; 3000]);
        let bytes = t.finish();
        // Cut inside layer.tar's data.
        let err = index_bytes(&bytes[..2048]).unwrap_err();
        match &err {
            ArchiveError::Truncated { what, .. } => assert!(what.contains("layer.tar"), "{err}"),
            e => panic!("{e}"),
        }
        // Cut in the middle of the second header.
        let err = index_bytes(&bytes[..1024 + 100]).unwrap_err();
        assert!(
            matches!(err, ArchiveError::Truncated { offset: 1024, .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_checksum_later_is_a_bad_header() {
        let mut t = TarBuilder::new();
        t.file("a", b"1");
        t.file("b", b"2");
        let mut bytes = t.finish();
        bytes[1024] ^= 0x01; // corrupt the name of "b"
        let err = index_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, ArchiveError::BadHeader { offset: 1024, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn escaping_names_are_errors_naming_the_entry() {
        for name in ["../evil", "a/../../evil", "/etc/passwd"] {
            let mut t = TarBuilder::new();
            t.file(name, b"x");
            let err = index_bytes(&t.finish()).unwrap_err();
            assert_eq!(
                err,
                ArchiveError::PathEscapes {
                    entry: name.to_owned()
                }
            );
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn oversized_extended_header_is_rejected() {
        let mut t = TarBuilder::new();
        t.raw_header("././@LongLink", b'L', 2 << 20, "");
        let mut bytes = t.finish_without_trailer();
        bytes.resize(bytes.len() + (2 << 20) + 1024, 0);
        let err = index_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn dangling_extended_header_is_an_error() {
        let mut t = TarBuilder::new();
        t.pax_header(&[("path", "x")]);
        let err = index_bytes(&t.finish()).unwrap_err();
        assert!(matches!(err, ArchiveError::BadHeader { .. }), "{err}");
    }

    #[test]
    fn resolve_file_errors() {
        let mut t = TarBuilder::new();
        t.symlink("loop1", "loop2");
        t.symlink("loop2", "loop1");
        t.symlink("up", "../../x");
        t.symlink("abs", "/etc/passwd");
        t.symlink("dangling", "nowhere");
        t.dir("d");
        let idx = index_bytes(&t.finish()).unwrap();
        assert!(matches!(
            idx.resolve_file("loop1"),
            Err(ArchiveError::LinkLoop { .. })
        ));
        assert!(matches!(
            idx.resolve_file("up"),
            Err(ArchiveError::PathEscapes { .. })
        ));
        assert!(matches!(
            idx.resolve_file("abs"),
            Err(ArchiveError::PathEscapes { .. })
        ));
        let err = idx
            .resolve_file_for("dangling", "manifest.json")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tar entry \"nowhere\" referenced by symlink \"dangling\" (referenced by \
             manifest.json) is missing"
        );
        assert!(matches!(
            idx.resolve_file("d"),
            Err(ArchiveError::NotAFile { .. })
        ));
        assert!(matches!(
            idx.resolve_file("../x"),
            Err(ArchiveError::PathEscapes { .. })
        ));
    }

    #[test]
    fn misuse_is_reported_and_poll_is_idempotent() {
        let mut t = TarBuilder::new();
        t.file("a", b"1");
        let bytes = t.finish();
        let mut ix = TarIndexer::new(bytes.len() as u64);
        let first = ix.poll().unwrap();
        let again = ix.poll().unwrap();
        assert!(matches!(
            (first, again),
            (
                IndexStep::Read {
                    offset: 0,
                    len: 512
                },
                IndexStep::Read {
                    offset: 0,
                    len: 512
                }
            )
        ));
        assert!(matches!(
            ix.handle_read(512, &bytes[512..1024]),
            Err(ArchiveError::Misuse { .. })
        ));
        // A short answer is a truncation.
        assert!(matches!(
            ix.handle_read(0, &bytes[..100]),
            Err(ArchiveError::Truncated { .. })
        ));
        assert!(ix.poll().is_err());
    }

    mod prop {
        use proptest::prelude::*;
        #[cfg(target_arch = "wasm32")]
        use wasm_bindgen_test::wasm_bindgen_test as test;

        use crate::archive::test_util::{index_bytes, sample_tar};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let _ = index_bytes(&bytes);
            }

            #[test]
            fn never_panics_on_mutated_tars(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
                cut in any::<Option<usize>>(),
            ) {
                let mut bytes = sample_tar();
                for (at, value) in edits {
                    let len = bytes.len();
                    bytes[at % len] = value;
                }
                if let Some(cut) = cut {
                    bytes.truncate(cut % (bytes.len() + 1));
                }
                let _ = index_bytes(&bytes);
            }
        }
    }
}
