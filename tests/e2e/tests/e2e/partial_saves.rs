//! `docker save` from Docker 27 on, with its containerd image store: the tar's `index.json`
//! names the image's whole index (every platform, an attestation) and holds the image of one
//! platform. Every command takes it as that one image, and the store keeps it as Docker does.

use std::path::Path;

use crate::common::{push, INVALID_INPUT};
use tug_testkit::fixtures::{
    docker27_partial_save, pull_with_skopeo_and_check_diff_ids, pull_with_skopeo_and_compare,
};
use tug_testkit::{skopeo, ImageSpec, Registry, Tug, TugOutput};

fn spec() -> ImageSpec {
    ImageSpec::new(2701).layer(120_000).gzip_layer(80_000)
}

/// skopeo pushes an archive tug wrote (to a registry of its own: its blob-info cache would
/// reuse the blobs tug pushed before); the image must be the fixture's. A docker-archive's
/// layers are gzipped on the way, an OCI archive's kept as they are.
fn skopeo_push(registry: &Registry, source: &str, name: &str) {
    let keep: &[&str] = match source.starts_with("oci-archive:") {
        true => &["--preserve-digests"],
        false => &[],
    };
    skopeo::copy_to_registry(source, registry, name, keep)
        .unwrap_or_else(|e| panic!("skopeo cannot read {source}: {e}"));
}

fn stderr_has(out: &TugOutput, text: &str) {
    assert!(
        out.stderr_str().contains(text),
        "no {text:?} in:\n{}",
        out.stderr_str()
    );
}

#[test]
fn a_partial_save_is_pushed_loaded_saved_and_pruned_as_its_one_image() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("d27.tar");
    let fixture = docker27_partial_save(&tar, &spec(), "partial/app:v1");
    push(&registry, &tar, "partial/app:v1").assert_success();
    pull_with_skopeo_and_compare(&registry, "partial/app:v1", &fixture);

    let registry = Registry::plain();
    let store = dir.path().join("store");
    let tug = || Tug::new().env("TUG_STORE", &store);
    let loaded = tug().arg("load").arg(&tar).run().assert_success();
    stderr_has(&loaded, "(1 platform: linux/amd64)");
    // Nothing of the image is unreferenced: the platforms it lacks name nothing stored.
    let pruned = tug().args(["prune", "--all"]).run().assert_success();
    stderr_has(&pruned, "Removed 0 unreferenced blobs");
    let listed = tug().args(["images", "--json"]).run().assert_success();
    assert!(
        !listed.stdout_str().contains("\"size\":0"),
        "the image has a size: {}",
        listed.stdout_str()
    );

    // A docker-archive holds one platform: the one the store holds, without asking.
    let saved = dir.path().join("saved.tar");
    let out = save(&tug, &saved, &[]).assert_success();
    stderr_has(&out, "(linux/amd64)");
    skopeo_push(
        &registry,
        &archive("docker-archive", &saved),
        "partial/saved:v1",
    );
    pull_with_skopeo_and_check_diff_ids(&registry, "partial/saved:v1", &fixture);
    let lacking = save(
        &tug,
        &dir.path().join("arm.tar"),
        &["--platform", "linux/arm64/v8"],
    )
    .assert_code(INVALID_INPUT);
    stderr_has(
        &lacking,
        "lists linux/arm64/v8, but the store does not hold its image",
    );

    // A copy from the file goes through a store of its own: the same choices.
    let copied = dir.path().join("copied.tar");
    Tug::new()
        .env("TUG_STORE", dir.path().join("unused"))
        .arg("copy")
        .arg(archive("docker-archive", &tar))
        .arg(archive("docker-archive", &copied))
        .run()
        .assert_success();
    skopeo_push(
        &registry,
        &archive("docker-archive", &copied),
        "partial/copied:v1",
    );
    pull_with_skopeo_and_check_diff_ids(&registry, "partial/copied:v1", &fixture);
    // An OCI archive keeps the index whole, as Docker's save did, with the image there is.
    // (Pushed last: skopeo would take its plain layer for the docker-archives' gzip one.)
    let oci = dir.path().join("saved.oci.tar");
    let out = save(&tug, &oci, &[]).assert_success();
    stderr_has(&out, "lists 2 platforms the store does not hold");
    skopeo_push(&registry, &archive("oci-archive", &oci), "partial/oci:v1");
    pull_with_skopeo_and_compare(&registry, "partial/oci:v1", &fixture);
}

fn save(tug: &dyn Fn() -> Tug, out: &Path, extra: &[&str]) -> TugOutput {
    tug()
        .args(["save", "partial/app:v1", "-o"])
        .arg(out)
        .args(extra)
        .run()
}

fn archive(transport: &str, path: &Path) -> String {
    format!("{transport}:{}", path.display())
}
