//! What a killed tug (SIGKILL, or a second Ctrl-C, which exits at once) leaves behind — a
//! temporary file next to an output, a decompressed copy or a temporary store in `$TMPDIR` —
//! is removed by the next run that writes there: each is locked while it is used, and only
//! tug's own names that no live process holds locked are removed.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{names_in as names, Env};
use tug_testkit::fixtures::write_oci_layout;
use tug_testkit::{ImageSpec, Registry};

/// A file named `name` in `dir` that this test holds locked, as a live tug holds its own.
fn held(dir: &Path, name: &str) -> File {
    let file = File::create(dir.join(name)).unwrap();
    file.lock().unwrap();
    file
}

#[test]
fn a_killed_push_from_a_stream_leaves_its_copy_and_the_next_run_removes_it() {
    let env = Env::new();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Another tug's copy, in use; and a file of someone else's.
    let _live = held(&tmp, ".tug-decompressed-live");
    std::fs::write(tmp.join("not-tug's"), b"x").unwrap();

    let (mut child, stdin) = crate::common::pushing_a_held_stream(env.tug(), &tmp);
    // Killed while it copies the stream (the pipe is held open): nothing of tug runs after.
    let copy = |names: &[String]| {
        names
            .iter()
            .filter(|n| n.starts_with(".tug-decompressed-") && *n != ".tug-decompressed-live")
            .count()
    };
    let started = Instant::now();
    while copy(&names(&tmp)) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no copy made");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(copy(&names(&tmp)), 1, "the killed run left its copy");

    // The next run (an empty stream, refused) removes it, and only it.
    let out = env
        .tug()
        .env("TMPDIR", &tmp)
        .args(["push", "-", "127.0.0.1:1/never/app:1"])
        .stdin(Vec::new())
        .run();
    assert!(!out.success(), "{}", out.stderr_str());
    assert_eq!(names(&tmp), [".tug-decompressed-live", "not-tug's"]);
}

/// A file copied to an OCI archive goes through a temporary store in `$TMPDIR` and a
/// temporary archive next to the output: what killed copies left of both goes, what live
/// ones hold stays.
#[test]
fn a_copy_to_an_archive_removes_what_killed_runs_left() {
    let env = Env::new();
    let tmp = env.path("tmp");
    let out = env.path("out");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::create_dir(&out).unwrap();
    let layout = env.path("layout");
    write_oci_layout(&layout, &ImageSpec::new(71).layer(50_000), "v1");

    // As killed runs leave them: unlocked.
    std::fs::write(out.join(".tug-out-999999-0"), b"half an archive").unwrap();
    std::fs::write(out.join(".tug-out-a1B2c3"), b"an older tug's").unwrap();
    std::fs::write(tmp.join(".tug-store-999999-0"), b"").unwrap();
    let store = tmp.join(".tug-store-999999-0.d");
    std::fs::create_dir_all(store.join("blobs/sha256")).unwrap();
    std::fs::write(store.join("blobs/sha256/x.partial"), b"part").unwrap();
    // In use by live runs, and someone else's.
    let _live_out = held(&out, ".tug-out-live");
    let _live_store = held(&tmp, ".tug-store-live");
    std::fs::create_dir(tmp.join(".tug-store-live.d")).unwrap();
    std::fs::write(out.join("other.tar"), b"x").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(out.join("other.tar"), out.join(".tug-out-link")).unwrap();

    let archive = out.join("x.tar");
    env.tug()
        .env("TMPDIR", &tmp)
        .args(["copy", &format!("oci:{}:v1", layout.display())])
        .arg(format!("oci-archive:{}", archive.display()))
        .run()
        .assert_success();

    let mut expected = vec![".tug-out-live", "other.tar", "x.tar"];
    #[cfg(unix)]
    expected.push(".tug-out-link");
    expected.sort();
    assert_eq!(names(&out), expected);
    assert_eq!(std::fs::read(out.join("other.tar")).unwrap(), b"x");
    assert_eq!(names(&tmp), [".tug-store-live", ".tug-store-live.d"]);
}

/// `tug blob … -o FILE` writes `.FILE.tug-part-PID-N` beside FILE: a killed run's goes with
/// the next blob written there, a live one's stays.
#[test]
fn a_blob_written_to_a_file_removes_what_killed_runs_left_beside_it() {
    let env = Env::new();
    let registry = Registry::plain();
    let layout = env.path("layout");
    let fixture = write_oci_layout(&layout, &ImageSpec::new(72).layer(20_000), "v1");
    crate::common::push(&registry, &layout, "leftovers/app:v1").assert_success();
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(".config.json.tug-part-999999-0"), b"half").unwrap();
    std::fs::write(out.join(".other.json.tug-part-999999-0"), b"not FILE's").unwrap();
    let _live = held(&out, ".config.json.tug-part-live");

    let file = out.join("config.json");
    env.tug()
        .args(["blob", "--plain-http"])
        .arg(format!(
            "{}@{}",
            registry.image("leftovers/app"),
            fixture.config_digest
        ))
        .arg("-o")
        .arg(&file)
        .run()
        .assert_success();

    assert_eq!(std::fs::read(&file).unwrap(), fixture.config);
    assert_eq!(
        names(&out),
        [
            ".config.json.tug-part-live",
            ".other.json.tug-part-999999-0",
            "config.json"
        ]
    );
}
