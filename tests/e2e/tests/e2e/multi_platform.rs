//! A multi-platform OCI layout (an index of two images) pushes every platform's manifest,
//! then the index under the tag.

use std::fs;

use crate::common::multi_platform_layout;
use serde_json::Value;
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, Registry, Tug};

#[test]
fn an_index_is_pushed_with_every_platform() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (index, children) = multi_platform_layout(&layout);
    let out = crate::common::push(&registry, &layout, "multi/app:v1").assert_success();
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

/// `--platform` pushes (and copies) one platform's image of an index, not the index; a
/// platform the file lacks is an error naming the ones it has.
#[test]
fn one_platform_of_an_index_is_pushed_with_platform() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (_, children) = multi_platform_layout(&layout);
    crate::common::push_with(
        &registry,
        &layout,
        "one/app:arm",
        &["--platform", "linux/arm64"],
    )
    .assert_success();
    let pushed = skopeo::inspect_raw_in(&registry, "one/app:arm").unwrap();
    assert_eq!(
        sha256_digest(&pushed),
        children[1],
        "the arm64 image, alone"
    );
    let copied = Tug::new()
        .args(["copy", "--platform", "linux/amd64"])
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(registry.image("one/app:amd"))
        .run()
        .assert_success();
    drop(copied);
    let pushed = skopeo::inspect_raw_in(&registry, "one/app:amd").unwrap();
    assert_eq!(sha256_digest(&pushed), children[0]);
    let out = crate::common::push_with(
        &registry,
        &layout,
        "one/app:s390x",
        &["--platform", "linux/s390x"],
    )
    .assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str().contains("linux/arm64"),
        "{}",
        out.stderr_str()
    );
}

/// skopeo's `dir:` layout, of one image and of an index with every platform (`skopeo copy
/// --all … dir:`): `tug push DIR` and `tug copy dir:DIR` send the manifests byte for byte.
#[test]
fn a_skopeo_dir_layout_is_pushed_whole() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (index, children) = multi_platform_layout(&layout);
    let all = dir.path().join("all");
    skopeo::copy(
        &format!("oci:{}", layout.display()),
        &format!("dir:{}", all.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap();
    let out = crate::common::push(&registry, &all, "dir/all:v1").assert_success();
    assert!(out.stderr_str().contains("(dir, "), "{}", out.stderr_str());
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "dir/all:v1").unwrap(),
        index
    );
    for child in &children {
        let m = skopeo::inspect_raw_in(&registry, &format!("dir/all@{child}")).unwrap();
        assert_eq!(&sha256_digest(&m), child);
    }

    let one = dir.path().join("one");
    skopeo::copy(
        &format!("oci:{}", layout.display()),
        &format!("dir:{}", one.display()),
        &["--override-arch", "arm64"],
    )
    .unwrap();
    let manifest = fs::read(one.join("manifest.json")).unwrap();
    Tug::new()
        .args(["copy", &format!("dir:{}", one.display())])
        .arg(registry.image("dir/one:v1"))
        .run()
        .assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "dir/one:v1").unwrap(),
        manifest
    );
    // tug reads skopeo's dir: but never writes it.
    let out = Tug::new()
        .args(["copy", &registry.image("dir/one:v1")])
        .arg(format!("dir:{}", dir.path().join("back").display()))
        .run()
        .assert_code(crate::common::USAGE);
    assert!(out.stderr_str().contains("dir:"), "{}", out.stderr_str());
}

/// `skopeo copy --all` of the test kit's two-platform layout into an OCI archive: a file
/// whose index.json names an image index, as skopeo writes it.
fn multi_platform_archive(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, Vec<String>) {
    let layout = dir.join("layout");
    let (index, children) = multi_platform_layout(&layout);
    let archive = dir.join("multi.oci.tar");
    skopeo::copy(
        &format!("oci:{}:multi", layout.display()),
        &format!("oci-archive:{}:multi", archive.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap();
    (archive, index, children)
}

fn store_tug(store: &std::path::Path) -> Tug {
    Tug::new().env("TUG_STORE", store)
}

#[test]
fn a_loaded_multi_platform_archive_keeps_its_index_and_pushes_whole() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let (archive, index, children) = multi_platform_archive(dir.path());
    let store = dir.path().join("store");
    let out = store_tug(&store)
        .arg("load")
        .arg(&archive)
        .run()
        .assert_success();
    // `tug images` lists the index under the name.
    let images = store_tug(&store)
        .args(["images", "--json"])
        .run()
        .assert_success();
    let list: Value = serde_json::from_str(images.stdout_str().trim()).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], sha256_digest(&index));
    assert_eq!(
        list[0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let name = list[0]["name"].as_str().unwrap().to_owned();
    assert!(
        out.stderr_str()
            .contains("2 platforms: linux/amd64, linux/arm64"),
        "{}",
        out.stderr_str()
    );
    // Pushing the name sends every platform, then the index under the tag.
    store_tug(&store)
        .args(["push", "--progress", "none", &name])
        .arg(registry.image("loaded/multi:v1"))
        .run()
        .assert_success();
    let pushed = skopeo::inspect_raw_in(&registry, "loaded/multi:v1").unwrap();
    assert_eq!(pushed, index, "the index arrives byte for byte");
    for child in &children {
        let m = skopeo::inspect_raw_in(&registry, &format!("loaded/multi@{child}")).unwrap();
        assert_eq!(&sha256_digest(&m), child);
    }
    let out_dir = dir.path().join("pulled");
    skopeo::copy_from_registry(
        &registry,
        "loaded/multi:v1",
        &format!("oci:{}:x", out_dir.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap();
}

#[test]
fn saving_a_multi_platform_image_as_a_docker_archive_needs_a_platform() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, index, children) = multi_platform_archive(dir.path());
    let store = dir.path().join("store");
    store_tug(&store)
        .arg("load")
        .arg(&archive)
        .run()
        .assert_success();
    let name = "multi";
    let tar = dir.path().join("one.tar");
    let out = store_tug(&store)
        .args(["save", name, "-o"])
        .arg(&tar)
        .run()
        .assert_code(2);
    let err = out.stderr_str();
    assert!(
        err.contains("multi-platform") && err.contains("--platform") && err.contains("linux/arm64"),
        "{err}"
    );
    assert!(!tar.exists());
    store_tug(&store)
        .args(["save", name, "--platform", "linux/arm64", "-o"])
        .arg(&tar)
        .run()
        .assert_success();
    // skopeo reads the arm64 image from it: the second platform's config and layers.
    let arm = fs::read(
        dir.path()
            .join("layout/blobs/sha256")
            .join(children[1].trim_start_matches("sha256:")),
    )
    .unwrap();
    let arm: Value = serde_json::from_slice(&arm).unwrap();
    let saved = skopeo::run(["inspect", &format!("docker-archive:{}", tar.display())]).unwrap();
    let saved: Value = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved["Layers"].as_array().unwrap().len(), 1);
    let config = skopeo::run([
        "inspect",
        "--config",
        "--raw",
        &format!("docker-archive:{}", tar.display()),
    ])
    .unwrap();
    assert_eq!(
        sha256_digest(&config),
        arm["config"]["digest"].as_str().unwrap()
    );
    // An OCI archive keeps every platform.
    let oci = dir.path().join("all.oci.tar");
    store_tug(&store)
        .args(["save", name, "-o"])
        .arg(&oci)
        .run()
        .assert_success();
    let raw =
        skopeo::inspect_raw(&format!("oci-archive:{}", oci.display()), &[] as &[&str]).unwrap();
    assert_eq!(raw, index);
}

#[test]
fn inspect_shows_each_platform() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, index, _) = multi_platform_archive(dir.path());
    let out = Tug::new()
        .arg("inspect")
        .arg(&archive)
        .run()
        .assert_success();
    let text = out.stdout_str();
    assert!(text.contains("platform linux/amd64"), "{text}");
    assert!(text.contains("platform linux/arm64"), "{text}");
    assert!(text.contains(&sha256_digest(&index)), "{text}");
    let out = Tug::new()
        .args(["inspect", "--json"])
        .arg(&archive)
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(&out.stdout_str()).unwrap();
    let platforms: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|img| img["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(v["images"][1]["index"]["digest"], sha256_digest(&index));
}

/// An index as buildx writes it: two platforms, and an attestation manifest (provenance,
/// `unknown/unknown`) for one. Every manifest it names goes to the registry, the
/// attestation included, so the index is accepted and keeps its digest; the same from the
/// store after `tug load`.
#[test]
fn a_buildx_index_with_an_attestation_is_pushed_whole() {
    use serde_json::json;
    use tug_testkit::fixtures::write_oci_layout;
    use tug_testkit::ImageSpec;
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let amd = write_oci_layout(&layout, &ImageSpec::new(61).layer(30_000), "amd");
    let arm = write_oci_layout(&layout, &ImageSpec::new(62).layer(20_000), "arm");
    let att = write_oci_layout(&layout, &ImageSpec::new(63).layer(900), "att");
    let entry = |img: &tug_testkit::FixtureImage, platform: Value, annotations: Value| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest.clone().unwrap(),
            "size": img.manifest_bytes().len(),
            "platform": platform,
            "annotations": annotations,
        })
    };
    let amd_digest = amd.manifest_digest.clone().unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            entry(&amd, json!({"os": "linux", "architecture": "amd64"}), json!({})),
            entry(&arm, json!({"os": "linux", "architecture": "arm64"}), json!({})),
            entry(&att, json!({"os": "unknown", "architecture": "unknown"}), json!({
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": amd_digest,
            })),
        ],
    }))
    .unwrap();
    let digest = sha256_digest(&index);
    fs::write(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
        &index,
    )
    .unwrap();
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
        "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "bx"},
    }]});
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let out = crate::common::push(&registry, &layout, "bx/app:v1").assert_success();
    assert!(
        out.stderr_str().contains("2 platforms, 1 attestation,"),
        "{}",
        out.stderr_str()
    );
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "bx/app:v1").unwrap(),
        index
    );
    for child in [&amd, &arm, &att] {
        let d = child.manifest_digest.clone().unwrap();
        let m = skopeo::inspect_raw_in(&registry, &format!("bx/app@{d}")).unwrap();
        assert_eq!(sha256_digest(&m), d);
    }
    // Through the store: loaded whole, pushed whole.
    let store = dir.path().join("store");
    store_tug(&store)
        .arg("load")
        .arg(&layout)
        .run()
        .assert_success();
    store_tug(&store)
        .args(["push", "--plain-http", "--progress", "none", "bx"])
        .arg(registry.image("bx/stored:v1"))
        .run()
        .assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "bx/stored:v1").unwrap(),
        index
    );
}

/// `--platform` holds a single image (no index) to that platform, as `docker pull
/// --platform` does: `tug pull` and `tug copy` of an amd64-only image for arm64 fail (exit
/// 3) naming both, nothing written; for amd64 they go on.
#[test]
fn a_platform_asked_of_a_single_image_must_be_its_own() {
    let env = crate::common::Env::new();
    let registry = Registry::plain();
    let (layout, _) = env.layout(93, &tug_testkit::ImageSpec::new(93).layer(4000));
    crate::common::push(&registry, &layout, "single/app:v1").assert_success();
    let image = registry.image("single/app:v1");
    let out = env.path("arm.tar");
    let refused = env
        .tug()
        .args(["pull", "--platform", "linux/arm64", "-o"])
        .arg(&out)
        .arg(&image)
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(
        refused
            .stderr_str()
            .contains("single image for linux/amd64, not linux/arm64"),
        "{refused}"
    );
    assert!(!out.exists());
    let copied = env
        .tug()
        .args(["copy", "--platform", "linux/arm64", &image])
        .arg(registry.image("single/arm:v1"))
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(copied.stderr_str().contains("not linux/arm64"), "{copied}");
    let digest = env
        .tug()
        .args(["digest", "--platform", "linux/arm64", &image])
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(digest.stderr_str().contains("not linux/arm64"), "{digest}");
    assert!(skopeo::inspect_raw_in(&registry, "single/arm:v1").is_err());
    env.tug()
        .args(["pull", "--platform", "linux/amd64", "-o"])
        .arg(env.path("amd.tar"))
        .arg(&image)
        .run()
        .assert_success();
}

/// `--all-platforms` and `--platform` say opposite things: a usage error for `tug pull`,
/// as for `tug copy`, never one of them quietly ignored.
#[test]
fn every_platform_and_one_platform_at_once_are_a_usage_error() {
    for verb in ["pull", "copy"] {
        let mut args = vec![verb, "--all-platforms", "--platform", "linux/amd64"];
        args.push("127.0.0.1:1/app:1");
        if verb == "copy" {
            args.push("127.0.0.1:1/other:1");
        }
        let out = Tug::new().args(args).run().assert_code(2);
        assert!(
            out.stderr_str().contains("cannot be used with"),
            "{verb}: {}",
            out.stderr_str()
        );
    }
}
