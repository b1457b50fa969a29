//! The codecs `--compress` offers and a codec at a level ([`Settings`]): what decides the
//! compressed bytes, and the compressor that makes them on a thread of its own, fed in fixed
//! blocks so the bytes never depend on how they are read.

use std::io::{self, Read, Write};

use tug_core::archive::Compression;
use tug_core::Digest;

use super::parallel_gzip::ParallelGzip;

/// What `--compress` (or `compress` in the config file) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressChoice {
    /// Push layers as they are (the default; undoes a config file's choice).
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

impl CompressChoice {
    pub fn codec(self) -> Option<Codec> {
        match self {
            CompressChoice::None => None,
            CompressChoice::Gzip => Some(Codec::Gzip),
            CompressChoice::Zstd => Some(Codec::Zstd),
        }
    }
}

/// A compression `--compress` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// gzip (deflate), what every registry and runtime reads.
    Gzip,
    /// Zstandard: smaller and much faster; needs OCI media types (the manifest becomes OCI).
    Zstd,
}

impl Codec {
    /// The level used unless one is given: gzip 3 (its output is as small as skopeo's gzip
    /// at about 20 % less CPU than gzip's own default 6), zstd 3 (as `zstd`).
    pub fn default_level(self) -> i32 {
        match self {
            Codec::Gzip => 3,
            Codec::Zstd => 3,
        }
    }

    /// The levels the codec accepts.
    pub fn levels(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Codec::Gzip => 1..=9,
            Codec::Zstd => 1..=19,
        }
    }

    /// The core's name for it.
    pub fn compression(self) -> Compression {
        match self {
            Codec::Gzip => Compression::Gzip,
            Codec::Zstd => Compression::Zstd,
        }
    }

    pub fn name(self) -> &'static str {
        self.compression().name()
    }
}

/// A codec at a level: everything that decides the compressed bytes (with the library
/// version, which [`Settings::key`] names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub codec: Codec,
    pub level: i32,
}

impl Settings {
    /// `codec` at `level` (its default when `None`); an error names the accepted range.
    pub fn new(codec: Codec, level: Option<i32>) -> Result<Settings, String> {
        let level = level.unwrap_or(codec.default_level());
        if !codec.levels().contains(&level) {
            let r = codec.levels();
            return Err(format!(
                "compression level {level}: {} takes {} to {}",
                codec.name(),
                r.start(),
                r.end()
            ));
        }
        Ok(Settings { codec, level })
    }

    /// Names these settings and the exact behaviour of the library that applies them, for
    /// remembering digests: another library (or version) may make other bytes from the
    /// same input. The behaviour is fingerprinted: the digest of a fixed sample compressed
    /// with these settings.
    pub fn key(self) -> String {
        let sample: Vec<u8> = (0u32..64 * 1024)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 % 17 + b'a')
            .collect();
        let len = sample.len() as u64;
        let fingerprint = self
            .encoder(std::io::Cursor::new(sample), len)
            .and_then(|mut e| {
                let mut out = Vec::new();
                e.read_to_end(&mut out)?;
                Ok(Digest::sha256_of(&out).hex()[..16].to_owned())
            })
            .unwrap_or_else(|_| "unknown".into());
        format!("{}-{}/{fingerprint}", self.codec.name(), self.level)
    }

    /// A reader of the compressed form of `len` plain bytes from `input`.
    pub(super) fn encoder(
        self,
        input: impl Read + Send + 'static,
        len: u64,
    ) -> io::Result<Encoded> {
        self.encoder_on(input, len, threads())
    }

    /// [`Settings::encoder`] on `threads` threads (the bytes are the same for any number).
    pub(super) fn encoder_on(
        self,
        input: impl Read + Send + 'static,
        len: u64,
        threads: usize,
    ) -> io::Result<Encoded> {
        let batch = match self.codec {
            Codec::Gzip => threads.max(1),
            Codec::Zstd => 1,
        };
        let sink = match self.codec {
            Codec::Gzip => Sink::Gzip(ParallelGzip::new(self.level as u32)),
            Codec::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(Vec::new(), self.level)?;
                e.set_pledged_src_size(Some(len))?;
                e.include_contentsize(true)?;
                e.include_checksum(true)?;
                Sink::Zstd(e)
            }
        };
        let mut producer = Producer {
            input: Box::new(input),
            sink: Some(sink),
            blocks: vec![0; BLOCK * batch],
            batch,
        };
        // One batch waits while the next is compressed: the reader (hashing, sending) and
        // the compressor work at once.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("tug-compress".into())
            .spawn(move || loop {
                let next = producer.next();
                let more = matches!(next, Ok(Some(_)));
                // Stop when the reader is gone, after the end, or after an error.
                if tx.send(next).is_err() || !more {
                    return;
                }
            })?;
        Ok(Encoded {
            batches: rx,
            out: Vec::new(),
            taken: 0,
            ended: false,
        })
    }
}

/// Threads compressing one gzip layer: one per core, up to 8. (zstd keeps to one: on one
/// core it outruns the link, and its own worker threads quadrupled peak memory here
/// without making a push faster.)
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Plain bytes go to the compressor in blocks of exactly this size (the last one shorter).
const BLOCK: usize = 256 * 1024;

/// A compressor writing into memory. gzip compresses a batch of blocks at once, one per
/// thread ([`ParallelGzip`]).
enum Sink {
    Gzip(ParallelGzip),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// The compressed form of a plain stream, read in any pieces; a thread of its own makes it.
///
/// The same plain bytes must give the same compressed bytes in both passes, however the
/// transport reads them; compressors may behave differently for differently sized reads
/// (zlib-rs does), so the plain bytes are fed in fixed blocks and the output is queued
/// here: what the compressor sees never depends on the reader.
pub(super) struct Encoded {
    /// Compressed batches in order, then `None` (or the error that stopped the compressor).
    batches: std::sync::mpsc::Receiver<io::Result<Option<Vec<u8>>>>,
    out: Vec<u8>,
    taken: usize,
    /// The compressor said it has made everything.
    ended: bool,
}

impl Read for Encoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.taken == self.out.len() {
            if self.ended {
                return Ok(0);
            }
            match self.batches.recv() {
                Ok(Ok(Some(batch))) => {
                    self.out = batch;
                    self.taken = 0;
                }
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => return Err(e),
                // Never a silently short stream, even if the thread died.
                Err(_) => return Err(io::Error::other("the compressing thread stopped")),
            }
        }
        let n = buf.len().min(self.out.len() - self.taken);
        buf[..n].copy_from_slice(&self.out[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

/// The compressing side of [`Encoded`]: plain blocks in, compressed batches out.
struct Producer {
    input: Box<dyn Read + Send>,
    sink: Option<Sink>,
    /// Room for `batch` blocks of plain bytes.
    blocks: Vec<u8>,
    /// Blocks read and compressed at once: one per thread for gzip, one for zstd.
    batch: usize,
}

impl Producer {
    /// Reads the next block into `self.blocks[at..]`; its length (short only at the end).
    fn read_block(&mut self, at: usize) -> io::Result<usize> {
        let block = &mut self.blocks[at..at + BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.input.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// The compressed form of the next blocks (maybe empty), or `None` after the end.
    fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.sink.is_none() {
            return Ok(None);
        }
        let mut lens = Vec::with_capacity(self.batch);
        let mut last = false;
        while lens.len() < self.batch && !last {
            let n = self.read_block(lens.len() * BLOCK)?;
            lens.push(n);
            last = n < BLOCK;
        }
        let mut out = Vec::new();
        match self.sink.as_mut() {
            Some(Sink::Gzip(z)) => {
                let blocks: Vec<&[u8]> = lens
                    .iter()
                    .enumerate()
                    .map(|(i, n)| &self.blocks[i * BLOCK..i * BLOCK + n])
                    .collect();
                z.compress(&blocks, last, &mut out)?;
            }
            Some(Sink::Zstd(e)) => {
                e.write_all(&self.blocks[..lens[0]])?;
                std::mem::swap(&mut out, e.get_mut());
            }
            None => {}
        }
        if last {
            if let Some(Sink::Zstd(e)) = self.sink.take() {
                out.extend_from_slice(&e.finish()?);
            }
            self.sink = None;
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked_and_keys_name_them() {
        assert!(Settings::new(Codec::Gzip, Some(10))
            .unwrap_err()
            .contains("1 to 9"));
        assert!(Settings::new(Codec::Zstd, Some(0)).is_err());
        let a = Settings::new(Codec::Zstd, None).unwrap();
        let b = Settings::new(Codec::Zstd, Some(4)).unwrap();
        assert_ne!(a.key(), b.key());
        assert!(a.key().starts_with("zstd-3/"), "{}", a.key());
        assert_eq!(a.key(), a.key(), "the fingerprint is stable");
        let g = Settings::new(Codec::Gzip, None).unwrap();
        assert!(g.key().starts_with("gzip-3/") && g.key() != a.key());
    }
}
