//! Decoding compressed bytes as tug reads them everywhere (layers, whole image tars): gzip
//! with every member, as gunzip does, zstd with every frame, skippable frames passed over
//! (`zstd:chunked`), bzip2 and xz with every stream (whole tars only: no layer media type
//! names them), anything else as it is.

use std::io::{self, BufRead, Read};

use tug_core::archive::Compression;

/// `input` decoded as `compression`; `Err` for a zstd decoder that cannot start.
pub fn decoder<'a>(
    compression: Compression,
    input: impl BufRead + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::None => Box::new(input),
    })
}
