//! One plain tar layer compressed on the fly, never stored: [`measure`] (a pass on its own,
//! for a dry run) learns the compressed blob's digest and size, and [`CompressedBlob`]
//! serves byte ranges of a blob whose digest is known by compressing, checking itself
//! against that digest as it goes. ([`super::stream`] sends a layer while it learns them.)

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tug_core::digest::{Algorithm, Hasher};
use tug_core::Digest;

use super::codec::{Encoded, Settings};
use crate::source::BlobFile;

/// The plain bytes of a layer: `len` bytes of `file` from its offset, which the image says
/// hash to `digest` (checked whenever it is compressed: the registry only sees the compressed
/// blob, so it cannot catch a layer that is not what the image names).
#[derive(Clone, Debug)]
pub struct Plain {
    pub file: BlobFile,
    pub len: u64,
    pub digest: Digest,
}

impl Plain {
    fn open(&self) -> io::Result<impl Read + Send + 'static> {
        self.file.open(0, self.len)
    }
}

/// What watches a pass on its own: how many plain bytes it read, and whether it should stop
/// (the push it serves ended).
#[derive(Debug, Default)]
pub struct Watch {
    pub read: AtomicU64,
    pub stop: AtomicBool,
}

/// A pass on its own (a dry run's): the digest and size of the compressed form of `plain`, adding the plain
/// bytes read to `watch` as it goes, and failing soon once `watch` says stop.
pub fn measure(settings: Settings, plain: &Plain, watch: &Arc<Watch>) -> io::Result<(Digest, u64)> {
    let mut stream = Stream::start(settings, plain, Some(watch.clone()), true)?;
    let mut buf = vec![0; 256 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
    }
    Ok((stream.hasher.finish(), stream.pos))
}

/// Plain bytes this process fed to compressors, and compressed bytes they made, in all
/// (a resumed or retried upload compresses again from the start: this counts it).
static WORK: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));

/// Plain bytes compressed so far by this process, and the compressed bytes made of them.
pub fn work() -> (u64, u64) {
    (
        WORK.0.load(Ordering::Relaxed),
        WORK.1.load(Ordering::Relaxed),
    )
}

/// A compressor partway through a layer.
pub(super) struct Stream {
    encoder: Encoded,
    /// Compressed bytes made so far.
    pub(super) pos: u64,
    hasher: Hasher,
}

impl Stream {
    /// A compressor at the start of `plain`; `verify`: check the plain bytes' digest.
    pub(super) fn start(
        settings: Settings,
        plain: &Plain,
        watch: Option<Arc<Watch>>,
        verify: bool,
    ) -> io::Result<Stream> {
        let whole = Whole {
            inner: plain.open()?,
            read: 0,
            plain: plain.clone(),
            watch,
            hasher: verify.then(|| Hasher::new(plain.digest.algorithm())),
        };
        Ok(Stream {
            encoder: settings.encoder(whole, plain.len)?,
            pos: 0,
            hasher: Hasher::new(Algorithm::Sha256),
        })
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.encoder.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        WORK.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// The digest of the compressed bytes made so far (all of them, once it ended).
    pub(super) fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }
}

/// The plain bytes for the encoder; a layer that ends early (the file changed), or whose
/// bytes are not the ones the image names, is an error naming the file, never a blob.
struct Whole<R> {
    inner: R,
    read: u64,
    plain: Plain,
    /// Who counts the bytes read and may say stop, if anyone.
    watch: Option<Arc<Watch>>,
    /// Hashes the bytes read, to check against `plain.digest` at the end.
    hasher: Option<Hasher>,
}

impl<R: Read> Read for Whole<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(watch) = &self.watch {
            if watch.stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("stopped: the push ended"));
            }
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        WORK.0.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(watch) = &self.watch {
            watch.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0 && !buf.is_empty() && self.read < self.plain.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: the layer ended after {} of {} bytes (did the file change?)",
                    self.plain.file.path.display(),
                    self.read,
                    self.plain.len
                ),
            ));
        }
        if n == 0 && !buf.is_empty() {
            if let Some(actual) = self.hasher.take().map(Hasher::finish) {
                if actual != self.plain.digest {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: the layer's bytes hash to {actual}, not to {} as the image says",
                            self.plain.file.path.display(),
                            self.plain.digest
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// A compressed layer whose digest and size are known (an earlier push or a dry run
/// remembered them); serves byte ranges of it to the transport by compressing.
///
/// The chunks of one blob go out in order, so one compressor carries on from range to
/// range. A range that starts before where it stands (a retried chunk) starts a new
/// compressor from the beginning and skips to the range: a retry costs compression time,
/// never memory.
pub struct CompressedBlob {
    settings: Settings,
    plain: Plain,
    digest: Digest,
    size: u64,
    /// Where the digest was remembered, when an earlier push measured it (for the error).
    recalled_from: Option<std::path::PathBuf>,
    parked: Mutex<Option<Stream>>,
}

impl std::fmt::Debug for CompressedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressedBlob")
            .field("settings", &self.settings)
            .field("plain", &self.plain)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl CompressedBlob {
    pub fn new(settings: Settings, plain: Plain, digest: Digest, size: u64) -> CompressedBlob {
        CompressedBlob {
            settings,
            plain,
            digest,
            size,
            recalled_from: None,
            parked: Mutex::new(None),
        }
    }

    /// The digest of the plain layer it is made from.
    pub fn plain_digest(&self) -> &Digest {
        &self.plain.digest
    }

    /// Notes that the digest came from `file`, a record of an earlier push.
    pub fn recalled_from(mut self, file: std::path::PathBuf) -> CompressedBlob {
        self.recalled_from = Some(file);
        self
    }

    /// Compressed bytes `start..end`.
    pub fn range(self: &Arc<Self>, start: u64, end: u64) -> io::Result<Box<dyn Read + Send>> {
        if start > end || end > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bytes {start}..{end} of a {}-byte compressed layer",
                    self.size
                ),
            ));
        }
        let parked = self.parked.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut stream = match parked {
            Some(s) if s.pos <= start => s,
            _ => Stream::start(self.settings, &self.plain, None, false)?,
        };
        let mut skip = vec![0; 64 * 1024];
        while stream.pos < start {
            let want =
                usize::try_from(start - stream.pos).map_or(skip.len(), |n| n.min(skip.len()));
            if stream.read(&mut skip[..want])? == 0 {
                return Err(self.differs());
            }
        }
        Ok(Box::new(RangeReader {
            blob: self.clone(),
            stream: Some(stream),
            end,
        }))
    }

    fn differs(&self) -> io::Error {
        let recalled = match &self.recalled_from {
            Some(f) => format!(
                ", the digest an earlier push remembered in {}: the layer changed since, or that \
                 record is wrong (remove the file to compress and check the layer afresh)",
                f.display()
            ),
            None => String::new(),
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: compressing the layer again gave other bytes than {} ({} bytes){recalled}",
                self.plain.file.path.display(),
                self.digest,
                self.size
            ),
        )
    }
}

/// One range of a [`CompressedBlob`]; hands its compressor back when read to the end.
struct RangeReader {
    blob: Arc<CompressedBlob>,
    stream: Option<Stream>,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        let left = self.end - stream.pos;
        if left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(left).map_or(buf.len(), |n| n.min(buf.len()));
        let n = stream.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.blob.differs());
        }
        if stream.pos == self.blob.size {
            // The whole blob went through this compressor: it must be exactly the
            // known digest's bytes, and end there.
            let mut probe = [0u8; 1];
            let extra = stream.encoder.read(&mut probe)?;
            let hasher = std::mem::replace(&mut stream.hasher, Hasher::new(Algorithm::Sha256));
            if extra != 0 || hasher.finish() != self.blob.digest {
                self.stream = None;
                return Err(self.blob.differs());
            }
        }
        Ok(n)
    }
}

impl Drop for RangeReader {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            if stream.pos == self.end && self.end < self.blob.size {
                *self.blob.parked.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::codec::Codec;
    use std::io::Write;

    fn layer(len: usize) -> (tempfile::NamedTempFile, Plain) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"HEAD").unwrap();
        let mut x: u32 = 7;
        let body: Vec<u8> = (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 3 == 0 {
                    (x >> 24) as u8
                } else {
                    b'a' + (i % 7) as u8
                }
            })
            .collect();
        f.write_all(&body).unwrap();
        f.write_all(b"TAIL").unwrap();
        let plain = Plain {
            file: BlobFile {
                path: f.path().to_owned(),
                offset: 4,
            },
            len: len as u64,
            digest: Digest::sha256_of(&body),
        };
        (f, plain)
    }

    fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    fn decompress(codec: Codec, bytes: &[u8]) -> Vec<u8> {
        match codec {
            Codec::Gzip => read_all(flate2::read::GzDecoder::new(bytes)).unwrap(),
            Codec::Zstd => zstd::decode_all(bytes).unwrap(),
        }
    }

    fn plain_bytes(plain: &Plain) -> Vec<u8> {
        read_all(plain.open().unwrap()).unwrap()
    }

    #[test]
    fn chunks_in_order_retries_and_restarts_give_the_measured_blob() {
        let (_f, plain) = layer(1 << 20);
        for codec in [Codec::Gzip, Codec::Zstd] {
            let settings = Settings::new(codec, None).unwrap();
            let (digest, size) = measure(settings, &plain, &Default::default()).unwrap();
            assert!(
                size < plain.len,
                "{codec:?} compressed {} to {size}",
                plain.len
            );
            let blob = Arc::new(CompressedBlob::new(
                settings,
                plain.clone(),
                digest.clone(),
                size,
            ));
            let chunk = size / 5 + 1;
            let mut whole = Vec::new();
            let mut start = 0;
            while start < size {
                let end = (start + chunk).min(size);
                // A broken attempt first (read halfway, dropped), then the full range.
                let mut broken = blob.range(start, end).unwrap();
                let mut half = vec![0; ((end - start) / 2) as usize];
                broken.read_exact(&mut half).unwrap();
                drop(broken);
                let bytes = read_all(blob.range(start, end).unwrap()).unwrap();
                assert_eq!(&bytes[..half.len()], &half[..]);
                whole.extend_from_slice(&bytes);
                start = end;
            }
            assert_eq!(whole.len() as u64, size);
            assert_eq!(Digest::sha256_of(&whole), digest);
            assert_eq!(decompress(codec, &whole), plain_bytes(&plain));
            // Any range on its own, out of order.
            let mid = read_all(blob.range(size / 3, size / 2).unwrap()).unwrap();
            assert_eq!(mid, whole[(size / 3) as usize..(size / 2) as usize]);
        }
    }

    #[test]
    fn the_bytes_do_not_depend_on_how_they_are_read() {
        let (_f, plain) = layer(700_000);
        for codec in [Codec::Gzip, Codec::Zstd] {
            let settings = Settings::new(codec, None).unwrap();
            let read_with = |piece: usize| {
                let mut s = Stream::start(settings, &plain, None, false).unwrap();
                let mut out = Vec::new();
                let mut buf = vec![0; piece];
                loop {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        return out;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            };
            let whole = read_with(1 << 20);
            assert_eq!(read_with(1), whole, "{codec:?}");
            assert_eq!(read_with(4093), whole, "{codec:?}");
            assert_eq!(decompress(codec, &whole), plain_bytes(&plain));
        }
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_thread_count() {
        for (codec, len) in [(Codec::Gzip, 3 << 20), (Codec::Zstd, 1 << 20)] {
            let (_f, plain) = layer(len);
            let settings = Settings::new(codec, None).unwrap();
            let on = |threads: usize| {
                let input = plain.open().unwrap();
                read_all(settings.encoder_on(input, plain.len, threads).unwrap()).unwrap()
            };
            let one = on(1);
            assert_eq!(decompress(codec, &one), plain_bytes(&plain), "{codec:?}");
            for threads in [2, 3, 8] {
                assert!(on(threads) == one, "{codec:?} on {threads} threads");
            }
        }
    }

    #[test]
    fn a_changed_source_is_an_error_naming_the_file() {
        let (f, plain) = layer(1 << 20);
        let settings = Settings::new(Codec::Zstd, Some(1)).unwrap();
        let (digest, size) = measure(settings, &plain, &Default::default()).unwrap();
        let blob = Arc::new(CompressedBlob::new(settings, plain.clone(), digest, size));
        std::fs::write(f.path(), vec![b'z'; (1 << 20) + 8]).unwrap();
        let err = read_all(blob.range(0, size).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains(&f.path().display().to_string()),
            "{err}"
        );

        let short = Plain {
            len: 2 << 20,
            ..plain.clone()
        };
        let err = measure(settings, &short, &Default::default()).unwrap_err();
        assert!(err.to_string().contains("ended after"), "{err}");

        // Bytes that are not the layer the image names.
        let other = Plain {
            digest: Digest::sha256_of(b"another layer"),
            ..plain
        };
        std::fs::write(f.path(), vec![b'z'; (1 << 20) + 8]).unwrap();
        let err = measure(settings, &other, &Default::default()).unwrap_err();
        assert!(err.to_string().contains("hash to sha256:"), "{err}");
        assert!(err.to_string().contains("as the image says"), "{err}");
    }

    #[test]
    fn ranges_past_the_end_are_refused() {
        let (_f, plain) = layer(1000);
        let settings = Settings::new(Codec::Gzip, None).unwrap();
        let (digest, size) = measure(settings, &plain, &Default::default()).unwrap();
        let blob = Arc::new(CompressedBlob::new(settings, plain, digest, size));
        assert!(blob.range(0, size + 1).is_err());
        assert!(blob.range(5, 4).is_err());
    }
}
