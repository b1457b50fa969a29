//! `tug copy SRC DST` between any two places: registries, `oci:` layouts, `oci-archive:` and
//! `docker-archive:` tars and the local store, each kind as source and as destination,
//! checked by skopeo (`skopeo inspect --raw`, `skopeo copy` reading every blob back) or by
//! digest.

use crate::common::{hermetic, push, Env};
use tug_testkit::fixtures::{
    pull_with_skopeo_and_compare, pull_with_skopeo_and_compare_layers, skopeo_docker_archive,
    write_oci_layout,
};
use tug_testkit::hashing::sha256_digest;
use tug_testkit::{skopeo, FixtureImage, ImageSpec, Registry, Tug, TugOutput};

/// `tug copy SRC DST` in `env`'s world.
fn copy(env: &Env, src: &str, dst: &str) -> TugOutput {
    hermetic(Tug::new(), env.dir.path())
        .args(["copy", "--progress", "plain", src, dst])
        .run()
}

/// An OCI layout in `env` holding one image tagged `v1`.
fn layout(env: &Env, seed: u64) -> (String, FixtureImage) {
    let dir = env.path("layout");
    let spec = ImageSpec::new(seed).gzip_layer(120_000).layer(80_000);
    let fixture = write_oci_layout(&dir, &spec, "v1");
    (dir.display().to_string(), fixture)
}

/// Reads every blob of `place` with skopeo (into a scratch layout): the copy is whole.
fn skopeo_reads_all_of(env: &Env, place: &str) {
    let scratch = env.path("skopeo-check");
    let _ = std::fs::remove_dir_all(&scratch);
    skopeo::copy(
        place,
        &format!("oci:{}:x", scratch.display()),
        skopeo::NO_ARGS,
    )
    .unwrap_or_else(|e| panic!("skopeo cannot copy out of {place}: {e}"));
}

#[test]
fn oci_layout_to_registry() {
    let env = Env::new();
    let registry = Registry::plain();
    let (dir, fixture) = layout(&env, 61);
    copy(&env, &format!("oci:{dir}:v1"), &registry.image("app/oci:1")).assert_success();
    pull_with_skopeo_and_compare(&registry, "app/oci:1", &fixture);
}

#[test]
fn registry_to_oci_layout_named_as_asked() {
    let env = Env::new();
    let registry = Registry::plain();
    let (dir, _) = layout(&env, 62);
    push(&registry, &dir, "app/src:v1").assert_success();
    let out = env.path("out");
    let dst = format!("oci:{}:named", out.display());
    copy(
        &env,
        &format!("docker://{}", registry.image("app/src:v1")),
        &dst,
    )
    .assert_success();
    let served = skopeo::inspect_raw_in(&registry, "app/src:v1").unwrap();
    let written = skopeo::inspect_raw(&dst, skopeo::NO_ARGS).unwrap();
    assert_eq!(sha256_digest(&written), sha256_digest(&served));
    skopeo_reads_all_of(&env, &dst);
}

#[test]
fn registry_to_oci_archive_keeps_a_multi_platform_index() {
    let env = Env::new();
    let registry = Registry::plain();
    let (index, children) = crate::common::multi_platform_layout(&env.path("multi"));
    push(&registry, env.path("multi"), "multi/app:v1").assert_success();
    let archive = env.path("multi.oci.tar");
    let dst = format!("oci-archive:{}:multi", archive.display());
    copy(&env, &registry.image("multi/app:v1"), &dst).assert_success();
    let written = skopeo::inspect_raw(&dst, skopeo::NO_ARGS).unwrap();
    assert_eq!(sha256_digest(&written), sha256_digest(&index));
    let scratch = env.path("all");
    skopeo::copy(
        &dst,
        &format!("oci:{}:x", scratch.display()),
        &["--all", "--preserve-digests"],
    )
    .unwrap();
    for child in &children {
        let hex = child.trim_start_matches("sha256:");
        assert!(
            scratch.join("blobs/sha256").join(hex).exists(),
            "platform manifest {child} is in the archive"
        );
    }
}

#[test]
fn docker_archive_to_registry() {
    let env = Env::new();
    let registry = Registry::plain();
    let dir = env.path("layout");
    let fixture = write_oci_layout(&dir, &ImageSpec::new(63).layer(90_000), "v1");
    let tar = env.path("image.tar");
    skopeo_docker_archive(&dir, "v1", &tar, "example/app:v1");
    let src = format!("docker-archive:{}", tar.display());
    copy(&env, &src, &registry.image("app/docker:1")).assert_success();
    pull_with_skopeo_and_compare_layers(&registry, "app/docker:1", &fixture);
}

#[test]
fn oci_layout_to_docker_archive() {
    let env = Env::new();
    let (dir, fixture) = layout(&env, 64);
    let tar = env.path("out.tar");
    let dst = format!("docker-archive:{}", tar.display());
    copy(&env, &format!("oci:{dir}:v1"), &dst).assert_success();
    let written = skopeo::inspect_raw(&dst, skopeo::NO_ARGS).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        fixture.config_digest.as_str(),
        "the same image config: {manifest}"
    );
    skopeo_reads_all_of(&env, &dst);
}

/// `docker-archive:PATH:NAME` and `oci-archive:PATH:NAME` name the image in the archive
/// written, as skopeo's do: a docker-archive by a reference, an OCI archive by a tag.
#[test]
fn an_archive_written_from_a_file_takes_the_name_given_after_its_path() {
    let env = Env::new();
    let (dir, _) = layout(&env, 66);
    let tar = env.path("named.tar");
    let dst = format!("docker-archive:{}:my/app:v2", tar.display());
    let out = copy(&env, &format!("oci:{dir}:v1"), &dst).assert_success();
    assert!(
        out.stderr_str().contains("as docker.io/my/app:v2"),
        "{}",
        out.stderr_str()
    );
    // skopeo finds the image by the name given (`docker-archive:PATH:NAME` reads RepoTags).
    skopeo_reads_all_of(&env, &format!("docker-archive:{}:my/app:v2", tar.display()));
    let oci = env.path("named.oci.tar");
    let dst = format!("oci-archive:{}:v3", oci.display());
    copy(&env, &format!("docker-archive:{}", tar.display()), &dst).assert_success();
    skopeo_reads_all_of(&env, &dst);
    // A whole reference as the name: the `ref.name` as written, as skopeo reads it.
    let dst = format!(
        "oci-archive:{}:reg.example/a/b:2",
        env.path("full.oci.tar").display()
    );
    copy(&env, &format!("docker-archive:{}", tar.display()), &dst).assert_success();
    skopeo_reads_all_of(&env, &dst);
    let digest = format!("sha256:{}", "0".repeat(64));
    let by_digest = format!(
        "docker-archive:{}:app@{digest}",
        env.path("d.tar").display()
    );
    let refused = copy(&env, &format!("oci:{dir}:v1"), &by_digest).assert_code(2);
    assert!(
        refused.stderr_str().contains("by a tag, not a digest"),
        "{}",
        refused.stderr_str()
    );
}

#[test]
fn registry_to_store_and_store_to_registry() {
    let env = Env::new();
    let a = Registry::plain();
    let b = Registry::plain();
    let (dir, fixture) = layout(&env, 65);
    push(&a, &dir, "app/src:v1").assert_success();
    copy(&env, &a.image("app/src:v1"), "store:").assert_success();
    let images = hermetic(Tug::new(), env.dir.path())
        .args(["images", "--json"])
        .run()
        .assert_success();
    let served = sha256_digest(&skopeo::inspect_raw_in(&a, "app/src:v1").unwrap());
    assert!(
        images.stdout_str().contains(&served),
        "the store holds the image: {}",
        images.stdout_str()
    );
    let name = format!("store:{}", a.image("app/src:v1"));
    copy(&env, &name, &b.image("app/back:v1")).assert_success();
    pull_with_skopeo_and_compare(&b, "app/back:v1", &fixture);
}

#[test]
fn places_that_make_no_sense_are_usage_errors() {
    let env = Env::new();
    let out = copy(&env, "sif:/tmp/x", "localhost:5000/app:1").assert_code(2);
    assert!(
        out.stderr_str().contains("sif: is a skopeo transport"),
        "{}",
        out.stderr_str()
    );
    let out = copy(&env, "store:app:1", "store:").assert_code(2);
    assert!(
        out.stderr_str().contains("both sides"),
        "{}",
        out.stderr_str()
    );
    let out = copy(&env, "oci:./nowhere:v1", "oci:./elsewhere").assert_code(2);
    assert!(
        out.stderr_str()
            .contains("tug writes a layout (oci:) only from a registry"),
        "{}",
        out.stderr_str()
    );
}

/// A path given without a transport is the path as it stands (`./a:b/out.tar` is a file
/// in the directory `a:b`, never `./a` named `b/out.tar`), an archive in a directory here
/// (`out.d/x.tar`) is a file, and a repository named like an archive on a registry host
/// (`HOST:PORT/team/app.tar`) stays a repository.
#[test]
fn bare_paths_and_archive_named_repositories_are_what_they_look_like() {
    let env = Env::new();
    let registry = Registry::plain();
    let (dir, _) = layout(&env, 95);
    push(&registry, std::path::Path::new(&dir), "bare/app:v1").assert_success();
    let image = registry.image("bare/app:v1");
    let colon = env.path("a:b");
    std::fs::create_dir(&colon).unwrap();
    let dotted = env.path("out.d");
    std::fs::create_dir(&dotted).unwrap();
    let cwd = |args: &[&str]| {
        hermetic(Tug::new(), env.dir.path())
            .current_dir(env.dir.path())
            .args(args)
            .run()
    };
    cwd(&["copy", "-q", &image, "./a:b/out.tar"]).assert_success();
    assert!(colon.join("out.tar").is_file());
    assert!(!env.path("a").exists(), "nothing written at ./a");
    cwd(&["copy", "-q", &image, "out.d/x.tar"]).assert_success();
    skopeo_reads_all_of(
        &env,
        &format!("docker-archive:{}", dotted.join("x.tar").display()),
    );
    // `PATH:@INDEX` of an archive named as one, with no transport and no `./`.
    cwd(&[
        "copy",
        "-q",
        "out.d/x.tar:@0",
        &registry.image("bare/again:v1"),
    ])
    .assert_success();
    skopeo::inspect_raw_in(&registry, "bare/again:v1").expect("copied from the archive");
    let named = registry.image("team/app.tar");
    cwd(&["copy", "-q", &image, &named]).assert_success();
    skopeo::inspect_raw_in(&registry, "team/app.tar:latest").expect("a repository app.tar");
}
