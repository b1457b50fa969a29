//! `tug push` of every supported file format to a real docker-registry, checked by skopeo.

use crate::common::{done_event, push, push_with, tug_for};
use tug_testkit::fixtures::{
    classic_docker_save, docker25_save, ggcr_tarball, pull_with_skopeo_and_compare,
    pull_with_skopeo_and_compare_layers, skopeo_docker_archive, skopeo_oci_archive,
    write_oci_layout,
};
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, ImageSpec, Registry};

fn spec(seed: u64) -> ImageSpec {
    ImageSpec::new(seed)
        .layer(300_000)
        .gzip_layer(200_000)
        .layer(1_500_000)
}

/// Classic `docker save` tars hold uncompressed layers only.
fn plain_spec(seed: u64) -> ImageSpec {
    ImageSpec::new(seed)
        .layer(300_000)
        .layer(200_000)
        .layer(1_500_000)
}

#[test]
fn oci_layout_directory_to_plain_http_registry() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &spec(1), "v1");
    let out = push(&registry, &layout, "oci/dir:v1").assert_success();
    let pushed = pull_with_skopeo_and_compare(&registry, "oci/dir:v1", &fixture);
    assert!(
        out.stdout_str().contains(&pushed.manifest_digest),
        "tug prints the manifest digest: {}",
        out.stdout_str()
    );
    // The loopback registry speaks plain HTTP: tug found that out by itself.
    assert!(
        out.stderr_str().contains("plain HTTP"),
        "{}",
        out.stderr_str()
    );
}

/// crane's default `pull` format (also kaniko's and ko's tarballs): a `docker save` whose
/// layers are gzip blobs named `<blob hex>.tar.gz`. Their digests are read from their bytes
/// and they are pushed as they are.
#[test]
fn crane_tarball_with_gzip_layers() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("crane.tar");
    let spec = ImageSpec::new(21).gzip_layer(300_000).gzip_layer(200_000);
    let fixture = ggcr_tarball(&tar, &spec, "example/crane:v1");
    push(&registry, &tar, "crane/tarball:v1").assert_success();
    pull_with_skopeo_and_compare_layers(&registry, "crane/tarball:v1", &fixture);
}

/// A compressed layer's digest comes from its own bytes, so its tar is checked against the
/// config's diffID before anything is sent or stored (skopeo refuses these too): a layer
/// cut short, and layers listed in the wrong order, fail naming the tar entry.
#[test]
fn a_crane_tarball_whose_layer_is_not_its_diff_id_is_refused_before_anything_is_sent() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("crane.tar");
    let spec = ImageSpec::new(22).gzip_layer(300_000).gzip_layer(200_000);
    let fixture = ggcr_tarball(&good, &spec, "example/crane:v1");
    let first = format!(
        "{}.tar.gz",
        fixture.layers[0].digest.trim_start_matches("sha256:")
    );

    let cut = dir.path().join("cut.tar");
    crate::common::rewrite_tar(&good, &cut, |name, bytes| match name == first {
        true => bytes[..bytes.len() / 2].to_vec(),
        false => bytes,
    });
    let swapped = dir.path().join("swapped.tar");
    crate::common::rewrite_tar(&good, &swapped, |name, bytes| match name {
        "manifest.json" => {
            let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            m[0]["Layers"].as_array_mut().unwrap().reverse();
            serde_json::to_vec(&m).unwrap()
        }
        _ => bytes,
    });
    for (tar, what) in [
        (&cut, "does not decompress as gzip"),
        (&swapped, "uncompresses to"),
    ] {
        let out = push(&registry, tar, "crane/bad:v1").assert_code(crate::common::INVALID_INPUT);
        let err = out.stderr_str();
        assert!(err.contains(".tar.gz\"") && err.contains(what), "{err}");
        assert!(!err.contains("uploading"), "nothing is sent: {err}");
        let store = dir.path().join("store");
        let loaded = tug_testkit::Tug::new()
            .env("TUG_STORE", &store)
            .arg("load")
            .arg(tar)
            .run();
        loaded.assert_code(crate::common::INVALID_INPUT);
        let index = std::fs::read_to_string(store.join("index.json")).unwrap_or_default();
        assert!(!index.contains("crane"), "nothing is stored: {index}");
    }
    assert!(skopeo::inspect_raw_in(&registry, "crane/bad:v1").is_err());
}

/// The diffID check of compressed layers: a layer of zeros that inflates a thousandfold is
/// a layer, not a bomb (nothing is written while it is checked), and one tar entry listed
/// for two different diffIDs is refused, as skopeo refuses it.
#[test]
fn a_highly_compressible_layer_passes_and_one_entry_cannot_have_two_diff_ids() {
    use std::io::Write;
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    // A tar of one 40 MB file of zeros, gzipped to some 40 KB.
    let mut layer = tar::Builder::new(Vec::new());
    let zeros = vec![0u8; 40 << 20];
    let mut header = tar::Header::new_gnu();
    header.set_size(zeros.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "zeros.bin", zeros.as_slice())
        .unwrap();
    let plain = layer.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    assert!(
        gz.len() * 200 + (16 << 20) < plain.len(),
        "past the pull's cap"
    );
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&plain)]}}))
    .unwrap();
    let config_name = sha256_digest(&config);
    let layer_name = format!(
        "{}.tar.gz",
        sha256_digest(&gz).trim_start_matches("sha256:")
    );
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": config_name,
        "RepoTags": ["zeros:1"], "Layers": [layer_name]}]))
    .unwrap();
    let tarball = dir.path().join("zeros.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
    for (name, bytes) in [
        (&config_name, &config),
        (&layer_name, &gz),
        (&"manifest.json".to_owned(), &manifest),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    out.finish().unwrap();
    drop(out);
    push(&registry, &tarball, "zeros/app:v1").assert_success();

    let good = dir.path().join("crane.tar");
    let spec = ImageSpec::new(23).gzip_layer(30_000).gzip_layer(20_000);
    let fixture = ggcr_tarball(&good, &spec, "example/crane:v1");
    let first = format!(
        "{}.tar.gz",
        fixture.layers[0].digest.trim_start_matches("sha256:")
    );
    let twice = dir.path().join("twice.tar");
    crate::common::rewrite_tar(&good, &twice, |name, bytes| match name {
        "manifest.json" => {
            let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            m[0]["Layers"] = serde_json::json!([first, first]);
            serde_json::to_vec(&m).unwrap()
        }
        _ => bytes,
    });
    let out = push(&registry, &twice, "twice/app:v1").assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str()
            .contains("is listed for two different diffIDs"),
        "{}",
        out.stderr_str()
    );
}

/// `docker save app | tug push - TARGET`: a stream (standard input, or a pipe named as a
/// file) is copied once into a temporary file, decompressed if it is gzip, and pushed; `tug
/// copy -` and `tug load -` take it too. Standard input cannot also carry the password.
#[test]
fn a_docker_save_on_standard_input_is_pushed() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("d25.tar");
    let fixture = docker25_save(&tar, &spec(9), "streamed/app:v1");
    let bytes = std::fs::read(&tar).unwrap();
    let gzipped = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap()
    };
    for (name, input) in [("plain", bytes.clone()), ("gzip", gzipped)] {
        let target = registry.image(&format!("streamed/{name}:v1"));
        let out = tug_testkit::Tug::new()
            .args(["push", "--progress", "none", "-", &target])
            .stdin(input)
            .run()
            .assert_success();
        assert!(
            out.stderr_str().contains("standard input is a stream"),
            "{}",
            out.stderr_str()
        );
        pull_with_skopeo_and_compare(&registry, &format!("streamed/{name}:v1"), &fixture);
    }
    let target = registry.image("streamed/copy:v1");
    tug_testkit::Tug::new()
        .args(["copy", "-", &target])
        .stdin(bytes.clone())
        .run()
        .assert_success();
    pull_with_skopeo_and_compare(&registry, "streamed/copy:v1", &fixture);
    let store = dir.path().join("store");
    let loaded = tug_testkit::Tug::new()
        .env("TUG_STORE", &store)
        .args(["load", "-"])
        .stdin(bytes.clone())
        .run()
        .assert_success();
    assert!(
        loaded.stderr_str().contains("streamed/app:v1"),
        "{}",
        loaded.stderr_str()
    );

    // A file given with `<` is read where it is, not copied.
    let redirected = tug_testkit::Tug::new()
        .args(["push", "--progress", "none", "-", &target])
        .command()
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(redirected.status.success(), "{redirected:?}");
    let said = String::from_utf8_lossy(&redirected.stderr);
    assert!(!said.contains("is a stream"), "{said}");
    // Standard input by another name is standard input.
    tug_testkit::Tug::new()
        .args([
            "push",
            "-u",
            "someone",
            "--password-stdin",
            "/dev/stdin",
            &target,
        ])
        .stdin(bytes.clone())
        .run()
        .assert_code(2);
    let both = tug_testkit::Tug::new()
        .args(["push", "-u", "someone", "--password-stdin", "-", &target])
        .stdin(bytes)
        .run()
        .assert_code(2);
    assert!(
        both.stderr_str()
            .contains("standard input cannot be both the image (-) and the password"),
        "{}",
        both.stderr_str()
    );
}

#[test]
fn skopeo_docker_archive_to_tls_registry_with_private_ca() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &plain_spec(2), "v1");
    let tar = dir.path().join("image.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/app:v1");
    push(&registry, &tar, "docker/archive:v1").assert_success();
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "docker/archive:v1", &fixture);
    assert_eq!(
        pulled.manifest_json["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[test]
fn skopeo_oci_archive_to_tls_registry_with_basic_auth() {
    let registry = Registry::tls_basic_auth("pusher", "s3cret-pass");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // Compressed layers, which skopeo keeps as they are in the archive.
    let gzip = ImageSpec::new(3).gzip_layer(300_000).gzip_layer(200_000);
    let fixture = write_oci_layout(&layout, &gzip, "v1");
    let tar = dir.path().join("image.oci.tar");
    skopeo_oci_archive(&layout, "v1", &tar);
    let out = push(
        &registry,
        format!("oci-archive:{}", tar.display()),
        "oci/archive:v1",
    );
    let out = out.assert_success();
    assert!(!out.stdout_str().contains("s3cret") && !out.stderr_str().contains("s3cret"));
    // skopeo compressed the layers while writing the archive: the registry must hold the
    // archive's manifest byte for byte, and blobs skopeo can fetch and verify.
    let archived = skopeo::inspect_raw(&format!("oci-archive:{}", tar.display()), skopeo::NO_ARGS);
    let pushed = skopeo::inspect_raw_in(&registry, "oci/archive:v1").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&pushed),
        String::from_utf8_lossy(&archived.unwrap())
    );
    pull_with_skopeo_and_compare_layers(&registry, "oci/archive:v1", &fixture);
}

#[test]
fn classic_docker_save_with_symlinked_duplicate_layer() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("classic.tar");
    let fixture = classic_docker_save(&tar, &plain_spec(4).repeat_layer(0), "classic/app:v1");
    assert_eq!(fixture.layers.len(), 4, "the fixture repeats a layer");
    push(&registry, &tar, "classic/app:v1").assert_success();
    let pulled = pull_with_skopeo_and_compare_layers(&registry, "classic/app:v1", &fixture);
    let layers = pulled.manifest_json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    assert_eq!(layers[0]["digest"], layers[3]["digest"]);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
}

#[test]
fn docker_25_save_keeps_its_manifest() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("d25.tar");
    let fixture = docker25_save(&tar, &spec(5), "modern/app:v1");
    push(&registry, &tar, "modern/app:v1").assert_success();
    pull_with_skopeo_and_compare(&registry, "modern/app:v1", &fixture);
}

#[test]
fn chunked_uploads_reach_a_real_registry_intact() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &spec(6), "v1");
    let small = [
        "--monolithic-max",
        "100000",
        "--chunk-size",
        "65536",
        "-j",
        "2",
    ];
    push_with(&registry, &layout, "chunked/app:v1", &small).assert_success();
    pull_with_skopeo_and_compare(&registry, "chunked/app:v1", &fixture);
}

#[test]
fn a_second_push_uploads_no_blob_bytes() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &spec(7), "v1");
    let first =
        push_with(&registry, &layout, "again/app:v1", &["--progress", "json"]).assert_success();
    let first = done_event(&first);
    assert_eq!(first["blobs_uploaded"], 4);
    let second =
        push_with(&registry, &layout, "again/app:v2", &["--progress", "json"]).assert_success();
    let second = done_event(&second);
    assert_eq!(second["blobs_uploaded"], 0);
    assert_eq!(second["bytes_uploaded"], 0);
    assert_eq!(second["blobs_skipped"], 4);
    pull_with_skopeo_and_compare(&registry, "again/app:v2", &fixture);
}

#[test]
fn dry_run_lists_the_plan_and_uploads_nothing() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &spec(8), "v1");
    let out = push_with(&registry, &layout, "dry/app:v1", &["--dry-run"]).assert_success();
    let text = out.stdout_str();
    assert!(text.contains("4 of 4 blobs to upload"), "{text}");
    assert!(text.contains("layer 3/3"), "{text}");
    assert!(
        skopeo::inspect_raw_in(&registry, "dry/app:v1").is_err(),
        "nothing was tagged"
    );
}

#[test]
fn wrong_or_missing_credentials_exit_with_the_auth_code() {
    let registry = Registry::tls_basic_auth("pusher", "right");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(9).layer(1000), "v1");
    let ca = registry.ca_file().unwrap();
    let target = registry.image("auth/app:v1");
    let out = tug_for(&registry)
        .env("TUG_PASSWORD", "wrong")
        .args(["--progress", "plain"])
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_code(crate::common::AUTH);
    // Whose credentials were rejected is said (the user, no secret).
    let user = registry.credentials().unwrap().0;
    assert!(
        out.stderr_str().contains("rejected the credentials")
            && out.stderr_str().contains(&format!("of user \"{user}\"")),
        "{}",
        out.stderr_str()
    );
    assert!(!out.stderr_str().contains("wrong"));
    let out = tug_testkit::Tug::new()
        .env_remove("TUG_USERNAME")
        .env_remove("TUG_PASSWORD")
        .arg("push")
        .arg("--ca-file")
        .arg(ca)
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_code(crate::common::AUTH);
    assert!(
        out.stderr_str().contains("requires authentication"),
        "{}",
        out.stderr_str()
    );
    // --password-stdin works too.
    tug_testkit::Tug::new()
        .env_remove("TUG_PASSWORD")
        .args(["push", "-u", "pusher", "--password-stdin", "--ca-file"])
        .arg(ca)
        .arg(&layout)
        .arg(&target)
        .stdin("right\n")
        .run()
        .assert_success();
}

#[test]
fn tls_is_verified_unless_told_otherwise() {
    let registry = Registry::tls();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(10).layer(1000), "v1");
    let target = registry.image("tls/app:v1");
    let out = tug_testkit::Tug::new()
        .args(["push", "--retries", "1"])
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_code(crate::common::REGISTRY);
    assert!(
        out.stderr_str().to_lowercase().contains("certificate"),
        "{}",
        out.stderr_str()
    );
    tug_testkit::Tug::new()
        .args(["push", "--insecure"])
        .arg(&layout)
        .arg(&target)
        .run()
        .assert_success();
}

#[test]
fn inspect_describes_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("classic.tar");
    let fixture = classic_docker_save(&tar, &plain_spec(11), "inspect/app:v1");
    let out = tug_testkit::Tug::new()
        .arg("inspect")
        .arg(&tar)
        .run()
        .assert_success();
    let text = out.stdout_str();
    assert!(text.contains("docker-archive"), "{text}");
    assert!(text.contains("inspect/app:v1"), "{text}");
    for layer in &fixture.layers {
        assert!(text.contains(&layer.digest), "{text}");
    }
    let json = tug_testkit::Tug::new()
        .args(["inspect", "--json"])
        .arg(&tar)
        .run()
        .assert_success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout_str()).unwrap();
    assert_eq!(v["images"][0]["layers"].as_array().unwrap().len(), 3);
}

#[test]
fn dry_run_lists_a_duplicated_layer_once() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(14)
            .layer(100_000)
            .layer(50_000)
            .repeat_layer(0),
        "v1",
    );
    let out = push_with(&registry, &layout, "dry/dup:v1", &["--dry-run"]).assert_success();
    let text = out.stdout_str();
    let repeated = &fixture.layers[0].digest;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(repeated.as_str()))
        .collect();
    assert_eq!(lines.len(), 1, "the repeated layer is listed once:\n{text}");
    assert!(lines[0].contains("(also layer 3/3)"), "{text}");
    assert!(text.contains("3 of 3 blobs to upload"), "{text}");
}

#[test]
fn two_tags_on_one_manifest_push_without_choosing() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // skopeo tags the image again in its layout: two index.json entries, one manifest.
    let fixture = write_oci_layout(&layout, &spec(15), "v1");
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("oci:{}:latest", layout.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    assert_eq!(entries[0]["digest"], entries[1]["digest"]);
    push(&registry, &layout, "tags/app:v1").assert_success();
    pull_with_skopeo_and_compare(&registry, "tags/app:v1", &fixture);
}
