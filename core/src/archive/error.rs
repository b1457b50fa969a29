//! The error type of archive reading: every variant says what was wrong and where.

use super::compression::Compression;
use crate::digest::Digest;

/// Why an image archive or layout could not be read.
///
/// Each variant names the offending tar entry, layout file or byte offset, so a user can find
/// the problem without a hex editor. Messages are plain English sentences.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The file is not a tar archive at all (its first header is not a valid tar header).
    #[error("not a tar archive: {reason}")]
    NotATar {
        /// What was seen instead.
        reason: String,
    },

    /// The file is a compressed tar (`docker save | gzip`): a runner that can decompress it
    /// whole (see [`Compression::decompresses_whole`]) resolves the decompressed tar instead.
    #[error(
        "the file is a tar compressed with {compression}; decompress it first ({}) or pass the \
         uncompressed tar",
        compression.decompress_hint()
    )]
    CompressedTar {
        /// How it is compressed.
        compression: Compression,
    },

    /// The tar file ends before a header or an entry's data is complete.
    #[error(
        "truncated tar: {what} at offset {offset} runs past the end of the file ({total_len} bytes)"
    )]
    Truncated {
        /// What was cut off, e.g. `data of tar entry "abc/layer.tar"`.
        what: String,
        /// Where the cut-off part starts in the tar file.
        offset: u64,
        /// The length of the tar file.
        total_len: u64,
    },

    /// A tar header (after the first one) is damaged or uses an impossible value.
    #[error("bad tar header at offset {offset}: {reason}")]
    BadHeader {
        /// Offset of the header block in the tar file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// An entry name or link target points outside the archive root (absolute or `..`).
    #[error("tar entry {entry:?} escapes the archive root")]
    PathEscapes {
        /// The entry name (for links: `name -> target`).
        entry: String,
    },

    /// A tar entry that a metadata file refers to is not in the archive.
    #[error("tar entry {path:?} referenced by {referenced_by} is missing")]
    MissingEntry {
        /// The (normalised) entry path that was looked for.
        path: String,
        /// Who referred to it, e.g. `manifest.json`.
        referenced_by: String,
    },

    /// A file that a metadata file refers to is not in the layout directory.
    #[error("file {path:?} referenced by {referenced_by} is missing from the layout directory")]
    MissingFile {
        /// The path relative to the layout directory.
        path: String,
        /// Who referred to it, e.g. `index.json manifests[0]`.
        referenced_by: String,
    },

    /// A referenced tar entry is a directory or device instead of a regular file.
    #[error("tar entry {path:?} referenced by {referenced_by} is a {kind}, not a regular file")]
    NotAFile {
        /// The entry path.
        path: String,
        /// Who referred to it.
        referenced_by: String,
        /// What it is instead, e.g. `directory`.
        kind: String,
    },

    /// The layout is well formed and holds no image (an empty `index.json`, as a layout is
    /// before anything is put in it).
    #[error("the layout holds no image: its {file} lists none")]
    NoImage {
        /// The index, `index.json`.
        file: String,
    },

    /// A metadata file (manifest.json, index.json, a config or manifest blob) cannot be used.
    #[error("{file} is malformed: {reason}")]
    Malformed {
        /// The file, e.g. `manifest.json`, `index.json` or `blobs/sha256/…`.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file's size disagrees with the descriptor that names it.
    #[error(
        "size mismatch for {what}: the descriptor says {descriptor} bytes but it has {actual}"
    )]
    SizeMismatch {
        /// The file or entry, with who refers to it.
        what: String,
        /// Size written in the descriptor.
        descriptor: u64,
        /// Size found in the archive or layout.
        actual: u64,
    },

    /// A file's bytes do not hash to the digest that names it.
    #[error("digest mismatch for {what}: expected {expected}, but its content hashes to {actual}")]
    DigestMismatch {
        /// The file or entry.
        what: String,
        /// The digest it was referred to by.
        expected: Digest,
        /// The digest of its bytes.
        actual: Digest,
    },

    /// A metadata file is bigger than the limit kept in memory.
    #[error("{what} is larger than the {limit}-byte limit for metadata files")]
    TooLarge {
        /// The file or entry.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// Following symlinks / hard links did not reach a file within the step limit.
    #[error("following links from tar entry {path:?} did not reach a file (link loop?)")]
    LinkLoop {
        /// Where the walk started.
        path: String,
    },

    /// The input is a recognisable but unsupported kind of archive, or nothing recognisable.
    #[error("unsupported format: {reason}")]
    UnsupportedFormat {
        /// What was found and why it cannot be used.
        reason: String,
    },

    /// The requested image is not in the source.
    #[error("{}; available: {}", missing(requested), list(available))]
    ImageNotFound {
        /// What the user asked for: a name, `for platform OS/ARCH`, or `(any image)`.
        requested: String,
        /// The images there are, one description each.
        available: Vec<String>,
    },

    /// The source holds several images and none (or a too vague one) was chosen.
    #[error(
        "{} images match; choose one by name, digest prefix, position or platform: {}",
        available.len(),
        list(available)
    )]
    AmbiguousImage {
        /// The candidate images, one description each.
        available: Vec<String>,
    },

    /// An image index refers to another index in a way that is not supported.
    #[error(
        "nested image index {digest} referenced by {referenced_by} is not supported: {reason}"
    )]
    NestedIndex {
        /// Digest of the nested index.
        digest: String,
        /// Who referred to it.
        referenced_by: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The runner called the API out of order or answered a request that was not made.
    #[error("archive reader misused by the runner: {reason}")]
    Misuse {
        /// What was wrong.
        reason: String,
    },
}

/// What [`ArchiveError::ImageNotFound`] says is missing: `no image "app:1"`, `no image for
/// platform linux/s390x`, or `no image` when any would have done.
fn missing(requested: &str) -> String {
    match requested {
        "(any image)" => "no image".to_owned(),
        platform if platform.starts_with("for platform ") => format!("no image {platform}"),
        name => format!("no image {name:?}"),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn messages_name_the_entry() {
        let e = ArchiveError::MissingEntry {
            path: "abc/layer.tar".into(),
            referenced_by: "manifest.json".into(),
        };
        assert_eq!(
            e.to_string(),
            "tar entry \"abc/layer.tar\" referenced by manifest.json is missing"
        );
        let e = ArchiveError::AmbiguousImage {
            available: vec!["0: a:1".into(), "1: b:2".into()],
        };
        assert!(e.to_string().contains("0: a:1; 1: b:2"), "{e}");
        let e = ArchiveError::ImageNotFound {
            requested: "x".into(),
            available: vec![],
        };
        assert_eq!(e.to_string(), "no image \"x\"; available: none");
        let e = ArchiveError::ImageNotFound {
            requested: "for platform linux/s390x".into(),
            available: vec!["0: a:1".into()],
        };
        assert_eq!(
            e.to_string(),
            "no image for platform linux/s390x; available: 0: a:1"
        );
    }
}
