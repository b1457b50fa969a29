//! The codecs `--compress` offers and a codec at a level ([`Settings`]): what decides the
//! compressed bytes, and the compressor that makes them on threads of its own, fed in fixed
//! blocks so the bytes never depend on how they are read.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use tug_core::archive::Compression;
use tug_core::Digest;

use super::parallel_gzip::ParallelGzip;
use super::read_ahead::{read_block, Blocks};

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
        self.encoder_on(input, len, in_flight())
    }

    /// [`Settings::encoder`] with at most `in_flight` gzip blocks being deflated at once
    /// (the bytes are the same for any number).
    pub(super) fn encoder_on(
        self,
        input: impl Read + Send + 'static,
        len: u64,
        in_flight: usize,
    ) -> io::Result<Encoded> {
        let zstd = match self.codec {
            Codec::Gzip => None,
            Codec::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(Vec::new(), self.level)?;
                e.set_pledged_src_size(Some(len))?;
                e.include_contentsize(true)?;
                e.include_checksum(true)?;
                Some(e)
            }
        };
        let level = self.level as u32;
        let in_flight = in_flight.max(1);
        // Compressed pieces wait here while the next are made: the reader (hashing,
        // sending) and the compressors work at once. (zstd's pieces come one block at a
        // time, so one waiting is enough; more only costs memory.)
        let waiting = if zstd.is_some() { 1 } else { in_flight };
        let (tx, rx) = std::sync::mpsc::sync_channel(waiting);
        let mut input: Box<dyn Read + Send> = Box::new(input);
        std::thread::Builder::new()
            .name("tug-compress".into())
            .spawn(move || {
                let ended = match zstd {
                    None => gzip_blocks(&mut input, level, in_flight, &tx),
                    Some(e) => Blocks::start(input, ZSTD_READ)
                        .and_then(|blocks| zstd_blocks(&blocks, e, &tx)),
                };
                // An error goes to the reader; a reader that is gone hears nothing.
                let _ = tx.send(ended.map(|()| None));
            })?;
        Ok(Encoded {
            pieces: rx,
            out: Vec::new(),
            taken: 0,
            ended: false,
        })
    }
}

/// gzip blocks deflated at once for one layer: enough to keep every core busy while the
/// next block is read.
fn in_flight() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) + 1
}

/// Plain bytes go to the gzip compressor in blocks of exactly this size (the last one
/// shorter).
const BLOCK: usize = 256 * 1024;

/// Plain bytes go to zstd in reads of this size: its own block size, so each read yields
/// about one compressed block and the pieces waiting to be sent stay small. (zstd's stream
/// output does not depend on how its input is split.)
const ZSTD_READ: usize = 128 * 1024;

/// What the compressing thread hands the reader: compressed pieces in order, then `None`
/// (or the error that stopped it).
type Pieces = std::sync::mpsc::SyncSender<io::Result<Option<Vec<u8>>>>;

/// The reader went away: stop compressing.
fn gone<T>(_: T) -> io::Error {
    io::Error::other("the compressed bytes' reader went away")
}

/// gzip: blocks are read (and checked) here in order, deflated on the shared compressing
/// threads (rayon's pool, one per core, shared by every layer compressed at once), up to
/// `in_flight` at a time, and their pieces sent on in order.
fn gzip_blocks(input: &mut dyn Read, level: u32, in_flight: usize, tx: &Pieces) -> io::Result<()> {
    type Done = std::sync::mpsc::Receiver<(io::Result<Vec<u8>>, Vec<u8>)>;
    let mut gzip = ParallelGzip::new(level);
    let mut pending: VecDeque<Done> = VecDeque::with_capacity(in_flight);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut ended = false;
    while !ended || !pending.is_empty() {
        if !ended && pending.len() < in_flight {
            let mut plain = spare.pop().unwrap_or_default();
            read_block(input, &mut plain, BLOCK)?;
            ended = plain.len() < BLOCK;
            let block = gzip.block(plain, ended);
            let (done, result) = std::sync::mpsc::sync_channel(1);
            rayon::spawn_fifo(move || {
                let piece =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block.deflate()))
                        .unwrap_or_else(|_| {
                            (
                                Err(io::Error::other("deflating a block panicked")),
                                Vec::new(),
                            )
                        });
                let _ = done.send(piece);
            });
            pending.push_back(result);
            continue;
        }
        let Some(next) = pending.pop_front() else {
            break;
        };
        let (piece, plain) = next
            .recv()
            .map_err(|_| io::Error::other("a compressing thread stopped"))?;
        spare.push(plain);
        tx.send(Ok(Some(piece?))).map_err(gone)?;
    }
    Ok(())
}

/// zstd: one stream on this thread, fed in blocks read ahead on another ([`Blocks`]). (The
/// stream keeps to one thread: on one core it outruns the link, and zstd's own worker threads
/// quadrupled peak memory here and make other bytes.)
fn zstd_blocks(
    blocks: &Blocks,
    mut e: zstd::stream::write::Encoder<'static, Vec<u8>>,
    tx: &Pieces,
) -> io::Result<()> {
    loop {
        let plain = blocks.next()?;
        e.write_all(&plain)?;
        let last = plain.len() < ZSTD_READ;
        blocks.give_back(plain);
        if last {
            return tx.send(Ok(Some(e.finish()?))).map_err(gone);
        }
        let piece = std::mem::take(e.get_mut());
        tx.send(Ok(Some(piece))).map_err(gone)?;
    }
}

/// The compressed form of a plain stream, read in any pieces; a thread of its own makes it.
///
/// The same plain bytes must give the same compressed bytes in every pass, however the
/// transport reads them; compressors may behave differently for differently sized reads
/// (zlib-rs does), so the plain bytes are fed in fixed blocks and the output is queued
/// here: what the compressor sees never depends on the reader.
pub(super) struct Encoded {
    /// Compressed pieces in order, then `None` (or the error that stopped the compressor).
    pieces: std::sync::mpsc::Receiver<io::Result<Option<Vec<u8>>>>,
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
            match self.pieces.recv() {
                Ok(Ok(Some(piece))) => {
                    self.out = piece;
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

    #[test]
    fn zstd_bytes_of_a_layer_past_its_window_are_pinned() {
        // zstd level 3 keeps a 2 MiB window; past window + one 128 KiB block its buffered
        // stream compresses against its wrapped buffer, and other ways of feeding it (e.g.
        // ZSTD_c_stableInBuffer over a map of the file) make other, smaller bytes there,
        // while the first 2.125 MiB stay the same. Remembered digests and resumed uploads
        // need these bytes. (Digest and size: today's main, 6 Dec 2026; a stable-in-buffer
        // stream of the same input gives sha256:ad9f23a2…, 2_332_978 bytes.)
        let body = text_like(8 << 20);
        assert_eq!(
            Digest::sha256_of(&body).to_string(),
            "sha256:657208dad29a2ef09420ad7a3d4fb98a2435c7dbec72eba8726b984f9b5b503c"
        );
        let len = body.len() as u64;
        let settings = Settings::new(Codec::Zstd, Some(3)).unwrap();
        let mut out = Vec::new();
        settings
            .encoder(std::io::Cursor::new(body), len)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(
            (Digest::sha256_of(&out).to_string(), out.len()),
            (
                "sha256:736d5500c18b06a9dd9b36ad30c94faa0c3c5bddb04ec3c8cea8c512743a1aa4".into(),
                2_344_176
            )
        );
    }

    /// `len` bytes that look like a tar of source and text files: words from a small
    /// vocabulary, picked by a fixed generator, with a run of binary bytes now and then, so
    /// matches occur at every distance (also past zstd's window).
    fn text_like(len: usize) -> Vec<u8> {
        const WORDS: [&str; 24] = [
            "fn ", "let ", "mut ", "usize", "return ", "struct ", "impl ", "self", "::", "layer",
            "digest", "registry", "manifest", "{\n", "}\n", "    ", "0x", "(", ")", ";\n", "tar",
            "zstd", "blob", "// ",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut body = Vec::with_capacity(len + 64);
        while body.len() < len {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            if r.is_multiple_of(61) {
                body.extend((0..r % 97).map(|i| (x >> (i % 56)) as u8));
            } else {
                body.extend_from_slice(WORDS[r % WORDS.len()].as_bytes());
            }
        }
        body.truncate(len);
        body
    }
}
