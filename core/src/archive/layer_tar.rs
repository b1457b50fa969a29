//! A layer blob turned back into its tar, as a `docker save` archive holds it: decoded by what
//! its bytes are (gzip `1f 8b`, zstd `28 b5 2f fd`, else plain tar), never by what its media
//! type says — docker, podman and containerd do the same, and skopeo 1.9 pushes plain layers
//! labelled `+gzip` — and checked against its diffID. Every error names the layer.
//!
//! Decoding has a cap ([`inflated_limit`]): a layer whose tar grows past
//! [`MAX_INFLATION_RATIO`] times its compressed size plus [`INFLATION_ALLOWANCE`] is stopped
//! there ([`TarCheck::feed`]), so a decompression bomb (a few KiB of zstd that inflate to
//! terabytes, with a diffID that was never going to match) cannot fill the disk before the
//! diffID check at its end catches it. The cap never refuses a real layer: text and binaries
//! inflate 2–10×, files of zeros (a preallocated file, a disk image) up to deflate's own
//! bound of ~1032× in gzip, and zstd's frames of zeros, which go far beyond, are allowed
//! their first 256 MiB whatever their size. A gzip bomb is bounded by its format (~1032×)
//! and caught by its diffID. Plain tars inflate 1×.

use std::fmt;

use super::compression::{sniff, Compression};
use crate::digest::{Digest, Hasher};

/// Which layer a message is about: its digest and, where known, the image it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerName {
    /// The layer blob's digest (as the manifest names it).
    pub digest: Digest,
    /// The image, e.g. `registry.example/app:v1`, when known.
    pub image: Option<String>,
}

impl fmt::Display for LayerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}", self.digest)?;
        match &self.image {
            Some(image) => write!(f, " of {image}"),
            None => Ok(()),
        }
    }
}

/// A layer's tar may be at most this many times its compressed size (plus
/// [`INFLATION_ALLOWANCE`]): just above deflate's own bound (~1032×, a gzip of nothing but
/// zeros), so no gzip layer is refused for its ratio; a real layer's tar is 2–10× its gzip.
pub const MAX_INFLATION_RATIO: u64 = 1100;

/// What any layer may inflate to whatever its compressed size: a zstd layer holding a
/// file of zeros (a few KiB for hundreds of MiB).
pub const INFLATION_ALLOWANCE: u64 = 256 * 1024 * 1024;

/// The most bytes the tar of a layer blob of `compressed_len` bytes may have.
pub fn inflated_limit(compressed_len: u64) -> u64 {
    compressed_len
        .saturating_mul(MAX_INFLATION_RATIO)
        .saturating_add(INFLATION_ALLOWANCE)
}

/// What went wrong turning a layer into its tar.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerTarProblem {
    /// The bytes are compressed in a way no layer media type allows (bzip2, xz).
    Unsupported(Compression),
    /// The bytes do not decode (cut short, corrupt) or cannot be read.
    Unreadable {
        /// How they were being decoded.
        compression: Compression,
        /// What the decoder or the file said.
        detail: String,
    },
    /// The tar does not hash to the diffID the config names for it.
    DiffIdMismatch {
        /// How the bytes were decoded.
        compression: Compression,
        /// What the tar hashes to.
        actual: Digest,
        /// The diffID in the config.
        expected: Digest,
    },
    /// The tar grew past [`inflated_limit`] of the blob's size: decoding stopped there.
    TooLarge {
        /// How the bytes were decoded.
        compression: Compression,
        /// The blob's (compressed) size.
        compressed: u64,
        /// The limit the tar passed.
        limit: u64,
    },
}

impl fmt::Display for LayerTarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerTarProblem::Unsupported(c) => write!(
                f,
                "its bytes are {c}-compressed, which no layer media type allows"
            ),
            LayerTarProblem::Unreadable {
                compression: Compression::None,
                detail,
            } => write!(f, "cannot be read ({detail})"),
            LayerTarProblem::Unreadable {
                compression,
                detail,
            } => write!(f, "does not decompress as {compression} ({detail})"),
            LayerTarProblem::DiffIdMismatch {
                compression: Compression::None,
                actual,
                expected,
            } => write!(
                f,
                "is a plain tar hashing to {actual}, but the config says {expected}"
            ),
            LayerTarProblem::DiffIdMismatch {
                compression,
                actual,
                expected,
            } => write!(
                f,
                "{compression} data that uncompresses to {actual}, but the config says {expected}"
            ),
            LayerTarProblem::TooLarge {
                compression,
                compressed,
                limit,
            } => write!(
                f,
                "{compression} data of {compressed} bytes that uncompresses to more than \
                 {limit} bytes ({MAX_INFLATION_RATIO}× its size + {} MiB, tug's limit): \
                 stopped, as for a decompression bomb (an OCI layout or the store keeps \
                 layers as they are, undecoded: -o DIR)",
                INFLATION_ALLOWANCE >> 20
            ),
        }
    }
}

/// Why a layer could not be turned back into its tar: the layer and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{layer}: {problem}")]
pub struct LayerTarError {
    /// The layer.
    pub layer: LayerName,
    /// What went wrong.
    pub problem: LayerTarProblem,
}

/// How to decode a layer whose blob starts with `first_bytes` (pass
/// [`SNIFF_LEN`](super::compression::SNIFF_LEN) bytes when it has that many): gzip and zstd
/// by their magic bytes, anything else as a plain tar. Decoders must read every gzip member
/// and every zstd frame, passing over skippable frames (`zstd:chunked` layers are thousands
/// of frames and skippable frames).
pub fn decoding(first_bytes: &[u8]) -> Result<Compression, LayerTarProblem> {
    match sniff(first_bytes) {
        c if c.is_supported() => Ok(c),
        c => Err(LayerTarProblem::Unsupported(c)),
    }
}

/// Checks a layer's tar, as it is decoded, against the diffID its image's config names.
///
/// Feed it every byte of the decoded tar with [`TarCheck::update`], then [`TarCheck::finish`].
pub struct TarCheck {
    layer: LayerName,
    diff_id: Digest,
    compression: Compression,
    hasher: Hasher,
    /// Where [`TarCheck::feed`] stops the tar ([`inflated_limit`]); no limit by default.
    limit: Option<(u64, u64)>,
}

impl TarCheck {
    /// A check of `layer`, decoded as `compression` (from [`decoding`]), against `diff_id`.
    pub fn new(layer: LayerName, diff_id: Digest, compression: Compression) -> TarCheck {
        let hasher = Hasher::new(diff_id.algorithm());
        TarCheck {
            layer,
            diff_id,
            compression,
            hasher,
            limit: None,
        }
    }

    /// A check of `layer` whose diffID is not known yet (its config has not arrived): the
    /// tar is hashed with sha256 (what every diffID in use is), and compared once it is
    /// known ([`TarCheck::hashed`], [`HashedTar::check`]).
    pub fn pending(layer: LayerName, compression: Compression) -> TarCheck {
        TarCheck::new(layer, Digest::sha256_of(b""), compression)
    }

    /// Caps the tar at [`inflated_limit`] of `compressed_len`, the blob's size:
    /// [`TarCheck::feed`] fails past it.
    pub fn capped(mut self, compressed_len: u64) -> TarCheck {
        self.limit = Some((compressed_len, inflated_limit(compressed_len)));
        self
    }

    /// The next bytes of the decoded tar, counted against the cap ([`TarCheck::capped`]):
    /// past it, the error to stop with (nothing more should be written).
    pub fn feed(&mut self, tar_bytes: &[u8]) -> Result<(), Box<LayerTarError>> {
        if let Some((compressed, limit)) = self.limit {
            if self.hasher.len().saturating_add(tar_bytes.len() as u64) > limit {
                return Err(Box::new(self.fail(LayerTarProblem::TooLarge {
                    compression: self.compression,
                    compressed,
                    limit,
                })));
            }
        }
        self.hasher.update(tar_bytes);
        Ok(())
    }

    /// Bytes of tar seen so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Whether no byte of tar was seen yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// How the layer is decoded.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The layer.
    pub fn layer(&self) -> &LayerName {
        &self.layer
    }

    /// Whether the check can be skipped because it was already made: a plain layer whose
    /// blob was verified against its digest, and whose digest is its diffID.
    pub fn holds_by_digest(&self) -> bool {
        self.compression == Compression::None && self.layer.digest == self.diff_id
    }

    /// The next bytes of the decoded tar.
    pub fn update(&mut self, tar_bytes: &[u8]) {
        self.hasher.update(tar_bytes);
    }

    /// The error for `problem` with this layer, e.g. when its bytes could not be decoded.
    pub fn fail(&self, problem: LayerTarProblem) -> LayerTarError {
        LayerTarError {
            layer: self.layer.clone(),
            problem,
        }
    }

    /// The decoder or the source failed: the error naming the layer and its decoding.
    pub fn unreadable(&self, detail: String) -> LayerTarError {
        self.fail(LayerTarProblem::Unreadable {
            compression: self.compression,
            detail,
        })
    }

    /// `Ok` when the tar hashes to the diffID; else the error naming the layer, how it was
    /// decoded, what it hashes to and what the config says.
    pub fn finish(self) -> Result<(), Box<LayerTarError>> {
        let expected = self.diff_id.clone();
        self.hashed().check(&expected)
    }

    /// The whole tar's hash, to compare with a diffID later ([`HashedTar::check`]).
    pub fn hashed(self) -> HashedTar {
        let len = self.hasher.len();
        HashedTar {
            layer: self.layer,
            compression: self.compression,
            actual: self.hasher.finish(),
            len,
        }
    }
}

/// A layer's tar, hashed whole: what it hashes to, to check against its diffID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedTar {
    layer: LayerName,
    compression: Compression,
    actual: Digest,
    len: u64,
}

impl HashedTar {
    /// `Ok` when the tar hashes to `diff_id`; else the error naming the layer, how it was
    /// decoded, what it hashes to and what the config says.
    pub fn check(&self, diff_id: &Digest) -> Result<(), Box<LayerTarError>> {
        if &self.actual == diff_id {
            return Ok(());
        }
        Err(Box::new(LayerTarError {
            layer: self.layer.clone(),
            problem: LayerTarProblem::DiffIdMismatch {
                compression: self.compression,
                actual: self.actual.clone(),
                expected: diff_id.clone(),
            },
        }))
    }

    /// The tar's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the tar is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the tar hashes to.
    pub fn actual(&self) -> &Digest {
        &self.actual
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_bytes_decide_not_the_label() {
        assert_eq!(decoding(&[0x1f, 0x8b, 8, 0]), Ok(Compression::Gzip));
        assert_eq!(
            decoding(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Ok(Compression::Zstd)
        );
        // A plain tar (what a `+gzip` label on skopeo 1.9's images may hide).
        assert_eq!(decoding(b"etc/\0\0\0\0"), Ok(Compression::None));
        assert_eq!(decoding(&[]), Ok(Compression::None));
        assert_eq!(
            decoding(b"BZh91AY&"),
            Err(LayerTarProblem::Unsupported(Compression::Bzip2))
        );
    }

    #[test]
    fn a_tar_check_passes_the_right_tar_and_names_the_layer_otherwise() {
        let tar = b"a layer's tar".as_slice();
        let diff_id = Digest::sha256_of(tar);
        let layer = LayerName {
            digest: Digest::sha256_of(b"gzip of it"),
            image: Some("r.example/app:v1".into()),
        };
        let mut check = TarCheck::new(layer.clone(), diff_id.clone(), Compression::Gzip);
        assert!(!check.holds_by_digest());
        for part in tar.chunks(4) {
            check.update(part);
        }
        assert_eq!(check.finish(), Ok(()));

        let mut check = TarCheck::new(layer.clone(), diff_id.clone(), Compression::Gzip);
        check.update(b"something else");
        let err = check.finish().unwrap_err();
        assert_eq!(err.layer, layer);
        let LayerTarProblem::DiffIdMismatch {
            compression,
            actual,
            expected,
        } = err.problem
        else {
            panic!("{err}")
        };
        assert_eq!(compression, Compression::Gzip);
        assert_eq!(actual, Digest::sha256_of(b"something else"));
        assert_eq!(expected, diff_id);

        let plain = LayerName {
            digest: diff_id.clone(),
            image: None,
        };
        assert!(TarCheck::new(plain.clone(), diff_id.clone(), Compression::None).holds_by_digest());
        let check = TarCheck::new(plain, diff_id, Compression::Zstd);
        assert!(!check.holds_by_digest());
        let err = check.unreadable("cut short".into()).to_string();
        assert!(
            err.contains("does not decompress as zstd (cut short)"),
            "{err}"
        );
    }

    #[test]
    fn a_capped_check_stops_a_tar_that_outgrows_its_blob_and_says_why() {
        let layer = LayerName {
            digest: Digest::sha256_of(b"bomb"),
            image: Some("r.example/app:v1".into()),
        };
        let limit = inflated_limit(1000);
        assert_eq!(limit, 1000 * MAX_INFLATION_RATIO + INFLATION_ALLOWANCE);
        assert_eq!(inflated_limit(u64::MAX), u64::MAX);
        let mut check = TarCheck::pending(layer.clone(), Compression::Gzip).capped(1000);
        let block = vec![0u8; 1 << 20];
        let mut fed = 0u64;
        let err = loop {
            match check.feed(&block) {
                Ok(()) => fed += block.len() as u64,
                Err(e) => break e,
            }
            assert!(fed <= limit, "fed {fed} past {limit}");
        };
        assert_eq!(check.len(), fed, "nothing past the cap is counted");
        assert!(limit - fed < block.len() as u64);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "layer {} of r.example/app:v1: gzip data of 1000 bytes",
                layer.digest
            )) && text.contains(&format!("more than {limit} bytes"))
                && text.contains("decompression bomb"),
            "{text}"
        );
        // Under the cap, a pending check takes its diffID late.
        let tar = b"a small tar".as_slice();
        let mut check = TarCheck::pending(layer.clone(), Compression::Zstd).capped(5);
        check.feed(tar).unwrap();
        let hashed = check.hashed();
        assert_eq!(hashed.len(), tar.len() as u64);
        assert_eq!(hashed.check(&Digest::sha256_of(tar)), Ok(()));
        let err = hashed.check(&Digest::sha256_of(b"other")).unwrap_err();
        assert!(
            matches!(err.problem, LayerTarProblem::DiffIdMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_layer_and_its_image() {
        let digest = Digest::sha256_of(b"layer");
        let expected = Digest::sha256_of(b"tar");
        let err = LayerTarError {
            layer: LayerName {
                digest: digest.clone(),
                image: Some("127.0.0.1:5000/app:v1".into()),
            },
            problem: LayerTarProblem::Unreadable {
                compression: Compression::Gzip,
                detail: "incomplete deflate stream".into(),
            },
        };
        assert_eq!(
            err.to_string(),
            format!("layer {digest} of 127.0.0.1:5000/app:v1: does not decompress as gzip (incomplete deflate stream)")
        );
        let err = LayerTarError {
            layer: LayerName {
                digest: digest.clone(),
                image: None,
            },
            problem: LayerTarProblem::DiffIdMismatch {
                compression: Compression::Zstd,
                actual: digest.clone(),
                expected: expected.clone(),
            },
        };
        assert_eq!(
            err.to_string(),
            format!("layer {digest}: zstd data that uncompresses to {digest}, but the config says {expected}")
        );
        let bzip = LayerTarProblem::Unsupported(Compression::Bzip2).to_string();
        assert!(bzip.contains("bzip2"), "{bzip}");
    }
}
