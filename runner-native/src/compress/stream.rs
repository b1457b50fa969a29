//! A plain layer compressed while it is sent, in one pass: the push streams its chunks
//! ([`tug_core::http::Body::BlobStream`]) straight from the compressor, and the layer's
//! digest and size are learned where the compressed bytes end, then told to the push
//! ([`Ended`]) so it can close the upload with them.
//!
//! The chunks of one layer go out in order, so one compressor carries on from chunk to
//! chunk. A chunk that starts before where it stands (a retry after a broken chunk, or a
//! session a killed run left at offset X) starts a new compressor from the beginning and
//! skips to the chunk: tug's compressed bytes depend only on the plain bytes, the codec and
//! the level, so they are the same bytes — a resume costs compression time, never memory,
//! and never sends a byte the registry has.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock};

use tug_core::Digest;

use super::blob::{Plain, Stream};
use super::codec::Settings;

/// A streamed layer's compressed bytes ended: plan blob `blob` (the plain layer `plain`)
/// is `size` bytes with `digest`.
#[derive(Clone, Debug)]
pub struct Ended {
    pub blob: usize,
    pub plain: Digest,
    pub digest: Digest,
    pub size: u64,
}

/// Who hears when a layer's compressed bytes end.
pub type OnEnd = Arc<dyn Fn(Ended) + Send + Sync>;

/// The key a streamed layer's upload session is kept under across runs (the push plan's
/// name for the blob until its digest is known): the plain layer's digest and what decides
/// its compressed bytes (codec, level, library behaviour: [`Settings::key`]).
pub fn key(settings_key: &str, plain: &Digest) -> Digest {
    Digest::sha256_of(format!("tug --compress {settings_key} of {plain}").as_bytes())
}

/// A plain layer compressed while it is sent.
pub struct StreamedLayer {
    settings: Settings,
    plain: Plain,
    /// The compressor where the last chunk that went to its end left it.
    parked: Mutex<Option<Stream>>,
    /// Digest and size, once the compressed bytes ended.
    end: OnceLock<(Digest, u64)>,
    on_end: OnEnd,
}

impl std::fmt::Debug for StreamedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedLayer")
            .field("settings", &self.settings)
            .field("plain", &self.plain)
            .field("end", &self.end.get())
            .finish_non_exhaustive()
    }
}

impl StreamedLayer {
    /// `plain` compressed with `settings`; `on_end` hears (once) where its bytes end.
    pub fn new(settings: Settings, plain: Plain, on_end: OnEnd) -> StreamedLayer {
        StreamedLayer {
            settings,
            plain,
            parked: Mutex::new(None),
            end: OnceLock::new(),
            on_end,
        }
    }

    /// The compressed bytes from `start` on, at most `max` of them (fewer where they end),
    /// as the body of a `PATCH` for plan blob `blob`.
    pub fn open(
        self: &Arc<Self>,
        blob: usize,
        start: u64,
        max: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        let parked = self.parked.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut stream = match parked {
            Some(s) if s.pos <= start => s,
            // The plain bytes are checked against the layer's digest every time: the
            // registry only sees the compressed blob.
            _ => Stream::start(self.settings, &self.plain, None, true)?,
        };
        let mut skip = vec![0; 64 * 1024];
        let mut ended = false;
        while stream.pos < start {
            let want =
                usize::try_from(start - stream.pos).map_or(skip.len(), |n| n.min(skip.len()));
            if stream.read(&mut skip[..want])? == 0 {
                // The registry holds more than the layer compresses to: the core hears
                // the end and gives that session up.
                ended = true;
                break;
            }
        }
        let mut reader = StreamReader {
            layer: self.clone(),
            blob,
            stream: Some(stream),
            left: max,
        };
        if ended {
            reader.ended()?;
            reader.stream = None;
        }
        Ok(Box::new(reader))
    }

    /// Where the compressed bytes end, once a chunk got there.
    #[cfg(test)]
    pub fn end(&self) -> Option<&(Digest, u64)> {
        self.end.get()
    }

    fn differs(&self, was: &(Digest, u64), now: &(Digest, u64)) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: compressing the layer again gave other bytes ({}, {} bytes) than before ({}, {} bytes)",
                self.plain.file.path.display(),
                now.0,
                now.1,
                was.0,
                was.1
            ),
        )
    }
}

/// One chunk of a [`StreamedLayer`]; hands its compressor back when it read all it may.
struct StreamReader {
    layer: Arc<StreamedLayer>,
    blob: usize,
    stream: Option<Stream>,
    left: u64,
}

impl StreamReader {
    /// The compressor ended: the layer's digest and size are known (and must be what they
    /// were, if a chunk got there before).
    fn ended(&mut self) -> io::Result<()> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(());
        };
        let now = (stream.digest(), stream.pos);
        let layer = &self.layer;
        if let Some(was) = layer.end.get() {
            return match *was == now {
                true => Ok(()),
                false => Err(layer.differs(was, &now)),
            };
        }
        if layer.end.set(now.clone()).is_ok() {
            (layer.on_end)(Ended {
                blob: self.blob,
                plain: layer.plain.digest.clone(),
                digest: now.0,
                size: now.1,
            });
        }
        Ok(())
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |n| n.min(buf.len()));
        let n = stream.read(&mut buf[..want])?;
        if n == 0 {
            self.ended()?;
            self.stream = None;
            return Ok(0);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // A chunk read to its length leaves the compressor where the next one starts.
        if let Some(stream) = self.stream.take() {
            if self.left == 0 {
                *self.layer.parked.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::blob::measure;
    use crate::compress::codec::Codec;
    use crate::source::BlobFile;
    use std::io::Write;

    fn layer(len: usize) -> (tempfile::NamedTempFile, Plain) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut x: u32 = 11;
        let body: Vec<u8> = (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 4 == 0 {
                    (x >> 24) as u8
                } else {
                    b'a' + (i % 5) as u8
                }
            })
            .collect();
        f.write_all(&body).unwrap();
        let plain = Plain {
            file: BlobFile {
                path: f.path().to_owned(),
                offset: 0,
            },
            len: len as u64,
            digest: Digest::sha256_of(&body),
        };
        (f, plain)
    }

    fn streamed(settings: Settings, plain: &Plain) -> (Arc<StreamedLayer>, Arc<Mutex<Vec<Ended>>>) {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let on_end: OnEnd = Arc::new(move |e| h.lock().unwrap().push(e));
        (
            Arc::new(StreamedLayer::new(settings, plain.clone(), on_end)),
            heard,
        )
    }

    fn read_all(mut r: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn chunks_retries_and_resumes_give_the_bytes_of_a_pass_on_its_own() {
        let (_f, plain) = layer(900_000);
        for codec in [Codec::Gzip, Codec::Zstd] {
            let settings = Settings::new(codec, None).unwrap();
            let (digest, size) = measure(settings, &plain, &Default::default()).unwrap();
            let (layer, heard) = streamed(settings, &plain);
            let chunk = size / 4 + 1;
            let mut sent = Vec::new();
            loop {
                let start = sent.len() as u64;
                // A broken attempt first (half read, dropped), then the chunk whole.
                let mut broken = layer.open(7, start, chunk).unwrap();
                let mut half = vec![0; (chunk / 2) as usize];
                let got = broken.read(&mut half).unwrap();
                drop(broken);
                let bytes = read_all(layer.open(7, start, chunk).unwrap());
                assert_eq!(
                    &bytes[..got.min(bytes.len())],
                    &half[..got.min(bytes.len())]
                );
                sent.extend_from_slice(&bytes);
                if (bytes.len() as u64) < chunk {
                    break;
                }
            }
            assert_eq!(sent.len() as u64, size, "{codec:?}");
            assert_eq!(Digest::sha256_of(&sent), digest);
            let heard = heard.lock().unwrap();
            assert_eq!(heard.len(), 1, "told once");
            assert_eq!(
                (heard[0].blob, &heard[0].digest, heard[0].size),
                (7, &digest, size)
            );
            assert_eq!(heard[0].plain, plain.digest);
            // A later run that finds the registry at byte X makes the same bytes from X.
            let (again, _) = streamed(settings, &plain);
            let x = size / 3;
            let rest = read_all(again.open(7, x, u64::MAX).unwrap());
            assert_eq!(rest, sent[x as usize..]);
            assert_eq!(again.end(), Some(&(digest.clone(), size)));
        }
    }

    #[test]
    fn a_session_holding_more_than_the_layer_hears_the_end_and_gets_nothing() {
        let (_f, plain) = layer(10_000);
        let settings = Settings::new(Codec::Zstd, None).unwrap();
        let (layer, heard) = streamed(settings, &plain);
        let body = read_all(layer.open(0, 1 << 30, 1000).unwrap());
        assert!(body.is_empty());
        assert_eq!(heard.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_layer_that_is_not_what_the_image_names_is_an_error_naming_the_file() {
        let (f, mut plain) = layer(300_000);
        plain.digest = Digest::sha256_of(b"another layer");
        let settings = Settings::new(Codec::Gzip, Some(1)).unwrap();
        let (layer, heard) = streamed(settings, &plain);
        let mut r = layer.open(0, 0, u64::MAX).unwrap();
        let err = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
        assert!(
            err.to_string().contains(&f.path().display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("as the image says"), "{err}");
        assert!(
            heard.lock().unwrap().is_empty(),
            "no end for bytes that are wrong"
        );
    }

    #[test]
    fn the_bytes_are_those_tug_made_before_it_compressed_while_sending() {
        // A fixed layer, and the digests `tug push --dry-run --compress gzip|zstd` of the
        // main branch before this change remembered for it (release build, 6 Dec 2026; gzip
        // at level 6, its default then, zstd at 3).
        let text = b"tug single pass ";
        let body: Vec<u8> = (0..1_048_576u64 + 12_345)
            .map(|i| match i % 3 {
                0 => ((i * i + 7 * i) % 253) as u8,
                _ => text[(i % 16) as usize],
            })
            .collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&body).unwrap();
        let plain = Plain {
            file: BlobFile {
                path: f.path().to_owned(),
                offset: 0,
            },
            len: body.len() as u64,
            digest: Digest::sha256_of(&body),
        };
        assert_eq!(
            plain.digest.to_string(),
            "sha256:971d9e2116938d6db02567c88c3f9a480450993741a2d07e354badbbdf270dd6"
        );
        for (codec, level, digest, size) in [
            (
                Codec::Gzip,
                6,
                "sha256:8209db85e11df55fdbbd95f2e548812bf9a68ca865aa6c903a9b3078aa19e86a",
                15_323,
            ),
            (
                Codec::Zstd,
                3,
                "sha256:a57a9ea673ac843331c6798f7d06a617da46b40cec242db4a2f5c5939c151991",
                6_383,
            ),
        ] {
            let (layer, heard) = streamed(Settings::new(codec, Some(level)).unwrap(), &plain);
            let mut sent = Vec::new();
            loop {
                let chunk = read_all(layer.open(1, sent.len() as u64, 4096).unwrap());
                sent.extend_from_slice(&chunk);
                if chunk.len() < 4096 {
                    break;
                }
            }
            assert_eq!(Digest::sha256_of(&sent).to_string(), digest, "{codec:?}");
            assert_eq!(sent.len(), size, "{codec:?}");
            assert_eq!(heard.lock().unwrap()[0].digest.to_string(), digest);
        }
    }

    #[test]
    fn keys_name_the_settings_and_the_plain_layer() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        assert_ne!(key("gzip-6/x", &a), key("gzip-6/x", &b));
        assert_ne!(key("gzip-6/x", &a), key("gzip-7/x", &a));
        assert_eq!(key("gzip-6/x", &a), key("gzip-6/x", &a));
    }
}
