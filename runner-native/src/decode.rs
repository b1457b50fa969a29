//! Decoding compressed bytes as tug reads them everywhere (layers, whole image tars): gzip
//! with every member, as gunzip does, zstd with every frame, skippable frames passed over
//! (`zstd:chunked`), anything else as it is.

use std::io::{self, BufRead, Read};

use tug_core::archive::Compression;

/// `input` decoded as `compression`; `Err` for a zstd decoder that cannot start, and for
/// compressions no layer or tar uses (bzip2, xz), which the caller names.
pub fn decoder<'a>(
    compression: Compression,
    input: impl BufRead + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    match compression {
        Compression::Gzip => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(input))),
        Compression::Zstd => Ok(Box::new(zstd::stream::read::Decoder::with_buffer(input)?)),
        Compression::None => Ok(Box::new(input)),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{other} is not decoded here"),
        )),
    }
}
