//! Decoding one 512-byte tar header block (v7, ustar, GNU) and PAX extended records.

/// Size of a tar block; headers are one block and data is padded to whole blocks.
pub(crate) const BLOCK: u64 = 512;
/// [`BLOCK`] as a buffer length.
pub(crate) const BLOCK_LEN: usize = 512;

/// The fields of a header block that the indexer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHeader {
    /// Name from the header itself (ustar prefix joined), before long-name overrides.
    pub name: String,
    /// Link target from the header itself.
    pub linkname: String,
    /// Size field (octal or base-256).
    pub size: u64,
    /// Typeflag byte.
    pub typeflag: u8,
}

/// Why a block is not a usable header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The checksum field does not match the block (or is not a number).
    Checksum(String),
    /// Some other field is invalid.
    Field(String),
}

/// Decodes a header block: `Ok(None)` for an all-zero block (end of archive).
pub(crate) fn parse_header(block: &[u8; 512]) -> Result<Option<RawHeader>, HeaderProblem> {
    if block.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    verify_checksum(block)?;
    let size = parse_number(&block[124..136])
        .map_err(|e| HeaderProblem::Field(format!("size field: {e}")))?;
    let typeflag = block[156];
    let mut name = c_string(&block[0..100]);
    let linkname = c_string(&block[157..257]);
    // POSIX ustar ("ustar\0") has a name prefix; GNU ("ustar  \0") uses those bytes otherwise.
    if &block[257..263] == b"ustar\0" {
        let prefix = c_string(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Some(RawHeader {
        name,
        linkname,
        size,
        typeflag,
    }))
}

/// Text of a NUL-terminated (or full-width) field; invalid UTF-8 is replaced, not rejected.
pub(crate) fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

fn verify_checksum(block: &[u8; 512]) -> Result<(), HeaderProblem> {
    let stored = parse_octal(&block[148..156])
        .map_err(|e| HeaderProblem::Checksum(format!("checksum field: {e}")))?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        // At most 512 * 255 in magnitude: cannot overflow.
        unsigned = unsigned.wrapping_add(u64::from(b));
        signed = signed.wrapping_add(i64::from(i8::from_ne_bytes([b])));
    }
    // Some old writers summed signed chars; accept either, as GNU tar does.
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(HeaderProblem::Checksum(format!(
            "checksum mismatch (header says {stored}, block sums to {unsigned})"
        )))
    }
}

/// Parses a numeric field: octal ASCII, or GNU base-256 when the high bit of the first byte is
/// set (used for sizes of 8 GiB and more). Negative base-256 values are rejected.
pub(crate) fn parse_number(field: &[u8]) -> Result<u64, String> {
    match field.split_first() {
        Some((&first, rest)) if first & 0x80 != 0 => {
            if first & 0x40 != 0 {
                return Err("negative base-256 number".to_owned());
            }
            let mut value = u64::from(first & 0x3f);
            for &b in rest {
                value = value
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or_else(|| "base-256 number too large".to_owned())?;
            }
            Ok(value)
        }
        _ => parse_octal(field),
    }
}

/// Parses an octal ASCII field, ignoring surrounding spaces and NULs; empty means 0.
fn parse_octal(field: &[u8]) -> Result<u64, String> {
    let is_pad = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !is_pad(b)).unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !is_pad(b))
        .map_or(start, |i| i.saturating_add(1));
    let digits = field.get(start..end).unwrap_or_default();
    let mut value: u64 = 0;
    for &b in digits {
        if !(b'0'..=b'7').contains(&b) {
            let text = c_string(field);
            return Err(
                match text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                    true => format!("{text:?} is not an octal number"),
                    false => "binary bytes, not an octal number".to_owned(),
                },
            );
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b.wrapping_sub(b'0'))))
            .ok_or_else(|| "octal number too large".to_owned())?;
    }
    Ok(value)
}

/// The fields of PAX extended records that matter for indexing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PaxOverrides {
    /// `path`: the next entry's full name.
    pub path: Option<String>,
    /// `linkpath`: the next entry's link target.
    pub linkpath: Option<String>,
    /// `size`: the next entry's size (for sizes the header cannot hold).
    pub size: Option<u64>,
}

/// Applies PAX records (`"<len> <key>=<value>\n"` repeated) to `out`. An empty value unsets
/// the key, as POSIX says; unknown keys are ignored.
pub(crate) fn parse_pax(payload: &[u8], out: &mut PaxOverrides) -> Result<(), String> {
    let mut rest = payload;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break; // NUL padding after the last record
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("PAX record without a length")?;
        let len_text = rest.get(..space).unwrap_or_default();
        if len_text.is_empty() || !len_text.iter().all(u8::is_ascii_digit) {
            return Err("PAX record length is not a decimal number".to_owned());
        }
        let len: usize = std::str::from_utf8(len_text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("PAX record length is too large")?;
        let body_start = space.saturating_add(1);
        if len <= body_start || len > rest.len() {
            return Err(format!(
                "PAX record length {len} does not fit the {} bytes left",
                rest.len()
            ));
        }
        let record = rest.get(body_start..len).unwrap_or_default();
        rest = rest.get(len..).unwrap_or_default();
        let record = record
            .strip_suffix(b"\n")
            .ok_or("PAX record does not end with a newline")?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("PAX record without '='")?;
        let key = record.get(..eq).unwrap_or_default();
        let value = String::from_utf8_lossy(record.get(eq.saturating_add(1)..).unwrap_or_default())
            .into_owned();
        let value = (!value.is_empty()).then_some(value);
        match key {
            b"path" => out.path = value,
            b"linkpath" => out.linkpath = value,
            b"size" => {
                out.size = match value {
                    None => None,
                    Some(v) => Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("PAX size {v:?} is not a number"))?,
                    ),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parses_octal_and_base256() {
        assert_eq!(parse_number(b"00000001750\0"), Ok(1000));
        assert_eq!(parse_number(b"   1750 \0\0\0\0"), Ok(1000));
        assert_eq!(parse_number(b"\0\0\0\0\0\0\0\0\0\0\0\0"), Ok(0));
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[7] = 0x02;
        f[8] = 0x40; // 0x2_4000_0000 = 9 GiB
        assert_eq!(parse_number(&f), Ok(9 << 30));
        f[0] = 0xff;
        assert!(parse_number(&f).is_err());
        let mut big = [0xffu8; 12];
        big[0] = 0x80;
        assert!(parse_number(&big).is_err());
        assert!(parse_number(b"0009\0").is_err());
    }

    #[test]
    fn parses_pax_records() {
        let mut o = PaxOverrides::default();
        let recs = b"30 path=a/very/long/name/here\n17 size=12345678\n13 linkpath=\n";
        parse_pax(recs, &mut o).unwrap();
        assert_eq!(o.path.as_deref(), Some("a/very/long/name/here"));
        assert_eq!(o.size, Some(12345678));
        assert_eq!(o.linkpath, None);
        for bad in [
            &b"x path=a\n"[..],
            b"99 path=a\n",
            b"9 path=ab",
            b"7 path\n",
            b"3 \n",
        ] {
            assert!(parse_pax(bad, &mut PaxOverrides::default()).is_err());
        }
        assert!(parse_pax(b"15 size=abcdef\n", &mut o).is_err());
    }
}
