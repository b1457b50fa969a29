//! Where an output really goes: an archive (`tug pull -o`, `tug save -o`, `tug copy …
//! docker-archive:/oci-archive:`) or a blob (`tug blob -o`) written to a symbolic link goes
//! to the file it names and the link stays; one written to a FIFO streams into it and the FIFO
//! stays; `-o -` (`docker-archive:-`) is standard output, which then carries the archive
//! alone. A blob's reader that goes away early fails `tug blob`. The archives are checked
//! with skopeo.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tug_testkit::{skopeo, FixtureImage, ImageSpec, Registry, Tug, TugOutput};

use crate::common::{Env, USAGE};

/// Far longer than any of these runs takes.
const SLOW: Duration = Duration::from_secs(60);

/// A registry holding the image `out/app:v1` of `seed`, and the world its tug runs in, with
/// `$TMPDIR` its own (`tmp`, to see a stream's temporary files go).
fn scene(seed: u64, spec: ImageSpec) -> (Env, Registry, FixtureImage) {
    let env = Env::new();
    let registry = Registry::plain();
    let (layout, fixture) = env.layout(seed, &spec);
    fs::create_dir(env.path("tmp")).unwrap();
    run(&env, &["push"])
        .arg(&layout)
        .arg(registry.image("out/app:v1"))
        .run()
        .assert_success();
    (env, registry, fixture)
}

fn spec(seed: u64) -> ImageSpec {
    ImageSpec::new(seed).layer(300_000).gzip_layer(40_000)
}

/// tug in `env` with `args`, run there (a file named `-` would be made there), its
/// temporary files in `env`'s `tmp`.
fn run(env: &Env, args: &[&str]) -> Tug {
    env.tug()
        .timeout(SLOW)
        .current_dir(env.dir.path())
        .env("TMPDIR", env.path("tmp"))
        .args(args)
}

/// The layers skopeo reads in the archive at `path` (`kind` is `docker-archive` or
/// `oci-archive`) are `fixture`'s: the diffIDs in a `docker save` tar, the blobs in an OCI
/// archive.
#[track_caller]
fn assert_archive(kind: &str, path: &Path, fixture: &FixtureImage) {
    let reference = format!("{kind}:{}", path.display());
    let inspected = skopeo::run(["inspect", reference.as_str()])
        .unwrap_or_else(|e| panic!("skopeo cannot read {reference}: {e}"));
    let inspected: Value = serde_json::from_slice(&inspected).unwrap();
    let expected: Vec<&str> = fixture
        .layers
        .iter()
        .map(|l| match kind {
            "docker-archive" => l.diff_id.as_str(),
            _ => l.digest.as_str(),
        })
        .collect();
    assert_eq!(
        inspected["Layers"],
        serde_json::json!(expected),
        "{reference}"
    );
}

/// Nothing is left in `env`'s `$TMPDIR`.
#[track_caller]
fn tmp_is_empty(env: &Env) {
    let left: Vec<_> = fs::read_dir(env.path("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in $TMPDIR: {left:?}");
}

#[track_caller]
fn assert_link_to(link: &Path, target: &Path) {
    let meta = fs::symlink_metadata(link).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "{} is no longer a link",
        link.display()
    );
    assert_eq!(fs::read_link(link).unwrap(), target, "{}", link.display());
}

#[test]
fn pull_save_and_blob_write_through_a_link_which_stays() {
    let (env, registry, fixture) = scene(1, spec(1));
    let image = registry.image("out/app:v1");
    let files = env.path("files");
    fs::create_dir(&files).unwrap();

    // A link to an existing file: the file gets the archive, the link stays.
    let pulled = files.join("pulled.tar");
    fs::write(&pulled, b"old").unwrap();
    let link = env.path("link.tar");
    std::os::unix::fs::symlink(&pulled, &link).unwrap();
    run(&env, &["pull", &image, "-o"])
        .arg(&link)
        .run()
        .assert_success();
    assert_link_to(&link, &pulled);
    assert_archive("docker-archive", &pulled, &fixture);

    // The same through `tug copy … oci-archive:LINK`, a relative link to a file yet to be
    // made.
    let oci_link = env.path("link.oci.tar");
    std::os::unix::fs::symlink("files/made.oci.tar", &oci_link).unwrap();
    run(&env, &["copy", &image])
        .arg(format!("oci-archive:{}", oci_link.display()))
        .run()
        .assert_success();
    assert_link_to(&oci_link, Path::new("files/made.oci.tar"));
    assert_archive("oci-archive", &files.join("made.oci.tar"), &fixture);

    // tug save, from the store.
    run(&env, &["pull", &image]).run().assert_success();
    let saved = files.join("saved.tar");
    let save_link = env.path("save-link.tar");
    std::os::unix::fs::symlink(&saved, &save_link).unwrap();
    run(&env, &["save", &image, "-o"])
        .arg(&save_link)
        .run()
        .assert_success();
    assert_link_to(&save_link, &saved);
    assert_archive("docker-archive", &saved, &fixture);

    // A blob.
    let blob_file = files.join("config.json");
    let blob_link = env.path("config-link");
    std::os::unix::fs::symlink(&blob_file, &blob_link).unwrap();
    let blob = registry.image(&format!("out/app@{}", fixture.config_digest));
    run(&env, &["blob", &blob, "-o"])
        .arg(&blob_link)
        .run()
        .assert_success();
    assert_link_to(&blob_link, &blob_file);
    assert_eq!(fs::read(&blob_file).unwrap(), fixture.config);

    // A link into a directory that does not exist: an error naming it, before any work.
    let lost = env.path("lost.tar");
    std::os::unix::fs::symlink(env.path("nowhere/x.tar"), &lost).unwrap();
    let out = run(&env, &["pull", &image, "-o"]).arg(&lost).run();
    assert!(!out.success(), "{}", out.stderr_str());
    assert!(out.stderr_str().contains("nowhere"), "{}", out.stderr_str());
    assert_link_to(&lost, &env.path("nowhere/x.tar"));
    tmp_is_empty(&env);
}

/// A FIFO at `path`, read whole by a thread once a writer opens it: its bytes come on the
/// channel.
fn fifo_read_by_a_thread(path: &Path) -> mpsc::Receiver<Vec<u8>> {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
    let (tx, rx) = mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .unwrap();
        let _ = tx.send(bytes);
    });
    rx
}

/// The bytes the reader of a FIFO got, written to `file` for skopeo; the FIFO is still one.
#[track_caller]
fn streamed(fifo: &Path, rx: &mpsc::Receiver<Vec<u8>>, out: &TugOutput, file: &Path) {
    let meta = fs::symlink_metadata(fifo).unwrap();
    assert!(
        meta.file_type().is_fifo(),
        "{} is no longer a FIFO: {:?}\n{}",
        fifo.display(),
        meta.file_type(),
        out.stderr_str()
    );
    let bytes = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("nothing came down {}: {}", fifo.display(), out.stderr_str()));
    fs::write(file, bytes).unwrap();
}

#[test]
fn pull_copy_save_and_blob_stream_into_a_fifo_which_stays() {
    let (env, registry, fixture) = scene(2, spec(2));
    let image = registry.image("out/app:v1");

    // A FIFO named with no archive's name: a `docker save` tar, as docker save writes.
    let fifo = env.path("pull-fifo");
    let rx = fifo_read_by_a_thread(&fifo);
    let out = run(&env, &["pull", &image, "-o"]).arg(&fifo).run();
    streamed(&fifo, &rx, &out, &env.path("pulled.tar"));
    out.assert_success();
    assert_archive("docker-archive", &env.path("pulled.tar"), &fixture);

    // An OCI archive through a link to a FIFO (`/dev/stdout` is a link to a pipe).
    let fifo = env.path("copy-fifo");
    let rx = fifo_read_by_a_thread(&fifo);
    let link = env.path("copy-link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let out = run(&env, &["copy", &image])
        .arg(format!("oci-archive:{}", link.display()))
        .run();
    streamed(&fifo, &rx, &out, &env.path("copied.oci.tar"));
    out.assert_success();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_archive("oci-archive", &env.path("copied.oci.tar"), &fixture);

    // tug save, from the store.
    run(&env, &["pull", &image]).run().assert_success();
    let fifo = env.path("save-fifo.tar");
    let rx = fifo_read_by_a_thread(&fifo);
    let out = run(&env, &["save", &image, "-o"]).arg(&fifo).run();
    streamed(&fifo, &rx, &out, &env.path("saved.tar"));
    out.assert_success();
    assert_archive("docker-archive", &env.path("saved.tar"), &fixture);

    // A blob.
    let fifo = env.path("blob-fifo");
    let rx = fifo_read_by_a_thread(&fifo);
    let blob = registry.image(&format!("out/app@{}", fixture.config_digest));
    let out = run(&env, &["blob", &blob, "-o"]).arg(&fifo).run();
    streamed(&fifo, &rx, &out, &env.path("config.json"));
    out.assert_success();
    assert_eq!(fs::read(env.path("config.json")).unwrap(), fixture.config);

    // An OCI layout is a directory: a usage error, the FIFO left alone.
    let out = run(&env, &["pull", &image, "--format", "oci", "-o"])
        .arg(&fifo)
        .run()
        .assert_code(USAGE);
    assert!(out.stderr_str().contains("archive"), "{}", out.stderr_str());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    tmp_is_empty(&env);
}

/// `stdout` is one tar, ending with the end-of-archive blocks: nothing else was printed.
#[track_caller]
fn only_a_tar(stdout: &[u8], out: &TugOutput) {
    assert!(
        stdout.len() >= 1024 && stdout.len().is_multiple_of(512),
        "stdout is no tar alone ({} bytes): {}",
        stdout.len(),
        out.stderr_str()
    );
    assert!(
        stdout[stdout.len() - 1024..].iter().all(|b| *b == 0),
        "stdout does not end with the tar's end: {:?}",
        String::from_utf8_lossy(&stdout[stdout.len().saturating_sub(200)..])
    );
}

#[test]
fn a_dash_is_standard_output_which_then_carries_the_archive_alone() {
    let (env, registry, fixture) = scene(3, spec(3));
    let image = registry.image("out/app:v1");
    let written = |name: &str, out: &TugOutput| -> PathBuf {
        only_a_tar(&out.stdout, out);
        let path = env.path(name);
        fs::write(&path, &out.stdout).unwrap();
        path
    };

    // `tug pull -o -`: a `docker save` tar, as `docker save` writes; JSON progress and the
    // result go elsewhere.
    for progress in ["plain", "json"] {
        let out = run(&env, &["pull", &image, "--progress", progress, "-o", "-"])
            .run()
            .assert_success();
        let tar = written(&format!("pulled-{progress}.tar"), &out);
        assert_archive("docker-archive", &tar, &fixture);
        let said = match progress {
            "json" => "\"output\":\"standard output\"",
            _ => "-> standard output",
        };
        assert!(out.stderr_str().contains(said), "{}", out.stderr_str());
    }
    let out = run(&env, &["copy", &image, "oci-archive:-"])
        .run()
        .assert_success();
    assert_archive("oci-archive", &written("copied.oci.tar", &out), &fixture);
    let out = run(
        &env,
        &["pull", &image, "--format", "oci-archive", "-o", "-"],
    )
    .run()
    .assert_success();
    assert_archive("oci-archive", &written("pulled.oci.tar", &out), &fixture);

    run(&env, &["pull", &image]).run().assert_success();
    let out = run(&env, &["save", &image, "-o", "-"])
        .run()
        .assert_success();
    assert_archive("docker-archive", &written("saved.tar", &out), &fixture);
    let out = run(
        &env,
        &["copy", &format!("store:{image}"), "docker-archive:-"],
    )
    .run()
    .assert_success();
    assert_archive("docker-archive", &written("copied.tar", &out), &fixture);

    // A blob: its bytes, as without -o.
    let blob = registry.image(&format!("out/app@{}", fixture.config_digest));
    let out = run(&env, &["blob", &blob, "-o", "-"])
        .run()
        .assert_success();
    assert_eq!(out.stdout, fixture.config);

    // An OCI layout cannot go there: a usage error, nothing made.
    for args in [
        &["pull", &image, "-o", "oci:-"][..],
        &["pull", &image, "--format", "oci", "-o", "-"],
        &["copy", &image, "oci:-"],
    ] {
        let out = run(&env, args).run().assert_code(USAGE);
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            out.stderr_str().contains("archive"),
            "{args:?}: {}",
            out.stderr_str()
        );
    }
    assert!(!env.path("-").exists(), "a file named - was made");
    tmp_is_empty(&env);
}

#[test]
fn a_blob_whose_reader_goes_away_early_fails() {
    let (env, registry, fixture) = scene(4, ImageSpec::new(4).layer(2_000_000));
    let layer = &fixture.layers[0].digest;
    let blob = registry.image(&format!("out/app@{layer}"));
    let mut child = run(&env, &["blob", &blob])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `tug blob … | head -c 10`.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a cut blob exited 0: {stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
}
