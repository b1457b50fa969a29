//! Streaming helpers: hashing and metered readers/writers, layer decompression.

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use tug_core::digest::{Algorithm, Hasher};
use tug_core::Digest;

/// Progress and cancellation of one export.
pub(super) struct Meter<'a> {
    pub done: u64,
    pub total: u64,
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
    pub cancel: Option<&'a AtomicBool>,
}

impl Meter<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    pub fn check(&self) -> io::Result<()> {
        if self.cancelled() {
            Err(io::Error::other("cancelled"))
        } else {
            Ok(())
        }
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        if let Some(p) = self.progress.as_mut() {
            p(self.done, self.total);
        }
    }
}

/// Counts what is read from a store blob into the meter, and stops when cancelled.
pub(super) struct Metered<'m, 'a, R> {
    pub inner: R,
    pub meter: &'m mut Meter<'a>,
}

impl<R: Read> Read for Metered<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.meter.check()?;
        let n = self.inner.read(buf)?;
        self.meter.advance(n as u64);
        Ok(n)
    }
}

/// Hashes what passes through.
pub(super) struct HashingReader<R> {
    pub inner: R,
    pub hasher: Hasher,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algorithm),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes what passes through.
pub(super) struct HashingWriter<W> {
    pub inner: W,
    pub hasher: Hasher,
}

impl<W> HashingWriter<W> {
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(algorithm),
        }
    }

    pub fn finish(self) -> (W, Digest, u64) {
        let len = self.hasher.len();
        (self.inner, self.hasher.finish(), len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decompresses a Zstandard stream of one or more frames (skippable frames are skipped)
/// from `src` into `out`, in bounded memory (the frame window, at most 100 MiB by ruzstd's
/// limit).
pub(super) fn zstd_decompress(mut src: impl BufRead, mut out: impl Write) -> io::Result<()> {
    let invalid = |e: FrameDecoderError| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut frame = FrameDecoder::new();
    let mut frames = 0u64;
    loop {
        if src.fill_buf()?.is_empty() {
            if frames == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "empty zstd stream",
                ));
            }
            return Ok(());
        }
        match frame.reset(&mut src) {
            Ok(()) => {}
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let skipped = io::copy(&mut (&mut src).take(u64::from(length)), &mut io::sink())?;
                if skipped != u64::from(length) {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "truncated zstd skippable frame",
                    ));
                }
                continue;
            }
            Err(e) => return Err(invalid(e)),
        }
        frames += 1;
        while !frame.is_finished() {
            frame
                .decode_blocks(&mut src, BlockDecodingStrategy::UptoBytes(1 << 20))
                .map_err(invalid)?;
            frame.collect_to_writer(&mut out)?;
        }
        frame.collect_to_writer(&mut out)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_multi_frame_and_skippable() {
        use ruzstd::encoding::{compress_to_vec, CompressionLevel};
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second frame".repeat(1000);
        let mut stream = compress_to_vec(&a[..], CompressionLevel::Fastest);
        // A skippable frame between the two.
        stream.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        stream.extend_from_slice(&5u32.to_le_bytes());
        stream.extend_from_slice(b"skip!");
        stream.extend(compress_to_vec(&b[..], CompressionLevel::Fastest));
        let mut out = Vec::new();
        zstd_decompress(io::BufReader::new(&stream[..]), &mut out).unwrap();
        let mut expected = a.clone();
        expected.extend_from_slice(&b);
        assert_eq!(out.len(), expected.len());
        assert!(out == expected);

        let truncated = &stream[..stream.len() / 3];
        assert!(zstd_decompress(io::BufReader::new(truncated), io::sink()).is_err());
        assert!(zstd_decompress(io::BufReader::new(&b"not zstd"[..]), io::sink()).is_err());
    }
}
