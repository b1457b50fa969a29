//! Files other tools write: skopeo's `zstd:chunked` layers and plain layers labelled `+gzip`
//! pull and save into `docker save` tars that skopeo reads; `--compress` compresses Docker's
//! uncompressed layer type, leaves manifests it does not change byte for byte, and keeps
//! the form of those it rewrites.

use std::fs;
use std::path::Path;

use serde_json::Value;
use tug_testkit::fixtures::{
    docker_types_layout, gzip_labelled_plain_layout, pull_with_skopeo_and_check_diff_ids,
    skopeo_gzip_layout, skopeo_zstd_chunked_layout, tool_ordered_index, truncated_gzip_layout,
    DOCKER_LAYER_TAR, DOCKER_MANIFEST,
};
use tug_testkit::hashing::{sha256_digest, sha256_reader};
use tug_testkit::{skopeo, FixtureImage, ImageSpec, Registry, Tug, TugOutput};

use crate::common::hermetic;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// skopeo pushes the layout's `tag` to `registry` as `name_and_ref`, blobs and manifest as
/// they are.
fn skopeo_push(layout: &Path, tag: &str, registry: &Registry, name_and_ref: &str) {
    skopeo::copy_to_registry(
        &format!("oci:{}:{tag}", layout.display()),
        registry,
        name_and_ref,
        &["--preserve-digests"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// `tug ARGS…` in the world `dir` (see [`hermetic`]).
fn run_in(dir: &Path, args: &[&str]) -> TugOutput {
    hermetic(Tug::new(), dir).args(args).run()
}

/// `tug push --compress CODEC` in a world of its own (`dir`), with JSON progress.
fn push_compressed(dir: &Path, codec: &str, source: &Path, target: &str) -> TugOutput {
    hermetic(Tug::new(), dir)
        .args([
            "push",
            "--plain-http",
            "--progress",
            "json",
            "--compress",
            codec,
        ])
        .arg(source)
        .arg(target)
        .run()
}

/// The layer files of a `docker save` tar, by name, and its `manifest.json`.
fn docker_archive_entries(tar: &Path) -> (Value, Vec<(String, String)>) {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    let mut manifest = Value::Null;
    let mut layers = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            manifest = serde_json::from_reader(&mut entry).unwrap();
        } else if name.ends_with(".tar") {
            let (digest, _) = sha256_reader(&mut entry).unwrap();
            layers.push((name, digest));
        }
    }
    (manifest, layers)
}

/// `tar` is a `docker save` archive of `fixture`: every layer is the uncompressed tar its
/// diffID names (rehashed here), skopeo lists those diffIDs and copies the archive (checking
/// every digest on the way).
#[track_caller]
fn assert_docker_archive_of(tar: &Path, fixture: &FixtureImage) {
    let diff_ids: Vec<&str> = fixture.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let (manifest, layers) = docker_archive_entries(tar);
    let listed: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), diff_ids.len(), "{manifest}");
    for (name, diff_id) in listed.iter().zip(&diff_ids) {
        let (_, digest) = layers
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not in {}", tar.display()));
        assert_eq!(digest, diff_id, "layer {name} of {}", tar.display());
    }
    let reference = format!("docker-archive:{}", tar.display());
    let inspected: Value =
        serde_json::from_slice(&skopeo::run(["inspect", reference.as_str()]).unwrap()).unwrap();
    let skopeo_layers: Vec<&str> = inspected["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(skopeo_layers, diff_ids, "skopeo inspect {reference}");
    let copy = tar.with_extension("copied");
    skopeo::copy(
        &reference,
        &format!("oci:{}:x", copy.display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Pulls `name_and_ref` into a `docker save` tar (and with `--store`, into the store too),
/// then saves it again from the store with `tug save`; all must hold `fixture`'s layers.
fn pull_and_save_docker_archives(registry: &Registry, name_and_ref: &str, fixture: &FixtureImage) {
    let dir = tempfile::tempdir().unwrap();
    let pulled = dir.path().join("pulled.tar");
    let image = registry.image(name_and_ref);
    run_in(
        dir.path(),
        &["pull", &image, "-o", pulled.to_str().unwrap()],
    )
    .assert_success();
    assert_docker_archive_of(&pulled, fixture);
    let kept = dir.path().join("kept.tar");
    run_in(
        dir.path(),
        &["pull", &image, "-o", kept.to_str().unwrap(), "--store"],
    )
    .assert_success();
    assert_docker_archive_of(&kept, fixture);
    let saved = dir.path().join("saved.tar");
    run_in(dir.path(), &["save", &image, "-o", saved.to_str().unwrap()]).assert_success();
    assert_docker_archive_of(&saved, fixture);
}

#[test]
fn zstd_chunked_layers_pull_and_save_into_docker_archives() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("chunked");
    // Many files: zstd:chunked writes a frame per file (and one per file's header).
    let spec = ImageSpec::new(71)
        .with_layer(400_000, 60, Default::default())
        .with_layer(50_000, 5, Default::default());
    let (fixture, framing) = skopeo_zstd_chunked_layout(&layout, &spec, "v1");
    assert!(framing[0].frames > 60, "{framing:?}");
    skopeo_push(&layout, "v1", &registry, "chunked/app:v1");
    pull_and_save_docker_archives(&registry, "chunked/app:v1", &fixture);
}

#[test]
fn plain_layers_labelled_gzip_pull_and_save_into_docker_archives() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("labelled");
    let spec = ImageSpec::new(72).layer(300_000).layer(20_000);
    let fixture = gzip_labelled_plain_layout(&layout, &spec, "v1");
    assert!(fixture
        .layers
        .iter()
        .all(|l| l.digest == l.diff_id
            && l.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"));
    skopeo_push(&layout, "v1", &registry, "labelled/app:v1");
    // skopeo pushed it as it is: a plain layer under a gzip label.
    let raw = skopeo::inspect_raw_in(&registry, "labelled/app:v1").unwrap();
    assert_eq!(raw, fixture.manifest_bytes());
    pull_and_save_docker_archives(&registry, "labelled/app:v1", &fixture);
}

#[test]
fn a_layer_that_does_not_decompress_is_named_with_its_image() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("cut");
    let spec = ImageSpec::new(73).gzip_layer(200_000).layer(10_000);
    let (_, cut) = truncated_gzip_layout(&layout, &spec, "v1");
    skopeo_push(&layout, "v1", &registry, "cut/app:v1");
    let out_tar = dir.path().join("out.tar");
    let image = registry.image("cut/app:v1");
    for args in [
        vec!["pull", image.as_str(), "-o", out_tar.to_str().unwrap()],
        // Into the store as well: the blobs are fine, so the image lands there...
        vec![
            "pull",
            image.as_str(),
            "-o",
            out_tar.to_str().unwrap(),
            "--store",
        ],
        // ...and saving it from there fails the same way.
        vec!["save", image.as_str(), "-o", out_tar.to_str().unwrap()],
    ] {
        let out = run_in(dir.path(), &args).assert_code(crate::common::INVALID_INPUT);
        let err = out.stderr_str();
        assert!(
            err.contains(&cut) && err.contains(&image) && err.contains("gzip"),
            "{args:?}: {err}"
        );
        assert!(!out_tar.exists(), "no partial archive is left");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tug-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// The manifest `raw` with its layers' `mediaType`, `digest` and `size` values replaced by
/// those `pushed` names, and `renames` applied: `raw` in its own form with new values.
fn with_values_of(
    raw: &[u8],
    fixture: &FixtureImage,
    pushed: &Value,
    renames: &[(&str, &str)],
) -> String {
    let mut text = String::from_utf8(raw.to_vec()).unwrap();
    for (from, to) in renames {
        text = text.replace(from, to);
    }
    for (old, new) in fixture
        .layers
        .iter()
        .zip(pushed["layers"].as_array().unwrap())
    {
        text = text
            .replace(
                &format!("\"mediaType\":\"{}\"", old.media_type),
                &format!("\"mediaType\":\"{}\"", new["mediaType"].as_str().unwrap()),
            )
            .replace(
                &format!("\"size\":{},\"digest\":\"{}\"", old.size, old.digest),
                &format!(
                    "\"size\":{},\"digest\":\"{}\"",
                    new["size"],
                    new["digest"].as_str().unwrap()
                ),
            );
    }
    text
}

#[test]
fn docker_plain_layers_are_compressed_and_the_manifest_keeps_its_form() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("ctr");
    let spec = ImageSpec::new(74).text_layer(400_000).text_layer(100_000);
    let fixture = docker_types_layout(&layout, &spec, "v1");
    let raw_fixture = fixture.manifest_bytes();
    for (codec, manifest_type, layer_type, renames) in [
        ("gzip", DOCKER_MANIFEST, DOCKER_LAYER_TAR_GZIP, vec![]),
        (
            "zstd",
            OCI_MANIFEST,
            OCI_LAYER_TAR_ZSTD,
            vec![(DOCKER_MANIFEST, OCI_MANIFEST), (DOCKER_CONFIG, OCI_CONFIG)],
        ),
    ] {
        let name = format!("ctr/{codec}:v1");
        let out = push_compressed(
            &dir.path().join(format!("world-{codec}")),
            codec,
            &layout,
            &registry.image(&name),
        )
        .assert_success();
        let pulled = pull_with_skopeo_and_check_diff_ids(&registry, &name, &fixture);
        let m = &pulled.manifest_json;
        assert_eq!(m["mediaType"], manifest_type, "{codec}");
        for (layer, plain) in m["layers"].as_array().unwrap().iter().zip(&fixture.layers) {
            assert_eq!(layer["mediaType"], layer_type, "{codec}");
            assert!(
                layer["size"].as_u64().unwrap() < plain.size,
                "{codec}: compressed"
            );
        }
        assert_eq!(
            crate::common::done_event(&out)["digest"],
            pulled.manifest_digest
        );
        // Only the values that change are new: key order and form are skopeo's.
        assert_eq!(
            String::from_utf8(pulled.manifest.clone()).unwrap(),
            with_values_of(raw_fixture, &fixture, m, &renames),
            "{codec}"
        );
    }
    assert!(fixture
        .layers
        .iter()
        .all(|l| l.media_type == DOCKER_LAYER_TAR));
}

#[test]
fn nothing_to_compress_pushes_the_index_and_manifests_byte_for_byte() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("gz");
    let amd = skopeo_gzip_layout(&layout, &ImageSpec::new(75).layer(100_000), "amd");
    let arm = skopeo_gzip_layout(&layout, &ImageSpec::new(76).layer(80_000), "arm");
    let index = tool_ordered_index(&layout, &[(&amd, "amd64"), (&arm, "arm64")], "v1");
    for codec in ["gzip", "zstd"] {
        let name = format!("untouched/{codec}:v1");
        let out = push_compressed(
            &dir.path().join(format!("world-{codec}")),
            codec,
            &layout,
            &registry.image(&name),
        )
        .assert_success();
        let raw = skopeo::inspect_raw_in(&registry, &name).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(&index),
            "{codec}: the index"
        );
        assert_eq!(
            crate::common::done_event(&out)["digest"],
            sha256_digest(&index)
        );
        for child in [&amd, &arm] {
            let digest = child.manifest_digest.as_deref().unwrap();
            let raw = skopeo::inspect_raw_in(&registry, &format!("untouched/{codec}@{digest}"))
                .unwrap_or_else(|e| panic!("{codec}: {e}"));
            assert_eq!(raw, child.manifest_bytes(), "{codec}: child {digest}");
        }
    }
}

#[test]
fn an_index_names_its_one_rewritten_child_and_keeps_its_form() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("mixed");
    let plain = docker_types_layout(&layout, &ImageSpec::new(77).text_layer(200_000), "amd");
    let gz = skopeo_gzip_layout(&layout, &ImageSpec::new(78).layer(50_000), "arm");
    let index = tool_ordered_index(&layout, &[(&plain, "amd64"), (&gz, "arm64")], "v1");
    let index_text = String::from_utf8(index).unwrap();
    for (codec, child_type) in [("gzip", DOCKER_MANIFEST), ("zstd", OCI_MANIFEST)] {
        let name = format!("mixed/{codec}:v1");
        push_compressed(
            &dir.path().join(format!("world-{codec}")),
            codec,
            &layout,
            &registry.image(&name),
        )
        .assert_success();
        let raw = skopeo::inspect_raw_in(&registry, &name).unwrap();
        let pushed: Value = serde_json::from_slice(&raw).unwrap();
        let entries = pushed["manifests"].as_array().unwrap();
        let new = &entries[0];
        assert_ne!(new["digest"], plain.manifest_digest.as_deref().unwrap());
        let expected = index_text.replace(
            &format!(
                r#""mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":{}"#,
                plain.manifest_digest.as_deref().unwrap(),
                plain.manifest_bytes().len()
            ),
            &format!(
                r#""mediaType":"{child_type}","digest":{},"size":{}"#,
                new["digest"], new["size"]
            ),
        );
        assert_eq!(String::from_utf8(raw).unwrap(), expected, "{codec}");
        // The gzip child is the same manifest; skopeo copies every platform, checking
        // every digest.
        assert_eq!(entries[1]["digest"], gz.manifest_digest.as_deref().unwrap());
        let copy = dir.path().join(format!("copy-{codec}"));
        skopeo::copy_from_registry(
            &registry,
            &name,
            &format!("oci:{}:x", copy.display()),
            &["--all"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
