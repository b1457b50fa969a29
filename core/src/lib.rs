//! tug-core: the sans-IO protocol core of tug.

pub mod archive;
pub mod digest;

pub use digest::Digest;
