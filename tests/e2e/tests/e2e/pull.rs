//! `tug pull` into every output format and the local store, checked with skopeo.

use std::fs;
use std::path::Path;

use serde_json::Value;
use tug_testkit::fixtures::{skopeo_docker_archive, write_oci_layout};
use tug_testkit::hashing::{sha256_digest, sha256_file};
use tug_testkit::{skopeo, ImageSpec, Registry, Tug, TugOutput};

fn pull(store: &Path, registry: &Registry, image: &str, extra: &[&str]) -> TugOutput {
    Tug::new()
        .env("TUG_STORE", store)
        .args(["pull", "--progress", "json"])
        .args(extra)
        .arg(registry.image(image))
        .run()
}

/// Layer digests of an image as skopeo reads it from `transport_ref`.
fn layers(transport_ref: &str) -> Vec<String> {
    let out = skopeo::run(["inspect", transport_ref]).unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

fn no_temp_files(dir: &Path) -> bool {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp") || name.starts_with(".tug-") {
                found.push(name);
            }
            if e.path().is_dir() {
                walk(&e.path(), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.is_empty()
}

#[test]
fn an_image_pushed_by_skopeo_pulls_into_every_format() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("src");
    write_oci_layout(
        &layout,
        &ImageSpec::new(61).gzip_layer(300_000).gzip_layer(120_000),
        "v1",
    );
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "gz/app:v1",
        skopeo::NO_ARGS,
    )
    .unwrap();
    let tar = d.join("docker.tar");
    let plain = ImageSpec::new(62).layer(200_000).layer(50_000);
    let plain_layout = d.join("plain");
    write_oci_layout(&plain_layout, &plain, "v1");
    skopeo_docker_archive(&plain_layout, "v1", &tar, "example/plain:v1");
    skopeo::copy_to_registry(
        &format!("docker-archive:{}", tar.display()),
        &registry,
        "da/app:v1",
        skopeo::NO_ARGS,
    )
    .unwrap();

    for image in ["gz/app:v1", "da/app:v1"] {
        // What skopeo itself pulls.
        let reference = registry.docker_ref(image);
        let expected = {
            let out = skopeo::run(["inspect", "--tls-verify=false", &reference]).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            v["Layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let store = d.join(format!("store-{}", image.replace([':', '/'], "-")));
        let oci = d.join(format!("{}-oci", image.replace([':', '/'], "-")));
        let out = pull(&store, &registry, image, &["-o", oci.to_str().unwrap()]).assert_success();
        assert_eq!(
            layers(&format!("oci:{}:v1", oci.display())),
            expected,
            "{image} as oci"
        );
        // The digest named as the registry's is the one the registry serves (a Docker
        // manifest is written converted to OCI, under another digest).
        let done: Value = serde_json::from_str(out.stdout_str().lines().last().unwrap()).unwrap();
        let served = {
            let out = skopeo::run(["inspect", "--tls-verify=false", &reference]).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            v["Digest"].clone()
        };
        assert_eq!(done["registry_digest"], served, "{image}");
        let archive = d.join(format!("{}.oci.tar", image.replace([':', '/'], "-")));
        pull(&store, &registry, image, &["-o", archive.to_str().unwrap()]).assert_success();
        assert_eq!(
            layers(&format!("oci-archive:{}", archive.display())),
            expected,
            "{image} as oci-archive"
        );
        let docker = d.join(format!("{}.tar", image.replace([':', '/'], "-")));
        pull(&store, &registry, image, &["-o", docker.to_str().unwrap()]).assert_success();
        // A docker-archive holds uncompressed layers: skopeo reports their diffIDs.
        let diff_ids = {
            let out =
                skopeo::run(["inspect", "--config", "--tls-verify=false", &reference]).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            v["rootfs"]["diff_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            layers(&format!("docker-archive:{}", docker.display())),
            diff_ids,
            "{image} as docker-archive"
        );
        assert!(no_temp_files(d));
    }
}

#[test]
fn push_then_pull_gives_identical_blobs_and_the_store_skips_what_it_has() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(63).layer(400_000).gzip_layer(100_000),
        "v1",
    );
    crate::common::push(&registry, &layout, "rt/app:v1").assert_success();
    let store = dir.path().join("store");
    let first =
        crate::common::done_event(&pull(&store, &registry, "rt/app:v1", &[]).assert_success());
    assert_eq!(first["blobs_downloaded"], 3);
    for digest in fixture.blob_digests() {
        let path = store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        assert_eq!(sha256_file(&path).unwrap().0, digest);
    }
    // The same blobs under another tag: nothing is downloaded again.
    crate::common::push(&registry, &layout, "rt/app:v2").assert_success();
    let second =
        crate::common::done_event(&pull(&store, &registry, "rt/app:v2", &[]).assert_success());
    assert_eq!(second["blobs_downloaded"], 0);
    assert_eq!(second["blobs_skipped"], 3);

    let images = Tug::new()
        .env("TUG_STORE", &store)
        .args(["images", "--json"])
        .run()
        .assert_success();
    let list: Value = serde_json::from_str(&images.stdout_str()).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("rt/app:v1"))
            && names.iter().any(|n| n.ends_with("rt/app:v2")),
        "{names:?}"
    );

    // save writes what skopeo reads; prune keeps shared blobs until no image uses them.
    let saved = dir.path().join("saved.oci.tar");
    let v1 = registry.image("rt/app:v1");
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["save", &v1, "-o"])
        .arg(&saved)
        .run()
        .assert_success();
    assert_eq!(layers(&format!("oci-archive:{}", saved.display())).len(), 2);
    // A digest prefix too short to be taken says so.
    let short = Tug::new()
        .env("TUG_STORE", &store)
        .args(["rm", "52fb"])
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(
        short.stderr_str().contains("at least 6 hex digits"),
        "{}",
        short.stderr_str()
    );
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["rm", &v1])
        .run()
        .assert_success();
    let pruned = Tug::new()
        .env("TUG_STORE", &store)
        .args(["prune", "--all", "--json"])
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(pruned.stdout_str().trim()).unwrap();
    assert_eq!(v["blobs_removed"], 0, "v2 still uses every blob");
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["rm", &registry.image("rt/app:v2")])
        .run()
        .assert_success();
    // Without --all, blobs written in the last ten minutes stay, and are counted.
    let kept = Tug::new()
        .env("TUG_STORE", &store)
        .args(["prune", "--json"])
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(kept.stdout_str().trim()).unwrap();
    assert_eq!(
        (v["blobs_removed"].as_u64(), v["blobs_kept_recent"].as_u64()),
        (Some(0), Some(4))
    );
    assert!(kept.stderr_str().contains("tug prune --all"), "{kept}");
    let pruned = Tug::new()
        .env("TUG_STORE", &store)
        .args(["prune", "--all", "--json"])
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(pruned.stdout_str().trim()).unwrap();
    assert_eq!(v["blobs_removed"], 4, "three blobs and the manifest");
}

#[test]
fn a_corrupted_blob_fails_the_pull_and_leaves_nothing_behind() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(64).layer(300_000), "v1");
    crate::common::push(&registry, &layout, "bad/app:v1").assert_success();
    // Tamper with the registry's copy of the layer.
    let layer = &fixture.layers[0].digest;
    let hex = layer.trim_start_matches("sha256:");
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs::read(&data).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&data, bytes).unwrap();
    let store = dir.path().join("store");
    let out_dir = dir.path().join("out");
    let out = pull(
        &store,
        &registry,
        "bad/app:v1",
        &["-o", out_dir.to_str().unwrap()],
    )
    .assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str().contains(layer.as_str()),
        "{}",
        out.stderr_str()
    );
    assert!(
        out.stderr_str().contains("does not match its digest"),
        "{}",
        out.stderr_str()
    );
    assert!(!out_dir.join("blobs/sha256").join(hex).exists());
    assert!(no_temp_files(&out_dir));
}

#[test]
fn a_multi_platform_index_pulls_one_or_every_platform() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let (index, children) = crate::common::multi_platform_layout(&layout);
    crate::common::push(&registry, &layout, "mp/app:v1").assert_success();
    let store = dir.path().join("store");

    let arm = dir.path().join("arm");
    let done = crate::common::done_event(
        &pull(
            &store,
            &registry,
            "mp/app:v1",
            &["--platform", "linux/arm64", "-o", arm.to_str().unwrap()],
        )
        .assert_success(),
    );
    assert_eq!(done["digest"], children[1].as_str());

    let default = dir.path().join("default");
    let done = crate::common::done_event(
        &pull(
            &store,
            &registry,
            "mp/app:v1",
            &["-o", default.to_str().unwrap()],
        )
        .assert_success(),
    );
    let host_is_arm = std::env::consts::ARCH == "aarch64";
    assert_eq!(done["digest"], children[usize::from(host_is_arm)].as_str());

    let all = dir.path().join("all");
    pull(
        &store,
        &registry,
        "mp/app:v1",
        &["--all-platforms", "-o", all.to_str().unwrap()],
    )
    .assert_success();
    let raw = skopeo::run(["inspect", "--raw", &format!("oci:{}:v1", all.display())]).unwrap();
    assert_eq!(raw, index);
    let dst = dir.path().join("check");
    skopeo::copy(
        &format!("oci:{}:v1", all.display()),
        &format!("oci:{}:x", dst.display()),
        &["--all"],
    )
    .unwrap();
}

#[test]
fn two_concurrent_pulls_sharing_layers_keep_the_store_consistent() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let shared = ImageSpec::new(65).layer(2_000_000);
    let a = write_oci_layout(&dir.path().join("a"), &shared.clone().layer(10_000), "v1");
    let b = write_oci_layout(&dir.path().join("b"), &shared.layer(20_000), "v1");
    assert_eq!(
        a.layers[0].digest, b.layers[0].digest,
        "the images share a layer"
    );
    crate::common::push(&registry, dir.path().join("a"), "cc/a:v1").assert_success();
    crate::common::push(&registry, dir.path().join("b"), "cc/b:v1").assert_success();
    let store = dir.path().join("store");
    let spawn = |image: &str| {
        Tug::new()
            .env("TUG_STORE", &store)
            // The Tug (and its own state directory) is gone before the process ends.
            .env("TUG_STATE_DIR", dir.path().join("state"))
            .args(["pull", "--progress", "none"])
            .arg(registry.image(image))
            .command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn("cc/a:v1"), spawn("cc/b:v1"));
    for child in [one, two] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = Tug::new()
        .env("TUG_STORE", &store)
        .args(["images", "--json"])
        .run()
        .assert_success();
    let v: Value = serde_json::from_str(&list.stdout_str()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    for digest in a.blob_digests().into_iter().chain(b.blob_digests()) {
        let path = store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        assert_eq!(sha256_file(&path).unwrap().0, digest);
    }
    assert!(no_temp_files(&store));
}

#[test]
fn load_imports_an_archive_and_push_takes_store_images() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("classic.tar");
    let fixture = tug_testkit::fixtures::classic_docker_save(
        &tar,
        &ImageSpec::new(66).layer(100_000).layer(30_000),
        "classic/app:v1",
    );
    let store = dir.path().join("store");
    let out = Tug::new()
        .env("TUG_STORE", &store)
        .arg("load")
        .arg(&tar)
        .run()
        .assert_success();
    assert!(
        out.stderr_str().contains("docker.io/classic/app:v1"),
        "{}",
        out.stderr_str()
    );
    // `-q`, as `docker load -q`: nothing but errors.
    let quiet = Tug::new()
        .env("TUG_STORE", &store)
        .args(["load", "-q"])
        .arg(&tar)
        .run()
        .assert_success();
    assert_eq!(quiet.stderr_str(), "");
    assert_eq!(quiet.stdout_str(), "");
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["push", "--progress", "none", "classic/app:v1"])
        .arg(registry.image("from/store:v1"))
        .run()
        .assert_success();
    tug_testkit::fixtures::pull_with_skopeo_and_compare_layers(
        &registry,
        "from/store:v1",
        &fixture,
    );
}

/// A blob the store holds damaged never goes into an OCI archive: the save (or the pull that
/// finds the blob already stored) fails naming it, and an archive already at the output keeps
/// its bytes.
#[test]
fn a_damaged_store_blob_fails_an_oci_archive_and_keeps_the_old_one() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(70).layer(200_000), "v1");
    crate::common::push(&registry, &layout, "dmg/app:v1").assert_success();
    let store = dir.path().join("store");
    let good = dir.path().join("good.oci.tar");
    pull(
        &store,
        &registry,
        "dmg/app:v1",
        &["-o", good.to_str().unwrap()],
    )
    .assert_success();
    let before = fs::read(&good).unwrap();
    let hex = fixture.layers[0]
        .digest
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = store.join("blobs/sha256").join(&hex);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    for args in [
        vec!["save".to_owned(), registry.image("dmg/app:v1")],
        vec![
            "pull".to_owned(),
            "--plain-http".to_owned(),
            registry.image("dmg/app:v1"),
        ],
    ] {
        let out = Tug::new()
            .env("TUG_STORE", &store)
            .args(&args)
            .arg("-o")
            .arg(&good)
            .run()
            .assert_code(crate::common::INVALID_INPUT);
        assert!(
            out.stderr_str().contains(&hex) && out.stderr_str().contains("damaged"),
            "{}",
            out.stderr_str()
        );
        assert_eq!(
            fs::read(&good).unwrap(),
            before,
            "the archive there was replaced"
        );
        assert!(no_temp_files(dir.path()));
    }
}

/// An OCI archive tug saves keeps the image's whole name (containerd's annotation beside
/// the tag), so loading it again gives the name back, not `docker.io/library/<tag>`; crane's
/// `index.docker.io/` is Docker Hub.
#[test]
fn names_survive_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let tug = || Tug::new().env("TUG_STORE", &store);
    let tar = dir.path().join("classic.tar");
    tug_testkit::fixtures::classic_docker_save(
        &tar,
        &ImageSpec::new(69).layer(20_000),
        "index.docker.io/library/foo:9",
    );
    tug().arg("load").arg(&tar).run().assert_success();
    let saved = dir.path().join("foo.oci.tar");
    tug()
        .args(["save", "foo:9", "-o"])
        .arg(&saved)
        .run()
        .assert_success();
    let other = dir.path().join("other");
    let out = Tug::new()
        .env("TUG_STORE", &other)
        .arg("load")
        .arg(&saved)
        .run()
        .assert_success();
    assert!(
        out.stderr_str().contains("Loaded docker.io/library/foo:9"),
        "{}",
        out.stderr_str()
    );
}

/// A pull (or copy) that fails before anything arrives leaves no empty layout where the
/// output was asked for; one into an empty directory that was there leaves it empty, as
/// it was.
#[test]
fn a_failed_pull_into_a_new_layout_leaves_no_directory() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out_dir = dir.path().join("out");
    let out = ["-o", out_dir.to_str().unwrap()];
    pull(&store, &registry, "none/app:v1", &out).assert_code(crate::common::NOT_FOUND);
    assert!(!out_dir.exists(), "an empty layout was left at the output");
    let target = format!("oci:{}:v1", out_dir.display());
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["copy", &registry.image("none/app:v1"), &target])
        .run()
        .assert_code(crate::common::NOT_FOUND);
    assert!(!out_dir.exists(), "an empty layout was left by the copy");
    fs::create_dir(&out_dir).unwrap();
    pull(&store, &registry, "none/app:v1", &out).assert_code(crate::common::NOT_FOUND);
    assert!(out_dir.is_dir(), "a directory that was there is kept");
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(
        left.is_empty(),
        "an empty directory is left empty: {left:?}"
    );
    fs::write(out_dir.join("notes.txt"), "mine").unwrap();
    pull(&store, &registry, "none/app:v1", &out).assert_code(crate::common::NOT_FOUND);
    assert!(out_dir.join("notes.txt").exists());
}

#[test]
fn a_pull_into_a_layout_leaves_no_lock_file_there() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    write_oci_layout(&layout, &ImageSpec::new(67).layer(50_000), "v1");
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "lock/app:v1",
        skopeo::NO_ARGS,
    )
    .unwrap();
    let store = dir.path().join("store");
    let out_dir = dir.path().join("out");
    for _ in 0..2 {
        pull(
            &store,
            &registry,
            "lock/app:v1",
            &["-o", out_dir.to_str().unwrap()],
        )
        .assert_success();
        let names: Vec<String> = fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["blobs", "index.json", "oci-layout"]);
    }
    assert_eq!(layers(&format!("oci:{}:v1", out_dir.display())).len(), 1);
    // The store keeps its lock file, as documented.
    pull(&store, &registry, "lock/app:v1", &[]).assert_success();
    assert!(store.join(".tug.lock").exists());
}

/// `tug prune` keeps what it cannot prove unreferenced: with one image's manifest unreadable
/// (gone, or not JSON) any blob may be that image's, so nothing is removed, and it says why.
#[test]
fn prune_keeps_every_blob_while_a_manifest_cannot_be_read() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    write_oci_layout(&one, &ImageSpec::new(65).layer(20_000), "v1");
    let fixture = write_oci_layout(&two, &ImageSpec::new(66).layer(30_000), "v2");
    crate::common::push(&registry, &one, "pr/app:v1").assert_success();
    crate::common::push(&registry, &two, "pr/other:v2").assert_success();
    for image in ["pr/app:v1", "pr/other:v2"] {
        pull(&store, &registry, image, &[]).assert_success();
    }
    let v1 = registry.image("pr/app:v1");
    let blobs = store.join("blobs/sha256");
    let count = || std::fs::read_dir(&blobs).unwrap().count();
    let before = count();
    let manifest = blobs.join(
        fixture
            .manifest_digest
            .as_ref()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    for broken in [None, Some(b"not json".as_slice())] {
        match broken {
            None => std::fs::remove_file(&manifest).unwrap(),
            Some(bytes) => std::fs::write(&manifest, bytes).unwrap(),
        }
        // v1's blobs are unreferenced now, but v2's manifest no longer says which are its.
        Tug::new().env("TUG_STORE", &store).args(["rm", &v1]).run();
        let pruned = Tug::new()
            .env("TUG_STORE", &store)
            .args(["prune", "--all", "--json"])
            .run()
            .assert_success();
        let v: Value = serde_json::from_str(pruned.stdout_str().trim()).unwrap();
        assert_eq!(v["blobs_removed"], 0, "{pruned}");
        assert!(pruned.stderr_str().contains("pr/other:v2"), "{pruned}");
        assert!(pruned.stderr_str().contains("Removed nothing"), "{pruned}");
        let kept = count() + usize::from(broken.is_none());
        assert_eq!(kept, before, "no blob was removed");
    }
}

/// An OCI archive of an image pulled by digest names it `latest` (the digest is no tag), so
/// `oci-archive:FILE:latest` finds it.
#[test]
fn an_image_pulled_by_digest_into_an_oci_archive_is_named_latest() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("src");
    write_oci_layout(&layout, &ImageSpec::new(63).gzip_layer(50_000), "v1");
    skopeo::copy_to_registry(
        &format!("oci:{}:v1", layout.display()),
        &registry,
        "bd/app:v1",
        skopeo::NO_ARGS,
    )
    .unwrap();
    let manifest = skopeo::inspect_raw_in(&registry, "bd/app:v1").unwrap();
    let digest = sha256_digest(&manifest);
    let archive = dir.path().join("app.oci.tar");
    let store = dir.path().join("store");
    let by_digest = format!("bd/app@{digest}");
    pull(
        &store,
        &registry,
        &by_digest,
        &["-o", archive.to_str().unwrap()],
    )
    .assert_success();
    let named = format!("oci-archive:{}:latest", archive.display());
    assert_eq!(layers(&named).len(), 1);
    // In the store it goes by its digest (no tag is made up), and is removed by it.
    pull(&store, &registry, &by_digest, &[]).assert_success();
    let stored = registry.image(&by_digest);
    let listed = Tug::new()
        .env("TUG_STORE", &store)
        .args(["images"])
        .run()
        .assert_success();
    assert!(
        listed.stdout_str().contains(&stored),
        "{}",
        listed.stdout_str()
    );
    assert!(
        !listed.stdout_str().contains("bd/app:latest"),
        "{}",
        listed.stdout_str()
    );
    Tug::new()
        .env("TUG_STORE", &store)
        .args(["rm", &stored])
        .run()
        .assert_success();
}

/// An output that cannot be written fails before any work, naming it: a directory where an
/// archive goes (pull, save), a `--digestfile` in a directory that is not there (push, pull).
#[test]
fn outputs_that_cannot_be_written_fail_before_any_work() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(32).layer(4_000), "v1");
    let nowhere = dir.path().join("missing/digest");
    let out = Tug::new()
        .args(["push", "--plain-http", "--progress", "none", "--digestfile"])
        .arg(&nowhere)
        .arg(&layout)
        .arg(registry.image("early/app:v1"))
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    let err = out.stderr_str();
    assert!(
        err.contains("--digestfile") && err.contains("missing does not exist"),
        "{err}"
    );
    assert!(
        skopeo::inspect_raw_in(&registry, "early/app:v1").is_err(),
        "nothing was pushed"
    );
    Tug::new()
        .args(["push", "--plain-http", "--progress", "none"])
        .arg(&layout)
        .arg(registry.image("early/app:v1"))
        .run()
        .assert_success();

    let store = dir.path().join("store");
    let taken = dir.path().join("taken.tar");
    fs::create_dir(&taken).unwrap();
    let out = pull(
        &store,
        &registry,
        "early/app:v1",
        &["-o", taken.to_str().unwrap()],
    )
    .assert_code(crate::common::INVALID_INPUT);
    let err = out.stderr_str();
    assert!(err.contains("taken.tar is a directory"), "{err}");
    assert!(!err.contains("downloaded"), "nothing was downloaded: {err}");
    let nowhere = ["--digestfile", nowhere.to_str().unwrap()];
    let out =
        pull(&store, &registry, "early/app:v1", &nowhere).assert_code(crate::common::INVALID_INPUT);
    assert!(
        !out.stderr_str().contains("downloaded"),
        "{}",
        out.stderr_str()
    );
    pull(&store, &registry, "early/app:v1", &[]).assert_success();
    let out = Tug::new()
        .env("TUG_STORE", &store)
        .args(["save", &registry.image("early/app:v1"), "-o"])
        .arg(&taken)
        .run()
        .assert_code(crate::common::INVALID_INPUT);
    assert!(
        out.stderr_str().contains("taken.tar is a directory"),
        "{}",
        out.stderr_str()
    );
}

/// An output that cannot be written is named as it was asked for (not the temporary file
/// beside it), and so is an output layout whose `index.json` is not JSON.
#[test]
fn an_output_that_cannot_be_written_is_named() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(31).layer(4_000), "v1");
    Tug::new()
        .args(["push", "--plain-http", "--progress", "none"])
        .arg(&layout)
        .arg(registry.image("named/app:v1"))
        .run()
        .assert_success();
    let store = dir.path().join("store");
    let out = pull(
        &store,
        &registry,
        "named/app:v1",
        &["-o", "missing/sub/x.oci.tar"],
    );
    let err = out.stderr_str();
    assert!(
        err.contains("missing/sub/x.oci.tar: its directory"),
        "{err}"
    );
    assert!(!err.contains(".tug-out-"), "{err}");
    let corrupt = dir.path().join("corrupt");
    fs::create_dir_all(&corrupt).unwrap();
    fs::write(
        corrupt.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(corrupt.join("index.json"), "{bad").unwrap();
    let out = pull(
        &store,
        &registry,
        "named/app:v1",
        &["-o", corrupt.to_str().unwrap()],
    );
    let err = out.stderr_str();
    assert!(
        err.contains(&format!(
            "{}: not a readable index.json",
            corrupt.join("index.json").display()
        )),
        "{err}"
    );
}

/// An archive that names no image (skopeo's `oci-archive:` without a tag) loads under its
/// digest, not as a Docker Hub repository called `sha256`, and saves with no tag.
#[test]
fn an_unnamed_image_is_loaded_under_its_digest_and_saved_without_a_tag() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(32).layer(3_000), "v1");
    let archive = dir.path().join("unnamed.oci.tar");
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("oci-archive:{}", archive.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    let store = dir.path().join("store");
    let tug = |args: &[&str]| Tug::new().env("TUG_STORE", &store).args(args).run();
    tug(&["load", archive.to_str().unwrap()]).assert_success();
    let listed: Value = serde_json::from_str(
        tug(&["images", "--json"])
            .assert_success()
            .stdout_str()
            .trim(),
    )
    .unwrap();
    let name = listed[0]["name"].as_str().unwrap().to_owned();
    assert_eq!(Some(name.as_str()), fixture.manifest_digest.as_deref());
    let saved = dir.path().join("saved.tar");
    tug(&["save", &name, "-o", saved.to_str().unwrap()]).assert_success();
    let out = std::process::Command::new("tar")
        .args(["-xOf", saved.to_str().unwrap(), "manifest.json"])
        .output()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));
    assert_eq!(
        layers(&format!("docker-archive:{}", saved.display())).len(),
        1
    );
}

/// `tug prune` while a pull runs into the store removes nothing (what the pull wrote is
/// named only at its end), even with `--all`; once the pull is gone, it prunes.
#[test]
fn prune_waits_for_a_pull_running_into_the_store() {
    use std::io::BufRead;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = write_oci_layout(&layout, &ImageSpec::new(33).layer(50_000), "v1");
    let mini = Arc::new(tug_testkit::MiniRegistry::from_layout("slow/app", &layout));
    let layer = image.layers[0].digest.clone();
    let registry = tug_testkit::HostileServer::start(move |r| {
        if r.path().ends_with(&layer) && r.method == "GET" {
            // The layer comes one byte a second: the pull is running while prune runs.
            return tug_testkit::Reply::Trickle {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                byte: 0,
                every: std::time::Duration::from_secs(1),
                len: Some(50_000),
            };
        }
        mini.answer(r)
    });
    let store = dir.path().join("store");
    let mut puller = Tug::new()
        .env("TUG_STORE", &store)
        .args(["pull", "--plain-http", "--progress", "plain"])
        .arg(format!("{}/slow/app:v1", registry.host()))
        .command()
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The pull says it runs once it has the manifest.
    let mut stderr = std::io::BufReader::new(puller.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Pulling") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the pull ended early"
        );
    }
    for extra in [&[][..], &["--all"][..]] {
        let out = Tug::new()
            .env("TUG_STORE", &store)
            .arg("prune")
            .args(extra)
            .run()
            .assert_success();
        assert!(
            out.stderr_str().contains("Removed nothing: a pull or load"),
            "{out}"
        );
    }
    puller.kill().unwrap();
    puller.wait().unwrap();
    // What a killed process left: a temporary file, gone with the next prune.
    let left = store
        .join("blobs/sha256")
        .join(format!(".tmp-{}-1-0", "ab".repeat(32)));
    fs::write(&left, b"half a blob").unwrap();
    let out = Tug::new()
        .env("TUG_STORE", &store)
        .args(["prune", "--all"])
        .run()
        .assert_success();
    assert!(out.stderr_str().contains("Removed"), "{out}");
    assert!(!out.stderr_str().contains("Removed nothing"), "{out}");
    assert!(!left.exists(), "the temporary file is gone");
}

/// Two repositories' images of the same tag pulled into one layout: the first keeps the tag,
/// the second is named there by its whole name (said on stderr), so neither is lost and
/// skopeo reads each by its name; pulled again, the second replaces its own entry.
#[test]
fn the_same_tag_of_two_repositories_pulled_into_one_layout_keeps_both() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write_oci_layout(&a, &ImageSpec::new(171).layer(20_000), "v1");
    write_oci_layout(&b, &ImageSpec::new(172).layer(30_000), "v1");
    crate::common::push(&registry, &a, "one/app:1").assert_success();
    crate::common::push(&registry, &b, "two/app:1").assert_success();
    let store = dir.path().join("store");
    let out = dir.path().join("layout");
    let out_arg = out.to_str().unwrap();
    pull(
        &store,
        &registry,
        "one/app:1",
        &["--plain-http", "-o", out_arg],
    )
    .assert_success();
    let second = pull(
        &store,
        &registry,
        "two/app:1",
        &["--plain-http", "-o", out_arg],
    )
    .assert_success();
    let whole = registry.image("two/app:1");
    assert!(
        second
            .stderr_str()
            .contains(&format!("named {whole:?} there")),
        "{}",
        second.stderr_str()
    );
    pull(
        &store,
        &registry,
        "two/app:1",
        &["--plain-http", "-o", out_arg],
    )
    .assert_success();
    let index: Value = serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["1", whole.as_str()]);
    let one = skopeo::inspect_raw_in(&registry, "one/app:1").unwrap();
    let two = skopeo::inspect_raw_in(&registry, "two/app:1").unwrap();
    let raw =
        |name: &str| skopeo::run(["inspect", "--raw", &format!("oci:{out_arg}:{name}")]).unwrap();
    assert_eq!(raw("1"), one);
    assert_eq!(raw(&whole), two);

    // Pulled by digest alone, an image has no tag to be named by (not `latest`).
    let pinned = format!("one/app@{}", sha256_digest(&one));
    let by_digest = dir.path().join("pinned");
    let by_digest_arg = by_digest.to_str().unwrap();
    for _ in 0..2 {
        pull(
            &store,
            &registry,
            &pinned,
            &["--plain-http", "-o", by_digest_arg],
        )
        .assert_success();
    }
    let index: Value =
        serde_json::from_slice(&fs::read(by_digest.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "pulled again, the same entry: {index}");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        Value::Null
    );
}
