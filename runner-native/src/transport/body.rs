//! Where request bodies come from. The core asks for byte range `start..end` of plan blob
//! `blob` (`Body::BlobRange`), or for the next bytes of a blob made while it is sent
//! (`Body::BlobStream`); whatever holds the bytes — an image file, a layer compressed on
//! the fly — answers through this trait, so the transport knows none of them.

use std::io::{self, Read};

/// Opens byte ranges of plan blobs for request bodies.
pub trait BodySource: Send + Sync {
    /// Bytes `start..end` of plan blob `blob`. A reader that ends early makes the request
    /// fail as a source error, never a short body.
    fn open(&self, blob: usize, start: u64, end: u64) -> io::Result<Box<dyn Read + Send>>;

    /// The bytes of plan blob `blob` from `start` on, at most `max` of them, for a blob made
    /// while it is sent (`Body::BlobStream`): the reader ends where the blob does, or after
    /// `max` bytes. Sources without such blobs keep this default.
    fn open_stream(&self, blob: usize, _start: u64, _max: u64) -> io::Result<Box<dyn Read + Send>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("blob {blob} is not made while it is sent"),
        ))
    }
}

/// No blob bodies: requests that send blobs come with their own body
/// ([`super::Transport::spawn_streaming`]), or there are none (a pull).
pub struct NoBodies;

impl BodySource for NoBodies {
    fn open(&self, blob: usize, _: u64, _: u64) -> io::Result<Box<dyn Read + Send>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no source for blob {blob}"),
        ))
    }
}
