//! Writing tar archives, beside the reader ([`super::TarIndexer`]): the header block(s) of a
//! regular file, the padding after its data and the end of the archive. Entry data never
//! passes through here; a runner writes it (or stitches a `Blob` in) between the two.
//!
//! Headers are POSIX ustar, mode 0644, owner 0, mtime 0, so the same entries always make the
//! same bytes. A name ustar cannot hold (over 100 bytes and not splittable at a `/` into a
//! 155-byte prefix) gets a PAX extended header carrying it; sizes of 8 GiB and more use the
//! base-256 encoding GNU tar, Go's `archive/tar` (docker, skopeo) and the `tar` crate read.

use super::tar_header::BLOCK_LEN;

/// The two zero blocks that end an archive.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK_LEN] = [0; 2 * BLOCK_LEN];

/// Why an entry cannot be written: its name is empty or holds a NUL byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write tar entry {0:?}: a name must be non-empty and hold no NUL byte")]
pub struct BadEntryName(pub String);

/// The header block(s) of a regular file `name` of `size` bytes: one ustar block, or a PAX
/// extended header naming it followed by that block.
pub fn file_header(name: &str, size: u64) -> Result<Vec<u8>, BadEntryName> {
    if name.is_empty() || name.contains('\0') {
        return Err(BadEntryName(name.to_owned()));
    }
    if let Some((prefix, rest)) = ustar_split(name) {
        return Ok(block(prefix, rest, size, b'0').to_vec());
    }
    // PAX: an `x` entry whose record names the file, then the file's own header with a
    // shortened name for readers that ignore PAX.
    let record = pax_record("path", name);
    let short = tail(name, 100);
    let mut out = block(
        "",
        &format!("PaxHeaders/{}", tail(short, 89)),
        record.len() as u64,
        b'x',
    )
    .to_vec();
    out.extend_from_slice(record.as_bytes());
    out.resize(out.len() + padding(record.len() as u64), 0);
    out.extend_from_slice(&block("", short, size, b'0'));
    Ok(out)
}

/// Zero bytes after `size` bytes of data, up to the next block boundary.
pub fn padding(size: u64) -> usize {
    let block = BLOCK_LEN as u64;
    ((block - size % block) % block) as usize
}

/// The number of bytes an entry takes in the archive: header(s), data and padding.
pub fn entry_len(name: &str, size: u64) -> Result<u64, BadEntryName> {
    let header = file_header(name, size)?.len() as u64;
    Ok(header + size + padding(size) as u64)
}

/// `name` as ustar's (prefix, name) fields, when it fits them.
fn ustar_split(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    // The prefix ends at a `/` that is not kept: prefix ≤ 155 bytes, the rest ≤ 100.
    name.match_indices('/')
        .map(|(i, _)| (&name[..i], &name[i + 1..]))
        .find(|(prefix, rest)| prefix.len() <= 155 && !rest.is_empty() && rest.len() <= 100)
}

/// The last bytes of `text`, at most `max`, starting at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One PAX record, `"<length> <key>=<value>\n"`, its length counting its own digits.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

/// One ustar header block: `prefix` and `name` must fit their fields (155 and 100 bytes).
fn block(prefix: &str, name: &str, size: u64, typeflag: u8) -> [u8; BLOCK_LEN] {
    let mut h = [0u8; BLOCK_LEN];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    size_field(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is computed with its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// `value` as zero-padded octal digits filling the field but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    field[..digits].copy_from_slice(format!("{value:0digits$o}").as_bytes());
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
    use crate::archive::tar_header::{parse_header, BLOCK};
    use crate::archive::test_util::index_bytes;
    use crate::archive::EntryKind;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A whole archive of `entries`, as a runner writes it.
    pub(crate) fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in entries {
            out.extend(file_header(name, data.len() as u64).unwrap());
            out.extend_from_slice(data);
            out.resize(out.len() + padding(data.len() as u64), 0);
        }
        out.extend_from_slice(&END_OF_ARCHIVE);
        out
    }

    #[test]
    fn the_core_s_own_reader_reads_what_it_writes() {
        let long = format!("blobs/sha512/{}", "a".repeat(128));
        let very_long = format!("{}/{}", "d".repeat(200), "n".repeat(150));
        let big = vec![7u8; 1500];
        let entries: Vec<(&str, &[u8])> = vec![
            ("manifest.json", b"[]"),
            ("abc.tar", &big),
            ("empty", b""),
            (&long, b"sha512 blob"),
            (&very_long, b"x"),
        ];
        let bytes = archive(&entries);
        let index = index_bytes(&bytes).unwrap();
        let files: Vec<_> = index
            .entries()
            .filter(|e| e.kind == EntryKind::File)
            .collect();
        assert_eq!(files.len(), entries.len());
        for (entry, (name, data)) in files.iter().zip(&entries) {
            assert_eq!(entry.path, *name);
            assert_eq!(entry.size, data.len() as u64);
            let at = entry.data_offset as usize;
            assert_eq!(&bytes[at..at + data.len()], *data);
        }
        assert_eq!(bytes.len() % BLOCK_LEN, 0);
    }

    #[test]
    fn headers_are_ustar_with_fixed_owner_mode_and_time() {
        let h = file_header("config.json", 42).unwrap();
        assert_eq!(h.len(), BLOCK as usize);
        let block: [u8; BLOCK_LEN] = h.try_into().unwrap();
        let parsed = parse_header(&block).unwrap().unwrap();
        assert_eq!(parsed.name, "config.json");
        assert_eq!(parsed.size, 42);
        assert_eq!(parsed.typeflag, b'0');
        assert_eq!(&block[100..108], b"0000644\0");
        assert_eq!(&block[136..148], b"00000000000\0");
        assert_eq!(&block[257..265], b"ustar\x0000");
        assert_eq!(file_header("config.json", 42).unwrap(), block.to_vec());
    }

    #[test]
    fn a_name_that_splits_at_a_slash_uses_the_ustar_prefix() {
        let name = format!("{}/{}", "p".repeat(120), "n".repeat(90));
        let h = file_header(&name, 1).unwrap();
        assert_eq!(h.len(), BLOCK_LEN, "no PAX header needed");
        let block: [u8; BLOCK_LEN] = h.try_into().unwrap();
        assert_eq!(parse_header(&block).unwrap().unwrap().name, name);
    }

    #[test]
    fn sizes_past_8_gib_use_base_256() {
        let size = 10 * 1024 * 1024 * 1024u64;
        let block: [u8; BLOCK_LEN] = file_header("layer.tar", size).unwrap().try_into().unwrap();
        assert_eq!(block[124], 0x80);
        assert_eq!(parse_header(&block).unwrap().unwrap().size, size);
    }

    #[test]
    fn names_must_be_usable_and_padding_fills_blocks() {
        assert!(file_header("", 1).is_err());
        assert!(file_header("a\0b", 1).is_err());
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
        assert_eq!(entry_len("a", 1).unwrap(), 1024);
        let long = "x".repeat(300);
        assert_eq!(
            entry_len(&long, 0).unwrap(),
            file_header(&long, 0).unwrap().len() as u64
        );
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for n in [1, 80, 89, 90, 95, 200, 995, 996, 1000] {
            let record = pax_record("path", &"v".repeat(n));
            let (len, _) = record.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len(), "{n}");
        }
    }

    /// What the `tar` crate (as docker's and skopeo's Go readers) makes of the headers.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_tar_crate_reads_what_we_write() {
        use std::io::Read;
        let long = format!("blobs/sha512/{}", "b".repeat(128));
        let big = vec![9u8; 700];
        let bytes = archive(&[("manifest.json", b"[]"), (&long, &big), ("empty", b"")]);
        let mut tar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(entry.header().mode().unwrap(), 0o644);
            assert_eq!(entry.header().mtime().unwrap(), 0);
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((name, data));
        }
        assert_eq!(
            seen,
            [
                ("manifest.json".to_owned(), b"[]".to_vec()),
                (long, big),
                ("empty".to_owned(), Vec::new())
            ]
        );
        let block = file_header("x", 10 << 30).unwrap();
        let header = tar::Header::from_byte_slice(&block);
        assert_eq!(header.entry_size().unwrap(), 10 << 30);
    }
}
