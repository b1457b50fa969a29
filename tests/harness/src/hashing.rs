//! sha256 helpers producing `sha256:<hex>` digest strings.
//!
//! Uses `ring`, whose assembly SHA-256 stays fast in unoptimised test builds (a pure-Rust
//! sha256 in a debug build manages ~25 MB/s, too slow for multi-GiB fixtures).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use ring::digest::{Context, SHA256};

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&SHA256, data))
    )
}

/// `sha256:<hex>` of a file's contents and its length, streamed.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finish().1)
}

/// `sha256:<hex>` of `len` zero bytes, computed in a streaming loop.
pub fn sha256_zeros(len: u64) -> String {
    let zeros = vec![0u8; 1 << 20];
    let mut hasher = Context::new(&SHA256);
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        hasher.update(&zeros[..n]);
        left -= n as u64;
    }
    format!("sha256:{}", hex::encode(hasher.finish()))
}

/// The hex part of a `sha256:<hex>` digest.
///
/// # Panics
///
/// If `digest` is not a sha256 digest.
pub fn digest_hex(digest: &str) -> &str {
    digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"))
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Context,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Context::new(&SHA256),
            len: 0,
        }
    }

    /// The wrapped writer, the `sha256:<hex>` digest and the byte count so far.
    pub fn finish(self) -> (W, (String, u64)) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finish()));
        (self.inner, (digest, self.len))
    }
}

impl<W> std::fmt::Debug for HashingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingWriter")
            .field("len", &self.len)
            .finish()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a whole reader, returning its digest and length (for verifying downloads).
pub fn sha256_reader(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut hasher)?;
    Ok(hasher.finish().1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(sha256_zeros(0), sha256_digest(b""));
        assert_eq!(
            sha256_zeros(3_000_001),
            sha256_digest(&vec![0u8; 3_000_001])
        );
    }
}
