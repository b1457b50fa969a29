//! Layer compression: detected from magic bytes (never assumed) and mapped to media types.

use std::fmt;

use super::media_types as mt;

/// How many leading bytes [`sniff`] needs to recognise every format it knows.
pub const SNIFF_LEN: usize = 8;

/// The compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// bzip2 (`BZh`): recognised so it can be reported, but there is no layer media type for it.
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`): recognised so it can be reported; no layer media type.
    Xz,
}

/// Detects the compression of a blob from its first bytes (pass at least [`SNIFF_LEN`] bytes
/// when the blob has that many). Anything unrecognised is taken as uncompressed.
pub fn sniff(first_bytes: &[u8]) -> Compression {
    if first_bytes.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if first_bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if first_bytes.starts_with(b"BZh") {
        Compression::Bzip2
    } else if first_bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

impl Compression {
    /// The OCI layer media type for a tar with this compression, or `None` when OCI defines
    /// none (bzip2, xz): such layers cannot be pushed as OCI layers.
    pub fn oci_layer_media_type(self) -> Option<&'static str> {
        match self {
            Compression::None => Some(mt::OCI_LAYER_TAR),
            Compression::Gzip => Some(mt::OCI_LAYER_TAR_GZIP),
            Compression::Zstd => Some(mt::OCI_LAYER_TAR_ZSTD),
            Compression::Bzip2 | Compression::Xz => None,
        }
    }

    /// The compression a layer media type declares, or `None` for a media type that is not a
    /// known (OCI or Docker) layer type.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            mt::OCI_LAYER_TAR
            | mt::OCI_NONDISTRIBUTABLE_LAYER_TAR
            | mt::DOCKER_LAYER_TAR
            | mt::DOCKER_FOREIGN_LAYER_TAR => Some(Compression::None),
            mt::OCI_LAYER_TAR_GZIP
            | mt::OCI_NONDISTRIBUTABLE_LAYER_TAR_GZIP
            | mt::DOCKER_LAYER_TAR_GZIP
            | mt::DOCKER_FOREIGN_LAYER_TAR_GZIP => Some(Compression::Gzip),
            mt::OCI_LAYER_TAR_ZSTD
            | mt::OCI_NONDISTRIBUTABLE_LAYER_TAR_ZSTD
            | mt::DOCKER_LAYER_TAR_ZSTD => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Whether a runner should accept a whole tar compressed like this (`docker save |
    /// gzip`, `| zstd`, `| bzip2`, `| xz`: all that `docker load` reads) by decompressing it
    /// first. Layers are another matter: OCI has media types for gzip and zstd only.
    pub fn decompresses_whole(self) -> bool {
        self != Compression::None
    }

    /// The command that decompresses a file compressed like this, for messages.
    pub fn decompress_hint(self) -> &'static str {
        match self {
            Compression::None => "nothing to do",
            Compression::Gzip => "gunzip -k FILE",
            Compression::Zstd => "zstd -d FILE",
            Compression::Bzip2 => "bunzip2 -k FILE",
            Compression::Xz => "xz -dk FILE",
        }
    }

    /// Whether layers with this compression can be pushed (OCI defines a media type for it).
    pub fn is_supported(self) -> bool {
        self.oci_layer_media_type().is_some()
    }

    /// A short lowercase name for messages: `none`, `gzip`, `zstd`, `bzip2`, `xz`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(sniff(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Compression::Xz);
        assert_eq!(sniff(b"etc/\0\0\0\0"), Compression::None);
        assert_eq!(sniff(&[]), Compression::None);
        assert_eq!(sniff(&[0x1f]), Compression::None);
    }

    #[test]
    fn media_types_round_trip() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let m = c.oci_layer_media_type().unwrap();
            assert_eq!(Compression::from_media_type(m), Some(c));
            assert!(c.is_supported());
        }
        assert_eq!(Compression::Xz.oci_layer_media_type(), None);
        assert_eq!(
            Compression::from_media_type(mt::DOCKER_LAYER_TAR_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type(mt::DOCKER_LAYER_TAR),
            Some(Compression::None),
            "ctr export and ctr push write Docker's plain layer type"
        );
        assert_eq!(Compression::from_media_type(mt::OCI_CONFIG), None);
    }
}
