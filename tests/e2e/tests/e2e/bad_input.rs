//! Bad input files: each gets its own clear error naming the file or entry, exit code 3,
//! and nothing is tagged in the registry.

use std::fs;
use std::path::Path;

use crate::common::{push, INVALID_INPUT};
use tug_testkit::fixtures::{classic_docker_save, write_oci_layout};
use tug_testkit::{skopeo, ImageSpec, Registry, Tug};

/// Writes a tar holding `entries` (path, bytes); raw names are written as given, even
/// `../` ones the `tar` crate would refuse.
fn write_tar(path: &Path, entries: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.finish().unwrap();
}

/// Pushes `source`, expects exit code 3 with `needle` in the message, and checks nothing
/// was tagged.
fn expect_invalid(registry: &Registry, source: &Path, needle: &str) -> String {
    let out = push(registry, source, "bad/app:v1").assert_code(INVALID_INPUT);
    let err = out.stderr_str();
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        skopeo::inspect_raw_in(registry, "bad/app:v1").is_err(),
        "nothing is tagged"
    );
    err
}

#[test]
fn every_bad_input_gets_its_own_error() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.tar");
    classic_docker_save(
        &good,
        &ImageSpec::new(1).layer(50_000).layer(70_000),
        "x/y:1",
    );
    let bytes = fs::read(&good).unwrap();

    // A truncated tar.
    let truncated = d.join("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2 + 100]).unwrap();
    expect_invalid(&registry, &truncated, "truncated");

    // A path that names nothing. An absolute one, or one named as an archive is, is a
    // missing file; a bare name could also be an image of the local store, and the error
    // says it is neither. `--image` with a missing file is no choice among the store's.
    expect_invalid(&registry, &d.join("absent.tar"), "absent.tar: No such file");
    let tug_in_d = |args: &[&str]| {
        crate::common::tug_for(&registry)
            .current_dir(d)
            .env("TUG_STORE", d.join("store"))
            .args(args)
            .arg(registry.image("bad/app:v1"))
            .run()
            .assert_code(INVALID_INPUT)
    };
    let out = tug_in_d(&["absent.tar"]);
    assert!(out.stderr_str().contains("cannot open absent.tar"), "{out}");
    let out = tug_in_d(&["absent"]);
    assert!(
        out.stderr_str()
            .contains("absent: no such file, nor an image of that name in the store"),
        "{out}"
    );
    let out = tug_in_d(&["absent", "--image", "0"]);
    assert!(
        out.stderr_str().contains("absent: no such file (--image 0"),
        "{out}"
    );

    // A file that is not a tar at all.
    let not_tar = d.join("notes.txt");
    fs::write(&not_tar, "hello, this is not an image\n".repeat(40)).unwrap();
    expect_invalid(&registry, &not_tar, "not a tar");

    // A tar with neither manifest.json nor index.json.
    let no_manifest = d.join("no-manifest.tar");
    write_tar(&no_manifest, &[("hello.txt", b"hi")]);
    expect_invalid(&registry, &no_manifest, "manifest.json");

    // A malformed manifest.json.
    let malformed = d.join("malformed.tar");
    write_tar(&malformed, &[("manifest.json", b"[{\"Config\": ")]);
    expect_invalid(&registry, &malformed, "manifest.json");

    // A manifest naming an entry the tar lacks.
    let missing = d.join("missing.tar");
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
    let manifest =
        br#"[{"Config":"config.json","RepoTags":["x/y:1"],"Layers":["nope/layer.tar"]}]"#;
    write_tar(
        &missing,
        &[("config.json", config), ("manifest.json", manifest)],
    );
    expect_invalid(&registry, &missing, "nope/layer.tar");

    // An entry path escaping the archive.
    let escaping = d.join("escaping.tar");
    let manifest =
        br#"[{"Config":"config.json","RepoTags":["x/y:1"],"Layers":["../evil/layer.tar"]}]"#;
    write_tar(
        &escaping,
        &[
            ("config.json", config),
            ("../evil/layer.tar", b""),
            ("manifest.json", manifest),
        ],
    );
    expect_invalid(&registry, &escaping, "../evil/layer.tar");
}

#[test]
fn sizes_and_digests_must_match_their_descriptors() {
    let registry = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let fixture = write_oci_layout(
        &layout,
        &ImageSpec::new(2).layer(60_000).layer(80_000),
        "v1",
    );
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };

    // A layer longer than its descriptor says.
    let first = blob(&fixture.layers[0].digest);
    let original = fs::read(&first).unwrap();
    let mut longer = original.clone();
    longer.extend_from_slice(b"extra");
    fs::write(&first, &longer).unwrap();
    let err = expect_invalid(&registry, &layout, "size");
    assert!(
        err.contains(fixture.layers[0].digest.trim_start_matches("sha256:")),
        "{err}"
    );
    fs::write(&first, &original).unwrap();

    // A layer of the right size whose bytes do not match its digest.
    let second = blob(&fixture.layers[1].digest);
    let mut flipped = fs::read(&second).unwrap();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    fs::write(&second, &flipped).unwrap();
    let err = expect_invalid(&registry, &layout, "does not match its digest");
    assert!(err.contains(&fixture.layers[1].digest), "{err}");
    // Named by its file.
    assert!(err.contains(&second.display().to_string()), "{err}");

    // The same with --compress: the registry only sees the compressed blob, so the first
    // pass checks the plain bytes; its failure stops the push, which tags nothing.
    let out = crate::common::tug_for(&registry)
        .env("TUG_STATE_DIR", dir.path().join("state"))
        .args(["--progress", "plain", "--compress", "zstd"])
        .arg(&layout)
        .arg(registry.image("bad/app:v1"))
        .run()
        .assert_code(INVALID_INPUT);
    let err = out.stderr_str();
    assert!(err.contains("as the image says"), "{err}");
    assert!(err.contains(&fixture.layers[1].digest), "{err}");
    assert!(!err.contains("cancelled"), "{err}");
    assert!(skopeo::inspect_raw_in(&registry, "bad/app:v1").is_err());
}

#[test]
fn several_images_need_a_choice_and_the_error_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&layout, &ImageSpec::new(3).layer(1000), "one");
    // A second tag in the same layout, pointing at another image.
    let other = dir.path().join("other");
    write_oci_layout(&other, &ImageSpec::new(4).layer(2000), "two");
    for entry in fs::read_dir(other.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(
            entry.path(),
            layout.join("blobs/sha256").join(entry.file_name()),
        )
        .unwrap();
    }
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let second: serde_json::Value =
        serde_json::from_slice(&fs::read(other.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(second["manifests"][0].clone());
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let registry = Registry::plain();
    let out = push(&registry, &layout, "multi/app:v1").assert_code(INVALID_INPUT);
    let err = out.stderr_str();
    assert!(err.contains("one") && err.contains("two"), "{err}");
    crate::common::push_with(&registry, &layout, "multi/app:v1", &["--image", "two"])
        .assert_success();
    let out = Tug::new()
        .arg("inspect")
        .arg(&layout)
        .run()
        .assert_success();
    assert!(
        out.stdout_str().contains("image 1: two"),
        "{}",
        out.stdout_str()
    );
}

/// A chunk of no bytes cannot move an upload: `--chunk-size 0` is a usage error (exit 2)
/// from the flag as from the file and the environment.
#[test]
fn a_chunk_size_of_zero_is_refused() {
    let out = Tug::new()
        .args(["push", "--chunk-size", "0", "x.tar", "127.0.0.1:1/a:b"])
        .run()
        .assert_code(2);
    assert!(out.stderr_str().contains("--chunk-size"), "{out}");
}

/// A target with a tag and a digest would leave the tag unset: refused before anything is
/// read or sent, for a push and for a copy (skopeo refuses it too).
#[test]
fn a_target_with_a_tag_and_a_digest_is_refused() {
    let digest = format!("sha256:{}", "b".repeat(64));
    let target = format!("127.0.0.1:1/a/b:t@{digest}");
    for args in [
        vec!["push", "missing.tar", &target],
        vec!["copy", "127.0.0.1:1/a/src:1", &target],
    ] {
        let out = Tug::new().args(&args).run().assert_code(2);
        assert!(out.stderr_str().contains("not both"), "{out}");
    }
}

/// A docker-archive holds one platform: a copy asked for every platform into one is
/// refused before anything is read, as a pull is.
#[test]
fn every_platform_into_a_docker_archive_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all.tar");
    let target = format!("docker-archive:{}", out.display());
    let refused = Tug::new()
        .args(["copy", "--all-platforms", "127.0.0.1:1/a/b:1", &target])
        .run()
        .assert_code(2);
    assert!(
        refused.stderr_str().contains("holds one platform"),
        "{refused}"
    );
    assert!(!out.exists());
}

/// An image asked of an empty store: the message says the store is empty (not "it has: ").
#[test]
fn an_image_asked_of_an_empty_store_says_it_is_empty() {
    let env = crate::common::Env::new();
    for verb in [&["rm"][..], &["save", "-o"]] {
        let mut tug = env.tug().args(verb);
        if verb.len() > 1 {
            tug = tug.arg(env.path("out.tar"));
        }
        let out = tug.arg("nothing:here").run().assert_code(INVALID_INPUT);
        assert!(
            out.stderr_str().contains("the store: it is empty"),
            "{verb:?}: {}",
            out.stderr_str()
        );
    }
}

/// A blob the store lost (another process's `tug rm` and `tug prune`, a hand) is named with
/// the store when `tug save` needs it: "No such file or directory" alone named nothing.
#[test]
fn a_blob_missing_from_the_store_is_named_with_the_store() {
    let env = crate::common::Env::new();
    let (layout, fixture) = env.layout(77, &ImageSpec::new(77).layer(2_000));
    let store = env.path("store");
    let tug = || env.tug().env("TUG_STORE", &store);
    tug()
        .args(["load", "-q"])
        .arg(&layout)
        .run()
        .assert_success();
    let digest = fixture.manifest_digest.expect("a layout's manifest digest");
    let manifest = digest.trim_start_matches("sha256:");
    fs::remove_file(store.join("blobs/sha256").join(manifest)).unwrap();
    let out = tug()
        .args(["save", "-o"])
        .arg(env.path("out.tar"))
        .arg(&digest)
        .run()
        .assert_code(INVALID_INPUT);
    let said = format!("store {}: blob {digest}: ", store.display());
    assert!(out.stderr_str().contains(&said), "{}", out.stderr_str());
}

/// A path is a file whether or not it exists: a missing `./x.tar` (or `out/x.tar`) is a
/// missing file, never a registry `.` or Docker Hub's `out/x.tar`; a reference with a URL
/// scheme or a host that is no host name says so; a compressed tar's name is no output.
/// Nothing here reaches any registry (port 1 refuses, and nothing is retried).
#[test]
fn a_path_a_url_or_a_compressed_name_is_refused_for_what_it_is() {
    let env = crate::common::Env::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tug = |args: &[&str]| env.tug().current_dir(d).args(args).run();
    for source in ["./absent.tar", "../absent", "absent.tar", "out/absent.tar"] {
        let out = tug(&["copy", source, "127.0.0.1:1/a/b:1"]).assert_code(INVALID_INPUT);
        assert!(
            out.stderr_str().contains("No such file"),
            "{source}: {}",
            out.stderr_str()
        );
        assert!(!out.stderr_str().contains("retrying"), "{out}");
    }
    for (args, needle) in [
        (
            &["push", "x.tar", "http://127.0.0.1:1/a:1"][..],
            "without a URL scheme",
        ),
        (&["push", "x.tar", "docker:127.0.0.1:1/a:1"], "docker://"),
        (&["digest", "a..b/app:1"], "not a host name"),
        (
            &["copy", "127.0.0.1:1/a:1", "out.tar.gz"],
            "uncompressed archives",
        ),
        (
            &["pull", "127.0.0.1:1/a:1", "-o", "x.tgz"],
            "uncompressed archives",
        ),
    ] {
        let out = tug(args).assert_code(2);
        assert!(out.stderr_str().contains(needle), "{args:?}: {out}");
    }
    assert_eq!(fs::read_dir(d).unwrap().count(), 0, "nothing was written");
}

/// skopeo's and crane's spellings tug does not take are refused as usage errors that say
/// what tug takes instead.
#[test]
fn a_foreign_flag_is_refused_with_what_tug_takes() {
    for (args, needle) in [
        (
            &["copy", "--dest-tls-verify=false", "a/b:1", "c/d:1"][..],
            "--plain-http",
        ),
        (
            &["login", "-u", "alice", "-p", "secret", "127.0.0.1:1"],
            "--password-stdin",
        ),
        (&["copy", "--all", "a/b:1", "c/d:1"], "every platform"),
    ] {
        let out = Tug::new().args(args).run().assert_code(2);
        assert!(
            out.stderr_str().contains("tug: hint: ") && out.stderr_str().contains(needle),
            "{args:?}: {out}"
        );
    }
}

/// A store image is named by its name or at least 6 characters of its digest: a short
/// number is no position in the store (`tug images` shows none) and no digest prefix.
#[test]
fn a_short_number_or_prefix_names_no_store_image() {
    let env = crate::common::Env::new();
    let registry = Registry::plain();
    let (layout, _) = env.layout(97, &ImageSpec::new(97).layer(3000));
    env.tug()
        .args(["load", layout.to_str().unwrap()])
        .run()
        .assert_success();
    let listed = env.tug().args(["images", "--json"]).run().assert_success();
    let images: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let digest = images[0]["digest"].as_str().unwrap().to_owned();
    let hex = digest.trim_start_matches("sha256:");
    for short in ["0", "1", &hex[..3]] {
        let out = env
            .tug()
            .current_dir(env.dir.path())
            .args(["push", short, &registry.image("short/app:v1")])
            .run()
            .assert_code(INVALID_INPUT);
        assert!(out.stderr_str().contains(short), "{short}: {out}");
    }
    assert!(skopeo::inspect_raw_in(&registry, "short/app:v1").is_err());
    env.tug()
        .args(["push", "-q", &hex[..6], &registry.image("short/app:v1")])
        .run()
        .assert_success();
}
