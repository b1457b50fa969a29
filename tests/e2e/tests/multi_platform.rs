//! A multi-platform OCI layout (an index of two images) pushes every platform's manifest,
//! then the index under the tag.

mod common;

use std::fs;

use common::multi_platform_layout;
use serde_json::Value;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, Registry};

#[test]
fn an_index_is_pushed_with_every_platform() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (index, children) = multi_platform_layout(&layout);
    let out = common::push(&registry, &layout, "multi/app:v1").assert_success();
    assert!(
        out.stderr_str().contains("2 platforms"),
        "{}",
        out.stderr_str()
    );
    let pushed = skopeo::inspect_raw_in(&registry, "multi/app:v1").unwrap();
    assert_eq!(pushed, index, "the index is pushed byte for byte");
    for child in &children {
        let m = skopeo::inspect_raw_in(&registry, &format!("multi/app@{child}")).unwrap();
        assert_eq!(&sha256_digest(&m), child);
    }
    // Every blob of every platform can be pulled back and verifies.
    let out_dir = dir.path().join("pulled");
    let dst = format!("oci:{}:x", out_dir.display());
    skopeo::copy_from_registry(
        &registry,
        "multi/app:v1",
        &dst,
        &["--all", "--preserve-digests"],
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&fs::read(out_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(v["manifests"][0]["digest"], sha256_digest(&index));
}
