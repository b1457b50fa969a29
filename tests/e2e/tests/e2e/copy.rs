//! `tug copy` between two real registries and within one (cross-repository mount).

use base64::Engine as _;

use crate::common::{done_event, push};
use tug_testkit::fixtures::{pull_with_skopeo_and_compare, write_oci_layout};
use tug_testkit::{skopeo, ImageSpec, Registry, Tug};

fn copy(
    src: &Registry,
    from: &str,
    dst: &Registry,
    to: &str,
    extra: &[&str],
) -> tug_testkit::TugOutput {
    let mut tug = Tug::new().args(["copy", "--progress", "json"]).args(extra);
    if let Some(ca) = dst.ca_file().or(src.ca_file()) {
        tug = tug.arg("--ca-file").arg(ca);
    }
    tug.arg(src.image(from)).arg(dst.image(to)).run()
}

#[test]
fn copies_between_two_registries_with_the_same_digest() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let spec = ImageSpec::new(31)
        .gzip_layer(400_000)
        .layer(900_000)
        .gzip_layer(10);
    let fixture = write_oci_layout(&layout, &spec, "v1");
    push(&a, &layout, "src/app:v1").assert_success();

    let out = copy(&a, "src/app:v1", &b, "dst/app:v2", &[]).assert_success();
    let done = done_event(&out);
    assert_eq!(done["blobs_uploaded"], 4);
    let at_a = skopeo::inspect_raw_in(&a, "src/app:v1").unwrap();
    let at_b = skopeo::inspect_raw_in(&b, "dst/app:v2").unwrap();
    assert_eq!(at_a, at_b, "the destination holds the same manifest bytes");
    pull_with_skopeo_and_compare(&b, "dst/app:v2", &fixture);

    // Again: everything is there already.
    let again = done_event(&copy(&a, "src/app:v1", &b, "dst/app:v2", &[]).assert_success());
    assert_eq!(again["blobs_skipped"], 4);
    assert_eq!(again["bytes_uploaded"], 0);
}

/// Layers many times larger than the pipes between the source's downloads and the
/// target's uploads (TLS), several at once: the copy loop must keep hearing the
/// target's upload threads while a pipe is full (it once waited on the pipe while they
/// waited on it, and hung for good).
#[test]
fn copies_layers_far_larger_than_its_pipes_without_hanging() {
    let a = Registry::plain();
    let b = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut spec = ImageSpec::new(47);
    for _ in 0..4 {
        spec = spec.layer(24 << 20);
    }
    let fixture = write_oci_layout(&layout, &spec, "v1");
    push(&a, &layout, "src/big:v1").assert_success();

    let out = copy(&a, "src/big:v1", &b, "dst/big:v1", &["-j", "4"]).assert_success();
    assert_eq!(done_event(&out)["blobs_uploaded"], 5);
    pull_with_skopeo_and_compare(&b, "dst/big:v1", &fixture);
}

#[test]
fn a_copy_within_one_registry_mounts_instead_of_sending() {
    let a = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(32).layer(300_000).layer(20_000),
        "v1",
    );
    push(&a, &layout, "one/app:v1").assert_success();
    let done = done_event(&copy(&a, "one/app:v1", &a, "two/app:v1", &[]).assert_success());
    assert_eq!(done["blobs_mounted"], 3);
    assert_eq!(done["bytes_uploaded"], 0);
    pull_with_skopeo_and_compare(&a, "two/app:v1", &fixture);
}

#[test]
fn a_missing_source_image_fails_with_the_not_found_code() {
    let a = Registry::plain();
    let b = Registry::plain();
    let out = copy(&a, "nothing/here:v1", &b, "x/y:v1", &[]).assert_code(crate::common::NOT_FOUND);
    assert!(
        out.stderr_str().contains("MANIFEST_UNKNOWN"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn copies_across_tls_and_basic_auth() {
    // Each side its own credentials: the source's stored (as `tug login` or `docker login`
    // keeps them), the destination's from the flags, which go to no other registry.
    let a = Registry::tls_basic_auth("reader", "pw-source");
    let b = Registry::tls_basic_auth("copier", "pw-1234");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(33).gzip_layer(200_000), "v1");
    push(&a, &layout, "s/app:v1").assert_success();
    // Both registries trust the same private CA? Each has its own: concatenate them.
    let both = dir.path().join("cas.pem");
    let pem = format!("{}{}", a.ca_pem().unwrap(), b.ca_pem().unwrap());
    std::fs::write(&both, pem).unwrap();
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("reader:pw-source");
    let config = serde_json::json!({"auths": {a.host(): {"auth": auth}}});
    std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
    Tug::new()
        .env("DOCKER_CONFIG", &docker)
        .args(["copy", "-u", "copier", "--password-stdin", "--ca-file"])
        .arg(&both)
        .arg(a.image("s/app:v1"))
        .arg(b.image("d/app:v1"))
        .stdin("pw-1234\n")
        .run()
        .assert_success();
    pull_with_skopeo_and_compare(&b, "d/app:v1", &fixture);
}

/// Without flags a copy keeps the whole index, as crane, regctl and oras do: the
/// destination serves the same index digest and every child.
#[test]
fn a_copy_keeps_the_whole_index_by_default() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (_, children) = crate::common::multi_platform_layout(&layout);
    push(&a, &layout, "multi/app:v1").assert_success();
    copy(&a, "multi/app:v1", &b, "multi/copy:v1", &[]).assert_success();
    let digest = |bytes: Vec<u8>| tug_testkit::hashing::sha256_digest(&bytes);
    let at_a = digest(skopeo::inspect_raw_in(&a, "multi/app:v1").unwrap());
    let at_b = digest(skopeo::inspect_raw_in(&b, "multi/copy:v1").unwrap());
    assert_eq!(
        at_a, at_b,
        "the destination serves the source's index digest"
    );
    for child in &children {
        let m = skopeo::inspect_raw_in(&b, &format!("multi/copy@{child}")).unwrap();
        assert_eq!(&digest(m), child);
    }
    // Every blob of every platform is there: skopeo copies them all out.
    let out = dir.path().join("out");
    skopeo::copy_from_registry(
        &b,
        "multi/copy:v1",
        &format!("oci:{}:x", out.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap();
}

#[test]
fn all_platforms_copies_the_index_and_every_image() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (index, children) = crate::common::multi_platform_layout(&layout);
    push(&a, &layout, "multi/app:v1").assert_success();
    copy(
        &a,
        "multi/app:v1",
        &b,
        "multi/copy:v1",
        &["--all-platforms"],
    )
    .assert_success();
    assert_eq!(skopeo::inspect_raw_in(&b, "multi/copy:v1").unwrap(), index);
    for child in &children {
        skopeo::inspect_raw_in(&b, &format!("multi/copy@{child}")).unwrap();
    }
    // Without --all-platforms: the linux/arm64 image alone.
    copy(
        &a,
        "multi/app:v1",
        &b,
        "multi/arm:v1",
        &["--platform", "linux/arm64"],
    )
    .assert_success();
    let arm = skopeo::inspect_raw_in(&b, "multi/arm:v1").unwrap();
    assert_eq!(tug_testkit::hashing::sha256_digest(&arm), children[1]);
}

/// `--chunk-size` sets the size of a copy's upload chunks, as a push's (and the settings
/// line says where it came from).
#[test]
fn a_copy_sends_chunks_of_the_size_it_is_given() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(53).layer(3_500_000), "v1");
    push(&a, &layout, "src/chunks:v1").assert_success();

    let out = copy(
        &a,
        "src/chunks:v1",
        &b,
        "dst/chunks:v1",
        &["-v", "--chunk-size", "1MiB"],
    )
    .assert_success();
    let err = out.stderr_str();
    assert!(
        err.contains("chunk_size=1048576 (flag --chunk-size)"),
        "{err}"
    );
    let patches = err
        .lines()
        .filter(|l| l.contains("PATCH") && l.contains("dst/chunks/blobs/uploads/"))
        .count();
    assert!(
        patches >= 4,
        "3.5 MB in chunks of 1 MiB: {patches} PATCHes\n{err}"
    );
    pull_with_skopeo_and_compare(&b, "dst/chunks:v1", &fixture);
}
