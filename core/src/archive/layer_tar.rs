//! A layer blob turned back into its tar, as a `docker save` archive holds it: decoded by what
//! its bytes are (gzip `1f 8b`, zstd `28 b5 2f fd`, else plain tar), never by what its media
//! type says — docker, podman and containerd do the same, and skopeo 1.9 pushes plain layers
//! labelled `+gzip` — and checked against its diffID. Every error names the layer.

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
        }
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
        let actual = self.hasher.finish();
        if actual == self.diff_id {
            return Ok(());
        }
        Err(Box::new(LayerTarError {
            layer: self.layer,
            problem: LayerTarProblem::DiffIdMismatch {
                compression: self.compression,
                actual,
                expected: self.diff_id,
            },
        }))
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
