//! Where a push's request bodies come from: each plan blob's bytes as they are in the image
//! file, or a plain layer compressed on the fly (`--compress`).

use std::io::{self, Read};
use std::sync::Arc;

use crate::compress::blob::CompressedBlob;
use crate::compress::first_pass::Slot;
use crate::source::BlobFile;
use crate::transport::BodySource;

/// Where the bytes of one plan blob come from.
#[derive(Clone, Debug)]
pub enum BlobSource {
    /// As they are, from a file.
    File(BlobFile),
    /// Made by compressing a plain layer on the fly (`--compress`).
    Compressed(Arc<CompressedBlob>),
    /// A compressed layer whose digest the first pass is still working out: set before the
    /// push is told the blob is ready, so before any request for it.
    Pending(Slot),
}

/// The sources of a push's plan blobs, by plan index.
pub struct PushBodies(pub Vec<BlobSource>);

impl BodySource for PushBodies {
    fn open(&self, blob: usize, start: u64, end: u64) -> io::Result<Box<dyn Read + Send>> {
        let source = self.0.get(blob).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no source for blob {blob}"),
            )
        })?;
        match source {
            BlobSource::File(f) => Ok(Box::new(f.open(start, end)?)),
            BlobSource::Compressed(c) => c.range(start, end),
            BlobSource::Pending(slot) => {
                let c = slot.get().ok_or_else(|| {
                    io::Error::other(format!("blob {blob} is not compressed yet"))
                })?;
                c.range(start, end)
            }
        }
    }
}
