//! Decoding a whole zstd stream with ruzstd (not the library tug uses): every frame in turn,
//! skippable frames skipped and counted. `zstd:chunked` layers are thousands of frames plus
//! skippable frames, and a decoder that stops after the first frame gets only a part.

use std::io::{self, BufRead, Read, Write};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::StreamingDecoder;

use crate::hashing::HashingWriter;

/// What a zstd stream is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZstdFrames {
    /// Frames holding data.
    pub frames: usize,
    /// Skippable frames (metadata a decoder passes over).
    pub skippable: usize,
}

/// Decodes every frame of `source` into `out`, skipping skippable frames.
///
/// # Errors
///
/// When the stream is not zstd or is cut short.
pub fn decode_all_frames(mut source: impl BufRead, mut out: impl Write) -> io::Result<ZstdFrames> {
    let mut seen = ZstdFrames::default();
    while !source.fill_buf()?.is_empty() {
        match StreamingDecoder::new(&mut source) {
            Ok(mut frame) => {
                io::copy(&mut frame, &mut out)?;
                seen.frames += 1;
            }
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let mut payload = Read::take(&mut source, u64::from(length));
                let skipped = io::copy(&mut payload, &mut io::sink())?;
                if skipped != u64::from(length) {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a skippable frame is cut short",
                    ));
                }
                seen.skippable += 1;
            }
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }
    Ok(seen)
}

/// The `sha256:<hex>` digest and length of what the zstd stream `source` decodes to, and its
/// frames.
///
/// # Errors
///
/// As [`decode_all_frames`].
pub fn sha256_of_zstd(source: impl BufRead) -> io::Result<(String, u64, ZstdFrames)> {
    let mut hashing = HashingWriter::new(io::sink());
    let frames = decode_all_frames(source, &mut hashing)?;
    let (_, (digest, len)) = hashing.finish();
    Ok((digest, len, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A skippable frame: magic `0x184D2A50`, little-endian length, payload.
    fn skippable(payload: &[u8]) -> Vec<u8> {
        let mut out = 0x184D_2A50u32.to_le_bytes().to_vec();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A raw-block frame (no compression), written by hand from the format spec.
    fn raw_frame(data: &[u8]) -> Vec<u8> {
        let mut out = 0xFD2F_B528u32.to_le_bytes().to_vec();
        // Single segment, 1-byte content size.
        out.push(0b0010_0000);
        out.push(data.len() as u8);
        let header = ((data.len() as u32) << 3) | 1; // raw block, last
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn every_frame_is_decoded_and_skippable_ones_are_skipped() {
        let mut stream = raw_frame(b"hello ");
        stream.extend(skippable(b"metadata"));
        stream.extend(raw_frame(b"world"));
        stream.extend(skippable(b""));
        let mut out = Vec::new();
        let seen = decode_all_frames(stream.as_slice(), &mut out).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(
            seen,
            ZstdFrames {
                frames: 2,
                skippable: 2
            }
        );
    }

    #[test]
    fn garbage_and_cut_streams_are_errors() {
        assert!(decode_all_frames(&b"not zstd"[..], io::sink()).is_err());
        let cut = skippable(b"metadata");
        assert!(decode_all_frames(&cut[..cut.len() - 2], io::sink()).is_err());
    }
}
