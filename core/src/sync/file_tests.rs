//! `tug sync --file`: the TOML read into sources with their own filters, platform and
//! destination, and each mistake named by file, line and key.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn error(text: &str) -> String {
    parse_sync_file("sync.toml", text).unwrap_err().to_string()
}

#[test]
fn each_source_has_its_own_filters_platform_and_destination() {
    let text = r#"
to = "mirror.example:5000/hub"

[[source]]
from = "docker://src.example/library/alpine"
tags = ['3\.[0-9]+']
exclude-tags = ['3\.1']
platform = "linux/arm64"

[[source]]
from = "src.example/team/app:1.2"
to = "other.example/acme"
"#;
    let specs = parse_sync_file("sync.toml", text).unwrap();
    assert_eq!(specs.len(), 2);
    let (a, b) = (&specs[0], &specs[1]);
    assert!(matches!(&a.source, SyncSource::Repository(r) if r.repository == "library/alpine"));
    assert_eq!(
        a.destination,
        Destination::parse("mirror.example:5000/hub").unwrap()
    );
    assert!(a.filter.takes("3.2") && !a.filter.takes("3.1") && !a.filter.takes("latest"));
    assert_eq!(a.platform.as_ref().unwrap().to_string(), "linux/arm64");
    assert!(matches!(&b.source, SyncSource::Image(_)));
    assert_eq!(
        b.destination,
        Destination::parse("other.example/acme").unwrap()
    );
    assert!(b.filter.takes("anything") && b.platform.is_none());
}

#[test]
fn mistakes_name_the_file_the_line_and_the_key() {
    let source = |extra: &str| {
        format!("to = \"dst.example\"\n\n[[source]]\nfrom = \"src.example/app\"\n{extra}\n")
    };
    let e = error(&source("tags = ['(']"));
    assert!(
        e.starts_with("sync.toml:5: [[source]] 1: tags: \"(\": regex parse error"),
        "{e}"
    );
    assert!(error(&source("exclude-tags = ['[']"))
        .starts_with("sync.toml:5: [[source]] 1: exclude-tags: \"[\""));
    assert!(error(&source("platform = \"linux/\""))
        .starts_with("sync.toml:5: [[source]] 1: platform: "));
    // An unknown key, a wrong type, broken TOML: the TOML parser's message, at the line.
    let e = error(&source("tag = ['v1']"));
    assert!(e.starts_with("sync.toml:5: ") && e.contains("tag"), "{e}");
    let e = error(&source("tags = 'v1'"));
    assert!(e.starts_with("sync.toml:5: "), "{e}");
    assert!(error("to = \"dst.example\"\n[[source]\n").starts_with("sync.toml:2: "));
    // A second source with a bad `from`, and one with no destination anywhere.
    let two = "[[source]]\nfrom = \"a.example/x\"\nto = \"d.example\"\n\n[[source]]\nfrom = \"\"\n";
    assert!(
        error(two).starts_with("sync.toml:6: [[source]] 2: from: "),
        "{}",
        error(two)
    );
    assert_eq!(
        error("\n[[source]]\nfrom = \"a.example/x\"\n"),
        "sync.toml:2: [[source]] 1: to: no destination: give `to` in this table or at the top of the file"
    );
    assert!(error("to = \"d.example/p\"\n").starts_with("sync.toml:1: source: no [[source]]"));
    assert!(
        error("to = \"\"\n[[source]]\nfrom = \"a.example/x\"\n").starts_with("sync.toml:1: to: ")
    );
}
