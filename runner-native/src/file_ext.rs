//! File operations whose calls differ per platform, behind one interface: positional reads
//! and writes (several threads write one file at known offsets), making a finished output
//! readable by others as `umask` would, and copying a range from one file into another (in
//! the kernel where it can: `copy_file_range` on Linux).

use std::fs::File;
use std::io;
use std::path::Path;

/// Writes all of `data` at `offset` of `file`, whatever its cursor.
pub fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, data, offset)
    }
    #[cfg(windows)]
    {
        let (mut data, mut offset) = (data, offset);
        while !data.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, data, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    data = &data[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Fills `buf` from `offset` of `file`, whatever its cursor.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Makes a finished output (made as a private temporary file) readable by everyone, as a
/// file written by `cp` would be (`0644`). Windows files inherit their folder's access
/// rules instead: nothing to do there.
pub fn make_readable(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Copies `len` bytes of `from` (from its start) to `to` at `at`: in the kernel where it can
/// (`copy_file_range` on Linux), else through a buffer.
pub fn copy_range(from: &File, to: &File, at: u64, len: u64) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut off_in = 0u64;
        let mut off_out = at;
        while off_in < len {
            let want = usize::try_from(len - off_in)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            match rustix::fs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), want)
            {
                Ok(0) => return Err(ended_early(off_in, len)),
                Ok(_) => {}
                Err(e) if e == rustix::io::Errno::INTR => {}
                Err(_) => return copy_by_hand(from, to, off_in, off_out, len - off_in),
            }
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        copy_by_hand(from, to, 0, at, len)
    }
}

/// The source of a copy had fewer bytes than it should.
fn ended_early(copied: u64, len: u64) -> io::Error {
    io::Error::other(format!(
        "a layer's side file ended after {copied} of {len} bytes"
    ))
}

/// [`copy_range`] through a buffer: `left` bytes from `src` of `from` to `dst` of `to`.
fn copy_by_hand(
    from: &File,
    to: &File,
    mut src: u64,
    mut dst: u64,
    mut left: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let len = src + left;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        read_exact_at(from, &mut buf[..n], src).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ended_early(src, len),
            _ => e,
        })?;
        write_all_at(to, &buf[..n], dst)?;
        src += n as u64;
        dst += n as u64;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_writes_and_reads_ignore_the_cursor() {
        let f = tempfile::tempfile().unwrap();
        write_all_at(&f, b"world", 6).unwrap();
        write_all_at(&f, b"hello ", 0).unwrap();
        let mut buf = [0u8; 11];
        read_exact_at(&f, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello world");
        let mut past = [0u8; 4];
        assert_eq!(
            read_exact_at(&f, &mut past, 9).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn ranges_copy_in_the_kernel_or_by_hand_alike() {
        let from = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        write_all_at(&from, &data, 0).unwrap();
        for by_hand in [false, true] {
            let to = tempfile::tempfile().unwrap();
            write_all_at(&to, b"head", 0).unwrap();
            if by_hand {
                copy_by_hand(&from, &to, 0, 4, data.len() as u64).unwrap();
            } else {
                copy_range(&from, &to, 4, data.len() as u64).unwrap();
            }
            let mut back = vec![0u8; data.len()];
            read_exact_at(&to, &mut back, 4).unwrap();
            assert!(back == data, "by hand: {by_hand}");
            let err = copy_range(&from, &to, 0, data.len() as u64 + 10).unwrap_err();
            assert!(err.to_string().contains("ended after"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn finished_outputs_are_readable_by_everyone() {
        use std::os::unix::fs::PermissionsExt;
        let f = tempfile::NamedTempFile::new().unwrap();
        make_readable(f.path()).unwrap();
        let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
