//! Tar headers for the archives a pull produces. Only headers and padding are made here;
//! entry contents stay in JS `Blob`s and are stitched in by reference (`new Blob([...])`).
//!
//! Headers are POSIX ustar, mode 0644, owner 0, mtime 0 (reproducible); sizes of 8 GiB and
//! more use the base-256 encoding GNU tar, Go's `archive/tar` (docker, skopeo) and the
//! `tar` crate read.

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// The two zero blocks that end an archive.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Why an entry cannot be written.
#[derive(Debug, PartialEq, Eq)]
pub struct NameTooLong(pub String);

/// The header block of a regular file `name` of `size` bytes.
pub fn header(name: &str, size: u64) -> Result<[u8; BLOCK], NameTooLong> {
    let mut h = [0u8; BLOCK];
    if name.len() > 100 || name.is_empty() {
        return Err(NameTooLong(name.to_owned()));
    }
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    size_field(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    Ok(h)
}

/// Zero bytes after `size` bytes of data, up to the next block boundary.
pub fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 {
        0
    } else {
        BLOCK - rem
    }
}

/// `value` as zero-padded octal digits filling the field but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// The size field: octal when it fits in 11 digits, else base-256 (high bit set, big-endian).
fn size_field(field: &mut [u8], size: u64) {
    if size < 8u64.pow(11) {
        octal(field, size);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let len = field.len();
        field[len - 8..].copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in entries {
            out.extend_from_slice(&header(name, data.len() as u64).unwrap());
            out.extend_from_slice(data);
            out.extend(std::iter::repeat_n(0, padding(data.len() as u64)));
        }
        out.extend_from_slice(&END);
        out
    }

    #[test]
    fn the_tar_crate_reads_what_we_write() {
        let big = vec![7u8; 1500];
        let bytes = archive(&[("manifest.json", b"[]"), ("abc.tar", &big), ("empty", b"")]);
        let mut tar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(entry.header().mode().unwrap(), 0o644);
            assert!(entry.header().as_ustar().is_some());
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((name, data));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], ("manifest.json".into(), b"[]".to_vec()));
        assert_eq!(seen[1].1, big);
        assert!(seen[2].1.is_empty());
    }

    #[test]
    fn sizes_past_8_gib_use_base_256() {
        let size = 10 * 1024 * 1024 * 1024u64;
        let h = header("layer.tar", size).unwrap();
        let parsed = tar::Header::from_byte_slice(&h);
        assert_eq!(parsed.entry_size().unwrap(), size);
        assert_eq!(parsed.cksum().unwrap(), {
            let mut copy = h;
            copy[148..156].fill(b' ');
            copy.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
    }

    #[test]
    fn long_names_are_refused_and_padding_fills_blocks() {
        assert!(header(&"x".repeat(101), 1).is_err());
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
