//! The kinds of request a pull makes.

/// What an in-flight request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `GET` a manifest or index (index into the pull's manifest jobs).
    Manifest(usize),
    /// `GET` a blob (index into the pull's unique blobs).
    Blob(usize),
    /// `GET` the config of manifest job `m`, a single image, to hold it to the platform
    /// asked for (`platform_check.rs`).
    Config(usize),
}
