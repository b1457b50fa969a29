//! Links, FIFOs and loose modes where tug reads and writes files: a link planted in an output
//! layout or the store is refused (exit 3, naming it) and its target stays unchanged; a FIFO
//! in a layout source fails at once instead of hanging; state files are private.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{skopeo, FixtureImage, ImageSpec, Registry, Tug, TugOutput};

/// An image in `registry` at `name`, put there by skopeo; and the fixture it came from.
fn image_in(registry: &Registry, dir: &Path, seed: u64, name: &str) -> FixtureImage {
    let layout = dir.join(format!("src-{seed}"));
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(seed).layer(200_000).gzip_layer(50_000),
        "v1",
    );
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        registry,
        name,
        &["--preserve-digests"],
    )
    .unwrap();
    fixture
}

/// A file outside the layout with known content and an old modification time.
fn outside_file(dir: &Path, content: &[u8]) -> (PathBuf, SystemTime) {
    let path = dir.join("outside-file");
    fs::write(&path, content).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    (path, old)
}

#[track_caller]
fn assert_unchanged(path: &Path, content: &[u8], mtime: SystemTime) {
    assert_eq!(
        fs::read(path).unwrap(),
        content,
        "the link's target was written"
    );
    assert_eq!(
        fs::metadata(path).unwrap().modified().unwrap(),
        mtime,
        "the link's target was touched"
    );
}

fn pull_into(layout: &Path, registry: &Registry, name: &str) -> TugOutput {
    Tug::new()
        .env("TUG_STORE", layout.with_extension("store"))
        .args(["pull", "--progress", "plain", "-o"])
        .arg(layout)
        .arg(registry.image(name))
        .run()
}

fn pull_into_store(store: &Path, registry: &Registry, name: &str) -> TugOutput {
    Tug::new()
        .env("TUG_STORE", store)
        .args(["pull", "--progress", "plain"])
        .arg(registry.image(name))
        .run()
}

/// A layout with nothing in it yet but its directories and `oci-layout`.
fn empty_layout(path: &Path) {
    fs::create_dir_all(path.join("blobs/sha256")).unwrap();
    fs::write(
        path.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
}

#[track_caller]
fn assert_refused(out: TugOutput, what: &str) {
    let out = out.assert_code(crate::common::INVALID_INPUT);
    let err = out.stderr_str();
    assert!(
        err.contains(what) && err.contains("symbolic link"),
        "the error names {what} and says it is a link: {err}"
    );
}

#[test]
fn a_planted_partial_download_link_is_refused_and_its_target_unchanged() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let fixture = image_in(&registry, dir.path(), 81, "links/partial:v1");
    let hex = fixture.layers[0].digest.trim_start_matches("sha256:");
    let content = b"bytes that are not the layer's".to_vec();
    let (outside, mtime) = outside_file(dir.path(), &content);
    // An output layout, and the store: both continue `.partial-<hex>` downloads.
    for (i, into_store) in [false, true].into_iter().enumerate() {
        let layout = dir.path().join(format!("layout-{i}"));
        empty_layout(&layout);
        let partial = format!(".partial-{hex}");
        symlink(&outside, layout.join("blobs/sha256").join(&partial)).unwrap();
        let out = match into_store {
            false => pull_into(&layout, &registry, "links/partial:v1"),
            true => pull_into_store(&layout, &registry, "links/partial:v1"),
        };
        assert_refused(out, &partial);
        assert_unchanged(&outside, &content, mtime);
    }
}

#[test]
fn a_planted_index_json_link_is_refused_and_its_target_unchanged() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    image_in(&registry, dir.path(), 82, "links/index:v1");
    // Another layout's index: readable, so following the link would go unnoticed.
    let content = br#"{"schemaVersion":2,"manifests":[]}"#.to_vec();
    let (outside, mtime) = outside_file(dir.path(), &content);
    let layout = dir.path().join("layout");
    empty_layout(&layout);
    symlink(&outside, layout.join("index.json")).unwrap();
    assert_refused(
        pull_into(&layout, &registry, "links/index:v1"),
        "index.json",
    );
    assert_unchanged(&outside, &content, mtime);
    assert!(
        fs::symlink_metadata(layout.join("index.json"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "tug leaves what it refused where it was"
    );
}

#[test]
fn a_planted_blob_link_is_refused_and_its_target_unchanged() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let fixture = image_in(&registry, dir.path(), 83, "links/blob:v1");
    let hex = fixture.layers[1].digest.trim_start_matches("sha256:");
    let content = b"not the layer".to_vec();
    let (outside, mtime) = outside_file(dir.path(), &content);
    let layout = dir.path().join("layout");
    empty_layout(&layout);
    symlink(&outside, layout.join("blobs/sha256").join(hex)).unwrap();
    assert_refused(pull_into(&layout, &registry, "links/blob:v1"), hex);
    assert_unchanged(&outside, &content, mtime);
}

#[test]
fn a_fifo_in_a_layout_source_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(84).layer(10_000), "v1");
    let mkfifo = |path: &Path| {
        fs::remove_file(path).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let inspect = || {
        Tug::new()
            .arg("inspect")
            .arg(&layout)
            // Only a hang detector: a refusal takes milliseconds.
            .timeout(Duration::from_secs(30))
            .run()
    };
    let index = layout.join("index.json");
    let index_bytes = fs::read(&index).unwrap();
    mkfifo(&index);
    let out = inspect();
    assert!(!out.timed_out, "tug inspect hung on a FIFO index.json");
    let out = out.assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str().contains("index.json is a FIFO"),
        "{}",
        out.stderr_str()
    );
    fs::remove_file(&index).unwrap();
    fs::write(&index, index_bytes).unwrap();
    // A layer blob (only its size is read while inspecting).
    let layer = layout
        .join("blobs/sha256")
        .join(fixture.layers[0].digest.trim_start_matches("sha256:"));
    mkfifo(&layer);
    let out = inspect();
    assert!(!out.timed_out, "tug inspect hung on a FIFO layer");
    let out = out.assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str().contains(&*layer.to_string_lossy()) && out.stderr_str().contains("FIFO"),
        "{}",
        out.stderr_str()
    );
}

#[test]
fn state_files_are_private_in_a_private_directory() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(85).layer(300_000), "v1");
    let state = dir.path().join("state/tug");
    // Chunked (upload sessions kept) and compressed (digests remembered), then pulled.
    crate::common::tug_for(&registry)
        .env("TUG_STATE_DIR", &state)
        .args(["--progress", "none", "--compress", "gzip"])
        .args(["--monolithic-max", "0", "--chunk-size", "65536"])
        .arg(&layout)
        .arg(registry.image("modes/app:v1"))
        .run()
        .assert_success();
    Tug::new()
        .env("TUG_STATE_DIR", &state)
        .env("TUG_STORE", dir.path().join("store"))
        .args(["pull", "--progress", "none"])
        .arg(registry.image("modes/app:v1"))
        .run()
        .assert_success();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "the state directory");
    let mut names: Vec<String> = Vec::new();
    for entry in fs::read_dir(&state).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            // `owners/`: the marks of running processes.
            assert_eq!(mode(&entry.path()), 0o700, "{name}");
            for inner in fs::read_dir(entry.path()).unwrap() {
                let inner = inner.unwrap().path();
                assert_eq!(mode(&inner), 0o600, "{}", inner.display());
            }
        } else {
            assert_eq!(mode(&entry.path()), 0o600, "{name}");
        }
        names.push(name);
    }
    names.sort();
    for expected in [
        "blob-places.json",
        "blob-places.lock",
        "compressed.json",
        "compressed.lock",
        "history.jsonl",
        "history.lock",
        "uploads.json",
        "uploads.lock",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}
