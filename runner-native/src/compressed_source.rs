//! Sources tug cannot read at offsets: a compressed image tar (`docker save | gzip`, `| zstd`,
//! `| bzip2`, `| xz`, which `docker load` reads) and a stream (`docker save app | tug push -
//! …`, a pipe). Either is copied once, whole and decompressed, into a temporary file in
//! `$TMPDIR` (private, removed when tug ends, or by the next run if tug was killed:
//! [`crate::locked_temp`]), which is then read at offsets like any tar.
//! The core says when a tar is compressed ([`ArchiveError::CompressedTar`]); this does the
//! I/O.
//!
//! [`ArchiveError::CompressedTar`]: tug_core::archive::ArchiveError::CompressedTar

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use tug_core::archive::compression::{sniff, SNIFF_LEN};
use tug_core::archive::Compression;

use crate::decode::decoder;
use crate::exit_code::CliError;
use crate::locked_temp::TempFile;
use crate::safe_fs::Access;

/// Prefix of the decompressed copy in `$TMPDIR`.
const DECOMPRESSED_PREFIX: &str = ".tug-decompressed-";

/// Decompresses `path` (compressed with `compression`) into a new temporary file.
pub fn decompress(path: &Path, compression: Compression) -> Result<TempFile, CliError> {
    let shown = path.display().to_string();
    let input = File::open(path).map_err(|e| {
        CliError::Input(format!(
            "{shown}: cannot decompress this {compression}-compressed tar: {e}"
        ))
    })?;
    spool(
        BufReader::with_capacity(1 << 20, input),
        compression,
        &shown,
    )
}

/// Copies a stream (standard input, a pipe) whole into a new temporary file, decompressing it
/// on the way when its first bytes say it is compressed (gzip, zstd, bzip2, xz), as `docker
/// load` reads it; returns the file and the compression found. `shown` names the stream in
/// errors.
pub fn spool_stream(
    input: impl Read + Send + 'static,
    shown: &str,
) -> Result<(TempFile, Option<Compression>), CliError> {
    let mut input = BufReader::with_capacity(1 << 20, Watched::new(input));
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut input)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| match crate::interrupt::requested() {
            true => CliError::Core(tug_core::Error::Cancelled),
            false => CliError::Input(format!("{shown}: cannot read: {e}")),
        })?;
    let compression = sniff(&head);
    let input = io::Cursor::new(head).chain(input);
    let temp = spool(input, compression, shown)?;
    Ok((
        temp,
        (compression != Compression::None).then_some(compression),
    ))
}

/// `input` decoded as `compression` into a new private temporary file in `$TMPDIR`.
fn spool(
    input: impl io::BufRead,
    compression: Compression,
    shown: &str,
) -> Result<TempFile, CliError> {
    let failed = |e: io::Error| match compression {
        Compression::None => CliError::Input(format!("{shown}: cannot read: {e}")),
        c => CliError::Input(format!(
            "{shown}: cannot decompress this {c}-compressed tar: {e}"
        )),
    };
    let mut reader = decoder(compression, input).map_err(failed)?;
    // Leftovers of killed runs in `$TMPDIR` go first (they are unlocked).
    let tmp = std::env::temp_dir();
    let temp = TempFile::new(&tmp, DECOMPRESSED_PREFIX, Access::Private).map_err(|e| {
        CliError::Input(format!(
            "cannot create a temporary file in {} for {shown}: {e}",
            tmp.display()
        ))
    })?;
    let _removed = crate::interrupt::RemovedOnExit::new(temp.path());
    let written = copy_unless_interrupted(&mut reader, &mut BufWriter::new(temp.file()));
    let written = written.and_then(|()| temp.share_for_reading().map_err(Stop::Write));
    match written {
        Ok(()) => Ok(temp),
        Err(Stop::Interrupted) => Err(CliError::Core(tug_core::Error::Cancelled)),
        Err(Stop::Read(e)) => Err(failed(e)),
        Err(Stop::Write(e)) => Err(CliError::Input(format!(
            "cannot write {shown} into {}: {e}",
            temp.path().display()
        ))),
    }
}

/// A stream read on a thread of its own, so that a stop asked for is seen while it waits
/// for bytes (a pipe whose writer is slow or stuck): then its read fails.
struct Watched {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Watched {
    fn new(mut input: impl Read + Send + 'static) -> Watched {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; 256 * 1024];
            let got = match input.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let last = !matches!(&got, Ok(b) if !b.is_empty());
            if tx.send(got).is_err() || last {
                return;
            }
        });
        Watched {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Watched {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use std::sync::mpsc::RecvTimeoutError;
        while self.at == self.chunk.len() {
            match self.rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Ok(chunk)) if chunk.is_empty() => return Ok(0),
                Ok(Ok(chunk)) => (self.chunk, self.at) = (chunk, 0),
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) if crate::interrupt::requested() => {
                    return Err(io::Error::other("a stop was asked for"))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

enum Stop {
    Interrupted,
    Read(io::Error),
    Write(io::Error),
}

/// Copies everything, stopping early on Ctrl-C.
fn copy_unless_interrupted(reader: &mut dyn Read, out: &mut impl Write) -> Result<(), Stop> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if crate::interrupt::requested() {
            return Err(Stop::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if crate::interrupt::requested() => return Err(Stop::Interrupted),
            Err(e) => return Err(Stop::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(Stop::Write)?;
    }
    out.flush().map_err(Stop::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(compression: Compression, compressed: Vec<u8>, plain: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar.z");
        std::fs::write(&path, compressed).unwrap();
        let out = decompress(&path, compression).unwrap();
        assert_eq!(std::fs::read(out.path()).unwrap(), plain);
    }

    #[test]
    fn every_member_frame_and_stream_is_decompressed() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b) = plain.split_at(100_000);
        let mut gz = Vec::new();
        for part in [a, b] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        roundtrip(Compression::Gzip, gz, &plain);
        let mut zst = zstd::encode_all(a, 3).unwrap();
        // A skippable frame between two frames.
        zst.extend([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
        zst.extend(zstd::encode_all(b, 3).unwrap());
        roundtrip(Compression::Zstd, zst, &plain);
        let (mut bz, mut xz) = (Vec::new(), Vec::new());
        for part in [a, b] {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(part).unwrap();
            bz.extend(e.finish().unwrap());
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(part).unwrap();
            xz.extend(e.finish().unwrap());
        }
        roundtrip(Compression::Bzip2, bz, &plain);
        roundtrip(Compression::Xz, xz, &plain);
    }

    #[test]
    fn a_broken_stream_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.tar.gz");
        std::fs::write(
            &path,
            [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
        )
        .unwrap();
        let err = decompress(&path, Compression::Gzip)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("broken.tar.gz") && err.contains("gzip"),
            "{err}"
        );
        let err = decompress(&path, Compression::Xz).unwrap_err().to_string();
        assert!(
            err.contains("broken.tar.gz") && err.contains("xz-compressed"),
            "{err}"
        );
    }
}
