//! Test-only helpers: an in-memory tar writer and drivers that run the sans-IO readers.

use std::collections::{BTreeMap, HashMap};

use super::error::ArchiveError;
use super::image::SourceContents;
use super::resolve::{ResolveStep, SourceResolver};
use super::tar_index::{IndexStep, TarIndex, TarIndexer};

/// Builds tar archives in memory, with correct checksums, in several header dialects.
#[derive(Default)]
pub(crate) struct TarBuilder {
    buf: Vec<u8>,
}

fn put(block: &mut [u8; 512], at: usize, bytes: &[u8], width: usize) {
    let n = bytes.len().min(width);
    block[at..at + n].copy_from_slice(&bytes[..n]);
}

fn octal(block: &mut [u8; 512], at: usize, width: usize, value: u64) {
    let s = format!("{:0w$o}\0", value, w = width - 1);
    put(block, at, s.as_bytes(), width);
}

fn seal(block: &mut [u8; 512]) {
    block[148..156].copy_from_slice(b"        ");
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(s.as_bytes());
}

impl TarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn header_block(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; 512] {
        let mut b = [0u8; 512];
        put(&mut b, 0, name.as_bytes(), 100);
        octal(&mut b, 100, 8, 0o644);
        octal(&mut b, 108, 8, 0);
        octal(&mut b, 116, 8, 0);
        octal(&mut b, 124, 12, size);
        octal(&mut b, 136, 12, 0);
        b[156] = typeflag;
        put(&mut b, 157, link.as_bytes(), 100);
        put(&mut b, 257, b"ustar\0", 6);
        put(&mut b, 263, b"00", 2);
        b
    }

    fn push_block(&mut self, mut b: [u8; 512]) {
        seal(&mut b);
        self.buf.extend_from_slice(&b);
    }

    fn data(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// A bare ustar header (no data follows unless the caller adds it).
    pub fn raw_header(&mut self, name: &str, typeflag: u8, size: u64, link: &str) {
        self.push_block(Self::header_block(name, typeflag, size, link));
    }

    pub fn file(&mut self, name: &str, data: &[u8]) {
        self.raw_header(name, b'0', data.len() as u64, "");
        self.data(data);
    }

    pub fn dir(&mut self, name: &str) {
        self.raw_header(name, b'5', 0, "");
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.raw_header(name, b'2', 0, target);
    }

    pub fn hardlink(&mut self, name: &str, target: &str) {
        self.raw_header(name, b'1', 0, target);
    }

    /// A POSIX ustar header whose name is split into prefix and name fields.
    pub fn ustar_prefixed(&mut self, prefix: &str, name: &str, data: &[u8]) {
        let mut b = Self::header_block(name, b'0', data.len() as u64, "");
        put(&mut b, 345, prefix.as_bytes(), 155);
        self.push_block(b);
        self.data(data);
    }

    /// An old v7 header: no magic, typeflag NUL.
    pub fn v7_file(&mut self, name: &str, data: &[u8]) {
        let mut b = Self::header_block(name, 0, data.len() as u64, "");
        b[257..265].fill(0);
        self.push_block(b);
        self.data(data);
    }

    /// A GNU header with a base-256 size field (no data is written).
    pub fn base256_header(&mut self, name: &str, size: u64) {
        let mut b = Self::header_block(name, b'0', 0, "");
        put(&mut b, 257, b"ustar  \0", 8);
        b[124] = 0x80;
        b[125..128].fill(0);
        b[128..136].copy_from_slice(&size.to_be_bytes());
        self.push_block(b);
    }

    fn gnu_long(&mut self, typeflag: u8, value: &str) {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        let mut b = Self::header_block("././@LongLink", typeflag, payload.len() as u64, "");
        put(&mut b, 257, b"ustar  \0", 8);
        self.push_block(b);
        self.data(&payload);
    }

    pub fn gnu_long_file(&mut self, name: &str, data: &[u8]) {
        self.gnu_long(b'L', name);
        self.raw_header(&name[..99], b'0', data.len() as u64, "");
        self.data(data);
    }

    pub fn gnu_long_symlink(&mut self, name: &str, target: &str) {
        self.gnu_long(b'K', target);
        self.raw_header(name, b'2', 0, &target[..99]);
    }

    fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}").len() + body.len() != len {
                len += 1;
            }
            out.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        out
    }

    pub fn pax_header(&mut self, records: &[(&str, &str)]) {
        let payload = Self::pax_records(records);
        self.raw_header("PaxHeaders/x", b'x', payload.len() as u64, "");
        self.data(&payload);
    }

    pub fn pax_global(&mut self, records: &[(&str, &str)]) {
        let payload = Self::pax_records(records);
        self.raw_header("GlobalHead", b'g', payload.len() as u64, "");
        self.data(&payload);
    }

    pub fn pax_file(&mut self, name: &str, data: &[u8], extra: &[(&str, &str)]) {
        let mut records = vec![("path", name)];
        records.extend_from_slice(extra);
        self.pax_header(&records);
        self.raw_header("truncated-name", b'0', data.len() as u64, "");
        self.data(data);
    }

    pub fn pax_symlink(&mut self, name: &str, target: &str) {
        self.pax_header(&[("linkpath", target)]);
        self.raw_header(name, b'2', 0, "short");
    }

    pub fn finish_without_trailer(self) -> Vec<u8> {
        self.buf
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.resize(self.buf.len() + 1024, 0);
        self.buf
    }
}

/// Packs `(path, bytes)` files into a tar; paths ending in `@->target` become symlinks.
pub(crate) fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = TarBuilder::new();
    for (path, data) in files {
        match path.split_once("@->") {
            Some((name, target)) => t.symlink(name, target),
            None => t.file(path, data),
        }
    }
    t.finish()
}

/// Runs a `TarIndexer` over an in-memory tar.
pub(crate) fn index_bytes(bytes: &[u8]) -> Result<TarIndex, ArchiveError> {
    let mut ix = TarIndexer::new(bytes.len() as u64);
    for _ in 0..100_000 {
        match ix.poll()? {
            IndexStep::Done(idx) => return Ok(idx),
            IndexStep::Read { offset, len } => {
                let start = offset as usize;
                let end = (start + len).min(bytes.len());
                ix.handle_read(offset, &bytes[start..end])?;
            }
        }
    }
    panic!("indexer did not finish");
}

/// Runs a `TarIndexer` over a sparse tar: `chunks` maps offsets to the bytes stored there;
/// any other byte reads as zero.
pub(crate) fn index_sparse(
    total_len: u64,
    chunks: &BTreeMap<u64, Vec<u8>>,
) -> Result<TarIndex, ArchiveError> {
    let mut ix = TarIndexer::new(total_len);
    for _ in 0..100_000 {
        match ix.poll()? {
            IndexStep::Done(idx) => return Ok(idx),
            IndexStep::Read { offset, len } => {
                let mut buf = vec![0u8; len];
                for (&at, chunk) in chunks {
                    let end = at + chunk.len() as u64;
                    if end <= offset || at >= offset + len as u64 {
                        continue;
                    }
                    for (i, slot) in buf.iter_mut().enumerate() {
                        let pos = offset + i as u64;
                        if pos >= at && pos < end {
                            *slot = chunk[(pos - at) as usize];
                        }
                    }
                }
                ix.handle_read(offset, &buf)?;
            }
        }
    }
    panic!("indexer did not finish");
}

/// Runs a resolver over an in-memory tar file.
pub(crate) fn resolve_tar(bytes: &[u8]) -> Result<SourceContents, ArchiveError> {
    let mut r = SourceResolver::for_tar(bytes.len() as u64);
    for _ in 0..100_000 {
        match r.poll()? {
            ResolveStep::Done(c) => return Ok(c),
            ResolveStep::ReadAt { offset, len } => {
                let start = (offset as usize).min(bytes.len());
                let end = start.saturating_add(len).min(bytes.len());
                r.handle_read_at(offset, &bytes[start..end])?;
            }
            step => panic!("unexpected step for a tar source: {step:?}"),
        }
    }
    panic!("resolver did not finish");
}

/// Runs a resolver over an in-memory layout directory.
pub(crate) fn resolve_dir(
    files: &HashMap<String, Vec<u8>>,
) -> Result<SourceContents, ArchiveError> {
    let mut r = SourceResolver::for_directory();
    for _ in 0..100_000 {
        match r.poll()? {
            ResolveStep::Done(c) => return Ok(c),
            ResolveStep::ReadFile { path, max_len } => {
                let data = files
                    .get(&path)
                    .map(|d| &d[..d.len().min(max_len as usize)]);
                r.handle_file(&path, data)?;
            }
            ResolveStep::Stat { path } => {
                let size = files.get(&path).map(|d| d.len() as u64);
                r.handle_stat(&path, size)?;
            }
            step => panic!("unexpected step for a directory source: {step:?}"),
        }
    }
    panic!("resolver did not finish");
}

/// A small valid tar used as the seed for mutation tests.
pub(crate) fn sample_tar() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("abc");
    t.file("abc/layer.tar", &[1; 700]);
    t.gnu_long_file(&format!("{}/x", "n".repeat(120)), b"data");
    t.pax_file("pax/name", b"pp", &[("size", "2")]);
    t.symlink("def/layer.tar", "../abc/layer.tar");
    t.base256_header("b256", 3);
    let mut bytes = t.finish_without_trailer();
    bytes.extend_from_slice(&[9, 9, 9]);
    bytes.resize(bytes.len() + 509 + 1024, 0);
    bytes
}
