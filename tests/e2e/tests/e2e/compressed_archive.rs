//! A `docker save | gzip`, `| zstd`, `| bzip2` or `| xz` file, which `docker load` reads, is
//! read by `tug push`, `tug inspect` and `tug load` too: decompressed into a temporary file
//! first, removed after.

use std::fs;
use std::path::Path;

use tug_testkit::fixtures::{
    compress_file, pull_with_skopeo_and_compare_layers, skopeo_docker_archive, write_oci_layout,
    FileCompression,
};
use tug_testkit::{FixtureImage, ImageSpec, Registry, Tug};

/// A docker-archive written by skopeo, compressed whole by the real tool.
fn compressed_save(dir: &Path, with: FileCompression) -> (std::path::PathBuf, FixtureImage) {
    let layout = dir.join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(91).layer(300_000).layer(120_000),
        "v1",
    );
    let tar = dir.join("saved.tar");
    skopeo_docker_archive(&layout, "v1", &tar, "example/zipped:v1");
    let out = dir.join(match with {
        FileCompression::Gzip => "saved.tar.gz",
        FileCompression::Zstd => "saved.tar.zst",
        FileCompression::Bzip2 => "saved.tar.bz2",
        FileCompression::Xz => "saved.tar.xz",
    });
    compress_file(&tar, &out, with);
    (out, fixture)
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

#[test]
fn compressed_docker_saves_push_inspect_and_load() {
    let registry = Registry::plain();
    for (with, name) in [
        (FileCompression::Gzip, "gzip"),
        (FileCompression::Zstd, "zstd"),
        (FileCompression::Bzip2, "bzip2"),
        (FileCompression::Xz, "xz"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (file, fixture) = compressed_save(dir.path(), with);
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let repo = format!("zipped/{name}:v1");
        let out = crate::common::tug_for(&registry)
            .env("TMPDIR", &tmp)
            .args(["--progress", "plain"])
            .arg(&file)
            .arg(registry.image(&repo))
            .run()
            .assert_success();
        assert!(
            out.stderr_str().contains(&format!("{name}-compressed")),
            "{}",
            out.stderr_str()
        );
        pull_with_skopeo_and_compare_layers(&registry, &repo, &fixture);
        assert_empty(&tmp);
        // -q leaves only errors on standard error: not the note about decompressing.
        let out = crate::common::tug_for(&registry)
            .env("TMPDIR", &tmp)
            .arg("-q")
            .arg(&file)
            .arg(registry.image(&repo))
            .run()
            .assert_success();
        assert_eq!(out.stderr_str(), "", "-q");

        let out = Tug::new()
            .env("TMPDIR", &tmp)
            .args(["inspect", "--json"])
            .arg(&file)
            .run()
            .assert_success();
        let v: serde_json::Value = serde_json::from_str(&out.stdout_str()).unwrap();
        assert_eq!(v["format"], "docker-archive");
        assert_eq!(v["compression"], name);
        assert_eq!(v["images"][0]["config"]["digest"], fixture.config_digest);
        assert_empty(&tmp);

        let store = dir.path().join("store");
        Tug::new()
            .env("TMPDIR", &tmp)
            .env("TUG_STORE", &store)
            .arg("load")
            .arg(&file)
            .run()
            .assert_success();
        assert_empty(&tmp);
        let loaded = format!("loaded/{name}:v1");
        Tug::new()
            .env("TUG_STORE", &store)
            .args(["push", "--progress", "none", "example/zipped:v1"])
            .arg(registry.image(&loaded))
            .run()
            .assert_success();
        pull_with_skopeo_and_compare_layers(&registry, &loaded, &fixture);
    }
}
