//! `tug push --compress gzip|zstd`: plain tar layers are compressed as they are uploaded,
//! never written anywhere.
//!
//! A layer whose compressed digest is not known is compressed once, while it is sent
//! ([`stream`], as skopeo does): the push opens an upload for it at once, streams the
//! compressor's output in chunks, and closes the upload with the digest and size learned
//! where the compressed bytes end; the manifests follow the last layer. A session an
//! interrupted run left is resumed at the registry's offset: the layer is compressed again
//! from the start (the bytes never depend on threads or transport) and only what the
//! registry lacks is sent. Digests of earlier pushes are remembered ([`cache`]), so pushing
//! the same image again asks the registry first, and compresses only what it lacks
//! ([`blob::CompressedBlob`], ranges of a blob whose digest is known). A dry run, which
//! sends nothing, learns the digests in a pass on its own ([`phase`]).
//!
//! Each compressor runs on a thread of its own, ahead of whoever reads it; gzip cuts each
//! layer into blocks deflated on a pool of one thread per core shared by every layer, a
//! few blocks per layer in flight, so the cores never wait on one another ([`parallel_gzip`]).
//!
//! From the bottom up: [`codec`] and [`parallel_gzip`] make compressed bytes, [`blob`] one
//! compressed layer of known digest (and the pass on its own), [`stream`] one compressed as
//! it is sent, [`cache`] remembers digests, [`plan`] rewrites the images, [`status`] shows
//! a pass, [`first_pass`] runs the pass on its own and [`phase`] shows it.

pub mod blob;
pub mod cache;
pub mod codec;
pub mod first_pass;
pub mod parallel_gzip;
pub mod phase;
pub mod plan;
mod read_ahead;
pub mod status;
pub mod stream;
