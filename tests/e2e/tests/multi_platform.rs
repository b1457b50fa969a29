//! A multi-platform OCI layout (an index of two images) pushes every platform's manifest,
//! then the index under the tag.

mod common;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, ImageSpec, Registry};

/// Writes two images into `dir` and replaces index.json with one entry: an index of both,
/// tagged `multi`. Returns the index bytes and the two manifest digests.
fn multi_platform_layout(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let amd = write_oci_layout(dir, &ImageSpec::new(21).layer(40_000), "amd");
    let arm = write_oci_layout(dir, &ImageSpec::new(22).gzip_layer(50_000), "arm");
    let entry = |img: &tug_testkit::FixtureImage, arch: &str| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest.clone().unwrap(),
            "size": img.manifest_bytes().len(),
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    }))
    .unwrap();
    let digest = sha256_digest(&index);
    fs::write(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
        &index,
    )
    .unwrap();
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let children = vec![amd.manifest_digest.unwrap(), arm.manifest_digest.unwrap()];
    (index, children)
}

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
