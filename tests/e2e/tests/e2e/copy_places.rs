//! `tug copy SRC DST` between any two places: registries, `oci:` layouts, `oci-archive:` and
//! `docker-archive:` tars and the local store, each kind as source and as destination,
//! checked by skopeo (`skopeo inspect --raw`, `skopeo copy` reading every blob back) or by
//! digest.

use crate::common::{hermetic, push, Env};
use std::path::Path;

use tug_testkit::fixtures::{
    docker_types_layout, pull_with_skopeo_and_compare, pull_with_skopeo_and_compare_layers,
    skopeo_docker_archive, write_oci_layout,
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
    let out = copy(&env, "oci:./nowhere:v1", "dir:./elsewhere").assert_code(2);
    assert!(
        out.stderr_str()
            .contains("does not write it; write oci:DIR"),
        "{}",
        out.stderr_str()
    );
}

/// A file or a store image into an OCI layout, as `skopeo copy docker-archive:… oci:DIR:TAG`
/// writes one: named by the `:REF` given, else by the source's tag, beside the images the
/// layout holds (their blobs shared, not copied again); skopeo reads each back whole.
#[test]
fn a_file_or_store_image_into_an_oci_layout() {
    let env = Env::new();
    let (dir, fixture) = layout(&env, 67);
    let tar = env.path("image.tar");
    skopeo_docker_archive(Path::new(&dir), "v1", &tar, "example/app:v1");
    let out = env.path("out");
    let named = format!("oci:{}:v2", out.display());
    copy(&env, &format!("docker-archive:{}", tar.display()), &named).assert_success();
    skopeo_reads_all_of(&env, &named);
    let written = skopeo::inspect_raw(&named, skopeo::NO_ARGS).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(manifest["config"]["digest"], fixture.config_digest.as_str());
    // Without a `:REF`, the source's tag; the layout keeps `v2`.
    let unnamed = format!("oci:{}", out.display());
    copy(&env, &format!("oci:{dir}:v1"), &unnamed).assert_success();
    skopeo_reads_all_of(&env, &format!("oci:{}:v1", out.display()));
    skopeo_reads_all_of(&env, &named);
    // `tug save` writes the same, from the store.
    let load = hermetic(Tug::new(), env.dir.path())
        .args(["load", &tar.display().to_string()])
        .run()
        .assert_success();
    assert!(
        load.stderr_str().contains("example/app:v1"),
        "{}",
        load.stderr_str()
    );
    let saved = format!("oci:{}:v3", out.display());
    hermetic(Tug::new(), env.dir.path())
        .args(["save", "example/app:v1", "-o", &saved])
        .run()
        .assert_success();
    skopeo_reads_all_of(&env, &saved);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(names, ["v2", "v1", "v3"], "{index}");
    assert!(
        !out.join(".tug.lock").exists(),
        "the layout holds images only"
    );
    // A file where the layout would go: refused before anything is read.
    std::fs::write(env.path("a-file"), b"x").unwrap();
    let refused = copy(
        &env,
        &format!("oci:{dir}:v1"),
        &format!("oci:{}", env.path("a-file").display()),
    )
    .assert_code(3);
    assert!(
        refused
            .stderr_str()
            .contains("an OCI layout is written as a directory"),
        "{}",
        refused.stderr_str()
    );
}

/// The `ref.name`s of the layout at `dir`, in order.
fn ref_names(dir: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect()
}

/// A layout another tool wrote (skopeo names its images by their tag alone) keeps its
/// images: a name tug chooses (the image's tag) never takes one away; the image takes its
/// whole name instead, or, with none to take, the copy asks for a name. A name given
/// (`oci:DIR:REF`) replaces what it names, as skopeo's does. A layout source's bare tag
/// names the image in the target.
#[test]
fn a_layout_another_tool_wrote_keeps_its_images() {
    let env = Env::new();
    let (theirs, _) = layout(&env, 69);
    let shared = env.path("shared");
    let at = |name: &str| format!("oci:{}:{name}", shared.display());
    skopeo::copy(&format!("oci:{theirs}:v1"), &at("1"), skopeo::NO_ARGS).unwrap();
    let original = skopeo::inspect_raw(&at("1"), skopeo::NO_ARGS).unwrap();
    // A docker save whose image is example/app:1: its tag is `1`, taken by skopeo's image.
    let ours = env.path("ours");
    let fixture = write_oci_layout(&ours, &ImageSpec::new(70).layer(30_000), "1");
    let tar = env.path("ours.tar");
    skopeo_docker_archive(&ours, "1", &tar, "example/app:1");
    let out = copy(
        &env,
        &format!("docker-archive:{}", tar.display()),
        &format!("oci:{}", shared.display()),
    )
    .assert_success();
    assert!(
        out.stderr_str().contains("docker.io/example/app:1"),
        "{}",
        out.stderr_str()
    );
    assert_eq!(
        skopeo::inspect_raw(&at("1"), skopeo::NO_ARGS).unwrap(),
        original
    );
    let whole = skopeo::inspect_raw(&at("docker.io/example/app:1"), skopeo::NO_ARGS).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&whole).unwrap();
    assert_eq!(manifest["config"]["digest"], fixture.config_digest.as_str());
    // A layout's image tagged `1` alone has no whole name: the copy asks for a name.
    let clash = copy(
        &env,
        &format!("oci:{}", ours.display()),
        &format!("oci:{}", shared.display()),
    )
    .assert_code(3);
    assert!(
        clash.stderr_str().contains("give this one a name"),
        "{}",
        clash.stderr_str()
    );
    assert_eq!(
        skopeo::inspect_raw(&at("1"), skopeo::NO_ARGS).unwrap(),
        original
    );
    // Given, the name replaces skopeo's.
    copy(&env, &format!("oci:{}", ours.display()), &at("1")).assert_success();
    let replaced = skopeo::inspect_raw(&at("1"), skopeo::NO_ARGS).unwrap();
    assert_eq!(
        sha256_digest(&replaced),
        fixture.manifest_digest.clone().unwrap()
    );
    // Into a layout of its own, the source's bare tag is the image's name there.
    let fresh = env.path("fresh");
    copy(
        &env,
        &format!("oci:{}", ours.display()),
        &format!("oci:{}", fresh.display()),
    )
    .assert_success();
    assert_eq!(ref_names(&fresh), ["1"]);
    skopeo_reads_all_of(&env, &format!("oci:{}:1", fresh.display()));
}

/// An image with no name (skopeo's `dir:`) written with a bare `:REF` is named by that
/// `ref.name` alone, as skopeo writes it (no made-up repository); a target whose
/// `index.json` cannot be read is refused before anything is read or written.
#[test]
fn names_and_targets_are_checked_as_skopeo_would() {
    let env = Env::new();
    let (dir, _) = layout(&env, 71);
    let plain = env.path("plain");
    skopeo::copy(
        &format!("oci:{dir}:v1"),
        &format!("dir:{}", plain.display()),
        skopeo::NO_ARGS,
    )
    .unwrap();
    let archive = env.path("unnamed.oci.tar");
    copy(
        &env,
        &format!("dir:{}", plain.display()),
        &format!("oci-archive:{}:v5", archive.display()),
    )
    .assert_success();
    let index = std::process::Command::new("tar")
        .args(["xOf", archive.to_str().unwrap(), "index.json"])
        .output()
        .unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.ref.name"], "v5",
        "{index}"
    );
    assert!(
        annotations.get("io.containerd.image.name").is_none(),
        "{index}"
    );
    skopeo_reads_all_of(&env, &format!("oci-archive:{}:v5", archive.display()));
    let broken = env.path("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("index.json"), b"{").unwrap();
    let refused = copy(
        &env,
        &format!("oci:{dir}:v1"),
        &format!("oci:{}", broken.display()),
    )
    .assert_code(3);
    assert!(
        refused.stderr_str().contains("index.json"),
        "{}",
        refused.stderr_str()
    );
    assert!(
        !refused.stderr_str().contains("Loaded"),
        "{}",
        refused.stderr_str()
    );
    assert!(!broken.join("blobs").exists(), "nothing written");
}

/// A registry's Docker-typed image pulled into a layout is written with OCI media types,
/// as skopeo writes it, and the layout holds what it names: not the manifest as served.
#[test]
fn a_docker_typed_image_pulled_into_a_layout_holds_only_its_oci_form() {
    let env = Env::new();
    let registry = Registry::plain();
    let docker = env.path("docker");
    let fixture = docker_types_layout(&docker, &ImageSpec::new(72).layer(40_000), "v1");
    push(&registry, &docker, "d/app:v1").assert_success();
    let out = env.path("out");
    let dst = format!("oci:{}:v1", out.display());
    copy(&env, &registry.image("d/app:v1"), &dst).assert_success();
    let written = skopeo::inspect_raw(&dst, skopeo::NO_ARGS).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let served = fixture.manifest_digest.clone().unwrap();
    let hex = served.trim_start_matches("sha256:");
    assert!(
        !out.join("blobs/sha256").join(hex).exists(),
        "the manifest as served is not kept"
    );
    skopeo_reads_all_of(&env, &dst);
}

/// A multi-platform file into a layout: the index whole with every platform, as skopeo
/// copies it, or with `--platform` that platform's image alone.
#[test]
fn a_multi_platform_file_into_an_oci_layout() {
    let env = Env::new();
    let multi = env.path("multi");
    let (index, children) = crate::common::multi_platform_layout(&multi);
    let whole = format!("oci:{}:all", env.path("out").display());
    copy(&env, &format!("oci:{}:multi", multi.display()), &whole).assert_success();
    let written = skopeo::inspect_raw(&whole, skopeo::NO_ARGS).unwrap();
    assert_eq!(sha256_digest(&written), sha256_digest(&index));
    for child in &children {
        let hex = child.trim_start_matches("sha256:");
        assert!(env.path("out/blobs/sha256").join(hex).exists(), "{child}");
    }
    let one = format!("oci:{}:arm", env.path("out").display());
    hermetic(Tug::new(), env.dir.path())
        .args(["copy", "--platform", "linux/arm64"])
        .arg(format!("oci:{}:multi", multi.display()))
        .arg(&one)
        .run()
        .assert_success();
    let arm = skopeo::inspect_raw(&one, skopeo::NO_ARGS).unwrap();
    assert_eq!(sha256_digest(&arm), children[1]);
    skopeo_reads_all_of(&env, &one);
}

/// An image kept with the Docker media types it was served with is written into OCI
/// outputs (a layout, an OCI archive) with OCI media types, as a pull writes them and
/// skopeo does: skopeo finds an image by its `ref.name` only among OCI-typed entries. A
/// damaged blob of the store fails the copy, naming the file, and the layout never names
/// the image.
#[test]
fn a_docker_typed_image_goes_into_oci_outputs_with_oci_types() {
    let env = Env::new();
    let docker = env.path("docker");
    let fixture = docker_types_layout(&docker, &ImageSpec::new(68).layer(60_000), "v1");
    hermetic(Tug::new(), env.dir.path())
        .args(["load", &format!("oci:{}:v1", docker.display())])
        .run()
        .assert_success();
    let stored = "docker.io/library/v1:latest";
    let layout = format!("oci:{}:app", env.path("out").display());
    copy(&env, &format!("store:{stored}"), &layout).assert_success();
    let archive = format!("oci-archive:{}:app", env.path("out.oci.tar").display());
    hermetic(Tug::new(), env.dir.path())
        .args(["save", stored, "-o", &archive])
        .run()
        .assert_success();
    for place in [&layout, &archive] {
        let written = skopeo::inspect_raw(place, skopeo::NO_ARGS)
            .unwrap_or_else(|e| panic!("skopeo finds {place} by its name: {e}"));
        let manifest: serde_json::Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(
            manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
            "{place}"
        );
        assert_eq!(manifest["config"]["digest"], fixture.config_digest.as_str());
        skopeo_reads_all_of(&env, place);
    }
    // A layer of the store damaged: the copy fails naming it; the layout does not name it.
    let layer = fixture.layers[0]
        .digest
        .trim_start_matches("sha256:")
        .to_owned();
    let store_blob = env.dir.path().join("store/blobs/sha256").join(&layer);
    assert!(store_blob.exists(), "the store is where the test thinks");
    std::fs::write(&store_blob, b"damaged").unwrap();
    let fresh = env.path("fresh");
    let refused = copy(
        &env,
        &format!("store:{stored}"),
        &format!("oci:{}:app", fresh.display()),
    )
    .assert_code(3);
    assert!(
        refused.stderr_str().contains(&layer) && refused.stderr_str().contains("damaged"),
        "{}",
        refused.stderr_str()
    );
    let index = std::fs::read_to_string(fresh.join("index.json")).unwrap_or_default();
    assert!(
        !index.contains("ref.name"),
        "the image is not named: {index}"
    );
    assert!(!fresh.join("blobs/sha256").join(&layer).exists());
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
