//! The `Tug` builder mechanics, exercised with `/bin/sh` standing in for tug.

use std::time::{Duration, Instant};

use tug_testkit::Tug;

fn sh(script: &str) -> Tug {
    Tug::with_bin("/bin/sh").args(["-c", script])
}

#[test]
fn collects_status_stdout_stderr_and_feeds_stdin() {
    let out = sh("cat; echo \"$FOO\" >&2; exit 3")
        .env("FOO", "bar")
        .stdin(b"hello".to_vec())
        .run();
    assert_eq!(out.code, Some(3));
    assert!(!out.success());
    assert_eq!(out.stdout, b"hello");
    assert_eq!(out.stderr_str(), "bar\n");
    assert!(!out.timed_out);
    out.assert_code(3);
}

#[test]
fn env_remove_clear_and_current_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = sh("echo \"${HOME:-unset} $(pwd)\"")
        .env_remove("HOME")
        .current_dir(dir.path())
        .run()
        .assert_success();
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(out.stdout_str(), format!("unset {}\n", canonical.display()));
    let out = sh("echo \"${HOME:-nohome} $X\"")
        .env_clear()
        .env("X", "1")
        .run();
    assert_eq!(out.stdout_str(), "nohome 1\n");
}

#[test]
fn a_hung_run_is_killed_at_the_timeout() {
    let start = Instant::now();
    let out = sh("exec sleep 30")
        .timeout(Duration::from_millis(300))
        .run();
    assert!(out.timed_out);
    assert_eq!(out.code, None);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn large_output_does_not_deadlock() {
    let out = sh("head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2")
        .run()
        .assert_success();
    assert_eq!(out.stdout.len(), 5_000_000);
    assert_eq!(out.stderr.len(), 5_000_000);
}

#[test]
fn tug_bin_names_the_build_command_when_missing() {
    // With TUG_BIN pointing nowhere, the message says how to build tug.
    let missing = "/nonexistent/tug";
    let result = std::panic::catch_unwind(|| {
        std::env::set_var("TUG_BIN", missing);
        tug_testkit::tug_bin()
    });
    std::env::remove_var("TUG_BIN");
    let message = result
        .expect_err("must panic")
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("cargo build -p tug"), "{message}");
    assert!(message.contains(missing), "{message}");
}
