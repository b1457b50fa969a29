//! Archive path normalisation: one spelling per entry, and nothing above the root.

/// Normalises an archive path: drops empty and `.` components (so leading `./`, `//` and a
/// trailing `/` vanish) and applies `..`. Returns `None` for an absolute path or one whose `..`
/// climbs above the root. The root itself normalises to `""`.
pub(crate) fn normalize(raw: &str) -> Option<String> {
    if raw.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a symlink `target` relative to the directory that holds the link at `link_path`
/// (already normalised). `None` if the result is absolute or escapes the root.
pub(crate) fn join_link_target(link_path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    match link_path.rsplit_once('/') {
        Some((dir, _)) => normalize(&format!("{dir}/{target}")),
        None => normalize(target),
    }
}

/// The hex part of a `blobs/sha256/<hex>` path or a `<hex>.json` file name, if the path has
/// one of those shapes with 64 lowercase hex digits.
pub(crate) fn sha256_hex_in_name(path: &str) -> Option<&str> {
    blob_sha256_hex(path).or_else(|| {
        path.strip_suffix(".json")
            .and_then(sha256_hex_in_name_parts)
    })
}

/// The hex part of a `blobs/sha256/<hex>` path with 64 lowercase hex digits.
pub(crate) fn blob_sha256_hex(path: &str) -> Option<&str> {
    path.strip_prefix("blobs/sha256/")
        .and_then(sha256_hex_in_name_parts)
}

fn sha256_hex_in_name_parts(hex: &str) -> Option<&str> {
    let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn normalises() {
        assert_eq!(normalize("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("./").as_deref(), Some(""));
        assert_eq!(normalize("a/.."), Some(String::new()));
        assert_eq!(normalize("../a"), None);
        assert_eq!(normalize("a/../../b"), None);
        assert_eq!(normalize("/etc/passwd"), None);
    }

    #[test]
    fn link_targets_are_relative_to_the_link_directory() {
        assert_eq!(
            join_link_target("abc/layer.tar", "../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(join_link_target("top", "other").as_deref(), Some("other"));
        assert_eq!(join_link_target("abc/l", "../../x"), None);
        assert_eq!(join_link_target("abc/l", "/x"), None);
    }

    #[test]
    fn finds_hex_in_blob_and_config_names() {
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex_in_name(&format!("{hex}.json")), Some(&*hex));
        assert_eq!(
            sha256_hex_in_name(&format!("blobs/sha256/{hex}")),
            Some(&*hex)
        );
        assert_eq!(sha256_hex_in_name("config.json"), None);
        assert_eq!(sha256_hex_in_name(&format!("blobs/sha256/{hex}x")), None);
    }
}
