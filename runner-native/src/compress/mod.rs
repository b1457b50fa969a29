//! `tug push --compress gzip|zstd`: plain tar layers are compressed as they are uploaded,
//! never written anywhere.
//!
//! Each layer is compressed twice and stored never: once ([`blob::measure`], layers in
//! parallel, alongside the push's other uploads: [`first_pass`]) to learn the blob's digest
//! and size — so the registry can be asked whether it has the blob, the manifest can name
//! it and an interrupted upload resumes across runs like any other — and again while its
//! chunks go out ([`blob::CompressedBlob::range`]). Both passes make the same bytes (same
//! codec, level and library); the second checks itself against the first's digest as it
//! goes. Digests of earlier runs are remembered ([`cache`]), so pushing the same image
//! again compresses only what the registry lacks.
//!
//! Each compressor runs on a thread of its own, a batch ahead of whoever reads it; gzip
//! also spreads one layer over every core ([`parallel_gzip`]).
//!
//! From the bottom up: [`codec`] and [`parallel_gzip`] make compressed bytes, [`blob`] one
//! compressed layer, [`cache`] remembers digests, [`plan`] rewrites the images, [`status`]
//! shows a first pass, [`first_pass`] runs one alongside a push and [`phase`] one before it.

pub mod blob;
pub mod cache;
pub mod codec;
pub mod first_pass;
pub mod parallel_gzip;
pub mod phase;
pub mod plan;
pub mod status;
