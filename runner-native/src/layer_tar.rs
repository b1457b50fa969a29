//! A layer blob read back as its tar, for `docker save` archives: decoded as the core says
//! from its first bytes (not its media type), every gzip member (flate2) and every zstd frame
//! with skippable frames passed over (libzstd), then checked against its diffID (the core's
//! [`TarCheck`]).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use tug_core::archive::compression::SNIFF_LEN;
use tug_core::archive::layer_tar::{self, LayerName, LayerTarError, TarCheck};
use tug_core::archive::Compression;
use tug_core::Digest;

/// Why a layer's tar could not be written: the layer is at fault, or the output is.
#[derive(Debug, thiserror::Error)]
pub enum CopyTarError {
    #[error("{0}")]
    Layer(Box<LayerTarError>),
    #[error("{0}")]
    Output(io::Error),
}

/// Writes the tar of the layer blob at `blob` (the layer `layer`) to `out`, checking that it
/// hashes to `diff_id`.
pub fn copy_tar(
    blob: &Path,
    layer: &LayerName,
    diff_id: &Digest,
    out: &mut dyn Write,
) -> Result<(), CopyTarError> {
    let fail = |e: LayerTarError| CopyTarError::Layer(Box::new(e));
    let check = |compression| TarCheck::new(layer.clone(), diff_id.clone(), compression);
    let unreadable = |e: io::Error| fail(check(Compression::None).unreadable(e.to_string()));
    let mut file = File::open(blob).map_err(unreadable)?;
    let head = sniff_file(&mut file).map_err(unreadable)?;
    let compression = layer_tar::decoding(&head)
        .map_err(|problem| fail(check(Compression::None).fail(problem)))?;
    let mut check = check(compression);
    let mut reader =
        decoder(file, compression).map_err(|e| fail(check.unreadable(e.to_string())))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(check.unreadable(e.to_string()))),
        };
        check.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyTarError::Output)?;
    }
    check.finish().map_err(CopyTarError::Layer)
}

/// The first bytes of `file` (up to [`SNIFF_LEN`]), then back to its start.
fn sniff_file(file: &mut File) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    file.take(SNIFF_LEN as u64).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(head)
}

/// `file` decoded as `compression`: every gzip member, every zstd frame (libzstd passes
/// over skippable frames).
fn decoder(file: File, compression: Compression) -> io::Result<Box<dyn Read>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file)?),
        _ => Box::new(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> LayerName {
        LayerName {
            digest: Digest::sha256_of(b"blob"),
            image: Some("127.0.0.1:5000/app:v1".into()),
        }
    }

    fn copy(blob: &[u8], diff_id: &Digest) -> Result<Vec<u8>, CopyTarError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(blob).unwrap();
        let mut out = Vec::new();
        copy_tar(file.path(), &name(), diff_id, &mut out).map(|()| out)
    }

    fn zstd_frame(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    /// A skippable frame (magic `0x184D2A5x`), as `zstd:chunked` puts its table of contents.
    fn skippable(payload: &[u8]) -> Vec<u8> {
        let mut out = 0x184D_2A50u32.to_le_bytes().to_vec();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn tar_bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn every_zstd_frame_is_decoded_and_skippable_frames_are_passed_over() {
        let plain = tar_bytes(300_000);
        let mut blob = Vec::new();
        for part in plain.chunks(1000) {
            blob.extend(zstd_frame(part));
        }
        blob.extend(skippable(b"table of contents"));
        blob.extend(zstd_frame(b""));
        blob.extend(skippable(b"footer"));
        let out = copy(&blob, &Digest::sha256_of(&plain)).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn every_gzip_member_is_decoded() {
        let plain = tar_bytes(100_000);
        let mut blob = Vec::new();
        for part in plain.chunks(30_000) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            blob.extend(gz.finish().unwrap());
        }
        assert_eq!(copy(&blob, &Digest::sha256_of(&plain)).unwrap(), plain);
    }

    #[test]
    fn a_plain_tar_is_copied_whatever_its_label() {
        let plain = tar_bytes(5000);
        assert_eq!(copy(&plain, &Digest::sha256_of(&plain)).unwrap(), plain);
    }

    #[test]
    fn errors_name_the_layer_its_image_and_the_decoder() {
        let plain = tar_bytes(50_000);
        let mut blob = zstd_frame(&plain);
        blob.truncate(blob.len() / 2);
        let err = copy(&blob, &Digest::sha256_of(&plain))
            .unwrap_err()
            .to_string();
        let layer = name().digest.to_string();
        assert!(
            err.starts_with(&format!(
                "layer {layer} of 127.0.0.1:5000/app:v1: does not decompress as zstd"
            )),
            "{err}"
        );

        let other = Digest::sha256_of(b"other");
        let err = copy(&plain, &other).unwrap_err().to_string();
        assert!(
            err.contains(&layer) && err.contains(&other.to_string()),
            "{err}"
        );

        let err = copy(b"BZh91AY&SY", &other).unwrap_err().to_string();
        assert!(err.contains(&layer) && err.contains("bzip2"), "{err}");
    }
}
