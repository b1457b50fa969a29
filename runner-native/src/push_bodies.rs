//! Where a push's request bodies come from: each plan blob's bytes as they are in the image
//! file, or a plain layer compressed on the fly (`--compress`): ranges of one whose digest
//! is known, or chunks of one compressed while it is sent.

use std::io::{self, Read};
use std::sync::Arc;

use crate::compress::blob::CompressedBlob;
use crate::compress::stream::StreamedLayer;
use crate::source::BlobFile;
use crate::transport::BodySource;

/// Where the bytes of one plan blob come from.
#[derive(Clone, Debug)]
pub enum BlobSource {
    /// As they are, from a file.
    File(BlobFile),
    /// Made by compressing a plain layer on the fly (`--compress`), its digest known.
    Compressed(Arc<CompressedBlob>),
    /// A plain layer compressed while it is sent, its digest learned at its end.
    Streamed(Arc<StreamedLayer>),
}

/// The sources of a push's plan blobs, by plan index.
pub struct PushBodies(pub Vec<BlobSource>);

impl PushBodies {
    fn source(&self, blob: usize) -> io::Result<&BlobSource> {
        self.0.get(blob).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no source for blob {blob}"),
            )
        })
    }
}

impl BodySource for PushBodies {
    fn open(&self, blob: usize, start: u64, end: u64) -> io::Result<Box<dyn Read + Send>> {
        match self.source(blob)? {
            BlobSource::File(f) => Ok(Box::new(f.open(start, end)?)),
            BlobSource::Compressed(c) => c.range(start, end),
            BlobSource::Streamed(_) => Err(io::Error::other(format!(
                "blob {blob} is made while it is sent: it has no fixed ranges"
            ))),
        }
    }

    fn open_stream(&self, blob: usize, start: u64, max: u64) -> io::Result<Box<dyn Read + Send>> {
        match self.source(blob)? {
            BlobSource::Streamed(s) => s.open(blob, start, max),
            _ => Err(io::Error::other(format!(
                "blob {blob} is not made while it is sent"
            ))),
        }
    }
}
