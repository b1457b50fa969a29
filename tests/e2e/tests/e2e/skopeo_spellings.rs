//! skopeo's ways of naming places and images, as a skopeo user writes them to tug: a
//! transport on `tug pull -o`, `:REF` on `tug inspect`, `docker-archive:PATH:@N`, OCI
//! `ref.name`s that are no image references, and `-q` on every copy.

use std::fs;
use std::path::Path;

use crate::common::{hermetic, push, Env, INVALID_INPUT};
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{skopeo, ImageSpec, Registry, Tug, TugOutput};

fn tug(env: &Env) -> Tug {
    hermetic(Tug::new(), env.dir.path())
}

fn run(env: &Env, args: &[&str]) -> TugOutput {
    tug(env).args(args).run()
}

/// `tug pull -o oci:DIR:TAG` and `-o docker-archive:PATH:NAME` write what skopeo's
/// `copy … oci:DIR:TAG` and `docker-archive:PATH:NAME` would: skopeo finds the image there
/// by that name. No file named after the transport is made.
#[test]
fn pull_takes_a_transport_on_its_output() {
    let env = Env::new();
    let registry = Registry::plain();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(81).layer(30_000), "v1");
    push(&registry, &layout, "spell/app:v1").assert_success();
    let image = registry.image("spell/app:v1");
    let dir = env.path("out");
    let oci = format!("oci:{}:mytag", dir.display());
    run(&env, &["pull", "-q", "-o", &oci, &image]).assert_success();
    skopeo::inspect_raw(&oci, skopeo::NO_ARGS).expect("skopeo finds oci:DIR:mytag");
    let tar = env.path("out.tar");
    let archive = format!("docker-archive:{}:my/app:v5", tar.display());
    run(&env, &["pull", "-q", "-o", &archive, &image]).assert_success();
    skopeo::inspect_raw(&archive, skopeo::NO_ARGS).expect("skopeo finds my/app:v5");
    let odd: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(':'))
        .collect();
    assert!(odd.is_empty(), "files named after a transport: {odd:?}");
    let out = run(
        &env,
        &["pull", "-o", &format!("dir:{}", dir.display()), &image],
    );
    out.assert_code(2);
}

/// `tug inspect oci:DIR:REF` shows the image REF names, and fails as skopeo does when there
/// is none; `docker-archive:PATH:@N` (and `oci:DIR:@N`) is the Nth image.
#[test]
fn inspect_and_push_take_the_image_named_after_the_path() {
    let env = Env::new();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(82).layer(1000), "one");
    let second = env.path("second");
    write_oci_layout(&second, &ImageSpec::new(83).layer(2000), "two");
    // The two images in one layout.
    skopeo::copy(
        &format!("oci:{}:two", second.display()),
        &format!("oci:{}:two", layout.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    let at = |r: &str| format!("oci:{}:{r}", layout.display());
    let out = run(&env, &["inspect", &at("two")]).assert_success();
    let text = out.stdout_str();
    assert!(
        text.contains("image 1: two") && !text.contains("image 0"),
        "{text}"
    );
    let out = run(&env, &["inspect", &at("nosuch")]).assert_code(INVALID_INPUT);
    assert!(
        out.stderr_str().contains("no image \"nosuch\""),
        "{}",
        out.stderr_str()
    );

    let registry = Registry::plain();
    run(
        &env,
        &["push", "-q", &at("@1"), &registry.image("spell/at:v1")],
    )
    .assert_success();
    let pushed = skopeo::inspect_raw_in(&registry, "spell/at:v1").unwrap();
    let two = skopeo::inspect_raw(&at("two"), skopeo::NO_ARGS).unwrap();
    assert_eq!(pushed, two, "@1 is the second image");
    // The same without the transport, as the README has it (`PATH:NAME`, `PATH:@INDEX`),
    // for a push and for a copy.
    let bare = |r: &str| format!("{}:{r}", layout.display());
    run(
        &env,
        &["push", "-q", &bare("two"), &registry.image("spell/bare:v1")],
    )
    .assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "spell/bare:v1").unwrap(),
        two
    );
    run(
        &env,
        &["copy", "-q", &bare("@1"), &registry.image("spell/bare:v2")],
    )
    .assert_success();
    assert_eq!(
        skopeo::inspect_raw_in(&registry, "spell/bare:v2").unwrap(),
        two
    );
    // A whole name after the path (`PATH:ghcr.io/org/app:1`), as real names are.
    let whole = "reg.example/ns/app:3.1";
    skopeo::copy(
        &format!("oci:{}:two", second.display()),
        &format!("oci:{}:{whole}", layout.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    for verb in ["push", "copy"] {
        let target = registry.image(&format!("spell/whole-{verb}:v1"));
        run(&env, &[verb, "-q", &bare(whole), &target]).assert_success();
        assert_eq!(
            skopeo::inspect_raw_in(&registry, &format!("spell/whole-{verb}:v1")).unwrap(),
            two
        );
    }
    // `--image` and a name after the path asking for two images: neither is guessed.
    let out = run(
        &env,
        &[
            "push",
            "-q",
            "--image",
            "one",
            &at("two"),
            &registry.image("spell/x:v1"),
        ],
    )
    .assert_code(2);
    assert!(out.stderr_str().contains("ask for two images"), "{out}");
    // `tug save` writes archives; its `--format` offers those alone.
    let out = run(&env, &["save", "--format", "oci", "-o", "dir", "any"]).assert_code(2);
    assert!(
        out.stderr_str().contains("docker-archive or oci-archive"),
        "{out}"
    );
    // A directory named like a registry here does not make a reference a file.
    std::fs::create_dir(env.path("localhost")).unwrap();
    let out = env
        .tug()
        .current_dir(env.dir.path())
        .args(["digest", "--retries", "1", "localhost:1/app:1"])
        .run();
    assert_eq!(out.code, Some(crate::common::REGISTRY), "{out}");
}

/// skopeo writes any `ref.name` (`oci:DIR:Release_1`); it is no image reference. tug keeps
/// it as the store's name (push and save find it by it), and a docker-archive gets no
/// `RepoTags` from it (podman and docker refuse an upper-case repository name).
#[test]
fn a_ref_name_that_is_no_reference_stays_a_name() {
    let env = Env::new();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(84).layer(5000), "v1");
    let odd = env.path("odd");
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("oci:{}:Release_1", odd.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    run(&env, &["load", odd.to_str().unwrap()]).assert_success();
    let registry = Registry::plain();
    run(
        &env,
        &["push", "-q", "Release_1", &registry.image("spell/odd:v1")],
    )
    .assert_success();
    run(
        &env,
        &[
            "push",
            "-q",
            "store:Release_1",
            &registry.image("spell/odd:v2"),
        ],
    )
    .assert_success();
    let tar = env.path("odd.tar");
    run(&env, &["save", "Release_1", "-o", tar.to_str().unwrap()]).assert_success();
    let manifest = read_entry(&tar, "manifest.json");
    let v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(v[0]["RepoTags"], serde_json::json!([]), "{v}");
    skopeo::inspect_raw(
        &format!("docker-archive:{}", tar.display()),
        skopeo::NO_ARGS,
    )
    .expect("skopeo reads it");
    // An OCI archive keeps it as its `ref.name`: skopeo finds the image by it.
    let oci = env.path("odd.oci.tar");
    run(&env, &["save", "Release_1", "-o", oci.to_str().unwrap()]).assert_success();
    skopeo::inspect_raw(
        &format!("oci-archive:{}:Release_1", oci.display()),
        skopeo::NO_ARGS,
    )
    .expect("skopeo finds Release_1");

    // The same image loaded again without a name (skopeo's dir: has none): it is kept
    // under its digest, and `tug rm` of that name removes it though another name shares it.
    let plain = env.path("plain");
    skopeo::copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("dir:{}", plain.display()),
        &["--preserve-digests"],
    )
    .unwrap();
    run(&env, &["load", plain.to_str().unwrap()]).assert_success();
    let listed = run(&env, &["images", "--json"]).assert_success();
    let images: serde_json::Value = serde_json::from_str(&listed.stdout_str()).unwrap();
    let unnamed = images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .find(|n| n.starts_with("sha256:"))
        .expect("an image kept under its digest");
    run(&env, &["rm", &unnamed]).assert_success();
    let listed = run(&env, &["images"]).assert_success().stdout_str();
    assert!(
        !listed.contains("sha256:") || !listed.contains(&unnamed),
        "{listed}"
    );
    assert!(listed.contains("Release_1"), "{listed}");
}

/// `tug save -o docker-archive:PATH:NAME` as `tug pull -o` takes it; a copy from a file to
/// an archive that cannot be written fails before the file is read.
#[test]
fn save_takes_a_transport_on_its_output() {
    let env = Env::new();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(86).layer(3000), "v1");
    run(&env, &["load", &format!("oci:{}:v1", layout.display())]).assert_success();
    let listed = run(&env, &["images", "--json"]).assert_success();
    let images: serde_json::Value = serde_json::from_str(&listed.stdout_str()).unwrap();
    let name = images[0]["name"].as_str().unwrap().to_owned();
    let tar = env.path("saved.tar");
    let spelled = format!("docker-archive:{}:foo/bar:7", tar.display());
    run(&env, &["save", &name, "-o", &spelled]).assert_success();
    skopeo::inspect_raw(&spelled, skopeo::NO_ARGS).expect("skopeo finds foo/bar:7");
    let taken = env.path("taken.tar");
    fs::create_dir(&taken).unwrap();
    let out = run(
        &env,
        &[
            "copy",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker-archive:{}", taken.display()),
        ],
    )
    .assert_code(INVALID_INPUT);
    let err = out.stderr_str();
    assert!(
        err.contains("is a directory") && !err.contains("Loaded"),
        "{err}"
    );
}

/// `-q` leaves standard error empty on a copy between files too (run by load and save).
#[test]
fn a_quiet_copy_between_files_says_nothing() {
    let env = Env::new();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(85).layer(3000), "v1");
    let out = run(
        &env,
        &[
            "copy",
            "-q",
            &format!("oci:{}:v1", layout.display()),
            &format!("oci-archive:{}", env.path("x.oci.tar").display()),
        ],
    )
    .assert_success();
    assert_eq!(out.stderr_str(), "");
}

/// One file's bytes out of a tar.
fn read_entry(tar: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("no {name} in {}", tar.display())
}
