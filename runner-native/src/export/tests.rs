use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};
use tug_core::Digest;
use tug_testkit::fixtures::{write_oci_layout, FixtureImage, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use tug_testkit::{skopeo, ImageSpec};

use super::*;
use crate::store::tests::{digest, load_fixture, sha256_of_file};
use crate::store::Store;

const ZSTD_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

struct Env {
    dir: tempfile::TempDir,
    store: Store,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        Env { dir, store }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `spec` as a fixture layout and stores it as `name`.
    fn image(&self, spec: &ImageSpec, name: &str) -> (FixtureImage, ExportImage) {
        let src = self.path("src");
        let fixture = write_oci_layout(&src, spec, "x");
        let d = load_fixture(&self.store, &src, &fixture, name);
        (
            fixture,
            ExportImage::new(Some(name.to_owned()), d, OCI_MANIFEST),
        )
    }

    /// Stores JSON bytes as a blob and returns its digest and size.
    fn put_json(&self, value: &Value) -> (Digest, u64) {
        let bytes = serde_json::to_vec(value).unwrap();
        let d = Digest::sha256_of(&bytes);
        self.store.put_blob_bytes(&d, &bytes).unwrap();
        (d, bytes.len() as u64)
    }

    /// Files in the test directory other than the store and the fixture source.
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "store" && n != "src")
            .collect();
        names.sort();
        names
    }
}

fn inspect_raw(reference: &str) -> Vec<u8> {
    skopeo::inspect_raw(reference, skopeo::NO_ARGS).unwrap_or_else(|e| panic!("{e}"))
}

fn inspect(reference: &str) -> Value {
    let out = skopeo::run(["inspect", reference]).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&out).unwrap()
}

fn diff_ids(f: &FixtureImage) -> Vec<String> {
    f.layers.iter().map(|l| l.diff_id.clone()).collect()
}

/// Copies `src` into a fresh OCI layout with skopeo (which verifies every blob it reads)
/// and returns the layer digests of the copy's manifest.
fn skopeo_copy_layer_digests(env: &Env, src: &str, extra: &[&str]) -> Vec<String> {
    let other = env.path(&format!("copy-{}", env.leftovers().len()));
    skopeo::copy(src, &format!("oci:{}:x", other.display()), extra)
        .unwrap_or_else(|e| panic!("{e}"));
    // Read the copy's manifest from the layout itself: skopeo 1.9 keeps the Docker schema 2
    // manifest it made from an archive, and its oci: transport then cannot find it by tag.
    let index: Value =
        serde_json::from_slice(&fs::read(other.join("index.json")).unwrap()).unwrap();
    let manifest_digest = digest(index["manifests"][0]["digest"].as_str().unwrap());
    let manifest: Value = serde_json::from_slice(
        &fs::read(other.join("blobs/sha256").join(manifest_digest.hex())).unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let out = layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    fs::remove_dir_all(&other).unwrap();
    out
}

#[test]
fn infer_format_rules() {
    let dir = tempfile::tempdir().unwrap();
    let f = |p: &str| infer_format(Path::new(p), None);
    assert_eq!(f("image.tar"), Ok(Format::DockerArchive));
    assert_eq!(f("out/IMAGE.TAR"), Ok(Format::DockerArchive));
    assert_eq!(f("image.docker.tar"), Ok(Format::DockerArchive));
    assert_eq!(f("image.oci.tar"), Ok(Format::OciArchive));
    assert_eq!(f("image.oci-archive"), Ok(Format::OciArchive));
    assert_eq!(f("image.oci-archive.tar"), Ok(Format::OciArchive));
    assert_eq!(f("layout/"), Ok(Format::Oci));
    assert_eq!(f("layout"), Ok(Format::Oci));
    assert_eq!(f("./some/dir/image"), Ok(Format::Oci));
    assert_eq!(f(".hidden"), Ok(Format::Oci));
    assert_eq!(f("."), Ok(Format::Oci));
    assert!(f("image.tar.gz").unwrap_err().contains("--format"));
    assert!(f("image.zip").unwrap_err().contains("--format"));
    assert!(f("app.v1").is_err());
    // An existing directory is a layout whatever its name.
    let odd = dir.path().join("odd.tar");
    fs::create_dir(&odd).unwrap();
    assert_eq!(infer_format(&odd, None), Ok(Format::Oci));
    // Explicit wins.
    assert_eq!(
        infer_format(Path::new("x.zip"), Some(Format::OciArchive)),
        Ok(Format::OciArchive)
    );
    assert_eq!("oci-archive".parse::<Format>(), Ok(Format::OciArchive));
    assert_eq!(Format::DockerArchive.to_string(), "docker-archive");
    assert!("tar".parse::<Format>().is_err());
}

#[test]
fn names_split_into_repo_and_tag() {
    assert_eq!(
        repo_and_tag("127.0.0.1:5000/team/app:v1"),
        Some(("127.0.0.1:5000/team/app", "v1"))
    );
    assert_eq!(
        repo_and_tag("127.0.0.1:5000/team/app"),
        Some(("127.0.0.1:5000/team/app", "latest"))
    );
    assert_eq!(repo_and_tag("app"), Some(("app", "latest")));
    assert_eq!(repo_and_tag("app@sha256:abc"), None);
}

#[test]
fn oci_layout_is_read_by_skopeo_and_shares_blobs_with_the_store() {
    let env = Env::new();
    let (app, app_img) = env.image(
        &ImageSpec::new(11).layer(30_000).gzip_layer(20_000),
        "127.0.0.1:5000/team/app:v1",
    );
    let out = env.path("layout");
    let report = export(
        &env.store,
        std::slice::from_ref(&app_img),
        &out,
        Format::Oci,
    )
    .unwrap();
    assert_eq!(report.images, 1);
    assert_eq!(report.blobs, 4);
    assert_eq!(
        report.bytes,
        app.total_blob_bytes() + app.manifest_bytes().len() as u64
    );

    let reference = format!("oci:{}:v1", out.display());
    assert_eq!(inspect_raw(&reference), app.manifest_bytes());
    let layers = skopeo_copy_layer_digests(&env, &reference, &["--preserve-digests"]);
    assert_eq!(layers, app.layer_digests());

    // Same filesystem: hard links.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(report.linked, 4);
        let layer = digest(&app.layers[0].digest);
        let a = fs::metadata(env.store.blob_path(&layer)).unwrap();
        let b = fs::metadata(out.join("blobs/sha256").join(layer.hex())).unwrap();
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    }

    // index.json: the tag as ref.name, the full name for containerd.
    let index: Value = serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "127.0.0.1:5000/team/app:v1"
    );

    // A second image goes into the same layout; the same tag again replaces its entry.
    let (db, db_img) = env.image(&ImageSpec::new(12).layer(10_000), "db:v2");
    export(&env.store, &[db_img], &out, Format::Oci).unwrap();
    assert_eq!(
        inspect_raw(&format!("oci:{}:v2", out.display())),
        db.manifest_bytes()
    );
    assert_eq!(inspect_raw(&reference), app.manifest_bytes());
    let (app2, app2_img) = env.image(&ImageSpec::new(13).layer(5_000), "other/app:v1");
    export(&env.store, &[app2_img], &out, Format::Oci).unwrap();
    assert_eq!(inspect_raw(&reference), app2.manifest_bytes());
    let index: Value = serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn oci_layout_falls_back_to_copies_and_refuses_foreign_directories() {
    let env = Env::new();
    let (app, img) = env.image(&ImageSpec::new(14).gzip_layer(10_000), "app:v1");
    // A directory that is not a layout is left alone.
    let foreign = env.path("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes"), "x").unwrap();
    let err = export(
        &env.store,
        std::slice::from_ref(&img),
        &foreign,
        Format::Oci,
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::Output(_)), "{err}");
    assert!(!foreign.join("index.json").exists());

    // Blobs copied (as across filesystems); one already in the output with a wrong size
    // (another tool's partial file) is replaced.
    let out = env.path("layout");
    fs::create_dir_all(out.join("blobs/sha256")).unwrap();
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer = digest(&app.layers[0].digest);
    fs::write(out.join("blobs/sha256").join(layer.hex()), "short").unwrap();
    let report = run(
        &env.store,
        &[img],
        &out,
        Format::Oci,
        Hooks::default(),
        false,
    )
    .unwrap();
    assert_eq!(report.linked, 0);
    assert_eq!(report.blobs, 3);
    for d in app.blob_digests() {
        let path = out.join("blobs/sha256").join(digest(&d).hex());
        assert_eq!(sha256_of_file(&path), digest(&d));
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(
                fs::metadata(&path).unwrap().nlink(),
                1,
                "a copy, not a link"
            );
        }
    }
    let stray: Vec<_> = fs::read_dir(out.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(
        sha256_of_file(&out.join("blobs/sha256").join(layer.hex())),
        layer
    );
    assert_eq!(
        inspect_raw(&format!("oci:{}:v1", out.display())),
        app.manifest_bytes()
    );
}

#[test]
fn oci_archive_is_read_by_skopeo() {
    let env = Env::new();
    let (app, img) = env.image(
        &ImageSpec::new(15).layer(40_000).gzip_layer(30_000),
        "registry.example/team/app:v3",
    );
    let out = env.path("app.oci.tar");
    assert_eq!(infer_format(&out, None), Ok(Format::OciArchive));
    let mut calls = 0u32;
    let mut last = (0, 0);
    let mut progress = |done, total| {
        calls += 1;
        last = (done, total);
    };
    let report = export_with(
        &env.store,
        &[img],
        &out,
        Format::OciArchive,
        Hooks {
            progress: Some(&mut progress),
            cancel: None,
        },
    )
    .unwrap();
    let total = app.total_blob_bytes() + app.manifest_bytes().len() as u64;
    assert!(calls > 0);
    assert_eq!(last, (total, total));
    assert_eq!(report.bytes, total);
    let reference = format!("oci-archive:{}:v3", out.display());
    assert_eq!(inspect_raw(&reference), app.manifest_bytes());
    let layers = skopeo_copy_layer_digests(&env, &reference, &["--preserve-digests"]);
    assert_eq!(layers, app.layer_digests());
    assert_eq!(env.leftovers(), vec!["app.oci.tar".to_owned()]);
}

#[test]
fn docker_archive_from_plain_and_gzip_layers_is_read_by_skopeo() {
    let env = Env::new();
    let (app, img) = env.image(
        &ImageSpec::new(16)
            .layer(40_000)
            .gzip_layer(300_000)
            .repeat_layer(0)
            .gzip_layer(1000),
        "127.0.0.1:5000/team/app:v1",
    );
    let out = env.path("app.tar");
    assert_eq!(infer_format(&out, None), Ok(Format::DockerArchive));
    let report = export(&env.store, &[img], &out, Format::DockerArchive).unwrap();
    assert_eq!(report.blobs, 4, "config + 3 distinct layers");

    let inspected = inspect(&format!("docker-archive:{}", out.display()));
    assert_eq!(
        inspected["RepoTags"],
        json!([]),
        "skopeo lists no tags for an archive: {inspected}"
    );
    let layers: Vec<String> = inspected["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(layers, diff_ids(&app));

    // skopeo reads every layer (verifying its digest) into an OCI layout.
    let copied = skopeo_copy_layer_digests(
        &env,
        &format!(
            "docker-archive:{}:127.0.0.1:5000/team/app:v1",
            out.display()
        ),
        &["--preserve-digests"],
    );
    assert_eq!(copied, diff_ids(&app));

    // The files, as docker load expects them.
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let config_hex = digest(&app.config_digest).hex().to_owned();
    let mut expected: Vec<String> = vec![
        format!("{config_hex}.json"),
        "manifest.json".into(),
        "repositories".into(),
    ];
    for d in app.layers.iter().map(|l| &l.diff_id) {
        let name = format!("{}.tar", digest(d).hex());
        if !expected.contains(&name) {
            expected.push(name);
        }
    }
    expected.sort();
    assert_eq!(names, expected);
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    let mut manifest = Value::Null;
    let mut repositories = Value::Null;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "manifest.json" => manifest = serde_json::from_reader(entry).unwrap(),
            "repositories" => repositories = serde_json::from_reader(entry).unwrap(),
            _ => {}
        }
    }
    assert_eq!(
        manifest,
        json!([{
            "Config": format!("{config_hex}.json"),
            "RepoTags": ["127.0.0.1:5000/team/app:v1"],
            "Layers": app.layers.iter().map(|l| format!("{}.tar", digest(&l.diff_id).hex())).collect::<Vec<_>>(),
        }])
    );
    assert_eq!(
        repositories,
        json!({"127.0.0.1:5000/team/app": {"v1": config_hex}})
    );
    assert_eq!(env.leftovers(), vec!["app.tar".to_owned()]);
}

/// A zstd layer (two frames) made from a fixture's plain layer: same diff_id, same config.
#[test]
fn docker_archive_decompresses_zstd_layers() {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let env = Env::new();
    let (plain, _) = env.image(&ImageSpec::new(17).layer(200_000), "plain:1");
    let tar_bytes = fs::read(env.store.blob_path(&digest(&plain.layers[0].digest))).unwrap();
    let half = tar_bytes.len() / 2;
    let mut zst = compress_to_vec(&tar_bytes[..half], CompressionLevel::Fastest);
    zst.extend(compress_to_vec(
        &tar_bytes[half..],
        CompressionLevel::Fastest,
    ));
    let zst_d = Digest::sha256_of(&zst);
    let mut w = env.store.blob_writer(&zst_d).unwrap();
    w.write_at(0, &zst).unwrap();
    w.commit().unwrap();
    let (manifest_d, manifest_size) = env.put_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": plain.config_digest, "size": plain.config.len()},
        "layers": [{"mediaType": ZSTD_LAYER, "digest": zst_d.to_string(), "size": zst.len()}],
    }));
    env.store
        .tag("zst:1", OCI_MANIFEST, &manifest_d, manifest_size)
        .unwrap();
    let img = ExportImage::from(&env.store.resolve("zst:1").unwrap().unwrap());
    let out = env.path("zst.tar");
    export(&env.store, &[img], &out, Format::DockerArchive).unwrap();
    let copied = skopeo_copy_layer_digests(
        &env,
        &format!("docker-archive:{}", out.display()),
        &["--preserve-digests"],
    );
    assert_eq!(copied, diff_ids(&plain));
}

#[test]
fn docker_archive_with_several_images() {
    let env = Env::new();
    let (a, a_img) = env.image(&ImageSpec::new(18).gzip_layer(5000), "a/app:1");
    let (b, b_img) = env.image(&ImageSpec::new(19).layer(5000), "b");
    let out = env.path("two.tar");
    export(&env.store, &[a_img, b_img], &out, Format::DockerArchive).unwrap();
    let a_in = inspect(&format!("docker-archive:{}:a/app:1", out.display()));
    assert_eq!(a_in["Layers"], json!(diff_ids(&a)));
    let b_in = inspect(&format!("docker-archive:{}:b:latest", out.display()));
    assert_eq!(b_in["Layers"], json!(diff_ids(&b)));
}

#[test]
fn a_diff_id_mismatch_is_an_error_naming_the_layer_and_leaves_no_output() {
    let env = Env::new();
    let (app, _) = env.image(&ImageSpec::new(20).gzip_layer(8000), "app:1");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let (config_d, config_size) = env.put_json(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [wrong]},
    }));
    let layer = &app.layers[0];
    let (manifest_d, _) = env.put_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_d.to_string(), "size": config_size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
    }));
    let out = env.path("bad.tar");
    // An older file at OUTPUT is left as it was.
    fs::write(&out, "previous").unwrap();
    let img = ExportImage::new(Some("bad:1".into()), manifest_d, OCI_MANIFEST);
    let err = export(&env.store, &[img], &out, Format::DockerArchive).unwrap_err();
    match &err {
        ExportError::DiffIdMismatch(m) => {
            assert_eq!(m.index, 0);
            assert_eq!(m.digest.to_string(), layer.digest);
            assert_eq!(m.expected.to_string(), wrong);
            assert_eq!(m.actual.to_string(), layer.diff_id);
            assert_eq!(m.image, "bad:1");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&layer.digest), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"previous");
    assert_eq!(env.leftovers(), vec!["bad.tar".to_owned()]);
}

#[test]
fn a_missing_blob_fails_before_any_output_in_every_format() {
    let env = Env::new();
    let (app, img) = env.image(&ImageSpec::new(21).layer(4000).gzip_layer(4000), "app:1");
    let missing = digest(&app.layers[1].digest);
    fs::remove_file(env.store.blob_path(&missing)).unwrap();
    for (name, format) in [
        ("out-dir", Format::Oci),
        ("out.oci.tar", Format::OciArchive),
        ("out.tar", Format::DockerArchive),
    ] {
        let out = env.path(name);
        let err = export(&env.store, std::slice::from_ref(&img), &out, format).unwrap_err();
        match &err {
            ExportError::MissingBlob { what, digest, .. } => {
                assert_eq!(digest, &missing);
                assert_eq!(what, "manifest layer 1");
            }
            other => panic!("{format}: {other}"),
        }
        assert!(!out.exists(), "{format}: {} exists", out.display());
    }
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    // A store blob whose size differs from the manifest's is caught too.
    let layer0 = digest(&app.layers[0].digest);
    fs::write(env.store.blob_path(&layer0), "truncated").unwrap();
    let err = export(
        &env.store,
        &[img],
        &env.path("x.tar"),
        Format::DockerArchive,
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::SizeMismatch { .. }), "{err}");
}

#[test]
fn cancelling_removes_what_was_started() {
    let env = Env::new();
    let (_, img) = env.image(&ImageSpec::new(22).gzip_layer(100_000), "app:1");
    let cancel = AtomicBool::new(true);
    for (name, format) in [
        ("c-dir", Format::Oci),
        ("c.oci.tar", Format::OciArchive),
        ("c.tar", Format::DockerArchive),
    ] {
        let out = env.path(name);
        let hooks = Hooks {
            progress: None,
            cancel: Some(&cancel),
        };
        let err =
            export_with(&env.store, std::slice::from_ref(&img), &out, format, hooks).unwrap_err();
        assert!(matches!(err, ExportError::Cancelled), "{format}: {err}");
        assert!(!out.exists(), "{format}");
    }
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

/// Two platforms in an index: `oci` and `oci-archive` hold it whole; `docker-archive` asks
/// for a platform.
#[test]
fn a_multi_platform_index() {
    let env = Env::new();
    let (amd, amd_img) = env.image(&ImageSpec::new(23).gzip_layer(6000), "m:amd");
    let (arm, arm_img) = env.image(&ImageSpec::new(24).layer(6000), "m:arm");
    let entry = |f: &FixtureImage, arch: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": f.manifest_digest, "size": f.manifest_bytes().len(),
               "platform": {"os": "linux", "architecture": arch}})
    };
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")],
    });
    let (index_d, index_size) = env.put_json(&index);
    env.store
        .tag("127.0.0.1:5000/multi:v1", OCI_INDEX, &index_d, index_size)
        .unwrap();
    assert!(env.store.remove("m:amd").unwrap() && env.store.remove("m:arm").unwrap());
    let img = ExportImage::from(
        &env.store
            .resolve("127.0.0.1:5000/multi:v1")
            .unwrap()
            .unwrap(),
    );
    let index_bytes = serde_json::to_vec(&index).unwrap();

    let dir = env.path("multi");
    export(&env.store, std::slice::from_ref(&img), &dir, Format::Oci).unwrap();
    let reference = format!("oci:{}:v1", dir.display());
    assert_eq!(inspect_raw(&reference), index_bytes);
    let all = env.path("all");
    skopeo::copy(
        &reference,
        &format!("oci:{}:x", all.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for f in [&amd, &arm] {
        for d in f.blob_digests() {
            assert!(all.join("blobs/sha256").join(digest(&d).hex()).is_file());
        }
    }
    fs::remove_dir_all(&all).unwrap();

    let archive = env.path("multi.oci.tar");
    export(
        &env.store,
        std::slice::from_ref(&img),
        &archive,
        Format::OciArchive,
    )
    .unwrap();
    assert_eq!(
        inspect_raw(&format!("oci-archive:{}:v1", archive.display())),
        index_bytes
    );

    let out = env.path("multi.tar");
    let err = export(
        &env.store,
        std::slice::from_ref(&img),
        &out,
        Format::DockerArchive,
    )
    .unwrap_err();
    match &err {
        ExportError::NeedsPlatform { platforms, .. } => {
            assert_eq!(platforms, "linux/amd64, linux/arm64")
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("--platform"), "{err}");
    assert!(!out.exists());
    // The platform's own manifest can be written.
    let arm_only = ExportImage::new(Some("multi:arm".into()), arm_img.digest, OCI_MANIFEST);
    export(&env.store, &[arm_only], &out, Format::DockerArchive).unwrap();
    assert_eq!(
        inspect(&format!("docker-archive:{}", out.display()))["Layers"],
        json!(diff_ids(&arm))
    );
    let _ = amd_img;

    // An index whose child is missing cannot be written whole.
    fs::remove_file(
        env.store
            .blob_path(&digest(amd.manifest_digest.as_ref().unwrap())),
    )
    .unwrap();
    let err = export(&env.store, &[img], &env.path("broken"), Format::Oci).unwrap_err();
    assert!(
        matches!(&err, ExportError::MissingBlob { what, .. } if what == "linux/amd64 manifest"),
        "{err}"
    );
    assert!(!env.path("broken").exists());
}

#[test]
fn two_images_with_one_tag_cannot_share_a_layout() {
    let env = Env::new();
    let (_, a) = env.image(&ImageSpec::new(25).layer(1000), "a:v1");
    let (_, b) = env.image(&ImageSpec::new(26).layer(1000), "b:v1");
    let err = export(&env.store, &[a, b], &env.path("l"), Format::Oci).unwrap_err();
    assert!(matches!(err, ExportError::Output(_)), "{err}");
    assert!(!env.path("l").exists());
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Stores `f`'s blobs under a Docker schema 2 manifest (as a registry serving Docker types
/// would give it) and returns the manifest's digest and size.
fn docker_manifest(env: &Env, f: &FixtureImage) -> (Digest, u64) {
    let layers: Vec<Value> = f
        .layers
        .iter()
        .map(|l| {
            let media_type = if l.media_type.ends_with("+gzip") {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            } else {
                "application/vnd.docker.image.rootfs.diff.tar"
            };
            json!({"mediaType": media_type, "digest": l.digest, "size": l.size})
        })
        .collect();
    env.put_json(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": f.config_digest, "size": f.config.len()},
        "layers": layers,
    }))
}

/// OCI layout readers (skopeo's `oci:` among them) only see OCI-typed entries: Docker
/// manifests and lists are written with OCI media types, as skopeo writes them.
#[test]
fn docker_manifests_become_oci_in_oci_outputs() {
    let env = Env::new();
    let (f, _) = env.image(&ImageSpec::new(27).layer(3000).gzip_layer(3000), "f:1");
    let (g, _) = env.image(&ImageSpec::new(28).gzip_layer(3000), "g:1");
    let (fd, fs_) = docker_manifest(&env, &f);
    let (gd, gs) = docker_manifest(&env, &g);
    let img = ExportImage::new(Some("docker/app:v1".into()), fd.clone(), DOCKER_MANIFEST);

    for (name, format, prefix) in [
        ("d-layout", Format::Oci, "oci"),
        ("d.oci.tar", Format::OciArchive, "oci-archive"),
    ] {
        let out = env.path(name);
        export(&env.store, std::slice::from_ref(&img), &out, format).unwrap();
        let reference = format!("{prefix}:{}:v1", out.display());
        let raw: Value = serde_json::from_slice(&inspect_raw(&reference)).unwrap();
        assert_eq!(raw["mediaType"], OCI_MANIFEST, "{format}");
        assert_eq!(raw["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(raw["config"]["digest"], f.config_digest.as_str());
        let types: Vec<&str> = raw["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.oci.image.layer.v1.tar+gzip"
            ]
        );
        let layers = skopeo_copy_layer_digests(&env, &reference, &["--preserve-digests"]);
        assert_eq!(layers, f.layer_digests());
    }
    // The original Docker manifest is not in the layout: only the converted one.
    assert!(!env.path("d-layout/blobs/sha256").join(fd.hex()).exists());

    // A Docker manifest list becomes an OCI index of converted manifests.
    let (list_d, list_size) = env.put_json(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": fd.to_string(), "size": fs_,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": gd.to_string(), "size": gs,
             "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        ],
    }));
    env.store
        .tag("docker/list:v2", DOCKER_LIST, &list_d, list_size)
        .unwrap();
    let list = ExportImage::from(&env.store.resolve("docker/list:v2").unwrap().unwrap());
    let out = env.path("list-layout");
    export(&env.store, std::slice::from_ref(&list), &out, Format::Oci).unwrap();
    let reference = format!("oci:{}:v2", out.display());
    let raw: Value = serde_json::from_slice(&inspect_raw(&reference)).unwrap();
    assert_eq!(raw["mediaType"], OCI_INDEX);
    for child in raw["manifests"].as_array().unwrap() {
        assert_eq!(child["mediaType"], OCI_MANIFEST);
        let d = digest(child["digest"].as_str().unwrap());
        let bytes = fs::read(out.join("blobs/sha256").join(d.hex())).unwrap();
        assert_eq!(Digest::sha256_of(&bytes), d);
        assert_eq!(child["size"], bytes.len());
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["mediaType"], OCI_MANIFEST);
    }
    let all = env.path("all");
    skopeo::copy(
        &reference,
        &format!("oci:{}:x", all.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap_or_else(|e| panic!("{e}"));

    // A docker-archive needs no conversion.
    let out = env.path("docker.tar");
    export(&env.store, &[img], &out, Format::DockerArchive).unwrap();
    assert_eq!(
        inspect(&format!("docker-archive:{}", out.display()))["Layers"],
        json!(diff_ids(&f))
    );
}
